"""The distribution `regroup-explorer`: a wheel with both commands and its assets inside, that works from any
folder; nothing in the installed packages reads a path relative to a checkout."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import tomllib
import urllib.request
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("regroup_core", "regroup_app")

CHECKOUT_PATH = re.compile(r"(?<![\"'])\b__file__\b(?![\"'])|\.parents\[\d|\.parent\.parent\b"
                           r"""|["'](\./)?(assets|app|wheels|docs|scripts|benchmarks|tests)/"""
                           r"""|(Path|open)\(\s*["'](\./)?streamlit_config\.toml""")
"""A path computed from a module's own location (``Path(__file__).parents[2] / "assets"``) or one relative to the
repository's root (``"assets/models"``): in a checkout it points into the repository, in an installed package into
site-packages or the user's folder, where no such file exists."""

ALLOWED: dict[str, str] = {
    "regroup_app/streamlit_app.py": "puts the folder holding the regroup_app package on sys.path (`streamlit run` "
                                    "puts regroup_app/ itself there); it reads no file from it, and in an installed "
                                    "package that folder is site-packages",
    "regroup_app/asgi.py": "the same as streamlit_app.py: `streamlit run regroup_app/asgi.py` puts regroup_app/ "
                           "on sys.path, not the folder holding the package",
}


def _sources() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def test_no_checkout_relative_paths_in_the_packages():
    offenders = []
    for path in _sources():
        name = path.relative_to(ROOT).as_posix()
        if name in ALLOWED:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if CHECKOUT_PATH.search(code):
                offenders.append(f"{name}:{number}: {line.strip()}")
    assert not offenders, "paths relative to a module's location (use importlib.resources):\n" + "\n".join(offenders)


def test_the_grep_finds_what_it_must():  # the check above cannot pass by matching nothing
    assert CHECKOUT_PATH.search('ASSETS = Path(__file__).resolve().parents[2] / "assets"')
    assert CHECKOUT_PATH.search("ROOT = HERE.parent.parent")
    assert CHECKOUT_PATH.search('load_defended(bundle, "assets/classifiers/mnist-vgg.safetensors")')
    assert CHECKOUT_PATH.search('CONFIG = Path("streamlit_config.toml")')
    assert not CHECKOUT_PATH.search("for above in path.parents:")  # a user's path, not the module's
    assert not CHECKOUT_PATH.search('getattr(loaded, "__file__", None) != found.origin')  # another module's
    assert not CHECKOUT_PATH.search('CONFIG = Path(str(_PACKAGE.joinpath("streamlit_config.toml")))')
    assert not CHECKOUT_PATH.search('folder = resources.files("regroup_core").joinpath("assets")')
    assert _sources() and all(p.suffix == ".py" for p in _sources())


def test_packaged_streamlit_config_is_the_documented_one():
    from regroup_app.launch import CONFIG

    assert Path(str(CONFIG)).read_bytes() == (ROOT / "streamlit_config.toml").read_bytes(), (
        "regroup_app/streamlit_config.toml is the installed copy of streamlit_config.toml: copy it over")


def test_wheel_declares_the_assets_and_the_commands():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"] == {"regroup": "regroup_core.cli:main",
                                             "regroup-explorer": "regroup_app.launch:main"}
    setuptools = project["tool"]["setuptools"]
    assert set(setuptools["packages"]["find"]["include"]) == {"regroup_core*", "regroup_app*"}
    assert "assets/**/*" in setuptools["package-data"]["regroup_core"]
    assert "streamlit_config.toml" in setuptools["package-data"]["regroup_app"]


