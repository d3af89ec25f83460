"""The comparison report of the reference architectures (``flopscope zoo``).

For each architecture in ``flopscope.models.catalog``: the static analysis of the PyTorch
model, the same model exported to ONNX and analysed again (MACs must agree exactly), its
published figures beside ours, and its latency on ONNX Runtime under each preset. The
result is a :class:`Zoo`: the architectures' reports side by side (a
:class:`~flopscope.comparison.Comparison`) with what the zoo adds to each, written as
Markdown (``README.md``), JSON, CSV and two charts by the shared renderers and
:mod:`flopscope.plot`.
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, cast

from flopscope.comparison import Comparison
from flopscope.errors import FlopscopeError
from flopscope.latency.render import noise
from flopscope.render.csv import table as csv_table
from flopscope.render.markdown import table as markdown_table
from flopscope.render.tables import coverage_text
from flopscope.report import Latency, Report
from flopscope.units import exact, shape

#: default time each preset measures a model for (plus its warm-up)
DEFAULT_TIME_BUDGET_S = 2.0
DEFAULT_WARMUP_BUDGET_S = 3.0


#: the static figures of an architecture, read from its PyTorch Report as Comparison metrics
STATIC_METRICS = ("params", "macs", "flops", "param_bytes", "peak_activation_bytes", "coverage")


@dataclass
class ZooRow:
    """One architecture: its PyTorch :class:`Report` and what the zoo adds to it (the
    reference's description and published figures, the exported ONNX file's counts,
    latency per preset, notes).

    >>> row = zoo.rows[0]           # zoo = run_zoo(["resnet18", "resnet50"]), see Zoo
    >>> row.macs, row.gmacs_match
    (1814073344, True)
    """

    name: str
    description: str
    input_shape: list[int]
    report: Report
    onnx_macs: int | None
    onnx_params: int | None
    published_params: int | None
    published_gmacs: float | None
    source: str
    latency: dict[str, Latency] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def params(self) -> int:
        """Parameters of the PyTorch model.

        >>> row.params
        11689512
        """
        return self.report.totals.params

    @property
    def macs(self) -> int:
        """MACs of the PyTorch model.

        >>> row.macs
        1814073344
        """
        return self.report.totals.macs

    @property
    def gmacs(self) -> float:
        """MACs in billions, as published figures are given.

        >>> round(row.gmacs, 3)
        1.814
        """
        return self.macs / 1e9

    @property
    def params_match(self) -> bool | None:
        """Whether the parameters equal the published count exactly (None: none published).

        >>> row.params_match
        True
        """
        return None if self.published_params is None else self.params == self.published_params

    @property
    def gmacs_match(self) -> bool | None:
        """Whether the GMACs equal the published figure to 3 decimals (None: none published).

        >>> row.gmacs_match
        True
        """
        if self.published_gmacs is None:
            return None
        return round(self.gmacs, 3) == round(self.published_gmacs, 3)


@dataclass
class Zoo:
    """All rows, the presets measured and the machine they ran on.

    ``run_zoo`` exports each model and times it: seconds, not run as a test (the
    examples of this module use such a zoo of resnet18 and resnet50, untimed).

    >>> zoo = run_zoo(["resnet18", "resnet50"], presets=["cpu"])   # doctest: +SKIP
    >>> zoo.comparison().ratio("resnet50", "macs")
    2.254...
    """

    rows: list[ZooRow]
    presets: list[str]
    machine: dict[str, str]
    skipped_presets: dict[str, str] = field(default_factory=dict)

    def comparison(self, preset: str | None = None) -> Comparison:
        """The architectures side by side: a :class:`Comparison` of their PyTorch reports
        (metrics :data:`STATIC_METRICS`). With ``preset``, each report carries that
        preset's latency (and ``p50_ms``, ``p90_ms``, ``gflops_per_s`` are metrics too);
        architectures not timed under it are left out.

        >>> zoo.comparison().value("resnet50", "params")
        25557032

        A zoo timed under ``cpu`` (timing takes seconds: not run as a test):

        >>> zoo.comparison("cpu").value("resnet18", "p50_ms")   # doctest: +SKIP
        33.27...
        """
        if preset is None:
            return Comparison([r.report for r in self.rows], [r.name for r in self.rows], STATIC_METRICS)
        timed = [r for r in self.rows if preset in r.latency]
        return Comparison([replace(r.report, latency=r.latency[preset]) for r in timed],
                          [r.name for r in timed], STATIC_METRICS + _LATENCY_METRICS)


#: what the zoo shows of each preset's latency
_LATENCY_METRICS = ("p50_ms", "p90_ms", "gflops_per_s")


def machine_info() -> dict[str, str]:
    """Where the numbers were measured."""
    import os

    from flopscope.latency.presets import cpu_name, physical_cores

    versions = {}
    for package in ("onnxruntime", "onnx", "torch"):
        try:
            versions[package] = __import__(package).__version__
        except ImportError:
            versions[package] = "not installed"
    return {
        "cpu": cpu_name(),
        "logical_cpus": str(os.cpu_count()),
        "physical_cores": str(physical_cores()),
        "python": platform.python_version(),
        "platform": platform.platform(),
        **versions,
        "date": time.strftime("%Y-%m-%d"),
    }


def run_zoo(names: Sequence[str] | None = None, presets: Sequence[str] = ("cpu", "mobile"),
            time_budget_s: float = DEFAULT_TIME_BUDGET_S,
            warmup_budget_s: float = DEFAULT_WARMUP_BUDGET_S,
            log: Callable[[str], None] | None = None,
            progress: Callable[[str, float, str], None] | None = None) -> Zoo:
    """Analyse, export, cross-check and time each reference architecture.

    ``log`` is called with a line per step; ``progress(phase, fraction, detail)`` before
    each step with the share of steps done (analysing a model is a step, timing it under
    one preset another) and ``detail`` ``"k/N"`` (the model's place), and once at the end.

    Exports and times each model: seconds, not run as a test.

    >>> zoo = run_zoo(["resnet18"], presets=["cpu"])   # doctest: +SKIP
    >>> zoo.rows[0].macs
    1814073344
    """
    from flopscope.analysis import analyze
    from flopscope.export import export_onnx
    from flopscope.latency import bench
    from flopscope.latency.presets import check_provider, get_preset
    from flopscope.models import catalog

    say = log or (lambda message: None)
    chosen = list(names) if names else catalog.names()
    unknown = [n for n in chosen if n not in catalog.names()]
    if unknown:
        from flopscope.sources import did_you_mean

        hints = "".join(did_you_mean(n, catalog.names()) for n in unknown)
        raise FlopscopeError(f"unknown reference architecture(s) {', '.join(unknown)}{hints}; "
                             f"choose from {', '.join(catalog.names())}")
    runnable, skipped = [], {}
    for preset in presets:
        try:
            check_provider(get_preset(preset))
            runnable.append(preset)
        except FlopscopeError as exc:
            skipped[preset] = str(exc)
            say(f"preset {preset} skipped: {exc}")
    rows = []
    steps, done = len(chosen) * (1 + len(runnable)), 0

    def step(k: int) -> None:
        if progress is not None:
            progress("zoo", done / steps, f"{k}/{len(chosen)}")

    with tempfile.TemporaryDirectory(prefix="flopscope-zoo-") as tmp:
        for k, name in enumerate(chosen, 1):
            spec = catalog.spec(name)
            step(k)
            say(f"{name}: analysing")
            report = analyze(name)
            path = Path(tmp) / f"{name}.onnx"
            notes: list[str] = []
            onnx_report: Report | None = None
            try:
                export_onnx(name, spec.input_shape, path)
                onnx_report = analyze(path)
            except FlopscopeError as exc:
                notes.append(f"ONNX export failed: {exc}")
            row = _row(spec, report, onnx_report, notes, _folding(name))
            done += 1
            if onnx_report is not None:
                for preset in runnable:
                    step(k)
                    say(f"{name}: timing ({preset})")
                    on_cpu = get_preset(preset).device == "cpu"
                    row.latency[preset] = _slim(bench(path, preset=preset, time_budget_s=time_budget_s,
                                                      warmup_budget_s=warmup_budget_s, report=onnx_report,
                                                      flops=report.totals.flops, per_layer=on_cpu,
                                                      predict=on_cpu))
                    done += 1
                path.unlink()
            done = k * (1 + len(runnable))            # steps of a model not timed count as done
            rows.append(row)
    if progress is not None:
        progress("zoo", 1.0, f"{len(chosen)}/{len(chosen)}")
    return Zoo(rows=rows, presets=runnable, machine=machine_info(), skipped_presets=skipped)


def _slim(latency: Latency) -> Latency:
    """The zoo keeps the prediction's error over layers, not the per-layer rows."""
    latency.per_layer = None
    if latency.prediction is not None:
        latency.prediction.pop("layers", None)
    return latency


def prediction_summary(zoo: Zoo) -> dict[str, Any]:
    """Per preset, the prediction's error over the models and their layers
    (:func:`flopscope.latency.predict.summary`); and how well the mobile preset ranks the
    models as the cpu preset does (Spearman of their p50s): a rank-preserving proxy."""
    from flopscope.latency.predict import rank_agreement, summary

    out: dict[str, Any] = {}
    for preset in zoo.presets:
        timed = {r.name: r.latency[preset] for r in zoo.rows if preset in r.latency}
        if any(lat.predicted_ms is not None for lat in timed.values()):
            out[preset] = summary(timed)
    p50 = {preset: {r.name: r.latency[preset].p50_ms for r in zoo.rows if preset in r.latency}
           for preset in ("cpu", "mobile")}
    out["mobile_rank_vs_cpu"] = rank_agreement(p50["mobile"], p50["cpu"])
    return out


def _prediction_lines(zoo: Zoo) -> list[str]:
    """The README's section on predicted latency (empty when nothing was predicted)."""
    summary = prediction_summary(zoo)
    presets = [p for p in zoo.presets if p in summary]
    if not presets and summary["mobile_rank_vs_cpu"] is None:
        return []
    rows = [[r.name, p, _cell(lat.p50_ms, 1, 2), _cell(lat.p90_ms, 1, 2), f"{100 * lat.cv:.1f}",
             _cell(lat.predicted_ms, 1, 2),
             "-" if lat.predicted_ms is None else f"{100 * (lat.predicted_ms / lat.p50_ms - 1):+.0f}%"]
            for p in presets for r in zoo.rows if p in r.latency for lat in [r.latency[p]]]
    lines = ["## Predicted latency", "",
             "Predicted: each layer's roofline time, max(FLOPs / peak, bytes / bandwidth), with this "
             "host's peaks measured through ONNX Runtime and per-op efficiencies fitted on profiled "
             "calibration graphs (never on these models); layers ORT fuses cost nothing. The error is "
             "MAPE and Spearman rank correlation against the measured p50, over models and over the "
             "layer groups of ORT's per-node profile.", "",
             markdown_table(["model", "preset", "p50 ms", "p90 ms", "cv %", "predicted ms", "error"],
                            rows), ""]
    for p in presets:
        m, layers = summary[p]["models"], summary[p]["layers"]
        text = f"- {p}: over {m['n']} models MAPE {_pct(m['mape'])}, Spearman {_num(m['spearman'])}"
        text += (f"; over {layers['n']} layers MAPE {_pct(layers['mape'])}, "
                 f"Spearman {_num(layers['spearman'])}")
        lines.append(text)
    if summary["mobile_rank_vs_cpu"] is not None:
        lines.append(f"- mobile is a rank-preserving proxy, not a phone: its p50s rank the models with "
                     f"Spearman {summary['mobile_rank_vs_cpu']:.3f} against the cpu preset's")
    return lines + [""]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _folding(name: str) -> tuple[int, int]:
    """(BatchNorm affine parameters, output channels of bias-free convolutions) of a
    reference architecture: what folding BatchNorm into the convolutions removes and adds."""
    import torch

    from flopscope.models import catalog

    with torch.device("meta"):
        module = catalog.build(name)
    norms = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)
    bn = sum(p.numel() for m in module.modules() if isinstance(m, norms) for p in m.parameters())
    convs = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)
    biases = sum(m.out_channels for m in module.modules() if isinstance(m, convs) and m.bias is None)
    return bn, biases if bn else 0


