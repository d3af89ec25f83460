"""The comparison report of the reference architectures (``flopscope zoo``).

For each architecture in ``flopscope.models.catalog``: the static analysis of the PyTorch
model, the same model exported to ONNX and analysed again (MACs must agree exactly), its
published figures beside ours, and its latency on ONNX Runtime under each preset. The
result is written as Markdown (``README.md``), JSON, CSV and two plots.
"""

from __future__ import annotations

import csv
import io
import json
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flopscope.errors import FlopscopeError
from flopscope.report import Latency, Report

#: default time each preset measures a model for (plus its warm-up)
DEFAULT_TIME_BUDGET_S = 2.0
DEFAULT_WARMUP_BUDGET_S = 3.0


@dataclass
class ZooRow:
    """One architecture's figures."""

    name: str
    description: str
    input_shape: list[int]
    params: int
    macs: int
    flops: int
    param_bytes: int
    peak_activation_bytes: int
    onnx_macs: int | None
    onnx_params: int | None
    published_params: int | None
    published_gmacs: float | None
    source: str
    coverage: float
    latency: dict[str, Latency] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def gmacs(self) -> float:
        return self.macs / 1e9

    @property
    def params_match(self) -> bool | None:
        return None if self.published_params is None else self.params == self.published_params

    @property
    def gmacs_match(self) -> bool | None:
        if self.published_gmacs is None:
            return None
        return round(self.gmacs, 3) == round(self.published_gmacs, 3)


