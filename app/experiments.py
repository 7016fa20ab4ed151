"""The Ablations and Benchmark pages' view of :mod:`regroup_core.experiments`.

Each function runs (or reuses from the library's on-disk adversarial cache) one experiment suite
and returns plain JSON-able rows; :func:`cached_result` also stores those rows as JSON so a page
shows them again, in any session, without pressing Run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from torch.utils.data import TensorDataset

from app import attacking
from regroup_core import ModelBundle, REGroup
from regroup_core import experiments as lib
from regroup_core.datasets import default_test_spec
from regroup_core.persistence import atomic_write

__all__ = [
    "BACKEND",
    "LINF_MAX_DEFAULT",
    "attack_table",
    "cached_result",
    "epsilon_sweep",
    "k_ablation",
    "test_images",
    "variant_table",
]

BACKEND = "regroup_core.experiments"
Callback = Callable[[int, int, str], None]
LINF_MAX_DEFAULT = 16.0
"""Presets whose default ε (0–255) is at most this are L∞ budgets the page's ε slider replaces."""


def _noop(done: int, total: int, message: str) -> None:
    pass


def _json_default(obj):
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def cached_result(cache_dir: Path, kind: str, params: dict, compute: Callable[[], object] | None):
    """JSON result of experiment ``kind`` with ``params`` from disk, computing it when ``compute``
    is given and nothing is stored yet (None when absent and not computed). Shared by sessions."""
    key = hashlib.sha256(json.dumps({"kind": kind, **params}, sort_keys=True, default=str).encode()).hexdigest()[:20]
    path = cache_dir / "experiments" / f"{kind}-{key}.json"
    if path.is_file():
        try:
            return json.loads(path.read_text())["result"]
        except (OSError, ValueError, KeyError):
            pass  # damaged or from an older version: recompute
    if compute is None:
        return None
    result = compute()
    payload = json.dumps({"kind": kind, "params": params, "backend": BACKEND, "result": result},
                         default=_json_default, allow_nan=True)
    atomic_write(path, lambda tmp: Path(tmp).write_text(payload))
    return json.loads(payload)["result"]


def _records(df: pd.DataFrame) -> list[dict]:
    return json.loads(df.to_json(orient="records"))


def test_images(bundle: ModelBundle, defended: REGroup, n: int) -> lib.TestImages:
    """``n`` test images softmax classifies correctly: the embedded test split, or foolbox's
    ImageNet samples for torchvision models (no ImageNet data ships)."""
    spec = default_test_spec(bundle)
    if spec is not None:
        return lib.select_correct(bundle, spec, n)
    import torch

    from app.gallery import gallery

    items = gallery("foolbox samples", bundle.name)
    data = TensorDataset(torch.stack([bundle.preprocess(it.image) for it in items]),
                         torch.tensor([it.label for it in items]))
    return lib.select_correct(bundle, data, n)


def _options(attacks: Sequence[str], epsilon_255: float | None) -> dict[str, dict]:
    """The page's ε for L∞ presets with a small default budget; other presets keep their own."""
    out = {}
    for a in attacks:
        default = attacking.default_epsilon_255(a)
        if epsilon_255 is not None and default is not None and default <= LINF_MAX_DEFAULT:
            out[a] = {"epsilon_255": float(epsilon_255)}
    return out


def _suite(bundle, defended, *, attacks, threats, n, epsilon_255, cache_dir, callback) -> lib.Suite:
    test = test_images(bundle, defended, n)
    return lib.run_suite(bundle, defended, test, attacks=list(attacks), threats=list(threats),
                         cache=lib.AdversarialCache(cache_dir / "adversarial"),
                         attack_options=_options(attacks, epsilon_255), callback=callback)


def variant_table(bundle: ModelBundle, defended: REGroup, *, attacks: Sequence[str], n: int, cache_dir: Path,
                  epsilon_255: float | None = None, callback: Callback = _noop) -> list[dict]:
    """Fig. 3: REGroup top-1 (%) with pos, neg and pos+neg voters — clean, and per attack on the
    images the attack fooled softmax on (#S)."""
    suite = _suite(bundle, defended, attacks=attacks, threats=["transfer"], n=n, epsilon_255=epsilon_255,
                   cache_dir=cache_dir, callback=callback)
    df = lib.variant_ablation(suite)
    wide = df.pivot_table(index=["attack", "n"], columns="variant", values="regroup_top1", sort=False).reset_index()
    return _records(wide)


def k_ablation(bundle: ModelBundle, defended: REGroup, *, attack: str, n: int, cache_dir: Path,
               epsilon_255: float | None = None, callback: Callback = _noop) -> dict[str, list[float]]:
    """Figs. 4/6: REGroup top-1 (%) for k = 1..L and each k-th highest layer's own accuracy,
    clean and under ``attack`` (on #S)."""
    suite = _suite(bundle, defended, attacks=[attack], threats=["transfer"], n=n, epsilon_255=epsilon_255,
                   cache_dir=cache_dir, callback=callback)
    ks, per_layer = lib.k_ablation(suite), lib.layer_accuracy(suite)
    out: dict[str, list[float]] = {}
    for name in ("clean", attack):
        rows = ks[ks["attack"] == name].sort_values("k")
        label = "clean" if name == "clean" else f"{attack} (#S = {int(rows['n'].iloc[0])})"
        out[f"REGroup, {label}"] = [float(v) for v in rows["regroup_top1"]]
        layers = per_layer[per_layer["attack"] == name].sort_values("depth", ascending=False)
        out[f"k-th highest layer alone, {label}"] = [float(v) for v in layers["accuracy"]]
    return out


def epsilon_sweep(bundle: ModelBundle, defended: REGroup, *, epsilons_255: Sequence[float], n: int, cache_dir: Path,
                  callback: Callback = _noop) -> dict[str, list[float]]:
    """Fig. 2: softmax and REGroup top-1 (%) under PGD L∞ (transfer) for each ε (0–255 scale)."""
    test = test_images(bundle, defended, n)
    df = lib.epsilon_sweep(bundle, defended, test, epsilons_255=list(epsilons_255),
                           cache=lib.AdversarialCache(cache_dir / "adversarial"), callback=callback)
    return {"softmax": [float(v) for v in df["softmax_top1"]], "REGroup": [float(v) for v in df["regroup_top1"]]}


def attack_table(bundle: ModelBundle, defended: REGroup, *, attacks: Sequence[str], threats: Sequence[str], n: int,
                 cache_dir: Path, epsilon_255: float | None = None, callback: Callback = _noop) -> list[dict]:
    """Tables 2–5: one row per (attack, threat) plus worst-case rows; every column of
    :func:`regroup_core.experiments.attack_table` (settings as JSON)."""
    suite = _suite(bundle, defended, attacks=attacks, threats=threats, n=n, epsilon_255=epsilon_255,
                   cache_dir=cache_dir, callback=callback)
    summary = lib.clean_summary(suite)
    clean = {"attack": "none (clean)", "threat": "-", "n": summary["n"], "softmax_top1": summary["softmax_top1"],
             "regroup_top1": summary["regroup_top1"], "regroup_top5": summary["regroup_top5"],
             "softmax_robust": summary["softmax_top1"], "regroup_robust": summary["regroup_top1"], "k": summary["k"]}
    return [clean] + _records(lib.attack_table(suite))
