"""`make lock` from a clean checkout: it bootstraps uv into a fresh venv, resolves
pyproject.toml against the package index, and leaves the committed requirements.lock as it
is, so the lock is current (a dependency changed in pyproject.toml without a new lock fails
here, naming the lines that would change). `make lock-upgrade` resolves too, and keeps the
exact pins of pyproject.toml."""

from __future__ import annotations

import difflib
import re
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_make_lock_from_a_clean_checkout_keeps_the_committed_lock(tmp_path: Path) -> None:
    for name in ("Makefile", "pyproject.toml", "README.md", "requirements.lock"):
        shutil.copy(REPO / name, tmp_path / name)
    done = subprocess.run(
        ["make", "lock"], cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / ".venv" / "bin" / "uv").exists()
    committed = (REPO / "requirements.lock").read_text().splitlines()
    relocked = (tmp_path / "requirements.lock").read_text().splitlines()
    changed = [
        line
        for line in difflib.unified_diff(committed, relocked, lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert changed == [], "requirements.lock is stale: run `make lock`\n" + "\n".join(changed)

    upgraded = subprocess.run(
        ["make", "lock-upgrade"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    pins = re.findall(r'"([A-Za-z0-9_.\-]+==[^"\s;]+)"', (REPO / "pyproject.toml").read_text())
    assert "pytest==9.2.0" in pins
    lines = set((tmp_path / "requirements.lock").read_text().splitlines())
    assert [p for p in pins if f"{p.lower()} \\" not in lines] == []
