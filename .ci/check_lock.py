"""Check that the installed packages satisfy pyproject.toml: the lock is not stale.

``make`` installs ``requirements.lock`` and then the project with ``--no-deps``, so a
dependency added to pyproject.toml but not yet locked would be silently missing. This
compares every requirement of the project (and of its ``dev`` extra) with what is
installed and says what to do when they differ.
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, distribution, version

from packaging.requirements import Requirement

PROJECT = "millstream"
EXTRAS = ("dev",)


def unmet() -> list[str]:
    """Every requirement of the project and its extras that the environment does not meet."""
    problems: list[str] = []
    for text in distribution(PROJECT).requires or []:
        req = Requirement(text)
        if req.marker is not None and not any(
            req.marker.evaluate({"extra": extra}) for extra in ("", *EXTRAS)
        ):
            continue
        try:
            installed = version(req.name)
        except PackageNotFoundError:
            problems.append(f"{req} is not in requirements.lock")
            continue
        if not req.specifier.contains(installed, prereleases=True):
            problems.append(f"{req} but requirements.lock has {req.name}=={installed}")
    return problems


def main() -> int:
    problems = unmet()
    if problems:
        print("requirements.lock does not match pyproject.toml:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        print("Run `make lock` and commit requirements.lock.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
