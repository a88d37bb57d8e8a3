"""docs/console.md shows every view's screenshot the browser tests take, desktop and phone."""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e.test_console import VIEWS

ROOT = Path(__file__).resolve().parents[3]


def test_the_operators_guide_shows_every_view_on_a_desktop_and_a_phone() -> None:
    doc = (ROOT / "docs" / "console.md").read_text()
    shown = set(re.findall(r"\]\(console/([a-z]+-(?:desktop|phone)\.png)\)", doc))
    taken = {f"{view}-{size}.png" for view in ("login", *VIEWS) for size in ("desktop", "phone")}
    assert taken <= shown, sorted(taken - shown)
    missing = [name for name in sorted(shown) if not (ROOT / "docs" / "console" / name).is_file()]
    assert not missing, missing
