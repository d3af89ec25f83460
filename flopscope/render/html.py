"""Notebook display: the compact HTML of a Report.

The HTML is what a notebook shows for a bare ``report`` at the end of a cell: heading,
totals, coverage, the heaviest layers, the module rollup at depth 1, op types and notes.
Every section is cut to a fixed number of rows and every cell to a fixed length, so the
display stays a few tens of kilobytes whether the model has 10 layers or 100,000
(``flopscope.to_dataframe(report)`` has them all). Every piece of text is escaped.
``import flopscope`` inside IPython registers :func:`to_html` as the notebook display of a
Report, by name, so the Report itself imports no presenter.

>>> from IPython.display import HTML                         # doctest: +SKIP
>>> HTML(to_html(report))                                    # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from flopscope.render.tables import (
    align,
    coverage_text,
    inputs_text,
    layer_table,
    module_table,
    op_table,
    rows_table,
    select,
    totals_table,
    tree_title,
)
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


def to_html(report: Report, *, top: int = TOP_LAYERS) -> str:
    """The report as a self-contained HTML fragment of bounded size (what a notebook shows).

    >>> html = to_html(report)                         # doctest: +SKIP
    >>> from IPython.display import HTML; HTML(html)   # doctest: +SKIP
    """
    t = report.totals
    parts = [f"<p><b>{_cut(report.model.name)}</b> ({escape(report.model.source)}) — inputs: "
             f"{_cut(inputs_text(report)) or 'none'}</p>",
             table([], totals_table(report)),
             f"<p>coverage {escape(coverage_text(report.coverage, MAX_OP_NAMES))}</p>"]
    if report.layers:
        heaviest = report.top(top)
        headers, rows = layer_table(heaviest)
        headers.append("FLOPs %")
        for layer, row in zip(heaviest, rows):
            row.append(_share(layer.flops or 0, t.flops))
        parts += [f"<p><b>top {len(heaviest)} of {len(report.layers):,} layers by FLOPs</b></p>",
                  table(headers, rows)]
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
    return fragment(*parts)


# --------------------------------------------------------------------------- pieces


def _share(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "-"


def _cut(text: str, limit: int = MAX_CELL) -> str:
    """``text`` escaped, shortened to ``limit`` characters with an ellipsis."""
    return escape(text if len(text) <= limit else text[:limit - 1] + "…")


def table(headers: list[str], rows: list[list[str]], sides: Sequence[str] | None = None) -> str:
    """An HTML table of cells already formatted, each escaped and cut to ``MAX_CELL``
    characters; ``sides`` aligns the columns (default: numeric columns right).

    >>> table(["model", "MACs"], [["a<b", "1.81 G"]]).split("</tr>")[1]
    '<tr><td>a&lt;b</td><td class="n">1.81 G</td>'
    """
    css = ['' if side == "left" else ' class="n"' for side in (sides or align(headers, rows))]
    out = ["<table>"]
    if headers:
        out.append("<tr>" + "".join(f"<th{c}>{escape(h)}</th>" for h, c in zip(headers, css)) + "</tr>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td{c}>{_cut(cell)}</td>" for cell, c in zip(row, css)) + "</tr>")
    out.append("</table>")
    return "".join(out)


def fragment(*parts: str) -> str:
    """HTML parts in flopscope's styled block (what a notebook shows).

    >>> fragment("<p>hi</p>").count('<div class="flopscope-report">')
    1
    """
    return "\n".join([_STYLE, '<div class="flopscope-report">', *parts, "</div>"])


def _details(title: str, headers: list[str], rows: list[list[str]], limit: int) -> str:
    shown = rows[:limit]
    if len(rows) > limit:
        shown = shown + [[f"… {len(rows) - limit:,} more"] + [""] * (len(headers) - 1)]
    return f"<details><summary>{escape(title)}</summary>{table(headers, shown)}</details>"


def render_html(report: Report, *, depth: int | None = None, top: int | None = None,
                all_layers: bool = False) -> str:
    """A standalone HTML page of the report's compact view (``flopscope report --format html``),
    with the rows that ``depth``, ``top`` and ``all_layers`` select, as in every format
    (:func:`flopscope.render.tables.select`)."""
    selection = select(report, depth, top, all_layers)
    headers, rows = rows_table(report, selection, indent="\u00a0\u00a0")
    tree = f"<p><b>{escape(tree_title(selection))}</b></p>{table(headers, rows)}"
    body = to_html(report, top=top or TOP_LAYERS)
    body = body[:body.rindex("</div>")] + tree + "\n</div>"
    title = escape(report.model.name)
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>flopscope: {title}"
            f"</title></head>\n<body>\n{body}\n</body></html>\n")
