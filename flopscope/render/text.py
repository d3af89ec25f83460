"""Plain text for a terminal: the full report, and the few-line summary."""

from __future__ import annotations

from tabulate import tabulate

from flopscope.render.tables import align, coverage_text, footer, heading, inputs_text, sections
from flopscope.report import Report
from flopscope.units import binary_bytes, si

#: uncosted op types named in the summary's coverage line
MAX_OP_NAMES = 8


def render_text(report: Report, *, depth: int | None = None, top: int | None = None,
                layers: bool = True) -> str:
    """Per-layer table (or the module rollup with ``depth``, or the ``top`` heaviest
    layers), per-op summary, totals, then coverage, convention and notes."""
    parts = [heading(report), ""]
    for title, headers, rows in sections(report, depth, top, layers):
        parts += [title, table(headers, rows, align(headers, rows)), ""]
    parts += footer(report)
    return "\n".join(parts) + "\n"


def table(headers: list[str], rows: list[list[str]], colalign: tuple[str, ...] | None = None) -> str:
    """A plain-text table of cells already formatted (no number parsing).

    >>> print(table(["model", "MACs"], [["resnet18", "1.81 G"]], ("left", "right")))
    model       MACs
    --------  ------
    resnet18  1.81 G
    """
    return tabulate(rows, headers, tablefmt="simple", disable_numparse=True, colalign=colalign)


def summary(report: Report) -> str:
    """A few lines: name and inputs; MACs, FLOPs, params; weight and peak activation
    memory; coverage (with the op types not costed); latency when measured.

    >>> import flopscope
    >>> print(flopscope.summary(flopscope.analyze("resnet18")))     # doctest: +SKIP
    resnet18 (torch; x 1x3x224x224 float32)
    MACs 1.81 G · FLOPs 3.64 G · params 11.7 M
    weights 44.6 MiB · peak activations 6.12 MiB
    coverage 100.0% (69 of 69 nodes costed)
    """
    t = report.totals
    inputs = inputs_text(report)
    lines = [f"{report.model.name} ({report.model.source}" + (f"; {inputs})" if inputs else ")"),
             f"MACs {si(t.macs)} · FLOPs {si(t.flops)} · params {si(t.params)}",
             f"weights {binary_bytes(t.param_bytes)} · peak activations "
             f"{binary_bytes(t.peak_activation_bytes)}",
             f"coverage {coverage_text(report.coverage, MAX_OP_NAMES)}"]
    if report.latency is not None:
        lat = report.latency
        from flopscope.latency.render import noise
        lines.append(f"latency p50 {lat.p50_ms:.3f} ms ({noise(lat.cv)}), p90 {lat.p90_ms:.3f} ms "
                     f"({lat.preset}, {lat.threads} thread(s), batch {lat.batch})")
    return "\n".join(lines)