def _param_note(torch_params: int, onnx_params: int, bn: int, biases: int) -> str:
    """Why the exported file holds a different number of parameters, term by term."""
    text = f"the exported ONNX file holds {onnx_params:,} parameters, PyTorch {torch_params:,}"
    folded = torch_params - bn + biases
    if bn:
        text += (f": folding BatchNorm into the convolutions removes {bn:,} BatchNorm parameters "
                 f"and adds {biases:,} convolution biases ({folded:,})")
    rest = folded - onnx_params
    if rest > 0:
        text += (f"{';' if bn else ':'} the exporter stores identical constant tensors once "
                 f"(untrained weights repeat: zero biases, identity-initialised kernels), "
                 f"{rest:,} fewer")
    elif rest < 0:
        text += f"; {-rest:,} more in the file than folding explains"
    return text


def _row(spec: Any, report: Report, onnx_report: Report | None, notes: list[str],
         folding: tuple[int, int]) -> ZooRow:
    t = report.totals
    if onnx_report is not None and onnx_report.totals.macs != t.macs:
        notes.append(f"ONNX export counts {onnx_report.totals.macs:,} MACs, PyTorch {t.macs:,}")
    if onnx_report is not None and onnx_report.totals.params != t.params:
        notes.append(_param_note(t.params, onnx_report.totals.params, *folding))
    return ZooRow(
        name=spec.name, description=spec.description, input_shape=list(spec.input_shape),
        report=report,
        onnx_macs=onnx_report.totals.macs if onnx_report else None,
        onnx_params=onnx_report.totals.params if onnx_report else None,
        published_params=spec.published_params, published_gmacs=spec.published_gmacs,
        source=spec.source, notes=notes)


