"""What the console scenario runs inside the page: Chromium launched as the browser tests
launch it, and the scripts that stamp long tasks, alarm rows and chart draws.

Times in the page are ``performance.timeOrigin + performance.now()`` (epoch milliseconds,
sub-millisecond), the same clock as Python's ``time.time()`` on this machine.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
# Chromium as the browser tests (tests/e2e) and this scenario launch it: with a closed
# network, kept from reaching for Google's services.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1400, "height": 900}
SCRIPTS = Path(__file__).resolve().parent / "console_js"
TRACES_ENV = "MILLSTREAM_BENCH_TRACES"


def _script(name: str) -> str:
    """A script of bench/console_js, its leading ``//`` comment left out."""
    lines = (SCRIPTS / name).read_text().splitlines()
    while lines and lines[0].startswith("//"):
        lines.pop(0)
    return "\n".join(lines)


INIT_SCRIPT = _script("init.js")
OPEN_MACHINE = _script("open_machine.js")
DRAW_RAW = _script("draw_raw.js")


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright; closed on the way out."""
    from playwright.sync_api import sync_playwright

    if shutil.which(CHROMIUM) is None:
        raise RuntimeError(f"{CHROMIUM} is missing: install it with `apt-get install chromium`")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def traced(browser: Any, page: Any, name: str = "") -> Iterator[list[Any]]:
    """A Chrome trace of ``page`` (the DevTools Performance panel's events) over the block;
    the list it yields holds the main thread's summary when the block is done. With
    ``MILLSTREAM_BENCH_TRACES`` set to a folder, the trace is also saved there as
    ``<name>.json``, to open in the DevTools Performance panel."""
    import json
    import os

    from bench.browser_trace import CATEGORIES, main_thread_summary

    out: list[Any] = []
    browser.start_tracing(page=page, categories=list(CATEGORIES))
    try:
        yield out
    finally:
        raw = browser.stop_tracing()
        folder = os.environ.get(TRACES_ENV)
        if folder and name:
            Path(folder).mkdir(parents=True, exist_ok=True)
            (Path(folder) / f"{name}.json").write_bytes(raw)
        trace = json.loads(raw)
        events = trace.get("traceEvents", trace) if isinstance(trace, dict) else trace
        out.append(main_thread_summary(events))
