"""Statistics of evaluations: means with confidence intervals and paired comparisons of two models.

Episodes are the unit of analysis: each model is rolled out on the same held-out episodes with the
same seeds, so per-episode scores are paired, and model B is compared with model A through the
per-episode deltas (B - A, oriented so that a positive delta means B is better). The tests:

- 95% CI of a mean: Student t interval (scipy's t quantile);
- win rate: the fraction of episodes on which B is better (ties are counted and reported apart);
- sign test: exact two-sided binomial test of wins vs losses, ties dropped;
- Wilcoxon signed-rank: scipy's two-sided test, zero deltas dropped (``zero_method="wilcox"``), exact
  distribution for small n without ties, the normal approximation otherwise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as scipy_stats


@dataclass(frozen=True)
class MeanCI:
    """A mean with its two-sided confidence interval (NaN bounds for fewer than 2 values)."""

    mean: float
    low: float
    high: float
    n: int

    def as_dict(self) -> dict[str, float]:
        """Plain floats for JSON."""
        return asdict(self)


def mean_ci(values: np.ndarray | list[float], confidence: float = 0.95) -> MeanCI:
    """Mean and Student-t confidence interval of independent values."""
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("mean_ci of no values.")
    mean = float(x.mean())
    if x.size < 2:
        return MeanCI(mean, math.nan, math.nan, int(x.size))
    half = float(scipy_stats.t.ppf(0.5 + confidence / 2, df=x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return MeanCI(mean, mean - half, mean + half, int(x.size))


@dataclass(frozen=True)
class PairedComparison:
    """Model B against model A on the same episodes (delta = B - A, sign-flipped for lower-is-better)."""

    n: int
    mean_delta: MeanCI
    wins: int
    losses: int
    ties: int
    win_rate: float  # wins / n
    sign_test_p: float
    wilcoxon_p: float

    def as_dict(self) -> dict[str, object]:
        """Plain values for JSON."""
        out = asdict(self)
        out["mean_delta"] = self.mean_delta.as_dict()
        return out


def sign_test(wins: int, losses: int) -> float:
    """Exact two-sided sign test p-value of `wins` against `losses` (ties already dropped)."""
    if wins + losses == 0:
        return 1.0
    return float(scipy_stats.binomtest(wins, wins + losses, 0.5).pvalue)


def wilcoxon_signed_rank(deltas: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired deltas; 1.0 when every delta is zero."""
    nonzero = deltas[deltas != 0]
    if nonzero.size == 0:
        return 1.0
    return float(scipy_stats.wilcoxon(nonzero, zero_method="wilcox", alternative="two-sided").pvalue)


def paired_comparison(
    a: np.ndarray | list[float], b: np.ndarray | list[float], higher_is_better: bool = True
) -> PairedComparison:
    """Compare per-episode scores of model B with model A's on the same episodes.

    Args:
        a: Per-episode scores of model A (the reference, e.g. the baseline).
        b: Per-episode scores of model B, same episodes in the same order.
        higher_is_better: The metric's direction; deltas are oriented so that positive = B better.
    """
    x, y = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape or x.size == 0:
        raise ValueError(f"paired scores need the same non-zero number of episodes, got {x.size} and {y.size}.")
    deltas = (y - x) if higher_is_better else (x - y)
    wins, losses = int((deltas > 0).sum()), int((deltas < 0).sum())
    return PairedComparison(
        n=int(deltas.size),
        mean_delta=mean_ci(deltas),
        wins=wins,
        losses=losses,
        ties=int(deltas.size - wins - losses),
        win_rate=wins / deltas.size,
        sign_test_p=sign_test(wins, losses),
        wilcoxon_p=wilcoxon_signed_rank(deltas),
    )
