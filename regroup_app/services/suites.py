"""The Ablations and Benchmark pages' view of :mod:`regroup_core.experiments`.

Each function runs (or reuses from the shared adversarial cache, which the CLI fills too) one
experiment suite and returns plain JSON-able rows; :func:`stored_result` also keeps those rows
in the results store so a page shows them again, in any session, without pressing Run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pandas as pd
import torch
from torch.utils.data import TensorDataset

from regroup_core import ModelBundle, REGroup
from regroup_core import experiments as lib
from regroup_core.attacks import get_preset
from regroup_core.run.progress import Progress

from . import cache
from .gallery import SOURCES, gallery

__all__ = [
    "BACKEND",
    "attack_table",
    "epsilon_sweep",
    "epsilon_sweep_points",
    "headline",
    "k_ablation",
    "stored_result",
    "test_images",
    "variant_table",
]

BACKEND = "regroup_core.experiments"


def _noop(done: int, total: int, message: str) -> None:
    pass


def stored_result(kind: str, params: dict, compute: Callable[[], object] | None) -> Any:
    """The stored JSON result of experiment ``kind`` with ``params``, computing (and storing) it
    when ``compute`` is given and nothing is stored yet (None when absent and not computed)."""
    store = cache.results()
    params = {**params, "backend": BACKEND}
    stored = store.get(kind, params)
    if stored is not None or compute is None:
        return stored
    return store.put(kind, params, compute())


def _records(df: pd.DataFrame) -> list[dict]:
    return json.loads(df.to_json(orient="records"))


def test_images(bundle: ModelBundle, defended: REGroup, n: int) -> lib.TestImages:
    """``n`` test images softmax classifies correctly: the embedded test split, or foolbox's
    ImageNet samples for torchvision models (no ImageNet data ships)."""
    spec = bundle.spec.test_data if bundle.spec.ships_data else None  # cifar10:test is not on every machine
    if spec is not None:
        return lib.select_correct(bundle, spec, n)
    items = gallery(SOURCES[1], bundle.name)
    data = TensorDataset(torch.stack([bundle.preprocess(it.image) for it in items]),
                         torch.tensor([it.label for it in items]))
    return lib.select_correct(bundle, data, n)


def _options(attacks: Sequence[str], epsilon_255: float | None) -> dict[str, dict]:
    """The page's ε for the fixed-budget L∞ attacks (the CLI's ``--epsilon`` rule); minimisation
    attacks stay unbounded and L2 attacks keep their own budget."""
    return {a: {"epsilon_255": float(epsilon_255)} for a in attacks
            if epsilon_255 is not None and get_preset(a).takes_linf_epsilon}


def _suite(bundle: ModelBundle, defended: REGroup, *, attacks: Sequence[str], threats: Sequence[str], n: int,
           epsilon_255: float | None, callback: Progress) -> lib.Suite:
    test = test_images(bundle, defended, n)
    suite = lib.run_suite(bundle, defended, test, attacks=list(attacks), threats=list(threats),
                          cache=cache.adversarial_cache(), attack_options=_options(attacks, epsilon_255),
                          callback=callback)
    assert suite is not None  # the app is one process
    return suite


def variant_table(bundle: ModelBundle, defended: REGroup, *, attacks: Sequence[str], n: int,
                  epsilon_255: float | None = None, callback: Progress = _noop) -> list[dict]:
    """Fig. 3: REGroup top-1 (%) with pos, neg and pos+neg voters — clean, and per attack on the
    images the attack fooled softmax on (#S)."""
    suite = _suite(bundle, defended, attacks=attacks, threats=["transfer"], n=n, epsilon_255=epsilon_255,
                   callback=callback)
    df = lib.variant_ablation(suite)
    wide = df.pivot_table(index=["attack", "n"], columns="variant", values="regroup_top1", sort=False).reset_index()
    return _records(wide)


def k_ablation(bundle: ModelBundle, defended: REGroup, *, attack: str, n: int,
               epsilon_255: float | None = None, callback: Progress = _noop) -> dict[str, list[float]]:
    """Figs. 4/6: REGroup top-1 (%) for k = 1..L and each k-th highest layer's own accuracy,
    clean and under ``attack`` (on #S)."""
    suite = _suite(bundle, defended, attacks=[attack], threats=["transfer"], n=n, epsilon_255=epsilon_255,
                   callback=callback)
    ks, per_layer = lib.k_ablation(suite), lib.layer_accuracy(suite)
    out: dict[str, list[float]] = {}
    for name in ("clean", attack):
        rows = ks[ks["attack"] == name].sort_values("k")
        label = "clean" if name == "clean" else f"{attack} (#S = {int(rows['n'].iloc[0])})"
        out[f"REGroup, {label}"] = [float(v) for v in rows["regroup_top1"]]
        layers = per_layer[per_layer["attack"] == name].sort_values("depth", ascending=False)
        out[f"k-th highest layer alone, {label}"] = [float(v) for v in layers["accuracy"]]
    return out


def epsilon_sweep_points(bundle: ModelBundle, defended: REGroup, *, epsilons_255: Sequence[float],
                         n: int) -> Iterator[tuple[float, float, float]]:
    """Fig. 2 one ε at a time: (ε, softmax top-1 %, REGroup top-1 %) as soon as that ε's PGD (transfer) is
    done, so a page can draw each point at once. Each ε is an independent attack with the same images and
    seed, so the points are those of one :func:`regroup_core.experiments.epsilon_sweep` over the grid."""
    test = test_images(bundle, defended, n)
    for eps in epsilons_255:
        df = lib.epsilon_sweep(bundle, defended, test, epsilons_255=[float(eps)], cache=cache.adversarial_cache())
        yield float(eps), float(df["softmax_top1"].iloc[0]), float(df["regroup_top1"].iloc[0])


def epsilon_sweep(bundle: ModelBundle, defended: REGroup, *, epsilons_255: Sequence[float], n: int,
                  callback: Progress = _noop) -> dict[str, list[float]]:
    """Fig. 2: softmax and REGroup top-1 (%) under PGD L∞ (transfer) for each ε (0–255 scale)."""
    out: dict[str, list[float]] = {"softmax": [], "REGroup": []}
    for i, (eps, softmax, regroup) in enumerate(epsilon_sweep_points(bundle, defended, epsilons_255=epsilons_255,
                                                                     n=n)):
        out["softmax"].append(softmax)
        out["REGroup"].append(regroup)
        callback(i + 1, len(epsilons_255), f"pgd/transfer ε={eps:g}/255")
    return out


def attack_table(bundle: ModelBundle, defended: REGroup, *, attacks: Sequence[str], threats: Sequence[str], n: int,
                 epsilon_255: float | None = None, callback: Progress = _noop) -> list[dict]:
    """Tables 2–5: one row per (attack, threat) plus worst-case rows; every column of
    :func:`regroup_core.experiments.attack_table` (settings as JSON): Wilson intervals
    (``*_ci``), ``regroup_ties`` (ties count as errors), ``softmax_success`` and ``sanity``,
    ``robust_at`` curves for minimisation attacks (whose ``regroup_robust`` is None: unbounded),
    ``zero_gradient_share`` on adaptive rows."""
    suite = _suite(bundle, defended, attacks=attacks, threats=threats, n=n, epsilon_255=epsilon_255,
                   callback=callback)
    summary = lib.clean_summary(suite)
    clean = {"attack": "none (clean)", "threat": "-", "n": summary["n"], "bounded": True,
             "softmax_top1": summary["softmax_top1"], "regroup_top1": summary["regroup_top1"],
             "regroup_top5": summary["regroup_top5"], "softmax_robust": summary["softmax_top1"],
             "softmax_robust_ci": summary["softmax_top1_ci"],
             "regroup_robust": summary["regroup_top1"], "regroup_robust_ci": summary["regroup_top1_ci"],
             "regroup_ties": summary["regroup_ties"], "k": summary["k"]}
    return [clean] + _records(lib.attack_table(suite))


def headline(bundle: ModelBundle, defended: REGroup, *, n: int, epsilons_255: Sequence[float] | None = None,
             callback: Progress = _noop) -> list[dict]:
    """The honest headline (:func:`regroup_core.experiments.headline`): per ε, softmax accuracy after
    the strongest attack on it vs REGroup accuracy after the strongest attack on REGroup (adaptive
    and transfer), same images, with Wilson 95 % intervals (``*_ci`` columns, percent)."""
    test = test_images(bundle, defended, n)
    df = lib.headline(bundle, defended, test, epsilons_255=list(epsilons_255 or lib.HEADLINE_EPSILONS_255),
                      cache=cache.adversarial_cache(), callback=callback)
    return _records(df)
