"""Layers point one way: no import cycle between the parts of `offchain/zkai`, nor its modules.

Every module is read with `ast`: imports at any depth (a lazy import inside a function counts
like any other) and relative imports resolved against the importing module. A part is a
subpackage (`zkai.node`) or a top-level module (`zkai.inference`); `zkai/__init__.py` is the part
`zkai`. Nothing is imported, so the test also holds for modules that need services to load.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "offchain" / "zkai"

Graph = dict[str, set[str]]


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path.relative_to(PACKAGE_DIR.parent)}:{self.line} imports {self.imported}"


def _module_files(package_dir: Path) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, whether it is a package's __init__)."""
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        modules[".".join(parts)] = (path, is_package)
    return modules


def _known_module(name: str, modules: dict[str, tuple[Path, bool]]) -> str | None:
    """`name`, or the closest enclosing module of ours (`zkai.a.b.Symbol` -> `zkai.a.b`)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imports(package_dir: Path) -> list[Import]:
    modules = _module_files(package_dir)
    found: dict[tuple[str, str, int], Import] = {}
    for module, (path, is_package) in modules.items():
        here = module.split(".") if is_package else module.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    anchor = here[: len(here) - (node.level - 1)]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                # `from zkai.node import operator` imports the module zkai.node.operator.
                names = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                    for a in node.names
                ]
            for name in names:
                imported = _known_module(name, modules)
                if imported is not None and imported != module:
                    found.setdefault(
                        (module, imported, node.lineno), Import(module, imported, path, node.lineno)
                    )
    return list(found.values())


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _graph(edges: list[tuple[str, str]]) -> Graph:
    graph: Graph = defaultdict(set)
    for source, target in edges:
        if source != target:
            graph[source].add(target)
    return graph


def _components(graph: Graph) -> list[set[str]]:
    """The strongly connected components of more than one node (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(set(graph) | {t for targets in graph.values() for t in targets}):
        if node not in index:
            visit(node)
    return sorted(components, key=min)


def _cycle_in(graph: Graph, component: set[str]) -> list[str]:
    """A shortest closed path [a, b, ..., a] inside `component`, from its first node."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for successor in sorted(graph[node] & component):
                if successor == start:
                    return [*paths[node], start]
                if successor not in paths:
                    paths[successor] = [*paths[node], successor]
                    following.append(successor)
        frontier = following
    raise AssertionError(f"{sorted(component)} is not strongly connected")


def _cycles(graph: Graph) -> list[list[str]]:
    """One cycle through each set of nodes that import each other, directly or not."""
    return [_cycle_in(graph, component) for component in _components(graph)]


def _describe(graph: Graph, where: dict[tuple[str, str], list[Import]]) -> str:
    lines = []
    for component in _components(graph):
        cycle = _cycle_in(graph, component)
        lines.append("cycle: " + " -> ".join(cycle))
        if len(component) > len(cycle) - 1:
            lines.append(
                "    (all of these reach each other: " + ", ".join(sorted(component)) + ")"
            )
        for source, target in pairwise(cycle):
            lines.extend(f"    {source} -> {target}: {i}" for i in where[source, target][:3])
    return "\n".join(lines)


def test_parts_of_zkai_import_each_other_without_cycles() -> None:
    where: dict[tuple[str, str], list[Import]] = defaultdict(list)
    for i in _imports(PACKAGE_DIR):
        edge = (_part(i.importer), _part(i.imported))
        if edge[0] != edge[1]:
            where[edge].append(i)
    graph = _graph(list(where))
    cycles = _cycles(graph)
    assert not cycles, f"import cycles between parts of zkai:\n{_describe(graph, where)}"


def test_modules_of_zkai_import_each_other_without_cycles() -> None:
    where: dict[tuple[str, str], list[Import]] = defaultdict(list)
    for i in _imports(PACKAGE_DIR):
        where[i.importer, i.imported].append(i)
    graph = _graph(list(where))
    cycles = _cycles(graph)
    assert not cycles, f"import cycles between modules of zkai:\n{_describe(graph, where)}"


def test_imports_resolves_relative_lazy_and_from_package_imports(tmp_path: Path) -> None:
    package = tmp_path / "zkai"
    (package / "a").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a" / "__init__.py").write_text("from .x import thing\n")
    (package / "a" / "x.py").write_text("def f():\n    from ..b import y\n")
    (package / "b.py").write_text("from zkai.a import x\nimport zkai.a.x\nimport json\n")
    found = {(i.importer, i.imported) for i in _imports(package)}
    assert found == {("zkai.a", "zkai.a.x"), ("zkai.a.x", "zkai.b"), ("zkai.b", "zkai.a.x")}


def test_cycles_reports_each_cycle_as_a_closed_path() -> None:
    graph = _graph([("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("e", "f"), ("f", "e")])
    assert _cycles(graph) == [["a", "b", "c", "a"], ["e", "f", "e"]]
    assert _cycles(_graph([("a", "b"), ("b", "c"), ("a", "c")])) == []


MAX_MODULE_LINES = 600


def test_modules_of_zkai_have_at_most_600_lines() -> None:
    long = {
        str(path.relative_to(PACKAGE_DIR.parent)): n
        for path in PACKAGE_DIR.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines (split them by job): {long}"