# --------------------------------------------------------------------------- outputs


def _mark(ok: bool | None) -> str:
    return "" if ok is None else (" ✓" if ok else " ✗")


def _cell(value: int | float | None, scale: float, digits: int) -> str:
    """``value / scale`` with ``digits`` decimals, ``-`` for None: the zoo states units in
    its headers (GMACs, MiB, ms) so that figures line up with published ones."""
    return "-" if value is None else f"{value / scale:.{digits}f}"


def table(zoo: Zoo) -> tuple[list[str], list[list[str]]]:
    """The zoo's main table, read from :meth:`Zoo.comparison`: one row per architecture;
    parameters exact and GMACs to 3 decimals, marked ✓/✗ against the published figures;
    then p50 ms, its coefficient of variation (flagged above 5%) and GFLOP/s of each preset.

    >>> headers, rows = table(zoo)
    >>> headers[:4]
    ['model', 'input', 'params', 'GMACs']
    """
    static = zoo.comparison()
    timed = {preset: zoo.comparison(preset) for preset in zoo.presets}
    headers = ["model", "input", "params", "GMACs", "GFLOPs", "weights MiB", "peak act. MiB"]
    for preset in zoo.presets:
        headers += [f"{preset} p50 ms", f"{preset} cv", f"{preset} GFLOP/s"]
    rows = []
    for r in zoo.rows:
        value = partial(static.value, r.name)
        params = cast("int | None", value("params"))     # Totals.params, a count
        row = [r.name, shape(r.input_shape), exact(params) + _mark(r.params_match),
               _cell(value("macs"), 1e9, 3) + _mark(r.gmacs_match), _cell(value("flops"), 1e9, 3),
               _cell(value("param_bytes"), 2**20, 1), _cell(value("peak_activation_bytes"), 2**20, 1)]
        for preset, comparison in timed.items():
            there = r.name in comparison.names
            row += [_cell(comparison.value(r.name, "p50_ms") if there else None, 1, 2),
                    noise(r.latency[preset].cv).removeprefix("cv ") if there else "-",
                    _cell((comparison.value(r.name, "gflops_per_s") or None) if there else None, 1, 1)]
        rows.append(row)
    return headers, rows


