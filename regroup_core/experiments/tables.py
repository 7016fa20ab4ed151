"""The paper's tables and figures as tidy DataFrames, one function each.

All accuracies are percentages; REGroup counts a Borda tie (top count shared, broken by class
index) as an error everywhere, and ``regroup_ties`` says how many there were. ``*_on_s`` columns are measured on #S, the images where the
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

from ..attacks.cached import cached_attack
from ..attacks.specs import AttackFamily, Budget, Norm, get_preset
from ..attacks.threats import ThreatModel
from ..engine import Prediction, REGroup, Variant, copeland_scores, plurality_counts, top_classes
from ..run.evaluate import predict_all
from ..sources import ModelBundle
from ..sources.budgets import beyond_budget, largest_budget_255, short_budget_note
from ..sources.models import MODEL_SPECS, ModelSpec
from ..store import AdversarialCache
from .intervals import wilson_interval
from .suite import Suite, SuiteRun, TestImages

__all__ = ["FEW", "L2_GRID", "LINF_GRID_255", "attack_table", "budget_grid", "clean_summary", "distances",
           "format_attack_table", "format_robust_curves", "headline", "headline_verdict", "with_interval", "HEADLINE_EPSILONS_255", "is_bounded",
           "REGROUP_ATTACKS", "robust_at", "SOFTMAX_ATTACKS", "k_ablation", "layer_accuracy", "variant_ablation",
           "voting_rules", "epsilon_sweep", "timing"]


LINF_GRID_255 = (2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
"""L∞ budgets (0–255 scale) of the robust-accuracy curves of minimisation attacks."""
L2_GRID = (0.5, 1.0, 2.0, 3.0, 4.0)
"""L2 budgets (on [0, 1] inputs) of the robust-accuracy curves of minimisation attacks."""
FEW = 20
"""Below this many successful images an on-#S accuracy is shown as a count, not a percentage."""
GRADIENT_SANITY = 90.0
"""A gradient attack should fool at least this share (%) of the undefended softmax at its budget;
an unbounded attack should end adversarial on at least this share of the model it attacks."""
WEAKER_BY = 10.0
"""A fixed-budget attack this many points below the best attack at its budget is marked weak."""
_NORM_TOLERANCE = 1e-5  # float32 rounding of a perturbation that sits exactly on the budget


def _pct(mask: torch.Tensor) -> float:
    return float("nan") if mask.numel() == 0 else round(100.0 * float(mask.float().mean()), 2)


def _ci(mask: torch.Tensor) -> list[float] | None:
    """Wilson 95 % interval (percent) of the share of True in ``mask``."""
    if mask.numel() == 0:
        return None
    lo, hi = wilson_interval(int(mask.sum()), int(mask.numel()))
    return [round(100.0 * lo, 2), round(100.0 * hi, 2)]


