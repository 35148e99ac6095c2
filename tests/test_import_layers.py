"""kbroker's modules import each other in layers, never in a circle (DESIGN.md, principle 10).

Every import counts, those under `if TYPE_CHECKING:` and inside functions too: a part that needs
the node declares the few calls it makes as a Protocol (a seam) rather than importing `Broker`,
and the log layer knows nothing above it. docs/architecture.md draws the layers.
"""

from __future__ import annotations

import ast
import functools
import graphlib
from pathlib import Path

import kbroker

PACKAGE = Path(kbroker.__file__).parent
# What puts a node together and runs it: the only modules that know `Broker` itself.
COMPOSITION_ROOTS = {"kbroker.cli", "kbroker.testing.runners", "kbroker.dev", "kbroker.metrics.exporter"}


def module_files() -> dict[str, Path]:
    files = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("kbroker", *path.relative_to(PACKAGE).with_suffix("").parts)
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


@functools.cache
def import_graph() -> dict[str, set[str]]:
    """Module -> the kbroker modules it imports (`from a.b import c` is a.b.c if that is a module)."""
    files = module_files()

    def owner(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(owner(alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets.update(owner(f"{node.module}.{alias.name}") for alias in node.names)
        graph[module] = {t for t in targets if t is not None and t != module}
    return graph


def test_no_import_cycle_among_kbroker_modules() -> None:
    try:
        graphlib.TopologicalSorter(import_graph()).prepare()
    except graphlib.CycleError as exc:
        importing = reversed(exc.args[1])  # graphlib lists each module before those that import it
        raise AssertionError(f"import cycle: {' imports '.join(importing)}") from None


def test_only_the_composition_roots_import_the_broker() -> None:
    importers = {module for module, targets in import_graph().items() if "kbroker.broker" in targets}
    assert importers <= COMPOSITION_ROOTS


def test_the_log_layer_knows_nothing_above_it() -> None:
    def in_log(module: str) -> bool:
        return module == "kbroker.log" or module.startswith("kbroker.log.")

    above = {(module, target) for module, targets in import_graph().items() if in_log(module)
             for target in targets if not in_log(target)}
    assert above == set()
