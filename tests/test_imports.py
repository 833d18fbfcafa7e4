"""Imports point one way: feeds → tracker → storage, with the CLI on top, and no module
of the three packages imports, however late (inside a function too), a module that
imports it back. Read from the source with ast, so a late import counts."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("storage", "tracker", "feeds")
CLI = "tracker.cli"  # the CLI's modules are the top: they start the service (feeds)
# Each package may import only itself and those after it here.
LAYERS = {
    "feeds": ("feeds", "tracker", "storage"),
    "tracker": ("tracker", "storage"),
    "storage": ("storage",),
}


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:  # Alembic loads these by path
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """(module of the three packages, line) for each import in the file, wherever it is;
    `from package import submodule` names the submodule."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        for target in names:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target, node.lineno


def graph() -> tuple[dict[str, set[str]], dict[tuple[str, str], int]]:
    known = modules()
    edges: dict[str, set[str]] = {name: set() for name in known}
    lines: dict[tuple[str, str], int] = {}
    for name, path in known.items():
        for target, line in imported(name, path, known):
            edges[name].add(target)
            lines.setdefault((name, target), line)
    return edges, lines


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for after in sorted(edges[node]):
            if after not in index:
                visit(after)
                low[node] = min(low[node], low[after])
            elif after in stack:
                low[node] = min(low[node], index[after])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_one_that_imports_it_back() -> None:
    edges, lines = graph()
    told = []
    for group in circles(edges):
        steps = [
            f"{a}:{lines[(a, b)]} → {b}" for a in group for b in sorted(edges[a]) if b in group
        ]
        told.append("; ".join(steps))
    assert told == [], "import circles:\n" + "\n".join(told)


def test_imports_point_from_feeds_to_tracker_to_storage() -> None:
    edges, lines = graph()
    wrong = []
    for name, targets in edges.items():
        package = name.split(".")[0]
        for target in sorted(targets):
            allowed = LAYERS[package] + (("feeds",) if name.startswith(CLI) else ())
            if target.split(".")[0] not in allowed:
                wrong.append(f"{name}:{lines[(name, target)]} imports {target}")
    assert wrong == []


def test_the_checks_see_late_imports_and_circles() -> None:
    """The reader finds an import inside a function, and the search finds a circle."""
    edges, _ = graph()
    assert "feeds.app" in edges["tracker.cli.service"]  # `redline serve` imports it when run
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
