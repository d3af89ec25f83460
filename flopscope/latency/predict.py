"""Predicted latency: each layer's roofline time, scaled by what ORT reaches on this host.

A layer's roofline time is ``max(FLOPs / peak, traffic bytes / bandwidth)`` (the peaks of
:mod:`flopscope.latency.peaks`, or a named device's); the larger term says whether it is
compute- or memory-bound. No kernel reaches the roofline, so each time is divided by an
*efficiency* learned for its op family and bound (``"Conv/compute"``, ``"Relu/memory"``):
the roofline time of the calibration layers over the time ORT's per-node profiler measured
for them (:func:`fit`), plus a fixed per-kernel overhead. Layers ORT fuses into the
preceding Conv or Gemm at the preset's optimisation level (BatchNorm, activations, the
residual Add) cost nothing of their own. The model's prediction is the sum of its layers'.

Everything here is a pure function of numbers; measuring the peaks and profiling the
calibration graphs is :mod:`flopscope.latency.peaks`.

>>> cal = Calibration({"Conv/compute": 0.5}, overhead_ms=0.0)
>>> p = predict([_L("c", "Conv", 2e9, 1e6)], 100.0, 10.0, cal)
>>> round(p.predicted_ms, 3), p.layers[0].bound
(40.0, 'compute')
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

from flopscope.latency import stats
from flopscope.latency.profile import MEASURED, op_family

COMPUTE, MEMORY = "compute", "memory"
#: efficiency of an op family the calibration never saw, pooled over its bound if possible
DEFAULT_EFFICIENCY = 0.3
#: efficiencies are kept within these bounds (above 1: a kernel whose tensors stay in the caches
#: beats the main-memory bandwidth; a zero-copy Reshape is nearly free)
MIN_EFFICIENCY, MAX_EFFICIENCY = 1e-3, 20.0
#: ops that produce the layers others fuse into
FUSION_HEADS = frozenset({"Conv", "Gemm", "MatMul", "ConvTranspose"})
_ACTIVATIONS = frozenset({"Relu", "Clip", "Sigmoid", "HardSigmoid", "LeakyRelu", "Tanh", "HardSwish"})
#: ops ORT fuses into a preceding head at each graph optimisation level: ConvBNFusion is
#: basic, ConvActivationFusion extended, and the NCHWc transformer (all) also takes the Add
#: of a residual connection into the convolution
FUSED_AT_LEVEL: dict[str, frozenset[str]] = {
    "disable": frozenset(),
    "basic": frozenset({"BatchNormalization"}),
    "extended": frozenset({"BatchNormalization"}) | _ACTIVATIONS,
    "all": frozenset({"BatchNormalization", "Add"}) | _ACTIVATIONS,
}


class _L(NamedTuple):
    """A layer as the prediction reads it (the report's :class:`~flopscope.report.Layer`
    has these fields too)."""

    name: str
    op: str
    flops: float | None
    traffic_bytes: float | None


@dataclass(frozen=True)
class Calibration:
    """What ORT reaches on a host: ``efficiencies`` by ``"<op>/<bound>"`` (fraction of the
    roofline), and ``overhead_ms``, the fixed cost of one kernel launch."""

    efficiencies: Mapping[str, float]
    overhead_ms: float = 0.0
    samples: int = 0

    def efficiency(self, op: str, bound: str) -> float:
        """The efficiency of ``op`` when ``bound``: its own, else the pooled one of its
        bound (``"*/memory"``), else :data:`DEFAULT_EFFICIENCY`.

        >>> Calibration({"*/memory": 0.2}).efficiency("Relu", "memory")
        0.2
        """
        for key in (f"{op}/{bound}", f"*/{bound}"):
            if key in self.efficiencies:
                return self.efficiencies[key]
        return DEFAULT_EFFICIENCY

    def to_dict(self) -> dict[str, Any]:
        return {"efficiencies": dict(self.efficiencies), "overhead_ms": self.overhead_ms,
                "samples": self.samples}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        return cls(dict(data["efficiencies"]), float(data["overhead_ms"]), int(data.get("samples", 0)))


@dataclass(frozen=True)
class LayerPrediction:
    """One layer's roofline time, its bound and its predicted time (0 when fused)."""

    name: str
    op: str
    roofline_ms: float | None
    bound: str | None
    efficiency: float | None
    predicted_ms: float
    fused_into: str = ""


