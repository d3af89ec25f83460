"""Budget assertions for test suites: gate a model in pytest instead of a CI step.

>>> from flopscope.testing import assert_within_budget
>>> def test_model_budget():
...     assert_within_budget("model.onnx", max_macs="1.9G", max_params=11_700_000)
...     assert_within_budget("model.onnx", baseline="baseline.json", tolerance="1%")
>>> test_model_budget()                          # within both: nothing raised
>>> assert_within_budget("model.onnx", max_macs=5_000)
Traceback (most recent call last):
    ...
AssertionError: FAIL model.onnx (model, x 1x3x8x8): over budget
  FAIL MACs 5,328 is over the limit of 5,000 (+6.56%)
  ...

A model over budget raises :class:`AssertionError` with the message ``flopscope check``
prints (the metric, old and new values, the change in %, and the modules that added or
removed the most); unusable input (an unreadable model, ops without a cost rule, a missing
or mismatched baseline) raises :class:`~flopscope.errors.FlopscopeError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flopscope.errors import FlopscopeError

__all__ = ["assert_within_budget"]


def assert_within_budget(model: Any, inputs: Any = None, *, max_p90_ms: float | None = None,
                         preset: str = "cpu", iterations: int | None = None,
                         baseline: Any = None, tolerance: float | str = 0.0, strict: bool = False,
                         input_shapes: Mapping[str, Any] | None = None,
                         dims: Mapping[str, int] | None = None, convention: str | None = None,
                         allow_unsupported: bool = False, allow_model_change: bool = False,
                         **max_totals: int | str | None) -> Any:
    """Assert that ``model`` stays within the given limits and/or its ``baseline``.

    ``model``/``inputs``/``input_shapes``/``dims``/``convention`` are as for
    :func:`flopscope.analyze` (a :class:`~flopscope.report.Report` is checked as it is).
    Limits are ``max_`` + a metric of :data:`flopscope.metrics.TOTAL_METRICS`
    (``max_macs``, ``max_flops``, ``max_params``, ``max_param_bytes``,
    ``max_activation_bytes``, ``max_peak_activation_bytes``, ``max_traffic_bytes``):
    inclusive maxima, exact integers or strings such as ``"1.9G"``;
    ``max_p90_ms`` measures latency with the ``preset`` of ``flopscope.latency``.
    ``baseline`` is a JSON report path, a Report or its dict; ``tolerance`` is a fraction
    or a percentage string (``"1%"``); ``strict`` also fails when the model got lighter
    than the baseline beyond the tolerance. Returns the
    :class:`~flopscope.gate.GateResult` when the model passes.

    >>> def test_detector_stays_small():                      # in a team's test suite
    ...     assert_within_budget("detector.onnx", max_macs="2.5G", max_params=12_000_000,
    ...                          baseline="baselines/detector.json", tolerance="1%")
    """
    from flopscope.budget import LatencyLimit, parse_count, parse_tolerance
    from flopscope.checking import run_check
    from flopscope.metrics import TOTAL_METRICS
    from flopscope.render.gate import result_text
    from flopscope.report import Report

    for key in max_totals:
        if not key.startswith("max_") or key[4:] not in TOTAL_METRICS:
            raise TypeError(f"assert_within_budget() got an unexpected keyword argument '{key}'; "
                            f"limits: {', '.join(f'max_{m}' for m in TOTAL_METRICS)}, max_p90_ms")
    limits = {metric: parse_count(max_totals[f"max_{metric}"], f"max_{metric}")
              for metric in TOTAL_METRICS if max_totals.get(f"max_{metric}") is not None}
    latency = None
    if max_p90_ms is not None:
        if isinstance(max_p90_ms, bool) or not isinstance(max_p90_ms, (int, float)) or max_p90_ms <= 0:
            raise FlopscopeError(f"max_p90_ms must be a number of milliseconds > 0, not {max_p90_ms!r}")
        latency = LatencyLimit(preset, float(max_p90_ms), iterations)
    if not limits and latency is None and baseline is None:
        raise FlopscopeError("assert_within_budget needs a limit (max_macs=..., max_params=..., "
                             "max_p90_ms=...) or a baseline")
    report = model if isinstance(model, Report) else None
    result = run_check(model, inputs, input_shapes=input_shapes, dims=dims, convention=convention,
                       limits=limits, latency=latency, baseline=baseline,
                       tolerance=parse_tolerance(tolerance), strict=strict,
                       allow_unsupported=allow_unsupported, allow_model_change=allow_model_change,
                       label=report.model.name if report is not None else None, report=report,
                       update_command=_update_hint(baseline))
    if result.errors:
        raise FlopscopeError("; ".join(result.errors))
    if result.failures:
        raise AssertionError(result_text(result))
    return result


def _update_hint(baseline: Any) -> str | None:
    import os

    if isinstance(baseline, (str, os.PathLike)):
        return f"flopscope baseline MODEL -o {os.fspath(baseline)}"
    return None
