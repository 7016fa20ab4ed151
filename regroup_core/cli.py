"""Command line: ``regroup {layers,fit,predict,evaluate,estimate,selftest,ladder} ...``
(or ``python -m regroup_core ...``).

Every command lives here; every option is converted and range-checked once, by the parser,
with the validators of :mod:`regroup_core.checks` that the app uses too. Under
``torchrun --nproc_per_node N -m regroup_core fit|evaluate ...`` the work is sharded over N
processes: every rank computes, rank 0 alone prints, shows progress and writes files.

Every user error (a bad option, file, model or classifier) is one line on stderr and exit code
2, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import torch

from . import checks
from .api import FitOptions, defend, fit_result, load_defended
from .engine import DEFAULT_THRESHOLD, REGroup, Variant, layers_from_names
from .errors import ArgumentError, ClassifierFileError, EmptyClassError, LayerError, RegroupError, one_line
from .run.dist import DistContext, barrier, init_from_env, shutdown
from .run.estimate import format_report, measure, project
from .run.precision import Precision
from .attacks import get_preset, preset_names
from .attacks.selftest import preset_attack, run_selftest, selftest_attack
from .experiments import (
    attack_table,
    clean_summary,
    format_attack_table,
    format_robust_curves,
    run_suite,
    select_correct,
)
from .experiments.ladder import format_ladder, ladder
from .sources import (ModelBundle, ModelReference, describe, load_model, model_names, model_spec, open_image,
                      shipped_classifier)
from .store import AdversarialCache, atomic_write, load_classifiers, save_classifiers

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``error: argument --k: expected ...``) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {one_line(message)} (see {self.prog} --help)\n")

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None) -> tuple[argparse.Namespace, list[str]]:
        # argparse drops a value of exactly '--' given as --opt=-- (its end-of-options marker) and
        # then skips the option's type check; refuse it here instead
        for arg in (sys.argv[1:] if args is None else args):
            if isinstance(arg, str) and arg.startswith("--") and arg.endswith("=--"):
                self.error(f"argument {arg.split('=', 1)[0]}: expected a value, got '--'")
        return super().parse_known_args(args, namespace)


def _typed(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse ``type`` from a :mod:`~regroup_core.checks` validator (its message, one line)."""
    def parse(text: str) -> Any:
        try:
            return convert(text)
        except ArgumentError as exc:
            raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[-1]) from None
    parse.__name__ = getattr(convert, "__name__", "value")
    return parse


def _int(lo: int, hi: int | None = None) -> Callable[[str], int]:
    return _typed(lambda t: checks.integer(t, "value", lo=lo, hi=hi))


def _epsilon(text: str) -> float:
    return checks.number(text, "value", lo=0.0, hi=255.0, lo_open=True)


def _path_text(text: str) -> Path:
    if not text.strip():
        raise ArgumentError(f"value: expected a path, got {text!r}")
    return Path(text)


_PATH = _typed(_path_text)
_SEED = _int(0, 2**63 - 1)
_DEVICE = _typed(lambda t: checks.device(t, "value"))


_MODEL_HELP = (f"a model reference: {', '.join(model_names())}, torchvision:NAME (any torchvision classification "
               "model), timm:NAME, robustbench:DATASET:THREAT:NAME, or a model spec file (model.toml; its format is "
               "in the project's docs/model-spec.md)")
_FILE_LAYERS_HELP = "comma-separated module names to tap (default: the classifier file's layers)"
_WEIGHTS_HELP = ("'random', a named weights set (torchvision: DEFAULT, IMAGENET1K_V1, IMAGENET1K_V2...; timm and "
                 "RobustBench: pretrained) or a .safetensors/.pth state dict (default: the model's own)")


