"""Preference statistics: Wilson score interval and the exact two-sided binomial test against 50 %.

"Can't tell" votes are reported but left out of the preference rate, as in a sign test: the rate is
the share of decided votes that preferred a model.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from scipy import stats as scipy_stats


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion; (nan, nan) without trials."""
    if trials == 0:
        return math.nan, math.nan
    z = float(scipy_stats.norm.ppf(0.5 + confidence / 2))
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Preference:
    """How often model B was preferred over model A among decided votes."""

    votes: int  # all votes, ties included
    prefer_a: int
    prefer_b: int
    ties: int
    rate_b: float  # prefer_b / (prefer_a + prefer_b)
    ci_low: float
    ci_high: float
    p_value: float  # exact two-sided binomial test of prefer_b against 50 %

    def as_dict(self) -> dict[str, float | None]:
        """Plain values for JSON (NaN, i.e. no decided votes yet, becomes None)."""
        return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in asdict(self).items()}


def preference(prefer_a: int, prefer_b: int, ties: int = 0) -> Preference:
    """Preference rate of B with its Wilson 95 % interval and binomial p-value."""
    decided = prefer_a + prefer_b
    low, high = wilson_interval(prefer_b, decided)
    p_value = float(scipy_stats.binomtest(prefer_b, decided, 0.5).pvalue) if decided else 1.0
    return Preference(
        votes=decided + ties, prefer_a=prefer_a, prefer_b=prefer_b, ties=ties,
        rate_b=prefer_b / decided if decided else math.nan, ci_low=low, ci_high=high, p_value=p_value,
    )  # fmt: skip
