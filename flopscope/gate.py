"""The CI gate: compare a Report with a budget or a baseline, and say which layers moved.

Pure data in, data out (running the analysis, timing the model and reading baseline
files is :mod:`flopscope.checking`'s job; the metrics are :mod:`flopscope.metrics`'):

- :func:`check_budget` compares totals with absolute limits;
- :func:`check_baseline` compares totals with a saved report (a two-sided ratchet: heavier
  beyond the tolerance fails, lighter beyond it is an improvement, a failure under
  ``strict``);
- :func:`layer_diff` matches layers of two reports by name, :func:`rollup` sums the
  matched rows by module path and :func:`biggest` picks the modules that added or removed
  the most, which every failing check carries as its explanation;
- a :class:`GateResult` is one model's verdict: its :attr:`~GateResult.status`,
  :attr:`~GateResult.outcome` and :attr:`~GateResult.exit_code` (the CLI's: 0 pass, 1 over
  budget, 2 unusable input), and whether each check :meth:`~GateResult.fails`.

Renderers are in :mod:`flopscope.render.gate`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flopscope.errors import FlopscopeError
from flopscope.metrics import BASELINE_METRICS, LAYER_FIELDS, METRICS, TOTALS, TRAINING_METRICS
from flopscope.report import Layer, Report, Training

#: check statuses
PASS, OVER, IMPROVED = "pass", "over", "improved"
#: check kinds
BUDGET, BASELINE = "budget", "baseline"
#: a result's status, indexed by its exit code
STATUSES = ("pass", "fail", "error")
#: a result's :attr:`~GateResult.outcome` besides OVER, IMPROVED and PASS: unusable input,
#: and failed only for being lighter than the baseline under ``strict``
ERROR, STRICT = "error", "strict"

#: how many modules a failing check names
TOP = 5


# ----------------------------------------------------------------------- layer diff


@dataclass
class LayerDelta:
    """One layer in the old and the new report (``None`` on the side it is missing from)."""

    name: str
    module: str
    op: str
    old: dict[str, int] | None
    new: dict[str, int] | None

    @property
    def change(self) -> str:
        """``added``, ``removed``, ``changed`` or ``same``."""
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        return "same" if self.old == self.new else "changed"


@dataclass
class ModuleDelta:
    """The layers under one module path, summed on each side."""

    module: str
    layers: int = 0
    added: int = 0
    removed: int = 0
    old: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LAYER_FIELDS, 0))
    new: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LAYER_FIELDS, 0))

    def delta(self, name: str) -> int:
        return self.new[name] - self.old[name]

    def change_pct(self, name: str) -> float | None:
        """Relative change in percent; None when the old value is 0."""
        return percent(self.old[name], self.new[name])

    def to_dict(self, name: str) -> dict[str, Any]:
        return {"module": self.module, "field": name, "old": self.old[name], "new": self.new[name],
                "delta": self.delta(name), "change_pct": _finite(self.change_pct(name)),
                "layers": self.layers, "added_layers": self.added, "removed_layers": self.removed}


def _values(layer: Layer) -> dict[str, int]:
    return {name: getattr(layer, name) or 0 for name in LAYER_FIELDS}


def _keyed(layers: Iterable[Layer]) -> dict[str, Layer]:
    """Layers by name; a repeated name gets ``#2``, ``#3``... in order, an empty one its op."""
    out: dict[str, Layer] = {}
    for layer in layers:
        base = layer.name or f"<{layer.op}>"
        key, n = base, 1
        while key in out:
            n += 1
            key = f"{base}#{n}"
        out[key] = layer
    return out


def layer_diff(old: Report | None, new: Report | None) -> list[LayerDelta]:
    """Match the layers of two reports by name: the new report's layers in order, then the
    ones only the old one has. ``old=None`` treats every layer of ``new`` as added."""
    old_layers = _keyed(old.layers if old is not None else ())
    new_layers = _keyed(new.layers if new is not None else ())
    out = []
    for key, layer in new_layers.items():
        before = old_layers.get(key)
        out.append(LayerDelta(key, layer.module, layer.op,
                              _values(before) if before is not None else None, _values(layer)))
    for key, layer in old_layers.items():
        if key not in new_layers:
            out.append(LayerDelta(key, layer.module, layer.op, _values(layer), None))
    return out


