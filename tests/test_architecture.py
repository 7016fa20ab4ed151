"""The package's architecture, checked: imports flow one way (engine ← sources/store ← run ←
attacks/experiments ← api/cli ← the app, and inside the app state ← services ← ui ← pages), no
cycles, no private names cross modules, no same-name module pairs, no ``sys.path`` edits outside the
app's entry points, model facts come from model metadata, and the install declares what
requirements.txt pins."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "regroup_core"
APP = ROOT / "regroup_app"
SHIM = ROOT / "app"  # `python -m app` from a checkout: only starts regroup_app.launch

# The app's rooms, top to bottom: a room may import the rooms below it (and itself), never above.
APP_ROOMS = ("app_pages", "ui", "services", "state")
APP_TOP = {"streamlit_app": {"ui", "services", "state"}, "launch": set(), "__main__": {"launch"},
           "asgi": {"backend_base", "launch"}, "backend_base": set()}
ENTRY_POINTS = {APP / "streamlit_app.py", APP / "asgi.py", SHIM / "__main__.py"}  # the only ones editing sys.path

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


def _modules(package: Path = PACKAGE) -> dict[str, Path]:
    out = {}
    for path in package.rglob("*.py"):
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
    assert "import streamlit" not in source and not re.search(r"from (regroup_)?app\b|import (regroup_)?app\b",
                                                                 source), f"{name} reaches into the app"


def _room(module: str) -> str | None:
    """``regroup_app.ui.widgets`` → ``ui``; ``regroup_app.launch`` → ``launch``; None outside the app."""
    parts = module.split(".")
    return parts[1] if parts[0] == "regroup_app" and len(parts) > 1 else None


def _app_modules() -> dict[str, Path]:
    return _modules(APP)


@pytest.mark.parametrize("name", sorted(_app_modules()))
def test_app_imports_flow_down_through_its_rooms(name):
    path = _app_modules()[name]
    own = _room(name)
    if own is None:  # the package's own __init__
        return
    allowed = set(APP_ROOMS[APP_ROOMS.index(own):]) if own in APP_ROOMS else APP_TOP[own]
    for module, _ in _imports(name, path):
        target = _room(module)
        assert not module.startswith("app.") and module != "app", f"{name} imports the checkout shim {module}"
        if target is None or target == own:
            continue
        assert target in allowed, f"{name} imports {module}: {own} may import only {sorted(allowed - {own})}"
    if own in ("state", "services"):
        assert "regroup_app.ui" not in path.read_text(), f"{name} reaches up into the UI"


def test_the_checkout_shim_only_starts_the_app():
    for path in SHIM.rglob("*.py"):
        for module, names in _imports(path.stem, path):
            assert (module, names) == ("regroup_app.launch", ["main"]), f"{path.relative_to(ROOT)} imports {module}"
    assert sorted(p.name for p in SHIM.iterdir() if p.suffix == ".py") == ["__init__.py", "__main__.py"]


def _graph() -> dict[str, set[str]]:
    """Module → the package modules it imports (anywhere in it), for both packages."""
    modules = {**_modules(), **_app_modules()}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = set()
        for module, names in _imports(name, path):
            candidates = [f"{module}.{n}" for n in names] + [module]
            for c in candidates:
                while c and c not in modules:
                    c = c.rpartition(".")[0]
                if c and c != name and not name.startswith(c + "."):  # a package's own __init__ is not a cycle
                    edges.add(c)
        graph[name] = edges
    return graph


def test_no_import_cycles():
    graph, state, cycles = _graph(), {}, []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    packages = {n for n, p in {**_modules(), **_app_modules()}.items() if p.name == "__init__.py"}
    real = [c for c in cycles if not set(c) & packages]  # re-exports through a package __init__ are not cycles
    assert not real, real


def test_no_same_name_modules_across_the_app_and_the_library():
    """A helper never shares its name with a page or a library module (app/tour.py beside
    app_pages/tour.py, app/experiments.py beside regroup_core/experiments/ were confusing)."""
    library = {p.stem for p in PACKAGE.rglob("*.py")} | {p.name for p in PACKAGE.rglob("*") if p.is_dir()}
    pages = {p.stem for p in (APP / "app_pages").glob("*.py")}
    helpers = [p for p in APP.rglob("*.py") if p.parent.name != "app_pages" and p.stem not in ("__init__", "__main__")]
    clashes = [f"{p.relative_to(ROOT)}" for p in helpers if p.stem in library | pages]
    assert not clashes, clashes


def test_no_sys_path_edits_outside_the_entry_points():
    """pytest has pythonpath = ["."]; scripts and benchmarks run as modules from the checkout
    (``python -m benchmarks.bench_inference``). Only the app's entry script may fix the path
    (``streamlit run`` puts regroup_app/ first, not the checkout)."""
    offenders = []
    for folder in ("regroup_core", "regroup_app", "app", "scripts", "benchmarks", "examples", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            if path not in ENTRY_POINTS and re.search(r"sys\.path\.(insert|append)|sys\.path\s*\+?=",
                                                      path.read_text()):
                offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, offenders


def test_no_private_names_cross_modules():
    crossing = []
    for root in (PACKAGE, APP, SHIM):
        for path in root.rglob("*.py"):
            for module, names in _imports(path.stem, path):
                crossing += [f"{path.relative_to(ROOT)}: {module}.{n}" for n in names
                             if n.startswith("_") and not n.startswith("__")]
    assert not crossing, crossing


def test_model_facts_come_from_model_metadata():
    """No guessing a model's data, samples or budgets from its name outside its metadata."""
    offenders = []
    pattern = re.compile(r"""startswith\(\s*["']mnist""")
    for root in (PACKAGE, APP, ROOT / "scripts", ROOT / "benchmarks"):
        for path in root.rglob("*.py"):
            if path == PACKAGE / "sources" / "models.py":
                continue
            offenders += [f"{path.relative_to(ROOT)}:{i}" for i, line in enumerate(path.read_text().splitlines(), 1)
                          if pattern.search(line)]
    assert not offenders, offenders


