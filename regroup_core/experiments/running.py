"""Experiments that run their own attacks through the shared cache: the ε sweep (Fig. 2), the
honest headline (the strongest attack on the softmax against the strongest on REGroup) and the
timing of Table 6."""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from typing import Any

import pandas as pd
import torch

from ..attacks.cached import cached_attack
from ..attacks.threats import ThreatModel
from ..engine import REGroup
from ..run.evaluate import predict_all
from ..run.progress import Progress
from ..sources import ModelBundle
from ..store import AdversarialCache
from .metrics import ci, pct, topn_hit
from .suite import TestImages

__all__ = ["HEADLINE_EPSILONS_255", "REGROUP_ATTACKS", "SOFTMAX_ATTACKS", "epsilon_sweep", "headline", "timing"]


def epsilon_sweep(bundle: ModelBundle, defended: REGroup, test: TestImages, *, epsilons_255: Sequence[float],
                  attack: str = "pgd", threats: Sequence[ThreatModel | str] = (ThreatModel.TRANSFER,),
                  seed: int = 0, cache: AdversarialCache | None = None, chunk_size: int = 50,
                  progress: bool = False, callback: Progress | None = None, **options: Any) -> pd.DataFrame:
    """Fig. 2: softmax and REGroup top-1/top-5 on every attacked image vs the budget ε (0–255 scale)."""
    y = test.labels
    rows = []
    jobs = [(e, ThreatModel(t)) for e in epsilons_255 for t in threats]
    for i, (eps, threat) in enumerate(jobs):
        result = cached_attack(bundle, test.images, y, attack, ids=test.ids, threat=threat, defended=defended,
                               cache=cache, chunk_size=chunk_size, seed=seed, progress=progress,
                               epsilon_255=float(eps), **options)
        p = predict_all(defended, result.adversarial)
        soft_ok, reg_ok = p.softmax_labels == y, p.regroup_correct(y)
        rows.append({"attack": attack, "threat": threat.value, "epsilon_255": float(eps), "epsilon": eps / 255.0,
                     "n": len(y), "n_success": int(result.success.sum()),
                     "softmax_top1": pct(soft_ok), "softmax_top1_ci": ci(soft_ok),
                     "softmax_top5": pct(topn_hit(p.logits, y, 5)),
                     "regroup_top1": pct(reg_ok), "regroup_top1_ci": ci(reg_ok),
                     "regroup_ties": int(p.regroup_tied.sum()),
                     "regroup_top5": pct(topn_hit(p.borda.float(), y, 5)),
                     "regroup_top1_on_s": pct(reg_ok[result.success]),
                     "steps": result.settings["params"].get("steps"), "k": p.k, "seed": seed})
        if callback is not None:
            callback(i + 1, len(jobs), f"{attack}/{threat.value} ε={eps}/255")
    return pd.DataFrame(rows)


