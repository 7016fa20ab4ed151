"""The paper's tables and figures as tidy DataFrames, one function each.

All accuracies are percentages. ``*_on_s`` columns are measured on #S, the images where the
attack fooled the model it attacked (the paper's convention: softmax is then 0 % by
construction under the transfer threat model); ``*_robust`` columns on every attacked image
(the robust accuracy that matters when attacks can also fail). Settings sit next to the numbers.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Sequence
from typing import Any

import pandas as pd
import torch

from ..attacks.threats import ThreatModel
from ..engine import Prediction, REGroup, Variant, copeland_scores, plurality_counts, top_classes
from ..run.evaluate import predict_all
from ..sources import ModelBundle
from ..store import AdversarialCache
from .suite import Suite, SuiteRun, TestImages, cached_attack

__all__ = ["attack_table", "clean_summary", "k_ablation", "layer_accuracy", "variant_ablation",
           "voting_rules", "epsilon_sweep", "timing"]


def _pct(mask: torch.Tensor) -> float:
    return float("nan") if mask.numel() == 0 else round(100.0 * float(mask.float().mean()), 2)


def _topn_hit(scores: torch.Tensor, labels: torch.Tensor, n: int) -> torch.Tensor:
    return (top_classes(scores, min(n, scores.shape[1])) == labels.unsqueeze(1)).any(1)


def _norms(run: SuiteRun, images: torch.Tensor) -> tuple[float, float]:
    d = (run.result.adversarial - images).flatten(1)
    return (round(float(d.norm(dim=1).median()), 4) if len(d) else float("nan"),
            round(float(d.abs().amax(1).median()), 4) if len(d) else float("nan"))


def clean_summary(suite: Suite) -> dict[str, Any]:
    """Clean accuracy of softmax and REGroup on the selected images (and on the scanned test data)."""
    y = suite.test.labels
    p = suite.clean
    return {"n": len(y), "softmax_top1": _pct(p.softmax_labels == y), "regroup_top1": _pct(p.regroup_labels == y),
            "regroup_top5": _pct(_topn_hit(p.borda.float(), y, 5)), "softmax_top1_all": round(suite.test.softmax_top1_all, 2),
            "regroup_top1_all": None if suite.test.regroup_top1_all is None else round(suite.test.regroup_top1_all, 2),
            "n_scanned": suite.test.n_scanned, "k": p.k}


def attack_table(suite: Suite) -> pd.DataFrame:
    """Tables 2–5: one row per (attack, threat), plus per-attack and overall worst-case rows.

    ``worst`` rows: an image counts as robust only if REGroup classifies it correctly under
    every threat model run for that attack (``all``: under every attack and threat model).
    """
    y = suite.test.labels
    rows: list[dict[str, Any]] = []
    correct_by_attack: dict[str, list[torch.Tensor]] = {}
    for run in suite.runs:
        p, s = run.prediction, run.result.success
        reg_ok = p.regroup_labels == y
        correct_by_attack.setdefault(run.attack, []).append(reg_ok)
        l2, linf = _norms(run, suite.test.images)
        st = run.result.settings
        rows.append({
            "model": st["model"], "attack": run.attack, "threat": run.threat.value, "n": len(y),
            "n_success": int(s.sum()), "success_rate": _pct(s),
            "softmax_top1": _pct((p.softmax_labels == y)[s]), "regroup_top1": _pct(reg_ok[s]),
            "regroup_top5": _pct(_topn_hit(p.borda.float(), y, 5)[s]),
            "softmax_robust": _pct(p.softmax_labels == y), "regroup_robust": _pct(reg_ok),
            "median_l2": l2, "median_linf": linf, "epsilon_255": st.get("epsilon_255"),
            "steps": st["params"].get("steps"), "k": p.k, "seconds": round(run.result.elapsed, 2),
            "cache_hits": st.get("cache", {}).get("hits"), "settings": json.dumps(st, sort_keys=True, default=str),
        })
    model = suite.settings.get("model")
    every: list[torch.Tensor] = []
    for attack, masks in correct_by_attack.items():
        every.extend(masks)
        if len(masks) > 1:
            rows.append({"model": model, "attack": attack, "threat": "worst", "n": len(y),
                         "regroup_robust": _pct(torch.stack(masks).all(0)), "k": suite.clean.k})
    if every:
        rows.append({"model": model, "attack": "all", "threat": "worst", "n": len(y),
                     "regroup_robust": _pct(torch.stack(every).all(0)), "k": suite.clean.k})
    return pd.DataFrame(rows)


def _runs_and_clean(suite: Suite) -> list[tuple[str, str, Prediction, torch.Tensor]]:
    """(attack, threat, prediction, mask of counted images): #S per run, every image for clean."""
    out = [("clean", "-", suite.clean, torch.ones(len(suite.test.labels), dtype=torch.bool))]
    out += [(r.attack, r.threat.value, r.prediction, r.result.success) for r in suite.runs]
    return out


