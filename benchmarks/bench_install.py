"""Size and time of the default install (``pip install -r requirements.txt``) in a fresh venv (not a test).

    nice -n 10 python -m benchmarks.bench_install [--keep DIR] [--json]

Creates a virtual environment in a temporary folder, runs the README's install into it with pip's
``--report`` (which lists every distribution pip chose and where from), and prints:

  * ``install_s``        wall time of ``pip install -r requirements.txt`` (from this machine's local
                         package mirror: a download over a home connection takes longer)
  * ``venv_mb``          the environment's size on disk afterwards (``du``-style, apparent bytes of files)
  * ``wheels_mb``        the total size of the wheels pip installed (the download), split into ``gpu_stack_mb``
                         (torch, triton and the ``nvidia-*``/``cuda-*`` wheels the default CUDA build of torch
                         pulls in) and ``rest_mb``: the exact versions of the report are fetched again with
                         ``pip download --no-deps`` (from the mirror or pip's cache) and weighed.

The venv is deleted afterwards unless ``--keep`` names a folder to build it in. It takes minutes and
several GB: run it with ``nice`` on a shared machine. The last line of the output is one JSON object.

    python -m benchmarks.bench_install --this-env

only weighs what is installed in the running interpreter's environment (seconds): ``installed_mb`` of every
distribution, ``gpu_stack_installed_mb`` of torch, triton and the ``nvidia-*``/``cuda-*`` ones (from their
RECORD files), i.e. what a CPU-only torch leaves out of the environment, apart from its own smaller library.

    python -m benchmarks.bench_install --unpacked /opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl

weighs one wheel file: its download size and the size of its files once installed (read from the archive).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GPU_STACK = re.compile(r"^(torch|triton|nvidia[-_].*|cuda[-_].*)$")
"""What the CUDA build of torch brings (PyTorch's CPU index replaces all of it by one smaller torch wheel)."""

MB = 1_000_000


def tree_bytes(folder: Path) -> int:
    """Apparent size of every regular file below ``folder`` (symlinks not followed)."""
    total = 0
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(dirpath, name)
            if not path.is_symlink():
                total += path.stat().st_size
    return total


def pinned(report: dict) -> list[str]:
    """``name==version`` of every distribution in a ``pip install --report`` document."""
    return [f"{i['metadata']['name']}=={i['metadata']['version']}" for i in report.get("install", [])]


def normalise(name: str) -> str:
    """A distribution's name as pip compares them (PEP 503: lower case, runs of ``-_.`` → ``-``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_sizes(folder: Path) -> dict[str, int]:
    """``{name: bytes}`` of the downloaded files (wheels, or an sdist where no wheel exists) in a folder."""
    return {normalise(f.name.split("-", 1)[0]): f.stat().st_size for f in folder.iterdir() if f.is_file()}


def summarise(sizes: dict[str, int]) -> dict[str, float]:
    gpu = sum(b for n, b in sizes.items() if GPU_STACK.match(n))
    total = sum(sizes.values())
    return {"wheels_mb": round(total / MB), "gpu_stack_mb": round(gpu / MB), "rest_mb": round((total - gpu) / MB)}


def measure(venv: Path) -> dict:
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    report_file = venv / "pip-report.json"
    t0 = time.perf_counter()
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--report", str(report_file),
                    "-r", "requirements.txt"], check=True, cwd=ROOT)
    install_s = time.perf_counter() - t0
    report = json.loads(report_file.read_text())
    downloads = venv.parent / "downloaded-wheels"  # the same wheels again (mirror or pip's cache), to weigh them
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "download", "-q", "--no-deps",
                    "--find-links", "wheels", "-d", str(downloads), *pinned(report)], check=True, cwd=ROOT)
    sizes = wheel_sizes(downloads)
    unmeasured = sorted({normalise(n.split("==")[0]) for n in pinned(report)} - set(sizes))
    largest = sorted(sizes.items(), key=lambda kv: -kv[1])[:8]
    venv_mb = round(tree_bytes(venv) / MB)
    return {"install_s": round(install_s, 1), "venv_mb": venv_mb,
            **summarise(sizes), "distributions": len(report.get("install", [])), "unmeasured": unmeasured,
            "largest_mb": {n: round(b / MB) for n, b in largest}}


def installed_sizes() -> dict[str, int]:
    """``{name: bytes}`` of every distribution installed for this interpreter (the files its RECORD lists)."""
    from importlib import metadata

    sizes: dict[str, int] = {}
    for dist in metadata.distributions():
        total = 0
        for f in dist.files or ():
            path = Path(dist.locate_file(f))
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
        name = normalise(dist.metadata["Name"])
        sizes[name] = sizes.get(name, 0) + total
    return sizes


def this_env() -> dict:
    sizes = installed_sizes()
    gpu = {n: b for n, b in sizes.items() if GPU_STACK.match(n)}
    return {"python": sys.executable, "installed_mb": round(sum(sizes.values()) / MB),
            "gpu_stack_installed_mb": round(sum(gpu.values()) / MB),
            "gpu_stack_mb_by_distribution": {n: round(b / MB) for n, b in sorted(gpu.items(), key=lambda kv: -kv[1])}}


def unpacked(wheel: Path) -> dict:
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        files = sum(i.file_size for i in archive.infolist() if not i.is_dir())
    return {"wheel": wheel.name, "download_mb": round(wheel.stat().st_size / MB), "installed_mb": round(files / MB)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, default=None, help="build the venv here and keep it")
    parser.add_argument("--json", action="store_true", help="print the details as JSON too (indented)")
    parser.add_argument("--this-env", action="store_true", help="only weigh this interpreter's installed packages")
    parser.add_argument("--unpacked", type=Path, default=None, help="only weigh this wheel file")
    args = parser.parse_args()
    if args.unpacked is not None:
        print(json.dumps(unpacked(args.unpacked)))
        return 0
    if args.this_env:
        print(json.dumps(this_env()))
        return 0
    folder = args.keep or Path(tempfile.mkdtemp(prefix="regroup-install-"))
    try:
        result = measure(folder / "venv")
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
