"""The reading: one scan of one machine, as it travels on the readings topic.

Wire format (JSON, UTF-8, key = machine id)::

    {"machine_id": "42", "ts": "2025-12-20T14:30:00.000Z", "seq": 7, "source": "modbus://...",
     "plant": "hall-b", "line": "3",
     "values": {"temperature_c": 67.5}, "quality": {"temperature_c": "good"},
     "texts": {"recipe": "P-17"}}

``texts`` (text tags, such as a recipe or a batch id) is left out when there are none.

The flat shape of the user's SCADA scripts (sensor values next to ``machine_id``) is the
API's input format; it is parsed in ``api.flat``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from contracts.codec import decode_object
from contracts.errors import ContractError
from contracts.patterns import check_machine_id, check_sensor_name, is_sensor_name
from contracts.timefmt import format_ts, parse_ts

# ``stale``: no fresh value within the tag's interval; ``comm_loss``: the device did not answer.
Quality = Literal["good", "uncertain", "bad", "stale", "comm_loss"]
QUALITIES: frozenset[str] = frozenset(("good", "uncertain", "bad", "stale", "comm_loss"))


@dataclass(frozen=True, slots=True)
class Reading:
    machine_id: str
    ts_ms: int
    values: dict[str, float]
    quality: dict[str, Quality] = field(default_factory=dict)
    seq: int = 0
    source: str = ""
    plant: str = ""
    line: str = ""
    # Text tags (a recipe, a batch id), by sensor name; none of them also in ``values``.
    texts: dict[str, str] = field(default_factory=dict)

    def quality_of(self, sensor: str) -> Quality:
        return self.quality.get(sensor, "good")

    def to_dict(self) -> dict[str, Any]:
        out = {
            "machine_id": self.machine_id,
            "ts": format_ts(self.ts_ms),
            "seq": self.seq,
            "source": self.source,
            "plant": self.plant,
            "line": self.line,
            "values": self.values,
            "quality": self.quality,
        }
        if self.texts:
            out["texts"] = self.texts
        return out

    def encode(self) -> bytes:
        return orjson.dumps(self.to_dict())

    def key(self) -> bytes:
        return self.machine_id.encode()


_EXACT_FLOAT_INTEGERS = 2**53


def normalize_machine_id(raw: object) -> str:
    """The id as text: a string, or an integer (JSON's ``42`` and ``42.0`` alike, as JSON
    Schema counts both as integers). A whole float past 2**53 is refused: it may not be the
    number that was sent (a JSON parser reads integers past 64 bits as floats)."""
    if isinstance(raw, float) and raw.is_integer() and abs(raw) <= _EXACT_FLOAT_INTEGERS:
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise ContractError(f"machine_id: must be a string or an integer, got {raw!r}")
    return check_machine_id(str(raw))


def sensor_value(name: str, raw: object) -> float:
    """A sensor's value as a finite float; :class:`ContractError` naming the sensor if not."""
    check_sensor_name(name)
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise ContractError(f"{name}: sensor value must be a number, got {type(raw).__name__}")
    try:
        value = float(raw)
    except OverflowError as exc:
        raise ContractError(f"{name}: sensor value is out of range") from exc
    if not math.isfinite(value):
        raise ContractError(f"{name}: sensor value must be finite")
    return value


# The longest text a text tag may carry, in characters.
MAX_TEXT_CHARS = 256


