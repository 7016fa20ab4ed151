"""Measure each embedded model's L∞ softmax budgets: the smallest ε (0–255 scale, whole numbers) at
which the project's PGD preset, aimed at the undefended softmax, fools ≥ 50 % and ≥ 90 % of the
first ``--n`` test digits that the softmax classifies correctly.

    OMP_NUM_THREADS=1 python -m scripts.measure_budgets --out docs/results/budgets.json

PGD = the ``pgd`` preset (40 steps of 0.01, random start, one restart on the digits not yet fooled)
with ``--steps`` steps (default 100: more than the preset's 40, so the budget is not an artefact of
too few steps; the step count is recorded). A coarse grid (every 8/255) brackets each threshold, then
bisection finds the smallest whole ε inside it. The 90 % budget is checked once more with twice the steps
(it must still fool ≥ 90 %: more steps never make PGD weaker). The numbers feed ``ModelSpec.budgets_255``
(``regroup_core/sources/models.py``); a test checks both agree.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

THRESHOLDS = (0.5, 0.9)


def _fool_rate(bundle, x, y, eps: float, steps: int, seed: int) -> float:
    """Share of the (correctly classified) digits ``x`` whose softmax PGD turns wrong at ε = ``eps``/255."""
    from regroup_core.attacks import run_attack

    result = run_attack(bundle, x, y, "pgd", threat="transfer", epsilon_255=eps, steps=steps, seed=seed)
    return int(result.success.sum()) / len(y)  # exact: a float32 mean makes 90/100 come out below 0.9


def _smallest(rate, lo: int, hi: int, threshold: float) -> int:
    """Smallest whole ε in (lo, hi] with rate(ε) ≥ threshold, given rate(hi) ≥ threshold (bisection:
    PGD's success grows with ε)."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if rate(mid) >= threshold else (mid, hi)
    return hi


def _recorded(path: Path, model: str, n: int, steps: int, seed: int) -> dict[int, float]:
    """The fool rates an earlier run of the same settings recorded for ``model`` (``--resume``): PGD is
    seeded, so they are what a rerun computes; stored as exact counts over the correct digits."""
    if not path.is_file():
        return {}
    for row in json.loads(path.read_text())["models"]:
        if row["model"] == model and (row["digits"], row["steps"], row["seed"]) == (n, steps, seed):
            correct = row["correct"]
            return {int(e): round(r * correct) / correct for e, r in row["fool_rates"].items()}
    return {}


def measure(model: str, n: int, steps: int, seed: int, known: dict[int, float] | None = None) -> dict:
    import torch

    import regroup_core
    from regroup_core.sources.data import resolve_data

    bundle = regroup_core.load_model(model)
    x, y = resolve_data(bundle.spec.test_data, bundle).tensors
    x, y = x[:n], y[:n]
    with torch.no_grad():
        right = bundle.model(x).argmax(1) == y
    x, y = x[right], y[right]
    rates: dict[int, float] = dict(known or {})

    def rate(eps: int) -> float:
        if eps not in rates:
            rates[eps] = _fool_rate(bundle, x, y, float(eps), steps, seed)
            print(f"{model}: ε = {eps}/255 fools {100 * rates[eps]:.0f} % of the softmax", flush=True)
        return rates[eps]

    budgets = {}
    lo = 0
    for threshold in THRESHOLDS:
        hi = lo + 8
        while rate(hi) < threshold:
            if hi >= 255:
                raise SystemExit(f"{model}: PGD never fools {threshold:.0%} of the softmax")
            lo, hi = hi, min(hi + 8, 255)
        budgets[threshold] = _smallest(rate, lo, hi, threshold)
        lo = budgets[threshold] - 1
    top = budgets[THRESHOLDS[-1]]
    check = _fool_rate(bundle, x, y, float(top), 2 * steps, seed)
    return {"model": model, "digits": n, "correct": int(right.sum()), "steps": steps, "seed": seed,
            "budgets_255": {f"{int(100 * t)}%": budgets[t] for t in THRESHOLDS},
            "fool_rate_at_budget": {f"{int(100 * t)}%": rates[budgets[t]] for t in THRESHOLDS},
            "fool_rate_at_90%_budget_with_double_steps": check,
            "fool_rates": {str(e): rates[e] for e in sorted(rates)}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mnist-vgg,mnist-resnet")
    parser.add_argument("--n", type=int, default=100, help="first test digits")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "docs" / "results" / "budgets.json"))
    parser.add_argument("--resume", action="store_true",
                        help="reuse the fool rates --out already records for the same settings (seeded: identical)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    command = "python -m scripts.measure_budgets " + " ".join(sys.argv[1:] if argv is None else argv)
    rows = [{**measure(m, args.n, args.steps, args.seed,
                       _recorded(Path(args.out), m, args.n, args.steps, args.seed) if args.resume else None),
             "made_by": command} for m in args.models.split(",")]
    out_path = Path(args.out)
    if out_path.is_file():  # measuring one model keeps the others' rows
        measured = {r["model"] for r in rows}
        rows = [r for r in json.loads(out_path.read_text())["models"] if r["model"] not in measured] + rows
    out = {"made_by": "each row's made_by (one command can measure every model)",
           "attack": "pgd preset (transfer: aimed at the undefended softmax), L∞",
           "seconds": round(time.perf_counter() - t0, 1), "models": rows}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({r["model"]: r["budgets_255"] for r in rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
