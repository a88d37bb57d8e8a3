"""The demo's maintenance record: the seed's machine 42 last serviced on the seed's date, so
``GET /api/machines/42`` carries ``"last_maintenance": "2025-12-15"`` as in the guide."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request

logger = logging.getLogger(__name__)

SEED_MACHINE_ID = 42
SEED_SCHEDULE = {
    "task": "Spindle bearing inspection",
    "due_date": "2026-03-15",
    "interval_days": 90,
    "done_at": "2025-12-15",
    "done_by": "maintenance",
}


def _call(url: str, key: str, body: dict[str, object] | None = None) -> object:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - the demo's loopback API
        url, data=data, headers={"X-API-Key": key, "Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310
        return json.loads(resp.read() or b"null")


def seed_maintenance(base_url: str, key: str, *, wait_s: float = 30.0) -> bool:
    """Give machine 42 its schedule unless it has one; wait for the machine's connector to
    register it. ``False`` (logged) if that did not happen: the demo runs on without it."""
    url = f"{base_url}/api/machines/{SEED_MACHINE_ID}/maintenance"
    deadline = time.monotonic() + wait_s
    while True:
        try:
            if not _call(url, key):
                _call(url, key, SEED_SCHEDULE)
            return True
        except (urllib.error.URLError, OSError, ValueError) as exc:
            if time.monotonic() >= deadline:
                logger.warning("demo maintenance schedule not created url=%s error=%s", url, exc)
                return False
            time.sleep(0.5)