def timing(bundle: ModelBundle, defended: REGroup, images: torch.Tensor, *, repeats: int = 5,
           devices: Sequence[str] | None = None) -> pd.DataFrame:
    """Table 6: seconds per batch of softmax (one forward) vs REGroup (forward + taps + KL + vote).

    Runs on CPU and, when present, CUDA (on a copy of the model, never moving the caller's).
    """
    devices = list(devices) if devices is not None else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for dev in devices:
        model = bundle.model if torch.device(dev) == bundle.device else copy.deepcopy(bundle.model).to(dev)
        reg = defended if model is bundle.model else REGroup(model, defended.classifiers)
        x = images.to(dev)

        def sync() -> None:
            if torch.device(dev).type == "cuda":
                torch.cuda.synchronize()

        for method, fn in (("softmax", lambda: model(x).argmax(1)), ("regroup", lambda: reg.predict(x).regroup_labels)):
            with torch.inference_mode():
                fn()  # warm-up
                sync()
                times = []
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    fn()
                    sync()
                    times.append(time.perf_counter() - t0)
            times.sort()
            med = times[len(times) // 2]
            rows.append({"model": bundle.name, "device": dev, "method": method, "batch": len(x), "repeats": repeats,
                         "seconds_per_batch": round(med, 5), "ms_per_image": round(1000 * med / len(x), 4),
                         "k": defended.classifiers.k, "threads": torch.get_num_threads()})
    return pd.DataFrame(rows)


HEADLINE_EPSILONS_255 = (8.0, 16.0, 32.0, 76.5)
"""The L∞ budgets (0–255 scale) of the headline comparison."""


SOFTMAX_ATTACKS = ("pgd", "apgd-ce", "apgd-t")
"""Attacks aimed at the undefended softmax in the headline (per-image worst case)."""


REGROUP_ATTACKS = ("pgd", "apgd-ce")
"""Attacks aimed at REGroup itself (adaptive threat model) in the headline; the transfer
adversarials of :data:`SOFTMAX_ATTACKS` are tried on REGroup too."""


def headline(bundle: ModelBundle, defended: REGroup, test: TestImages, *,
             epsilons_255: Sequence[float] = HEADLINE_EPSILONS_255, softmax_attacks: Sequence[str] = SOFTMAX_ATTACKS,
             regroup_attacks: Sequence[str] = REGROUP_ATTACKS, seed: int = 0, cache: AdversarialCache | None = None,
             chunk_size: int = 50, attack_options: dict[str, dict[str, Any]] | None = None,
             callback: Progress | None = None) -> pd.DataFrame:
    """The honest headline: for each L∞ budget, the strongest attack on the undefended softmax vs
    the strongest attack on REGroup, on the same images.

    ``softmax_robust``: images the softmax classifies correctly after *every* attack of
    ``softmax_attacks`` (transfer threat model: they attack the softmax). ``regroup_robust``:
    images REGroup classifies correctly (a tie is an error) after every adaptive attack of
    ``regroup_attacks`` *and* every transfer adversarial above. Wilson 95 % intervals; the
    ``*_strongest`` columns name the single attack with the lowest accuracy.
    """
    y = test.labels
    attack_options = attack_options or {}
    rows = []
    jobs = [(a, ThreatModel.TRANSFER) for a in softmax_attacks] + [(a, ThreatModel.ADAPTIVE) for a in regroup_attacks]
    for i, eps in enumerate(epsilons_255):
        soft_masks: dict[str, torch.Tensor] = {}
        reg_masks: dict[str, torch.Tensor] = {}
        tie_masks: dict[str, torch.Tensor] = {}
        seconds = 0.0
        for j, (attack, threat) in enumerate(jobs):
            result = cached_attack(bundle, test.images, y, attack, ids=test.ids, threat=threat, defended=defended,
                                   cache=cache, chunk_size=chunk_size, seed=seed, epsilon_255=float(eps),
                                   **{k: v for k, v in attack_options.get(attack, {}).items() if k != "epsilon_255"})
            seconds += result.elapsed
            p = predict_all(defended, result.adversarial)
            name = f"{attack}/{threat.value}"
            if threat is ThreatModel.TRANSFER:
                soft_masks[name] = p.softmax_labels == y
            reg_masks[name] = p.regroup_correct(y)
            tie_masks[name] = p.regroup_labels == y
            if callback is not None:
                callback(i * len(jobs) + j + 1, len(epsilons_255) * len(jobs), f"headline ε={eps:g}: {name}")
        soft = torch.stack(list(soft_masks.values())).all(0)
        reg = torch.stack(list(reg_masks.values())).all(0)
        tiebreak = torch.stack(list(tie_masks.values())).all(0)
        adaptive_only = torch.stack([m for k, m in reg_masks.items() if k.endswith("/adaptive")]).all(0)
        rows.append({
            "model": bundle.name, "epsilon_255": float(eps), "n": len(y),
            "softmax_robust": pct(soft), "softmax_robust_ci": ci(soft),
            "softmax_strongest": min(soft_masks, key=lambda k: int(soft_masks[k].sum())),
            "regroup_robust": pct(reg), "regroup_robust_ci": ci(reg),
            "regroup_strongest": min(reg_masks, key=lambda k: int(reg_masks[k].sum())),
            "regroup_adaptive_only": pct(adaptive_only),
            "regroup_ties": int((reg != tiebreak).sum()), "regroup_robust_tiebreak": pct(tiebreak),
            "softmax_by_attack": {k: pct(m) for k, m in soft_masks.items()},
            "regroup_by_attack": {k: pct(m) for k, m in reg_masks.items()},
            "seconds": round(seconds, 1),
        })
    return pd.DataFrame(rows)