def _correct(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The top class is ``labels`` and no other class shares its score (a tie is an error)."""
    top2 = torch.topk(scores, min(2, scores.shape[1]), dim=1).values
    tied = top2[:, 0] == top2[:, -1] if scores.shape[1] > 1 else torch.zeros(len(scores), dtype=torch.bool)
    return (top_classes(scores, 1)[:, 0] == labels) & ~tied


def _topn_hit(scores: torch.Tensor, labels: torch.Tensor, n: int) -> torch.Tensor:
    return (top_classes(scores, min(n, scores.shape[1])) == labels.unsqueeze(1)).any(1)


def _norms(run: SuiteRun, images: torch.Tensor) -> tuple[float, float]:
    d = (run.result.adversarial - images).flatten(1)
    return (round(float(d.norm(dim=1).median()), 4) if len(d) else float("nan"),
            round(float(d.abs().amax(1).median()), 4) if len(d) else float("nan"))


def _quantile(values: torch.Tensor, q: float) -> float | None:
    """A quantile of distances where failed attacks count as +inf; None when it is infinite."""
    if values.numel() == 0:
        return None
    v = float(torch.quantile(values.double(), q, interpolation="higher"))
    return None if v == float("inf") else round(v, 4)


def is_bounded(run: SuiteRun) -> bool:
    """Whether a run's accuracy is a bounded (fixed-budget) number: not a minimisation attack and
    not an ε-ladder attack that grows ε until it succeeds."""
    spec = get_preset(run.attack)
    return spec.budget is not Budget.MINIMAL and not spec.grows_epsilon


def budget_grid(norm: Norm) -> tuple[str, tuple[float, ...]]:
    """(distance, budgets) of the robust-accuracy curve of an attack measured in ``norm``."""
    return ("linf_255", LINF_GRID_255) if norm is Norm.LINF else ("l2", L2_GRID)


def distances(adversarial: torch.Tensor, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-image L∞ (0–255 scale) and L2 (on [0, 1] inputs) sizes of the perturbations."""
    d = (adversarial - images).flatten(1).double()
    return {"linf_255": d.abs().amax(1) * 255.0, "l2": d.norm(dim=1)}


def robust_at(softmax_fooled: torch.Tensor, regroup_fooled: torch.Tensor, distance: torch.Tensor,
              grid: Sequence[float]) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, list[float] | None]]]:
    """Robust accuracy (%) at each budget of ``grid`` from each image's minimal adversarial.

    An image counts as broken at ε only when its adversarial is within ε *and* fools the
    classifier (an adversarial larger than ε says nothing about ε: the image is robust at ε for
    this attack). REGroup is judged on the same adversarial (a Borda tie counts as fooled), so its
    accuracy at ε comes from adversarials within ε only. Returns (percentages, Wilson intervals),
    each ``{"softmax": {"<ε>": ...}, "regroup": {...}}``.
    """
    pct: dict[str, dict[str, float]] = {"softmax": {}, "regroup": {}}
    cis: dict[str, dict[str, list[float] | None]] = {"softmax": {}, "regroup": {}}
    for eps in grid:
        within = distance <= eps * (1 + _NORM_TOLERANCE) + _NORM_TOLERANCE
        key = f"{eps:g}"
        for name, fooled in (("softmax", softmax_fooled), ("regroup", regroup_fooled)):
            ok = ~(fooled & within)
            pct[name][key] = _pct(ok)
            cis[name][key] = _ci(ok)
    return pct, cis


def clean_summary(suite: Suite) -> dict[str, Any]:
    """Clean accuracy of softmax and REGroup on the selected images (and on the scanned test data).
    REGroup counts a Borda tie as an error (``regroup_ties`` of them on these images)."""
    y = suite.test.labels
    p = suite.clean
    reg = p.regroup_correct(y)
    return {"n": len(y), "softmax_top1": _pct(p.softmax_labels == y), "softmax_top1_ci": _ci(p.softmax_labels == y),
            "regroup_top1": _pct(reg),
            "regroup_top1_ci": _ci(reg), "regroup_ties": int(p.regroup_tied.sum()),
            "regroup_top5": _pct(_topn_hit(p.borda.float(), y, 5)), "softmax_top1_all": round(suite.test.softmax_top1_all, 2),
            "regroup_top1_all": None if suite.test.regroup_top1_all is None else round(suite.test.regroup_top1_all, 2),
            "n_scanned": suite.test.n_scanned, "k": p.k}


