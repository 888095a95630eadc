"""Preference statistics against scipy and hand-computed cases."""

from __future__ import annotations

import math

import pytest
from scipy import stats as scipy_stats

from persistworld.study.stats import preference, wilson_interval


@pytest.mark.parametrize(("successes", "trials"), [(0, 5), (3, 10), (8, 10), (160, 200), (200, 200), (1, 1)])
def test_wilson_interval_matches_scipy(successes: int, trials: int):
    reference = scipy_stats.binomtest(successes, trials).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson_interval(successes, trials) == pytest.approx((reference.low, reference.high), abs=1e-12)


def test_hand_computed_case_and_ties():
    # 8 of 10 prefer B: Wilson 95% = (0.4902, 0.9433); two-sided exact binomial p = 112/1024 = 0.109375
    result = preference(prefer_a=2, prefer_b=8, ties=3)
    assert (result.votes, result.rate_b) == (13, 0.8)
    assert (result.ci_low, result.ci_high) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert result.p_value == pytest.approx(0.109375)
    assert result.p_value == pytest.approx(scipy_stats.binomtest(8, 10).pvalue)
    empty = preference(0, 0, ties=2)
    assert math.isnan(empty.rate_b) and empty.p_value == 1.0 and empty.votes == 2
