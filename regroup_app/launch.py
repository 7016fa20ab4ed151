"""``regroup-explorer [streamlit flags...]`` (installed) or ``python -m app`` (a checkout): start REGroup Explorer
with the settings of ``streamlit_config.toml``.

Streamlit only reads ``.streamlit/config.toml``; our settings are turned into ``--section.key=value``
flags here. They are read from the package's own copy, ``regroup_app/streamlit_config.toml`` (identical to
the checkout's top-level file: a test compares them), so an installed app has them too. Flags given by the
user are passed through and win over the file (``regroup-explorer --server.port 8600``).
"""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path

_PACKAGE = resources.files("regroup_app")  # a folder: a checkout's regroup_app/ or an installed one
CONFIG = Path(str(_PACKAGE.joinpath("streamlit_config.toml")))
PAGES_ENTRY = Path(str(_PACKAGE.joinpath("streamlit_app.py")))  # the pages (AppTest and `streamlit run` take it too)
ENTRY = Path(str(_PACKAGE.joinpath("asgi.py")))  # what the launcher serves: the pages + one middleware


def _flatten(table: Mapping[str, object], prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in table.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping):
            out.update(_flatten(value, name))
        else:
            out[name] = value
    return out


def _format(value: object) -> str:
    if isinstance(value, bool):  # TOML true → Streamlit's "true"
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_format(v) for v in value)
    return str(value)


APP_SECTION = "regroup"
"""The config file's own section (not Streamlit's): ``data_roots``, ``model_specs``; the app reads
it at every use (:mod:`regroup_app.services.operator_settings`), so edits need no restart."""


def _read(config: Path) -> dict[str, object]:
    if not config.is_file():
        return {}
    with config.open("rb") as fh:
        return tomllib.load(fh)


def config_flags(config: Path = CONFIG) -> dict[str, str]:
    """``{"server.port": "8501", ...}`` from a TOML file (empty when it does not exist); the
    ``[regroup]`` section is the app's own, not a Streamlit flag."""
    table = {k: v for k, v in _read(config).items() if k != APP_SECTION}
    return {k: _format(v) for k, v in _flatten(table).items()}


def app_environment(config: Path = CONFIG, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``REGROUP_APP_CONFIG``: the config file the app reads its ``[regroup]`` section from, at
    every use (an existing variable wins). Its values are not copied into variables here: a
    variable would freeze them until the next restart."""
    environ = os.environ if environ is None else environ
    return {} if "REGROUP_APP_CONFIG" in environ else {"REGROUP_APP_CONFIG": str(Path(config).resolve())}


def _user_keys(argv: Sequence[str]) -> set[str]:
    """Option names the user set, in either ``--a.b=v`` or ``--a.b v`` form."""
    return {arg[2:].split("=", 1)[0] for arg in argv if arg.startswith("--")}


def build_command(argv: Sequence[str], config: Path = CONFIG) -> list[str]:
    """The ``streamlit run`` command line: config flags first, then the user's (user wins)."""
    user = _user_keys(argv)
    flags = [f"--{k}={v}" for k, v in config_flags(config).items() if k not in user]
    return [sys.executable, "-m", "streamlit", "run", str(ENTRY), *flags, *argv]


def launch_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment Streamlit runs in: the user's, plus ``OMP_WAIT_POLICY=PASSIVE`` unless set.

    Why: torch's OpenMP threads spin while they wait. On a busy machine (other users' jobs, several
    browser sessions) two spinning threads on two cores made a ResNet-50 fit 8× slower than one
    thread (0.58 against 4.4 images/s, measured here); passive waiting removes that cliff, so a fit
    can use every core (:func:`regroup_app.services.threads.all_cores`) without risk. It must be set
    before torch starts, hence here.
    """
    env = dict(environ)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def main(argv: Sequence[str] | None = None) -> int:
    """Run Streamlit on the app in this process until it stops; ``-h`` prints this module's help."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    command = build_command(args)
    os.environ.update(launch_env({**os.environ, **app_environment()}))  # before torch is imported, in this process
    # Streamlit's own CLI in this process (no chdir: paths the user types resolve from where they started it).
    # Not a second interpreter (os.execve of `python -m streamlit`): starting one cost 0.3 s of the 3 s the
    # first paint may take on a busy machine (`python -c pass`, load average 13 on 2 cores).
    from streamlit.web import cli

    sys.argv = ["streamlit", *command[3:]]  # `streamlit run ENTRY --flags...`
    return int(cli.main(prog_name="streamlit") or 0)  # click exits itself when the server stops