def text_map(raw: object, values: dict[str, float]) -> dict[str, str]:
    """The ``texts`` object of a reading: sensor name to printable text."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ContractError("texts: must be an object of sensor name to text")
    for name, text in raw.items():
        try:
            check_sensor_name(name)
        except ContractError as exc:
            raise ContractError(f"texts.{exc}") from exc
        if name in values:
            raise ContractError(f"texts.{name}: also a number in values; a name is one or other")
        if not isinstance(text, str):
            raise ContractError(f"texts.{name}: must be a string, got {type(text).__name__}")
        if len(text) > MAX_TEXT_CHARS:
            raise ContractError(f"texts.{name}: longer than {MAX_TEXT_CHARS} characters")
        if not text.isprintable():
            raise ContractError(f"texts.{name}: must be printable text (no control characters)")
    return raw


def _known_qualities(qualities: Iterable[object]) -> bool:
    try:
        return QUALITIES.issuperset(qualities)
    except TypeError:  # a list or an object among them: checked one by one
        return False


def quality_map(
    raw: object, values: dict[str, float], texts: dict[str, str] | None = None
) -> dict[str, Quality]:
    """The ``quality`` object of a reading, checked against its values and texts."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ContractError("quality: must be an object of sensor name to quality")
    if raw.keys() <= values.keys() and _known_qualities(raw.values()):
        return raw  # the usual case, checked at C speed: names of values, known qualities
    out: dict[str, Quality] = {}
    for name, q in raw.items():
        if name not in values and not (texts and name in texts):
            raise ContractError(f"quality.{name}: no value with that name in the reading")
        if isinstance(q, str) and q in QUALITIES:
            out[name] = q  # type: ignore[assignment]
        else:
            raise ContractError(f"quality.{name}: must be one of {', '.join(sorted(QUALITIES))}")
    return out


def _timestamp(raw: object, field_name: str, default_ms: int) -> int:
    if raw is None:
        return default_ms
    if isinstance(raw, str):
        try:
            return parse_ts(raw)
        except ValueError as exc:
            raise ContractError(f"{field_name}: {raw!r} is not an ISO-8601 timestamp") from exc
    raise ContractError(f"{field_name}: must be an ISO-8601 string")


def _text(obj: dict[str, Any], name: str) -> str:
    raw = obj.get(name, "")
    if not isinstance(raw, str):
        raise ContractError(f"{name}: must be a string")
    return raw


def _seq(obj: dict[str, Any]) -> int:
    raw = obj.get("seq", 0)
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ContractError("seq: must be an integer")
    return raw


_NUMBER_TYPES = frozenset((float, int))


# Cached per set of names: a machine sends the same names in every reading, so a reading
# of dozens of values checks its names with one look-up.
@functools.lru_cache(maxsize=16_384)
def _all_sensor_names(names: tuple[str, ...]) -> bool:
    return all(map(is_sensor_name, names))


def _plain_values(raw: dict[str, Any]) -> dict[str, float] | None:
    """``raw`` as floats when its names are sensor names and every value is a JSON
    number (never infinite or NaN as parsed); ``None`` to check value by value."""
    names = tuple(raw)
    if not _all_sensor_names(names):
        return None
    numbers = raw.values()
    if not set(map(type, numbers)) <= _NUMBER_TYPES:
        return None
    try:
        floats = list(map(float, numbers))
    except OverflowError:
        return None
    if not all(map(math.isfinite, floats)):
        return None
    return dict(zip(names, floats, strict=True))


def decode_reading(data: bytes) -> Reading:
    """Decode a record value of the readings topic; raise :class:`ContractError` if invalid."""
    obj = decode_object(data, "reading")
    raw_values = obj.get("values")
    raw_texts = obj.get("texts")
    if not isinstance(raw_values, dict) or not (raw_values or raw_texts):
        raise ContractError("values: required, a non-empty object of sensor name to number")
    values = _plain_values(raw_values)
    if values is None:
        values = {name: sensor_value(name, raw) for name, raw in raw_values.items()}
    texts = text_map(raw_texts, values) if raw_texts is not None else {}
    if "machine_id" not in obj:
        raise ContractError("machine_id: field required")
    if "ts" not in obj:
        raise ContractError("ts: field required")
    return Reading(
        machine_id=normalize_machine_id(obj["machine_id"]),
        ts_ms=_timestamp(obj["ts"], "ts", 0),
        values=values,
        quality=quality_map(obj.get("quality"), values, texts),
        seq=_seq(obj),
        source=_text(obj, "source"),
        plant=_text(obj, "plant"),
        line=_text(obj, "line"),
        texts=texts,
    )
