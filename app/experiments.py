"""The one place the Ablations and Benchmark pages get experiment results from.

Backend: small experiments composed from library calls (``app.attacking.run`` +
``REGroup.predict(scope="all")`` + ``Prediction.borda_at``), so every number re-aggregates one
set of per-layer rankings. Swap the bodies for ``regroup_core.experiments`` when it is merged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from app import attacking
from regroup_core import ModelBundle, REGroup
from regroup_core.errors import DataError
from regroup_core.persistence import atomic_write

__all__ = ["test_images", "variant_table", "k_ablation", "epsilon_sweep", "attack_table", "BACKEND",
           "cached_result"]

BACKEND = "app.experiments (library calls)"
Callback = Callable[[int, int, str], None]


def _noop(done: int, total: int, message: str) -> None:
    pass


def cached_result(cache_dir: Path, kind: str, params: dict, compute: Callable[[], object] | None):
    """JSON result of experiment ``kind`` with ``params`` from disk, computing it when ``compute``
    is given and nothing is stored yet (None when absent and not computed). Shared by sessions."""
    key = hashlib.sha256(json.dumps({"kind": kind, **params}, sort_keys=True, default=str).encode()).hexdigest()[:20]
    path = cache_dir / "experiments" / f"{kind}-{key}.json"
    if path.is_file():
        try:
            return json.loads(path.read_text())["result"]
        except (OSError, ValueError, KeyError):
            pass  # damaged or half-written by an old version: recompute
    if compute is None:
        return None
    result = compute()
    payload = json.dumps({"kind": kind, "params": params, "backend": BACKEND, "result": result},
                         default=_json_default, allow_nan=True)
    atomic_write(path, lambda tmp: Path(tmp).write_text(payload))
    return json.loads(payload)["result"]


def _json_default(obj):
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def test_images(bundle: ModelBundle, defended: REGroup, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Up to ``n`` real test images the softmax model classifies correctly (the paper's protocol),
    balanced over classes: the embedded test split, or foolbox's ImageNet samples."""
    if n < 1:
        raise DataError(f"expected n >= 1, got {n}")
    if bundle.name.startswith("mnist-"):
        from regroup_core.data.mnist import mnist_split

        x, y = mnist_split("test").tensors
        order = torch.argsort(torch.arange(len(y)) % 100 * 10 + y, stable=True)  # interleave classes
        x, y = x[order], y[order]
    else:
        from app.gallery import gallery

        items = gallery("foolbox samples", bundle.name)
        x = torch.stack([bundle.preprocess(it.image) for it in items])
        y = torch.tensor([it.label for it in items])
    keep = []
    for lo in range(0, len(y), 256):
        pred = defended.predict(x[lo:lo + 256], k=defended.classifiers.k)
        keep += (lo + torch.nonzero(pred.softmax_labels == y[lo:lo + 256]).flatten()).tolist()
        if len(keep) >= n:
            break
    if not keep:
        raise DataError("expected test images the model classifies correctly, got none")
    idx = torch.tensor(keep[:n])
    return x[idx], y[idx]


def _eps(attack: str, epsilon_255: float | None) -> float | None:
    """The given ε for attacks that take one (L∞ presets), else the preset's own setting."""
    default = attacking.default_epsilon_255(attack)
    return None if default is None or epsilon_255 is None or default > 64 else float(epsilon_255)


def _predict(defended: REGroup, x: torch.Tensor):
    return defended.predict(x, k=defended.classifiers.k, scope="all")


def _acc(labels: torch.Tensor, predicted: torch.Tensor) -> float:
    return 100.0 * float((predicted == labels).float().mean())


