"""Confidence intervals for accuracies measured on n images."""

from __future__ import annotations

import math

__all__ = ["Z95", "wilson_interval"]

Z95 = 1.959963984540054
"""The two-sided 95 % normal quantile."""


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval (fractions in [0, 1]) for ``successes`` out of ``n`` trials.

    Unlike the normal approximation it stays inside [0, 1] and is sensible at 0 % and 100 %
    (Wilson 1927; Brown, Cai & DasGupta 2001). ``n = 0`` gives the uninformative (0, 1).
    """
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"expected 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    lo = 0.0 if successes == 0 else max(0.0, centre - half)  # exact at the edges (no 0.9999999999999999)
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return lo, hi
