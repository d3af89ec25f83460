"""JSON report: the public contract (schema ``flopscope.report/1``)."""

from __future__ import annotations

import json
from typing import Any

from flopscope.report import Report


def render_json(report: Report, **_: Any) -> str:
    """The report as JSON (see ``Report.to_dict`` for the fields): indented at the top,
    one line per layer, so that files of 100k layers stay quick to write and to read."""
    data = report.to_dict()
    layers = data.pop("layers")
    head = json.dumps(data, indent=2)
    rows = ",\n    ".join(json.dumps(row, separators=(", ", ": ")) for row in layers)
    body = f'"layers": [\n    {rows}\n  ]' if layers else '"layers": []'
    return f"{head[:-2]},\n  {body}\n}}\n"
