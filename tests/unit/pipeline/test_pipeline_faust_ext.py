"""The Faust extensions refuse, at start-up, a faust-streaming version they were not
tested with, and name it."""

from __future__ import annotations

import pytest

from contracts.errors import ConfigError
from pipeline.__main__ import main
from pipeline.faust_ext import version as faust_version
from pipeline.faust_ext.version import TESTED_FAUST_VERSIONS, check_faust_version


def test_the_installed_version_is_a_tested_one() -> None:
    assert check_faust_version() in TESTED_FAUST_VERSIONS


@pytest.mark.parametrize("untested", ["0.15.4", "0.16.0", "0.15", "not installed"])
def test_an_untested_version_is_refused_by_name(untested: str) -> None:
    with pytest.raises(ConfigError, match=f"faust-streaming {untested} is not a version"):
        check_faust_version(untested)


def test_the_worker_does_not_start_on_an_untested_version(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("MILLSTREAM_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MILLSTREAM_PIPELINE_PARTITIONS", "3")
    monkeypatch.setattr(faust_version, "installed_faust_version", lambda: "0.16.0")
    assert main(["worker"]) == 2
    err = capsys.readouterr().err
    assert "faust-streaming 0.16.0" in err
    assert "faust-streaming==0.15.3" in err
