"""The store-and-forward spool: every reading is written here before it is produced.

An SQLite database in WAL mode (the standard library's ``sqlite3``: an embedded store
that survives ``kill -9`` with its last committed transaction, not a home-made file
format). Two tables:

- ``spool``: readings waiting for Kafka, in the order they were polled (``id``), with
  their machine and sequence number;
- ``seqs``: the last sequence number handed out per machine, written in the same
  transaction as the readings, so sequence numbers continue across restarts and a gap
  can only mean a lost reading.

The spool is bounded by ``max_records`` and by its filesystem. When a batch does not fit, the
policy decides (``max_records``):
``drop_oldest`` deletes the oldest readings to make room (the freshest data wins),
``drop_newest`` refuses the new ones; either way every dropped reading is counted in
:attr:`Spool.dropped` and logged. On a full disk (SQLite's ``SQLITE_FULL``) the new readings are
dropped whatever the policy, counted and logged as an error naming what to free; an
acknowledged prefix that cannot be deleted yet stays until the next deletion; polling goes
on and the spool stores again as soon as there is room. The forwarder
(:mod:`connectors.forwarding.forwarder`) reads the spool in order and deletes what Kafka
acknowledged.

All methods are synchronous and short (one transaction). The pollers' sink
(:class:`connectors.forwarding.forwarder.SpoolWriter`) commits readings with their
machines' sequence numbers as their scans complete: one transaction per event loop turn.

Durability: ``journal_mode=WAL`` with ``synchronous=NORMAL``. A commit appends to the WAL
file through the operating system's page cache without ``fsync``; the WAL is synced at
checkpoints only. So a committed reading survives the connector process being killed
(``kill -9``, an out-of-memory kill, a crash: the kernel still holds the data and writes
it out), but a power cut or kernel crash may lose the transactions since the last
checkpoint (the database stays consistent; only recent readings are missing and their
sequence numbers are reused). Surviving that too would take ``synchronous=FULL``: one
``fsync`` per commit, milliseconds each on common disks.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

logger = logging.getLogger(__name__)

FullPolicy = Literal["drop_oldest", "drop_newest"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    machine_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    topic TEXT NOT NULL,
    key BLOB NOT NULL,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS seqs (
    machine_id TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL
) WITHOUT ROWID;
"""
# ``seqs`` is written in every commit. WITHOUT ROWID keeps it in one B-tree, so a commit
# writes one page of it to the WAL, not two (the table and its primary-key index): about
# a quarter of the CPU of a one-reading commit. A spool created with the older rowid
# table keeps it and works the same.


@dataclass(frozen=True, slots=True)
class SpoolRecord:
    """One reading waiting in the spool."""

    id: int
    machine_id: str
    seq: int
    topic: str
    key: bytes
    value: bytes


