"""How much attack work a shared link may start on its own (``run=1``).

Anyone who opens a link runs its work on the server, so a link is data, never a work order: it
may start only work under :data:`LINK_CAP` — at most each preset's own number of steps, a few
images and a few attack × threat jobs, and no query-based attack against REGroup (its black-box
attacks query the whole defence thousands of times per image). Anything larger is shown with its
settings and waits for the visitor's click.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .specs import get_preset
from .threats import ThreatModel

__all__ = ["LINK_CAP", "LinkCap", "over_link_cap"]


@dataclass(frozen=True)
class LinkCap:
    """The largest work a link may start without a click.

    Attributes:
        max_images: images attacked by one link.
        max_jobs: (attack, threat model) pairs started by one link.
        max_list: entries of a list parameter (``attacks=``, ``classes=``, ``epsilons=``) read at all.
        blackbox: whether black-box (query-based) attacks on REGroup may run from a link.
    """

    max_images: int = 20
    max_jobs: int = 4
    max_list: int = 32
    blackbox: bool = False

    def describe(self) -> str:
        return (f"a link starts work only up to each attack's preset steps, {self.max_images} images and "
                f"{self.max_jobs} attack × threat runs, and never a black-box (query-based) attack")


LINK_CAP = LinkCap()
"""The documented cap (README, "Shareable views")."""


def over_link_cap(jobs: Sequence[tuple[str, str, int | None]], images: int,
                  cap: LinkCap = LINK_CAP) -> str | None:
    """None when a link may start ``jobs`` ((attack, threat, steps or None = preset's) triples) on
    ``images`` images at once; else the reason in words, for the line that asks for a click."""
    if images > cap.max_images:
        return f"{images} images (a link runs at most {cap.max_images})"
    if len(jobs) > cap.max_jobs:
        return f"{len(jobs)} attack runs (a link runs at most {cap.max_jobs})"
    for attack, threat, steps in jobs:
        preset = get_preset(attack)
        own = preset.params.get("steps")
        if steps is not None and own is not None and int(steps) > int(own):
            return f"{steps} steps of {attack} (a link runs at most its preset's {own})"
        if ThreatModel(threat) is ThreatModel.BLACKBOX and not cap.blackbox:
            return f"a black-box {attack} attack (query-based: it never starts from a link)"
    return None
