"""Validation of the query parameters of ``GET /api/machines/{id}/readings``.

Nothing the client sends reaches Flux as text: durations are re-rendered from the
numbers and units parsed here, times from ``datetime`` objects, field names and the
aggregate function only after matching a strict pattern or a whitelist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from api.errors import InvalidInputError
from contracts.errors import ContractError
from contracts.patterns import is_sensor_name
from contracts.readings import normalize_machine_id

_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_DURATION = re.compile(r"(?:\d{1,9}(?:ms|s|m|h|d|w))+")
_DURATION_PART = re.compile(r"(\d{1,9})(ms|s|m|h|d|w)")
# Flux cannot represent instants outside the int64 nanosecond range.
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(2262, 1, 1, tzinfo=UTC)

AGGREGATE_FUNCTIONS = frozenset(
    ("mean", "median", "min", "max", "sum", "count", "first", "last", "stddev", "spread")
)
MAX_FIELDS = 64


@dataclass(frozen=True, slots=True)
class Duration:
    """A positive duration as ``(amount, unit)`` parts: ``1h30m`` -> ``((1, "h"), (30, "m"))``."""

    parts: tuple[tuple[int, str], ...]

    @property
    def ms(self) -> int:
        return sum(n * _UNIT_MS[unit] for n, unit in self.parts)

    def flux(self) -> str:
        return "".join(f"{n}{unit}" for n, unit in self.parts)

    def __str__(self) -> str:
        return self.flux()


def parse_duration(text: str, *, param: str) -> Duration:
    """``"1m"``, ``"90s"``, ``"1h30m"``; units ms, s, m, h, d, w."""
    if not _DURATION.fullmatch(text):
        raise InvalidInputError(
            f"{param}: {text!r} is not a duration (e.g. 30s, 1m, 1h30m; units ms s m h d w)"
        )
    duration = Duration(tuple((int(n), unit) for n, unit in _DURATION_PART.findall(text)))
    if duration.ms <= 0:
        raise InvalidInputError(f"{param}: must be longer than zero")
    return duration


def parse_instant(text: str, *, param: str, now: datetime) -> datetime:
    """``now``, a relative time ``-1h`` (before now), or an RFC 3339 time with an offset."""
    text = text.strip()
    if text == "now":
        return now
    if text.startswith("-"):
        try:
            ago = parse_duration(text[1:], param=param)
        except InvalidInputError as exc:
            raise InvalidInputError(
                f"{param}: {text!r} is not a relative time (e.g. -1h, -30m, -7d)"
            ) from exc
        try:
            moment = now - timedelta(milliseconds=ago.ms)
        except OverflowError as exc:
            raise InvalidInputError(f"{param}: {text!r} reaches before 1970") from exc
    else:
        moment = _parse_rfc3339(text, param=param)
    if not _EARLIEST <= moment < _LATEST:
        raise InvalidInputError(f"{param}: {text!r} is outside 1970-2261")
    return moment


def parse_range(start: str, stop: str, *, now: datetime) -> tuple[datetime, datetime]:
    """``start`` and ``stop`` as :func:`parse_instant` reads them; start before stop."""
    start_at = parse_instant(start, param="start", now=now)
    stop_at = parse_instant(stop, param="stop", now=now)
    if start_at >= stop_at:
        raise InvalidInputError("start: must be before stop")
    return start_at, stop_at


def parse_limit(limit: int | None, *, default: int, most: int) -> int:
    """``limit``, or ``default`` when unset; between 1 and ``most``."""
    rows = default if limit is None else limit
    if not 1 <= rows <= most:
        raise InvalidInputError(f"limit: must be between 1 and {most}")
    return rows


def _parse_rfc3339(text: str, *, param: str) -> datetime:
    hint = "now, a relative time like -1h, or an RFC 3339 time like 2025-12-20T14:30:00Z"
    if "T" not in text:
        raise InvalidInputError(f"{param}: {text!r} is not a time ({hint})")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInputError(f"{param}: {text!r} is not a time ({hint})") from exc
    if moment.tzinfo is None:
        raise InvalidInputError(f"{param}: {text!r} needs a UTC offset (Z or +01:00)")
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:
        raise InvalidInputError(f"{param}: {text!r} is outside 1970-2261") from exc


def parse_fields(text: str | None) -> tuple[str, ...] | None:
    """``"temperature_c,power_kw"`` -> ``("temperature_c", "power_kw")``; ``None`` = all."""
    if text is None:
        return None
    names: list[str] = []
    for raw in text.split(","):
        name = raw.strip()
        if not is_sensor_name(name):
            raise InvalidInputError(
                f"fields: {name!r} is not a field name (lower_snake_case, e.g. temperature_c)"
            )
        if name not in names:
            names.append(name)
    if len(names) > MAX_FIELDS:
        raise InvalidInputError(f"fields: at most {MAX_FIELDS} names")
    return tuple(names)


def parse_function(text: str | None) -> str | None:
    if text is None:
        return None
    if text not in AGGREGATE_FUNCTIONS:
        allowed = ", ".join(sorted(AGGREGATE_FUNCTIONS))
        raise InvalidInputError(f"fn: {text!r} is not one of {allowed}")
    return text


@dataclass(frozen=True, slots=True)
class ReadingsQuery:
    """A validated history query; every part is safe to render into Flux."""

    machine_id: str
    start: datetime
    stop: datetime
    fields: tuple[str, ...] | None
    window: Duration | None
    fn: str | None
    limit: int


def readings_query(
    *,
    machine_id: str,
    start: str,
    stop: str,
    fields: str | None,
    window: str | None,
    fn: str | None,
    limit: int | None,
    now: datetime,
    default_limit: int,
    max_limit: int,
) -> ReadingsQuery:
    """Validate every parameter; raise :class:`InvalidInputError` naming the first bad one."""
    try:
        machine = normalize_machine_id(machine_id)
    except ContractError as exc:
        raise InvalidInputError(str(exc)) from exc
    start_at, stop_at = parse_range(start, stop, now=now)
    every = parse_duration(window, param="window") if window is not None else None
    function = parse_function(fn)
    if function is not None and every is None:
        raise InvalidInputError("window: required when fn is given (e.g. window=1m&fn=mean)")
    if every is not None and function is None:
        function = "mean"
    rows = parse_limit(limit, default=default_limit, most=max_limit)
    return ReadingsQuery(
        machine_id=machine,
        start=start_at,
        stop=stop_at,
        fields=parse_fields(fields),
        window=every,
        fn=function,
        limit=rows,
    )
