"""The SQLite spool: order, bounds, full-spool policies, sequence numbers, durability."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from connectors.forwarding.spool import Spool


def _rows(machine: str, seqs: range) -> list[tuple[str, int, str, bytes, bytes]]:
    return [(machine, s, "readings", machine.encode(), f"{machine}:{s}".encode()) for s in seqs]


def test_records_come_back_in_order_and_delete_by_prefix(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite3", max_records=100)
    spool.append(_rows("1", range(1, 4)) + _rows("2", range(1, 3)))
    records = spool.peek(after_id=0, limit=10)
    assert [(r.machine_id, r.seq) for r in records] == [
        ("1", 1),
        ("1", 2),
        ("1", 3),
        ("2", 1),
        ("2", 2),
    ]
    assert [r.value for r in spool.peek(after_id=records[2].id, limit=1)] == [b"2:1"]
    assert spool.delete_through(records[1].id) == 2
    assert spool.depth == 3
    assert spool.last_seqs() == {"1": 3, "2": 2}


def test_drop_oldest_keeps_the_newest_and_counts(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite3", max_records=5, full_policy="drop_oldest")
    spool.append(_rows("1", range(1, 5)))
    assert spool.append(_rows("1", range(5, 8))) == 2
    assert [r.seq for r in spool.peek(after_id=0, limit=10)] == [3, 4, 5, 6, 7]
    assert spool.append(_rows("1", range(8, 20))) == 12
    assert [r.seq for r in spool.peek(after_id=0, limit=10)] == [15, 16, 17, 18, 19]
    assert (spool.dropped, spool.depth) == (14, 5)


def test_drop_newest_refuses_what_does_not_fit_and_counts(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite3", max_records=5, full_policy="drop_newest")
    spool.append(_rows("1", range(1, 5)))
    assert spool.append(_rows("1", range(5, 8))) == 2
    assert [r.seq for r in spool.peek(after_id=0, limit=10)] == [1, 2, 3, 4, 5]
    assert spool.dropped == 2


def test_delivered_readings_found_after_a_restart_are_removed(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite3", max_records=100)
    spool.append(_rows("1", range(1, 6)) + _rows("2", range(1, 4)))
    assert spool.machines() == {"1": 1, "2": 1}
    assert spool.delete_delivered({"1": 3, "3": 9}) == 3
    assert [(r.machine_id, r.seq) for r in spool.peek(after_id=0, limit=10)] == [
        ("1", 4),
        ("1", 5),
        ("2", 1),
        ("2", 2),
        ("2", 3),
    ]


def test_a_killed_writer_leaves_every_committed_batch(tmp_path: Path) -> None:
    """A process appends, then dies with SIGKILL; a new Spool sees the rows and seqs."""
    path = tmp_path / "s.sqlite3"
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from connectors.forwarding.spool import Spool\n"
        f"s = Spool(Path({str(path)!r}), max_records=1000)\n"
        "for i in range(10):\n"
        "    s.append([('42', i + 1, 't', b'42', b'v')])\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], timeout=30, check=False)
    assert proc.returncode == -9
    spool = Spool(path, max_records=1000)
    assert spool.depth == 10
    assert spool.last_seqs() == {"42": 10}


def test_max_records_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_records"):
        Spool(tmp_path / "s.sqlite3", max_records=0)


def _fill_disk(spool: Spool) -> None:
    """The spool's file may not grow any more: SQLite answers SQLITE_FULL, as on a full disk."""
    pages = spool._db.execute("PRAGMA page_count").fetchone()[0]
    spool._db.execute(f"PRAGMA max_page_count = {pages}")


@pytest.mark.parametrize("policy", ["drop_oldest", "drop_newest"])
def test_a_full_disk_drops_and_counts_instead_of_raising(
    tmp_path: Path, policy: str, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path / "s.sqlite3", max_records=1_000_000, full_policy=policy)  # type: ignore[arg-type]
    spool.append(_rows("1", range(1, 3)))
    _fill_disk(spool)
    big = [("1", s, "readings", b"1", b"x" * 8192) for s in range(3, 53)]
    dropped = spool.append(big)
    assert dropped > 0 and spool.dropped == dropped
    assert spool.depth == len(spool.peek(after_id=0, limit=1000))
    assert "spool disk full" in caplog.text and "free space" in caplog.text
    # Space returns: the next readings are stored again.
    spool._db.execute("PRAGMA max_page_count = 1000000")
    assert spool.append(_rows("1", range(53, 55))) == 0
    assert [r.seq for r in spool.peek(after_id=0, limit=1000)][-2:] == [53, 54]
    assert spool.last_seqs() == {"1": 54}


def test_a_full_disk_while_dropping_the_oldest_keeps_the_depth_right(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite3", max_records=5, full_policy="drop_oldest")
    spool.append(_rows("1", range(1, 6)))
    _fill_disk(spool)
    big = [("1", s, "readings", b"1", b"x" * 65536) for s in range(6, 9)]
    assert spool.append(big) == 3
    assert spool.depth == len(spool.peek(after_id=0, limit=100)) == 5


def test_the_seqs_table_is_one_b_tree(tmp_path: Path) -> None:
    """Written in every commit: without a rowid it costs one WAL page, not two."""
    path = tmp_path / "s.sqlite3"
    Spool(path, max_records=10).close()
    with sqlite3.connect(path) as db:
        (sql,) = db.execute("SELECT sql FROM sqlite_master WHERE name = 'seqs'").fetchone()
    assert sql.rstrip().endswith("WITHOUT ROWID")


def test_a_spool_with_the_older_rowid_seqs_table_still_works(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE seqs (machine_id TEXT PRIMARY KEY, last_seq INTEGER NOT NULL)")
        db.execute("INSERT INTO seqs VALUES ('42', 7)")
    spool = Spool(path, max_records=10)
    spool.append([("42", 8, "t", b"42", b"v"), ("43", 1, "t", b"43", b"w")])
    spool.close()
    spool = Spool(path, max_records=10)
    assert spool.last_seqs() == {"42": 8, "43": 1}
    assert [(r.machine_id, r.seq) for r in spool.peek(after_id=0, limit=10)] == [
        ("42", 8),
        ("43", 1),
    ]