def _sanity(run: SuiteRun, softmax_success: float | None, best_at_budget: float | None) -> str:
    """Whether the attack passes the sanity checks, and if not, why (Carlini et al. 2019):

    * an unbounded (minimisation) attack must end adversarial on every image of the model it
      attacks — the undefended softmax for *transfer*, REGroup itself otherwise; below
      :data:`GRADIENT_SANITY` % its curve overstates robustness;
    * a gradient attack must fool :data:`GRADIENT_SANITY` % of the undefended softmax at its
      budget, unless no attack of the run does at that budget (then the budget is below the
      softmax's own robustness);
    * any fixed-budget attack (gradient or score-based) more than :data:`WEAKER_BY` points below
      the best attack at the same budget on the undefended softmax is too weak to mean anything.
    """
    spec = get_preset(run.attack)
    if not is_bounded(run):
        attacked = _pct(run.result.success)
        if attacked < GRADIENT_SANITY:
            target = "the undefended softmax" if run.threat is ThreatModel.TRANSFER else "REGroup"
            return (f"WEAK: ends adversarial on only {attacked:.0f} % of the images against {target} although its "
                    f"budget is unbounded (an unbounded attack must reach 100 %); its curve overstates robustness")
    if softmax_success is None:
        return "no transfer run to check against"
    if softmax_success >= GRADIENT_SANITY or spec.family is AttackFamily.DECISION:
        return "ok"
    if not is_bounded(run):
        if spec.family is not AttackFamily.GRADIENT:
            return "ok"
        return (f"WEAK: fools only {softmax_success:.0f} % of the undefended softmax with its steps "
                f"(< {GRADIENT_SANITY:.0f} %); its curve overstates robustness")
    if best_at_budget is not None and best_at_budget - softmax_success > WEAKER_BY:
        return (f"WEAK: fools only {softmax_success:.0f} % of the undefended softmax where another attack at the same "
                f"budget fools {best_at_budget:.0f} %; its numbers overstate robustness")
    if best_at_budget is not None and best_at_budget < GRADIENT_SANITY:
        return (f"fools {softmax_success:.0f} % of the undefended softmax; no attack in this run fools "
                f"{GRADIENT_SANITY:.0f} % at this budget (best {best_at_budget:.0f} %): the budget is below the "
                "softmax's own robustness on this model")
    if spec.family is not AttackFamily.GRADIENT:
        return "ok"
    return (f"WEAK: fools only {softmax_success:.0f} % of the undefended softmax at its budget "
            f"(< {GRADIENT_SANITY:.0f} %); its numbers overstate robustness")


