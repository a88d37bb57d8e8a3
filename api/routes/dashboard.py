"""The operator console: the page at ``/`` and its bundled assets at ``/console/<name>``.

``web/`` builds them (esbuild) into ``api/static/console``: ``index.html`` is served with
``no-cache`` (it names the current bundle), every asset has a content hash in its name and
is served as immutable for a year.
"""

from __future__ import annotations

import re
from importlib import resources
from importlib.abc import Traversable

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from api.errors import NotFoundError

router = APIRouter(tags=["console"])

CONSOLE_DIR = "static/console"
# esbuild's entryNames "[name]-[hash]": app-SD355K3V.js, app-LVNIL7JZ.css
_ASSET = re.compile(r"[a-z]+-[A-Z0-9]{8}\.(js|css)")
_TYPES = {"js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8"}
IMMUTABLE = "public, max-age=31536000, immutable"
NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>Millstream console</title>
<h1>The console is not built</h1>
<p><code>make run</code> builds it (or <code>make console</code> alone), then reload
this page. The API itself works: see <a href="/docs">/docs</a>.</p>
"""


def console_dir() -> Traversable:
    return resources.files("api").joinpath(CONSOLE_DIR)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def console_page() -> Response:
    page = console_dir().joinpath("index.html")
    if not page.is_file():
        return HTMLResponse(NOT_BUILT, status_code=503, headers={"Cache-Control": "no-store"})
    return HTMLResponse(page.read_text(encoding="utf-8"), headers={"Cache-Control": "no-cache"})


@router.get("/console/{name}", include_in_schema=False)
async def console_asset(name: str) -> Response:
    match = _ASSET.fullmatch(name)
    asset = console_dir().joinpath(name)
    if match is None or not asset.is_file():
        raise NotFoundError(
            f"console asset {name!r}: not found (the console may have been rebuilt: reload /)"
        )
    return Response(
        asset.read_bytes(),
        media_type=_TYPES[match.group(1)],
        headers={"Cache-Control": IMMUTABLE},
    )
