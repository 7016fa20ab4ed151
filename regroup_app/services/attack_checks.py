"""The app's view of the attack self-test (:mod:`regroup_core.attacks.selftest`, issue #19): which attacks it
can check, the cost of a request against the link cap, and the test run image by image so the page can name
the step under way and show each (attack, budget) verdict as soon as it is known.

Image by image gives the same numbers as ``python -m regroup_core selftest`` on the same images: each task
is drawn from a generator keyed by the image's id and the budget, not by its position in a batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from regroup_core import ModelBundle, REGroup
from regroup_core.attacks.cost import over_link_cap
from regroup_core.attacks.selftest import SelfTestRow, preset_attack, selftest_attack, selftest_threat, verdict
from regroup_core.run.progress import Progress, listen_steps

from .suites import test_images

__all__ = ["SelfTestRequest", "checkable_attacks", "over_cap", "run_selftest_streamed", "selftest_command"]


@dataclass(frozen=True)
class SelfTestRequest:
    """What the page asks for: attacks, budgets (0–255), images, steps (None: each preset's own) and seed."""

    attacks: tuple[str, ...]
    epsilons_255: tuple[float, ...]
    n: int
    steps: int | None = None
    seed: int = 0

    def jobs(self) -> list[tuple[str, str, int | None]]:
        """(attack, threat, steps) per attack and budget, as the link cap counts them."""
        return [(a, selftest_threat(a) or "adaptive", self.steps) for a in self.attacks for _ in self.epsilons_255]


def checkable_attacks(names: Sequence[str]) -> list[str]:
    """The presets that can aim at REGroup within a pixel budget (the ones the self-test can check)."""
    return [name for name in names if selftest_threat(name) is not None]


def over_cap(request: SelfTestRequest) -> str | None:
    """Why a link may not start ``request`` on its own (None when it may): see ``regroup_core.attacks.cost``."""
    return over_link_cap(request.jobs(), request.n)


def selftest_command(model: str, classifier: str, request: SelfTestRequest) -> str:
    """The same test on the command line."""
    steps = "" if request.steps is None else f" --steps {request.steps}"
    return (f"python -m regroup_core selftest --model {model} --classifier {classifier} "
            f"--attacks {','.join(request.attacks)} --epsilons {','.join(f'{e:g}' for e in request.epsilons_255)} "
            f"--n {request.n}{steps} --seed {request.seed} --json")


def _sum(rows: Sequence[SelfTestRow], name: str, eps: float) -> SelfTestRow:
    """One image's rows added up into the row of the whole test at this budget."""
    tasks, found = sum(r.tasks for r in rows), sum(r.found for r in rows)
    return SelfTestRow(attack=name, epsilon_255=eps, images=sum(r.images for r in rows),
                       invalid=sum(r.invalid for r in rows), trivial=sum(r.trivial for r in rows), tasks=tasks,
                       found=found, share=None if tasks == 0 else found / tasks, verdict=verdict(found, tasks),
                       seconds=round(sum(r.seconds for r in rows), 1))


def run_selftest_streamed(bundle: ModelBundle, defended: REGroup, request: SelfTestRequest, on_step: Progress,
                          on_row: Callable[[SelfTestRow], None]) -> list[SelfTestRow]:
    """The self-test of every attack at every budget on the first ``n`` correctly classified test images:
    ``on_step(done, total, message)`` before each image (and for each run of an adaptive plan inside it),
    ``on_row(row)`` as each (attack, budget) is finished."""
    test = test_images(bundle, defended, request.n)
    keys = [str(i) for i in test.ids]
    total, done, rows = len(request.attacks) * len(request.epsilons_255) * len(keys), 0, []
    for attack in request.attacks:
        fn = preset_attack(bundle, attack, seed=request.seed, steps=request.steps)
        name = attack if request.steps is None else f"{attack} (steps={request.steps})"
        for eps in request.epsilons_255:
            parts = []
            for i, key in enumerate(keys):
                where = f"{name} at ε {eps:g}/255, image {i + 1} of {len(keys)}"
                on_step(done, total, f"{where}: planting a known adversarial, then attacking")
                with listen_steps(lambda _d, _t, msg, where=where, done=done: on_step(done, total, f"{where}: {msg}")):
                    parts.append(selftest_attack(defended, test.images[i:i + 1], test.labels[i:i + 1], fn, name=name,
                                                 epsilon_255=float(eps), seed=request.seed, keys=[key]))
                done += 1
            rows.append(_sum(parts, name, float(eps)))
            on_row(rows[-1])
    on_step(total, total, "done")
    return rows
