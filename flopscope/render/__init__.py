"""Renderers: functions from a Report to text, HTML or a DataFrame. Only the CLI prints.

:func:`render` picks a format by name; :func:`summary` is the few-line text;
``flopscope.render.dataframe.to_dataframe`` the pandas frame; charts are in
``flopscope.plot``. The Report imports none of them.

>>> from flopscope.render import render, summary
>>> print(summary(report))
resnet18 (torch; x 1x3x224x224 float32)
MACs 1.81 G · FLOPs 3.64 G · params 11.7 M
weights 44.6 MiB · peak activations 6.12 MiB
coverage 100.0% (69 of 69 nodes costed)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

FORMATS = ("text", "markdown", "json", "csv", "html")


def render(report: Any, fmt: str = "text", **options: Any) -> str:
    """Render ``report`` as ``fmt`` (one of :data:`FORMATS`); ``depth``, ``top`` and
    ``all_layers`` as on the command line, honoured by every format (the rows come from
    :func:`flopscope.render.tables.select`).

    >>> from flopscope.render import render
    >>> print(render(report, "markdown", top=5).splitlines()[0])
    ## resnet18 (torch, ResNet) — inputs: x 1x3x224x224 float32
    """
    return _renderer(fmt)(report, **options)


def summary(report: Any) -> str:
    """A few lines: name, MACs, FLOPs, params, weight and peak memory, coverage, latency
    (see :func:`flopscope.render.text.summary`).

    >>> from flopscope.render import summary
    >>> print(summary(report))
    resnet18 (torch; x 1x3x224x224 float32)
    MACs 1.81 G · FLOPs 3.64 G · params 11.7 M
    weights 44.6 MiB · peak activations 6.12 MiB
    coverage 100.0% (69 of 69 nodes costed)
    """
    from flopscope.render.text import summary as text_summary
    return text_summary(report)


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
