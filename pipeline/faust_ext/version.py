"""The faust-streaming versions the extensions in :mod:`pipeline.faust_ext` are tested with."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from contracts.errors import ConfigError

# Raise only after running the pipeline's unit and integration tests on the new version.
TESTED_FAUST_VERSIONS = frozenset({"0.15.3"})


def installed_faust_version() -> str:
    try:
        return version("faust-streaming")
    except PackageNotFoundError:
        return "not installed"


def check_faust_version(installed: str | None = None) -> str:
    """Return the installed faust-streaming version; raise :class:`ConfigError` naming it
    when the extensions were not tested with it."""
    found = installed if installed is not None else installed_faust_version()
    if found not in TESTED_FAUST_VERSIONS:
        tested = ", ".join(sorted(TESTED_FAUST_VERSIONS))
        raise ConfigError(
            f"faust-streaming {found} is not a version the pipeline's Faust extensions "
            f"(pipeline/faust_ext: private-method overrides) are tested with ({tested}); "
            f"install faust-streaming=={max(TESTED_FAUST_VERSIONS)} as pyproject.toml pins it"
        )
    return found
