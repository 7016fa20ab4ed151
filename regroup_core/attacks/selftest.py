"""A self-test of every attack on REGroup: binarization tasks with a known adversarial (issue #19).

Following Zimmermann et al. 2022 ("Increasing Confidence in Adversarial Robustness Evaluations"):
an attack that reports "robust" may just be too weak, so we build, per image, a *modified* task
where an adversarial within the budget is known to exist, and check that the attack finds one.

The task of image x (label y) at budget ε:

1. **Plant** a point x* = clip(x + ε·s) at a vertex of the L∞ ball (s a random sign pattern,
   drawn per image from the seed), and a random wrong class t.
2. **Binarize** REGroup: a copy of the fitted classifiers where every class but y and t is
   excluded (ranked last by every voter) and t's mixtures are replaced, for every voter, by the
   voters' own PMFs at x*. The modified decision is still REGroup's: the same network, taps,
   KL divergences and Borda count; at x* every voter ranks t first (KL = 0), so x* is an
   adversarial within ε by construction.
3. **Keep only meaningful tasks**: x must still be classified y outright (*valid*), and neither
   x with uniform noise nor :data:`CONTROL_VERTICES` other random vertices of the ball may fool
   the modified decision (*not trivial*: else any attack would "find" one). Tasks failing these
   are counted, not attacked.
4. **Attack** the modified REGroup with the attack under test, exactly as it attacks REGroup
   (same runner, threat model, budget); the task is *found* when the exact modified decision no
   longer names y outright (a tie counts, as everywhere).

Verdict: ``PASS`` when the attack finds at least :data:`PASS_SHARE` of the meaningful tasks,
``WEAK`` otherwise (also when there are fewer than :data:`MIN_TASKS` meaningful tasks: the test
could not show anything, reported as ``UNTESTED``). A deliberately weakened attack (one step)
fails it (``tests/``).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch

from ..engine import REGroup, capture, to_pmf
from .apgd import project
from .specs import Norm

__all__ = ["CONTROL_VERTICES", "MIN_TASKS", "PASS_SHARE", "SelfTestRow", "Task", "binarized", "plant",
           "selftest_attack", "selftest_threat", "verdict"]

PASS_SHARE = 0.95
"""Share of the meaningful tasks an attack must solve to PASS."""
MIN_TASKS = 5
"""Fewer meaningful tasks than this: no verdict (``UNTESTED``)."""
CONTROL_VERTICES = 16
"""Random vertices of the ε ball that must all fail on a meaningful task."""

AttackFn = Callable[[REGroup, torch.Tensor, torch.Tensor, float], torch.Tensor]
"""(modified REGroup, x (1, C, H, W), y (1,), ε on the 0–255 scale) → adversarial (1, C, H, W)."""


@dataclass(frozen=True)
class Task:
    """One binarized task: the modified classifier, the planted point and its class."""

    defended: REGroup
    planted: torch.Tensor
    target: int


@dataclass(frozen=True)
class SelfTestRow:
    attack: str
    epsilon_255: float
    images: int
    invalid: int       # x itself not classified y by the modified decision
    trivial: int       # random points of the ball already fool it
    tasks: int         # meaningful tasks attacked
    found: int
    share: float | None
    verdict: str
    seconds: float

    def as_dict(self) -> dict:
        return asdict(self)


def verdict(found: int, tasks: int) -> str:
    if tasks < MIN_TASKS:
        return "UNTESTED"
    return "PASS" if found >= PASS_SHARE * tasks else "WEAK"


def _generator(seed: int, key: str) -> torch.Generator:
    return torch.Generator().manual_seed(int(hashlib.sha256(f"{seed}|{key}".encode()).hexdigest()[:15], 16))


def _vertex(x: torch.Tensor, eps: float, g: torch.Generator) -> torch.Tensor:
    sign = torch.randint(0, 2, x.shape, generator=g).to(x.dtype) * 2 - 1
    return (x + project(eps * sign.to(x.device), x, Norm.LINF, eps)).detach()


PLANT_STEPS = 20
"""Signed-gradient steps that move the planted point's voter PMFs away from the clean image's."""


def _voter_pmfs(defended: REGroup, x: torch.Tensor, differentiable: bool = False) -> list[torch.Tensor]:
    layers = defended.scored_layers(defended.classifiers.k, "voters")
    acc = capture(defended.model, x, layers, differentiable=differentiable)
    return [to_pmf(a[layer.name], defended.classifiers.delta) for a in (acc.pos, acc.neg) for layer in layers]


def plant(defended: REGroup, x: torch.Tensor, y: int, eps: float, g: torch.Generator) -> tuple[torch.Tensor, int]:
    """(x*, t): a point of the ε ball around ``x`` (1, C, H, W) whose voters see something else, and a
    random wrong class. x* starts at a random vertex of the ball and takes :data:`PLANT_STEPS`
    signed-gradient steps that maximise Σ_v log KL(PMF_v(x) ‖ PMF_v(x*)): a feature displacement
    that knows nothing of any class (so it favours no attack's loss)."""
    m = len(defended.classifiers.class_names)
    t = (y + 1 + int(torch.randint(0, m - 1, (1,), generator=g))) % m
    with torch.no_grad():
        clean = [p.detach() for p in _voter_pmfs(defended, x)]
    x_star = _vertex(x, eps, g)
    for _ in range(PLANT_STEPS):
        xs = x_star.clone().requires_grad_(True)
        loss = sum(torch.log(_kl(c, p).clamp_min(1e-30)).sum() for c, p in zip(clean, _voter_pmfs(defended, xs, True)))
        (grad,) = torch.autograd.grad(loss, xs)
        x_star = (x + project(x_star - x + eps / 4 * grad.sign(), x, Norm.LINF, eps)).detach()
    return x_star, t


ALPHA = 0.1
"""How far the true class's planted mixtures sit from the planted point, toward the clean image's
PMFs (see :func:`binarized`): smaller is a harder task."""


def _kl(c: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return (c * (torch.log(c) - torch.log(p))).sum(-1)


def binarized(defended: REGroup, x: torch.Tensor, x_star: torch.Tensor, y: int, t: int,
              alpha: float = ALPHA) -> REGroup:
    """REGroup with only classes y and t voting, every voter's mixtures planted:

    ``C_t = PMF(x*)`` and ``C_y = (1 − α)·PMF(x*) + α·PMF(x)``. At x every voter prefers y
    (KL is convex: KL(C_y‖P) ≤ (1 − α)·KL(P*‖P) < KL(C_t‖P)), at x* every voter prefers t
    (KL(C_t‖P*) = 0). Between them the voters switch only once an input's PMFs have moved most
    of the way from the clean image's to the planted point's: a small target region that a weak
    attack misses.
    """
    cls = defended.classifiers
    layers = cls.layers
    with torch.no_grad():
        acc = capture(defended.model, torch.cat([x, x_star]), layers)
    pos, neg = dict(cls.pos), dict(cls.neg)
    for table, accs in ((pos, acc.pos), (neg, acc.neg)):
        for layer in layers:
            rows = table[layer.name].clone()
            pmf = to_pmf(accs[layer.name], cls.delta).to(torch.float64).cpu()
            pmf = pmf / pmf.sum(1, keepdim=True)
            rows[t] = pmf[1]
            rows[y] = (1 - alpha) * pmf[1] + alpha * pmf[0]
            table[layer.name] = rows
    excluded = tuple(c for c in range(len(cls.class_names)) if c not in (y, t))
    return REGroup(defended.model, dataclasses.replace(cls, pos=pos, neg=neg, excluded=excluded))


def _fooled(defended: REGroup, x: torch.Tensor, y: int) -> torch.Tensor:
    with torch.no_grad():
        pred = defended.predict(x)
    return ~pred.regroup_correct(torch.full((len(x),), y, dtype=torch.int64))


def build_task(defended: REGroup, x: torch.Tensor, y: int, eps: float, g: torch.Generator) -> Task | str:
    """The task of one image (module doc), or why there is none: ``"invalid"`` or ``"trivial"``."""
    x_star, t = plant(defended, x, y, eps, g)
    modified = binarized(defended, x, x_star, y, t)
    if bool(_fooled(modified, x, y)[0]) or not bool(_fooled(modified, x_star, y)[0]):
        return "invalid"
    noise = (x + (torch.rand(x.shape, generator=g).to(x.device) * 2 - 1) * eps).clamp(0, 1)
    controls = torch.cat([noise] + [_vertex(x, eps, g) for _ in range(CONTROL_VERTICES)])
    if bool(_fooled(modified, controls, y).any()):
        return "trivial"
    return Task(defended=modified, planted=x_star, target=t)


def selftest_attack(defended: REGroup, images: torch.Tensor, labels: torch.Tensor, attack: AttackFn, *,
                    name: str, epsilon_255: float, seed: int = 0, keys: Sequence[str] | None = None) -> SelfTestRow:
    """Run the binarization test of one attack at one budget on ``images`` (B, C, H, W)."""
    import time

    t0 = time.perf_counter()
    eps = epsilon_255 / 255.0
    keys = [str(i) for i in range(len(images))] if keys is None else list(keys)
    invalid = trivial = tasks = found = 0
    for i in range(len(images)):
        x, y = images[i: i + 1], int(labels[i])
        task = build_task(defended, x, y, eps, _generator(seed, f"{keys[i]}|{epsilon_255}"))
        if task == "invalid":
            invalid += 1
            continue
        if task == "trivial":
            trivial += 1
            continue
        adv = attack(task.defended, x, labels[i: i + 1], epsilon_255)
        within = float((adv - x).abs().max()) <= eps + 1e-6
        tasks += 1
        found += int(within and bool(_fooled(task.defended, adv, y)[0]))
    return SelfTestRow(attack=name, epsilon_255=float(epsilon_255), images=len(images), invalid=invalid,
                       trivial=trivial, tasks=tasks, found=found, share=None if tasks == 0 else found / tasks,
                       verdict=verdict(found, tasks), seconds=round(time.perf_counter() - t0, 1))


def selftest_threat(preset_name: str) -> str | None:
    """The threat model an attack on REGroup runs under: adaptive (gradients), blackbox (queries),
    or None (it cannot aim at REGroup, or has no pixel budget)."""
    from .runner import applicable
    from .specs import get_preset

    spec = get_preset(preset_name)
    if not spec.takes_epsilon:
        return None
    for threat in ("adaptive", "blackbox"):
        if applicable(spec, threat):
            return threat
    return None


def preset_attack(bundle, preset_name: str, *, seed: int = 0, steps: int | None = None) -> AttackFn:  # noqa: ANN001
    """An :data:`AttackFn` that runs ``preset_name`` through :func:`~regroup_core.attacks.run_attack`
    on the modified REGroup, exactly as the evaluation runs it on REGroup."""
    from .runner import run_attack

    threat = selftest_threat(preset_name)
    if threat is None:
        from ..errors import DataError

        raise DataError(f"expected an attack that can aim at REGroup within an L∞/L2 budget, got '{preset_name}'")

    def attack(modified: REGroup, x: torch.Tensor, y: torch.Tensor, epsilon_255: float) -> torch.Tensor:
        return run_attack(bundle, x, y, preset_name, threat=threat, defended=modified, epsilon_255=epsilon_255,
                          steps=steps, seed=seed).adversarial

    return attack


def run_selftest(bundle, defended: REGroup, images: torch.Tensor, labels: torch.Tensor, *,  # noqa: ANN001
                 attacks: Sequence[str], epsilons_255: Sequence[float], seed: int = 0, steps: int | None = None,
                 keys: Sequence[str] | None = None, callback: Callable[[str], None] | None = None
                 ) -> list[SelfTestRow]:
    """The binarization test of every attack at every budget (one :class:`SelfTestRow` each)."""
    rows = []
    for name in attacks:
        fn = preset_attack(bundle, name, seed=seed, steps=steps)
        label = name if steps is None else f"{name} (steps={steps})"
        for eps in epsilons_255:
            rows.append(selftest_attack(defended, images, labels, fn, name=label, epsilon_255=float(eps), seed=seed,
                                        keys=keys))
            if callback is not None:
                callback(f"selftest {label} ε={eps:g}: {rows[-1].verdict}")
    return rows
