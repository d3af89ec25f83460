"""Statistics of the measurement protocol: pure functions of lists of timings.

Timings may be in any unit (the measurement records integer nanoseconds); every result is
in the unit of its input, except :func:`throughput_per_s` and :func:`gflops_per_s`,
which take seconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

#: the warm-up rule: runs are grouped in windows of this many
WARMUP_WINDOW = 5
#: warm-up ends when a window's median is within this fraction of the previous window's
WARMUP_TOLERANCE = 0.02
#: and never before this many warm-up runs
WARMUP_MIN_RUNS = 10


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by linear interpolation between closest ranks.

    The same definition as ``numpy.percentile``'s default (``method="linear"``): the
    rank is ``q/100 * (n - 1)`` in the sorted values.

    >>> percentile([1, 2, 3, 4], 50)
    2.5
    >>> percentile([10, 20, 30, 40, 50], 90)
    46.0
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is not within 0..100")
    ordered = sorted(values)
    rank = q / 100 * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    frac = rank - low
    return ordered[low] + (ordered[high] - ordered[low]) * frac


def median(values: Sequence[float]) -> float:
    """The 50th percentile."""
    return percentile(values, 50)


def mean(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("mean of no values")
    return math.fsum(values) / len(values)


def std(values: Sequence[float]) -> float:
    """Sample standard deviation (``n - 1`` in the denominator); 0 for one value."""
    n = len(values)
    if n < 2:
        return 0.0
    m = mean(values)
    return math.sqrt(math.fsum((v - m) ** 2 for v in values) / (n - 1))


def cv(values: Sequence[float]) -> float:
    """Coefficient of variation: sample std / mean (0 when the mean is 0)."""
    m = mean(values)
    return std(values) / m if m else 0.0


@dataclass(frozen=True)
class Summary:
    """Order statistics and moments of one series of timings, in its unit."""

    n: int
    min: float
    p50: float
    p90: float
    p99: float
    mean: float
    std: float
    cv: float
    p95: float = 0.0
    p999: float = 0.0

    def scaled(self, factor: float) -> Summary:
        """The same summary in another unit (``cv`` and ``n`` are unit-free)."""
        return Summary(self.n, self.min * factor, self.p50 * factor, self.p90 * factor,
                       self.p99 * factor, self.mean * factor, self.std * factor, self.cv,
                       self.p95 * factor, self.p999 * factor)


def summarize(values: Sequence[float]) -> Summary:
    """min, p50, p90, p95, p99, p99.9, mean, sample std and cv of ``values``.

    >>> summarize([4, 1, 3, 2]).p50
    2.5
    """
    if not values:
        raise ValueError("no timings to summarize")
    return Summary(n=len(values), min=float(min(values)), p50=percentile(values, 50),
                   p90=percentile(values, 90), p99=percentile(values, 99), mean=mean(values),
                   std=std(values), cv=cv(values), p95=percentile(values, 95),
                   p999=percentile(values, 99.9))


def warmed_up(times: Sequence[float], *, window: int = WARMUP_WINDOW,
              tolerance: float = WARMUP_TOLERANCE, min_runs: int = WARMUP_MIN_RUNS) -> bool:
    """True when the warm-up may stop after ``times``: at least ``min_runs`` runs and two
    full windows, and the median of the last ``window`` runs within ``tolerance``
    (relative) of the median of the ``window`` runs before them.

    :func:`flopscope.latency.measure.warm_up` calls it after each window of runs.

    >>> warmed_up([100] * 5 + [101] * 5)
    True
    """
    if window < 1:
        raise ValueError("window must be >= 1")
    n = len(times)
    if n < max(min_runs, 2 * window):
        return False
    last = median(times[n - window:])
    previous = median(times[n - 2 * window:n - window])
    return abs(last - previous) <= tolerance * abs(previous)


def throughput_per_s(batch: int, seconds_per_run: float) -> float:
    """Samples per second when one run of ``batch`` samples takes ``seconds_per_run``."""
    return batch / seconds_per_run if seconds_per_run > 0 else 0.0


def gflops_per_s(flops: int | None, seconds_per_run: float) -> float | None:
    """Achieved GFLOP/s: counted FLOPs of one run / its time; None without a count."""
    if flops is None or seconds_per_run <= 0:
        return None
    return flops / seconds_per_run / 1e9



# --------------------------------------------------------------------------- prediction error


def mape(predicted: Sequence[float], measured: Sequence[float]) -> float:
    """Mean absolute percentage error of ``predicted`` against ``measured`` (a fraction:
    0.1 is 10%); pairs whose measured value is 0 are left out.

    >>> mape([110, 90], [100, 100])
    0.1
    """
    pairs = [(p, m) for p, m in zip(predicted, measured, strict=True) if m]
    if not pairs:
        raise ValueError("mape of no measured values")
    return math.fsum(abs(p - m) / abs(m) for p, m in pairs) / len(pairs)


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing their mean rank.

    >>> ranks([30, 10, 20, 10])
    [4.0, 1.5, 3.0, 1.5]
    """
    order = sorted(range(len(values)), key=values.__getitem__)
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman rank correlation: Pearson's r of the ranks (ties averaged); 0 when either
    side is constant.

    >>> spearman([1, 2, 3], [10, 20, 30])
    1.0
    >>> spearman([1, 2, 3], [3, 2, 1])
    -1.0
    """
    if len(a) != len(b):
        raise ValueError("spearman of sequences of different lengths")
    if len(a) < 2:
        raise ValueError("spearman of fewer than 2 pairs")
    ra, rb = ranks(a), ranks(b)
    ma, mb = mean(ra), mean(rb)
    cov = math.fsum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va = math.fsum((x - ma) ** 2 for x in ra)
    vb = math.fsum((y - mb) ** 2 for y in rb)
    return cov / math.sqrt(va * vb) if va and vb else 0.0
