"""Secrets out of the logs: ``?api_key=...`` and ``?token=...`` become ``[REDACTED]``.

uvicorn writes the full request target (query included) in its access log and in its
WebSocket "accepted" lines; browsers can only authenticate a WebSocket with a query
parameter, so without this filter every live connection would log its credential.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[REDACTED]"
SECRET_PARAMS = ("api_key", "apikey", "token", "access_token", "password", "secret")
_SECRET_QUERY = re.compile(r"(?i)([?&;](?:" + "|".join(SECRET_PARAMS) + r")=)[^&;\s\"']*")
LOGGERS = ("uvicorn.access", "uvicorn.error")


def redact(text: str) -> str:
    return _SECRET_QUERY.sub(lambda m: m.group(1) + REDACTED, text)


class RedactSecretsFilter(logging.Filter):
    """Rewrites the message arguments (and the message) of each record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {
                k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        return True


def install_log_redaction() -> None:
    """Attach the filter to uvicorn's loggers (once, however often it is called)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecretsFilter) for f in logger.filters):
            logger.addFilter(RedactSecretsFilter())
