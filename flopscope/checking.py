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
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flopscope.errors import FlopscopeError, one_line
from flopscope.gate import GateResult, check_baseline, check_budget, combine
from flopscope.metrics import METRICS, TRAINING_METRICS
from flopscope.report import Report, Training


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
              mode: str | None = None, optimizer: str | None = None, precision: str | None = None,
              frozen: Iterable[str] | None = None, limits: Mapping[str, float] | None = None,
              latency: Any = None, baseline: str | Report | Mapping[str, Any] | None = None,
              tolerance: float = 0.0, strict: bool = False, allow_unsupported: bool = False,
              allow_model_change: bool = False,
              measure: bool = True, label: str | None = None,
              update_command: str | Callable[[Report], str] | None = None,
              report: Report | None = None) -> GateResult:
    """Analyse ``model`` and check it against ``limits`` and/or a ``baseline``.

    ``latency`` is a :class:`flopscope.budget.LatencyLimit` (measured only when
    ``measure``); ``baseline`` a path to a JSON report, a Report or its dict; a given
    ``report`` skips the analysis. The convention defaults to the baseline's.

    ``mode="train"`` (with ``optimizer``, ``precision``, ``frozen`` as for
    :func:`flopscope.analyze`) checks every limit and the baseline on a train-mode report.
    ``mode="inference"`` checks them on an inference report, and training limits
    (:data:`~flopscope.metrics.TRAINING_METRICS`) on a second, train-mode analysis, since a
    training step's MACs, FLOPs and peak activations differ from inference's (with
    training limits only, that one analysis in train mode). ``mode=None`` is the
    baseline's mode, else inference; the training setup left None is the baseline's, else
    :class:`~flopscope.report.Training`'s defaults (adamw, fp32).
    ``update_command`` is the command that rewrites the baseline, shown with an improvement
    (a callable gets the report analysed: its convention, its mode). Unusable input does
    not raise: it comes back as the result's errors (exit code 2).
    """
    label = label or (model if isinstance(model, str) else type(model).__name__)
    try:
        old = _as_report(baseline)
        if convention is None:
            convention = old.convention if old is not None else "flopscope"
        if report is not None:
            mode = "train" if report.training is not None else "inference"
        frozen = tuple(frozen) if frozen is not None else None
        setup = _setup(optimizer, precision, frozen, old)
        if mode is None:
            mode = "train" if old is not None and old.training is not None else "inference"
        limits = dict(limits or {})
        notes = []
        trained = ({} if mode == "train" or report is not None   # a given report: checked as it is
                   else {m: limits.pop(m) for m in TRAINING_METRICS if m in limits})
        given = [f"{k} {v}" for k, v in (("optimizer", optimizer), ("precision", precision)) if v]
        given += [f"frozen {','.join(frozen)}"] if frozen else []
        if given and mode != "train" and not trained:
            raise FlopscopeError(f"{', '.join(given)}: a training setup, but this check is in inference "
                                 f"mode; ask for train mode (--mode train, or mode = \"train\" in a "
                                 f"budget entry)")
        if trained and not limits and old is None and latency is None:
            mode = "train"                  # nothing else to check: one analysis, in train mode
            limits, trained = trained, {}
            notes.append(f"every limit is a training metric: analysed as a training step ({setup.label}); "
                         f"mode = \"train\" says so, optimizer, precision and frozen choose the setup")

        def analysis(in_mode: str) -> Report:
            from flopscope.analysis import analyze
            return analyze(model, inputs, input_shapes=input_shapes, dims=dims, convention=convention,
                           mode=in_mode, optimizer=setup.optimizer, precision=setup.precision,
                           frozen=setup.frozen)

        if report is None:
            report = analysis(mode)
        train_report = analysis("train") if trained else None
        if trained:
            names = ", ".join(METRICS[m].label for m in trained)
            notes.append(f"{names} checked on a second analysis, of a training step ({setup.label}); "
                         f"the other limits on the inference analysis (a training step's MACs, FLOPs "
                         f"and peak activations differ; mode = \"train\" checks every limit on the "
                         f"training step)")
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
    if train_report is not None:
        parts.append(check_budget(train_report, trained, allow_unsupported=allow_unsupported,
                                  model=label))
    if old is not None:
        parts.append(check_baseline(report, old, tolerance, strict, allow_unsupported=allow_unsupported,
                                    allow_model_change=allow_model_change, model=label,
                                    baseline_label=_path_text(baseline)))
    result = combine(*parts)
    result.notes += notes
    if old is not None and update_command is not None:
        result.update_command = update_command(report) if callable(update_command) else update_command
    return result


def _setup(optimizer: str | None, precision: str | None,
           frozen: Iterable[str] | None, old: Report | None) -> Training:
    """The training setup: what is given, else the train-mode baseline's, else the defaults."""
    base = old.training if old is not None and old.training is not None else Training()
    return Training(optimizer or base.optimizer, precision or base.precision,
                    tuple(frozen) if frozen is not None else base.frozen)


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
