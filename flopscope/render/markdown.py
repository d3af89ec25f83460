"""Markdown report, for pull-request comments and generated docs."""

from __future__ import annotations

from tabulate import tabulate

from flopscope.render.tables import align, footer, heading, sections
from flopscope.report import Report


def render_markdown(report: Report, *, depth: int | None = None, top: int | None = None,
                    layers: bool = True) -> str:
    """The text report as GitHub-flavoured Markdown: a heading, pipe tables, a list."""
    parts = [f"## {heading(report)}", ""]
    for title, headers, rows in sections(report, depth, top, layers):
        table_headers = headers or ["metric", "exact", "approx."]
        parts += [f"### {title}", "", table(table_headers, rows, align(headers, rows)), ""]
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
