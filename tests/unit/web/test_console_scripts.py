"""The console's pure JavaScript (web/src) under Node's own test runner (web/test)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_the_console_scripts_pass_their_node_tests() -> None:
    node = shutil.which("node")
    assert node is not None, (
        "node is missing: the console's build needs it (apt-get install nodejs)"
    )
    done = subprocess.run(
        [node, "--test", "web/test/"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "# fail 0" in done.stdout