class Spool:
    """A bounded, ordered, durable queue of encoded readings."""

    def __init__(
        self, path: Path, *, max_records: int, full_policy: FullPolicy = "drop_oldest"
    ) -> None:
        if max_records < 1:
            raise ValueError("max_records must be at least 1")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_records = max_records
        self.full_policy = full_policy
        self.dropped = 0
        self._disk_full_logged_s = -1e9
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a committed transaction survives a process kill (not
        # necessarily a power cut of the host), at a fraction of FULL's fsync cost.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._depth = int(self._db.execute("SELECT COUNT(*) FROM spool").fetchone()[0])

    @property
    def depth(self) -> int:
        """Readings waiting to be delivered."""
        return self._depth

    def last_seqs(self) -> dict[str, int]:
        """The last sequence number handed out per machine."""
        return dict(self._db.execute("SELECT machine_id, last_seq FROM seqs").fetchall())

    def append(self, records: Sequence[tuple[str, int, str, bytes, bytes]]) -> int:
        """Store ``(machine_id, seq, topic, key, value)`` rows in one transaction.

        Returns how many were dropped by the full-spool policy (also added to
        :attr:`dropped`).
        """
        if not records:
            return 0
        last: dict[str, int] = {}
        for machine_id, seq, *_ in records:
            last[machine_id] = max(seq, last.get(machine_id, 0))
        rows = list(records)
        try:
            dropped, kept = self._store(rows, last)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_FULL:
                raise
            dropped, kept = self._store_on_full_disk(rows)
        self._depth += kept
        if dropped:
            self.dropped += dropped
            logger.warning(
                "spool full policy=%s dropped=%d dropped_total=%d max_records=%d",
                self.full_policy,
                dropped,
                self.dropped,
                self.max_records,
            )
        return dropped

    def _store(
        self, rows: list[tuple[str, int, str, bytes, bytes]], last: dict[str, int]
    ) -> tuple[int, int]:
        """One transaction: the policy's deletions (``max_records``), the rows, the seqs.
        Returns (dropped, stored)."""
        depth = self._depth
        dropped = 0
        overflow = self._depth + len(rows) - self.max_records
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            if overflow > 0:
                if self.full_policy == "drop_newest":
                    keep = max(0, len(rows) - overflow)
                    dropped = len(rows) - keep
                    rows = rows[:keep]
                else:
                    dropped = overflow
                    rows = rows[overflow - self._delete_oldest(min(overflow, self._depth)) :]
            self._insert(rows, last)
            db.execute("COMMIT")
        except BaseException:
            self._depth = depth  # the deletions are rolled back too
            if db.in_transaction:  # SQLite already rolled back after SQLITE_FULL
                db.execute("ROLLBACK")
            raise
        return dropped, len(rows)

    def _delete_oldest(self, count: int) -> int:
        self._db.execute(
            "DELETE FROM spool WHERE id IN (SELECT id FROM spool ORDER BY id LIMIT ?)", (count,)
        )
        self._depth -= count
        return count

    def _insert(self, rows: list[tuple[str, int, str, bytes, bytes]], last: dict[str, int]) -> None:
        self._db.executemany(
            "INSERT INTO spool (machine_id, seq, topic, key, value) VALUES (?, ?, ?, ?, ?)", rows
        )
        self._db.executemany(
            "INSERT INTO seqs (machine_id, last_seq) VALUES (?, ?) "
            "ON CONFLICT(machine_id) DO UPDATE SET last_seq = excluded.last_seq",
            list(last.items()),
        )

    def _store_on_full_disk(
        self, rows: list[tuple[str, int, str, bytes, bytes]]
    ) -> tuple[int, int]:
        """The disk is full (SQLITE_FULL): the new readings are dropped whatever the policy
        (deleting old ones to make room needs room too, and the oldest are usually in flight
        to Kafka already), counted and logged, at most one error line every 10 s."""
        now = time.monotonic()
        if now - self._disk_full_logged_s >= 10.0:
            self._disk_full_logged_s = now
            logger.error(
                "spool disk full path=%s dropped=%d policy=%s: free space on the spool's "
                "filesystem (MILLSTREAM_CONNECTOR_SPOOL_DIR); polling goes on and readings are "
                "spooled again as soon as there is room",
                self.path,
                len(rows),
                self.full_policy,
            )
        return len(rows), 0

    def peek(self, *, after_id: int, limit: int) -> list[SpoolRecord]:
        """Up to ``limit`` records with ``id > after_id``, oldest first."""
        cursor = self._db.execute(
            "SELECT id, machine_id, seq, topic, key, value FROM spool WHERE id > ? "
            "ORDER BY id LIMIT ?",
            (after_id, limit),
        )
        return [SpoolRecord(*row) for row in cursor.fetchall()]

    def delete_through(self, last_id: int) -> int:
        """Delete every record with ``id <= last_id`` (delivered); return how many."""
        try:
            deleted = self._db.execute("DELETE FROM spool WHERE id <= ?", (last_id,)).rowcount
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_FULL:
                raise
            return 0  # a full disk: the next deletion (a larger id) takes these too
        self._depth -= deleted
        return int(deleted)

    def delete_delivered(self, delivered: dict[str, int]) -> int:
        """Delete the records of each machine up to the sequence number Kafka already
        holds (found after a restart); return how many."""
        total = 0
        for machine_id, seq in delivered.items():
            total += self._db.execute(
                "DELETE FROM spool WHERE machine_id = ? AND seq <= ?", (machine_id, seq)
            ).rowcount
        self._depth -= total
        return total

    def machines(self) -> dict[str, int]:
        """The smallest spooled sequence number per machine."""
        rows = self._db.execute("SELECT machine_id, MIN(seq) FROM spool GROUP BY machine_id")
        return dict(rows.fetchall())

    def close(self) -> None:
        self._db.close()
