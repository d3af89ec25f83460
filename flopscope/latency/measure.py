"""Measurement: the protocol that holds on a noisy machine, and the timed runs.

Protocol: the session's creation and its first run are timed on their own; warm-up runs
go in windows of 5 until the median of a window is within 2% of the previous one's (at
least 10 runs, at most a warm-up time budget); then a fixed count of runs or a time
budget (the quick protocol), or, with ``Protocol(name="mlperf")``, MLPerf SingleStream's
minimum: at least 1,024 queries and 60 s, p90 the headline figure. Each run is timed
with ``time.perf_counter_ns`` around ``session.run`` alone;
:mod:`flopscope.latency.stats` turns the times into the figures of a :class:`Latency`.

Progress goes to a callback the caller supplies, ``progress(phase, fraction, detail)``
(phase ``"warm-up"`` or ``"measure"``, fraction 0 to 1, detail such as ``"40 runs"``);
nothing here writes to a stream.

>>> Protocol(iterations=50).limits()
(50, inf, 50)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flopscope.errors import FlopscopeError
from flopscope.latency import stats
from flopscope.latency.presets import Preset, cpu_name, fingerprint, gpu_name
from flopscope.latency.session import open_session, read_settings
from flopscope.report import Latency

#: ``progress(phase, fraction, detail)``: how far a measurement is
Progress = Callable[[str, float, str], None]

#: without --iterations or --time-budget, measure for this long (and at least MIN_RUNS runs)
DEFAULT_TIME_BUDGET_S = 3.0
MIN_RUNS = 10
#: a time budget never runs more than this many runs
MAX_RUNS = 100_000
#: MLPerf SingleStream's minimum duration: both at least this many queries and this long
MLPERF_MIN_QUERIES = 1024
MLPERF_MIN_SECONDS = 60.0
#: the measurement protocols
PROTOCOLS = ("quick", "mlperf")
#: warm-up stops after this long even if the median has not settled (but not before 10 runs)
WARMUP_BUDGET_S = 5.0
WARMUP_MAX_RUNS = 1_000


@dataclass(frozen=True)
class Protocol:
    """How many runs to time. ``iterations`` alone: exactly that many; ``time_budget_s``
    alone: until it is spent (at least ``MIN_RUNS``); both: whichever ends first;
    neither: ``DEFAULT_TIME_BUDGET_S``. ``name="mlperf"`` runs until both ``min_queries``
    runs and ``min_seconds`` have passed instead (iterations and budget are not taken).

    >>> Protocol(name="mlperf").limits()
    (100000000, 60.0, 1024)
    """

    iterations: int | None = None
    time_budget_s: float | None = None
    warmup_budget_s: float = WARMUP_BUDGET_S
    warmup_max_runs: int = WARMUP_MAX_RUNS
    name: str = "quick"
    min_queries: int = MLPERF_MIN_QUERIES
    min_seconds: float = MLPERF_MIN_SECONDS

    def __post_init__(self) -> None:
        if self.iterations is not None and self.iterations < 1:
            raise FlopscopeError("--iterations must be >= 1")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise FlopscopeError("--time-budget must be > 0 seconds")
        if self.warmup_budget_s < 0:
            raise FlopscopeError("the warm-up budget must be >= 0 seconds")
        if self.name not in PROTOCOLS:
            raise FlopscopeError(f"unknown protocol '{self.name}'; choose one of {', '.join(PROTOCOLS)}")
        if self.name == "mlperf" and (self.iterations is not None or self.time_budget_s is not None):
            raise FlopscopeError("--protocol mlperf runs at least 1,024 queries and 60 s: "
                                 "leave out --iterations and --time-budget")

    def limits(self) -> tuple[int, float, int]:
        """(most runs, seconds, fewest runs) of the measurement phase."""
        if self.name == "mlperf":
            return 10**8, self.min_seconds, self.min_queries
        if self.iterations is not None and self.time_budget_s is None:
            return self.iterations, float("inf"), self.iterations
        budget = self.time_budget_s if self.time_budget_s is not None else DEFAULT_TIME_BUDGET_S
        most = self.iterations if self.iterations is not None else MAX_RUNS
        return most, budget, min(MIN_RUNS, most)


def timed_runs(run: Callable[[], Any], most: int, seconds: float, fewest: int = 1,
               progress: Progress | None = None, phase: str = "measure") -> list[int]:
    """Run ``run`` until ``most`` runs or ``seconds`` have passed (but at least
    ``fewest`` runs); the time of each run in nanoseconds.

    >>> len(timed_runs(lambda: None, most=3, seconds=float("inf")))
    3
    """
    clock = time.perf_counter_ns
    times: list[int] = []
    append = times.append
    start = clock()
    deadline = start + seconds * 1e9 if seconds != float("inf") else float("inf")
    while len(times) < most:
        t0 = clock()
        run()
        t1 = clock()
        append(t1 - t0)
        if t1 >= deadline and len(times) >= fewest:
            break
        if progress is not None:
            done = max(len(times) / most, (t1 - start) / (seconds * 1e9) if seconds else 1.0)
            progress(phase, min(done, 1.0), f"{len(times)} runs")
    return times


def warm_up(run: Callable[[], Any], budget_s: float = WARMUP_BUDGET_S,
            max_runs: int = WARMUP_MAX_RUNS, progress: Progress | None = None) -> tuple[list[int], bool]:
    """Warm-up runs in windows until :func:`stats.warmed_up` holds or the budget is spent
    (never fewer than ``stats.WARMUP_MIN_RUNS`` runs); the times and whether it settled."""
    clock = time.perf_counter_ns
    times: list[int] = []
    start = clock()
    deadline = start + budget_s * 1e9
    while True:
        times += timed_runs(run, stats.WARMUP_WINDOW, float("inf"))
        if stats.warmed_up(times):
            return times, True
        now = clock()
        if len(times) >= max_runs or (now >= deadline and len(times) >= stats.WARMUP_MIN_RUNS):
            return times, False
        if progress is not None:
            spent = (now - start) / (budget_s * 1e9) if budget_s else 1.0
            progress("warm-up", min(max(len(times) / max_runs, spent), 1.0), f"{len(times)} runs")


def measure(path: Path, feeds: Mapping[str, Any], preset: Preset, threads: int,
            fixed: Mapping[str, int], protocol: Protocol, *, batch: int, flops: int | None,
            progress: Progress | None = None) -> Latency:
    """Open ``preset``'s session for the ONNX file ``path`` and time it under ``protocol``
    on ``feeds`` (``fixed``: the free-dimension overrides); ``batch`` and ``flops`` (per
    run) give throughput and GFLOP/s."""
    notes = []
    with open_session(path, preset, threads, feeds, free_dims=fixed) as live:
        t0 = time.perf_counter_ns()
        live.run()
        first_ns = time.perf_counter_ns() - t0
        warm, settled = warm_up(live.run, protocol.warmup_budget_s, protocol.warmup_max_runs, progress)
        most, seconds, fewest = protocol.limits()
        times = timed_runs(live.run, most, seconds, fewest, progress)
        settings = read_settings(live, preset, fixed)
        provider = live.session.get_providers()[0]
        affinity = live.affinity
    if not settled:
        notes.append(f"warm-up ended after {len(warm)} runs without the median settling "
                     f"within {stats.WARMUP_TOLERANCE:.0%}")
    if preset.note:
        notes.append(preset.note)
    ms = stats.summarize(times).scaled(1e-6)
    p50_s = ms.p50 / 1e3
    return Latency(
        preset=preset.name, provider=provider, threads=threads, batch=batch, iterations=len(times),
        p50_ms=ms.p50, p90_ms=ms.p90, p99_ms=ms.p99, mean_ms=ms.mean, std_ms=ms.std, min_ms=ms.min,
        cv=ms.cv, throughput_per_s=stats.throughput_per_s(batch, p50_s),
        gflops_per_s=stats.gflops_per_s(flops, p50_s), session_ms=live.session_ns / 1e6,
        first_run_ms=first_ns / 1e6, warmup_runs=len(warm), label=preset.label,
        device=gpu_name() if preset.device == "cuda" else cpu_name(), flops=flops, settings=settings,
        notes=notes, p95_ms=ms.p95, p999_ms=ms.p999, protocol=protocol.name,
        environment=fingerprint(preset, threads, affinity))
