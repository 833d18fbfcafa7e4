"""Imports point one way: feeds → tracker → storage, with the CLI on top; inside tracker,
from each stage of the data flow to the stages before it; and no module of the three
packages imports, however late (inside a function too), a module that imports it back.
Read from the source with ast, so a late import counts."""

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
# tracker's stages, in the order data flows through them: a module may import only from
# its own stage and the ones above it here. The base is tracker's top-level modules,
# which every stage shares; the first prefix a module starts with (longest first) wins.
STAGES = (
    ("base", "tracker"),  # __version__, errors, words, normalise, logs, tuning
    ("fetch", "tracker.fetch"),  # getting pages: HTTP, archives
    ("extract", "tracker.extract"),  # pages into observations
    ("compare", "tracker.compare"),  # diffs and how much an edit matters
    ("identity", "tracker.identity"),  # which item an observation is
    ("record", "tracker.record"),  # items, versions and changes written
    ("present", "tracker.present"),  # what a record looks like to readers
    ("notify", "tracker.notify"),  # telling subscribers
    ("run", "tracker.run"),  # configuration, schedules, checks, the daemon
    ("cli", CLI),  # the redline command
)
ENTRY = "tracker.__main__"  # `python -m tracker` is base, and starts the CLI


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


def stage(name: str) -> int:
    """The index in STAGES of a tracker module's stage."""
    return max(
        index
        for index, (_, prefix) in enumerate(STAGES)
        if name == prefix or name.startswith(prefix + ".")
    )


def later_stage_imports(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(module, target) for each import of tracker from a stage into a later one."""
    return [
        (name, target)
        for name, targets in sorted(edges.items())
        if name.startswith("tracker") and name != ENTRY
        for target in sorted(targets)
        if target.startswith("tracker") and stage(target) > stage(name)
    ]


def test_tracker_stages_import_only_earlier_stages() -> None:
    edges, lines = graph()
    wrong = [
        f"{name}:{lines[(name, target)]} ({STAGES[stage(name)][0]}) imports {target} "
        f"({STAGES[stage(target)][0]})"
        for name, target in later_stage_imports(edges)
    ]
    assert wrong == [], "imports from a stage into a later one:\n" + "\n".join(wrong)


def test_every_tracker_module_is_in_a_stage() -> None:
    """Each stage's package exists, and no module lies outside them: a folder added under
    tracker/ is put in its place in STAGES."""
    known = modules()
    assert all(prefix in known for _, prefix in STAGES)
    folders = {
        name
        for name, path in known.items()
        if path.name == "__init__.py" and path.parent.parent.name == "tracker"
    }
    assert sorted(folders - {prefix for _, prefix in STAGES}) == []


def test_the_checks_see_late_imports_and_circles() -> None:
    """The reader finds an import inside a function, and the search finds a circle."""
    edges, _ = graph()
    assert "feeds.app" in edges["tracker.cli.service"]  # `redline serve` imports it when run
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert "tracker.run.config" in edges["tracker.cli.main"]  # `tracker.` prefixes both
    assert "tracker.notify.entries" in edges["tracker.run.config"]  # a late one


def test_the_stage_check_finds_an_import_against_the_flow() -> None:
    edges = {
        "tracker.fetch.client": {"tracker.record.ingest", "tracker.errors"},
        "tracker.errors": {"tracker.cli.main"},
        "tracker.record.ingest": {"tracker.fetch.client"},
        "tracker.__main__": {"tracker.cli.main"},
    }
    assert later_stage_imports(edges) == [
        ("tracker.errors", "tracker.cli.main"),
        ("tracker.fetch.client", "tracker.record.ingest"),
    ]
