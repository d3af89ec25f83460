"""JSON report: the public contract (schema ``flopscope.report/1``)."""

from __future__ import annotations

import json

from flopscope.render.tables import select
from flopscope.report import Report


def render_json(report: Report, *, depth: int | None = None, top: int | None = None,
                all_layers: bool = False) -> str:
    """The report as JSON (see ``Report.to_dict`` for the fields): indented at the top,
    one line per layer, so that files of 100k layers stay quick to write and to read.

    ``layers`` always lists every layer (the contract that gates and scripts read). With
    ``depth`` or ``top``, a ``selection`` object is added: the options and the rows the
    text report shows for them (modules rolled up, or the heaviest rows), exact integers.
    """
    data = report.to_dict()
    layers = data.pop("layers")
    if depth is not None or top is not None:
        chosen = select(report, depth, top, all_layers)
        data["selection"] = {"depth": depth, "top": top, "all_layers": all_layers,
                             "title": chosen.title, "folded": chosen.folded,
                             "rows": [r.to_dict() for r in chosen.rows]}
    head = json.dumps(data, indent=2)
    rows = ",\n    ".join(json.dumps(row, separators=(", ", ": ")) for row in layers)
    body = f'"layers": [\n    {rows}\n  ]' if layers else '"layers": []'
    return f"{head[:-2]},\n  {body}\n}}\n"