def variant_table(bundle: ModelBundle, defended: REGroup, *, attacks: Sequence[str], n: int,
                  epsilon_255: float | None = None, callback: Callback = _noop) -> list[dict]:
    """Accuracy (%) of softmax and of REGroup with pos, neg and pos+neg voters, clean and per attack."""
    x, y = test_images(bundle, defended, n)
    rows = []
    sets = [("clean", x)]
    for i, attack in enumerate(attacks):
        callback(i, len(attacks), f"{attack} on {len(y)} images")
        sets.append((attack, attacking.run(bundle, x, y, attack, threat="transfer",
                                           epsilon_255=_eps(attack, epsilon_255)).adversarial))
    for name, images in sets:
        pred = _predict(defended, images)
        row = {"images": name, "softmax": _acc(y, pred.softmax_labels)}
        for variant in ("pos", "neg", "pos+neg"):
            row[variant] = _acc(y, pred.borda_at(pred.k, variant).argmax(1))
        rows.append(row)
    callback(len(attacks), len(attacks), "done")
    return rows


def k_ablation(bundle: ModelBundle, defended: REGroup, *, attack: str, n: int, epsilon_255: float | None = None,
               callback: Callback = _noop) -> dict[str, list[float]]:
    """REGroup accuracy (%) for every k, clean and adversarial, and each layer's own accuracy."""
    x, y = test_images(bundle, defended, n)
    callback(0, 1, f"{attack} on {len(y)} images")
    adv = attacking.run(bundle, x, y, attack, threat="transfer", epsilon_255=_eps(attack, epsilon_255)).adversarial
    out: dict[str, list[float]] = {}
    for name, images in (("clean", x), (attack, adv)):
        pred = _predict(defended, images)
        layers = len(pred.layers)
        out[f"REGroup, {name}"] = [_acc(y, pred.borda_at(k).argmax(1)) for k in range(1, layers + 1)]
        per_layer = pred.layer_labels()  # (B, L) in network order; report top layer first like k
        out[f"layer alone, {name}"] = [_acc(y, per_layer[:, layers - k]) for k in range(1, layers + 1)]
        out[f"softmax, {name}"] = [_acc(y, pred.softmax_labels)] * layers
    callback(1, 1, "done")
    return out


def epsilon_sweep(bundle: ModelBundle, defended: REGroup, *, epsilons_255: Sequence[float], n: int,
                  callback: Callback = _noop) -> dict[str, list[float]]:
    """Softmax and REGroup accuracy (%) under PGD L∞ (transfer) for each ε (0–255 scale)."""
    x, y = test_images(bundle, defended, n)
    soft, reg = [], []
    for i, eps in enumerate(epsilons_255):
        callback(i, len(epsilons_255), f"PGD ε={eps:g}/255")
        pred = _predict(defended, attacking.run(bundle, x, y, "pgd", threat="transfer",
                                                epsilon_255=float(eps)).adversarial)
        soft.append(_acc(y, pred.softmax_labels))
        reg.append(_acc(y, pred.regroup_labels))
    callback(len(epsilons_255), len(epsilons_255), "done")
    return {"softmax": soft, "REGroup": reg}


def attack_table(bundle: ModelBundle, defended: REGroup, *, attacks: Sequence[str], threats: Sequence[str], n: int,
                 epsilon_255: float | None = None, callback: Callback = _noop) -> list[dict]:
    """Rows like the paper's Table 2: per attack and threat model, the number of test images,
    the attack's success rate and the softmax and REGroup top-1 accuracy (%)."""
    x, y = test_images(bundle, defended, n)
    jobs = [(a, t) for a in attacks for t in threats if attacking.applicable(a, t)]
    if not jobs:
        raise DataError("expected at least one attack that fits the chosen threat models, got none")
    clean = _predict(defended, x)
    rows = [{"attack": "none (clean)", "threat": "-", "#S": len(y), "success %": np.nan,
             "softmax %": _acc(y, clean.softmax_labels), "REGroup %": _acc(y, clean.regroup_labels)}]
    for i, (attack, threat) in enumerate(jobs):
        callback(i, len(jobs), f"{attack} / {threat}")
        result = attacking.run(bundle, x, y, attack, threat=threat, defended=defended,
                               epsilon_255=_eps(attack, epsilon_255))
        pred = _predict(defended, result.adversarial)
        rows.append({"attack": attack, "threat": threat, "#S": len(y),
                     "success %": 100.0 * float(result.success.float().mean()),
                     "softmax %": _acc(y, pred.softmax_labels), "REGroup %": _acc(y, pred.regroup_labels)})
    callback(len(jobs), len(jobs), "done")
    return rows
