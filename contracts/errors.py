"""The one exception root of Millstream, with a subclass per boundary."""


class MillstreamError(Exception):
    """Root of every error Millstream raises on purpose."""


class ContractError(MillstreamError, ValueError):
    """A message does not match its contract; the text names the offending field."""


class ConfigError(MillstreamError):
    """Configuration is invalid; raised at start-up, the text names the field."""
