import asyncio

import faust
import pytest

from pipeline.faust_ext.tables import KeyPartitionedTable


async def test_changelog_durable_waits_for_every_changelog_record(monkeypatch):
    """Faust's producer flush may return while a changelog record is still queued; the
    table waits for the broker's acknowledgement of each record instead."""
    sent: list[asyncio.Future[object]] = []

    def send_changelog(self, *args, **kwargs):
        fut: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        sent.append(fut)
        return fut

    monkeypatch.setattr(faust.Table, "send_changelog", send_changelog)
    app = faust.App("tables-unit", broker="memory://", store="memory://")
    table = KeyPartitionedTable(app, name="t", partitions=3, use_partitioner=True)
    await table.changelog_durable()  # nothing written: returns at once
    table.send_changelog(0, b"m1", b"v1")
    table.send_changelog(1, b"m2", b"v2")
    waiting = asyncio.ensure_future(table.changelog_durable())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    sent[0].set_result("ok")
    await asyncio.sleep(0.01)
    assert not waiting.done()
    sent[1].set_result("ok")
    await asyncio.wait_for(waiting, timeout=1)
    table.send_changelog(2, b"m3", b"v3")
    sent[2].set_exception(RuntimeError("broker refused"))
    await asyncio.sleep(0.01)  # the failure is kept after its callbacks ran
    with pytest.raises(RuntimeError, match="broker refused"):
        await table.changelog_durable()
    await table.changelog_durable()  # reported once
    # A record the broker never acknowledges is waited for only so long.
    table.send_changelog(0, b"m4", b"v4")
    await asyncio.wait_for(table.changelog_durable(timeout_s=0.05), timeout=1)
    assert not sent[3].done()
