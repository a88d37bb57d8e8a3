"""The docs' setpoint examples target a writable tag of the simulated factory, in range."""

from __future__ import annotations

import json
import re
from pathlib import Path

from connectors.simulator.factory import TAGS

ROOT = Path(__file__).resolve().parents[3]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# REST bodies ('{"action": "setpoint", ...}') and /live frames ({action: 'command', ...}).
REST = re.compile(r"""'(\{"action": "setpoint"[^']*\})'""")
LIVE = re.compile(r"command: 'setpoint', target: '(\w+)', value: ([0-9.]+)")


def _examples() -> list[tuple[str, str, float]]:
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for body in REST.findall(text):
            parsed = json.loads(body)
            found.append((doc.name, parsed["target"], float(parsed["value"])))
        for target, value in LIVE.findall(text):
            found.append((doc.name, target, float(value)))
    return found


def test_docs_have_setpoint_examples() -> None:
    assert len(_examples()) >= 2


def test_every_setpoint_example_targets_a_writable_simulated_tag_in_range() -> None:
    writable = {tag["name"]: tag for tag in TAGS if tag.get("writable")}
    for doc, target, value in _examples():
        assert target in writable, f"{doc}: {target} is not a writable tag of the simulator"
        tag = writable[target]
        assert tag["min"] <= value <= tag["max"], f"{doc}: {target}={value} out of range"
