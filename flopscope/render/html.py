"""Notebook display: the short text summary and the compact HTML of a Report.

The HTML is what a notebook shows for a bare ``report`` at the end of a cell: heading,
totals, coverage, the heaviest layers, the module rollup at depth 1, op types and notes.
Every section is cut to a fixed number of rows and every cell to a fixed length, so the
display stays a few tens of kilobytes whether the model has 10 layers or 100,000
(``report.to_dataframe()`` has them all). Every piece of text is escaped.

>>> print(summary(report))                                   # doctest: +SKIP
resnet18 (torch; x 1x3x224x224 float32)
MACs 1.81 G · FLOPs 3.64 G · params 11.7 M
weights 44.6 MiB · peak activations 6.12 MiB
coverage 100.0% (69 of 69 nodes costed)
"""

from __future__ import annotations

from html import escape
from typing import Any

from flopscope.render.tables import align, layer_table, module_table, op_table, totals_table
from flopscope.render.units import binary_bytes, shape, si
from flopscope.report import CONVENTIONS, Report

#: rows shown per section, and characters per cell, in the HTML display
TOP_LAYERS = 10
MAX_MODULES = 20
MAX_OPS = 12
MAX_NOTES = 8
MAX_CELL = 80
#: unsupported / unresolved op types named in a coverage line
MAX_OP_NAMES = 8

_STYLE = ("<style>.flopscope-report table{border-collapse:collapse;margin:0.3em 0}"
          ".flopscope-report td,.flopscope-report th{padding:1px 8px}"
          ".flopscope-report td.n,.flopscope-report th.n{text-align:right;"
          "font-variant-numeric:tabular-nums}</style>")


def summary(report: Report) -> str:
    """A few lines: name and inputs; MACs, FLOPs, params; weight and peak activation
    memory; coverage; latency when measured.

    >>> import flopscope
    >>> print(flopscope.analyze("resnet18").summary())     # doctest: +SKIP
    resnet18 (torch; x 1x3x224x224 float32)
    MACs 1.81 G · FLOPs 3.64 G · params 11.7 M
    weights 44.6 MiB · peak activations 6.12 MiB
    coverage 100.0% (69 of 69 nodes costed)
    """
    t = report.totals
    lines = [_heading(report),
             f"MACs {si(t.macs)} · FLOPs {si(t.flops)} · params {si(t.params)}",
             f"weights {binary_bytes(t.param_bytes)} · peak activations "
             f"{binary_bytes(t.peak_activation_bytes)}",
             _coverage(report)]
    if report.latency is not None:
        lat = report.latency
        lines.append(f"latency p50 {lat.p50_ms:.3f} ms, p90 {lat.p90_ms:.3f} ms "
                     f"({lat.preset}, {lat.threads} thread(s), batch {lat.batch})")
    return "\n".join(lines)


def to_html(report: Report, *, top: int = TOP_LAYERS) -> str:
    """The report as a self-contained HTML fragment of bounded size (what a notebook shows).

    >>> html = to_html(report)                         # doctest: +SKIP
    >>> from IPython.display import HTML; HTML(html)   # doctest: +SKIP
    """
    t = report.totals
    parts = [_STYLE, '<div class="flopscope-report">',
             f"<p><b>{_cut(report.model.name)}</b> ({escape(report.model.source)}) — inputs: "
             f"{_cut(_inputs(report)) or 'none'}</p>",
             _table([], totals_table(report)),
             f"<p>{escape(_coverage(report))}</p>"]
    if report.layers:
        heaviest = report.top(top)
        headers, rows = layer_table(heaviest)
        headers.append("FLOPs %")
        for layer, row in zip(heaviest, rows):
            row.append(_share(layer.flops or 0, t.flops))
        parts += [f"<p><b>top {len(heaviest)} of {len(report.layers):,} layers by FLOPs</b></p>",
                  _table(headers, rows)]
        headers, rows = module_table(report, 1)
        parts.append(_details(f"by module (depth 1, {len(rows) - 1:,} modules)", headers, rows,
                              MAX_MODULES))
        headers, rows = op_table(report)
        parts.append(_details(f"by op type ({len(rows):,} types)", headers, rows, MAX_OPS))
    convention = CONVENTIONS.get(report.convention, "")
    parts.append(f'<p title="{escape(convention)}">convention: {escape(report.convention)}</p>')
    if report.notes:
        items = "".join(f"<li>{_cut(n, 300)}</li>" for n in report.notes[:MAX_NOTES])
        more = len(report.notes) - MAX_NOTES
        if more > 0:
            items += f"<li>… {more:,} more note(s)</li>"
        parts.append(f"<ul>{items}</ul>")
    parts.append("</div>")
    return "\n".join(parts)


# --------------------------------------------------------------------------- pieces


def _heading(report: Report) -> str:
    inputs = _inputs(report)
    return f"{report.model.name} ({report.model.source}" + (f"; {inputs})" if inputs else ")")


def _inputs(report: Report) -> str:
    return ", ".join(f"{i.name} {shape(i.shape)} {i.dtype}" for i in report.model.inputs)


def _coverage(report: Report) -> str:
    c = report.coverage
    # rounded down: 4,998 of 5,000 nodes is 99.9%, never 100.0%
    percent = (1000 * c.costed) // c.nodes / 10 if c.nodes else 100.0
    line = f"coverage {percent:.1f}% ({c.costed:,} of {c.nodes:,} nodes costed)"
    for label, counts in (("unsupported", c.unsupported), ("unresolved", c.unresolved)):
        if counts:
            named = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            line += f"; {label}: " + ", ".join(f"{op} x{n}" for op, n in named[:MAX_OP_NAMES])
            if len(named) > MAX_OP_NAMES:
                line += f", … {len(named) - MAX_OP_NAMES} more"
    return line


def _share(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "-"


def _cut(text: str, limit: int = MAX_CELL) -> str:
    """``text`` escaped, shortened to ``limit`` characters with an ellipsis."""
    return escape(text if len(text) <= limit else text[:limit - 1] + "…")


def _table(headers: list[str], rows: list[list[str]]) -> str:
    sides = align(headers, rows)
    css = ['' if side == "left" else ' class="n"' for side in sides]
    out = ["<table>"]
    if headers:
        out.append("<tr>" + "".join(f"<th{c}>{escape(h)}</th>" for h, c in zip(headers, css)) + "</tr>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td{c}>{_cut(cell)}</td>" for cell, c in zip(row, css)) + "</tr>")
    out.append("</table>")
    return "".join(out)


def _details(title: str, headers: list[str], rows: list[list[str]], limit: int) -> str:
    shown = rows[:limit]
    if len(rows) > limit:
        shown = shown + [[f"… {len(rows) - limit:,} more"] + [""] * (len(headers) - 1)]
    return f"<details><summary>{escape(title)}</summary>{_table(headers, shown)}</details>"


def render_html(report: Report, *, top: int | None = None, **_: Any) -> str:
    """A standalone HTML page of the report's compact view (``flopscope report --format html``)."""
    body = to_html(report, top=top or TOP_LAYERS)
    title = escape(report.model.name)
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>flopscope: {title}"
            f"</title></head>\n<body>\n{body}\n</body></html>\n")
