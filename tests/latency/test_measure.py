"""The measurement protocol: run counts, the warm-up rule on a scripted clock, progress
through the caller's callback, and one real measurement of a tiny model."""

from __future__ import annotations

import dataclasses

import pytest

from flopscope.errors import FlopscopeError
from flopscope.latency import PRESETS, measure, stats
from flopscope.latency.measure import MIN_RUNS, Protocol, timed_runs, warm_up
from flopscope.latency.session import random_inputs
from flopscope.report import InputInfo
from tests.latency.nets import TOTAL_FLOPS, conv_bn_relu

X = [InputInfo("x", [1, 3, 8, 8], "float32")]


class ScriptedClock:
    """Stands in for the ``time`` module: the clock moves only while ``run`` runs, by
    the next of the scripted durations (ns)."""

    def __init__(self, durations):
        self.now = 0
        self._durations = iter(durations)

    def perf_counter_ns(self):
        return self.now

    def run(self):
        self.now += next(self._durations)


@pytest.fixture
def clock(monkeypatch):
    def install(durations):
        fake = ScriptedClock(durations)
        monkeypatch.setattr(measure, "time", fake)
        return fake
    return install


def test_protocol_limits():
    assert Protocol(iterations=7).limits() == (7, float("inf"), 7)
    assert Protocol(time_budget_s=2.0).limits()[1:] == (2.0, MIN_RUNS)
    most, seconds, fewest = Protocol(iterations=5, time_budget_s=1.0).limits()
    assert (most, seconds, fewest) == (5, 1.0, 5)
    assert Protocol().limits() == (measure.MAX_RUNS, measure.DEFAULT_TIME_BUDGET_S, MIN_RUNS)


@pytest.mark.parametrize("kwargs", [{"iterations": 0}, {"time_budget_s": 0}, {"warmup_budget_s": -1}])
def test_protocol_rejects_bad_values(kwargs):
    with pytest.raises(FlopscopeError):
        Protocol(**kwargs)


def test_timed_runs_counts_and_budget():
    calls = []
    times = timed_runs(lambda: calls.append(1), most=7, seconds=float("inf"))
    assert len(times) == len(calls) == 7
    assert all(isinstance(t, int) and t >= 0 for t in times)
    assert len(timed_runs(lambda: None, most=1000, seconds=0.0, fewest=3)) == 3


def test_timed_runs_records_each_run_and_stops_at_the_budget(clock):
    fake = clock([3_000_000] * 100)                       # 3 ms a run
    times = timed_runs(fake.run, most=1000, seconds=0.01, fewest=1)
    assert times == [3_000_000] * 4                       # 12 ms >= 10 ms after the 4th run


def test_warm_up_runs_at_least_ten_within_a_spent_budget():
    times, _ = warm_up(lambda: None, budget_s=0.0, max_runs=1000)
    assert len(times) == stats.WARMUP_MIN_RUNS


@pytest.mark.parametrize("durations, runs, settled", [
    ([100] * 20, 10, True),                                    # flat: the ten-run minimum
    # a cold start falling to a plateau; window medians 70, 22, 20: 22 vs 70, 20 vs 22 (9%), 20 vs 20
    ([90, 80, 70, 60, 50, 30, 25, 22, 21, 20] + [20, 20.5, 19.8, 20.1, 20] * 2, 20, True),
    (([100] * 5 + [110] * 5) * 4, 40, False),                  # never settles: max_runs ends it
])
def test_warm_up_stops_at_the_first_settled_window(clock, durations, runs, settled):
    fake = clock([int(d * 1000) for d in durations])
    times, done = warm_up(fake.run, budget_s=1e6, max_runs=40)
    assert (len(times), done) == (runs, settled)
    assert times == [int(d * 1000) for d in durations[:runs]]


def test_progress_goes_to_the_callback(clock):
    fake = clock([1000] * 100)
    calls = []
    timed_runs(fake.run, most=4, seconds=float("inf"), progress=lambda *a: calls.append(a))
    assert calls == [("measure", n / 4, f"{n} runs") for n in range(1, 5)]
    calls.clear()
    warm_up(fake.run, budget_s=1e6, max_runs=20, progress=lambda *a: calls.append(a))
    assert calls and all(phase == "warm-up" and 0 <= fraction <= 1 for phase, fraction, _ in calls)


def test_measure_a_session(tmp_path):
    calls = []
    lat = measure.measure(conv_bn_relu(tmp_path), random_inputs(X), PRESETS["cpu"], 1, {},
                          Protocol(iterations=3, warmup_budget_s=0.0), batch=1, flops=TOTAL_FLOPS,
                          progress=lambda *a: calls.append(a))
    assert (lat.preset, lat.threads, lat.iterations, lat.flops) == ("cpu", 1, 3, TOTAL_FLOPS)
    assert lat.warmup_runs >= stats.WARMUP_MIN_RUNS and lat.session_ms > 0
    assert {phase for phase, _, _ in calls} <= {"warm-up", "measure"} and calls
    assert lat.notes == [] or lat.notes[0].startswith("warm-up ended")


def test_the_preset_note_is_carried_by_every_measurement(tmp_path):
    noted = dataclasses.replace(PRESETS["cpu"], name="noted", note="a note of the preset")
    lat = measure.measure(conv_bn_relu(tmp_path), random_inputs(X), noted, 1, {},
                          Protocol(iterations=1, warmup_budget_s=0.0), batch=1, flops=None)
    assert lat.notes[-1] == "a note of the preset" and lat.preset == "noted"
    assert lat.gflops_per_s is None


def test_mlperf_protocol_runs_until_both_minimums():
    from flopscope.latency.measure import MLPERF_MIN_QUERIES, MLPERF_MIN_SECONDS

    assert (MLPERF_MIN_QUERIES, MLPERF_MIN_SECONDS) == (1024, 60.0)
    assert Protocol(name="mlperf").limits() == (10**8, 60.0, 1024)
    # a zero-second minimum still runs the minimum number of queries
    most, seconds, fewest = Protocol(name="mlperf", min_queries=25, min_seconds=0.0).limits()
    assert len(timed_runs(lambda: None, most, seconds, fewest)) == 25
    with pytest.raises(FlopscopeError, match="leave out --iterations"):
        Protocol(iterations=10, name="mlperf")
    with pytest.raises(FlopscopeError, match="unknown protocol 'fast'"):
        Protocol(name="fast")
