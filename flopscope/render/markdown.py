"""Markdown report, for pull-request comments and generated docs."""

from __future__ import annotations

from tabulate import tabulate

from flopscope.render.tables import align, footer, head_lines, heading, sections
from flopscope.render.text import formula_lines
from flopscope.report import Report

#: the module tree's indentation in a pipe table (GitHub strips leading spaces)
INDENT = "&nbsp;&nbsp;"


def render_markdown(report: Report, *, depth: int | None = None, top: int | None = None,
                    all_layers: bool = False) -> str:
    """The text report as GitHub-flavoured Markdown: a heading, the totals and coverage,
    the module tree (same ``depth``, ``top`` and ``all_layers`` as the text), op types,
    then the convention and notes as a list."""
    parts = [f"## {heading(report)}", ""]
    for i, (title, headers, rows) in enumerate(sections(report, depth, top, all_layers, INDENT)):
        table_headers = headers or ["metric", "exact", "approx."]
        parts += [f"### {title}", "", table(table_headers, rows, align(headers, rows)), ""]
        if i == 0:
            parts += [f"- {line}" for line in head_lines(report)] + [""]
    if report.formulas is not None:
        *costs, how = formula_lines(report)
        parts += ["### formulas", "", *(f"- `{line}`" for line in costs), f"- {how}", ""]
    parts += [f"- {line}" for line in footer(report)]
    return "\n".join(parts) + "\n"


def table(headers: list[str], rows: list[list[str]], colalign: tuple[str, ...] | None = None) -> str:
    """A GitHub pipe table of cells already formatted (no number parsing).

    >>> print(table(["model", "MACs"], [["resnet18", "1.81 G"]], ("left", "right")))
    | model    |   MACs |
    |----------|--------|
    | resnet18 | 1.81 G |
    """
    return tabulate(rows, headers, tablefmt="github", disable_numparse=True, colalign=colalign)
