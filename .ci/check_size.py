"""Check the size rules of the shipped code: no module over 400 lines, no function over 80.

Run by ``make lint``. The benchmark suite (``bench/``) and the tests are not shipped and are
left out. A violation is named with its place and size, and the check exits with 1.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80
NOT_SHIPPED = ("bench/", "tests/", ".ci/")


def tracked_python_files(root: Path) -> list[str]:
    """Every Python file git tracks (or would track), relative to ``root``."""
    return subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()


def shipped_modules(root: Path) -> list[Path]:
    """Every Python file git tracks (or would track) outside the folders that do not ship."""
    return [root / name for name in tracked_python_files(root) if not name.startswith(NOT_SHIPPED)]


def violations(path: Path, rel: str) -> list[str]:
    """What in one module breaks a size rule."""
    text = path.read_text(encoding="utf-8")
    found: list[str] = []
    lines = len(text.splitlines())
    if lines > MAX_MODULE_LINES:
        found.append(f"{rel}: {lines} lines (at most {MAX_MODULE_LINES}): split it by concept")
    for node in ast.walk(ast.parse(text, filename=rel)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(
                    f"{rel}:{node.lineno}: {node.name}() is {length} lines"
                    f" (at most {MAX_FUNCTION_LINES}): split it into named steps"
                )
    return found


def main() -> int:
    root = Path(__file__).resolve().parents[1]
    found = [
        problem
        for path in shipped_modules(root)
        if path.is_file()
        for problem in violations(path, str(path.relative_to(root)))
    ]
    for problem in found:
        print(problem, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
