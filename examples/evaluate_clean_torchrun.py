"""Clean softmax/REGroup evaluation sharded over torchrun processes (an API example).

    torchrun --standalone --nproc_per_node 8 -m examples.evaluate_clean_torchrun \
        --model resnet50 --classifier resnet50.safetensors --data /data/imagenet/val \
        --batch-size 128 --workers 8 --checkpoint runs/eval-ckpt --csv val-clean.csv

Also runs as a single process (``python -m examples.evaluate_clean_torchrun ...``) with the
same table. The ``evaluate`` CLI subcommand calls the same function.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from regroup_core import load_defended, load_model
from regroup_core.run.dist import init_from_env, is_main_process, shutdown
from regroup_core.run.evaluate import evaluate_clean


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--weights", default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--classifier", required=True, type=Path)
    p.add_argument("--data", required=True, help="'mnist:test', an ImageFolder directory or a 'path label' list")
    p.add_argument("--k", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--amp", default="off", choices=("off", "bf16", "fp16"))
    p.add_argument("--checkpoint", default=None, help="per-rank checkpoint directory (resume a killed run)")
    p.add_argument("--csv", type=Path, default=None, help="write the per-image table here")
    args = p.parse_args()
    ctx = init_from_env(args.device)
    try:
        bundle = load_model(args.model, args.weights, device=ctx.device)
        table = evaluate_clean(bundle, load_defended(bundle, args.classifier), args.data, k=args.k,
                                           batch_size=args.batch_size, workers=args.workers, amp=args.amp,
                                           checkpoint=args.checkpoint, progress=ctx.is_main)
        if is_main_process():
            print(json.dumps({"images": len(table), "k": table.k, "processes": ctx.world_size,
                              **{key: round(100 * v, 3) for key, v in table.accuracy().items()}}))
            if args.csv is not None:
                table.write_csv(args.csv, bundle.class_names)
        return 0
    finally:
        shutdown()


if __name__ == "__main__":
    raise SystemExit(main())
