"""How ``millstream tail`` shows a frame on a terminal: one compact line per reading, alarms
styled by severity (text as well as colour, as ISA-101 asks), everything else dim.

Units come from the machine registry when it names them, else from the field name's
suffix (``temperature_c`` -> °C): sensor names carry their unit by convention.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text

# Longest suffix first: ``_mm_s`` before ``_s``.
_SUFFIX_UNITS: tuple[tuple[str, str], ...] = (
    ("_l_min", "l/min"),
    ("_mm_s", "mm/s"),
    ("_kwh", "kWh"),
    ("_pct", "%"),
    ("_rpm", "rpm"),
    ("_bar", "bar"),
    ("_kw", "kW"),
    ("_hz", "Hz"),
    ("_ms", "ms"),
    ("_mm", "mm"),
    ("_c", "°C"),
    ("_v", "V"),
    ("_a", "A"),
    ("_s", "s"),
)
# Frame keys that are not sensor values.
_META = frozenset(("type", "machine_id", "ts", "seq", "quality", "plant", "line"))

SEVERITY_STYLES = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "bold yellow",
    "low": "cyan",
}
_EVENT_STYLES = {"cleared": "green", "acknowledged": "dim", "unshelved": "dim", "shelved": "dim"}


def split_unit(field: str) -> tuple[str, str]:
    """``temperature_c`` -> ``("temperature", "°C")``; ``running`` -> ``("running", "")``."""
    for suffix, unit in _SUFFIX_UNITS:
        if field.endswith(suffix) and len(field) > len(suffix):
            return field[: -len(suffix)], unit
    return field, ""


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) < 1e6 else f"{value:.4e}"
    return str(value)


def _clock(ts: Any) -> str:
    """``2025-12-20T14:30:00.123Z`` -> ``14:30:00.123`` (the date is noise while tailing)."""
    text = str(ts)
    return text[11:23] if len(text) >= 23 and text[10] == "T" else text


def reading_text(frame: dict[str, Any], units: dict[str, str] | None = None) -> Text:
    """``14:30:00.123  42  temperature 68.1 °C  vibration 3.5 mm/s``; a value whose quality
    is not good is shown with it (``pressure 0 bar(bad)``)."""
    line = Text()
    line.append(_clock(frame.get("ts")), style="dim")
    line.append(f"  {frame.get('machine_id')}", style="bold")
    raw_quality = frame.get("quality")
    quality = raw_quality if isinstance(raw_quality, dict) else {}
    for name, value in frame.items():
        if name in _META:
            continue
        short, unit = split_unit(name)
        if units and units.get(name):
            short, unit = (short if unit else name), units[name]
        line.append(f"  {short} ")
        line.append(_number(value))
        if unit:
            line.append(f" {unit}", style="dim")
        if quality and name in quality:
            line.append(f"({quality[name]})", style="yellow")
    return line


def alarm_text(frame: dict[str, Any], units: dict[str, str] | None = None) -> Text:
    """``14:30:05.000  ALARM HIGH raised  42 temperature_c high  91.2 °C (limit 85)  msg``."""
    severity = str(frame.get("severity", ""))
    event = str(frame.get("event", ""))
    style = _EVENT_STYLES.get(event, SEVERITY_STYLES.get(severity, "bold"))
    sensor = str(frame.get("sensor", ""))
    unit = (units or {}).get(sensor) or split_unit(sensor)[1]
    unit_text = f" {unit}" if unit else ""
    line = Text()
    line.append(_clock(frame.get("ts")), style="dim")
    line.append("  ")
    line.append(f"ALARM {severity.upper()} {event}", style=style)
    line.append(f"  {frame.get('machine_id')} {sensor} {frame.get('rule', '')}", style=style)
    value, threshold = frame.get("value"), frame.get("threshold")
    if value is not None:
        line.append(f"  {_number(value)}{unit_text} (limit {_number(threshold)}{unit_text})")
    message = frame.get("message")
    if message:
        line.append(f"  {message}")
    by = frame.get("by")
    if by:
        line.append(f"  by {by}", style="dim")
    return line


def aggregate_text(frame: dict[str, Any]) -> Text:
    line = Text()
    line.append(_clock(frame.get("start", frame.get("ts"))), style="dim")
    line.append(f"  {frame.get('machine_id')} window {frame.get('window')}", style="bold")
    sensors = frame.get("sensors")
    for name, stats in sorted(sensors.items() if isinstance(sensors, dict) else ()):
        short, unit = split_unit(name)
        if isinstance(stats, dict):
            line.append(f"  {short} mean {_number(stats.get('mean'))}")
            line.append(f" {unit}" if unit else "", style="dim")
    return line


def status_text(frame: dict[str, Any]) -> Text | None:
    """Control frames worth a line (errors, drops, replays); ``None`` for the rest."""
    kind = frame.get("type")
    if kind == "error":
        return Text(f"server: {frame.get('detail')}", style="bold red")
    if kind == "dropped":
        return Text(f"the server skipped {frame.get('count')} readings (too slow)", style="yellow")
    if kind == "replayed":
        return Text(f"resumed: {frame.get('count')} missed alarm events replayed", style="dim")
    return None
