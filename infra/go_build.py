"""What the Go-built servers and tools share: a wrapper module under ``infra/`` pins the
upstream module, and the build runs in a ``.partial`` copy of it that becomes the cache
folder only when the build succeeded."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from infra import tools

MODULE_FILES = ("go.mod", "go.sum", "tools.go")


def pinned_version(build_module: Path, package: str, *, pattern: str = r"[\w.\-]+") -> str:
    """The version ``build_module``'s go.mod requires of ``package``, without its ``v``."""
    go_mod = (build_module / "go.mod").read_text()
    match = re.search(re.escape(package) + rf" (v{pattern})", go_mod)
    if match is None:
        raise RuntimeError(f"{build_module / 'go.mod'}: no {package} line")
    return match.group(1).lstrip("v")


def fresh_work_dir(home: Path, build_module: Path) -> Path:
    """An empty ``<home>.partial`` folder holding a copy of the wrapper module in ``module/``."""
    work = home.with_name(home.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    (work / "module").mkdir(parents=True)
    for name in MODULE_FILES:
        shutil.copy(build_module / name, work / "module" / name)
    return work


def cached_build(
    target: Path, build_module: Path, build: Callable[[Path], None], *, needs: tuple[str, ...]
) -> Path:
    """Return ``target``, a file in its version's cache folder, building the folder first if
    it is missing: ``build(work)`` runs in a fresh ``.partial`` copy of ``build_module``
    (after checking the ``needs`` tools are on PATH) and puts its output in ``work``, which
    then becomes the cache folder, with the build's duration in ``BUILD_SECONDS``."""
    if target.exists():
        return target
    tools.require(*needs)
    home = target.parent
    work = fresh_work_dir(home, build_module)
    started = time.monotonic()
    build(work)
    (work / "BUILD_SECONDS").write_text(f"{time.monotonic() - started:.0f}\n")
    shutil.rmtree(work / "module")
    shutil.rmtree(home, ignore_errors=True)
    work.rename(home)
    return target
