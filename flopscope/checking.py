"""Running a check: analyse a model, measure its latency when a limit asks for it, read
its baseline, and hand the results to the pure checks of :mod:`flopscope.gate`.

``flopscope check`` and :func:`flopscope.testing.assert_within_budget` both call
:func:`run_check`; unusable input comes back as the result's errors (exit code 2), never
as an exception.

>>> from flopscope.checking import run_check
>>> result = run_check("model.onnx", limits={"macs": 1_900_000_000})
>>> result.status, result.exit_code
('pass', 0)
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from flopscope.errors import FlopscopeError, one_line
from flopscope.gate import GateResult, check_baseline, check_budget, combine
from flopscope.report import Report


def load_baseline(path: str) -> Report:
    """Read a saved JSON report; a missing or malformed one is a :class:`FlopscopeError`."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise FlopscopeError(f"{path}: no such baseline; create it with: "
                             f"flopscope baseline MODEL -o {path}") from None
    except OSError as exc:
        raise FlopscopeError(f"{path}: cannot read the baseline ({exc.strerror or exc})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FlopscopeError(f"{path}: the baseline is not valid JSON ({exc})") from None
    try:
        return Report.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise FlopscopeError(f"{path}: not a flopscope JSON report ({type(exc).__name__}: {exc}); "
                             f"write one with: flopscope baseline MODEL -o {path}") from None


def measure_latency(model: Any, inputs: Any, *, preset: str, iterations: int | None = None,
                    input_shapes: Mapping[str, Any] | None = None,
                    dims: Mapping[str, int] | None = None) -> Any:
    """Run ``flopscope.latency.bench`` (imported here: the harness is optional)."""
    try:
        from flopscope.latency import bench
    except ImportError as exc:
        raise FlopscopeError(f"a latency limit needs the latency harness (flopscope.latency), "
                             f"which cannot be imported here ({exc}); remove the limit or pass "
                             f"--no-latency") from None
    options: dict[str, Any] = {"preset": preset, "iterations": iterations}
    if input_shapes:
        options["input_shapes"] = dict(input_shapes)
    if dims:
        options["dims"] = dict(dims)
    try:
        return bench(model, inputs, **options)
    except FlopscopeError:
        raise
    except Exception as exc:
        raise FlopscopeError(f"latency measurement ({preset}) failed: "
                             f"{one_line(exc, named=True)}") from None


def run_check(model: Any, inputs: Any = None, *, input_shapes: Mapping[str, Any] | None = None,
              dims: Mapping[str, int] | None = None, convention: str | None = None,
              limits: Mapping[str, float] | None = None, latency: Any = None,
              baseline: str | Report | Mapping[str, Any] | None = None, tolerance: float = 0.0,
              strict: bool = False, allow_unsupported: bool = False, allow_model_change: bool = False,
              measure: bool = True, label: str | None = None,
              update_command: str | Callable[[str], str] | None = None,
              report: Report | None = None) -> GateResult:
    """Analyse ``model`` and check it against ``limits`` and/or a ``baseline``.

    ``latency`` is a :class:`flopscope.budget.LatencyLimit` (measured only when
    ``measure``); ``baseline`` a path to a JSON report, a Report or its dict; a given
    ``report`` skips the analysis. The convention defaults to the baseline's.
    ``update_command`` is the command that rewrites the baseline, shown with an improvement
    (a callable gets the convention used). Unusable input does not raise: it comes back as
    the result's errors (exit code 2).
    """
    label = label or (model if isinstance(model, str) else type(model).__name__)
    try:
        old = _as_report(baseline)
        if convention is None:
            convention = old.convention if old is not None else "flopscope"
        if report is None:
            from flopscope.analysis import analyze
            report = analyze(model, inputs, input_shapes=input_shapes, dims=dims, convention=convention)
        limits = dict(limits or {})
        notes = []
        if latency is not None and measure:
            report.latency = measure_latency(model, inputs, preset=latency.preset,
                                             iterations=latency.iterations, input_shapes=input_shapes,
                                             dims=dims)
            limits["p90_ms"] = latency.max_p90_ms
        elif latency is not None:
            notes.append(f"latency limit ({latency.preset} p90 <= {latency.max_p90_ms:g} ms) "
                         f"not measured (--no-latency)")
    except FlopscopeError as exc:
        return GateResult(label, errors=[str(exc)], strict=strict)
    parts = []
    if limits or old is None:
        parts.append(check_budget(report, limits, allow_unsupported=allow_unsupported, model=label))
    if old is not None:
        parts.append(check_baseline(report, old, tolerance, strict, allow_unsupported=allow_unsupported,
                                    allow_model_change=allow_model_change, model=label,
                                    baseline_label=_path_text(baseline)))
    result = combine(*parts)
    result.notes += notes
    if old is not None and update_command is not None:
        result.update_command = update_command(convention) if callable(update_command) else update_command
    return result


def _path_text(baseline: Any) -> str | None:
    return os.fspath(baseline) if isinstance(baseline, (str, os.PathLike)) else None


def _as_report(baseline: Any) -> Report | None:
    if baseline is None or isinstance(baseline, Report):
        return baseline
    if isinstance(baseline, Mapping):
        try:
            return Report.from_dict(dict(baseline))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise FlopscopeError(f"the baseline is not a flopscope report ({exc})") from None
    if isinstance(baseline, (str, os.PathLike)):
        return load_baseline(os.fspath(baseline))
    raise FlopscopeError(f"a baseline is a path to a JSON report, a Report or its dict, "
                         f"not {type(baseline).__name__}")