def module_path(delta: LayerDelta, depth: int | None = None) -> str:
    """The module path a layer rolls up to (its name when it has none), cut to ``depth``."""
    path = delta.module or delta.name
    if depth is not None and delta.module:
        path = ".".join(path.split(".")[:depth])
    return path


def rollup(deltas: Iterable[LayerDelta], depth: int | None = None) -> list[ModuleDelta]:
    """Sum layer deltas by module path (the full path, or its first ``depth`` parts), in
    first-seen order."""
    rows: dict[str, ModuleDelta] = {}
    for d in deltas:
        path = module_path(d, depth)
        row = rows.get(path)
        if row is None:
            row = rows[path] = ModuleDelta(path)
        row.layers += 1
        row.added += d.old is None
        row.removed += d.new is None
        for name in LAYER_FIELDS:
            row.old[name] += d.old[name] if d.old is not None else 0
            row.new[name] += d.new[name] if d.new is not None else 0
    return list(rows.values())


def biggest(rows: Iterable[ModuleDelta], name: str, k: int = TOP) -> list[ModuleDelta]:
    """The ``k`` modules whose ``name`` field moved most (either way), ties in graph order;
    modules that did not move are left out."""
    moved = [r for r in rows if r.delta(name)]
    return sorted(moved, key=lambda r: -abs(r.delta(name)))[:k]


def percent(old: float, new: float) -> float | None:
    """``(new - old) / old`` in percent; None when ``old`` is 0 (and new is not)."""
    if old == 0:
        return 0.0 if new == 0 else None
    return 100.0 * (new - old) / old


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(x, 6)


# ----------------------------------------------------------------------- results


@dataclass
class Check:
    """One metric compared with one reference: a budget limit or a baseline value."""

    metric: str
    kind: str
    new: float
    reference: float
    status: str = PASS
    tolerance: float = 0.0
    layers: list[ModuleDelta] = field(default_factory=list)

    @property
    def label(self) -> str:
        """The metric's name in a sentence (``'weight bytes'``)."""
        return METRICS[self.metric].label

    @property
    def layer_field(self) -> str | None:
        """The per-layer field whose module changes explain this check (None: no layer does)."""
        return METRICS[self.metric].layer_field

    @property
    def layer_total(self) -> float:
        """The whole that the modules in :attr:`layers` are a share of: the new value when
        the metric is the sum of its layer field, else 0 (no share)."""
        return float(self.new) if METRICS[self.metric].summed else 0.0

    @property
    def change_pct(self) -> float | None:
        """Change against the reference in percent (None when the reference is 0)."""
        return percent(self.reference, self.new)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric, "kind": self.kind, "status": self.status,
            "old": self.reference if self.kind == BASELINE else None,
            "limit": self.reference if self.kind == BUDGET else None,
            "new": self.new, "change_pct": _finite(self.change_pct),
            "tolerance": self.tolerance if self.kind == BASELINE else None,
            "layers": [r.to_dict(self.layer_field) for r in self.layers] if self.layer_field else [],
        }


