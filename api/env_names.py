"""The environment variable names of the API's settings, and the old names still read.

Every API field reads ``MILLSTREAM_API_<FIELD>`` (``max_batch_readings``:
``MILLSTREAM_API_MAX_BATCH_READINGS``; ``api_port``: ``MILLSTREAM_API_PORT``). Fields shared
with the other services (:class:`contracts.settings.CommonSettings`) keep their common
names. Until the next release the old ``MILLSTREAM_<FIELD>`` name of an API field is read
too, with a :class:`DeprecatedVariableWarning` naming the new one (CHANGELOG.md lists them).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any

from pydantic import AliasChoices
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from contracts.settings import ENV_PREFIX, CommonSettings

API_PREFIX = f"{ENV_PREFIX}API_"


class DeprecatedVariableWarning(FutureWarning):
    """An old variable name was set; shown by default, since operators are who must act."""


def api_variable(field: str) -> str:
    """The variable an API field reads: ``MILLSTREAM_API_<FIELD>``."""
    name = field.upper()
    return f"{ENV_PREFIX}{name}" if name.startswith("API_") else f"{API_PREFIX}{name}"


def old_variable(field: str) -> str | None:
    """The deprecated name of an API field's variable, or None when it never changed."""
    old = f"{ENV_PREFIX}{field.upper()}"
    return None if old == api_variable(field) else old


def env_names(field: str) -> AliasChoices:
    """What a field of ``ApiSettings`` is read from, the current name first (it wins)."""
    if field in CommonSettings.model_fields:
        return AliasChoices(f"{ENV_PREFIX}{field.upper()}")
    old = old_variable(field)
    return AliasChoices(api_variable(field), *([old] if old else []))


def renamed_variables(fields: Mapping[str, FieldInfo]) -> dict[str, str]:
    """Old variable name -> new, for every API field whose name changed."""
    return {
        old: api_variable(field)
        for field in fields
        if field not in CommonSettings.model_fields and (old := old_variable(field))
    }


class DeprecatedNames(PydanticBaseSettingsSource):
    """Warns for each old variable name set in the environment; reads nothing itself (the
    fields' alias choices read the old names)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self._environ = {name.upper(): name for name in environ}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        for old, new in renamed_variables(self.settings_cls.model_fields).items():
            if old not in self._environ:
                continue
            ignored = f"; {new} is set too and wins" if new in self._environ else ""
            warnings.warn(
                f"{old} is deprecated and will stop working in the next release: "
                f"set {new} instead{ignored}",
                DeprecatedVariableWarning,
                stacklevel=2,
            )
        return {}


def deprecated_names(settings_cls: type[BaseSettings]) -> DeprecatedNames:
    return DeprecatedNames(settings_cls, os.environ)
