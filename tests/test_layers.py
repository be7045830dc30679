"""The packages import only downward, and no two modules import each other (issue 19).

    core → flow, model → artifact, tracks → data → engine, infer → eval → runs, demo
         → commands → cli

Every ``import`` in every module counts, the lazy ones inside functions included (they keep
``theta --help`` fast, but a reader still has to follow them). A package may import its own
modules and those of the packages on lower layers; packages on one layer (flow and model,
artifact and tracks, engine and infer, runs and demo) do not import each other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "theta_cli"
PKG = "theta_cli"

#: Top-level package (or module) of theta_cli -> its layer, lowest first.
LAYERS: dict[str, int] = {
    "__init__": 0, "__version__": 0, "core": 0, "builtin": 0, "recipes": 0,
    "flow": 1, "model": 1,
    "artifact": 2, "tracks": 2, "smooth": 2,
    "data": 3,
    "engine": 4, "infer": 4,
    "eval": 5,
    "runs": 6, "demo": 6,
    "commands": 7,
    "cli": 8,
    "__main__": 9,
}  # fmt: skip


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _exists(module: str) -> bool:
    base = ROOT.parent / module.replace(".", "/")
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, theta module) for every import in ``path``; ``from pkg import mod`` names the
    module ``pkg.mod`` when that is a module, else ``pkg``."""
    me = module_name(path)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PKG:
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                pkg = me.split(".")[: len(me.split(".")) - node.level + (path.stem == "__init__")]
                base = ".".join([*pkg, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            if base.split(".")[0] != PKG:
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield node.lineno, sub if _exists(sub) else base


def top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def all_modules() -> list[Path]:
    return sorted(ROOT.rglob("*.py"))


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {imported module: line}."""
    return {module_name(p): {m: line for line, m in imports(p)} for p in all_modules()}


def upward_imports(graph: dict[str, dict[str, int]]) -> list[str]:
    bad = []
    for mod, targets in sorted(graph.items()):
        for target, line in sorted(targets.items()):
            a, b = top(mod), top(target)
            if a == b:
                continue
            if a not in LAYERS or b not in LAYERS:
                bad.append(f"{mod}:{line} imports {target}: add its package to LAYERS")
            elif LAYERS[b] >= LAYERS[a]:
                how = "up" if LAYERS[b] > LAYERS[a] else "sideways"
                bad.append(f"{mod}:{line} imports {target} ({a} -> {b}: {how} a layer)")
    return bad


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Each strongly connected group of two or more modules (Tarjan), as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, {}):
            if w == v or w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_package_has_a_layer() -> None:
    tops = {top(module_name(p)) for p in all_modules()}
    assert tops <= set(LAYERS), f"no layer for {sorted(tops - set(LAYERS))}"


def test_imports_go_only_down_the_layers() -> None:
    bad = upward_imports(import_graph())
    assert not bad, "imports against the layers:\n  " + "\n  ".join(bad)


def test_no_module_import_cycles() -> None:
    found = cycles(import_graph())
    assert not found, "module import cycles:\n  " + "\n  ".join(" <-> ".join(c) for c in found)


# The checks themselves must be able to fail: fed an upward import and a cycle, they name them.


def test_the_layer_check_names_an_upward_import() -> None:
    graph = {"theta_cli.core.atomic": {"theta_cli.engine.recipe": 12},
             "theta_cli.engine.recipe": {}}  # fmt: skip
    assert upward_imports(graph) == [
        "theta_cli.core.atomic:12 imports theta_cli.engine.recipe (core -> engine: up a layer)"
    ]
    graph = {"theta_cli.infer.engine": {"theta_cli.engine.plan": 3}}
    assert "sideways" in upward_imports(graph)[0]


def test_the_cycle_check_finds_a_lazy_cycle() -> None:
    graph = {"theta_cli.eval.bench": {"theta_cli.eval.bench_charts": 5},
             "theta_cli.eval.bench_charts": {"theta_cli.eval.bench": 40},
             "theta_cli.eval.other": {}}  # fmt: skip
    assert cycles(graph) == [["theta_cli.eval.bench", "theta_cli.eval.bench_charts"]]


@pytest.mark.parametrize("source", ["import theta_cli.engine.recipe",
                                    "def f():\n    from theta_cli.engine import recipe"])
def test_imports_sees_lazy_and_plain_imports(source: str) -> None:
    probe = ROOT / "core" / "_layers_probe.py"  # never written: only its name is used
    assert [m for _, m in imports_from_text(source, probe)] == ["theta_cli.engine.recipe"]


def imports_from_text(source: str, as_path: Path) -> list[tuple[int, str]]:
    """``imports`` on ``source`` as if it were the module at ``as_path`` (for the tests above)."""
    import unittest.mock

    with unittest.mock.patch.object(Path, "read_text", return_value=source):
        return list(imports(as_path))
