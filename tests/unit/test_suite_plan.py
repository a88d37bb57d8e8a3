"""The plan that spreads `make test` over its xdist workers (tests/conftest.py) names only
modules that exist, each once, so a renamed module cannot drop out of it unnoticed."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import LONGEST_FIRST, SHARING_A_WORKER, _rank

REPO = Path(__file__).resolve().parents[2]


def test_every_named_module_exists_once() -> None:
    named = [*LONGEST_FIRST, *SHARING_A_WORKER]
    assert [m for m in named if not (REPO / m).is_file()] == []
    assert len(set(LONGEST_FIRST)) == len(LONGEST_FIRST)


def test_modules_sharing_a_worker_are_handed_out_together() -> None:
    ranks = sorted(LONGEST_FIRST.index(m) for m in SHARING_A_WORKER)
    assert ranks == list(range(ranks[0], ranks[0] + len(ranks)))


def test_named_modules_first_then_the_rest_then_the_unit_tests() -> None:
    first = _rank(f"{LONGEST_FIRST[0]}::test_x")
    other = _rank("tests/integration/test_not_named.py::test_x")
    unit = _rank("tests/unit/contracts/test_contracts_readings.py::test_x")
    assert first == 0 < other < unit
