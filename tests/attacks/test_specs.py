"""Attack presets: the paper's Table 7 names and ε conversion."""

from __future__ import annotations

import pytest

from regroup_core.attacks import PRESETS, AttackFamily, get_preset, preset_names
from regroup_core.errors import DataError


def test_preset_names_are_the_documented_ids():
    assert set(preset_names()) == {"pgd", "pgd-l2", "deepfool", "cw", "ead", "pgd-targeted", "cw-targeted", "pgd-hc",
                                   "pgd-hc-targeted", "boundary", "hopskipjump", "hopskipjump-linf", "spatial", "spsa",
                                   "apgd-ce", "apgd-t",
                                   "square", "trust-region", "fmn", "fmn-l2", "pmf-match", "pmf-match-targeted",
                                   "pmf-match-softmax", "autoattack"}


def test_epsilon_is_converted_from_the_0_255_scale():
    pgd = get_preset("pgd")
    assert pgd.epsilon_255 == 4.0 and pgd.epsilon == pytest.approx(4 / 255)
    assert pgd.params["steps"] == 40 and pgd.params["abs_stepsize"] == 0.01 and pgd.params["random_start"]
    assert get_preset("cw").epsilon is None and get_preset("cw").params["paper_epsilon_255"] == 4.0
    assert get_preset("pgd").as_dict()["epsilon"] == pytest.approx(4 / 255)


def test_preset_flags():
    assert {n for n, p in PRESETS.items() if p.targeted} == {"pgd-targeted", "cw-targeted", "pgd-hc-targeted",
                                                             "pmf-match-targeted"}
    assert {n for n, p in PRESETS.items() if p.decision_based} == {"boundary", "hopskipjump", "hopskipjump-linf",
                                                                   "spatial"}
    assert {n for n, p in PRESETS.items() if p.family is AttackFamily.SCORE} == {"spsa", "square"}
    assert {n for n, p in PRESETS.items() if p.budget == "minimal"} == {"deepfool", "cw", "ead", "cw-targeted",
                                                                         "boundary", "hopskipjump", "hopskipjump-linf",
                                                                         "trust-region",
                                                                         "fmn", "fmn-l2"}
    assert get_preset("pgd-hc").min_confidence == 0.9


def test_unknown_preset_and_frozen_params():
    with pytest.raises(DataError, match="expected an attack among"):
        get_preset("trust-region-l3")
    with pytest.raises(TypeError):
        get_preset("pgd").params["steps"] = 1  # type: ignore[index]
