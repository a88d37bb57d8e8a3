"""Golden reading cases: each folder of ``reading_cases/`` holds a devices file, the
registers a device answers (``registers.json``: table -> address -> value, ``null`` for a
table the device refuses), optionally the last good values, and the reading expected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.config.devices import load_devices
from connectors.modbus.scan import BlockAnswer, ScanAssembler, plan_device

CASES = Path(__file__).parent / "reading_cases"


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir()))
def test_reading_case(case: str) -> None:
    folder = CASES / case
    (device,) = load_devices(folder / "devices.yaml")
    tables = json.loads((folder / "registers.json").read_text(encoding="utf-8"))
    last_good_file = folder / "last_good.json"
    last_good = json.loads(last_good_file.read_text()) if last_good_file.exists() else {}
    answers = []
    for request in plan_device(device):
        table = tables.get(request.table)
        if table is None:
            answers.append(BlockAnswer(request, None, "exception_code=2"))
            continue
        regs = [table[str(a)] for a in range(request.address, request.address + request.count)]
        answers.append(BlockAnswer(request, regs))
    reading = ScanAssembler(device).assemble(answers, ts_ms=1, seq=1, last_good=last_good)
    expected = json.loads((folder / "expected_reading.json").read_text(encoding="utf-8"))
    assert reading is not None
    assert reading.values == expected["values"]
    assert reading.quality == expected["quality"]
    assert reading.texts == expected.get("texts", {})
