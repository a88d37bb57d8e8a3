"""Logging set-up shared by the connector and simulator entry points."""

from __future__ import annotations

import logging
import sys

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure_logging(level: str) -> None:
    """Log ``key=value`` lines to stderr.

    kafka-python logs from WARNING up; pymodbus from ERROR up, since the poller already
    logs every connection failure with the machine it concerns.
    """
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr)
    threshold = logging.getLevelName(level)
    logging.getLogger("kafka").setLevel(max(threshold, logging.WARNING))
    logging.getLogger("pymodbus").setLevel(max(threshold, logging.ERROR))
