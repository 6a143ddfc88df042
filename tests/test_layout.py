"""The package's shape: no import cycles (lazy imports included), a small top level, every package shipped."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from fakes import REPO_ROOT

tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ reads pyproject.toml")

PACKAGE = REPO_ROOT / "lvd2m_builder"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every package module ``path`` imports, at the top or inside a function (a lazy import is still an edge)."""
    edges = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        edges.update(name for name in names if name in modules)
    return edges


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as a path of module names, or [] when there is none (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_no_import_cycles_lazy_imports_included():
    modules = _modules()
    graph = {name: _imports(path, modules) - {name} for name, path in modules.items()}
    assert _cycle(graph) == []


def test_the_cycle_finder_finds_cycles():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []


def test_at_most_ten_modules_at_the_top_level():
    assert len(list(PACKAGE.glob("*.py"))) <= 10


def test_every_package_folder_is_shipped_in_the_wheel():
    """pyproject lists packages by hand (the card templates come from the top-level cards/): none is missed."""
    setuptools = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {name for name, path in _modules().items() if path.name == "__init__.py"}
    assert on_disk | {"lvd2m_builder.cards"} == set(setuptools["packages"])
    assert setuptools["package-dir"] == {"lvd2m_builder.cards": "cards"}
    assert (REPO_ROOT / "cards" / "dataset_card.md").is_file()
