"""The fault suite: each test injects one fault into real processes and records a row.

``make test`` runs these tests with short outages; ``make faults`` (``python -m
bench.faults``) runs them with ``MILLSTREAM_FAULTS_FULL=1`` (the full outages) and
``MILLSTREAM_FAULTS_RESULTS=<file>``, where every test appends its row (the fault, how it
was injected, what was expected, what was measured, passed or failed) as a line of JSON,
from which ``docs/reliability.md`` is rendered.
"""

from __future__ import annotations

import gc
import json
import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faultrow import Row

RESULTS = os.environ.get("MILLSTREAM_FAULTS_RESULTS", "")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call" or (report.when == "setup" and report.failed):
        item.stash[_OUTCOME] = report
    return report


_OUTCOME = pytest.StashKey[pytest.TestReport]()


@pytest.fixture(autouse=True)
def _reclaim_abandoned_sockets_per_test() -> Iterator[None]:
    """A fault test kills a broker under kafka-python clients, which abandon their sockets
    to the garbage collector; collect them after each test, so that the next test does not
    fail on a ResourceWarning it did not cause (``tests/conftest.py`` does it per module)."""
    yield
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="unclosed <socket", category=ResourceWarning)
        gc.collect()


@pytest.fixture
def fault_row(request: pytest.FixtureRequest) -> Iterator[Row]:
    """The test's row; filled in by the test, written out (with the outcome) afterwards."""
    row = Row(test=request.node.nodeid.split("/")[-1])
    started = time.monotonic()
    yield row
    row.duration_s = time.monotonic() - started
    report = request.node.stash.get(_OUTCOME, None)
    if report is not None:
        row.status = report.outcome
        if report.failed:
            row.error = (
                str(report.longrepr.reprcrash.message)
                if hasattr(  # type: ignore[union-attr]
                    report.longrepr, "reprcrash"
                )
                else str(report.longrepr)[-600:]
            )
    if RESULTS:
        with Path(RESULTS).open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row.to_json()) + "\n")
