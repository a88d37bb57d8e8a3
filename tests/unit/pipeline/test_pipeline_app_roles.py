"""create_app wires each role the settings turn on, and only those (no broker needed:
nothing connects before the worker starts)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.app import create_app
from pipeline.faust_ext.app import PipelineApp
from pipeline.settings import PipelineSettings


@pytest.fixture(autouse=True)
def _close_loops(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Faust opens event loops for the app it builds (and never runs here); close them."""
    opened: list[asyncio.AbstractEventLoop] = []
    new_loop = asyncio.new_event_loop

    def recorded() -> asyncio.AbstractEventLoop:
        loop = new_loop()
        opened.append(loop)
        return loop

    monkeypatch.setattr(asyncio, "new_event_loop", recorded)
    yield
    for loop in opened:
        loop.close()


def _app(tmp_path: Path, **roles: bool) -> PipelineApp:
    settings = PipelineSettings(
        pipeline_partitions=3,
        pipeline_data_dir=tmp_path,
        pipeline_app_id=f"roles-{'-'.join(f'{k}{int(v)}' for k, v in roles.items())}",
        **{f"pipeline_{role}_enabled": on for role, on in roles.items()},
    )
    app = create_app(settings)
    assert isinstance(app, PipelineApp)
    return app


@pytest.fixture(autouse=True)
def _no_millstream_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("MILLSTREAM_"):
            monkeypatch.delenv(name)


def test_a_full_worker_stores_readings_alarm_events_and_audit_and_reads_alarms(
    tmp_path: Path,
) -> None:
    consumer = _app(tmp_path, storage=True, windows=True, alarms=True).chunk_consumer
    assert sorted(consumer.chunk_handlers) == [
        "millstream.alarms",
        "millstream.audit",
        "millstream.readings",
    ]
    assert len(consumer.revoke_hooks) == 1  # the readings reader lets go first


def test_an_alarms_only_worker_moves_past_the_readings_and_stores_nothing(
    tmp_path: Path,
) -> None:
    consumer = _app(tmp_path, storage=False, windows=False, alarms=True).chunk_consumer
    assert sorted(consumer.chunk_handlers) == ["millstream.readings"]
    assert len(consumer.revoke_hooks) == 1


def test_a_storage_worker_without_alarms_has_no_readings_reader(tmp_path: Path) -> None:
    consumer = _app(tmp_path, storage=True, windows=True, alarms=False, audit=False).chunk_consumer
    assert sorted(consumer.chunk_handlers) == ["millstream.alarms", "millstream.readings"]
    assert consumer.revoke_hooks == []
