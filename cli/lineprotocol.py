"""Parsing one line of InfluxDB line protocol into measurement, tags, fields and time.

influxdb-client writes line protocol but does not read it; the format's escaping rules are
short (InfluxData's reference: https://docs.influxdata.com/influxdb/v2/reference/syntax/
line-protocol/), and a parser of our own can say which part of a line is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.errors import ContractError

FieldValue = float | int | str | bool


@dataclass(frozen=True, slots=True)
class LinePoint:
    measurement: str
    tags: dict[str, str]
    fields: dict[str, FieldValue]
    timestamp: int | None  # in the writer's precision; None: "now" to InfluxDB


def _scan(text: str, seps: str, start: int = 0, *, quotes: bool = False) -> int:
    """The index of the first unescaped character of ``seps`` from ``start`` (outside
    double quotes when ``quotes``), or ``len(text)``."""
    i = start
    quoted = False
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if quotes and ch == '"':
            quoted = not quoted
        elif not quoted and ch in seps:
            return i
        i += 1
    if quoted:
        raise ContractError("a string field value has no closing quote")
    return len(text)


def _parts(text: str, sep: str, *, quotes: bool = False) -> list[str]:
    out: list[str] = []
    pos = 0
    while True:
        end = _scan(text, sep, pos, quotes=quotes)
        out.append(text[pos:end])
        if end >= len(text):
            return out
        pos = end + 1


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in ' ,="\\':
            out.append(text[i + 1])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _pair(item: str, what: str, *, quotes: bool = False) -> tuple[str, str]:
    eq = _scan(item, "=", quotes=quotes)
    if eq >= len(item) or eq == 0:
        raise ContractError(f"{what} {item!r}: not key=value")
    return _unescape(item[:eq]), item[eq + 1 :]


def _field_value(raw: str, name: str) -> FieldValue:
    if len(raw) >= 2 and raw[0] == '"' and raw[-1] == '"':
        return _unescape(raw[1:-1])
    if raw in ("t", "T", "true", "True", "TRUE"):
        return True
    if raw in ("f", "F", "false", "False", "FALSE"):
        return False
    try:
        if raw[-1:] in ("i", "u"):
            return int(raw[:-1])
        return float(raw)
    except ValueError:
        raise ContractError(f"field {name}: {raw!r} is not a number, string or boolean") from None


def parse_line(text: str) -> LinePoint:
    """``readings,machine_id=42 temperature_c=68.1 1766241000000``; raises
    :class:`ContractError` naming what is wrong."""
    if "\\" not in text and '"' not in text:
        return _parse_plain(text)
    head_end = _scan(text, " ")
    if head_end >= len(text):
        raise ContractError("no fields (expected e.g. temperature_c=68.1 after the tags)")
    head = _parts(text[:head_end], ",")
    measurement = _unescape(head[0])
    if not measurement:
        raise ContractError("no measurement name at the start of the line")
    tags = dict(_pair(item, "tag") for item in head[1:])
    tags = {k: _unescape(v) for k, v in tags.items()}
    fields_end = _scan(text, " ", head_end + 1, quotes=True)
    fields: dict[str, FieldValue] = {}
    for item in _parts(text[head_end + 1 : fields_end], ",", quotes=True):
        key, raw = _pair(item, "field", quotes=True)
        fields[key] = _field_value(raw, key)
    stamp = text[fields_end + 1 :].strip()
    if not stamp:
        return LinePoint(measurement, tags, fields, None)
    if not (stamp.isdigit() or (stamp[0] == "-" and stamp[1:].isdigit())):
        raise ContractError(f"timestamp {stamp!r}: not an integer")
    return LinePoint(measurement, tags, fields, int(stamp))


def _parse_plain(text: str) -> LinePoint:
    """The common case, no escapes and no strings: plain splits, several times faster."""
    parts = text.split(" ")
    if len(parts) < 2 or not parts[1]:
        raise ContractError("no fields (expected e.g. temperature_c=68.1 after the tags)")
    if len(parts) > 3:
        raise ContractError("unexpected text after the timestamp")
    head = parts[0].split(",")
    if not head[0]:
        raise ContractError("no measurement name at the start of the line")
    tags = dict(_pair(item, "tag") for item in head[1:])
    fields: dict[str, FieldValue] = {}
    for item in parts[1].split(","):
        key, raw = _pair(item, "field")
        fields[key] = _field_value(raw, key)
    stamp = parts[2] if len(parts) == 3 else ""
    if not stamp:
        return LinePoint(head[0], tags, fields, None)
    if not (stamp.isdigit() or (stamp[0] == "-" and stamp[1:].isdigit())):
        raise ContractError(f"timestamp {stamp!r}: not an integer")
    return LinePoint(head[0], tags, fields, int(stamp))