def to_markdown(zoo: Zoo, plots: Sequence[str] = ()) -> str:
    """The report's README.md: the main :func:`table`, the charts, the published figures,
    the PyTorch-against-ONNX cross-check and the notes.

    >>> Path("reports").mkdir()
    >>> _ = Path("reports/README.md").write_text(to_markdown(zoo))
    """
    headers, rows = table(zoo)
    published = [[r.name, exact(r.published_params) if r.published_params else "-",
                  _cell(r.published_gmacs or None, 1, 3), r.source] for r in zoo.rows]
    cross = [[r.name, exact(r.macs), exact(r.onnx_macs), "yes" if r.onnx_macs == r.macs else "NO",
              exact(r.params), exact(r.onnx_params)] for r in zoo.rows]
    m = zoo.machine
    lines = [
        "# Reference architectures: cost and latency",
        "",
        "Generated by `flopscope zoo --out reports/`. Static counts come from the PyTorch models in "
        "`models/` (224x224 inputs unless stated); ✓ marks agreement with the published figure "
        "(parameters exact, GMACs to 3 decimals). FLOPs follow flopscope's convention (a dot "
        "product of n terms is 2n-1 FLOPs; activations, normalisation and pooling counted). "
        "Latency is ONNX Runtime on the exported model, p50 of a warmed-up run, with its "
        "coefficient of variation (cv; ⚠ marks a noisy one, above 5%).",
        "",
        f"Machine: {m['cpu']}, {m['physical_cores']} physical cores ({m['logical_cpus']} logical), "
        f"{m['platform']}; Python {m['python']}, onnxruntime {m['onnxruntime']}, "
        f"torch {m['torch']}; {m['date']}.",
        "",
    ]
    for preset, reason in zoo.skipped_presets.items():
        lines += [f"Preset `{preset}` not measured: {reason}", ""]
    if "mobile" in zoo.presets:
        lines += ["`mobile` is mobile-like: one thread pinned to one core, sequential execution, "
                  "portable graph rewrites only, x86 kernels.", ""]
    lines += [markdown_table(headers, rows), ""]
    for plot in plots:
        lines += [f"![{plot}]({plot})", ""]
    lines += _prediction_lines(zoo)
    lines += ["## Published figures", "",
              markdown_table(["model", "params", "GMACs", "source"], published), "",
              "## PyTorch path vs ONNX path", "",
              "MACs of the PyTorch analysis and of the exported ONNX file must agree exactly; "
              "parameters differ where the exporter folds BatchNorm into the convolutions and "
              "stores identical constants once (see the notes).", "",
              markdown_table(["model", "MACs (PyTorch)", "MACs (ONNX)", "equal", "params (PyTorch)",
                              "params (ONNX)"], cross), ""]
    notes = [(r.name, n) for r in zoo.rows for n in r.notes]
    uncosted = [r for r in zoo.rows if not r.report.coverage.complete]
    if notes or uncosted:
        lines += ["## Notes", ""] + [f"- {name}: {note}" for name, note in notes]
        lines += [f"- {r.name}: coverage {coverage_text(r.report.coverage)}" for r in uncosted]
        lines += [""]
    return "\n".join(lines)


