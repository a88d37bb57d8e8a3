"""The one error the command reports and exits on (status 1), its text meant for the user."""

from __future__ import annotations

from contracts.errors import MillstreamError


class CliError(MillstreamError):
    """What went wrong and what to do about it, printed as ``error: ...``."""
