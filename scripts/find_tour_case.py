"""Find the Tour's curated case: a test digit where a transfer attack fools the softmax while
REGroup holds (outright, not a tie), and the same attack aimed at REGroup (adaptive) makes it fall
(REGroup no longer names the true class: wrong, or a tie — the project counts a tie as an error).

    python -m scripts.find_tour_case --model mnist-vgg --attack pgd --epsilon 32 \
        --out regroup_core/assets/tour/mnist-vgg.json

How it searches (every number is recorded in the output file):

1. Every digit of the model's test split that softmax and REGroup both classify correctly, REGroup
   outright (no Borda tie).
2. A quick screen: the transfer attack on all of them in batches (``run_attack``); keep those where
   the attack fooled the softmax and REGroup still names the true class outright.
3. The candidates, best REGroup margin first (Borda points of the true class minus the best other
   class), are confirmed one by one through exactly the call the app makes
   (:func:`regroup_core.experiments.cached_attack`, one image per chunk, the given seed): the transfer
   attack must still fool the softmax with REGroup holding by at least ``--min-margin`` points, and
   the adaptive attack (the same preset with the same budget and seed, white-box on REGroup's
   surrogate) must make REGroup stop naming the true class (wrong, or a Borda tie: the adaptive
   attack keeps its first iterate where the vote no longer names the true class outright, so it
   often ends on a tie). The first ``--pick`` such digits are
   written out; the Tour shows the first.

Same preset, same ε, same seed in both steps: the only difference between "REGroup holds" and
"REGroup falls" is which classifier the attacker aims at.

The Tour recomputes every step live (through the shared adversarial cache) and states what the
attacks found, so a stronger adaptive attack only makes its step more certain.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path



def _margin(borda, label: int) -> int:
    """Borda points of ``label`` minus the best other class (> 0: REGroup names it outright)."""
    others = borda.clone()
    others[label] = -1
    return int(borda[label] - others.max())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mnist-vgg")
    parser.add_argument("--attack", default="pgd", help="a gradient attack preset (both threat models)")
    parser.add_argument("--epsilon", type=float, default=None,
                        help="L∞ budget on the 0–255 scale (default: preset)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=1000, help="test digits to scan")
    parser.add_argument("--confirm", type=int, default=30, help="candidates to confirm with the app's call")
    parser.add_argument("--min-margin", type=int, default=4, help="REGroup's Borda lead on the transfer image")
    parser.add_argument("--pick", type=int, default=3)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    import torch

    import regroup_core
    from regroup_core.attacks import run_attack
    from regroup_core.experiments import cached_attack
    from regroup_core.sources.assets import asset_path
    from regroup_core.sources.data import resolve_data
    from regroup_core.store import AdversarialCache, classifier_digest

    torch.set_num_threads(1)
    bundle = regroup_core.load_model(args.model)
    classifier = asset_path("classifiers", f"{args.model}.safetensors")
    defended = regroup_core.load_defended(bundle, classifier)
    spec = bundle.spec.test_data
    if spec is None:
        parser.error(f"{args.model} ships no test data")
    x, y = resolve_data(spec, bundle).tensors
    x, y = x[:args.limit], y[:args.limit]
    t0 = time.perf_counter()

    clean = defended.predict(x)
    ok = (clean.softmax_labels == y) & clean.regroup_correct(y)
    idx = ok.nonzero().squeeze(1)
    print(f"{len(idx)} of {len(y)} digits: softmax right and REGroup right outright", flush=True)

    options = {} if args.epsilon is None else {"epsilon_255": args.epsilon}
    screen = run_attack(bundle, x[idx], y[idx], args.attack, threat="transfer", seed=args.seed, batch_size=128,
                        **options)
    adv = defended.predict(screen.adversarial)
    holds = screen.success & adv.regroup_correct(y[idx])
    margins = [_margin(adv.borda[j], int(y[idx[j]])) for j in range(len(idx))]
    candidates = sorted((int(j) for j in holds.nonzero().squeeze(1)), key=lambda j: -margins[j])
    print(f"screen: {int(screen.success.sum())} fooled softmax, REGroup held on {len(candidates)}", flush=True)

    picked, confirmed = [], []
    with tempfile.TemporaryDirectory() as tmp:
        cache = AdversarialCache(tmp)
        for j in candidates[:args.confirm]:
            i = int(idx[j])
            image, label = x[i:i + 1], y[i:i + 1]
            transfer = cached_attack(bundle, image, label, args.attack, threat="transfer", cache=cache, chunk_size=1,
                                     seed=args.seed, **options)
            tp = defended.predict(transfer.adversarial)
            t_margin = _margin(tp.borda[0], int(label))
            adaptive = cached_attack(bundle, image, label, args.attack, threat="adaptive", defended=defended,
                                     cache=cache, chunk_size=1, seed=args.seed, **options)
            ap = defended.predict(adaptive.adversarial)
            row = {
                "image": f"{spec}:{i}", "label": int(label),
                "transfer_fools_softmax": bool(tp.softmax_labels[0] != label[0]),
                "transfer_softmax": int(tp.softmax_labels[0]), "transfer_regroup_margin": t_margin,
                "transfer_linf_255": round(255 * float((transfer.adversarial - image).abs().max()), 2),
                "transfer_l2": round(float((transfer.adversarial - image).flatten().norm()), 3),
                "adaptive_regroup": int(ap.regroup_labels[0]), "adaptive_regroup_tied": bool(ap.regroup_tied[0]),
                "adaptive_regroup_right": bool(ap.regroup_correct(label)[0]),
                "adaptive_linf_255": round(255 * float((adaptive.adversarial - image).abs().max()), 2),
                "adaptive_l2": round(float((adaptive.adversarial - image).flatten().norm()), 3),
            }
            confirmed.append(row)
            good = row["transfer_fools_softmax"] and t_margin >= args.min_margin and not row["adaptive_regroup_right"]
            print(("PICK " if good else "     ") + json.dumps(row), flush=True)
            if good:
                picked.append(row)
                if len(picked) >= args.pick:
                    break

    record = {
        "model": args.model, "classifier": classifier.name, "classifier_hash": classifier_digest(defended.classifiers),
        "attack": args.attack, "epsilon_255": args.epsilon, "steps": None, "seed": args.seed,
        "found_by": "python -m scripts.find_tour_case " + " ".join(argv if argv is not None else sys.argv[1:]),
        "criteria": {"clean": "softmax right and REGroup right outright (no tie)",
                     "transfer": f"fools softmax; REGroup right outright by >= {args.min_margin} Borda points",
                     "adaptive": "the same preset, budget and seed aimed at REGroup (adaptive) makes REGroup stop "
                                 "naming the true class (wrong, or a Borda tie, which counts as an error)"},
        "search": {"scanned": len(y), "clean_ok": len(idx), "screen_fooled_softmax": int(screen.success.sum()),
                   "screen_regroup_held": len(candidates), "confirmed": len(confirmed),
                   "seconds": round(time.perf_counter() - t0, 1)},
        "cases": picked, "confirmed": confirmed,
    }
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {out}")
    if not picked:
        print("no case met every criterion", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
