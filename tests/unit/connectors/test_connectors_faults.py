"""Exception-response episodes of the simulator: parsing and when they answer."""

from __future__ import annotations

import pytest

from connectors.simulator.__main__ import main
from connectors.simulator.faults import exception_code, parse_episode
from contracts.errors import ConfigError


def test_parse_an_episode() -> None:
    episode = parse_episode("42:holding:10+4:slave_device_busy:2.5:5:60")
    assert (episode.machine_id, episode.table, episode.address, episode.count) == (
        "42",
        "holding",
        10,
        4,
    )
    assert (episode.code, episode.start_s, episode.duration_s, episode.every_s) == (
        6,
        2.5,
        5.0,
        60.0,
    )
    assert parse_episode("7:input:3:illegal_data_address:0:1").count == 1


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("42:holding:0", "expected MACHINE:TABLE"),
        ("42:register:0:slave_device_busy:0:1", "table: 'register'"),
        ("42:holding:x+2:slave_device_busy:0:1", "address: 'x+2'"),
        ("42:holding:65535+2:slave_device_busy:0:1", "out of range"),
        ("42:holding:0:busy:0:1", "code: 'busy'"),
        ("42:holding:0:slave_device_busy:soon:1", "must be numbers"),
        ("42:holding:0:slave_device_busy:0:0", "DURATION_S > 0"),
    ],
)
def test_a_bad_episode_is_refused_naming_the_part(text: str, names: str) -> None:
    with pytest.raises(ConfigError, match=names.replace("+", r"\+").replace("(", r"\(")):
        parse_episode(text)


def test_code_only_inside_the_range_table_machine_and_time() -> None:
    episodes = [parse_episode("42:holding:10+4:slave_device_busy:2:3:10")]

    def code(
        machine: str = "42", fc: int = 3, address: int = 10, count: int = 2, now_s: float = 3.0
    ) -> int | None:
        return exception_code(
            episodes, machine, function_code=fc, address=address, count=count, now_s=now_s
        )

    assert code() == 6
    assert code(address=8, count=3) == 6  # overlaps at 10
    assert code(address=8, count=2) is None
    assert code(address=14) is None
    assert code(fc=16) == 6  # writes of the range too
    assert code(fc=4) is None  # input registers are another table
    assert code(machine="43") is None
    assert code(now_s=1.9) is None
    assert code(now_s=5.0) is None
    assert code(now_s=12.5) == 6  # repeats every 10 s


def test_the_cli_refuses_a_bad_episode(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--plants", "1", "--machines", "1", "--exception", "42:holding:0:busy:0:1"]) == 2
    assert "code: 'busy'" in capsys.readouterr().err
