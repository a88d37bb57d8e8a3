"""Logging set-up shared by the connector and simulator entry points."""

from __future__ import annotations

import logging
import sys

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure_logging(level: str) -> None:
    """Log ``key=value`` lines to stderr; pymodbus and kafka-python only from WARNING up."""
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr)
    quiet = max(logging.getLevelName(level), logging.WARNING)
    for name in ("pymodbus", "kafka"):
        logging.getLogger(name).setLevel(quiet)