@dataclass
class Zoo:
    """All rows, the presets measured and the machine they ran on."""

    rows: list[ZooRow]
    presets: list[str]
    machine: dict[str, str]
    skipped_presets: dict[str, str] = field(default_factory=dict)


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
            log: Callable[[str], None] | None = None) -> Zoo:
    """Analyse, export, cross-check and time each reference architecture.

    >>> zoo = run_zoo(["resnet18"], presets=["cpu"])   # doctest: +SKIP
    >>> zoo.rows[0].macs                                # doctest: +SKIP
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
        raise FlopscopeError(f"unknown reference architecture(s) {', '.join(unknown)}; "
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
    with tempfile.TemporaryDirectory(prefix="flopscope-zoo-") as tmp:
        for name in chosen:
            spec = catalog.spec(name)
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
            if onnx_report is not None:
                for preset in runnable:
                    say(f"{name}: timing ({preset})")
                    row.latency[preset] = bench(path, preset=preset, time_budget_s=time_budget_s,
                                                warmup_budget_s=warmup_budget_s, report=onnx_report,
                                                flops=report.totals.flops)
                path.unlink()
            rows.append(row)
    return Zoo(rows=rows, presets=runnable, machine=machine_info(), skipped_presets=skipped)


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
        params=t.params, macs=t.macs, flops=t.flops, param_bytes=t.param_bytes,
        peak_activation_bytes=t.peak_activation_bytes,
        onnx_macs=onnx_report.totals.macs if onnx_report else None,
        onnx_params=onnx_report.totals.params if onnx_report else None,
        published_params=spec.published_params, published_gmacs=spec.published_gmacs,
        source=spec.source, coverage=report.coverage.percent, notes=notes)


# --------------------------------------------------------------------------- outputs


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f}"


def _mark(ok: bool | None) -> str:
    return "" if ok is None else (" ✓" if ok else " ✗")


def to_markdown(zoo: Zoo, plots: Sequence[str] = ()) -> str:
    """The report's README.md."""
    from tabulate import tabulate

    headers = ["model", "input", "params", "GMACs", "GFLOPs", "weights MiB", "peak act. MiB"]
    for preset in zoo.presets:
        headers += [f"{preset} p50 ms", f"{preset} GFLOP/s"]
    rows = []
    for r in zoo.rows:
        row = [r.name, "x".join(map(str, r.input_shape)), f"{r.params:,}{_mark(r.params_match)}",
               f"{r.gmacs:.3f}{_mark(r.gmacs_match)}", f"{r.flops / 1e9:.3f}", _mib(r.param_bytes),
               _mib(r.peak_activation_bytes)]
        for preset in zoo.presets:
            lat = r.latency.get(preset)
            row += [f"{lat.p50_ms:.2f}" if lat else "-",
                    f"{lat.gflops_per_s:.1f}" if lat and lat.gflops_per_s else "-"]
        rows.append(row)
    published = [[r.name, f"{r.published_params:,}" if r.published_params else "-",
                  f"{r.published_gmacs:.3f}" if r.published_gmacs else "-", r.source]
                 for r in zoo.rows]
    cross = [[r.name, f"{r.macs:,}", f"{r.onnx_macs:,}" if r.onnx_macs is not None else "-",
              "yes" if r.onnx_macs == r.macs else "NO", f"{r.params:,}",
              f"{r.onnx_params:,}" if r.onnx_params is not None else "-"] for r in zoo.rows]
    m = zoo.machine
    lines = [
        "# Reference architectures: cost and latency",
        "",
        "Generated by `flopscope zoo --out reports/`. Static counts come from the PyTorch models in "
        "`models/` (224x224 inputs unless stated); ✓ marks agreement with the published figure "
        "(parameters exact, GMACs to 3 decimals). FLOPs follow flopscope's convention (a dot "
        "product of n terms is 2n-1 FLOPs; activations, normalisation and pooling counted). "
        "Latency is ONNX Runtime on the exported model, p50 of a warmed-up run.",
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
    lines += [tabulate(rows, headers, tablefmt="github", disable_numparse=True), ""]
    for plot in plots:
        lines += [f"![{plot}]({plot})", ""]
    lines += ["## Published figures", "",
              tabulate(published, ["model", "params", "GMACs", "source"], tablefmt="github",
                       disable_numparse=True), "",
              "## PyTorch path vs ONNX path", "",
              "MACs of the PyTorch analysis and of the exported ONNX file must agree exactly; "
              "parameters differ where the exporter folds BatchNorm into the convolutions and "
              "stores identical constants once (see the notes).", "",
              tabulate(cross, ["model", "MACs (PyTorch)", "MACs (ONNX)", "equal", "params (PyTorch)",
                               "params (ONNX)"], tablefmt="github", disable_numparse=True), ""]
    notes = [(r.name, n) for r in zoo.rows for n in r.notes]
    if notes:
        lines += ["## Notes", ""] + [f"- {name}: {note}" for name, note in notes] + [""]
    return "\n".join(lines)


def to_dict(zoo: Zoo) -> dict[str, Any]:
    """The report as JSON-ready data."""
    rows = []
    for r in zoo.rows:
        row = asdict(r)
        row["latency"] = {p: asdict(lat) for p, lat in r.latency.items()}
        row["params_match"], row["gmacs_match"] = r.params_match, r.gmacs_match
        rows.append(row)
    return {"schema": "flopscope.zoo/1", "machine": zoo.machine, "presets": zoo.presets,
            "skipped_presets": zoo.skipped_presets, "models": rows}


def to_csv(zoo: Zoo) -> str:
    """One row per architecture; latency columns per preset."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = ["model", "input_shape", "params", "macs", "flops", "param_bytes", "peak_activation_bytes",
              "onnx_macs", "published_params", "published_gmacs"]
    for preset in zoo.presets:
        header += [f"{preset}_p50_ms", f"{preset}_p90_ms", f"{preset}_gflops_per_s"]
    writer.writerow(header)
    for r in zoo.rows:
        row = [r.name, "x".join(map(str, r.input_shape)), r.params, r.macs, r.flops, r.param_bytes,
               r.peak_activation_bytes, r.onnx_macs, r.published_params, r.published_gmacs]
        for preset in zoo.presets:
            lat = r.latency.get(preset)
            row += [lat.p50_ms, lat.p90_ms, lat.gflops_per_s] if lat else ["", "", ""]
        writer.writerow(row)
    return out.getvalue()


def plot(zoo: Zoo, out: Path) -> list[str]:
    """latency_vs_flops.png and params_vs_macs.png; returns the file names written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    if zoo.presets and any(r.latency for r in zoo.rows):
        fig, ax = plt.subplots(figsize=(7, 5))
        for preset, marker in zip(zoo.presets, "os^"):
            pts = [(r.flops / 1e9, r.latency[preset].p50_ms, r.name) for r in zoo.rows
                   if preset in r.latency]
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker=marker, label=preset)
            for x, y, label in pts:
                ax.annotate(label, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set(xscale="log", yscale="log", xlabel="GFLOPs (flopscope convention)",
               ylabel="p50 latency (ms)", title="Latency against FLOPs")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "latency_vs_flops.png", dpi=110)
        plt.close(fig)
        written.append("latency_vs_flops.png")
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.scatter([r.macs / 1e9 for r in zoo.rows], [r.params / 1e6 for r in zoo.rows])
    for r in zoo.rows:
        ax.annotate(r.name, (r.macs / 1e9, r.params / 1e6), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    ax.set(xscale="log", yscale="log", xlabel="GMACs", ylabel="parameters (millions)",
           title="Parameters against MACs")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "params_vs_macs.png", dpi=110)
    plt.close(fig)
    written.append("params_vs_macs.png")
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
