"""Check that every Kafka client is built in ``kafka_edge/``.

Run by ``make lint``. Outside ``kafka_edge/`` no Python file (shipped code, tests, the
benchmarks) may construct a client class of kafka-python or aiokafka, subclass one, or hand
one to a call as a factory (``functools.partial(KafkaProducer, ...)``); naming one in a type
annotation is fine. Build clients with ``kafka_edge.sync_clients`` or
``kafka_edge.aio_clients`` instead.

The one exception is a benchmark's bare baseline (``bench/`` only), which measures the
client library as it comes: the line that names the class, or the comment line just above
it, carries ``# bare baseline``. A violation is named with its place, and the check exits
with 1.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

CLIENT_CLASSES = frozenset(
    {
        "KafkaConsumer",
        "KafkaProducer",
        "KafkaAdminClient",
        "KafkaClient",
        "AIOKafkaConsumer",
        "AIOKafkaProducer",
        "AIOKafkaAdminClient",
        "AIOKafkaClient",
    }
)
CLIENT_LIBRARIES = ("kafka", "aiokafka")
EDGE = "kafka_edge/"
BASELINE_MARKER = "# bare baseline"
BASELINES_ALLOWED_UNDER = "bench/"
FIX = (
    "build it with kafka_edge.sync_clients or kafka_edge.aio_clients "
    "(a benchmark's bare baseline: mark the line with `# bare baseline`)"
)


def python_files(root: Path) -> list[str]:
    """Every Python file git tracks (or would track), outside the edge, relative to root."""
    from check_size import tracked_python_files  # a neighbour: .ci/ is this script's folder

    return [name for name in tracked_python_files(root) if not name.startswith(EDGE)]


def _from_client_library(module: str | None) -> bool:
    return module is not None and module.split(".")[0] in CLIENT_LIBRARIES


class _ClientUses(ast.NodeVisitor):
    """The lines where a client class is called, subclassed or passed to a call."""

    def __init__(self) -> None:
        self.classes: dict[str, str] = {}  # local name -> client class
        self.modules: set[str] = set()  # local names of the client libraries' modules
        self.found: list[tuple[int, str]] = []

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if _from_client_library(alias.name):
                self.modules.add(alias.asname or alias.name.split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if _from_client_library(node.module):
            for alias in node.names:
                if alias.name in CLIENT_CLASSES:
                    self.classes[alias.asname or alias.name] = alias.name
                else:
                    self.modules.add(alias.asname or alias.name)

    def client_of(self, node: ast.expr) -> str | None:
        """The client class ``node`` names (``KafkaConsumer``, ``aiokafka.AIOKafkaClient``)."""
        if isinstance(node, ast.Name):
            return self.classes.get(node.id)
        if isinstance(node, ast.Attribute) and node.attr in CLIENT_CLASSES:
            root: ast.expr = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in self.modules:
                return node.attr
        return None

    def _note(self, node: ast.expr, how: str) -> None:
        client = self.client_of(node)
        if client is not None:
            self.found.append((node.lineno, f"{client} {how}"))

    def visit_Call(self, node: ast.Call) -> None:
        self._note(node.func, "built")
        for value in [*node.args, *(k.value for k in node.keywords)]:
            self._note(value, "passed as a factory")
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for base in node.bases:
            self._note(base, "subclassed")
        self.generic_visit(node)


def _marked(lines: list[str], lineno: int) -> bool:
    """Whether line ``lineno`` (from 1), or the comment line just above it, is a baseline."""
    here = lines[lineno - 1] if lineno <= len(lines) else ""
    above = lines[lineno - 2].strip() if lineno >= 2 else ""
    return BASELINE_MARKER in here or (above.startswith("#") and BASELINE_MARKER in above)


def violations(text: str, rel: str) -> list[str]:
    """Each client built outside the edge in one file, as ``path:line: what``."""
    uses = _ClientUses()
    uses.visit(ast.parse(text, filename=rel))
    lines = text.splitlines()
    may_mark = rel.startswith(BASELINES_ALLOWED_UNDER)
    return [
        f"{rel}:{lineno}: {what} outside {EDGE}: {FIX}"
        for lineno, what in sorted(uses.found)
        if not (may_mark and _marked(lines, lineno))
    ]


def main() -> int:
    root = Path(__file__).resolve().parents[1]
    found = [
        problem
        for rel in python_files(root)
        if (root / rel).is_file()
        for problem in violations((root / rel).read_text(encoding="utf-8"), rel)
    ]
    for problem in found:
        print(problem, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
