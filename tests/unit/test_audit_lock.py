"""`make lint`'s audit of requirements.lock (.ci/audit_lock.py): a known vulnerability fails
it, from pip-audit's answer or from the newest release's advisories; a pin no advisory data
covers is listed, and fails only with ``--strict``. The package index is replaced here."""

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "audit_lock.py"
LOCK = "alpha==1.0 \\\n    --hash=sha256:00\nbeta==2.0 \\\n    --hash=sha256:00\n"


@pytest.fixture
def audit(monkeypatch, tmp_path):
    spec = importlib.util.spec_from_file_location("audit_lock", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    lock = tmp_path / "requirements.lock"
    lock.write_text(LOCK)

    def run(deps, newest, *flags):
        monkeypatch.setattr(module, "pip_audit", lambda _lock: deps)
        monkeypatch.setattr(module, "newest_release_vulns", lambda n, v: newest.get(n))
        monkeypatch.setattr(sys, "argv", ["audit_lock.py", str(lock), *flags])
        return module.main()

    return run


VULN = {"id": "PYSEC-0000-1", "fix_versions": ["1.1"]}


def test_a_vulnerability_pip_audit_reports_fails(audit, capsys):
    deps = [{"name": "alpha", "version": "1.0", "vulns": [VULN]}, {"name": "beta", "vulns": []}]
    assert audit(deps, {}) == 1
    assert "VULNERABLE alpha==1.0: PYSEC-0000-1 (fixed in 1.1)" in capsys.readouterr().out


def test_a_skipped_pin_is_audited_from_its_newest_release(audit, capsys):
    deps = [{"name": "alpha", "skip_reason": "not found"}, {"name": "beta", "vulns": []}]
    assert audit(deps, {"alpha": [VULN]}) == 1
    assert audit(deps, {"alpha": []}) == 0
    assert "2 of 2 pins audited, 0 known" in capsys.readouterr().out


def test_a_pin_no_data_covers_is_named_and_fails_only_when_strict(audit, capsys):
    deps = [{"name": "alpha", "skip_reason": "not found"}, {"name": "beta", "vulns": []}]
    assert audit(deps, {"alpha": None}) == 0
    assert "not audited" in capsys.readouterr().out
    assert audit(deps, {"alpha": None}, "--strict") == 1