@dataclass
class GateResult:
    """One model's verdict: its checks, and the errors that make it unusable. ``mode``
    names how it was analysed when not for inference (``'train adamw fp32'``)."""

    model: str
    name: str = ""
    inputs: str = ""
    checks: list[Check] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    strict: bool = False
    baseline: str | None = None
    update_command: str | None = None
    mode: str = ""

    def fails(self, check: Check) -> bool:
        """Whether ``check`` fails this result: over a limit or the baseline, or lighter
        than the baseline under ``strict``."""
        return check.status == OVER or (self.strict and check.status == IMPROVED)

    @property
    def failures(self) -> list[Check]:
        """Checks that fail: over a limit or the baseline, and improvements under strict."""
        return [c for c in self.checks if self.fails(c)]

    @property
    def improvements(self) -> list[Check]:
        return [c for c in self.checks if c.status == IMPROVED]

    @property
    def exit_code(self) -> int:
        return 2 if self.errors else 1 if self.failures else 0

    @property
    def status(self) -> str:
        """``error``, ``fail`` or ``pass``."""
        return STATUSES[self.exit_code]

    @property
    def outcome(self) -> str:
        """What the verdict rests on: :data:`ERROR` (unusable input), :data:`OVER` (a check
        is over its limit or the baseline), :data:`STRICT` (it fails only for being lighter
        than the baseline under ``strict``), :data:`IMPROVED` (it passes, lighter than the
        baseline) or :data:`PASS`."""
        if self.errors:
            return ERROR
        failures = self.failures
        if failures:
            return OVER if any(c.status == OVER for c in failures) else STRICT
        return IMPROVED if self.improvements else PASS

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "name": self.name, "inputs": self.inputs,
                "mode": self.mode or "inference", "status": self.status, "exit_code": self.exit_code,
                "strict": self.strict,
                "baseline": self.baseline, "update_command": self.update_command,
                "errors": list(self.errors), "notes": list(self.notes),
                "checks": [c.to_dict() for c in self.checks]}


def combine(first: GateResult, *more: GateResult) -> GateResult:
    """Merge results for the same model (a budget and a baseline check) into one."""
    out = GateResult(first.model, first.name, first.inputs, list(first.checks), list(first.errors),
                     list(first.notes), first.strict, first.baseline, first.update_command,
                     first.mode)
    for r in more:
        out.checks += r.checks
        out.errors += [e for e in r.errors if e not in out.errors]
        out.notes += [n for n in r.notes if n not in out.notes]
        out.strict = out.strict or r.strict
        out.baseline = out.baseline or r.baseline
        out.update_command = out.update_command or r.update_command
        out.name, out.inputs = out.name or r.name, out.inputs or r.inputs
        if r.mode != out.mode:     # an inference and a train analysis of one model
            out.mode = " + ".join(m or "inference" for m in (out.mode, r.mode))
    return out


def exit_code(results: Sequence[GateResult]) -> int:
    """The CLI exit code for several results: the worst of them (0 when there are none)."""
    return max((r.exit_code for r in results), default=0)


def status(results: Sequence[GateResult]) -> str:
    """The status of several results: the worst of them (``pass`` when there are none)."""
    return STATUSES[exit_code(results)]


def describe_inputs(report: Report) -> str:
    return ", ".join(f"{i.name} {'x'.join(map(str, i.shape)) or 'scalar'}" for i in report.model.inputs)


def describe_mode(training: Training | None) -> str:
    """How a report was analysed, in a few words: ``''`` for inference, else
    :attr:`Training.label <flopscope.report.Training.label>`.

    >>> describe_mode(None), describe_mode(Training("adamw", "fp32"))
    ('', 'train adamw fp32')
    """
    return training.label if training is not None else ""


def _result(report: Report, model: str | None) -> GateResult:
    return GateResult(model or report.model.name, report.model.name, describe_inputs(report),
                      mode=describe_mode(report.training))


# ----------------------------------------------------------------------- checks


def coverage_errors(report: Report, allow_unsupported: bool = False) -> tuple[list[str], list[str]]:
    """Fail closed: (errors, notes) for ops that were not costed. Ops without a rule are an
    error unless ``allow_unsupported``; ops whose shapes could not be resolved always are."""
    errors, notes = [], []
    c = report.coverage
    if c.unsupported:
        listing = ", ".join(f"{op} x{n}" for op, n in sorted(c.unsupported.items()))
        if allow_unsupported:
            notes.append(f"unsupported ops not counted (--allow-unsupported): {listing}")
        else:
            errors.append(f"unsupported ops, so the counts are incomplete: {listing}; add cost rules "
                          f"or pass --allow-unsupported to check without them")
    if c.unresolved:
        listing = ", ".join(f"{op} x{n}" for op, n in sorted(c.unresolved.items()))
        errors.append(f"ops whose shapes could not be resolved, so the counts are incomplete: "
                      f"{listing}; {_unresolved_cause(report)}")
    return errors, notes


