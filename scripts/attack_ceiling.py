"""Is the adaptive plan the strongest attack we have? Every attack on REGroup, the same images.

    OMP_NUM_THREADS=1 python -m scripts.attack_ceiling --model mnist-vgg --epsilon 32 --n 100 \
        [--reference docs/results/reference-mnist-vgg.json]

Runs, through the shared adversarial cache, every attack that can aim at REGroup within the L∞
budget on the first ``n`` test digits of the headline selection: the adaptive plan (``pgd``
adaptive: the acceptance command's attack), APGD-CE and AutoAttack on the surrogate, the
feature-space attacks, Square on the exact vote (blackbox), and the transfer adversarials of PGD,
APGD-CE, APGD-T and AutoAttack; optionally the per-image outcome of
``scripts/reference_adaptive_pgd.py --masks``. Prints REGroup's robust accuracy under each, the
strongest single attack, the per-image worst case over all of them, and whether the plan is
within 1 point of the strongest; writes ``docs/results/ceiling-<model>-<ε>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from regroup_core import load_defended, load_model
from regroup_core.experiments import select_correct
from regroup_core.experiments.intervals import wilson_interval
from regroup_core.attacks.cached import cached_attack
from regroup_core.run.evaluate import predict_all
from regroup_core.store import AdversarialCache

PLAN = ("pgd", "adaptive")
ATTACKS = (PLAN, ("apgd-ce", "adaptive"), ("pmf-match", "adaptive"), ("pmf-match-softmax", "adaptive"),
           ("square", "blackbox"), ("pgd", "transfer"), ("apgd-ce", "transfer"), ("apgd-t", "transfer"),
           ("autoattack", "transfer"), ("autoattack", "adaptive"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--epsilon", type=float, required=True, help="L∞ budget on the 0–255 scale")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--attacks", default=None, help="comma-separated attack/threat pairs (default: all of them)")
    ap.add_argument("--reference", type=Path, default=None, help="per-image outcome of reference_adaptive_pgd.py")
    ap.add_argument("--out", type=Path, default=Path("docs/results"))
    args = ap.parse_args()
    t0 = time.time()
    bundle = load_model(args.model, device="cpu")
    defended = load_defended(bundle, f"regroup_core/assets/classifiers/{args.model}.safetensors")
    test = select_correct(bundle, bundle.spec.test_data, args.n, seed=args.seed, defended=defended)
    cache = AdversarialCache.default()
    jobs = ATTACKS if args.attacks is None else tuple(tuple(a.split("/")) for a in args.attacks.split(","))
    robust: dict[str, torch.Tensor] = {}
    softmax: dict[str, torch.Tensor] = {}  # transfer attacks: the undefended softmax's own robustness
    seconds: dict[str, float] = {}
    for attack, threat in jobs:
        result = cached_attack(bundle, test.images, test.labels, attack, ids=test.ids, threat=threat,
                               defended=defended, cache=cache, seed=args.seed, epsilon_255=args.epsilon)
        pred = predict_all(defended, result.adversarial)
        robust[f"{attack}/{threat}"] = pred.regroup_correct(test.labels)
        if threat == "transfer":
            softmax[f"{attack}/{threat}"] = pred.softmax_labels == test.labels
        seconds[f"{attack}/{threat}"] = round(result.elapsed, 1)  # the attack's own time, stored with cached chunks
        print(f"[{time.time() - t0:6.0f}s] {attack}/{threat}: REGroup robust {int(robust[f'{attack}/{threat}'].sum())}"
              f"/{len(test.labels)}", flush=True)
    if args.reference is not None:
        ref = json.loads(args.reference.read_text())
        ref = ref.get(args.model, ref)  # the reference script writes {model: outcome}
        if list(ref["ids"][: len(test.ids)]) != [int(i) for i in test.ids] or ref.get("epsilon_255") != args.epsilon:
            raise SystemExit("the reference masks are for other images or another ε")
        robust["reference (scripts/reference_adaptive_pgd.py)"] = torch.tensor(ref["robust"][: len(test.ids)])
    n = len(test.labels)
    worst = torch.stack(list(robust.values())).all(0)
    strongest = min(robust, key=lambda k: int(robust[k].sum()))
    plan = "/".join(PLAN)
    rows = []
    aa = "autoattack/transfer"
    for name, mask in robust.items():
        lo, hi = wilson_interval(int(mask.sum()), n)
        beyond = None if plan not in robust else int((robust[plan] & ~mask).sum())
        rows.append({"attack": name, "robust": 100 * float(mask.float().mean()), "ci": [100 * lo, 100 * hi],
                     "seconds": seconds.get(name), "fools_where_the_plan_did_not": beyond,
                     "softmax_robust": None if name not in softmax else 100 * float(softmax[name].float().mean()),
                     "softmax_fools_where_autoattack_did_not": None if name not in softmax or aa not in softmax
                     else int((softmax[aa] & ~softmax[name]).sum())})
    lo, hi = wilson_interval(int(worst.sum()), n)
    soft_worst = torch.stack(list(softmax.values())).all(0) if softmax else None
    summary = {"softmax_worst_case": None if soft_worst is None else 100 * float(soft_worst.float().mean()),
               "model": args.model, "epsilon_255": args.epsilon, "n": n, "rows": rows, "strongest": strongest,
               "worst_case": 100 * float(worst.float().mean()), "worst_case_ci": [100 * lo, 100 * hi],
               "plan": 100 * float(robust[plan].float().mean()) if plan in robust else None,
               "seconds": round(time.time() - t0, 1)}
    if summary["plan"] is not None:
        best = 100 * float(robust[strongest].float().mean())
        summary["plan_within_1_point_of_strongest"] = summary["plan"] <= best + 1
    _write(args, summary)
    return 0


def _blank(value: object) -> str:
    return "" if value is None else str(value)


def _write(args: argparse.Namespace, s: dict) -> None:
    stem = args.out / f"ceiling-{args.model}-{args.epsilon:g}"
    args.out.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(s, indent=1))
    lines = [f"# Every attack on REGroup: {s['model']}, ε = {s['epsilon_255']:g}/255, n = {s['n']}", "",
             f"Command: `OMP_NUM_THREADS=1 python -m scripts.attack_ceiling {' '.join(sys.argv[1:])}` "
             f"({s['seconds']:.0f} s on 2 shared CPU cores, cached attacks included).", "",
             "| attack / threat model | REGroup robust % [Wilson 95 %] | images it fools that the plan does not | "
             "softmax robust % (transfer attacks aim at it) | softmax images it fools that AutoAttack does not | "
             "attack's own seconds (when computed, 2 shared cores) |", "|---|---|---|---|---|---|"]
    for r in s["rows"]:
        beyond = r["fools_where_the_plan_did_not"]
        lines.append(f"| {r['attack']} | {r['robust']:.1f} [{r['ci'][0]:.1f}, {r['ci'][1]:.1f}] | "
                     f"{'' if beyond is None else beyond} | "
                     f"{'' if r['softmax_robust'] is None else format(r['softmax_robust'], '.1f')} | "
                     f"{_blank(r['softmax_fools_where_autoattack_did_not'])} | "
                     f"{'' if r['seconds'] is None else r['seconds']} |")
    lines += ["", f"Strongest single attack: **{s['strongest']}**. Per-image worst case over all of them: "
              f"**{s['worst_case']:.1f}** [{s['worst_case_ci'][0]:.1f}, {s['worst_case_ci'][1]:.1f}]."]
    if s.get("softmax_worst_case") is not None:
        lines.append(f"Undefended softmax, worst case over the transfer attacks: {s['softmax_worst_case']:.1f} %.")
    if s.get("plan") is not None:
        lines.append(f"The adaptive plan (the acceptance command's attack) leaves {s['plan']:.1f} %: "
                     + ("within 1 point of the strongest attack." if s["plan_within_1_point_of_strongest"]
                        else "**more than 1 point above the strongest attack: the plan is too weak.**"))
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    torch.set_num_threads(1)
    raise SystemExit(main())
