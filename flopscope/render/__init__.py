"""Renderers: functions from a Report to text. Only the CLI prints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

FORMATS = ("text", "markdown", "json", "csv", "html")


def render(report: Any, fmt: str = "text", **options: Any) -> str:
    """Render ``report`` as ``fmt`` (one of :data:`FORMATS`); ``depth`` and ``top`` as on
    the command line.

    >>> from flopscope.render import render
    >>> print(render(report, "markdown", top=5))              # doctest: +SKIP
    """
    return _renderer(fmt)(report, **options)


def _renderer(fmt: str) -> Callable[..., str]:
    if fmt == "text":
        from flopscope.render.text import render_text
        return render_text
    if fmt == "markdown":
        from flopscope.render.markdown import render_markdown
        return render_markdown
    if fmt == "json":
        from flopscope.render.json import render_json
        return render_json
    if fmt == "csv":
        from flopscope.render.csv import render_csv
        return render_csv
    if fmt == "html":
        from flopscope.render.html import render_html
        return render_html
    raise ValueError(f"unknown format '{fmt}'; choose one of {', '.join(FORMATS)}")
