"""The paper's tables and figures as tidy DataFrames, computed from a :class:`~.suite.Suite`, one
function each (the attacks themselves run in :mod:`.suite` and :mod:`.running`; text for people is
made in :mod:`.formatting`).

All accuracies are percentages; REGroup counts a Borda tie (top count shared, broken by class
index) as an error everywhere, and ``regroup_ties`` says how many there were. ``*_on_s`` columns are
measured on #S, the images where the attack fooled the model it attacked (the paper's convention:
softmax is then 0 % by construction under the transfer threat model); ``*_robust`` columns on every
attacked image (the robust accuracy that matters when attacks can also fail). Settings sit next to
the numbers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import pandas as pd
import torch

from ..attacks.autoattack_ import flag_names
from ..attacks.specs import AttackFamily, Budget, Norm, get_preset
from ..attacks.threats import ThreatModel
from ..engine import Prediction, Variant, copeland_scores, plurality_counts, top_classes
from .intervals import wilson_interval
from .suite import Suite, SuiteRun

__all__ = ["FEW", "AttackRow", "GRADIENT_SANITY", "L2_GRID", "LINF_GRID_255", "WEAKER_BY", "attack_table",
           "budget_grid", "ci", "clean_summary", "distances", "is_bounded", "k_ablation", "layer_accuracy", "pct",
           "robust_at", "topn_hit", "variant_ablation", "voting_rules", "zero_valid"]


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


def pct(mask: torch.Tensor) -> float:
    """The share of True in ``mask`` in percent (2 decimals; NaN for no images)."""
    return float("nan") if mask.numel() == 0 else round(100.0 * float(mask.float().mean()), 2)


def ci(mask: torch.Tensor) -> list[float] | None:
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


def topn_hit(scores: torch.Tensor, labels: torch.Tensor, n: int) -> torch.Tensor:
    """Whether each label is among its image's ``n`` highest scores."""
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
    pcts: dict[str, dict[str, float]] = {"softmax": {}, "regroup": {}}
    cis: dict[str, dict[str, list[float] | None]] = {"softmax": {}, "regroup": {}}
    for eps in grid:
        within = distance <= eps * (1 + _NORM_TOLERANCE) + _NORM_TOLERANCE
        key = f"{eps:g}"
        for name, fooled in (("softmax", softmax_fooled), ("regroup", regroup_fooled)):
            ok = ~(fooled & within)
            pcts[name][key] = pct(ok)
            cis[name][key] = ci(ok)
    return pcts, cis