def attack_table(suite: Suite) -> pd.DataFrame:
    """Tables 2–5: one row per (attack, threat), plus worst-case rows.

    Accuracies count a Borda tie as a REGroup error. Bounded attacks (a fixed ε ball, or a
    spatial grid) have ``softmax_robust``/``regroup_robust`` on all n images with Wilson 95 %
    intervals; minimisation attacks (DeepFool, C&W, EAD, Boundary, HopSkipJump, Trust Region,
    FMN, and the ε-ladder PGD variants) have no single accuracy but ``robust_at`` curves on the
    fixed grids (L∞ 0–255 scale, L2 on [0, 1] inputs) and quantiles of their distances.
    ``softmax_success`` is the same attack's success rate on the undefended softmax (the sanity
    check; ``sanity`` says when it is too weak to mean anything).

    ``worst`` rows use bounded numbers only: per attack, correct under every threat model (bounded
    attacks) or robust at each ε under every threat model (``robust_at``); ``all`` rows, per norm
    and ε, combine every bounded attack run at that ε with every minimisation attack's robustness
    at that ε.
    """
    y = suite.test.labels
    x = suite.test.images
    rows: list[dict[str, Any]] = []
    per_image: list[tuple[SuiteRun, torch.Tensor, dict[str, torch.Tensor]]] = []
    best: dict[tuple[str, float], float] = {}  # (norm, ε) → the highest softmax success of any attack there
    for run in suite.runs:
        sanity = suite.sanity.get(run.attack)
        eps = run.result.settings.get("epsilon_255")
        if sanity is not None and is_bounded(run) and eps is not None:
            key = (get_preset(run.attack).norm.value, float(eps))
            best[key] = max(best.get(key, 0.0), _pct(sanity))
    for run in suite.runs:
        p, s = run.prediction, run.result.success
        spec = get_preset(run.attack)
        reg_ok = p.regroup_correct(y)
        soft_ok = p.softmax_labels == y
        dist = distances(run.result.adversarial, x)
        per_image.append((run, reg_ok, dist))
        l2, linf = _norms(run, x)
        st = run.result.settings
        sanity = suite.sanity.get(run.attack)
        soft_success = None if sanity is None else _pct(sanity)
        row: dict[str, Any] = {
            "model": st["model"], "attack": run.attack, "threat": run.threat.value, "norm": spec.norm.value,
            "bounded": is_bounded(run), "n": len(y), "n_success": int(s.sum()), "success_rate": _pct(s),
            "softmax_success": soft_success,
            "sanity": _sanity(run, soft_success, best.get((spec.norm.value, float(st.get("epsilon_255") or -1)))),
            "softmax_top1": _pct(soft_ok[s]), "regroup_top1": _pct(reg_ok[s]), "regroup_top1_ci": _ci(reg_ok[s]),
            "regroup_correct_on_s": int(reg_ok[s].sum()),
            "regroup_top5": _pct(_topn_hit(p.borda.float(), y, 5)[s]),
            "softmax_robust": None, "softmax_robust_ci": None, "regroup_robust": None, "regroup_robust_ci": None,
            "regroup_ties": int(p.regroup_tied.sum()),
            "median_l2": l2, "median_linf": linf, "epsilon_255": st.get("epsilon_255") if is_bounded(run) else None,
            "steps": st["params"].get("steps", st["params"].get("queries")), "k": p.k,
            "seconds": round(run.result.elapsed, 2), "cache_hits": st.get("cache", {}).get("hits"),
        }
        fooled_on_s = s & ~soft_ok if run.threat is ThreatModel.TRANSFER else s & ~reg_ok
        for name in ("linf_255", "l2"):
            d = torch.where(fooled_on_s, dist[name], torch.full_like(dist[name], float("inf")))
            row[f"{name}_median"] = _quantile(d, 0.5)
            row[f"{name}_p90"] = _quantile(d, 0.9)
        if is_bounded(run):
            row.update(softmax_robust=_pct(soft_ok), softmax_robust_ci=_ci(soft_ok), regroup_robust=_pct(reg_ok),
                       regroup_robust_ci=_ci(reg_ok),
                       # REGroup's own argmax, a tie broken by the lower class index: an upper bound only (attacks
                       # on REGroup stop at the first tie, they do not push on to an outright wrong vote)
                       regroup_robust_tiebreak=_pct(p.regroup_labels == y))
        else:
            dname, grid = budget_grid(spec.norm)
            row["robust_at"], row["robust_at_ci"] = robust_at(~soft_ok, ~reg_ok, dist[dname], grid)
            row["robust_at_norm"] = dname
        zero = run.result.per_sample.get("zero_gradient")
        if run.threat is ThreatModel.ADAPTIVE:
            share = suite.zero_gradient.get(run.attack) if zero is None else zero[zero_valid(run)].float()
            row["zero_gradient_share"] = None if share is None or share.numel() == 0 else _pct(share.bool())
            st = {**st, "zero_gradient_share": row["zero_gradient_share"],
                  "zero_gradient_rule": "share of attacked images whose surrogate loss has an exactly zero input "
                                        "gradient at the first step"}
        row["settings"] = json.dumps(st, sort_keys=True, default=str)
        rows.append(row)
    rows += _worst_rows(suite, per_image)
    return pd.DataFrame(rows)


def zero_valid(run: SuiteRun) -> torch.Tensor:
    """Images the adaptive PGD actually attacked (not already wrong on the clean image)."""
    idx = run.result.per_sample.get("adaptive_run")
    return torch.ones(len(run.result.success), dtype=torch.bool) if idx is None else idx != -2