@dataclass(frozen=True)
class Prediction:
    """A model's predicted latency and its layers'."""

    predicted_ms: float
    peak_gflops_per_s: float
    bandwidth_gb_per_s: float
    layers: tuple[LayerPrediction, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Sample:
    """A calibration point: a measured ORT group headed by ``op``, its roofline time and bound."""

    op: str
    bound: str
    roofline_ms: float
    measured_ms: float


def roofline_ms(flops: float, traffic_bytes: float, gflops_per_s: float,
                bandwidth_gb_per_s: float) -> tuple[float, str]:
    """(roofline time in ms, ``"compute"`` or ``"memory"``): the larger of FLOPs / peak and
    bytes / bandwidth.

    >>> roofline_ms(1e9, 1e6, 100.0, 10.0)
    (10.0, 'compute')
    """
    compute = flops / (gflops_per_s * 1e9) * 1e3
    memory = traffic_bytes / (bandwidth_gb_per_s * 1e9) * 1e3
    return (compute, COMPUTE) if compute >= memory else (memory, MEMORY)


def fused_heads(layers: Sequence[Any], optimization: str = "all") -> dict[str, str]:
    """Layer name -> the head it is fused into: a run of ops in ``FUSED_AT_LEVEL[optimization]``
    right after a Conv/Gemm/MatMul in execution order (one Add per run at most).

    >>> fused_heads([_L("c", "Conv", 1, 1), _L("b", "BatchNormalization", 1, 1),
    ...              _L("r", "Relu", 1, 1), _L("p", "MaxPool", 1, 1)])
    {'b': 'c', 'r': 'c'}
    """
    fusable = FUSED_AT_LEVEL.get(optimization, FUSED_AT_LEVEL["all"])
    out: dict[str, str] = {}
    head: str | None = None
    added = False
    for layer in layers:
        if layer.op in FUSION_HEADS:
            head, added = layer.name, False
        elif head is not None and layer.op in fusable and not (layer.op == "Add" and added):
            out[layer.name] = head
            added = added or layer.op == "Add"
        else:
            head = None
    return out


def predict(layers: Sequence[Any], gflops_per_s: float, bandwidth_gb_per_s: float,
            calibration: Calibration, optimization: str = "all") -> Prediction:
    """Predicted time of each of ``layers`` (objects with ``name``, ``op``, ``flops`` and
    ``traffic_bytes``) and of all of them, on peaks ``gflops_per_s`` and
    ``bandwidth_gb_per_s`` with ``calibration``'s efficiencies; ``optimization`` is the ORT
    level, which decides what is fused."""
    fused = fused_heads(layers, optimization)
    rows = []
    uncosted = 0
    for layer in layers:
        if layer.name in fused:
            rows.append(LayerPrediction(layer.name, layer.op, None, None, None, 0.0, fused[layer.name]))
            continue
        if layer.flops is None or layer.traffic_bytes is None:
            uncosted += 1
            rows.append(LayerPrediction(layer.name, layer.op, None, None, None, calibration.overhead_ms))
            continue
        roof, bound = roofline_ms(layer.flops, layer.traffic_bytes, gflops_per_s, bandwidth_gb_per_s)
        eff = calibration.efficiency(op_family(layer.op), bound)
        rows.append(LayerPrediction(layer.name, layer.op, roof, bound, eff,
                                    roof / eff + calibration.overhead_ms))
    notes = []
    if uncosted:
        notes.append(f"{uncosted} layer(s) without a FLOP or traffic count are predicted at the "
                     "kernel overhead alone")
    return Prediction(math.fsum(r.predicted_ms for r in rows), gflops_per_s, bandwidth_gb_per_s,
                      tuple(rows), tuple(notes))


def samples(prediction: Prediction, profile: Mapping[str, Any]) -> list[Sample]:
    """Calibration points from a per-layer ``profile`` (``LayerProfile.to_dict()``) of the
    layers ``prediction`` covers: each measured group, keyed by its head layer's op."""
    by_name = {r.name: r for r in prediction.layers}
    out = []
    for row in profile["layers"]:
        head = by_name.get(row["name"])
        if row["status"] != MEASURED or head is None or head.roofline_ms is None or not row["time_ms"]:
            continue
        assert head.bound is not None
        out.append(Sample(op_family(head.op), head.bound, head.roofline_ms, row["time_ms"]))
    return out


def fit(points: Iterable[Sample], min_efficiency: float = MIN_EFFICIENCY) -> Calibration:
    """Efficiencies by op and bound: total roofline time over total measured time (less the
    per-kernel overhead, the shortest measured time), so the long kernels, which dominate
    a model's latency, weigh most; each bound pooled over all ops too (``"*/memory"``).

    >>> cal = fit([Sample("Conv", "compute", 1.0, 2.1), Sample("Relu", "memory", 0.01, 0.1)])
    >>> cal.overhead_ms, cal.efficiencies["Conv/compute"]
    (0.1, 0.5)
    """
    points = list(points)
    if not points:
        return Calibration({}, 0.0, 0)
    overhead = min(p.measured_ms for p in points)
    sums: dict[str, list[float]] = {}
    for p in points:
        for key in (f"{p.op}/{p.bound}", f"*/{p.bound}"):
            acc = sums.setdefault(key, [0.0, 0.0])
            acc[0] += p.roofline_ms
            acc[1] += max(p.measured_ms - overhead, 1e-6)
    eff = {key: min(MAX_EFFICIENCY, max(min_efficiency, roof / measured))
           for key, (roof, measured) in sorted(sums.items())}
    return Calibration(eff, overhead, len(points))


@dataclass(frozen=True)
class Error:
    """How far predictions are from measurements: MAPE (a fraction) and Spearman's rank
    correlation over ``n`` pairs."""

    n: int
    mape: float | None
    spearman: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def error(predicted: Sequence[float], measured: Sequence[float]) -> Error:
    """:class:`Error` of ``predicted`` against ``measured`` (None where too few pairs).

    >>> error([1.1, 2.2, 2.7], [1.0, 2.0, 3.0]).spearman
    1.0
    """
    pairs = [(p, m) for p, m in zip(predicted, measured, strict=True) if m > 0]
    ps, ms = [p for p, _ in pairs], [m for _, m in pairs]
    return Error(len(pairs), stats.mape(ps, ms) if pairs else None,
                 stats.spearman(ps, ms) if len(pairs) >= 2 else None)


def layer_pairs(prediction: Prediction, profile: Mapping[str, Any]) -> tuple[list[float], list[float]]:
    """(predicted, measured) ms of each measured group of a per-layer ``profile``: the group's
    prediction adds its head's and its absorbed layers'."""
    by_name = {r.name: r.predicted_ms for r in prediction.layers}
    predicted, measured = [], []
    for row in profile["layers"]:
        if row["status"] != MEASURED or not row["time_ms"] or row["name"] not in by_name:
            continue
        predicted.append(math.fsum(by_name.get(n, 0.0) for n in [row["name"], *row["absorbed"]]))
        measured.append(row["time_ms"])
    return predicted, measured


# --------------------------------------------------------------------------- over many models


def rank_agreement(a: Mapping[str, float], b: Mapping[str, float]) -> float | None:
    """Spearman's rank correlation of two figures over the names both have (None under 2):
    how well one preset's latency ranks models as another's does.

    >>> rank_agreement({"x": 1.0, "y": 2.0, "z": 3.0}, {"x": 10.0, "y": 30.0, "z": 20.0})
    0.5
    """
    common = [n for n in a if n in b]
    if len(common) < 2:
        return None
    return stats.spearman([a[n] for n in common], [b[n] for n in common])


def summary(latencies: Mapping[str, Any]) -> dict[str, Any]:
    """The prediction's error over models (predicted against measured p50) and over layers
    (the per-layer pairs each :class:`~flopscope.report.Latency` carries in
    ``prediction["layer_pairs"]``, pooled), for latencies of one preset by model name.

    >>> from types import SimpleNamespace as L
    >>> s = summary({"a": L(p50_ms=1.0, predicted_ms=1.2, prediction={"layer_pairs": [[1, 1], [3, 2]]}),
    ...              "b": L(p50_ms=2.0, predicted_ms=1.8, prediction={})})
    >>> round(s["models"]["mape"], 3), s["models"]["spearman"], s["layers"]["n"]
    (0.15, 1.0, 2)
    """
    named = {n: lat for n, lat in latencies.items() if lat.predicted_ms is not None and lat.p50_ms}
    models = error([lat.predicted_ms for lat in named.values()], [lat.p50_ms for lat in named.values()])
    pairs = [p for lat in named.values() for p in (lat.prediction or {}).get("layer_pairs", [])]
    layers = error([p for p, _ in pairs], [m for _, m in pairs])
    return {"models": models.to_dict(), "layers": layers.to_dict(), "names": list(named)}
