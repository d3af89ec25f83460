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
        parts += [f"### {title}", "", tabulate(rows, table_headers, tablefmt="github",
                                               disable_numparse=True,
                                               colalign=align(headers, rows)), ""]
    parts += [f"- {line}" for line in footer(report)]
    return "\n".join(parts) + "\n"
