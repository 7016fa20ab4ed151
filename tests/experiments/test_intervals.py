"""Wilson intervals: textbook values, edges, and coverage."""

from __future__ import annotations

import numpy as np
import pytest

from regroup_core.experiments.intervals import wilson_interval


def test_textbook_values():
    lo, hi = wilson_interval(81, 263)  # Wilson interval example (Newcombe 1998, 81/263)
    assert lo == pytest.approx(0.2553, abs=1e-4) and hi == pytest.approx(0.3662, abs=1e-4)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(0, 10)[1] == pytest.approx(0.2775, abs=1e-4)
    assert wilson_interval(10, 10)[1] == 1.0 and wilson_interval(10, 10)[0] == pytest.approx(0.7225, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(5, 4)


def test_about_95_percent_coverage():
    rng = np.random.default_rng(0)
    n, p, trials = 100, 0.3, 4000
    hits = sum(lo <= p <= hi for lo, hi in (wilson_interval(int(k), n) for k in rng.binomial(n, p, trials)))
    assert 0.93 < hits / trials < 0.97
