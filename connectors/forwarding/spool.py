"""The store-and-forward spool: every reading is written here before it is produced.

An SQLite database in WAL mode (the standard library's ``sqlite3``: an embedded store
that survives ``kill -9`` with its last committed transaction, not a home-made file
format). Two tables:

- ``spool``: readings waiting for Kafka, in the order they were polled (``id``), with
  their machine and sequence number;
- ``seqs``: the last sequence number handed out per machine, written in the same
  transaction as the readings, so sequence numbers continue across restarts and a gap
  can only mean a lost reading.

The spool is bounded by ``max_records``. When a batch does not fit, the policy decides:
``drop_oldest`` deletes the oldest readings to make room (the freshest data wins),
``drop_newest`` refuses the new ones; either way every dropped reading is counted in
:attr:`Spool.dropped` and logged. The forwarder (:mod:`connectors.forwarding.forwarder`) reads the
spool in order and deletes what Kafka acknowledged.

All methods are synchronous and short (one transaction); callers on the event loop
batch their writes.
"""

from __future__ import annotations

import logging
import sqlite3
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
);
"""


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
                    from_spool = min(overflow, self._depth)
                    db.execute(
                        "DELETE FROM spool WHERE id IN (SELECT id FROM spool ORDER BY id LIMIT ?)",
                        (from_spool,),
                    )
                    self._depth -= from_spool
                    dropped = overflow
                    rows = rows[overflow - from_spool :]
            db.executemany(
                "INSERT INTO spool (machine_id, seq, topic, key, value) VALUES (?, ?, ?, ?, ?)",
                rows,
            )
            db.executemany(
                "INSERT INTO seqs (machine_id, last_seq) VALUES (?, ?) "
                "ON CONFLICT(machine_id) DO UPDATE SET last_seq = excluded.last_seq",
                list(last.items()),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._depth += len(rows)
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
        deleted = self._db.execute("DELETE FROM spool WHERE id <= ?", (last_id,)).rowcount
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
