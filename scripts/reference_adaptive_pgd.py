"""An independent adaptive L∞ PGD on REGroup, to check the library's adaptive attack against.

    OMP_NUM_THREADS=1 python -m scripts.reference_adaptive_pgd --epsilon 32 --n 100

Written apart from ``regroup_core.attacks`` on purpose: it shares only the engine (taps, fitted
classifiers, the exact ``REGroup.predict``) and the image selection with the library. Its choices
differ from the library's adaptive PGD wherever a choice is free:

* temperatures: per voter and per image, calibrated once on the *clean* image (the gap between
  the voter's two smallest KL divergences), not re-measured at every iterate;
* loss: a Carlini–Wagner margin on the product of experts ``Σ_v log softmax(−KL_v/τ_v)``
  (not soft Borda points), untargeted and toward each of the 3 runner-up classes;
* optimiser: momentum PGD (μ = 0.75 on L1-normalised gradients), cosine step decay from ε/4,
  100 steps, plus 2 random restarts of the untargeted loss;
* the exact REGroup decision after every step, first fooling iterate kept, a Borda tie counts as
  fooled (as in the library's tables).

Writes ``docs/results/reference.md`` (the command, the numbers and the time).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch


from regroup_core import load_defended, load_model
from regroup_core.engine import capture, to_pmf
from regroup_core.experiments import select_correct
from regroup_core.experiments.intervals import wilson_interval


def divergences(defended, x: torch.Tensor) -> torch.Tensor:
    """(B, V, M) float64 KL(C_y ‖ PMF(x)) of the 2k voters, differentiable."""
    k = defended.classifiers.k
    layers = defended.layers[len(defended.layers) - k:]
    acc = capture(defended.model, x, layers, differentiable=True)
    out = []
    for table, accs in ((defended.classifiers.pos, acc.pos), (defended.classifiers.neg, acc.neg)):
        for layer in layers:
            c = table[layer.name]
            p = to_pmf(accs[layer.name], defended.classifiers.delta)
            out.append((c * torch.log(c)).sum(1).unsqueeze(0) - torch.log(p) @ c.T)
    return torch.stack(out, 1)


def fooled(defended, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        borda = defended.predict(x).borda
    top = borda.max(1).values
    wins = borda.gather(1, y.unsqueeze(1)).squeeze(1) == top
    outright = (borda == top.unsqueeze(1)).sum(1) == 1
    return ~(wins & outright)


def attack(defended, x, y, tau, aim, eps, steps, start):
    """Momentum PGD on one loss from ``start``; returns (adversarial, fooled) per image."""
    delta = (start - x).clone()
    momentum = torch.zeros_like(x)
    out, hit = start.clone(), fooled(defended, start, y)
    active = ~hit
    for t in range(steps):
        idx = active.nonzero().squeeze(1)
        if len(idx) == 0:
            break
        xa = (x[idx] + delta[idx]).requires_grad_(True)
        logp = torch.log_softmax(-divergences(defended, xa) / tau[idx], -1).sum(1)
        cls = y[idx] if aim is None else aim[idx]
        own = logp.gather(1, cls.unsqueeze(1)).squeeze(1)
        other = logp.scatter(1, cls.unsqueeze(1), -math.inf).max(1).values
        loss = (other - own) if aim is None else (own - other)
        (g,) = torch.autograd.grad(loss.sum(), xa)
        g = g / g.abs().flatten(1).sum(1).clamp_min(1e-30).view(-1, 1, 1, 1)
        momentum[idx] = 0.75 * momentum[idx] + g
        alpha = eps / 4 * 0.5 * (1 + math.cos(math.pi * t / steps)) + eps / 100
        new = (delta[idx] + alpha * momentum[idx].sign()).clamp(-eps, eps)
        delta[idx] = (x[idx] + new).clamp(0, 1) - x[idx]
        now = (x[idx] + delta[idx]).detach()
        ok = fooled(defended, now, y[idx])
        out[idx] = now
        hit[idx[ok]] = True
        active[idx[ok]] = False
    return out, hit


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mnist-vgg,mnist-resnet")
    ap.add_argument("--epsilon", type=float, default=32.0, help="L∞ budget on the 0–255 scale")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("docs/results/reference.md"))
    ap.add_argument("--masks", type=Path, default=None,
                    help="also write each model's per-image outcome (JSON: image ids, robust flags) here, so "
                         "that the library's plan can be compared with it image by image")
    args = ap.parse_args()
    masks: dict[str, dict] = {}
    eps = args.epsilon / 255.0
    lines = ["# Independent reference: adaptive L∞ PGD on REGroup", "",
             f"Command: `OMP_NUM_THREADS=1 python -m scripts.reference_adaptive_pgd {' '.join(sys.argv[1:])}` "
             "(see the script's docstring for how it differs from the library's attack).", "",
             "| model | ε (0–255) | n | REGroup robust % [Wilson 95 %] | fooled by (first success) | seconds |",
             "|---|---|---|---|---|---|"]
    for model in args.models.split(","):
        t0 = time.time()
        bundle = load_model(model, device="cpu")
        defended = load_defended(bundle, f"regroup_core/assets/classifiers/{model}.safetensors")
        test = select_correct(bundle, bundle.spec.test_data, args.n, seed=args.seed, defended=defended)
        x, y = test.images, test.labels
        with torch.no_grad():
            kl = divergences(defended, x)
        two = torch.topk(kl, 2, dim=-1, largest=False).values
        tau = (two[..., 1] - two[..., 0]).clamp_min(1e-6).unsqueeze(-1)
        logp = torch.log_softmax(-kl / tau, -1).sum(1).scatter(1, y.unsqueeze(1), -math.inf)
        runner_ups = logp.topk(3, dim=1).indices
        g = torch.Generator().manual_seed(args.seed)
        broken = fooled(defended, x, y)
        by = {"clean": int(broken.sum())}
        plan = [("untargeted", None, x)] + [(f"runner-up {r + 1}", runner_ups[:, r], x) for r in range(3)]
        plan += [(f"restart {i}", None, (x + (torch.rand(x.shape, generator=g) * 2 - 1) * eps).clamp(0, 1))
                 for i in (1, 2)]
        for name, aim, start in plan:
            idx = (~broken).nonzero().squeeze(1)
            if len(idx) == 0:
                break
            _, hit = attack(defended, x[idx], y[idx], tau[idx], None if aim is None else aim[idx], eps, args.steps,
                            start[idx])
            broken[idx[hit]] = True
            by[name] = int(hit.sum())
        robust = int((~broken).sum())
        masks[model] = {"epsilon_255": args.epsilon, "ids": list(test.ids), "robust": (~broken).tolist()}
        lo, hi = wilson_interval(robust, len(y))
        row = (f"| {model} | {args.epsilon:g} | {len(y)} | {100 * robust / len(y):.1f} "
               f"[{100 * lo:.1f}, {100 * hi:.1f}] "
               f"| {', '.join(f'{k}: {v}' for k, v in by.items())} | {time.time() - t0:.0f} |")
        print(row, flush=True)
        lines.append(row)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    if args.masks is not None:
        args.masks.parent.mkdir(parents=True, exist_ok=True)
        args.masks.write_text(json.dumps(masks))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
