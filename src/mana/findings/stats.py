"""Mann–Whitney U on 1–5 ratings, from counts (no dependency).

Normal approximation with tie correction and continuity correction, which is what
`scipy.stats.mannwhitneyu(x, y, alternative="less", method="asymptotic")` computes. The rules
only run it with at least `rating_min_recent` and `rating_min_baseline` ratings per side, where
the approximation is good; ratings have five values, so ties are the norm and are corrected for.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class RankTest:
    u: float
    p_value: float


def mann_whitney_less(recent: Mapping[int, int], baseline: Mapping[int, int]) -> RankTest:
    """U of `recent` and the one-sided p-value that recent ratings are lower than baseline.

    Both arguments map a rating value to how often it was given.
    """
    n1 = sum(recent.values())
    n2 = sum(baseline.values())
    n = n1 + n2
    if n1 == 0 or n2 == 0:
        return RankTest(u=0.0, p_value=1.0)
    rank_sum = 0.0
    ties = 0.0
    below = 0
    for value in sorted(set(recent) | set(baseline)):
        together = recent.get(value, 0) + baseline.get(value, 0)
        if together == 0:
            continue
        average_rank = below + (together + 1) / 2
        rank_sum += recent.get(value, 0) * average_rank
        ties += together**3 - together
        below += together
    u = rank_sum - n1 * (n1 + 1) / 2
    mean = n1 * n2 / 2
    variance = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))
    if variance <= 0:
        return RankTest(u=u, p_value=1.0)  # every rating identical: nothing to test
    z = (u - mean + 0.5) / math.sqrt(variance)
    return RankTest(u=u, p_value=0.5 * math.erfc(-z / math.sqrt(2)))