#: the keys of each model in zoo.json, in order
JSON_KEYS = ("name", "description", "input_shape", "params", "macs", "flops", "param_bytes",
             "peak_activation_bytes", "onnx_macs", "onnx_params", "published_params", "published_gmacs",
             "source", "coverage", "latency", "predicted_ms", "notes", "params_match", "gmacs_match")


def to_dict(zoo: Zoo) -> dict[str, Any]:
    """The report as JSON-ready data (``zoo.json``): per model the keys :data:`JSON_KEYS`,
    the static figures read from :meth:`Zoo.comparison`.

    >>> to_dict(zoo)["models"][1]["macs"]
    4089184256
    """
    static = zoo.comparison()
    rows = []
    for r in zoo.rows:
        extra = {"latency": {p: asdict(lat) for p, lat in r.latency.items()},
                 "params_match": r.params_match, "gmacs_match": r.gmacs_match,
                 "predicted_ms": {p: lat.predicted_ms for p, lat in r.latency.items()}}
        rows.append({key: extra[key] if key in extra else
                     static.value(r.name, key) if key in STATIC_METRICS else getattr(r, key)
                     for key in JSON_KEYS})
    return {"schema": "flopscope.zoo/1", "machine": zoo.machine, "presets": zoo.presets,
            "skipped_presets": zoo.skipped_presets, "models": rows, "prediction": prediction_summary(zoo)}


