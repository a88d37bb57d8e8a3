"""Discovering the scenario modules and running each one, a failure never stopping the run."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import pkgutil
import re
import time
import traceback
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any

import bench.scenarios
from bench.core import Figure, ScenarioContext

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class ScenarioResult:
    name: str
    title: str
    status: str  # "ok" | "failed"
    duration_s: float
    figures: list[Figure] = field(default_factory=list)
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "status": self.status,
            "duration_s": round(self.duration_s, 1),
            "error": self.error,
            "figures": [{**asdict(f), "ratio": f.ratio} for f in self.figures],
        }


@dataclass(frozen=True, slots=True)
class Discovered:
    module_name: str
    module: ModuleType | None
    error: str = ""

    @property
    def name(self) -> str:
        if self.module is not None:
            return str(self.module.NAME)
        return self.module_name


def discover() -> list[Discovered]:
    """Every module of :mod:`bench.scenarios` that defines ``NAME`` and ``run``.

    Helper modules without them (a peer's script, say) are skipped; a module that fails
    to import is kept, so the run reports it as failed rather than forgetting it.
    """
    found: list[Discovered] = []
    for info in sorted(pkgutil.iter_modules(bench.scenarios.__path__), key=lambda i: i.name):
        full = f"{bench.scenarios.__name__}.{info.name}"
        if not _looks_like_scenario(full):
            continue
        try:
            module = importlib.import_module(full)
        except Exception as exc:  # reported as a failed scenario
            found.append(Discovered(info.name, None, f"import failed: {exc!r}"))
            continue
        if hasattr(module, "NAME") and callable(getattr(module, "run", None)):
            found.append(Discovered(info.name, module))
    return found


def _looks_like_scenario(full: str) -> bool:
    """Whether the module's source defines ``NAME`` and ``run``; read, not imported, so a
    helper script needing another environment (a peer's) is skipped without importing it."""
    spec = importlib.util.find_spec(full)
    if spec is None or spec.origin is None:
        return False
    try:
        with open(spec.origin, encoding="utf-8") as fh:
            source = fh.read()
    except OSError:
        return False
    return re.search(r"^NAME\b", source, re.M) is not None and "def run(" in source


def select(found: list[Discovered], only: list[str] | None) -> list[Discovered]:
    if not only:
        return found
    known = {d.name for d in found} | {d.module_name for d in found}
    unknown = [n for n in only if n not in known]
    if unknown:
        raise SystemExit(
            f"--only: no scenario named {', '.join(unknown)}; known: "
            f"{', '.join(sorted(d.name for d in found))}"
        )
    return [d for d in found if d.name in only or d.module_name in only]


def run_one(item: Discovered, ctx: ScenarioContext) -> ScenarioResult:
    t0 = time.monotonic()
    if item.module is None:
        return ScenarioResult(item.name, item.module_name, "failed", 0.0, error=item.error)
    title = str(getattr(item.module, "TITLE", item.name))
    try:
        figures = list(item.module.run(ctx))
    except Exception as exc:  # one scenario failing never stops the run
        logger.exception("scenario %s failed", item.name)
        tb = traceback.format_exception_only(type(exc), exc)
        return ScenarioResult(
            item.name, title, "failed", time.monotonic() - t0, error="".join(tb).strip()
        )
    return ScenarioResult(item.name, title, "ok", time.monotonic() - t0, figures=figures)
