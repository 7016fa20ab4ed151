"""Run the paper's experiments and the robustness evaluation on the embedded models; write docs/results/.

    OMP_NUM_THREADS=1 python -m scripts.paper_suite            # both embedded models (the documented command)
    OMP_NUM_THREADS=1 python -m scripts.paper_suite --models mnist-vgg --n 50 --profile cpu-small
    python -m scripts.paper_suite --models examples/own_model/model.toml --classifier shapes.safetensors \
        --data /tmp/shapes/test --n 30 --headline-n 30        # any model reference, its own classifier and data

For each model: every attack × threat model on ``--n`` test digits at the model's demo budget
(ε = 32/255 for the fixed-budget L∞ attacks on MNIST), with the softmax sanity figure, Wilson
intervals, ties, robust-accuracy curves of the minimisation attacks; the headline (strongest
attack on the undefended softmax vs on REGroup, ``--headline-n`` digits, ε ∈ {8, 16, 32,
76.5}/255); the PGD ε sweep; the paper's ablations. Writes CSV/JSON/markdown under
``results/<model>/`` (gitignored) and the markdown summary to ``docs/results/<model>.md``
(committed, cited by the README). Adversarial examples are cached chunk by chunk in the cache
the CLI and the app share (``--cache``, default ``$REGROUP_CACHE`` or
``~/.cache/regroup-explorer``): rerun the same command after an interruption to resume.

The step counts below are what two shared CPU cores afford, not the paper's (recorded in
every row's settings next to the paper's own values).
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import time
from pathlib import Path

import pandas as pd
import torch


from regroup_core import load_defended, load_model
from regroup_core.attacks import get_preset
from regroup_core.experiments import (
    attack_table,
    clean_summary,
    epsilon_sweep,
    format_attack_table,
    format_robust_curves,
    headline,
    k_ablation,
    layer_accuracy,
    run_suite,
    select_correct,
    timing,
    variant_ablation,
    voting_rules,
)
from regroup_core.experiments.formatting import headline_verdict, with_interval
from regroup_core.store import AdversarialCache

ATTACKS = ["pgd", "apgd-ce", "apgd-t", "deepfool", "cw", "ead", "trust-region", "fmn", "fmn-l2", "pgd-targeted",
           "pgd-hc", "boundary", "hopskipjump", "spatial", "spsa", "square"]

# CPU-affordable settings per profile (attack → run_attack keyword arguments), on top of the presets
# (which already fool >= 90 % of the undefended MNIST softmax, see docs/results/README.md).
PROFILES = {
    "cpu": {
        "cw": {"steps": 50, "binary_search_steps": 4}, "ead": {"steps": 50, "binary_search_steps": 4},
        "trust-region": {"c": 3}, "boundary": {"steps": 100},
        "hopskipjump": {"steps": 5, "max_gradient_eval_steps": 100},
        "spsa": {"steps": 30, "samples": 32, "lr": 0.02},
    },
    "cpu-small": {
        "cw": {"steps": 30, "binary_search_steps": 3}, "ead": {"steps": 30, "binary_search_steps": 3},
        "trust-region": {"c": 3, "steps": 100}, "fmn": {"steps": 50}, "fmn-l2": {"steps": 50},
        "apgd-ce": {"steps": 50}, "apgd-t": {"steps": 25}, "deepfool": {"steps": 50},
        "pgd-targeted": {"epsilon_ladder_255": (16.0, 48.0, 76.5)},
        "pgd-hc": {"epsilon_ladder_255": (16.0, 48.0, 76.5)},
        "boundary": {"steps": 50}, "hopskipjump": {"steps": 3, "max_gradient_eval_steps": 50},
        "spatial": {"num_translations": 5, "num_rotations": 5},
        "spsa": {"steps": 20, "samples": 16, "lr": 0.02}, "square": {"queries": 300},
    },
}
SWEEP_255 = {"cpu": [4, 8, 16, 32, 64, 76.5], "cpu-small": [4, 16, 32, 76.5]}

COUNT_COLUMNS = {"n", "n_success", "steps", "samples", "k"}


def md_table(df: pd.DataFrame, floatfmt: str = "{:.2f}") -> str:
    def cell(column, v):
        if v is None or (isinstance(v, float) and v != v):
            return "–"
        if column in COUNT_COLUMNS and isinstance(v, float) and v.is_integer():
            return str(int(v))  # counts became floats only because other rows hold NaN
        if isinstance(v, (list, tuple)) and len(v) == 2:
            return f"[{v[0]:.1f}, {v[1]:.1f}]"
        return floatfmt.format(v) if isinstance(v, float) else str(v).replace("|", "/")
    head = "| " + " | ".join(str(c) for c in df.columns) + " |\n|" + "---|" * len(df.columns) + "\n"
    return head + "".join("| " + " | ".join(cell(c, v) for c, v in zip(df.columns, row)) + " |\n"
                          for row in df.itertuples(index=False))


def _wide(df: pd.DataFrame, column: str, value: str = "regroup_top1") -> pd.DataFrame:
    """A long ablation table as attack/threat × ``column``, cells ``value [95 % interval]``, #S in ``n``."""
    df = df.assign(cell=with_interval(df, value, f"{value}_ci"))
    wide = df.pivot_table(index=["attack", "threat", "n"], columns=column, values="cell", aggfunc="first", sort=False)
    return wide.reset_index()