def _typed_model(text: str) -> ModelReference:
    """``--model``: parsed once, by the parser (an unknown reference is a one-line usage error)."""
    try:
        return ModelReference.parse(text)
    except RegroupError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _layer_names(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise ArgumentError(f"value: expected comma-separated module names (as 'layers' lists them), got {text!r}")
    return names


def _add_model_args(p: argparse.ArgumentParser, layers_help: str = "comma-separated module names to tap (as "
                    "'layers' lists them) instead of the preset / discovered layers") -> None:
    p.add_argument("--model", required=True, type=_typed_model, help=_MODEL_HELP)
    p.add_argument("--weights", default=None, help=_WEIGHTS_HELP)
    p.add_argument("--layers", default=None, type=_typed(_layer_names), help=layers_help)
    p.add_argument("--device", default=_DEVICE("auto"), type=_DEVICE,
                   help="auto (CUDA when present), cpu, cuda or cuda:N")


def _prog() -> str:
    """How the user called us, for ``--help`` and error lines: the installed ``regroup`` or the module."""
    return "regroup" if os.path.basename(sys.argv[0]) == "regroup" else "python -m regroup_core"


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=_prog(), description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("layers", help="list the tapped layers of a model")
    _add_model_args(p)
    p.add_argument("--json", action="store_true", help="print a JSON list")

    p = sub.add_parser("fit", help="fit the layer-wise generative classifiers (one process or torchrun)")
    _add_model_args(p)
    p.add_argument("--out", required=True, type=_PATH, help="classifier file to write (.safetensors)")
    p.add_argument("--per-class", type=_int(1), default=50, help="fitting samples per class (default 50)")
    p.add_argument("--data", default=None, help="'mnist:train', an ImageFolder directory or a 'path label' "
                   "file list (default: the model's own fit split, where one ships)")
    p.add_argument("--selection", default=None, help="held-out data for choosing k (default: the model's own "
                   "selection split when --data is not given)")
    p.add_argument("--k", type=_int(1), default=None, help="fix k (1..number of layers) instead of selecting it")
    p.add_argument("--threshold", type=_typed(lambda t: checks.probability(t, "value")), default=DEFAULT_THRESHOLD,
                   help="per-layer accuracy in (0, 1] that the k voting layers reach (default 0.75)")
    p.add_argument("--on-empty", choices=("error", "exclude"), default="error",
                   help="a class without fitting samples: fail (default) or exclude it from votes")
    p.add_argument("--batch-size", type=_int(1, 1 << 16), default=64)
    p.add_argument("--workers", type=_int(0, 256), default=0, help="DataLoader worker processes per rank (default 0)")
    p.add_argument("--amp", choices=[v.value for v in Precision], default=Precision.OFF.value,
                   help="mixed precision for the forward pass: bf16 (CPU/CUDA) or fp16 (CUDA); default off")
    p.add_argument("--checkpoint", default=None,
                   help="directory for per-rank checkpoints; rerunning the same command resumes a killed run")
    p.add_argument("--checkpoint-every", type=_int(1), default=50, help="steps between checkpoints (default 50)")
    p.add_argument("--seed", type=_SEED, default=0, help="seed of the per-class draw from an image folder/list")
    p.add_argument("--rule", choices=("paper", "exploring"), default="paper",
                   help="which samples a class's mixture takes: 'paper' (correctly classified only, Eq. 1; default) "
                   "or 'exploring' (every labelled sample, to look at the layers of a network that classifies few of "
                   "them correctly; not the paper's rule, recorded in the file)")

    p = sub.add_parser("estimate", help="project time and memory of a full ImageNet fit and evaluation")
    p.add_argument("--model", required=True, type=_typed_model, help=_MODEL_HELP)
    p.add_argument("--weights", default="random", help="weights to load (default 'random': timing does not "
                   "depend on them)")
    p.add_argument("--layers", default=None, type=_typed(_layer_names), help="comma-separated module names to tap")
    p.add_argument("--device", default=_DEVICE("auto"), type=_DEVICE, help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--batch-size", type=_int(1, 1 << 16), default=32)
    p.add_argument("--batches", type=_int(1, 10_000), default=3, help="timed batches per path (after one warm-up)")
    p.add_argument("--amp", choices=[v.value for v in Precision], default=Precision.OFF.value)
    p.add_argument("--per-class", type=_int(1), default=50)
    p.add_argument("--accuracy", type=_typed(lambda t: checks.probability(t, "value")), default=None,
                   help="fraction in (0, 1] of candidates classified correctly (default: the model's top-1)")
    p.add_argument("--workers", type=_int(1, 1024), default=8, help="DataLoader workers per process to assume")
    p.add_argument("--processes", type=_int(1, 1 << 20), default=1, help="processes (GPUs) to assume")
    p.add_argument("--json", action="store_true", help="print the projection as JSON")

    p = sub.add_parser("predict", help="classify images with softmax and REGroup")
    _add_model_args(p, _FILE_LAYERS_HELP)
    p.add_argument("--classifier", type=_PATH, default=None,
                   help="fitted classifier file (default: the one shipped for the model's own weights, if any)")
    p.add_argument("--k", type=_int(1), default=None, help="highest layers that vote (default: the file's)")
    p.add_argument("--variant", choices=[v.value for v in Variant], default=Variant.BOTH.value)
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per image")
    p.add_argument("images", nargs="+", type=_PATH)

    p = sub.add_parser("evaluate", help="attack test images and compare softmax with REGroup")
    _add_model_args(p, _FILE_LAYERS_HELP)
    p.add_argument("--classifier", type=_PATH, default=None,
                   help="fitted classifier file (default: the one shipped for the model's own weights, if any)")
    p.add_argument("--attacks", default="pgd", help="comma-separated presets: " + ", ".join(_attack_names()))
    p.add_argument("--threat", default="transfer", choices=["transfer", "blackbox", "adaptive", "all"],
                   help="threat model (attacks that do not fit it are skipped and listed)")
    p.add_argument("--n", "--num-images", dest="n", type=_int(1, 10_000_000), default=100,
                   help="correctly classified test images to attack (under torchrun write --num-images: "
                   "torchrun's own parser takes --n for an ambiguous abbreviation of its options)")
    p.add_argument("--data", default=None, help="test data (default: the model's own test split, where one ships)")
    p.add_argument("--out", required=True, type=_PATH, help="directory for results.csv and results.json")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--seed", type=_SEED, default=0)
    p.add_argument("--steps", type=_int(1, 1_000_000), default=None, help="override every attack's step count")
    p.add_argument("--epsilon", type=_typed(_epsilon), default=None,
                   help="L∞ budget in (0, 255] (0–255 scale) of the fixed-budget L∞ attacks (PGD, APGD, SPSA, "
                   "Square; default: the model's softmax budget, where PGD fools >= 90%% of its undefended softmax "
                   "- see docs/results/budgets.json); minimisation attacks (DeepFool, C&W, Boundary, Trust Region, "
                   "FMN...) stay unbounded and are reported as robust accuracy at fixed budgets (robust_at)")
    p.add_argument("--cache", type=_PATH, default=None,
                   help="adversarial cache directory (default: the shared cache the app uses too, "
                   "$REGROUP_CACHE or ~/.cache/regroup-explorer)")
    p.add_argument("--chunk-size", type=_int(1, 1_000_000), default=50, help="images per cached chunk")
    p.add_argument("--selftest", type=_int(0, 100_000), default=0,
                   help="also run the binarization self-test of every attack on REGroup on this many images "
                   "and mark the attacks that miss known adversarials WEAK (default 0: off)")
    _add_robustness_parsers(sub)
    return parser


def _add_robustness_parsers(sub: Any) -> None:
    """``selftest`` (the binarization test of attacks) and ``ladder`` (the attacker-knowledge ladder)."""
    p = sub.add_parser("selftest", help="check that attacks find adversarials known to exist (binarization test)")
    _add_model_args(p)
    p.add_argument("--classifier", required=True, type=_PATH, help="fitted classifier file")
    p.add_argument("--attacks", default="pgd", help="comma-separated presets that can aim at REGroup")
    p.add_argument("--epsilons", default="8,16,32", help="comma-separated L∞ budgets on the 0–255 scale")
    p.add_argument("--n", type=_int(1, 100_000), default=20, help="test images (one task each per budget)")
    p.add_argument("--steps", type=_int(1, 1_000_000), default=None,
                   help="override the attacks' step count (--steps 1: the deliberately weakened one-step attack)")
    p.add_argument("--seed", type=_SEED, default=0)
    p.add_argument("--data", default=None, help="test data (default: the model's own test split)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p = sub.add_parser("ladder", help="robust accuracy by what the attacker knows, from transfer to adaptive")
    _add_model_args(p)
    p.add_argument("--classifier", required=True, type=_PATH, help="fitted classifier file")
    p.add_argument("--epsilons", default="8,16,32", help="comma-separated L∞ budgets on the 0–255 scale")
    p.add_argument("--n", type=_int(1, 10_000_000), default=100, help="correctly classified test images")
    p.add_argument("--seed", type=_SEED, default=0)
    p.add_argument("--data", default=None, help="test data (default: the model's own test split)")
    p.add_argument("--cache", type=_PATH, default=None, help="adversarial cache directory (default: the shared one)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")


def _epsilons(text: str) -> list[float]:
    try:
        values = [_epsilon(e.strip()) for e in text.split(",") if e.strip()]
    except (ValueError, argparse.ArgumentTypeError, RegroupError):
        values = []
    if not values:
        raise ArgumentError(f"--epsilons: expected comma-separated budgets in (0, 255], got '{text}'")
    return values


def _selftest(args: argparse.Namespace) -> int:
    attacks = [a.strip() for a in args.attacks.split(",") if a.strip()]
    epsilons = _epsilons(args.epsilons)
    bundle = load_model(args.model, weights=args.weights, device=args.device)
    defended = load_defended(bundle, args.classifier)
    data = _data_option(args.data, "--data") or bundle.spec.test_data
    test = select_correct(bundle, data, args.n, seed=args.seed, defended=defended)
    say = None if args.json else (lambda msg: print(msg, flush=True))
    rows = run_selftest(bundle, defended, test.images, test.labels, attacks=attacks, epsilons_255=epsilons,
                        seed=args.seed, steps=args.steps, keys=[str(i) for i in test.ids], callback=say)
    payload = {"rows": [r.as_dict() for r in rows], "passed": all(r.verdict == "PASS" for r in rows),
               "model": str(args.model), "classifier": str(args.classifier), "n": len(test.labels)}
    if args.json:
        print(json.dumps(payload))
    else:
        for r in rows:
            print(f"{r.attack} ε={r.epsilon_255:g}: {r.verdict} — found {r.found} of {r.tasks} known adversarials "
                  f"({r.invalid} invalid, {r.trivial} trivial tasks skipped; {r.seconds:.0f} s)")
    return 0 if payload["passed"] else 1


def _ladder(args: argparse.Namespace) -> int:
    epsilons = _epsilons(args.epsilons)
    bundle = load_model(args.model, weights=args.weights, device=args.device)
    defended = load_defended(bundle, args.classifier)
    data = _data_option(args.data, "--data") or bundle.spec.test_data
    test = select_correct(bundle, data, args.n, seed=args.seed, defended=defended)
    cache = AdversarialCache(args.cache) if args.cache is not None else AdversarialCache.default()
    say = None if args.json else (lambda msg: print(msg, flush=True))
    rows = ladder(bundle, defended, test, epsilons_255=epsilons, cache=cache, seed=args.seed, callback=say)
    if args.json:
        print(json.dumps({"rows": rows, "model": str(args.model), "n": len(test.labels)}))
    else:
        print("\n".join(format_ladder(rows)))
    return 0


def _attack_names() -> list[str]:
    return list(preset_names())


def _check_out_file(path: Path, option: str) -> None:
    """Refuse, before any work, an output file that could not be written at the end."""
    _check_out(path, option, folder=False)


def _check_out_dir(path: Path | None, option: str) -> None:
    """Refuse, before any work, an output directory that could not be written at the end."""
    if path is not None:
        _check_out(path, option, folder=True)


def _check_out(path: Path, option: str, *, folder: bool) -> None:
    """``path`` is not of the wrong kind, lies under no file, and its folder exists (created now
    rather than after hours of work; the atomic writes at the end would create it anyway)."""
    what = "directory" if folder else "file"
    try:
        if path.exists() and path.is_dir() != folder:
            raise ArgumentError(f"{option}: expected a {what}, got a {'file' if folder else 'directory'} ('{path}')")
        for above in path.parents:
            if above.exists():
                if not above.is_dir():
                    raise ArgumentError(f"{option}: expected a path under a directory, got '{path}' under the file "
                                        f"'{above}'")
                break
        (path if folder else path.parent).mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a name too long, a read-only or full file system...
        raise ArgumentError(f"{option}: expected a usable {what} path, got '{path}' "
                            f"({exc.strerror or type(exc).__name__})") from None


def _data_option(value: str | None, option: str) -> str | None:
    if value is not None and not value.strip():
        raise ArgumentError(f"{option}: expected 'mnist:<split>', 'cifar10:<split>', 'foolbox:<set>', an ImageFolder "
                            "directory or a file list, got ''")
    return value


def _classifier_option(args: argparse.Namespace) -> Path:
    """``--classifier``, or the file shipped for the model when its own weights are used (``regroup predict
    --model mnist-vgg digit.png``); a classifier fitted on other weights would not match them."""
    if args.classifier is not None:
        return args.classifier
    shipped = shipped_classifier(str(args.model)) if args.weights is None else None
    if shipped is None:
        reason = "with --weights" if args.weights is not None else f"none ships for model '{args.model}'"
        raise ArgumentError(f"--classifier: expected a fitted classifier file ({reason}), got none")
    return shipped


def _load_model_in_order(args: argparse.Namespace, ctx: DistContext) -> ModelBundle:
    """``load_model`` on this rank's device; rank 0 first, so that it alone downloads weights."""
    if not ctx.is_main:
        barrier()
    bundle = load_model(args.model, args.weights, device=ctx.device, layers=args.layers)
    if ctx.is_main:
        barrier()
    return bundle


def _defended(args: argparse.Namespace, ctx: DistContext | None = None) -> tuple[ModelBundle, REGroup]:
    """The model with the classifier file's own layers (unless --layers says otherwise) and REGroup over it."""
    path = _classifier_option(args)
    classifiers = load_classifiers(path)  # its errors name the file already
    if ctx is not None:
        bundle = _load_model_in_order(args, ctx)
    else:
        bundle = load_model(args.model, args.weights, device=args.device, layers=args.layers)
    names = [layer.name for layer in classifiers.layers]
    try:
        if args.layers is None and classifiers.model_id == bundle.name and names != [t.name for t in bundle.layers]:
            bundle = dataclasses.replace(bundle, layers=layers_from_names(bundle.model, names))  # fitted with --layers
        return bundle, defend(bundle, classifiers)
    except LayerError as exc:
        raise ClassifierFileError(f"'{path}': expected layers of '{bundle.name}', got {exc}") from None
    except ClassifierFileError as exc:
        raise ClassifierFileError(f"'{path}': {exc}") from None


def _layers(args: argparse.Namespace) -> int:
    bundle = load_model(args.model, args.weights, device=args.device, layers=args.layers)
    rows = [{"name": layer.name, "kind": layer.kind.value, "dim": layer.dim} for layer in bundle.layers]
    if args.json:
        print(json.dumps(rows))
    else:
        for i, row in enumerate(rows):
            print(f"{i:3d}  {row['kind']:4s}  {row['dim']:6d}  {row['name']}")
    return 0


def _fit_options(args: argparse.Namespace, selection: str | None, progress: bool) -> FitOptions:
    """The parsed options, whole, as the loop takes them."""
    return FitOptions(per_class=args.per_class, selection=selection, threshold=args.threshold, k=args.k,
                      on_empty=args.on_empty, batch_size=args.batch_size, workers=args.workers, amp=args.amp,
                      checkpoint=args.checkpoint, checkpoint_every=args.checkpoint_every, seed=args.seed,
                      progress=progress, rule=args.rule)


def _fit(args: argparse.Namespace) -> int:
    _check_out_file(args.out, "--out")
    _check_out_dir(Path(args.checkpoint) if args.checkpoint is not None else None, "--checkpoint")
    _data_option(args.data, "--data")
    _data_option(args.selection, "--selection")
    ctx = init_from_env(args.device)
    bundle = _load_model_in_order(args, ctx)
    if args.k is not None and args.k > len(bundle.layers):
        raise ArgumentError(f"--k: expected 1..{len(bundle.layers)} (the model's tapped layers), got {args.k}")
    data = args.data if args.data is not None else bundle.spec.fit_data
    if data is None:
        raise ArgumentError(f"--data: expected an ImageFolder directory or file list for model '{args.model}' "
                            "(it names no fit data of its own), got none")
    selection = args.selection if args.selection is not None else (
        bundle.spec.selection_data if args.data is None else None)
    result = fit_result(bundle, data, _fit_options(args, selection, progress=ctx.is_main))
    classifiers, run = result.classifiers, result.run
    if ctx.is_main:
        save_classifiers(classifiers, args.out)
        counts = classifiers.class_count
        print(f"wrote {args.out}: {len(classifiers.layers)} layers, {classifiers.num_classes} classes, "
              f"{int(counts.sum())} samples ({int(counts.min())}..{int(counts.max())} per class), "
              f"k={classifiers.k}; {ctx.world_size} process(es) read {run.images_read} of {run.candidates} candidates")
        if run.unreadable:
            print(f"skipped {run.unreadable} unreadable image(s) (see the warnings above)")
        if classifiers.excluded:
            excluded, names = classifiers.excluded, classifiers.class_names
            shown = ", ".join(f"{y} ({names[y]})" for y in excluded[:10])
            more = f" and {len(excluded) - 10} more (listed in the file's 'excluded')" if len(excluded) > 10 else ""
            print(f"excluded {len(excluded)} class(es) without a fitting sample from every vote: {shown}{more}")
    barrier()
    return 0


def _predict(args: argparse.Namespace) -> int:
    bundle, defended = _defended(args)
    if args.k is not None and args.k > len(defended.layers):
        raise ArgumentError(f"--k: expected 1..{len(defended.layers)} (the classifier's layers), got {args.k}")
    failed = 0
    images, names = [], []
    for path in args.images:
        try:
            images.append(bundle.preprocess(open_image(path)))
            names.append(str(path))
        except RegroupError as exc:
            message, shown = one_line(exc), one_line(str(path))
            print(f"error: {message if shown in message else f'{shown}: {message}'}", file=sys.stderr)
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


def _attack_options(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """``--attacks`` checked (unknown names: one line before any work), with each attack's ``--steps``
    and ``--epsilon`` (the L∞ budget only applies to fixed-budget L∞ attacks)."""
    attacks = [a.strip() for a in args.attacks.split(",") if a.strip()]
    if not attacks:
        raise ArgumentError("--attacks: expected at least one attack, got none")
    try:
        specs = {a: get_preset(a) for a in attacks}
    except RegroupError as exc:
        raise ArgumentError(f"--attacks: {exc}") from None
    options: dict[str, dict[str, Any]] = {}
    for a, spec in specs.items():
        opts: dict[str, Any] = {}
        if args.steps is not None and "steps" in spec.params:
            opts["steps"] = args.steps
        if args.epsilon is not None and spec.takes_linf_epsilon:
            opts["epsilon_255"] = args.epsilon
        elif spec.takes_linf_epsilon and not spec.grows_epsilon:  # the model's own budget, not ImageNet's 4/255
            opts["epsilon_255"] = model_spec(args.model).default_epsilon_255
        options[a] = opts
    return options


def _write_results(out: Path, table: Any, payload: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "results.csv", lambda tmp: table.to_csv(tmp, index=False))
    atomic_write(out / "results.json", lambda tmp: Path(tmp).write_text(json.dumps(payload, indent=1, default=str)))


def _print_evaluation(table: Any, clean: dict[str, Any], suite: Any, cache: AdversarialCache, out: Path) -> None:
    print(format_attack_table(table).drop(columns=["sanity"]).to_string(index=False))
    curves = format_robust_curves(table)
    if len(curves):
        print("\nminimisation attacks, robust accuracy (%) at each budget, softmax / REGroup [95 % interval]:")
        print(curves.to_string(index=False))
    for _, row in table.iterrows():
        if isinstance(row.get("sanity"), str) and row["sanity"] != "ok":
            print(f"{row['attack']}/{row['threat']}: {row['sanity']}")
    print(f"clean ({clean['n']} correctly classified images): softmax {clean['softmax_top1']} %, "
          f"REGroup top-1 {clean['regroup_top1']} % (ties counted as errors: {clean['regroup_ties']}), "
          f"top-5 {clean['regroup_top5']} %. Intervals: Wilson 95 %; a Borda tie counts as a REGroup error.")
    if suite.settings["skipped"]:
        print(f"skipped (attack does not fit the threat model): {', '.join(suite.settings['skipped'])}")
    print(f"cache {cache.root}: {cache.hits} hits, {cache.misses} misses; wrote {out / 'results.csv'} "
          f"and {out / 'results.json'}")


def _evaluate(args: argparse.Namespace) -> int:
    options = _attack_options(args)
    _check_out_dir(args.out, "--out")
    _check_out_dir(args.cache, "--cache")
    if args.cache is None:
        _check_out_dir(AdversarialCache.default().root, "the shared cache ($REGROUP_CACHE)")
    _data_option(args.data, "--data")
    classifier = _classifier_option(args)
    ctx = init_from_env(args.device)  # under torchrun: join the group, this rank's device
    bundle, defended = _defended(args, ctx)
    data = args.data if args.data is not None else bundle.spec.test_data
    if data is None:
        raise ArgumentError(f"--data: expected test data (an ImageFolder directory or file list) for model "
                            f"'{args.model}' (it names no test data of its own), got none")
    threats = ["transfer", "blackbox", "adaptive"] if args.threat == "all" else [args.threat]
    cache = AdversarialCache(args.cache) if args.cache is not None else AdversarialCache.default()
    test = select_correct(bundle, data, args.n, seed=args.seed, defended=defended)
    suite = run_suite(bundle, defended, test, attacks=list(options), threats=threats, seed=args.seed, cache=cache,
                      chunk_size=args.chunk_size, attack_options=options, progress=not args.json and ctx.is_main)
    if suite is None:  # another rank of a torchrun job: its chunks are in the cache, rank 0 reports
        return 0
    marks = _selftest_marks(args, bundle, defended, test, suite) if args.selftest else None
    table, clean = attack_table(suite, marks), clean_summary(suite)
    settings = {**suite.settings, "classifier": str(classifier), "cache": str(cache.root),
                "cache_hits": cache.hits, "cache_misses": cache.misses}
    rows = json.loads(table.to_json(orient="records"))
    for row in rows:
        if row.get("settings"):
            row["settings"] = json.loads(row["settings"])
    payload = {"rows": rows, "clean": clean, "settings": settings}
    _write_results(args.out, table, payload)
    if args.json:
        print(json.dumps(payload, default=str))
    else:
        _print_evaluation(table, clean, suite, cache, args.out)
    return 0


def _selftest_marks(args: argparse.Namespace, bundle: ModelBundle, defended: Any, test: Any, suite: Any
                    ) -> dict[tuple[str, str, float], dict]:
    """The self-test of every run aimed at REGroup, at its ε, on the first ``--selftest`` images."""
    marks: dict[tuple[str, str, float], dict] = {}
    n = args.selftest
    for run in suite.runs:
        eps = run.result.settings.get("epsilon_255")
        if run.threat.value == "transfer" or eps is None or (run.attack, run.threat.value, float(eps)) in marks:
            continue
        row = selftest_attack(defended, test.images[:n], test.labels[:n],
                              preset_attack(bundle, run.attack, seed=args.seed, steps=args.steps), name=run.attack,
                              epsilon_255=float(eps), seed=args.seed, keys=[str(i) for i in test.ids[:n]])
        marks[(run.attack, run.threat.value, float(eps))] = row.as_dict()
    return marks


def _estimate(args: argparse.Namespace) -> int:
    bundle = load_model(args.model, args.weights, device=args.device, layers=args.layers)
    # the top-1 of the model's pretrained weights (timing is measured with --weights, random by default)
    accuracy = args.accuracy if args.accuracy is not None else (describe(args.model).top1 or 1.0)
    m = measure(bundle, batch_size=args.batch_size, batches=args.batches, amp=args.amp)
    projection = project(m, num_classes=bundle.num_classes, per_class=args.per_class, accuracy=accuracy,
                         workers=args.workers, processes=args.processes)
    print(json.dumps(projection) if args.json else format_report(projection))
    return 0


def _warn_in_one_line(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """Warnings (e.g. a skipped unreadable image) as one ``warning:`` line, without source lines."""
    print(f"warning: {one_line(message)}", file=sys.stderr)


_HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "layers": _layers, "fit": _fit, "predict": _predict, "evaluate": _evaluate, "estimate": _estimate,
    "selftest": _selftest, "ladder": _ladder}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a one-line parser error (2)
        return int(exc.code or 0)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warn_in_one_line
            return _HANDLERS[args.command](args)
    except EmptyClassError as exc:
        print(f"error: {one_line(exc)} (--on-empty exclude)", file=sys.stderr)
        return 2
    except RegroupError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. --out in a read-only or full directory: one line, no traceback
        print(f"error: {exc.strerror or one_line(exc)} ({exc.filename or 'file system'})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug of ours: still one line, the traceback on request
        if os.environ.get("REGROUP_DEBUG"):
            raise
        print(f"error: unexpected {type(exc).__name__}: {one_line(exc)[:300]} (a bug: please report it; "
              "REGROUP_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1
    finally:
        shutdown()  # leave torchrun's process group, if one was joined
