"""Errors of provisioning and running local servers."""

from contracts.errors import MillstreamError


class InfraError(MillstreamError):
    """A local server could not be provisioned, started or bootstrapped."""


class MissingToolError(InfraError):
    """A build tool (java, mvn, go, cargo) is not installed."""


class ProvisionError(InfraError):
    """Building or downloading a server failed; the text names the log to read."""


class ServerStartError(InfraError):
    """A server process did not become healthy in time."""