def _options(bundle, attacks, profile):
    """The profile's settings, and the model's demo budget for every fixed-budget L∞ attack."""
    options = {}
    for a in attacks:
        opts = dict(PROFILES[profile].get(a, {}))
        if get_preset(a).takes_linf_epsilon and not get_preset(a).grows_epsilon:
            opts.setdefault("epsilon_255", bundle.spec.demo_epsilon_255)
        options[a] = opts
    return options


def _slug(model: str) -> str:
    """A file name for a model reference (``torchvision:x``, a spec path...)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", model).strip("-")[-80:]


def run_model(model: str, args, cache: AdversarialCache, t0: float) -> str:
    bundle = load_model(model, args.weights, device="cpu")
    defended = load_defended(bundle, args.classifier or f"regroup_core/assets/classifiers/{model}.safetensors")
    model = bundle.name  # the canonical reference
    out = args.out / _slug(model)
    out.mkdir(parents=True, exist_ok=True)
    attacks = [a for a in args.attacks.split(",") if a]
    threats = [t for t in args.threats.split(",") if t]
    options = _options(bundle, attacks, args.profile)
    data = args.data or bundle.spec.test_data
    if data is None:
        raise SystemExit(f"error: --data: expected test data for {model} (it names none of its own), got none")
    progress = lambda done, total, msg: print(f"[{time.time() - t0:7.0f}s] {model} {msg}: {done}/{total}",  # noqa: E731
                                              flush=True)
    started = time.time()
    head = headline(bundle, defended, select_correct(bundle, data, args.headline_n, seed=args.seed, defended=defended),
                    seed=args.seed, cache=cache, chunk_size=args.chunk_size, callback=progress)
    test = select_correct(bundle, data, args.n, seed=args.seed, defended=defended)
    suite = run_suite(bundle, defended, test, attacks=attacks, threats=threats, seed=args.seed, cache=cache,
                      chunk_size=args.chunk_size, attack_options=options, callback=progress)
    table = attack_table(suite)
    clean = clean_summary(suite)
    sweep = epsilon_sweep(bundle, defended, test, epsilons_255=SWEEP_255[args.profile], attack="pgd",
                          threats=["transfer", "adaptive"], seed=args.seed, cache=cache, chunk_size=args.chunk_size,
                          callback=progress)
    tables = {"attack_table": table, "headline": head, "epsilon_sweep": sweep, "k_ablation": k_ablation(suite),
              "layer_accuracy": layer_accuracy(suite), "variants": variant_ablation(suite),
              "voting_rules": voting_rules(suite), "timing": timing(bundle, defended, test.images[:100])}
    for name, df in tables.items():
        df.to_csv(out / f"{name}.csv", index=False)
        (out / f"{name}.json").write_text(df.to_json(orient="records", indent=1))
    seconds = round(time.time() - started, 1)
    meta = {"command": " ".join(sys.argv), "clean": clean, "settings": suite.settings, "profile": args.profile,
            "python": platform.python_version(), "torch": torch.__version__, "cpu_threads": torch.get_num_threads(),
            "cache_hits": cache.hits, "cache_misses": cache.misses, "seconds": seconds}
    (out / "summary.json").write_text(json.dumps(meta, indent=1, default=str))

    head_md = head.assign(
        softmax=[f"{r.softmax_robust:.1f} [{r.softmax_robust_ci[0]:.1f}, {r.softmax_robust_ci[1]:.1f}]"
                 for r in head.itertuples()],
        regroup=[f"{r.regroup_robust:.1f} [{r.regroup_robust_ci[0]:.1f}, {r.regroup_robust_ci[1]:.1f}]"
                 for r in head.itertuples()])
    by_attack = pd.DataFrame([{"epsilon_255": r.epsilon_255,
                               **{f"softmax after {k}": v for k, v in r.softmax_by_attack.items()},
                               **{f"REGroup after {k}": v for k, v in r.regroup_by_attack.items()}}
                              for r in head.itertuples()])
    plan = next((json.loads(r)["adaptive"]["runs"] for r, t, a in zip(table.settings, table.threat, table.attack)
                 if t == "adaptive" and a == "pgd" and isinstance(r, str)), [])
    md = [f"# REGroup on {model}: attacks, robustness and ablations\n",
          f"Command: `OMP_NUM_THREADS=1 python -m scripts.paper_suite {' '.join(sys.argv[1:])}` (profile "
          f"`{args.profile}`, seed {args.seed}, CPU, {torch.get_num_threads()} thread(s); this model {seconds} s "
          f"including cache hits). Every accuracy is a percentage with its Wilson 95 % interval in brackets; "
          "a Borda tie (the top count shared by two classes, broken by class index) counts as a REGroup error.\n",
          f"Images: the first {clean['n']} `mnist:test` digits (seeded order) that the softmax classifies correctly "
          f"({args.headline_n} for the headline); on the {clean['n_scanned']} digits scanned, softmax top-1 "
          f"{clean['softmax_top1_all']} %, REGroup top-1 {clean['regroup_top1_all']} % (k = {clean['k']}). On the "
          f"selected digits REGroup top-1 is {clean['regroup_top1']} % {clean['regroup_top1_ci']} with "
          f"{clean['regroup_ties']} tie(s), top-5 {clean['regroup_top5']} %.\n",
          "## Headline: strongest attack on the undefended softmax vs strongest attack on REGroup\n",
          "Same images at every ε. *softmax*: correct after every one of PGD, APGD-CE, APGD-T on the softmax; "
          "*REGroup*: correct after every adaptive attack (adaptive PGD plan, APGD-CE on the surrogate) and every "
          "transfer adversarial. `*_strongest`: the single attack with the lowest accuracy.\n",
          md_table(head_md[["epsilon_255", "n", "softmax", "softmax_strongest", "regroup", "regroup_strongest",
                            "regroup_adaptive_only"]]),
          "\n**Plainly:** " + headline_verdict(json.loads(head.to_json(orient="records"))) + "\n",
          "\nPer attack (% correct):\n", md_table(by_attack, "{:.1f}"),
          f"\n## Every attack and threat model (ε = {bundle.spec.demo_epsilon_255:g}/255 for fixed-budget L∞ "
          "attacks)\n",
          "`softmax fooled %`: the same attack with the same settings on the undefended softmax — the sanity check "
          "(a gradient attack below 90 % is named in the notes below the table, with the reason). `#S`: images "
          "where the attack fooled the "
          "classifier it attacked (the softmax for *transfer*, the exact REGroup for *blackbox* and *adaptive*). "
          "`REGroup top-1 on #S` is the paper's number (as a count k/#S below 20 successes). Bounded attacks give "
          "`robust %` on all n images; minimisation attacks (DeepFool, C&W, EAD, Trust Region, FMN, Boundary, "
          "HopSkipJump, ε-ladder PGD) give curves below instead, and `worst` rows use bounded numbers only. "
          f"Adaptive PGD runs, in order (an image leaves at its first success): {', '.join(plan) or '–'}. "
          "`zero-grad %`: share of attacked images whose surrogate gradient is exactly zero.\n",
          md_table(format_attack_table(table).drop(columns=["sanity"])),
          "\nNotes: " + ("; ".join(f"{r.attack}/{r.threat}: {r.sanity}" for r in table.itertuples()
                                   if isinstance(r.sanity, str) and r.sanity != "ok")
                         or "every attack passed its sanity check")
          + f". Skipped (attack does not fit the threat model): {', '.join(suite.settings['skipped']) or 'none'}.\n",
          "\n### Minimisation attacks: robust accuracy at fixed budgets (softmax / REGroup [95 %])\n",
          "From each image's minimal adversarial: an image is broken at ε when its adversarial is within ε and fools "
          "the classifier (REGroup judged on that adversarial). L∞ on the 0–255 scale, L2 on [0, 1] inputs.\n",
          md_table(format_robust_curves(table)),
          "\n## PGD L∞ ε sweep (Fig. 2), all attacked images\n",
          md_table(sweep[["threat", "epsilon_255", "n_success", "softmax_top1", "softmax_top1_ci", "regroup_top1",
                          "regroup_top1_ci", "regroup_ties", "regroup_top1_on_s"]]),
          "\n## pos / neg / pos+neg voters (Fig. 3), top-1 on #S (n = #S)\n",
          md_table(_wide(tables["variants"], "variant")),
          "\n## Accuracy vs k (Figs. 4/6), top-1 on #S\n",
          md_table(_wide(tables["k_ablation"], "k")),
          "\n## Per-layer vote accuracy (Figs. 4/6), on #S\n",
          md_table(_wide(tables["layer_accuracy"], "depth", "accuracy")),
          "\n## Voting rule on the same 2k voter rankings (beyond the paper), top-1 on #S\n",
          md_table(_wide(tables["voting_rules"], "rule")),
          "\n## Inference time (Table 6), CPU\n", md_table(tables["timing"], "{:.4g}")]
    text = "\n".join(md)
    (out / "summary.md").write_text(text)
    args.docs.mkdir(parents=True, exist_ok=True)
    (args.docs / f"{_slug(model)}.md").write_text(text)
    return text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mnist-vgg,mnist-resnet", help="model references, comma-separated")
    ap.add_argument("--weights", default=None, help="weights of the model (default: its own)")
    ap.add_argument("--classifier", type=Path, default=None,
                    help="fitted classifier file (default: regroup_core/assets/classifiers/<model>.safetensors)")
    ap.add_argument("--data", default=None, help="test data (default: the model's own test split)")
    ap.add_argument("--n", type=int, default=100, help="test digits of the attack suite")
    ap.add_argument("--headline-n", type=int, default=200, help="test digits of the headline")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile", choices=sorted(PROFILES), default="cpu")
    ap.add_argument("--attacks", default=",".join(ATTACKS))
    ap.add_argument("--threats", default="transfer,blackbox,adaptive")
    ap.add_argument("--out", type=Path, default=Path("results"))
    ap.add_argument("--docs", type=Path, default=Path("docs/results"))
    ap.add_argument("--chunk-size", type=int, default=50)
    ap.add_argument("--cache", type=Path, default=None, help="adversarial cache (default: the shared one)")
    args = ap.parse_args()
    t0 = time.time()
    cache = AdversarialCache(args.cache) if args.cache is not None else AdversarialCache.default()
    for model in args.models.split(","):
        print(run_model(model, args, cache, t0))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
