"""Credentials in query strings never reach the log: uvicorn's lines are rewritten."""

import logging

import pytest

from api.security.logredact import RedactSecretsFilter, install_log_redaction, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/live?api_key=sk_prod_abc", "/live?api_key=[REDACTED]"),
        ("/x?a=1&token=eyJ.a.b&b=2", "/x?a=1&token=[REDACTED]&b=2"),
        ("/x?API_KEY=abc;password=p", "/x?API_KEY=[REDACTED];password=[REDACTED]"),
        ("/x?tokens=keep&mytoken=keep", "/x?tokens=keep&mytoken=keep"),
        ("/x?access_token=zzz", "/x?access_token=[REDACTED]"),
        ("/api/machines", "/api/machines"),
    ],
)
def test_redact(text, expected):
    assert redact(text) == expected


def test_uvicorn_access_and_websocket_lines_are_redacted(caplog):
    install_log_redaction()
    install_log_redaction()  # idempotent
    access, error = logging.getLogger("uvicorn.access"), logging.getLogger("uvicorn.error")
    assert sum(isinstance(f, RedactSecretsFilter) for f in access.filters) == 1

    with caplog.at_level(logging.INFO):
        # the exact formats uvicorn uses for HTTP requests and accepted WebSockets
        access.info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/h?token=s3cr3t", "1.1", 200
        )
        error.info('%s - "WebSocket %s" [accepted]', "127.0.0.1:5001", "/live?api_key=k3y")

    text = caplog.text
    assert "s3cr3t" not in text and "k3y" not in text
    assert "/h?token=[REDACTED]" in text
    assert "/live?api_key=[REDACTED]" in text
