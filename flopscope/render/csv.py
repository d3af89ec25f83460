"""CSV report: one row per layer, exact integers."""

from __future__ import annotations

import csv
import io
from typing import Any

from flopscope.render.units import shape
from flopscope.report import Report

COLUMNS = ("name", "op", "module", "output_shapes", "macs", "flops", "params", "output_bytes",
           "traffic_bytes", "status", "repeat")


def render_csv(report: Report, **_: Any) -> str:
    """Per-layer rows; unknown values are empty cells, shapes are ``1x64x56x56``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for l in report.layers:
        writer.writerow([l.name, l.op, l.module, " ".join(shape(s) for s in l.output_shapes),
                         _cell(l.macs), _cell(l.flops), l.params, _cell(l.output_bytes),
                         _cell(l.traffic_bytes), l.status, l.repeat])
    return buffer.getvalue()


def _cell(value: int | None) -> str:
    return "" if value is None else str(value)
