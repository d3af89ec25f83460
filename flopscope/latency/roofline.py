"""A roofline view: this host's peaks beside each layer's arithmetic intensity.

The peaks have one home, :mod:`flopscope.latency.peaks`: the host profile of the run's
preset and thread count (the ``cpu`` preset's by default), measured by ONNX Runtime itself
under that preset (so the MLAS kernels, threads and pinning are those the model runs
with) once per host and cached in ``host.json``. The compute roof is the fp32 peak (the
better of a 512x512 ``MatMul`` and a 3x3 ``Conv``), or the int8 ``MatMulInteger`` peak for
a model whose weights are int8 (:func:`roof_dtype`); the memory roof is the bandwidth of
a copy-bound ``Add`` over 64 MiB (every byte read once and written once). A layer whose
intensity (FLOPs / traffic bytes, from the report) is below the ridge point (peak FLOP/s /
bandwidth) is memory-bound, otherwise compute-bound. These are practical peaks of this
host, not datasheet ones.

>>> from flopscope.latency.predict import Calibration
>>> host = HostProfile("a host", {"fp32": 100.0}, 10.0, Calibration({}))
>>> view = roofline(report, p50_ms=50.0, host=host)
>>> view.ridge_flops_per_byte, view.bound, round(view.fraction_of_peak, 3)
(10.0, 'compute', 0.727)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from flopscope.latency.peaks import HostProfile, host_profile
from flopscope.latency.predict import COMPUTE, MEMORY
from flopscope.latency.presets import Preset

#: a model whose weights average at most this many bytes per parameter is quantised to int8
#: (int8 matrices, with float biases, scales and the odd float layer beside them: fp16 is 2)
INT8_MAX_BYTES_PER_PARAM = 1.5


def roof_dtype(report: Any) -> str:
    """The dtype of ``report``'s compute roof, read from its weights: ``"int8"`` when they
    average at most :data:`INT8_MAX_BYTES_PER_PARAM` bytes per parameter (a quantised
    model), else ``"fp32"`` (fp16 and bf16 models too: the host profile measures no
    half-precision peak, and ORT's CPU kernels mostly compute them in fp32).

    >>> roof_dtype(report)
    'fp32'
    """
    totals = report.totals
    if totals.params and totals.param_bytes <= INT8_MAX_BYTES_PER_PARAM * totals.params:
        return "int8"
    return "fp32"


def compute_roof(report: Any, host: HostProfile) -> tuple[str, float]:
    """(dtype, GFLOP/s) of ``report``'s compute roof on ``host``: the host's peak for
    :func:`roof_dtype`, its fp32 peak when it has none measured for that dtype.

    >>> from flopscope.latency.predict import Calibration
    >>> compute_roof(report, HostProfile("h", {"fp32": 90.0, "int8": 300.0}, 9.0, Calibration({})))
    ('fp32', 90.0)
    """
    dtype = roof_dtype(report)
    if dtype not in host.gflops_per_s:
        dtype = "fp32"
    return dtype, host.peak(dtype)


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
    """The model on the host's roofline.

    ``peak_gflops_per_s`` and ``bandwidth_gb_per_s`` are the roofs: the host profile's
    peak for the model's dtype (:func:`compute_roof`; GOP/s for int8) and its bandwidth,
    both measured by ONNX Runtime under the run's preset and cached
    (:mod:`flopscope.latency.peaks`; earlier versions measured a ``MatMul`` in a plain ORT
    session and a one-thread numpy copy in each process). ``ridge_flops_per_byte`` is their ratio;
    ``intensity`` and ``bound`` the whole model's; ``achieved_gflops_per_s`` its FLOPs over
    the measured p50 and ``fraction_of_peak`` that over the peak; ``notes`` name the host
    profile and the dtype the roof is for.
    """

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
             preset: str | Preset = "cpu", threads: int | None = None, host: HostProfile | None = None,
             layer_times: Mapping[str, tuple[float, int | None]] | None = None) -> Roofline:
    """Place ``report``'s layers and the whole model on the roofline.

    ``p50_ms`` and ``flops`` (default: the report's total) give the model's achieved
    GFLOP/s; the roofs are ``host``'s, by default the cached host profile of ``preset``
    with ``threads`` intra-op threads (:func:`~flopscope.latency.peaks.host_profile`,
    measured on first use: the run's preset and thread count); ``layer_times`` maps a layer
    name to (ms per run, FLOPs that time covers), as a per-layer profile gives for the
    layers that carry a fused group's time.
    """
    host = host or host_profile(preset, threads)
    dtype, peak = compute_roof(report, host)
    bandwidth = host.bandwidth_gb_per_s
    notes = [f"peaks of this host measured by ONNX Runtime ({host.key}; {host.measured or 'unknown date'}, "
             f"cached by flopscope.latency.peaks): the {dtype} compute peak and a copy-bound Add's "
             "bandwidth"]
    weights = roof_dtype(report)
    if dtype != weights:
        notes.append(f"the weights are {weights} but this host has no {weights} peak measured: "
                     f"the roof is the {dtype} one")
    ridge = peak / bandwidth
    total_flops = report.totals.flops if flops is None else flops
    traffic = report.totals.traffic_bytes
    intensity = total_flops / traffic if traffic else None
    achieved = total_flops / (p50_ms / 1e3) / 1e9 if p50_ms else None
    notes.append("bandwidth is a copy through main memory: layers whose tensors stay in the "
                 "caches can run above their memory-bound line")
    if achieved is not None and achieved > peak:
        notes.append("the model ran faster than the measured compute peak: the host was busier "
                     "while the peaks were measured (a noisy machine); measure them again with "
                     "flopscope.latency.peaks.host_profile(refresh=True)")
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
