"""The API collects garbage less often than CPython's defaults once its app is built:
full collections held the fan-out's event loop for hundreds of milliseconds."""

import gc

import pytest

import api.__main__ as api_main
from api.settings import ApiSettings


def test_serve_freezes_start_up_objects_and_raises_the_thresholds_before_it_serves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, object] = {}

    def run(app: object, **_: object) -> None:
        seen["app"] = app
        seen["thresholds"] = gc.get_threshold()
        seen["frozen"] = gc.get_freeze_count()

    monkeypatch.setattr(api_main.uvicorn, "run", run)
    monkeypatch.setattr(api_main, "install_log_redaction", lambda: None)
    before = gc.get_threshold()
    try:
        api_main.serve(ApiSettings())
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
    assert seen["app"] is not None
    assert seen["thresholds"] == api_main.GC_THRESHOLDS
    assert seen["thresholds"] != (700, 10, 10)
    assert isinstance(seen["frozen"], int) and seen["frozen"] > 0
