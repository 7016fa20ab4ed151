"""Command line: ``python -m regroup_core {layers,fit,predict,evaluate,estimate} ...``.

Under ``torchrun --nproc_per_node N -m regroup_core fit|evaluate ...`` the work is sharded
over N processes (see :mod:`regroup_core.cli_scale`).

Every user error (bad file, unknown model, mismatched classifier) is one line on stderr and a
non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from .api import DEFAULT_THRESHOLD, fit, load_defended
from .cli_scale import (
    add_estimate_parser,
    add_scale_args,
    estimate_command,
    fill_suite_cache,
    fit_command,
    load_model_in_order,
    wants_scale,
)
from .datasets import default_fit_spec, default_selection_spec
from .distributed import init_from_env, shutdown
from .errors import RegroupError
from .images import open_image
from .persistence import save_classifiers
from .voting import Variant
from .zoo import load_model, model_names


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help=f"one of: {', '.join(model_names())}")
    p.add_argument("--weights", default=None,
                   help="'random', 'imagenet' or a .safetensors/.pth state dict (default: the model's own)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m regroup_core", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("layers", help="list the tapped layers of a model")
    _add_model_args(p)
    p.add_argument("--json", action="store_true", help="print a JSON list")

    p = sub.add_parser("fit", help="fit the layer-wise generative classifiers")
    _add_model_args(p)
    p.add_argument("--out", required=True, type=Path, help="classifier file to write (.safetensors)")
    p.add_argument("--per-class", type=int, default=50, help="fitting samples per class (default 50)")
    p.add_argument("--data", default=None, help="'mnist:train', an ImageFolder directory or a 'path label' "
                   "file list "
                   "(default: the embedded model's train split)")
    p.add_argument("--selection", default=None, help="held-out data for choosing k "
                   "(default: the embedded model's selection split)")
    p.add_argument("--k", type=int, default=None, help="fix k instead of selecting it")
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, help="per-layer accuracy for k")
    p.add_argument("--on-empty", choices=("error", "exclude"), default="error",
                   help="a class without fitting samples: fail (default) or exclude it from votes")
    p.add_argument("--batch-size", type=int, default=64)
    add_scale_args(p)

    add_estimate_parser(sub)

    p = sub.add_parser("predict", help="classify images with softmax and REGroup")
    _add_model_args(p)
    p.add_argument("--classifier", required=True, type=Path, help="fitted classifier file")
    p.add_argument("--k", type=int, default=None, help="highest layers that vote (default: the file's)")
    p.add_argument("--variant", choices=[v.value for v in Variant], default=Variant.BOTH.value)
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per image")
    p.add_argument("images", nargs="+", type=Path)

    p = sub.add_parser("evaluate", help="attack test images and compare softmax with REGroup")
    _add_model_args(p)
    p.add_argument("--classifier", required=True, type=Path, help="fitted classifier file")
    p.add_argument("--attacks", default="pgd", help="comma-separated presets: " + ", ".join(_attack_names()))
    p.add_argument("--threat", default="transfer", choices=["transfer", "blackbox", "adaptive", "all"],
                   help="threat model (attacks that do not fit it are skipped and listed)")
    p.add_argument("--n", "--num-images", dest="n", type=int, default=100,
                   help="correctly classified test images to attack (under torchrun write --num-images: "
                   "torchrun's own parser takes --n for an ambiguous abbreviation of its options)")
    p.add_argument("--data", default=None, help="test data (default: the embedded model's mnist:test)")
    p.add_argument("--out", required=True, type=Path, help="directory for results.csv and results.json")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="override every attack's step count")
    p.add_argument("--epsilon", type=float, default=None, help="override every bounded attack's ε (0-255 scale)")
    p.add_argument("--cache", type=Path, default=None, help="adversarial cache directory (default: OUT/cache)")
    p.add_argument("--chunk-size", type=int, default=50, help="images per cached chunk")
    return parser


def _attack_names() -> list[str]:
    from .attacks.presets import preset_names

    return list(preset_names())


def _layers(args: argparse.Namespace) -> int:
    bundle = load_model(args.model, args.weights, device=args.device)
    rows = [{"name": layer.name, "kind": layer.kind.value, "dim": layer.dim} for layer in bundle.layers]
    if args.json:
        print(json.dumps(rows))
    else:
        for i, row in enumerate(rows):
            print(f"{i:3d}  {row['kind']:4s}  {row['dim']:6d}  {row['name']}")
    return 0


def _fit(args: argparse.Namespace) -> int:
    if wants_scale(args):  # torchrun, image folders/lists, checkpoints, workers or AMP
        return fit_command(args)
    bundle = load_model(args.model, args.weights, device=args.device)
    data = args.data or default_fit_spec(bundle)
    if data is None:
        raise RegroupError(f"expected --data (an ImageFolder directory) for model '{args.model}', got none")
    selection = args.selection or (default_selection_spec(bundle) if args.data is None else None)
    classifiers = fit(bundle, data, per_class=args.per_class, selection=selection, threshold=args.threshold,
                      k=args.k, on_empty=args.on_empty, batch_size=args.batch_size, progress=True)
    save_classifiers(classifiers, args.out)
    counts = classifiers.class_count
    print(f"wrote {args.out}: {len(classifiers.layers)} layers, {classifiers.num_classes} classes, "
          f"{int(counts.sum())} samples ({int(counts.min())}..{int(counts.max())} per class), k={classifiers.k}")
    if classifiers.excluded:
        print(f"excluded classes (no fitting sample): {list(classifiers.excluded)}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    bundle = load_model(args.model, args.weights, device=args.device)
    defended = load_defended(bundle, args.classifier)
    failed = 0
    images, names = [], []
    for path in args.images:
        try:
            images.append(bundle.preprocess(open_image(path)))
            names.append(str(path))
        except RegroupError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
    results = []
    if images:
        pred = defended.predict(torch.stack(images), k=args.k, variant=args.variant, scope="all")
        soft_idx, soft_p = pred.softmax_top(5)
        reg_idx, reg_b = pred.regroup_top(5)
        cls = bundle.class_names
        for i, name in enumerate(names):
            results.append({
                "image": name,
                "softmax_top5": [[cls[c], round(float(p), 6)] for c, p in zip(soft_idx[i], soft_p[i])],
                "regroup_top5": [[cls[c], int(b)] for c, b in zip(reg_idx[i], reg_b[i])],
                "k": pred.k,
                "borda": pred.borda[i].tolist(),
                "layers": [{"name": layer.name, "pos_ranks": pred.pos_ranks[i, j].tolist(),
                            "neg_ranks": pred.neg_ranks[i, j].tolist()} for j, layer in enumerate(pred.layers)],
            })
    if args.json:
        print(json.dumps(results))
    else:
        for r in results:
            soft = ", ".join(f"{c} {p:.3f}" for c, p in r["softmax_top5"])
            reg = ", ".join(f"{c} {b}" for c, b in r["regroup_top5"])
            print(f"{r['image']}\n  softmax top-5: {soft}\n  REGroup top-5 (k={r['k']}, Borda): {reg}")
    return 1 if failed else 0


def _evaluate(args: argparse.Namespace) -> int:
    from .attacks.presets import get_preset
    from .datasets import default_test_spec
    from .experiments import AdversarialCache, attack_table, clean_summary, run_suite, select_correct
    from .persistence import atomic_write

    ctx = init_from_env(args.device)  # under torchrun: join the group, this rank's device
    bundle = load_model_in_order(args, ctx)
    defended = load_defended(bundle, args.classifier)
    attacks = [a.strip() for a in args.attacks.split(",") if a.strip()]
    if not attacks:
        raise RegroupError("expected at least one attack in --attacks, got none")
    options: dict[str, dict] = {}
    for a in attacks:
        preset = get_preset(a)  # unknown names: one-line error before any work
        opts: dict = {}
        if args.steps is not None and "steps" in preset.params:
            opts["steps"] = args.steps
        if args.epsilon is not None and preset.name != "spatial":
            opts["epsilon_255"] = args.epsilon
        options[a] = opts
    data = args.data or default_test_spec(bundle)
    if data is None:
        raise RegroupError(f"expected --data (an ImageFolder directory) for model '{args.model}', got none")
    threats = ["transfer", "blackbox", "adaptive"] if args.threat == "all" else [args.threat]
    cache = AdversarialCache(args.cache or args.out / "cache")
    test = select_correct(bundle, data, args.n, seed=args.seed, defended=defended)
    if ctx.distributed:  # each rank attacks its chunks into the shared cache; rank 0 assembles
        fill_suite_cache(bundle, defended, test, attacks=attacks, threats=threats, seed=args.seed, cache=cache,
                         chunk_size=args.chunk_size, attack_options=options)
        if not ctx.is_main:
            return 0
    suite = run_suite(bundle, defended, test, attacks=attacks, threats=threats, seed=args.seed, cache=cache,
                      chunk_size=args.chunk_size, attack_options=options, progress=not args.json)
    table = attack_table(suite)
    clean = clean_summary(suite)
    settings = {**suite.settings, "classifier": str(args.classifier), "cache": str(cache.root),
                "cache_hits": cache.hits, "cache_misses": cache.misses}
    rows = json.loads(table.to_json(orient="records"))
    for row in rows:
        if row.get("settings"):
            row["settings"] = json.loads(row["settings"])
    payload = {"rows": rows, "clean": clean, "settings": settings}
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out / "results.csv", lambda tmp: table.to_csv(tmp, index=False))
    atomic_write(args.out / "results.json", lambda tmp: Path(tmp).write_text(json.dumps(payload, indent=1, default=str)))
    if args.json:
        print(json.dumps(payload, default=str))
        return 0
    cols = ["attack", "threat", "n_success", "softmax_top1", "regroup_top1", "regroup_top5", "regroup_robust",
            "median_l2", "median_linf"]
    print(table[cols].to_string(index=False, na_rep="-"))
    print(f"clean ({clean['n']} correctly classified images): softmax {clean['softmax_top1']} %, "
          f"REGroup top-1 {clean['regroup_top1']} %, top-5 {clean['regroup_top5']} %")
    if suite.settings["skipped"]:
        print(f"skipped (attack does not fit the threat model): {', '.join(suite.settings['skipped'])}")
    print(f"cache {cache.root}: {cache.hits} hits, {cache.misses} misses; wrote {args.out / 'results.csv'} "
          f"and {args.out / 'results.json'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handlers = {"layers": _layers, "fit": _fit, "predict": _predict, "evaluate": _evaluate,
                "estimate": estimate_command}
    try:
        return handlers[args.command](args)
    except RegroupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. --out in a read-only or full directory: one line, no traceback
        print(f"error: {exc.strerror or exc} ({exc.filename or 'file system'})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        shutdown()  # leave torchrun's process group, if one was joined
