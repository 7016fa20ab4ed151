"""The scalable paths of the CLI: ``fit`` (torchrun, image folders, file lists, checkpoints,
AMP), ``evaluate`` under torchrun, and ``estimate``.

``python -m regroup_core fit`` takes this path when it runs under torchrun (``WORLD_SIZE`` >
1), when ``--data`` is an image folder or file list, or when ``--checkpoint``, ``--workers``
or ``--amp`` is given; the embedded MNIST default keeps the one-process path of
:func:`regroup_core.api.fit` (both give the same classifiers on the same data order).
Every rank computes; rank 0 alone prints, shows progress and writes the output file.

``evaluate`` under torchrun (:func:`fill_suite_cache`): every rank selects the same test
images, attacks the chunks it owns (chunk c goes to rank ``c % N``) into the shared
adversarial cache, and waits for the others; rank 0 then runs the suite, whose every chunk is
now a cache hit (same keys, same per-chunk seeds as a one-process run), and writes the tables.
"""

from __future__ import annotations

import argparse

from .api import DEFAULT_K
from .datasets import default_fit_spec, default_selection_spec
from .distributed import DistContext, barrier, env_world_size, init_from_env, shutdown
from .errors import RegroupError
from .persistence import save_classifiers
from .precision import Precision
from .regroup import REGroup, select_k
from .sharded import fit_candidates, fit_sharded, layer_accuracy_distributed
from .zoo import ModelBundle, load_model

__all__ = ["add_estimate_parser", "add_scale_args", "estimate_command", "fill_suite_cache", "fit_command",
           "load_model_in_order", "wants_scale"]


def add_scale_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes per rank (default 0)")
    p.add_argument("--amp", choices=[v.value for v in Precision], default=Precision.OFF.value,
                   help="mixed precision for the forward pass: bf16 (CPU/CUDA) or fp16 (CUDA); default off")
    p.add_argument("--checkpoint", default=None,
                   help="directory for per-rank checkpoints; rerunning the same command resumes a killed run")
    p.add_argument("--checkpoint-every", type=int, default=50, help="steps between checkpoints (default 50)")
    p.add_argument("--seed", type=int, default=0, help="seed of the per-class draw from an image folder/list")


def wants_scale(args: argparse.Namespace) -> bool:
    data = args.data or ""
    return (env_world_size() > 1 or args.checkpoint is not None or args.workers > 0
            or args.amp != Precision.OFF.value or (bool(data) and not data.startswith("mnist:")))


def load_model_in_order(args: argparse.Namespace, ctx: DistContext) -> ModelBundle:
    """``load_model`` on this rank's device; rank 0 first, so that it alone downloads weights."""
    if not ctx.is_main:
        barrier()
    bundle = load_model(args.model, args.weights, device=ctx.device)
    if ctx.is_main:
        barrier()
    return bundle


def fill_suite_cache(bundle: ModelBundle, defended: REGroup, test, *, attacks: list[str], threats: list[str],
                     seed: int, cache, chunk_size: int, attack_options: dict[str, dict]) -> None:
    """Attack this rank's chunks of every applicable (attack, threat) pair into ``cache``, then
    wait for every rank (collective). Mirrors :func:`regroup_core.experiments.run_suite`."""
    from .attacks.presets import get_preset
    from .attacks.runner import applicable
    from .attacks.threats import ThreatModel
    from .distributed import rank_owns
    from .experiments.suite import cached_attack

    for attack in attacks:
        for threat in (ThreatModel(t) for t in threats):
            if applicable(get_preset(attack), threat):
                cached_attack(bundle, test.images, test.labels, attack, ids=test.ids, threat=threat,
                              defended=defended, cache=cache, chunk_size=chunk_size, seed=seed, owned=rank_owns,
                              **dict(attack_options.get(attack, {})))
    barrier()