def clean_summary(suite: Suite) -> dict[str, Any]:
    """Clean accuracy of softmax and REGroup on the selected images (and on the scanned test data).
    REGroup counts a Borda tie as an error (``regroup_ties`` of them on these images)."""
    y = suite.test.labels
    p = suite.clean
    reg = p.regroup_correct(y)
    return {"n": len(y), "softmax_top1": pct(p.softmax_labels == y), "softmax_top1_ci": ci(p.softmax_labels == y),
            "regroup_top1": pct(reg),
            "regroup_top1_ci": ci(reg), "regroup_ties": int(p.regroup_tied.sum()),
            "regroup_top5": pct(topn_hit(p.borda.float(), y, 5)),
            "softmax_top1_all": round(suite.test.softmax_top1_all, 2),
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
        attacked = pct(run.result.success)
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


@dataclass
class AttackRow:
    """One (attack, threat) row of :func:`attack_table`, typed; :meth:`as_dict` turns it into the
    table's row (only there, at the output edge), with the columns in the table's order."""

    model: str
    attack: str
    threat: str
    norm: str
    bounded: bool
    n: int
    n_success: int
    success_rate: float
    softmax_success: float | None
    sanity: str
    softmax_top1: float
    regroup_top1: float
    regroup_top1_ci: list[float] | None
    regroup_correct_on_s: int
    regroup_top5: float
    softmax_robust: float | None = None  # bounded runs: on all n images
    softmax_robust_ci: list[float] | None = None
    regroup_robust: float | None = None
    regroup_robust_ci: list[float] | None = None
    regroup_ties: int = 0
    median_l2: float | None = None
    median_linf: float | None = None
    epsilon_255: float | None = None
    steps: int | None = None
    k: int = 0
    seconds: float = 0.0
    cache_hits: int | None = None
    linf_255_median: float | None = None  # distances of the images fooled on #S
    linf_255_p90: float | None = None
    l2_median: float | None = None
    l2_p90: float | None = None
    regroup_robust_tiebreak: float | None = None  # bounded runs only
    robust_at: dict[str, Any] | None = None  # minimisation runs only
    robust_at_ci: dict[str, Any] | None = None
    robust_at_norm: str | None = None
    zero_gradient_share: float | None = None  # adaptive runs only
    selftest: str | None = None  # the binarization self-test's verdict, where one was run
    autoattack_flags: str | None = None  # AutoAttack runs: the flags of its own checks
    settings: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The row as the table has it: a bounded run has no curves, a minimisation run no tie-broken
        accuracy, and only adaptive runs have a zero-gradient share (absent, not None, elsewhere)."""
        absent = {"regroup_robust_tiebreak"} if not self.bounded else {"robust_at", "robust_at_ci", "robust_at_norm"}
        if self.threat != ThreatModel.ADAPTIVE.value:
            absent.add("zero_gradient_share")
        absent |= {name for name in ("selftest", "autoattack_flags") if getattr(self, name) is None}
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in absent}


def _run_row(suite: Suite, run: SuiteRun, dist: dict[str, torch.Tensor], reg_ok: torch.Tensor,
             best: dict[tuple[str, float], float]) -> AttackRow:
    """The table's row of one run (see :func:`attack_table`)."""
    y, x = suite.test.labels, suite.test.images
    p, s, st = run.prediction, run.result.success, run.result.settings
    spec = get_preset(run.attack)
    soft_ok = p.softmax_labels == y
    l2, linf = _norms(run, x)
    sanity = suite.sanity.get(run.attack)
    soft_success = None if sanity is None else pct(sanity)
    row = AttackRow(
        model=st["model"], attack=run.attack, threat=run.threat.value, norm=spec.norm.value, bounded=is_bounded(run),
        n=len(y), n_success=int(s.sum()), success_rate=pct(s), softmax_success=soft_success,
        sanity=_sanity(run, soft_success, best.get((spec.norm.value, float(st.get("epsilon_255") or -1)))),
        softmax_top1=pct(soft_ok[s]), regroup_top1=pct(reg_ok[s]), regroup_top1_ci=ci(reg_ok[s]),
        regroup_correct_on_s=int(reg_ok[s].sum()), regroup_top5=pct(topn_hit(p.borda.float(), y, 5)[s]),
        regroup_ties=int(p.regroup_tied.sum()), median_l2=l2, median_linf=linf,
        epsilon_255=st.get("epsilon_255") if is_bounded(run) else None,
        steps=st["params"].get("steps", st["params"].get("queries")), k=p.k, seconds=round(run.result.elapsed, 2),
        cache_hits=st.get("cache", {}).get("hits"))
    fooled_on_s = s & ~soft_ok if run.threat is ThreatModel.TRANSFER else s & ~reg_ok
    for name in ("linf_255", "l2"):
        d = torch.where(fooled_on_s, dist[name], torch.full_like(dist[name], float("inf")))
        setattr(row, f"{name}_median", _quantile(d, 0.5))
        setattr(row, f"{name}_p90", _quantile(d, 0.9))
    if row.bounded:
        row.softmax_robust, row.softmax_robust_ci = pct(soft_ok), ci(soft_ok)
        row.regroup_robust, row.regroup_robust_ci = pct(reg_ok), ci(reg_ok)
        # REGroup's own argmax, a tie broken by the lower class index: an upper bound only (attacks
        # on REGroup stop at the first tie, they do not push on to an outright wrong vote)
        row.regroup_robust_tiebreak = pct(p.regroup_labels == y)
    else:
        dname, grid = budget_grid(spec.norm)
        row.robust_at, row.robust_at_ci = robust_at(~soft_ok, ~reg_ok, dist[dname], grid)
        row.robust_at_norm = dname
    zero = run.result.per_sample.get("zero_gradient")
    if run.threat is ThreatModel.ADAPTIVE:
        share = suite.zero_gradient.get(run.attack) if zero is None else zero[zero_valid(run)].float()
        row.zero_gradient_share = None if share is None or share.numel() == 0 else pct(share.bool())
        st = {**st, "zero_gradient_share": row.zero_gradient_share,
              "zero_gradient_rule": "share of attacked images whose surrogate loss has an exactly zero input "
                                    "gradient at the first step"}
    row.settings = json.dumps(st, sort_keys=True, default=str)
    return row


def _mark(row: AttackRow, run: SuiteRun, selftest: Mapping[tuple[str, str, float], Mapping[str, Any]] | None
          ) -> AttackRow:
    """The self-test verdict and AutoAttack's flags of a row (see :func:`attack_table`)."""
    flags = run.result.per_sample.get("autoattack_flags")
    if flags is not None:
        mask = 0
        for value in flags[flags >= 0].tolist():
            mask |= int(value)
        row.autoattack_flags = ", ".join(flag_names(mask)) or "none"
        if mask:
            row.sanity = f"{row.sanity}; AutoAttack flags: {row.autoattack_flags}"
    eps = row.epsilon_255
    found = None if selftest is None or eps is None else selftest.get((run.attack, run.threat.value, float(eps)))
    if found is not None:
        row.selftest = found["verdict"]
        if found["verdict"] == "WEAK":
            row.sanity = (f"WEAK: self-test found {found['found']} of {found['tasks']} adversarials known to exist "
                          f"within ε; {row.sanity}")
    return row


def attack_table(suite: Suite, selftest: Mapping[tuple[str, str, float], Mapping[str, Any]] | None = None
                 ) -> pd.DataFrame:
    """Tables 2–5: one row per (attack, threat) (:class:`AttackRow`), plus worst-case rows.

    ``selftest`` maps (attack, threat, ε) to a self-test row (:mod:`regroup_core.attacks.selftest`,
    as a dict): its verdict is the ``selftest`` column, and a ``WEAK`` verdict marks the row's
    ``sanity`` (the attack missed adversarials known to exist). AutoAttack rows show the flags of
    its own checks (``autoattack_flags``).

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
    y, x = suite.test.labels, suite.test.images
    best: dict[tuple[str, float], float] = {}  # (norm, ε) → the highest softmax success of any attack there
    for run in suite.runs:
        sanity = suite.sanity.get(run.attack)
        eps = run.result.settings.get("epsilon_255")
        if sanity is not None and is_bounded(run) and eps is not None:
            key = (get_preset(run.attack).norm.value, float(eps))
            best[key] = max(best.get(key, 0.0), pct(sanity))
    rows: list[dict[str, Any]] = []
    per_image: list[tuple[SuiteRun, torch.Tensor, dict[str, torch.Tensor]]] = []
    for run in suite.runs:
        reg_ok, dist = run.prediction.regroup_correct(y), distances(run.result.adversarial, x)
        per_image.append((run, reg_ok, dist))
        rows.append(_mark(_run_row(suite, run, dist, reg_ok, best), run, selftest).as_dict())
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
            row.update(regroup_robust=pct(ok), regroup_robust_ci=ci(ok))
        else:
            dname, grid = budget_grid(get_preset(attack).norm)
            pcts, cis = {}, {}
            for eps in grid:
                ok = torch.stack([r | (d[dname] > eps * (1 + _NORM_TOLERANCE) + _NORM_TOLERANCE)
                                  for _, r, d in items]).all(0)
                pcts[f"{eps:g}"], cis[f"{eps:g}"] = pct(ok), ci(ok)
            row.update(robust_at={"regroup": pcts}, robust_at_ci={"regroup": cis}, robust_at_norm=dname)
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
                     "n": n, "k": k, "epsilon_255": eps_255, "regroup_robust": pct(ok), "regroup_robust_ci": ci(ok),
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
                         "regroup_top1": pct(_correct(p.borda_at(k), y)[s]),
                         "regroup_top1_ci": ci(_correct(p.borda_at(k), y)[s]),
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
                         "n": int(s.sum()), "accuracy": pct(hits[s, j]), "accuracy_ci": ci(hits[s, j])})
    return pd.DataFrame(rows)


def variant_ablation(suite: Suite) -> pd.DataFrame:
    """Fig. 3: REGroup top-1 on #S with pos-only, neg-only and pos+neg voters (the suite's k)."""
    y = suite.test.labels
    rows = []
    for attack, threat, p, s in _runs_and_clean(suite):
        for v in Variant:
            rows.append({"attack": attack, "threat": threat, "variant": v.value, "k": p.k, "n": int(s.sum()),
                         "regroup_top1": pct(_correct(p.borda_at(p.k, v), y)[s]),
                         "regroup_top1_ci": ci(_correct(p.borda_at(p.k, v), y)[s])})
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
                         "n": int(s.sum()), "regroup_top1": pct(_correct(sc, y)[s]),
                         "regroup_top1_ci": ci(_correct(sc, y)[s])})
    return pd.DataFrame(rows)
