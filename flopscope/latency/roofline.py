"""A roofline view: the host's measured peaks beside each layer's arithmetic intensity.

The peaks are measured once per process (and thread count) by two small benchmarks: a
float32 512x512 matrix product run by ONNX Runtime itself, with as many intra-op
threads as the measured run (so the MLAS kernels and the thread count are those the model
ran with; a BLAS product through numpy would use however many threads its library
chose), and a large array copy through numpy for memory bandwidth (one thread; bytes read
+ bytes written). A layer whose intensity (FLOPs / traffic bytes, from the report) is
below the ridge point (peak FLOP/s / bandwidth) is memory-bound, otherwise compute-bound.
These are practical peaks of this host, not datasheet ones.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

#: matrix size of the compute benchmark (2·n³ FLOPs: 268 MFLOP for 512). Its operands fit
#: in the caches, so the kernel runs at its arithmetic peak; at 1024 and above the same
#: kernel measured 30% lower on the development host (an EPYC), limited by the caches.
MATMUL_N = 512
#: bytes copied by the bandwidth benchmark: far beyond any cache
COPY_BYTES = 64 << 20
#: each benchmark keeps its best of at least this many runs...
REPEATS = 10
#: ...and goes on for at least this long, so that a busy neighbour's pause is caught
MIN_SECONDS = 0.2

COMPUTE, MEMORY = "compute", "memory"


@dataclass(frozen=True)
class HostPeaks:
    """Measured peaks of this host: GFLOP/s with ``threads`` intra-op threads, and GB/s."""

    gflops_per_s: float
    bandwidth_gb_per_s: float
    threads: int
    method: str = (f"ONNX Runtime float32 {MATMUL_N}x{MATMUL_N} MatMul and numpy {COPY_BYTES >> 20} MiB "
                   f"copy, best of >= {REPEATS} runs and {MIN_SECONDS} s each")


def _matmul_model(n: int) -> bytes:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    b = numpy_helper.from_array(np.random.default_rng(0).standard_normal((n, n), dtype=np.float32), "b")
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "peak",
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n])],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])], [b])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def measure_peak_gflops(n: int = MATMUL_N, repeats: int = REPEATS, threads: int = 1) -> float:
    """Best GFLOP/s of an ``n``×``n`` float32 MatMul (2·n³ FLOPs) in ONNX Runtime with
    ``threads`` intra-op threads."""
    import numpy as np
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    session = ort.InferenceSession(_matmul_model(n), so, providers=["CPUExecutionProvider"])
    feeds = {"a": np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)}
    session.run(None, feeds)                    # warm-up: thread pool, page faults
    return 2 * n**3 / _best(lambda: session.run(None, feeds), repeats) / 1e9


def measure_bandwidth(nbytes: int = COPY_BYTES, repeats: int = REPEATS) -> float:
    """Best GB/s of copying ``nbytes`` with numpy (counting the bytes read and written)."""
    import numpy as np

    src = np.ones(nbytes // 8, dtype=np.float64)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    return 2 * src.nbytes / _best(lambda: np.copyto(dst, src), repeats) / 1e9


def _best(fn, repeats: int, min_seconds: float = MIN_SECONDS) -> float:
    """Shortest time of ``fn`` in seconds over at least ``repeats`` runs and ``min_seconds``
    (with ``repeats`` < 3, exactly ``repeats`` runs: the tests' quick path)."""
    best = float("inf")
    start = time.perf_counter_ns()
    runs = 0
    while runs < repeats or (repeats >= 3 and time.perf_counter_ns() - start < min_seconds * 1e9
                             and runs < 100 * repeats):
        t0 = time.perf_counter_ns()
        fn()
        best = min(best, max(time.perf_counter_ns() - t0, 1) / 1e9)
        runs += 1
    return best


@lru_cache(maxsize=8)
def host_peaks(threads: int | None = None) -> HostPeaks:
    """This host's peaks with ``threads`` intra-op threads (default: one per physical core),
    measured on first use and cached for the process (about a second)."""
    from flopscope.latency.presets import physical_cores

    threads = threads or physical_cores()
    return HostPeaks(measure_peak_gflops(threads=threads), measure_bandwidth(), threads)


def classify(intensity: float | None, ridge: float) -> str | None:
    """``"compute"`` when ``intensity`` (FLOPs/byte) reaches the ridge point, else ``"memory"``."""
    if intensity is None:
        return None
    return COMPUTE if intensity >= ridge else MEMORY


@dataclass
class RooflineLayer:
    """One layer on the roofline; times come from a per-layer profile when there is one."""

    name: str
    op: str
    flops: int | None
    traffic_bytes: int | None
    intensity: float | None
    bound: str | None
    attainable_gflops_per_s: float | None
    time_ms: float | None = None
    achieved_gflops_per_s: float | None = None
    fraction_of_attainable: float | None = None


@dataclass
class Roofline:
    """The model on the host's roofline."""

    peak_gflops_per_s: float
    bandwidth_gb_per_s: float
    ridge_flops_per_byte: float
    intensity: float | None
    bound: str | None
    achieved_gflops_per_s: float | None
    fraction_of_peak: float | None
    layers: list[RooflineLayer] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def roofline(report: Any, *, p50_ms: float | None = None, flops: int | None = None,
             threads: int | None = None, peaks: HostPeaks | None = None,
             layer_times: Mapping[str, tuple[float, int | None]] | None = None) -> Roofline:
    """Place ``report``'s layers and the whole model on the roofline.

    ``p50_ms`` and ``flops`` (default: the report's total) give the model's achieved
    GFLOP/s; ``threads`` is the run's intra-op thread count, with which the compute peak
    is measured (unless ``peaks`` are given); ``layer_times`` maps a layer name to (ms per
    run, FLOPs that time covers), as a per-layer profile gives for the layers that carry a
    fused group's time.
    """
    peaks = peaks or host_peaks(threads)
    notes = [f"peaks measured on this host with {peaks.threads} thread(s): {peaks.method}"]
    peak = peaks.gflops_per_s
    bandwidth = peaks.bandwidth_gb_per_s
    ridge = peak / bandwidth
    total_flops = report.totals.flops if flops is None else flops
    traffic = report.totals.traffic_bytes
    intensity = total_flops / traffic if traffic else None
    achieved = total_flops / (p50_ms / 1e3) / 1e9 if p50_ms else None
    notes.append("bandwidth is a copy through main memory: layers whose tensors stay in the "
                 "caches can run above their memory-bound line")
    if achieved is not None and achieved > peak:
        notes.append("the model ran faster than the measured compute peak: the host was busier "
                     "while the peak was measured (a noisy machine); rerun for a cleaner peak")
    rows = []
    for layer in report.layers:
        li = layer.flops / layer.traffic_bytes if layer.flops is not None and layer.traffic_bytes else None
        row = RooflineLayer(layer.name, layer.op, layer.flops, layer.traffic_bytes, li,
                            classify(li, ridge),
                            None if li is None else min(peak, li * bandwidth))
        if layer_times and layer.name in layer_times:
            ms, covered = layer_times[layer.name]
            row.time_ms = ms
            if covered is not None and ms > 0:
                row.achieved_gflops_per_s = covered / (ms / 1e3) / 1e9
                if row.attainable_gflops_per_s:
                    row.fraction_of_attainable = row.achieved_gflops_per_s / row.attainable_gflops_per_s
        rows.append(row)
    return Roofline(peak_gflops_per_s=peak, bandwidth_gb_per_s=bandwidth, ridge_flops_per_byte=ridge,
                    intensity=intensity, bound=classify(intensity, ridge),
                    achieved_gflops_per_s=achieved,
                    fraction_of_peak=achieved / peak if achieved is not None and peak else None,
                    layers=rows, notes=notes)
