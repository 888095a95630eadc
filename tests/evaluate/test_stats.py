"""Statistics against hand-computed small cases and against scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from persistworld.evaluate.stats import mean_ci, paired_comparison, sign_test, wilcoxon_signed_rank


def test_hand_computed_small_case():
    # B beats A on all 5 episodes by 1..5: exact two-sided tests give 2 / 2^5 = 0.0625 for both.
    result = paired_comparison([0.0] * 5, [1.0, 2.0, 3.0, 4.0, 5.0])
    assert (result.wins, result.losses, result.ties, result.win_rate) == (5, 0, 0, 1.0)
    assert result.sign_test_p == pytest.approx(0.0625)
    assert result.wilcoxon_p == pytest.approx(0.0625)
    # mean 3, sd sqrt(2.5), t(0.975, 4) = 2.7764451: half width 2.7764451 * sqrt(2.5 / 5) = 1.963243
    assert result.mean_delta.mean == 3.0
    assert result.mean_delta.low == pytest.approx(3 - 1.963243, abs=1e-5)
    assert result.mean_delta.high == pytest.approx(3 + 1.963243, abs=1e-5)


def test_direction_and_ties():
    # LPIPS-like metric: lower is better; B is lower on 3 episodes, equal on 1, higher on 1.
    result = paired_comparison([0.5, 0.5, 0.5, 0.5, 0.5], [0.4, 0.3, 0.2, 0.5, 0.6], higher_is_better=False)
    assert (result.wins, result.losses, result.ties) == (3, 1, 1)
    assert result.win_rate == pytest.approx(0.6)
    assert result.mean_delta.mean == pytest.approx(0.1)
    assert result.sign_test_p == pytest.approx(0.625)  # P(X<=1 or X>=3 | n=4) = 10/16
    assert paired_comparison([1.0, 2.0], [1.0, 2.0]).wilcoxon_p == 1.0
    assert math.isnan(mean_ci([2.0]).low)
    with pytest.raises(ValueError, match="same non-zero number"):
        paired_comparison([1.0, 2.0], [1.0])


@pytest.mark.parametrize("seed", range(5))
def test_against_scipy_on_random_data(seed: int):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(6, 60))
    a = rng.normal(size=n)
    b = a + rng.normal(0.2, 1.0, size=n)
    b[:2] = a[:2]  # ties
    result = paired_comparison(a, b)
    deltas = b - a
    nonzero = deltas[deltas != 0]
    assert result.wilcoxon_p == pytest.approx(scipy_stats.wilcoxon(nonzero).pvalue, rel=1e-12)
    wins = int((deltas > 0).sum())
    assert result.sign_test_p == pytest.approx(scipy_stats.binomtest(wins, nonzero.size).pvalue, rel=1e-12)
    low, high = scipy_stats.t.interval(0.95, n - 1, loc=deltas.mean(), scale=scipy_stats.sem(deltas))
    assert (result.mean_delta.low, result.mean_delta.high) == pytest.approx((low, high), rel=1e-10)
    assert sign_test(0, 0) == 1.0 and wilcoxon_signed_rank(np.zeros(3)) == 1.0
