"""The pure core of commands: what to write, or why not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connectors.commands import Write, plan_write
from connectors.config.devices import load_devices
from contracts.commands import Command

REPO = Path(__file__).resolve().parents[3]
NOW_MS = 1_766_241_000_000


def _command(action: str, **fields: Any) -> Command:
    base: dict[str, Any] = {
        "command_id": "c1",
        "machine_id": "42",
        "action": action,
        "requested_by": "eng",
        "ts_ms": NOW_MS - 1_000,
    }
    return Command.model_validate(base | fields)


@pytest.fixture
def lathe() -> Any:
    (device,) = load_devices(REPO / "devices.example.yaml")
    return device


def test_stop_and_start_write_the_configured_register(lathe: Any) -> None:
    stop = plan_write(_command("stop"), lathe, now_ms=NOW_MS, max_age_s=60)
    assert stop == Write("holding", 20, (0,))
    assert stop.function_code == 6
    assert plan_write(_command("start"), lathe, now_ms=NOW_MS, max_age_s=60) == Write(
        "holding", 20, (1,)
    )


def test_setpoint_writes_an_encoded_writable_tag_in_range(lathe: Any) -> None:
    planned = plan_write(
        _command("setpoint", target="feed_override_pct", value=120),
        lathe,
        now_ms=NOW_MS,
        max_age_s=60,
    )
    assert planned == Write("holding", 9, (120,))


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        (_command("setpoint", target="temperature_c", value=1), "not a writable tag"),
        (_command("setpoint", target="feed_override_pct", value=151), "outside 0..150"),
        (_command("setpoint", target="feed_override_pct", value=-1), "outside 0..150"),
        (_command("setpoint", target="no_such_tag", value=1), "not a writable tag"),
        (_command("start", expires_ts_ms=NOW_MS - 1), "expired"),
        (_command("stop", ts_ms=NOW_MS - 120_000), "older than 60 s"),
    ],
)
def test_refusals_say_why(lathe: Any, command: Command, reason: str) -> None:
    planned = plan_write(command, lathe, now_ms=NOW_MS, max_age_s=60)
    assert isinstance(planned, str)
    assert reason in planned


def test_actions_not_configured_and_foreign_machines_are_refused(lathe: Any) -> None:
    bare = lathe.model_copy(update={"commands": type(lathe.commands)()})
    assert "not allowed" in str(plan_write(_command("stop"), bare, now_ms=NOW_MS, max_age_s=60))
    assert "not served" in str(plan_write(_command("stop"), None, now_ms=NOW_MS, max_age_s=60))


def test_every_option_is_documented_in_the_example_file() -> None:
    from connectors.config.devices import CommandWrite, Device, Register, Workarounds

    text = (REPO / "devices.example.yaml").read_text(encoding="utf-8")
    for model in (Device, Register, Workarounds, CommandWrite):
        for name in model.model_fields:
            assert name in text, f"{model.__name__}.{name} is not documented"