def k_ablation(suite: Suite) -> pd.DataFrame:
    """Figs. 4/6: REGroup top-1 on #S for every k (1..L), for clean images and every run."""
    y = suite.test.labels
    rows = []
    for attack, threat, p, s in _runs_and_clean(suite):
        for k in range(1, len(p.layers) + 1):
            rows.append({"attack": attack, "threat": threat, "k": k, "n": int(s.sum()),
                         "regroup_top1": _pct((top_classes(p.borda_at(k), 1)[:, 0] == y)[s]),
                         "chosen_k": k == suite.clean.k})
    return pd.DataFrame(rows)


def layer_accuracy(suite: Suite) -> pd.DataFrame:
    """Figs. 4/6 'Per_Layer': accuracy of each layer's own vote argmax_y B^{ℓy} on #S."""
    y = suite.test.labels
    rows = []
    for attack, threat, p, s in _runs_and_clean(suite):
        hits = p.layer_labels() == y.unsqueeze(1)
        for j, layer in enumerate(p.layers):
            rows.append({"attack": attack, "threat": threat, "layer": layer.name, "depth": j + 1,
                         "n": int(s.sum()), "accuracy": _pct(hits[s, j])})
    return pd.DataFrame(rows)


def variant_ablation(suite: Suite) -> pd.DataFrame:
    """Fig. 3: REGroup top-1 on #S with pos-only, neg-only and pos+neg voters (the suite's k)."""
    y = suite.test.labels
    rows = []
    for attack, threat, p, s in _runs_and_clean(suite):
        for v in Variant:
            rows.append({"attack": attack, "threat": threat, "variant": v.value, "k": p.k, "n": int(s.sum()),
                         "regroup_top1": _pct((top_classes(p.borda_at(p.k, v), 1)[:, 0] == y)[s])})
    return pd.DataFrame(rows)


def voting_rules(suite: Suite) -> pd.DataFrame:
    """Beyond the paper: Borda vs plurality vs Copeland on the same 2k voter rankings (top-1 on #S)."""
    y = suite.test.labels
    rows = []
    for attack, threat, p, s in _runs_and_clean(suite):
        k, n_layers = p.k, len(p.layers)
        voters = torch.cat([p.pos_ranks[:, n_layers - k:], p.neg_ranks[:, n_layers - k:]], dim=1)
        scores = {"borda": p.borda, "plurality": plurality_counts(voters), "copeland": copeland_scores(voters)}
        for rule, sc in scores.items():
            rows.append({"attack": attack, "threat": threat, "rule": rule, "k": k, "voters": 2 * k,
                         "n": int(s.sum()), "regroup_top1": _pct((top_classes(sc, 1)[:, 0] == y)[s])})
    return pd.DataFrame(rows)


def epsilon_sweep(bundle: ModelBundle, defended: REGroup, test: TestImages, *, epsilons_255: Sequence[float],
                  attack: str = "pgd", threats: Sequence[ThreatModel | str] = (ThreatModel.TRANSFER,),
                  seed: int = 0, cache: AdversarialCache | None = None, chunk_size: int = 50,
                  progress: bool = False, callback=None, **options: Any) -> pd.DataFrame:
    """Fig. 2: softmax and REGroup top-1/top-5 on every attacked image vs the budget ε (0–255 scale)."""
    y = test.labels
    rows = []
    jobs = [(e, ThreatModel(t)) for e in epsilons_255 for t in threats]
    for i, (eps, threat) in enumerate(jobs):
        result = cached_attack(bundle, test.images, y, attack, ids=test.ids, threat=threat, defended=defended,
                               cache=cache, chunk_size=chunk_size, seed=seed, progress=progress,
                               epsilon_255=float(eps), **options)
        p = predict_all(defended, result.adversarial)
        rows.append({"attack": attack, "threat": threat.value, "epsilon_255": float(eps), "epsilon": eps / 255.0,
                     "n": len(y), "n_success": int(result.success.sum()),
                     "softmax_top1": _pct(p.softmax_labels == y), "softmax_top5": _pct(_topn_hit(p.logits, y, 5)),
                     "regroup_top1": _pct(p.regroup_labels == y), "regroup_top5": _pct(_topn_hit(p.borda.float(), y, 5)),
                     "regroup_top1_on_s": _pct((p.regroup_labels == y)[result.success]),
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
