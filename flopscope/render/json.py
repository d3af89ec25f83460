"""JSON report: the public contract (schema ``flopscope.report/1``)."""

from __future__ import annotations

from typing import Any

from flopscope.report import Report


def render_json(report: Report, **_: Any) -> str:
    """The report as indented JSON; see ``Report.to_dict`` for the fields."""
    return report.to_json(indent=2) + "\n"
