"""Plain text for a terminal: the full report, and the few-line summary."""

from __future__ import annotations

from flopscope.render.tables import (
    align,
    coverage_text,
    footer,
    head_lines,
    heading,
    inputs_text,
    sections,
)
from flopscope.report import Report
from flopscope.units import binary_bytes, si

#: uncosted op types named in the summary's coverage line
MAX_OP_NAMES = 8


def render_text(report: Report, *, depth: int | None = None, top: int | None = None,
                all_layers: bool = False) -> str:
    """Totals and coverage first (with a warning when the totals are a lower bound), then
    the module tree (rolled up to ``depth``, or the ``top`` heaviest rows; zero-cost
    plumbing folded unless ``all_layers``), the op types, and the notes."""
    parts = [heading(report), ""]
    for i, (title, headers, rows) in enumerate(sections(report, depth, top, all_layers)):
        parts += [title, table(headers, rows, align(headers, rows)), ""]
        if i == 0:
            parts[-1:] = head_lines(report) + [""]
    if report.formulas is not None:
        parts += ["formulas", *(f"  {line}" for line in formula_lines(report)), ""]
    parts += footer(report)
    return "\n".join(parts).rstrip("\n") + "\n"


def formula_lines(report: Report) -> list[str]:
    """The cost formulas of ``--formula``, one per line, then how they were checked.

    >>> from flopscope.report import Formulas, ModelInfo, Totals, Coverage
    >>> r = Report(ModelInfo("m", "onnx"), "flopscope", Totals(), Coverage(), [],
    ...            formulas=Formulas(["N"], "8*N", "15*N", "32*N", 5, {"N": 17}))
    >>> for line in formula_lines(r):
    ...     print(line)
    MACs = 8*N
    FLOPs = 15*N
    activation bytes = 32*N
    exact polynomials in N, fitted from 5 analyses and checked at N=17
    """
    f = report.formulas
    if f is None:
        return []
    checked = ", ".join(f"{k}={v}" for k, v in f.checked_at.items())
    meanings = {d: m for d, m in f.definitions.items() if m != f"dim param {d}"}
    dims = ", ".join(f"{d} ({meanings[d]})" if d in meanings else d for d in f.dims)
    figures = [("MACs", f.macs, "macs"), ("FLOPs", f.flops, "flops"),
               ("activation bytes", f.activation_bytes, "activation_bytes"),
               ("KV cache bytes", f.kv_cache_bytes, "kv_cache_bytes")]
    return [f"{label} = {value}" if value is not None else f"{label}: {f.not_polynomial[key]}"
            for label, value, key in figures if value is not None or key in f.not_polynomial] + [
        f"exact polynomials in {dims}, fitted from {f.analyses} analyses{_over(f.sampled)} "
        f"and checked at {checked}" + ("" if f.complete else " (a lower bound: some nodes went uncosted)")]


def _over(sampled: dict[str, list[int]]) -> str:
    """`` at seq 113..120`` (where the fit was sampled), or nothing when unknown."""
    spans = [f"{d} {lo}..{hi}" for d, (lo, hi) in sampled.items()]
    return f" at {', '.join(spans)}" if spans else ""


def table(headers: list[str], rows: list[list[str]], colalign: tuple[str, ...] | None = None) -> str:
    """A plain-text table of cells already formatted (no number parsing); leading spaces
    of a cell (the module tree's indentation) are kept.

    >>> print(table(["model", "MACs"], [["resnet18", "1.81 G"], ["  conv1", "118 M"]],
    ...             ("left", "right")))
    model       MACs
    --------  ------
    resnet18  1.81 G
      conv1    118 M
    """
    if not rows and not headers:
        return ""
    width = max(len(headers), *(len(r) for r in rows)) if rows else len(headers)
    sides = colalign or ("left",) * width
    cells = [list(headers)] if headers else []
    cells += [list(r) for r in rows]
    sizes = [max(len(c[i]) for c in cells if i < len(c)) for i in range(width)]
    rule = ["-" * n for n in sizes]

    def line(cols: list[str]) -> str:
        out = [c.rjust(n) if side == "right" else c.ljust(n) for c, n, side in zip(cols, sizes, sides)]
        return "  ".join(out).rstrip()

    lines = ([line(list(headers)), line(rule)] if headers else [line(rule)])
    lines += [line(r) for r in rows]
    if not headers:
        lines.append(line(rule))
    return "\n".join(lines)


def summary(report: Report) -> str:
    """A few lines: name and inputs; MACs, FLOPs, params; weight and peak activation
    memory; coverage (with the op types not costed); latency when measured.

    >>> import flopscope
    >>> print(flopscope.summary(flopscope.analyze("resnet18")))
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
