"""InfluxDB line protocol, escaped as the spec says, built as plain strings.

Every writer of points builds its lines from these, with the names of
:mod:`contracts.influx_schema`. The escaping matches ``influxdb_client``'s
``Point.to_line_protocol()``, which the unit tests use as the reference:

- measurement: ``,`` and space escaped;
- tag keys, tag values, field keys: ``,``, ``=`` and space escaped;
- string field values: ``"`` and ``\\`` escaped, value in double quotes;
- newline, tab and carriage return, which would end or corrupt a line, become ``\\n``,
  ``\\t`` and ``\\r`` in names and tags; a tag value ending in ``\\`` gets a trailing space
  so the backslash cannot escape the separator that follows.

Empty tag values are omitted (InfluxDB rejects them). Tags are sorted by key, as InfluxDB
recommends. Floats are written without a type suffix (so they stay floats), whole numbers
without the trailing ``.0``, as ``Point`` does; integers with the ``i`` suffix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

_ESCAPE_MEASUREMENT = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\n", "\t": r"\t", "\r": r"\r"})
_ESCAPE_KEY = str.maketrans(
    {",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n", "\t": r"\t", "\r": r"\r"}
)
_ESCAPE_STRING = str.maketrans({'"': '\\"', "\\": "\\\\"})


def escape_measurement(name: str) -> str:
    return name.translate(_ESCAPE_MEASUREMENT)


@lru_cache(maxsize=8192)
def escape_key(name: str) -> str:
    """Escape a tag key or field key (cached: names repeat on every line)."""
    return name.translate(_ESCAPE_KEY)


@lru_cache(maxsize=8192)
def escape_tag_value(value: str) -> str:
    """Escape a tag value (cached: plants, lines and machine ids repeat on every line)."""
    escaped = value.translate(_ESCAPE_KEY)
    if escaped.endswith("\\"):
        escaped += " "
    return escaped


def string_field(value: str) -> str:
    """A string field value, quoted."""
    return '"' + value.translate(_ESCAPE_STRING) + '"'


def float_field(value: float) -> str:
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def tag_set(tags: Mapping[str, str]) -> str:
    """``,k=v,k2=v2`` for the non-empty tags, sorted by key; ``""`` when there are none."""
    return "".join(
        f",{escape_key(k)}={escape_tag_value(v)}" for k, v in sorted(tags.items()) if k and v
    )


def field_set(fields: Mapping[str, str | float | int]) -> str:
    """``k=v,k2=v2`` in the given order: strings quoted, ints with ``i``, floats bare."""
    return ",".join(f"{escape_key(k)}={_field_value(v)}" for k, v in fields.items())


def _field_value(value: str | float | int) -> str:
    if isinstance(value, str):
        return string_field(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value}i"
    return float_field(value)


# A line's series key (measurement and tags: up to the first unescaped space), and its
# parts between unescaped commas.
_SERIES_KEY = re.compile(r"(?:[^\\ ]|\\.)*")
_PART = re.compile(r"(?:[^\\,]|\\.)+")


def escaped_tag(line: str, key: str) -> str:
    """The value of tag ``key`` in ``line`` as written there (escaped, as
    :func:`escape_tag_value` gives it); ``""`` when the line has no such tag."""
    series = _SERIES_KEY.match(line)
    prefix = escape_key(key) + "="
    parts: list[str] = _PART.findall(series.group() if series else "")
    for part in parts[1:]:
        if part.startswith(prefix):
            return part[len(prefix) :]
    return ""
