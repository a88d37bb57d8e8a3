import pytest

from pipeline.__main__ import main


@pytest.fixture
def clean_env(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith("MILLSTREAM_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_invalid_setting_exits_2_naming_the_variable(clean_env, capsys):
    clean_env.setenv("MILLSTREAM_PIPELINE_BATCH_SIZE", "none")
    assert main(["worker"]) == 2
    err = capsys.readouterr().err
    assert "MILLSTREAM_PIPELINE_BATCH_SIZE" in err


def test_unknown_log_level_is_refused(clean_env, capsys):
    clean_env.setenv("MILLSTREAM_PIPELINE_LOG_LEVEL", "chatty")
    assert main(["worker"]) == 2
    assert "MILLSTREAM_PIPELINE_LOG_LEVEL" in capsys.readouterr().err


def test_a_command_is_required(capsys):
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    assert "worker" in capsys.readouterr().err