def fit_command(args: argparse.Namespace) -> int:
    ctx = init_from_env(args.device)
    try:
        bundle = load_model_in_order(args, ctx)
        data = args.data or default_fit_spec(bundle)
        if data is None:
            raise RegroupError(f"expected --data (an ImageFolder directory or file list) for model "
                               f"'{args.model}', got none")
        selection = args.selection or (default_selection_spec(bundle) if args.data is None else None)
        candidates = fit_candidates(data, bundle, seed=args.seed)
        run = fit_sharded(bundle, candidates, per_class=args.per_class, batch_size=args.batch_size,
                          workers=args.workers, amp=args.amp, checkpoint=args.checkpoint,
                          checkpoint_every=args.checkpoint_every, progress=ctx.is_main)
        classifiers = run.stats.to_classifiers(
            class_names=bundle.class_names, model_id=bundle.name, fingerprint=bundle.fingerprint,
            per_class=args.per_class, k=min(args.k or DEFAULT_K, len(bundle.layers)), on_empty=args.on_empty,
            info={"fit_data": candidates.description, "processes": ctx.world_size,
                  "images_read": run.images_read, "unreadable": run.unreadable, "candidates": run.candidates, "amp": args.amp})
        if args.k is None and selection is not None:
            accuracy, n = layer_accuracy_distributed(REGroup(bundle.model, classifiers), selection, bundle,
                                                     batch_size=args.batch_size, workers=args.workers,
                                                     amp=args.amp, progress=ctx.is_main)
            classifiers = classifiers.with_k(select_k(accuracy, args.threshold), k_selection={
                "data": str(selection), "threshold": args.threshold, "samples": n,
                "layer_accuracy": [round(float(a), 6) for a in accuracy]})
        if ctx.is_main:
            save_classifiers(classifiers, args.out)
            counts = classifiers.class_count
            print(f"wrote {args.out}: {len(classifiers.layers)} layers, {classifiers.num_classes} classes, "
                  f"{int(counts.sum())} samples ({int(counts.min())}..{int(counts.max())} per class), "
                  f"k={classifiers.k}; {ctx.world_size} process(es) read {run.images_read} of "
                  f"{run.candidates} candidates")
            if run.unreadable:
                print(f"skipped {run.unreadable} unreadable image(s) (see the warnings above)")
            if classifiers.excluded:
                print(f"excluded classes (no fitting sample): {list(classifiers.excluded)}")
        barrier()
        return 0
    finally:
        shutdown()


def add_estimate_parser(sub) -> None:
    p = sub.add_parser("estimate", help="project time and memory of a full ImageNet fit and evaluation")
    p.add_argument("--model", required=True, help="model name (see 'layers')")
    p.add_argument("--weights", default="random", help="weights to load (default 'random': timing does not "
                   "depend on them)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--batches", type=int, default=3, help="timed batches per path (after one warm-up)")
    p.add_argument("--amp", choices=[v.value for v in Precision], default=Precision.OFF.value)
    p.add_argument("--per-class", type=int, default=50)
    p.add_argument("--accuracy", type=float, default=None,
                   help="fraction of candidates classified correctly (default: the model's ImageNet top-1)")
    p.add_argument("--workers", type=int, default=8, help="DataLoader workers per process to assume")
    p.add_argument("--processes", type=int, default=1, help="processes (GPUs) to assume, e.g. torchrun's N")
    p.add_argument("--json", action="store_true", help="print the projection as JSON")


def estimate_command(args: argparse.Namespace) -> int:
    import json

    from .estimate import default_accuracy, format_report, measure, project

    bundle = load_model(args.model, args.weights, device=args.device)
    accuracy = args.accuracy if args.accuracy is not None else (default_accuracy(bundle.name) or 1.0)
    m = measure(bundle, batch_size=args.batch_size, batches=args.batches, amp=args.amp)
    projection = project(m, num_classes=bundle.num_classes, per_class=args.per_class, accuracy=accuracy,
                         workers=args.workers, processes=args.processes)
    print(json.dumps(projection) if args.json else format_report(projection))
    return 0