def _unresolved_cause(report: Report) -> str:
    """The likeliest reason shapes stayed unknown, for the hint: an op without a rule
    upstream (its outputs' shapes unknown), symbolic dims left at 1, or neither."""
    c = report.coverage
    if c.unsupported:
        ops = ", ".join(sorted(c.unsupported))
        return (f"they follow ops flopscope has no rule for ({ops}), whose output shapes it "
                f"cannot infer: add their cost rules")
    if any("bound to 1" in note for note in report.notes):
        return "bind the inputs with --input-shape / --dim (input_shape / dims in a budget file)"
    return ("every input dim is bound: their shapes depend on values known only at run time "
            "(see the report's notes)")


def _metric_value(report: Report, metric: str) -> float | None:
    section = getattr(report, METRICS[metric].section)   # totals, or latency: None unless measured
    return getattr(section, metric) if section is not None else None


def check_budget(report: Report, limits: Mapping[str, float], *, allow_unsupported: bool = False,
                 model: str | None = None, top: int = TOP) -> GateResult:
    """Compare ``report``'s totals with absolute ``limits`` (metric -> inclusive maximum;
    metrics are :data:`~flopscope.metrics.METRICS` keys, ``p90_ms`` reads
    ``report.latency``). A failing check names the heaviest modules for its metric."""
    result = _result(report, model)
    result.errors, result.notes = coverage_errors(report, allow_unsupported)
    rows: list[ModuleDelta] | None = None
    for metric, limit in limits.items():
        if metric not in METRICS:
            raise FlopscopeError(f"unknown metric '{metric}'; metrics: {', '.join(METRICS)}")
        value = _metric_value(report, metric)
        if value is None:
            result.errors.append(f"{METRICS[metric].label} has a limit but was not measured")
            continue
        check = Check(metric, BUDGET, value, limit, OVER if value > limit else PASS)
        if check.status == OVER and check.layer_field:
            rows = rows if rows is not None else rollup(layer_diff(None, report))
            check.layers = biggest(rows, check.layer_field, top)
        result.checks.append(check)
    return result


def model_changes(report: Report, baseline: Report) -> list[str]:
    """How the analysed model differs from the baseline's: name, source, inputs, convention."""
    out = []
    if report.model.name != baseline.model.name:
        out.append(f"model '{report.model.name}', baseline '{baseline.model.name}'")
    if report.model.source != baseline.model.source:
        out.append(f"source {report.model.source}, baseline {baseline.model.source}")
    now, then = describe_inputs(report), describe_inputs(baseline)
    if now != then:
        out.append(f"inputs {now or 'none'}, baseline {then or 'none'}")
    return out


