"""Every third-party module the package imports is a dependency it declares (core or an extra)."""

from __future__ import annotations

import ast
import importlib.metadata
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import lvd2m_builder

tomllib = pytest.importorskip("tomllib")
ROOT = Path(lvd2m_builder.__file__).resolve().parents[1]
#: Imported, and brought by a declared dependency on purpose: the OpenCV build (opencv-python, -headless, -contrib)
#: is the user's choice, and scenedetect requires one.
BROUGHT_BY = {"cv2": "scenedetect"}


def _imported() -> set[str]:
    modules = set()
    for path in (ROOT / "lvd2m_builder").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return {m for m in modules if m not in sys.stdlib_module_names and m != "lvd2m_builder"}


def test_every_imported_package_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    declared = {canonicalize_name(Requirement(r).name) for r in requirements}
    owners = importlib.metadata.packages_distributions()
    undeclared = {}
    for module in sorted(_imported() - set(BROUGHT_BY)):
        dists = {canonicalize_name(d) for d in owners.get(module, [module])}
        if not dists & declared:
            undeclared[module] = sorted(dists)
    assert undeclared == {}
    assert {canonicalize_name(d) for d in BROUGHT_BY.values()} <= declared
