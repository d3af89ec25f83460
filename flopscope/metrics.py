"""The gate's vocabulary, once: every metric a budget or a baseline can check.

Each :class:`Metric` names a figure of the JSON report (a ``totals`` key, or ``p90_ms``
of ``latency``), the words used for it, the per-layer field that explains a change in
it, and its unit, from which the renderers choose how to format a number. The gate
(:mod:`flopscope.gate`), budget files (:mod:`flopscope.budget`),
:func:`flopscope.testing.assert_within_budget`, :class:`flopscope.comparison.Comparison`
and the gate's renderers all read this table: a new metric is one line in
:data:`METRICS` (and its field on :class:`~flopscope.report.Totals`).

>>> from flopscope.metrics import METRICS, TOTAL_METRICS
>>> METRICS["param_bytes"].label, METRICS["param_bytes"].layer_field, METRICS["param_bytes"].unit
('weight bytes', 'params', 'bytes')
>>> TOTAL_METRICS[:3]
('macs', 'flops', 'params')
"""

from __future__ import annotations

from dataclasses import dataclass

#: units: an exact count, a number of bytes, milliseconds
COUNT, BYTES, MS = "count", "bytes", "ms"
#: where the JSON report keeps a metric
TOTALS, LATENCY = "totals", "latency"

#: per-layer fields (:class:`~flopscope.report.Layer` attributes) that explain a metric,
#: with their labels; the gate's layer diff carries exactly these
LAYER_FIELDS: dict[str, str] = {"macs": "MACs", "flops": "FLOPs", "params": "params",
                                "output_bytes": "output bytes", "traffic_bytes": "traffic bytes"}


@dataclass(frozen=True)
class Metric:
    """One checkable figure of a report.

    ``key`` is its key in the report's ``section`` (``totals.macs``, ``latency.p90_ms``);
    ``label`` names it in a sentence ("weight bytes grew from ..."), ``header`` in a
    table column ("weights"); ``layer_field`` is the :data:`LAYER_FIELDS` entry whose
    per-module changes explain it (None: no layer explains it); ``unit`` is one of
    :data:`COUNT`, :data:`BYTES`, :data:`MS`. ``baseline``: a baseline comparison checks
    it by default (the static totals that do not depend on how activations are kept).
    ``summed``: the metric is the sum of its layer field, so a module's part of it can be
    given as a share of the whole. ``train``: only a train-mode report has it
    (``analyze(..., mode="train")``); a budget that limits it is checked in train mode.

    >>> Metric("macs", "MACs", "MACs", "macs", COUNT, summed=True).section
    'totals'
    """

    key: str
    label: str
    header: str
    layer_field: str | None
    unit: str = COUNT
    baseline: bool = True
    summed: bool = False
    section: str = TOTALS
    train: bool = False


#: every metric the gate checks, in the order messages list them
METRICS: dict[str, Metric] = {m.key: m for m in (
    Metric("macs", "MACs", "MACs", "macs", COUNT, summed=True),
    Metric("flops", "FLOPs", "FLOPs", "flops", COUNT, summed=True),
    Metric("params", "params", "params", "params", COUNT, summed=True),
    Metric("param_bytes", "weight bytes", "weights", "params", BYTES),
    Metric("activation_bytes", "activation bytes", "activations", "output_bytes", BYTES, baseline=False),
    Metric("peak_activation_bytes", "peak activation bytes", "peak activations", "output_bytes", BYTES),
    Metric("traffic_bytes", "traffic bytes", "traffic", "traffic_bytes", BYTES, baseline=False),
    Metric("forward_macs", "forward MACs", "fwd MACs", "macs", COUNT, baseline=False, train=True),
    Metric("backward_macs", "backward MACs", "bwd MACs", "macs", COUNT, baseline=False, train=True),
    Metric("optimizer_flops", "optimizer FLOPs", "optimizer", None, COUNT, baseline=False, train=True),
    Metric("gradient_bytes", "gradient bytes", "gradients", "params", BYTES, baseline=False, train=True),
    Metric("optimizer_state_bytes", "optimizer state bytes", "opt. state", "params", BYTES,
           baseline=False, train=True),
    Metric("saved_activation_bytes", "saved activations", "saved", "output_bytes", BYTES,
           baseline=False, train=True),
    Metric("peak_training_bytes", "peak training bytes", "peak train", None, BYTES,
           baseline=False, train=True),
    Metric("p90_ms", "latency p90", "p90", None, MS, baseline=False, section=LATENCY),
)}

#: the ``totals`` metrics: a budget limits each as ``max_`` + key
TOTAL_METRICS: tuple[str, ...] = tuple(k for k, m in METRICS.items() if m.section == TOTALS)
#: the metrics only a train-mode report has
TRAINING_METRICS: tuple[str, ...] = tuple(k for k, m in METRICS.items() if m.train)
#: what a baseline comparison checks unless told otherwise (of two train-mode reports:
#: these and :data:`TRAINING_METRICS`)
BASELINE_METRICS: tuple[str, ...] = tuple(k for k, m in METRICS.items() if m.baseline)