def check_baseline(report: Report, baseline: Report, tolerance: float = 0.0, strict: bool = False,
                   *, allow_unsupported: bool = False, allow_model_change: bool = False,
                   metrics: Sequence[str] | None = None, model: str | None = None,
                   baseline_label: str | None = None, top: int = TOP) -> GateResult:
    """Compare ``report`` with a saved ``baseline`` report, metric by metric.

    Heavier than ``old * (1 + tolerance)`` is a failure; lighter than
    ``old * (1 - tolerance)`` an improvement (a failure when ``strict``). Each check that
    moved beyond the tolerance names the modules that added or removed the most, from a
    per-layer diff matched by name. A baseline of a different model (name, source or input
    shapes) is an error unless ``allow_model_change``; a different counting convention
    or mode always is (an inference report against a train-mode one, or two train-mode
    reports with another optimizer, precision or frozen set). ``metrics`` defaults to
    :data:`~flopscope.metrics.BASELINE_METRICS`, with
    :data:`~flopscope.metrics.TRAINING_METRICS` for two train-mode reports.
    """
    if tolerance < 0:
        raise FlopscopeError(f"tolerance must be >= 0, not {tolerance}")
    result = _result(report, model)
    result.strict, result.baseline = strict, baseline_label
    result.errors, result.notes = coverage_errors(report, allow_unsupported)
    changes = model_changes(report, baseline)
    where = f" {baseline_label}" if baseline_label else ""
    mismatch = []
    if changes and not allow_model_change:
        mismatch.append(f"the baseline{where} is of a different model ({'; '.join(changes)}); "
                        f"compare the same model at the same input shapes, or pass "
                        f"--allow-model-change")
    elif changes:
        result.notes.append(f"model changed since the baseline ({'; '.join(changes)})")
    if report.convention != baseline.convention:
        mismatch.append(f"the baseline{where} counts with the {baseline.convention} convention, "
                        f"this report with {report.convention}; their FLOPs do not compare")
    if baseline.training is None and baseline.totals.peak_training_bytes is not None:
        mismatch.append(f"the baseline{where} is a train-mode report that does not record its "
                        f"optimizer and precision (saved before flopscope kept them); rewrite it "
                        f"with flopscope baseline MODEL --mode train --optimizer ... --precision ...")
    elif report.training != baseline.training:
        mismatch.append(mode_mismatch(report.training, baseline.training, where))
    if mismatch:
        result.errors += mismatch
        return result  # the totals do not compare
    if baseline.coverage.unsupported and not report.coverage.unsupported:
        result.notes.append("the baseline had unsupported ops that are costed now; its totals "
                            "were lower bounds")
    if metrics is None:
        metrics = BASELINE_METRICS + (TRAINING_METRICS if report.training is not None else ())
    rows: list[ModuleDelta] | None = None
    for metric in metrics:
        if metric not in METRICS or METRICS[metric].section != TOTALS:
            raise FlopscopeError(f"cannot compare '{metric}' with a baseline; metrics: "
                                 f"{', '.join(BASELINE_METRICS)}")
        old, new = getattr(baseline.totals, metric), getattr(report.totals, metric)
        if old is None or new is None:
            result.errors.append(f"{METRICS[metric].label}: not in the "
                                 f"{'baseline' if old is None else 'report'}; it needs a "
                                 f"train-mode report")
            continue
        status = PASS
        if new - old > tolerance * old:
            status = OVER
        elif old - new > tolerance * old:
            status = IMPROVED
        check = Check(metric, BASELINE, new, old, status, tolerance)
        if status != PASS and check.layer_field:
            rows = rows if rows is not None else rollup(layer_diff(baseline, report))
            check.layers = biggest(rows, check.layer_field, top)
        result.checks.append(check)
    return result


def mode_mismatch(now: Training | None, then: Training | None, where: str = "") -> str:
    """Why a baseline analysed in another mode does not compare, and how to check in its
    mode (the check command's flags; the same keys in a budget entry).

    >>> mode_mismatch(None, Training("adamw", "fp32"))
    "the baseline is train adamw fp32, this analysis inference; their totals do not compare: \
check in the baseline's mode (--mode train --optimizer adamw --precision fp32; mode = 'train' \
and the same keys in a budget entry) or rewrite the baseline"
    """
    how = (f"{' '.join(training_args(then))}; mode = 'train' and the same keys in a budget entry"
           if then is not None else "without --mode train; no mode = 'train' in a budget entry")
    return (f"the baseline{where} is {describe_mode(then) or 'inference'}, this analysis "
            f"{describe_mode(now) or 'inference'}; their totals do not compare: check in the "
            f"baseline's mode ({how}) or rewrite the baseline")


def training_args(training: Training | None) -> list[str]:
    """The command-line flags that analyse in ``training``'s mode (none for inference).

    >>> training_args(Training("sgd", "fp32", ("stem.*",)))
    ['--mode', 'train', '--optimizer', 'sgd', '--precision', 'fp32', '--frozen', 'stem.*']
    """
    if training is None:
        return []
    args = ["--mode", "train", "--optimizer", training.optimizer, "--precision", training.precision]
    for glob in training.frozen:
        args += ["--frozen", glob]
    return args