def to_csv(zoo: Zoo) -> str:
    """One row per architecture, exact figures; latency columns per preset (``zoo.csv``):
    p50, p90, GFLOP/s, cv and the predicted p50 (empty when not predicted).

    >>> to_csv(zoo).splitlines()[0]
    'model,input_shape,params,macs,flops,param_bytes,peak_activation_bytes,onnx_macs,published_params,...'
    """
    static = zoo.comparison()
    timed = {preset: zoo.comparison(preset) for preset in zoo.presets}
    header = ["model", "input_shape", "params", "macs", "flops", "param_bytes", "peak_activation_bytes",
              "onnx_macs", "published_params", "published_gmacs"]
    for preset in zoo.presets:
        header += [f"{preset}_{m}" for m in _LATENCY_METRICS] + [f"{preset}_cv", f"{preset}_predicted_ms"]
    rows = []
    for r in zoo.rows:
        row = [r.name, shape(r.input_shape)] + [static.value(r.name, m) for m in STATIC_METRICS[:5]] + [
            r.onnx_macs, r.published_params, r.published_gmacs]
        for preset, comparison in timed.items():
            there = r.name in comparison.names
            row += [comparison.value(r.name, m) if there else None for m in _LATENCY_METRICS]
            row += [r.latency[preset].cv, r.latency[preset].predicted_ms] if there else [None, None]
        rows.append(row)
    return csv_table(header, rows)


def plot(zoo: Zoo, out: Path) -> list[str]:
    """latency_vs_flops.png (one series per preset, when any was timed) and
    params_vs_macs.png, drawn by :func:`flopscope.plot.metrics_chart` from
    :meth:`Zoo.comparison`; returns the file names written.

    >>> plot(zoo, Path("."))        # a zoo timed under presets also draws latency_vs_flops.png
    ['params_vs_macs.png']
    """
    from flopscope.plot import metrics_chart

    written = []
    timed = {preset: zoo.comparison(preset) for preset in zoo.presets}
    if any(len(c) for c in timed.values()):
        metrics_chart(timed, "flops", "p50_ms", labels=("FLOPs (flopscope convention)", "p50 latency (ms)"),
                      title="Latency against FLOPs", path=out / "latency_vs_flops.png")
        written.append("latency_vs_flops.png")
    metrics_chart(zoo.comparison(), "macs", "params", labels=("MACs", "parameters"),
                  title="Parameters against MACs", path=out / "params_vs_macs.png")
    written.append("params_vs_macs.png")
    predicted = {p: [(r.name, lat.p50_ms, lat.predicted_ms) for r in zoo.rows if p in r.latency
                     for lat in [r.latency[p]] if lat.predicted_ms is not None] for p in zoo.presets}
    if any(predicted.values()):
        from flopscope.plot import prediction_chart

        prediction_chart({p: v for p, v in predicted.items() if v}, path=out / "predicted_vs_measured.png")
        written.append("predicted_vs_measured.png")
    return written


def write(zoo: Zoo, out: str | Path) -> list[Path]:
    """Write README.md, zoo.json, zoo.csv and the plots into ``out``."""
    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FlopscopeError(f"cannot create {folder}: {exc.strerror or exc}") from None
    plots = plot(zoo, folder)
    files = {"README.md": to_markdown(zoo, plots), "zoo.json": json.dumps(to_dict(zoo), indent=2) + "\n",
             "zoo.csv": to_csv(zoo)}
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return [folder / n for n in (*files, *plots)]
