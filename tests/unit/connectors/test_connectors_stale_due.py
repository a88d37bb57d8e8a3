"""The watchdog skips a poller until ``stale_due_ms``: it publishes the same stale readings
at the same sweeps as checking every poller at every sweep."""

from __future__ import annotations

import asyncio
import random

from connectors.config.devices import parse_devices
from connectors.modbus.poller import DevicePoller
from connectors.modbus.staleness import StaleTracker
from contracts.readings import Reading

SWEEP_MS = 20


def _poller(published: list[tuple[int, Reading]], clock: list[int]) -> DevicePoller:
    (device,) = parse_devices(
        """
devices:
  - {machine_id: 42, host: 127.0.0.1, poll_interval_s: 0.05,
     registers: [{name: temperature_c, address: 0}]}
""",
        source="test.yaml",
    )
    poller = DevicePoller(device, sink=lambda r: published.append((clock[0], r)))
    # as ``run`` does when polling starts
    poller._stale = StaleTracker({"temperature_c": 0.05}, start_ms=0)
    poller._last_good = {"temperature_c": 20.0}
    return poller


def _run(seed: int, *, skip: bool) -> list[tuple[int, str]]:
    """Sweeps every 20 ms while the connection is taken, requests sent and scans completed
    at random; ``skip``: check only once ``stale_due_ms`` has passed."""
    rng = random.Random(seed)
    published: list[tuple[int, Reading]] = []
    clock = [0]
    poller = _poller(published, clock)

    async def main() -> None:
        for now in range(SWEEP_MS, 20_000, SWEEP_MS):
            clock[0] = now
            lock = poller.write_lock
            if not lock.locked() and rng.random() < 0.05:
                poller.will_hold_connection()
                await lock.acquire()
            elif lock.locked() and rng.random() < 0.1:
                poller._asked_ms = now - rng.randint(0, SWEEP_MS)  # a request sent
            elif lock.locked() and rng.random() < 0.1:
                lock.release()
                if rng.random() < 0.5:  # it was a scan of the tag: its lateness ends
                    assert poller._stale is not None
                    poller._stale.refreshed(("temperature_c",), now_ms=now)
                    poller._late.clear()
                    poller._note_stale_due(poller._stale)
            if not skip or now > poller.stale_due_ms:
                poller.check_staleness(log=False, now_ms=now)

    asyncio.run(main())
    return [(t, r.quality["temperature_c"]) for t, r in published]


def test_skipping_until_due_publishes_what_checking_every_sweep_does() -> None:
    for seed in range(20):
        every_sweep = _run(seed, skip=False)
        assert every_sweep, "the schedule publishes some stale readings"
        assert _run(seed, skip=True) == every_sweep
