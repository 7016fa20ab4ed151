"""One set of fit options, handed whole from every front end to the loop: nothing is dropped on
the way (``api.fit`` once lost ``checkpoint_every`` by re-declaring the option list)."""

from __future__ import annotations

import dataclasses

import pytest
from tiny_folder import tiny_bundle, write_folder

import regroup_core
from regroup_core import cli
from regroup_core.errors import DataError
from regroup_core.run import fit as run_fit
from regroup_core.run.options import FitOptions


def _noop(done: int, total: int, message: str) -> None:
    pass


NOT_DEFAULT = {"per_class": 3, "selection": "sel", "threshold": 0.5, "k": 2, "on_empty": "exclude",
               "batch_size": 7, "workers": 1, "amp": "off", "checkpoint": "ckpt", "checkpoint_every": 9,
               "seed": 4, "delta": 1e-6, "progress": True, "callback": _noop, "rule": "exploring"}


def test_the_example_sets_every_field_off_its_default():
    defaults = FitOptions()
    assert set(NOT_DEFAULT) == {f.name for f in dataclasses.fields(FitOptions)}
    assert all(getattr(defaults, name) != value for name, value in NOT_DEFAULT.items())


@pytest.fixture
def reaching(monkeypatch):
    """What reaches the loop (fit_statistics) when a front end fits: the loop is stopped there."""
    seen = []

    class Reached(BaseException):  # not an Exception: the CLI turns those into one line
        pass

    def loop(bundle, candidates, options=None, **changes):
        seen.append(FitOptions.of(options, **changes))
        raise Reached

    monkeypatch.setattr(run_fit, "fit_statistics", loop)
    real = run_fit.resolve_data
    monkeypatch.setattr(run_fit, "resolve_data",  # the held-out "sel" is never read here
                        lambda spec, bundle: [] if spec == "sel" else real(spec, bundle))
    return seen, Reached


@pytest.mark.parametrize("name", sorted(NOT_DEFAULT))
def test_every_fit_option_reaches_the_loop_through_the_api(tmp_path, reaching, name):
    seen, reached = reaching
    write_folder(tmp_path, n=8, seed=0)
    with pytest.raises(reached):
        regroup_core.fit(tiny_bundle(), tmp_path, **{name: NOT_DEFAULT[name]})
    assert getattr(seen[-1], name) == NOT_DEFAULT[name]
    with pytest.raises(reached):
        regroup_core.fit_result(tiny_bundle(), tmp_path, FitOptions(**NOT_DEFAULT))
    assert seen[-1] == FitOptions(**NOT_DEFAULT)


def test_the_cli_hands_every_fit_option_to_the_loop(tmp_path, reaching, monkeypatch):
    seen, reached = reaching
    monkeypatch.setattr(cli, "_load_model_in_order", lambda args, ctx: tiny_bundle())
    write_folder(tmp_path / "data", n=8, seed=0)
    argv = ["fit", "--model", "mnist-vgg", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "c.safetensors"),
            "--per-class", "3", "--k", "2", "--threshold", "0.5", "--on-empty", "exclude", "--batch-size", "7",
            "--workers", "1", "--checkpoint", str(tmp_path / "ck"), "--checkpoint-every", "9", "--seed", "4",
            "--rule", "exploring"]
    with pytest.raises(reached):
        cli.main(argv)
    got = seen[-1]
    assert (got.per_class, got.k, got.threshold, got.on_empty, got.batch_size, got.workers, got.checkpoint,
            got.checkpoint_every, got.seed, got.rule) == (3, 2, 0.5, "exclude", 7, 1, str(tmp_path / "ck"), 9, 4,
                                                          "exploring")


def test_an_unknown_fit_option_is_a_clear_error():
    with pytest.raises(DataError, match="expected fit options among .*got \\['checkpoint_evry'\\]"):
        FitOptions.of(checkpoint_evry=5)
    with pytest.raises(DataError, match="checkpoint_every >= 1"):
        FitOptions(checkpoint_every=0)
