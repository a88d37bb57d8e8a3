"""Fixtures of the end-to-end tests: the whole stack as `make run` starts it, and headless
Chromium (Debian's /usr/bin/chromium) driven by Playwright; its own browser download cannot
work on these machines."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import childprocs
import pytest
from playwright.sync_api import Browser, sync_playwright

from bench.console_page import CHROMIUM, CHROMIUM_ARGS
from infra.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
# How often the simulated lathe overheats in the stacks of these tests.
OVERHEAT_EVERY_S = 20


@dataclass(frozen=True)
class RunningStack:
    base_url: str
    ws_url: str
    admin_key: str
    process: subprocess.Popen[bytes]
    banner: str
    run_dir: Path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """`python -m infra run` (what `make run` runs) on a free port, one per test module."""
    if not (ROOT / "api" / "static" / "console" / "index.html").is_file():
        raise AssertionError("the console is not built: run `make console` (`make test` does)")
    run_dir = tmp_path_factory.mktemp("run")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILLSTREAM_")}
    env.update(MILLSTREAM_RUN_DIR=str(run_dir), PYTHONUNBUFFERED="1")
    command = ["-m", "infra", "run", "--api-port", str(port)]
    command += ["--overheat-every-s", str(OVERHEAT_EVERY_S)]
    # Its stdout alone: the banner, then what it says while running.
    log_path = tmp_path_factory.mktemp("run-out") / "infra-run.out"
    proc = childprocs.start_python(command, env=env, log_path=log_path, with_stderr=False)
    try:
        banner = childprocs.wait_for_output(proc, log_path, "Press Ctrl-C", timeout_s=240)
        key_match = re.search(r"Admin key:\s+(\S+)", banner)
        ws_match = re.search(r"WebSocket:\s+(\S+)", banner)
        assert key_match and ws_match, banner
        yield RunningStack(
            base_url=f"http://127.0.0.1:{port}",
            ws_url=ws_match.group(1),
            admin_key=key_match.group(1),
            process=proc,
            banner=banner,
            run_dir=run_dir,
        )
    finally:
        if not childprocs.stop(proc, sig=signal.SIGINT, timeout_s=90):
            raise AssertionError("`python -m infra run` was killed: no clean stop within 90 s")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        raise AssertionError(
            f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()
