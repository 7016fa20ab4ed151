"""The package's architecture, checked: imports flow one way (engine ← sources/store ← run ←
attacks/experiments ← api/cli ← app), no private names cross modules, model facts come from
model metadata, and the install declares what requirements.txt pins."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "regroup_core"

# What each part of the package may import (besides itself, errors and checks).
ALLOWED = {
    "engine": set(),
    "sources": {"engine"},
    "store": {"engine"},
    "run": {"engine", "sources", "store"},
    "attacks": {"engine", "sources", "store", "run"},
    "analysis": {"engine"},
    "experiments": {"engine", "sources", "store", "run", "attacks"},
    "api": {"engine", "sources", "store", "run"},
    "cli": {"engine", "sources", "store", "run", "attacks", "experiments", "api"},
}
BASE = {"errors", "checks", "rng"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(name: str, path: Path) -> list[tuple[str, list[str]]]:
    """(imported module, imported names) of every import in a module, absolute."""
    tree = ast.parse(path.read_text())
    out = []
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            out.append((module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
    return out


def _part(module: str) -> str | None:
    """``regroup_core.run.fit`` → ``run``; None outside the package."""
    parts = module.split(".")
    return parts[1] if parts[0] == "regroup_core" and len(parts) > 1 else None


@pytest.mark.parametrize("name", sorted(_modules()))
def test_imports_flow_one_way(name):
    path = _modules()[name]
    own = _part(name)
    if own is None or own in BASE or own == "__main__":
        return
    for module, names in _imports(name, path):
        target = _part(module)
        if module == "regroup_core" and own not in ("api", "cli"):
            pytest.fail(f"{name} imports the package root (regroup_core)")
        if target is None or target == own or target in BASE:
            continue
        assert target in ALLOWED[own], f"{name} imports {module}: {own} may import only {sorted(ALLOWED[own])}"
        assert module.split(".")[0] != "app"
    source = path.read_text()
    assert "import streamlit" not in source and "from app" not in source, f"{name} reaches into the app"


def test_no_private_names_cross_modules():
    crossing = []
    for root in (PACKAGE, ROOT / "app"):
        for path in root.rglob("*.py"):
            for module, names in _imports(path.stem, path):
                crossing += [f"{path.relative_to(ROOT)}: {module}.{n}" for n in names
                             if n.startswith("_") and not n.startswith("__")]
    assert not crossing, crossing


def test_model_facts_come_from_model_metadata():
    """No guessing a model's data, samples or budgets from its name outside its metadata."""
    offenders = []
    pattern = re.compile(r"""startswith\(\s*["']mnist""")
    for root in (PACKAGE, ROOT / "app", ROOT / "scripts", ROOT / "benchmarks"):
        for path in root.rglob("*.py"):
            if path == PACKAGE / "sources" / "models.py":
                continue
            offenders += [f"{path.relative_to(ROOT)}:{i}" for i, line in enumerate(path.read_text().splitlines(), 1)
                          if pattern.search(line)]
    assert not offenders, offenders


def test_attack_dispatch_reads_spec_fields_not_names():
    source = (PACKAGE / "attacks" / "runner.py").read_text()
    assert not re.search(r"preset\.name\s*(==|in\b|!=)|\.removesuffix\(", source)


def test_install_declares_the_pinned_requirements_and_ships_library_and_app():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = set(project["project"]["dependencies"]) | set(project["project"]["optional-dependencies"]["test"])
    pinned = {line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
              if not line.startswith("--")}  # pip options (--find-links wheels) are not requirements
    assert declared == pinned - {""}
    assert project["tool"]["setuptools"]["packages"]["find"]["include"] == ["regroup_core*", "regroup_app*"]
