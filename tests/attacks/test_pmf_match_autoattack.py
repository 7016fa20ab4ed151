"""Feature-space attacks on REGroup's voters and the authors' AutoAttack with its flags."""

from __future__ import annotations

import logging

import pytest
import torch
from tiny_defended import tiny, tiny_batch

from regroup_core.attacks import applicable, run_attack
from regroup_core.attacks.adaptive import regroup_fooled
from regroup_core.attacks.autoattack_ import FLAGS, autoattack, flag_names
from regroup_core.attacks.pmf_match import pmf_match
from regroup_core.attacks.threats import voter_divergences
from regroup_core.errors import DataError


def _kl_to(defended, x, t):
    kl = voter_divergences(defended, x)
    return torch.log(kl.gather(2, t.view(-1, 1, 1).expand(-1, kl.shape[1], 1)).squeeze(2)).sum(1)


def test_pmf_match_moves_the_voters_toward_the_target_and_judges_exactly():
    _, defended = tiny()
    x, y = tiny_batch(8, seed=41)
    t = (y + 1) % 4
    out = pmf_match(defended, x, y, norm="linf", epsilon=0.15, steps=20, targets=t)
    assert (out.adversarial - x).abs().max() <= 0.15 + 1e-6
    moved = _kl_to(defended, out.adversarial, t) < _kl_to(defended, x, t)
    assert moved[~out.fooled].all() if (~out.fooled).any() else True
    assert torch.equal(out.fooled, regroup_fooled(defended, out.adversarial, y, t))
    untargeted = pmf_match(defended, x, y, norm="linf", epsilon=0.3, steps=20, target_classes=3)
    assert untargeted.fooled.any()
    assert torch.equal(untargeted.fooled, regroup_fooled(defended, untargeted.adversarial, y))
    assert set(untargeted.target_rank[untargeted.fooled].tolist()) <= {1, 2, 3, -2}


def test_pmf_match_softmax_keeps_the_softmax_right_on_its_successes():
    _, defended = tiny()
    x, y = tiny_batch(8, seed=42)
    out = pmf_match(defended, x, y, norm="linf", epsilon=0.3, steps=20, target_classes=3, keep_softmax=True)
    pred = defended.predict(out.adversarial)
    hit = out.fooled & (out.target_rank > 0)
    assert (pred.softmax_labels[hit] == y[hit]).all()
    assert (~pred.regroup_correct(y))[hit].all()


def test_pmf_match_needs_the_voters_so_only_the_adaptive_threat_model_runs_it():
    bundle, defended = tiny()
    assert applicable("pmf-match", "adaptive") and not applicable("pmf-match", "transfer")
    assert not applicable("pmf-match", "blackbox")
    x, y = tiny_batch(2, seed=43)
    with pytest.raises(DataError, match="adaptive"):
        run_attack(bundle, x, y, "pmf-match", threat="transfer")
    r = run_attack(bundle, x, y, "pmf-match-targeted", threat="adaptive", defended=defended, epsilon_255=40, steps=5)
    assert r.targets is not None and "pmf_target_rank" in r.per_sample
    assert r.settings["libraries"] == {"regroup_core.attacks.pmf_match": "ours"}


def test_autoattack_runs_the_authors_standard_version_and_reports_flags():
    bundle, defended = tiny()
    x, y = tiny_batch(3, seed=44)
    r = run_attack(bundle, x, y, "autoattack", threat="transfer", epsilon_255=48)
    assert (r.adversarial - x).abs().max() <= 48 / 255 + 1e-5
    assert r.per_sample["autoattack_flags"].dtype == torch.int64
    assert "pyautoattack" in r.settings["libraries"]
    assert r.success.any()  # ε = 48/255 on the tiny net: the standard version fools some
    assert applicable("autoattack", "adaptive") and not applicable("autoattack", "blackbox")


def test_autoattack_flags_are_read_from_its_checks(monkeypatch):
    import pyautoattack

    def fake_run(self, x, y, **kwargs):  # the library's checks warn on its own logger
        self.logger.warning("it seems to be a randomized defense! Please use version=\"rand\".")
        return x.clone(), y.clone()

    monkeypatch.setattr(pyautoattack.AutoAttack, "run_standard_evaluation", fake_run)
    bundle, _ = tiny()
    x, y = tiny_batch(2, seed=45)
    _, extras = autoattack(bundle.model, x, y, epsilon=0.01, version="standard", seed=0, num_classes=4)
    assert flag_names(int(extras["autoattack_flags"][0])) == ["randomized"]
    assert not any(type(h).__name__ == "_Collect" for h in logging.getLogger("auto-attack").handlers)
    assert [name for name, _ in FLAGS][0] == "randomized"
