"""Regenerate the attacker-knowledge ladder: the README's ``ladder`` section and docs/results/ladder.md.

    OMP_NUM_THREADS=1 python -m scripts.ladder_results

For each embedded model at two budgets on the first n = 100 test digits of the headline selection
(mnist-vgg: 32/255, the headline's, and 44/255, where PGD fools 90 % of its softmax; mnist-resnet: 16/255 and
21/255, the same two for it; ``--epsilons "mnist-vgg=8,32;mnist-resnet=16"`` chooses others), the rungs of :mod:`regroup_core.experiments.ladder` (the same as
``python -m regroup_core ladder --model M --classifier regroup_core/assets/classifiers/M.safetensors --json``),
through the shared adversarial cache (the headline's runs are reused). The text between the
README's ``ladder`` markers is replaced; nothing else is touched.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from regroup_core import load_defended, load_model
from regroup_core.experiments import select_correct
from regroup_core.experiments.ladder import format_ladder, ladder
from regroup_core.store import AdversarialCache

MODELS = ("mnist-vgg", "mnist-resnet")
BEGIN, END = "<!-- ladder:begin -->", "<!-- ladder:end -->"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--epsilons", default="mnist-vgg=32,44;mnist-resnet=16,21",
                    help="per model: MODEL=E1,E2;MODEL=E3 (L∞ budgets on the 0–255 scale)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--readme", type=Path, default=Path("README.md"))
    ap.add_argument("--out", type=Path, default=Path("docs/results"))
    args = ap.parse_args()
    t0 = time.time()
    cache = AdversarialCache.default()
    epsilons = {name.strip(): [float(e) for e in values.split(",")]
                for name, values in (part.split("=", 1) for part in args.epsilons.split(";") if part.strip())}
    rows, seconds_by_model = [], {}
    for model in (m for m in MODELS if m in epsilons):
        started = time.time()
        bundle = load_model(model, device="cpu")
        defended = load_defended(bundle, f"regroup_core/assets/classifiers/{model}.safetensors")
        test = select_correct(bundle, bundle.spec.test_data, args.n, seed=args.seed, defended=defended)
        rows += ladder(bundle, defended, test, epsilons_255=epsilons[model], cache=cache, seed=args.seed,
                       callback=lambda msg, m=model: print(f"[{time.time() - t0:7.0f}s] {m} {msg}", flush=True))
        seconds_by_model[model] = round(time.time() - started)
    seconds = time.time() - t0
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ladder.json").write_text(json.dumps({"rows": rows, "seconds": round(seconds),
                                                             "seconds_by_model": seconds_by_model,
                                                             "command": "OMP_NUM_THREADS=1 python -m scripts.ladder_results "
                                                                        f"--n {args.n} --epsilons '{args.epsilons}'"},
                                                            indent=1))
    lines = [BEGIN, "", "### What the attacker knows: the ladder", "",
             "Every number here comes from `OMP_NUM_THREADS=1 python -m scripts.ladder_results` (this run: "
             f"{seconds:.0f} s on 2 shared CPU cores, {cache.hits} of {cache.hits + cache.misses} attack chunks from "
             "the shared cache; per model: `python -m regroup_core ladder --model M --classifier "
             "regroup_core/assets/classifiers/M.safetensors --json`). "
             f"The first {args.n} `mnist:test` digits of the headline. Each rung is the per-image worst case over its "
             "own attacks and every rung below it (who knows more can do what the less informed do); the softmax "
             "column is the undefended network under the same kind of attack aimed at it. HopSkipJump (decision "
             "rung) is a minimisation attack run once; a digit counts as fooled at ε when its adversarial is "
             "misclassified and within ε in L∞.", ""]
    lines += format_ladder(rows)
    lines += ["", END]
    (args.out / "ladder.md").write_text("\n".join(lines[2:-1]) + "\n")
    text = args.readme.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"expected the markers {BEGIN} and {END} in {args.readme}, got none")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    args.readme.write_text(head + "\n".join(lines) + tail)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    torch.set_num_threads(1)
    raise SystemExit(main())
