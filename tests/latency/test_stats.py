"""The measurement protocol's statistics on synthetic timings (no clock involved)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from flopscope.latency import stats


def test_percentile_by_hand():
    values = [10, 20, 30, 40, 50]
    assert stats.percentile(values, 0) == 10
    assert stats.percentile(values, 50) == 30
    assert stats.percentile(values, 90) == pytest.approx(46.0)     # rank 3.6: 40 + 0.6 * 10
    assert stats.percentile(values, 99) == pytest.approx(49.6)     # rank 3.96
    assert stats.percentile(values, 100) == 50
    assert stats.percentile([4, 1, 3, 2], 50) == 2.5               # unsorted input, even count
    assert stats.percentile([7], 99) == 7


def test_percentile_matches_numpy_linear():
    rng = np.random.default_rng(1)
    values = list(rng.exponential(5.0, size=101))
    for q in (1, 25, 50, 90, 99):
        assert stats.percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_rejects_nonsense():
    with pytest.raises(ValueError):
        stats.percentile([], 50)
    with pytest.raises(ValueError):
        stats.percentile([1, 2], 101)


def test_summary_of_one_to_ten():
    s = stats.summarize(list(range(10, 0, -1)))
    assert (s.n, s.min, s.p50, s.mean) == (10, 1.0, 5.5, 5.5)
    assert s.p90 == pytest.approx(9.1)
    assert s.p99 == pytest.approx(9.91)
    sample_std = math.sqrt(sum((v - 5.5) ** 2 for v in range(1, 11)) / 9)   # n - 1
    assert s.std == pytest.approx(sample_std)
    assert s.cv == pytest.approx(sample_std / 5.5)


def test_summary_scaled_keeps_cv():
    s = stats.summarize([1_000_000, 2_000_000, 3_000_000])       # ns
    ms = s.scaled(1e-6)
    assert (ms.min, ms.p50, ms.mean) == pytest.approx((1.0, 2.0, 2.0))
    assert ms.std == pytest.approx(1.0)
    assert ms.cv == s.cv == pytest.approx(0.5)


def test_single_value_has_no_spread():
    s = stats.summarize([3.0])
    assert (s.std, s.cv, s.p99) == (0.0, 0.0, 3.0)


def test_warm_up_needs_ten_runs_even_when_flat():
    flat = [100.0] * 20
    assert not stats.warmed_up(flat[:5])
    assert not stats.warmed_up(flat[:9])
    assert stats.warmed_up(flat[:10])


def test_warm_up_stops_when_medians_settle():
    # a cold start falling to a plateau; window medians 70, 22, 20, 20
    times = [90, 80, 70, 60, 50, 30, 25, 22, 21, 20] + [20, 20.5, 19.8, 20.1, 20] * 2
    assert not stats.warmed_up(times[:10])     # 22 vs 70
    assert not stats.warmed_up(times[:15])     # 20 vs 22: 9%
    assert stats.warmed_up(times[:20])


def test_warm_up_tolerance_boundary():
    at_two_percent = [100.0] * 5 + [102.0] * 5
    just_over = [100.0] * 5 + [102.1] * 5
    assert stats.warmed_up(at_two_percent)
    assert not stats.warmed_up(just_over)
    assert stats.warmed_up(just_over, tolerance=0.03)


def test_warm_up_never_settles_on_alternating_windows():
    times = ([100.0] * 5 + [110.0] * 5) * 4
    assert not any(stats.warmed_up(times[:n]) for n in range(1, len(times) + 1))


def test_warm_up_window_and_minimum_are_parameters():
    times = [50, 40, 30, 10, 10, 10, 10, 10, 10, 10]
    assert not stats.warmed_up(times[:6], window=3, min_runs=6)    # medians 40 vs 10
    assert stats.warmed_up(times[:9], window=3, min_runs=6)        # 10 vs 10
    assert not stats.warmed_up(times[:6], window=2, min_runs=4)    # [10,10] vs [30,10] (20)
    assert stats.warmed_up(times[:8], window=2, min_runs=4)
    assert not stats.warmed_up(times[:8], window=2, min_runs=10)   # settled, but 8 < 10 runs
    assert stats.warmed_up(times[:10], window=2, min_runs=10)


def test_throughput_and_gflops():
    assert stats.throughput_per_s(8, 0.02) == pytest.approx(400.0)
    assert stats.gflops_per_s(4_000_000_000, 0.5) == pytest.approx(8.0)
    assert stats.gflops_per_s(None, 0.5) is None
    assert stats.throughput_per_s(1, 0.0) == 0.0