def _worst_rows(suite: Suite, per_image: list[tuple[SuiteRun, torch.Tensor, dict[str, torch.Tensor]]]
                ) -> list[dict[str, Any]]:
    model, k, n = suite.settings.get("model"), suite.clean.k, len(suite.test.labels)
    rows: list[dict[str, Any]] = []
    by_attack: dict[str, list[tuple[SuiteRun, torch.Tensor, dict[str, torch.Tensor]]]] = {}
    for item in per_image:
        by_attack.setdefault(item[0].attack, []).append(item)
    for attack, items in by_attack.items():
        if len(items) < 2:
            continue
        first = items[0][0]
        row: dict[str, Any] = {"model": model, "attack": attack, "threat": "worst", "n": n, "k": k,
                               "norm": get_preset(attack).norm.value, "bounded": is_bounded(first),
                               "epsilon_255": first.result.settings.get("epsilon_255") if is_bounded(first) else None}
        if row["bounded"]:
            ok = torch.stack([r for _, r, _ in items]).all(0)
            row.update(regroup_robust=_pct(ok), regroup_robust_ci=_ci(ok))
        else:
            dname, grid = budget_grid(get_preset(attack).norm)
            pct, ci = {}, {}
            for eps in grid:
                ok = torch.stack([r | (d[dname] > eps * (1 + _NORM_TOLERANCE) + _NORM_TOLERANCE)
                                  for _, r, d in items]).all(0)
                pct[f"{eps:g}"], ci[f"{eps:g}"] = _pct(ok), _ci(ok)
            row.update(robust_at={"regroup": pct}, robust_at_ci={"regroup": ci}, robust_at_norm=dname)
        rows.append(row)
    # each budget of a bounded run: an image is broken at (norm, ε) when *any* run's adversarial is
    # within ε in that norm and fools REGroup (an L2 attack's adversarial counts at an L∞ budget too)
    budgets = sorted({(get_preset(r.attack).norm, float(r.result.settings["epsilon_255"]))
                      for r, _, _ in per_image if is_bounded(r) and r.result.settings.get("epsilon_255") is not None
                      and get_preset(r.attack).norm in (Norm.LINF, Norm.L2)}, key=lambda b: (b[0].value, b[1]))
    for norm, eps_255 in budgets:
        dname, _ = budget_grid(norm)
        eps = eps_255 if norm is Norm.LINF else eps_255 / 255.0
        ok = torch.stack([reg_ok | (dist[dname] > eps * (1 + _NORM_TOLERANCE) + _NORM_TOLERANCE)
                          for _, reg_ok, dist in per_image]).all(0)
        rows.append({"model": model, "attack": "all", "threat": "worst", "norm": norm.value, "bounded": True,
                     "n": n, "k": k, "epsilon_255": eps_255, "regroup_robust": _pct(ok), "regroup_robust_ci": _ci(ok),
                     "covers": ", ".join(f"{r.attack}/{r.threat.value}" for r, _, _ in per_image)})
    return rows


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
                         "regroup_top1": _pct(_correct(p.borda_at(k), y)[s]),
                         "regroup_top1_ci": _ci(_correct(p.borda_at(k), y)[s]),
                         "chosen_k": k == suite.clean.k})
    return pd.DataFrame(rows)


def layer_accuracy(suite: Suite) -> pd.DataFrame:
    """Figs. 4/6 'Per_Layer': accuracy of each layer's own vote argmax_y B^{ℓy} on #S.

    A tie between classes at the top of a layer's count is an error, as in :func:`k_ablation`, so the
    highest layer alone and REGroup at k = 1 (the same two voters) give the same number."""
    y = suite.test.labels
    rows = []
    for attack, threat, p, s in _runs_and_clean(suite):
        layer_borda = p.layer_borda()
        hits = torch.stack([_correct(layer_borda[:, j], y) for j in range(len(p.layers))], dim=1)
        for j, layer in enumerate(p.layers):
            rows.append({"attack": attack, "threat": threat, "layer": layer.name, "depth": j + 1,
                         "n": int(s.sum()), "accuracy": _pct(hits[s, j]), "accuracy_ci": _ci(hits[s, j])})
    return pd.DataFrame(rows)


