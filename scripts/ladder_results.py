"""Regenerate the attacker-knowledge ladder: the README's ``ladder`` section and docs/results/ladder.md.

    OMP_NUM_THREADS=1 python -m scripts.ladder_results

For each embedded model at two budgets on the first n = 100 test digits of the headline selection
(mnist-vgg: 32/255, the headline's, and 44/255, where PGD fools 90 % of its softmax; mnist-resnet: 16/255 and
21/255, the same two for it; ``--epsilons "mnist-vgg=8,32;mnist-resnet=16"`` chooses others), the rungs
of :mod:`regroup_core.experiments.ladder` (the same as
``python -m regroup_core ladder --model M --classifier regroup_core/assets/classifiers/M.safetensors --json``),
through the shared adversarial cache (the headline's runs are reused). The text between the
README's ``ladder`` markers is replaced; nothing else is touched. The rows also go into the package
(``regroup_core/assets/app-results/ladder.json``, with each model's weights fingerprint and classifier
digest), where the app's Benchmark page finds them offline.

    python -m scripts.ladder_results --ship-only docs/results/ladder.json

only writes that packaged copy from a finished run's file (nothing is rerun; the README is left alone).
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
from regroup_core.experiments.ladder_file import SHIPPED_NAME, check_rows
from regroup_core.experiments.markers import replace_marked
from regroup_core.store import AdversarialCache, classifier_digest

MODELS = ("mnist-vgg", "mnist-resnet")
SECTION = "ladder"  # the README markers <!-- ladder:begin/end -->
SHIPPED = Path("regroup_core/assets/app-results") / SHIPPED_NAME


def _classifier(model: str) -> str:
    return f"regroup_core/assets/classifiers/{model}.safetensors"


def _parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--epsilons", default="mnist-vgg=32,44;mnist-resnet=16,21",
                    help="per model: MODEL=E1,E2;MODEL=E3 (L∞ budgets on the 0–255 scale)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--readme", type=Path, default=Path("README.md"))
    ap.add_argument("--out", type=Path, default=Path("docs/results"))
    ap.add_argument("--shipped", type=Path, default=SHIPPED, help="the copy shipped in the package")
    ap.add_argument("--costs-from", type=Path, nargs="*", default=[], metavar="LADDER_JSON",
                    help="ladder.json files of the earlier runs of this script that filled the cache from empty: "
                         "their per-model seconds, added up, are recorded as the ladder's cost (a rerun on a "
                         "filled cache costs little)")
    ap.add_argument("--ship-only", type=Path, default=None, metavar="LADDER_JSON",
                    help="only write the packaged copy of this finished run's ladder.json (nothing rerun)")
    return ap.parse_args()


def _run(args: argparse.Namespace, cache: AdversarialCache, t0: float) -> dict:
    """The ladder of every model in ``--epsilons``: the record docs/results/ladder.json holds."""
    epsilons = {name.strip(): [float(e) for e in values.split(",")]
                for name, values in (part.split("=", 1) for part in args.epsilons.split(";") if part.strip())}
    rows, seconds_by_model = [], {}
    for model in (m for m in MODELS if m in epsilons):
        started = time.time()
        bundle = load_model(model, device="cpu")
        defended = load_defended(bundle, _classifier(model))
        test = select_correct(bundle, bundle.spec.test_data, args.n, seed=args.seed, defended=defended)
        rows += ladder(bundle, defended, test, epsilons_255=epsilons[model], cache=cache, seed=args.seed,
                       callback=lambda msg, m=model: print(f"[{time.time() - t0:7.0f}s] {m} {msg}", flush=True))
        seconds_by_model[model] = round(time.time() - started)
    return {"rows": rows, "seconds": round(time.time() - t0), "seconds_by_model": seconds_by_model,
            "command": f"OMP_NUM_THREADS=1 python -m scripts.ladder_results --n {args.n} --epsilons '{args.epsilons}'"}


def _costs(paths: list[Path]) -> dict[str, float]:
    """model → seconds of the earlier runs (``--costs-from``): what the ladder costs on an empty cache."""
    costs: dict[str, float] = {}
    for path in paths:  # runs that each filled part of the cache: their costs add up
        for model, seconds in json.loads(path.read_text()).get("seconds_by_model", {}).items():
            costs[model] = costs.get(model, 0) + seconds
    return costs


def _cost_text(record: dict) -> str:
    costs = record.get("empty_cache_seconds") or {}
    if not costs:
        return ""
    each = ", ".join(f"{model} {seconds:,.0f} s".replace(",", " ") for model, seconds in costs.items())
    return (f" On an empty cache the ladder costs {each} (wall clock of one-thread processes, the two models side "
            "by side on the project's 2-core machine with colleagues' tests running; the sum of the runs that filled "
            "the cache); about three quarters of it is HopSkipJump's label queries (the decision rung, L2 and L∞).")


def ship(record: dict, path: Path) -> dict:
    """Write the packaged copy of ``record`` to ``path``: its rows checked, and per model the weights
    fingerprint and classifier digest the rows were made with (the app shows a ladder only for those)."""
    rows = list(check_rows(record.get("rows")))
    models = {}
    for model in sorted({r["model"] for r in rows}):
        bundle = load_model(model, device="cpu")
        defended = load_defended(bundle, _classifier(model))
        models[model] = {"fingerprint": bundle.fingerprint, "classifier": classifier_digest(defended.classifiers)}
    shipped = {**{k: record[k] for k in ("seconds", "seconds_by_model", "command", "empty_cache_seconds")
                  if k in record},
               "models": models, "rows": rows}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(shipped, indent=1) + "\n")
    return shipped


def _readme_lines(record: dict, cache: AdversarialCache, n: int) -> list[str]:
    lines = ["", "### What the attacker knows: the ladder", "",
             "Every number here comes from `OMP_NUM_THREADS=1 python -m scripts.ladder_results` (this run: "
             f"{record['seconds']:.0f} s on 2 shared CPU cores, {cache.hits} of {cache.hits + cache.misses} attack "
             "chunks from the shared cache; per model: `python -m regroup_core ladder --model M --classifier "
             "regroup_core/assets/classifiers/M.safetensors --json`). "
             f"The first {n} `mnist:test` digits of the headline. Each rung is the per-image worst case over its "
             "own attacks and every rung below it (who knows more can do what the less informed do); the softmax "
             "column is the undefended network under the same kind of attack aimed at it. HopSkipJump (decision "
             "rung) is a minimisation attack run once; a digit counts as fooled at ε when its adversarial is "
             f"misclassified and within ε in L∞.{_cost_text(record)}", ""]
    return lines + format_ladder(record["rows"]) + [""]


def main() -> int:
    args = _parse()
    if args.ship_only is not None:
        ship(json.loads(args.ship_only.read_text()), args.shipped)
        print(f"wrote {args.shipped}")
        return 0
    t0 = time.time()
    cache = AdversarialCache.default()
    record = _run(args, cache, t0)
    record["empty_cache_seconds"] = _costs(args.costs_from)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ladder.json").write_text(json.dumps(record, indent=1))
    ship(record, args.shipped)
    lines = _readme_lines(record, cache, args.n)
    (args.out / "ladder.md").write_text("\n".join(lines[1:-1]) + "\n")
    replace_marked(args.readme, SECTION, lines)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    torch.set_num_threads(1)
    raise SystemExit(main())
