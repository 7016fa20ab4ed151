"""regroup_core.attacks.cost: what a shared link may start without a click."""

from __future__ import annotations

from regroup_core.attacks.cost import LINK_CAP, LinkCap, over_link_cap


def test_the_readme_link_runs_and_costly_links_wait():
    assert over_link_cap([("deepfool", "transfer", None)], 1) is None
    assert over_link_cap([("pgd", "adaptive", 40)], 1) is None
    assert "2000 steps of pgd" in over_link_cap([("pgd", "adaptive", 2000)], 1)
    assert "black-box spsa" in over_link_cap([("spsa", "blackbox", None)], 1)
    assert "5000 attack runs" in over_link_cap([("pgd", "transfer", None)] * 5000, 1)
    assert "21 images" in over_link_cap([("pgd", "transfer", None)], 21)
    assert over_link_cap([("spsa", "blackbox", None)], 1, LinkCap(blackbox=True)) is None
    assert "20 images" in LINK_CAP.describe()