def test_assets_are_found_inside_the_package_and_regroup_assets_overrides(tmp_path):
    from regroup_core.sources.assets import ASSETS_DIR, asset_path, shipped_classifier

    assert ASSETS_DIR == ROOT / "regroup_core" / "assets"
    assert asset_path("models", "mnist-vgg.safetensors").is_file()
    assert shipped_classifier("mnist-vgg") == ASSETS_DIR / "classifiers" / "mnist-vgg.safetensors"
    assert shipped_classifier("resnet50") is None and shipped_classifier("../models/mnist-vgg") is None
    (tmp_path / "classifiers").mkdir()
    (tmp_path / "classifiers" / "mine.safetensors").write_bytes(b"x")
    code = ("from regroup_core.sources.assets import ASSETS_DIR, shipped_classifier; "
            "print(ASSETS_DIR); print(shipped_classifier('mine')); print(shipped_classifier('mnist-vgg'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, "REGROUP_ASSETS": str(tmp_path)}).stdout.split("\n")
    assert out[:3] == [str(tmp_path), str(tmp_path / "classifiers" / "mine.safetensors"), "None"]


# --- the wheel, built and installed as a user would, run from another folder -------------------------------


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    shown = " ".join(map(str, cmd))
    assert result.returncode == 0, f"{shown} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    return result


def _build_wheel(tmp: Path, env: dict[str, str]) -> Path:
    """``pip wheel`` on a copy of the sources (a build writes build/ and *.egg-info next to them)."""
    src = tmp / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, src / pkg, ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", src / "pyproject.toml")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-w", str(tmp / "dist"), str(src)], tmp, env)
    (wheel,) = (tmp / "dist").glob("regroup_explorer-*.whl")
    return wheel


def _installed_venv(tmp: Path, wheel: Path, env: dict[str, str]) -> Path:
    """A fresh venv that reuses the installed dependencies (``--system-site-packages``) with the wheel alone."""
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], tmp, env)
    if sys.prefix != sys.base_prefix:  # the tests run in a venv: --system-site-packages reaches the base, not it
        outer = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
        (site_packages,) = (venv / "lib").glob("python3*/site-packages")
        (site_packages / "outer-environment.pth").write_text("\n".join(sorted(outer)) + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-deps",
          "--no-index", "-q", str(wheel)], tmp, env)
    return venv / "bin"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_health(proc: subprocess.Popen, port: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            time.sleep(0.3)
    return False


def _digit_png(path: Path) -> int:
    from PIL import Image

    from regroup_core.sources.mnist import mnist_split

    x, y = mnist_split("test")[0]
    Image.fromarray((x[0].numpy() * 255).astype("uint8")).save(path)
    return int(y)


@pytest.mark.slow
def test_wheel_installs_and_both_commands_work_from_any_folder(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "REGROUP_ASSETS")}
    env.update(PIP_NO_INPUT="1", REGROUP_CACHE=str(tmp_path / "cache"))
    wheel = _build_wheel(tmp_path, env)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    shipped = {f"regroup_core/assets/{p.relative_to(ROOT / 'regroup_core' / 'assets').as_posix()}"
               for p in (ROOT / "regroup_core" / "assets").rglob("*") if p.is_file()}
    assert shipped <= names and {"regroup_app/streamlit_config.toml", "regroup_app/app_pages/tour.py"} <= names
    assert not [n for n in names if n.split("/")[0] in ("app", "tests", "wheels", "scripts", "benchmarks")]
    bin_dir = _installed_venv(tmp_path, wheel, env)
    work = tmp_path / "elsewhere"  # not the checkout: the checkout's packages must not be importable here
    work.mkdir()
    where = _run([str(bin_dir / "python"), "-c", "import regroup_core, regroup_app; "
                  "print(regroup_core.__file__); print(regroup_app.__file__)"], work, env).stdout.split()
    assert all(Path(p).is_relative_to(tmp_path / "venv") for p in where), where

    layers = json.loads(_run([str(bin_dir / "regroup"), "layers", "--model", "mnist-vgg", "--json"], work, env).stdout)
    assert len(layers) == 8 and layers[-1] == {"name": "classifier.6", "kind": "fc", "dim": 10}

    label = _digit_png(work / "digit.png")
    out = _run([str(bin_dir / "regroup"), "predict", "--model", "mnist-vgg", "--json", "digit.png"], work, env).stdout
    (row,) = json.loads(out)
    assert row["regroup_top5"][0][0] == str(label) and row["k"] == 3  # the shipped classifier, found in the wheel

    port = _free_port()
    proc = subprocess.Popen([str(bin_dir / "regroup-explorer"), "--server.port", str(port)], cwd=work, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        healthy = _wait_for_health(proc, port, timeout_s=60)
    finally:
        proc.terminate()
        try:
            log = proc.communicate(timeout=20)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            log = proc.communicate()[0]
    assert healthy, f"regroup-explorer did not answer /_stcore/health (exit {proc.returncode}):\n{log[-3000:]}"