def test_attack_dispatch_reads_spec_fields_not_names():
    for path in [PACKAGE / "attacks" / "runner.py", *(PACKAGE / "attacks" / "adapters").glob("*.py")]:
        assert not re.search(r"preset\.name\s*(==|in\b|!=)|\.removesuffix\(", path.read_text()), path


def test_install_declares_the_pinned_requirements_and_ships_library_and_app():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = set(project["project"]["dependencies"]) | set(project["project"]["optional-dependencies"]["test"])
    pinned = {line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
              if not line.startswith("--")}  # pip options (--find-links wheels) are not requirements
    assert declared == pinned - {""}
    assert project["tool"]["setuptools"]["packages"]["find"]["include"] == ["regroup_core*", "regroup_app*"]


# Functions allowed past the size rule (≤ 60 lines, ≤ 8 parameters), each with why. Keep it short.
SIZE_ALLOWED = {
    "regroup_core/cli.py:_parser": "the argparse declaration of every command and option, one line each",
    "regroup_core/attacks/adaptive_plan.py:run_plan": "public keyword API of the adaptive plan (budget, plan, start, "
                                                      "targets, generator)",
    "regroup_core/attacks/exact_search.py:exact_search": "one search's inputs (start, aim, budget, queries, generator)",
    "regroup_core/attacks/pmf_match.py:pmf_match": "public keyword API of the feature-space attack (budget, targets, "
                                                   "variant)",
    "regroup_core/attacks/selftest.py:run_selftest": "public keyword API of the self-test (attacks, budgets, seed, "
                                                     "steps, keys, progress)",
    "regroup_core/attacks/spsa.py:spsa": "public keyword API mirroring CleverHans' SPSA parameters",
    "regroup_core/attacks/cached.py:cached_attack": "its keywords feed the cache key verbatim (stored keys stay valid)",
    "regroup_core/experiments/running.py:epsilon_sweep": "public keyword API of an experiment (grid, threats, cache)",
    "regroup_core/experiments/running.py:headline": "public keyword API of an experiment (grid, attacks, cache)",
    "regroup_core/experiments/suite.py:run_suite": "public keyword API of the suite (attacks, threats, cache, chunks)",
    "regroup_core/run/checkpoint.py:run_key": "hashes every setting a checkpoint depends on, by name",
    "regroup_core/run/evaluate.py:evaluate_clean": "public keyword API of the sharded evaluation (data loop knobs)",
    "regroup_core/run/evaluate.py:layer_accuracy": "public keyword API: the data loop's knobs, as FitOptions has them",
    "regroup_core/run/fit.py:__init__": "the step schedule's state, set once from the loop",
    "regroup_app/ui/plots.py:line_chart": "one chart's labels, lines, bands and markers, all keywords",
}


def _functions(root: Path):
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                params = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs)
                params -= 1 if a.args and a.args[0].arg in ("self", "cls") else 0
                yield f"{path.relative_to(ROOT)}:{node.name}", node.end_lineno - node.lineno + 1, params


def test_functions_are_small_or_say_why():
    """No function over 60 lines or with more than 8 parameters, unless SIZE_ALLOWED says why."""
    over = [f"{name} ({lines} lines, {params} parameters)" for root in (PACKAGE, APP)
            for name, lines, params in _functions(root) if (lines > 60 or params > 8) and name not in SIZE_ALLOWED]
    assert not over, over
    stale = set(SIZE_ALLOWED) - {name for root in (PACKAGE, APP) for name, lines, params in _functions(root)
                                 if lines > 60 or params > 8}
    assert not stale, f"allowed but no longer over the limits (remove them): {sorted(stale)}"


def test_no_line_is_longer_than_120_characters():
    """The project's own limit (pyproject's ruff line-length), everywhere there is Python."""
    long = [f"{path.relative_to(ROOT)}:{i}" for folder in ("regroup_core", "regroup_app", "app", "scripts",
                                                            "benchmarks", "examples", "tests")
            for path in (ROOT / folder).rglob("*.py")
            for i, line in enumerate(path.read_text().splitlines(), 1) if len(line) > 120]
    assert not long, long
