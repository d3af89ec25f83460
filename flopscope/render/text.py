"""Plain-text report for a terminal."""

from __future__ import annotations

from tabulate import tabulate

from flopscope.render.tables import align, footer, heading, sections
from flopscope.report import Report


def render_text(report: Report, *, depth: int | None = None, top: int | None = None,
                layers: bool = True) -> str:
    """Per-layer table (or the module rollup with ``depth``, or the ``top`` heaviest
    layers), per-op summary, totals, then coverage, convention and notes."""
    parts = [heading(report), ""]
    for title, headers, rows in sections(report, depth, top, layers):
        parts += [title, tabulate(rows, headers, tablefmt="simple", disable_numparse=True,
                                  colalign=align(headers, rows)), ""]
    parts += footer(report)
    return "\n".join(parts) + "\n"