def variant_ablation(suite: Suite) -> pd.DataFrame:
    """Fig. 3: REGroup top-1 on #S with pos-only, neg-only and pos+neg voters (the suite's k)."""
    y = suite.test.labels
    rows = []
    for attack, threat, p, s in _runs_and_clean(suite):
        for v in Variant:
            rows.append({"attack": attack, "threat": threat, "variant": v.value, "k": p.k, "n": int(s.sum()),
                         "regroup_top1": _pct(_correct(p.borda_at(p.k, v), y)[s]),
                         "regroup_top1_ci": _ci(_correct(p.borda_at(p.k, v), y)[s])})
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
                         "n": int(s.sum()), "regroup_top1": _pct(_correct(sc, y)[s]),
                         "regroup_top1_ci": _ci(_correct(sc, y)[s])})
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
        soft_ok, reg_ok = p.softmax_labels == y, p.regroup_correct(y)
        rows.append({"attack": attack, "threat": threat.value, "epsilon_255": float(eps), "epsilon": eps / 255.0,
                     "n": len(y), "n_success": int(result.success.sum()),
                     "softmax_top1": _pct(soft_ok), "softmax_top1_ci": _ci(soft_ok),
                     "softmax_top5": _pct(_topn_hit(p.logits, y, 5)),
                     "regroup_top1": _pct(reg_ok), "regroup_top1_ci": _ci(reg_ok), "regroup_ties": int(p.regroup_tied.sum()),
                     "regroup_top5": _pct(_topn_hit(p.borda.float(), y, 5)),
                     "regroup_top1_on_s": _pct(reg_ok[result.success]),
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


def _fmt_pct(value: Any, ci: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(ci, (list, tuple)) and len(ci) == 2:
        return f"{value:.1f} [{ci[0]:.1f}, {ci[1]:.1f}]"
    return f"{value:.1f}"


def _present(row: pd.Series, key: str) -> Any:
    value = row.get(key)
    return None if value is None or (isinstance(value, float) and value != value) else value


def _budget_cells(row: pd.Series, spec: ModelSpec | None, bounded: bool) -> tuple[str, str]:
    """(the note next to REGroup's robust accuracy, the median distance) said against the model's budgets."""
    eps = _present(row, "epsilon_255")
    note = ""
    if spec is not None and bounded and eps is not None and row.get("norm") == Norm.LINF.value:
        soft = _present(row, "softmax_success")
        note = short_budget_note(spec, float(eps), softmax_fooled=None if soft is None else soft / 100.0)
    linf, l2 = _present(row, "linf_255_median"), _present(row, "l2_median")
    if linf is None and l2 is None:
        return note, "–"
    median = f"{linf or float('inf'):.1f}"
    if spec is not None and not bounded and linf is not None and beyond_budget(spec, float(linf)):
        median += f" (beyond any budget: > {largest_budget_255(spec):g})"
    return note, f"{median} / {l2 or float('inf'):.2f}"


def format_attack_table(table: pd.DataFrame, spec: ModelSpec | None = None) -> pd.DataFrame:
    """:func:`attack_table` for people: accuracies with their Wilson 95 % intervals, on-#S
    accuracies as counts ``k/#S`` when fewer than :data:`FEW` images were fooled, minimisation
    attacks pointing to their ``robust_at`` curve instead of an unbounded accuracy. With the model's
    ``spec`` (default: the known model named in the rows), every L∞ budget is said against the
    model's softmax budget right next to REGroup's accuracy, and a minimisation attack's median
    distance beyond every budget is labelled so."""
    out = []
    for _, row in table.iterrows():
        row_spec = spec if spec is not None else MODEL_SPECS.get(str(row.get("model")))
        n_s = _present(row, "n_success")
        if n_s is None:
            on_s = "–"
        elif n_s < FEW:
            on_s = f"{int(_present(row, 'regroup_correct_on_s') or 0)}/{int(n_s)}"
        else:
            on_s = _fmt_pct(_present(row, "regroup_top1"), _present(row, "regroup_top1_ci"))
        bounded = bool(_present(row, "bounded"))
        eps = _present(row, "epsilon_255")
        budget = ("none (clean images)" if row["threat"] == "-"
                  else f"{eps:g}/255 {row.get('norm') or ''}".strip() if bounded and eps is not None
                  else "none (spatial grid)" if bounded else f"minimal ({row.get('norm')})")
        zero = _present(row, "zero_gradient_share")
        note, median = _budget_cells(row, row_spec, bounded)
        out.append({
            "attack": row["attack"], "threat": row["threat"], "budget": budget,
            "softmax fooled % (undefended, same attack)": "–" if _present(row, "softmax_success") is None
            else f"{row['softmax_success']:.0f}",
            "#S / n": "–" if n_s is None else f"{int(n_s)}/{int(row['n'])}",
            "REGroup top-1 on #S": on_s,
            "softmax robust %": _fmt_pct(_present(row, "softmax_robust"), _present(row, "softmax_robust_ci"))
            if bounded else "–",
            "REGroup robust %": _fmt_pct(_present(row, "regroup_robust"), _present(row, "regroup_robust_ci"))
            if bounded else "curve below",
            "ε vs softmax budget": note,
            "ties": "–" if _present(row, "regroup_ties") is None else str(int(row["regroup_ties"])),
            "median L∞·255 / L2": median,
            "zero-grad %": "–" if zero is None else f"{zero:.0f}",
            "sanity": row.get("sanity") if isinstance(row.get("sanity"), str) else "",
        })
    return pd.DataFrame(out)


def with_interval(df: pd.DataFrame, value: str = "regroup_top1", ci: str = "regroup_top1_ci") -> pd.Series:
    """``value [lo, hi]`` strings of an accuracy column and its Wilson interval column."""
    return pd.Series([_fmt_pct(v, c) for v, c in zip(df[value], df[ci])], index=df.index)


def format_robust_curves(table: pd.DataFrame) -> pd.DataFrame:
    """The ``robust_at`` curves of the minimisation attacks: one row per run, one column per
    budget, ``softmax / REGroup`` robust accuracy (%) with REGroup's Wilson interval."""
    out = []
    for _, row in table.iterrows():
        curve = row.get("robust_at")
        if not isinstance(curve, dict):
            continue
        cis = row.get("robust_at_ci") or {}
        unit = "L∞·255" if row.get("robust_at_norm") == "linf_255" else "L2"
        entry = {"attack": row["attack"], "threat": row["threat"], "distance": unit}
        for eps, value in curve["regroup"].items():
            ci = cis.get("regroup", {}).get(eps)
            soft = curve.get("softmax", {}).get(eps)
            text = _fmt_pct(value, ci)
            entry[f"ε={eps}"] = text if soft is None else f"{soft:.0f} / {text}"
        out.append(entry)
    return pd.DataFrame(out)


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
             chunk_size: int = 50, attack_options: dict[str, dict[str, Any]] | None = None, callback=None
             ) -> pd.DataFrame:
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
            "softmax_robust": _pct(soft), "softmax_robust_ci": _ci(soft),
            "softmax_strongest": min(soft_masks, key=lambda k: int(soft_masks[k].sum())),
            "regroup_robust": _pct(reg), "regroup_robust_ci": _ci(reg),
            "regroup_strongest": min(reg_masks, key=lambda k: int(reg_masks[k].sum())),
            "regroup_adaptive_only": _pct(adaptive_only),
            "regroup_ties": int((reg != tiebreak).sum()), "regroup_robust_tiebreak": _pct(tiebreak),
            "softmax_by_attack": {k: _pct(m) for k, m in soft_masks.items()},
            "regroup_by_attack": {k: _pct(m) for k, m in reg_masks.items()},
            "seconds": round(seconds, 1),
        })
    return pd.DataFrame(rows)


def headline_verdict(rows: Sequence[dict[str, Any]]) -> str:
    """One plain sentence from :func:`headline` rows: where REGroup's interval lies above, overlaps
    or lies below the undefended softmax's (no claim the intervals do not support)."""
    better, same, worse = [], [], []
    for r in rows:
        s_lo, s_hi = r["softmax_robust_ci"]
        g_lo, g_hi = r["regroup_robust_ci"]
        tag = f"{r['model']} at {r['epsilon_255']:g}/255"
        (better if g_lo > s_hi else worse if g_hi < s_lo else same).append(tag)
    parts = []
    if better:
        parts.append("REGroup keeps more digits than the undefended softmax, with non-overlapping 95 % intervals, on "
                     + ", ".join(better))
    if same:
        parts.append("the intervals overlap (no measurable gain) on " + ", ".join(same))
    if worse:
        parts.append("REGroup is *less* robust than the undefended softmax on " + ", ".join(worse))
    return "; ".join(parts) + "."
