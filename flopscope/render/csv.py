"""CSV report: one row per layer, exact integers."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from flopscope.report import Report
from flopscope.units import shape

COLUMNS = ("name", "op", "module", "output_shapes", "macs", "flops", "params", "output_bytes",
           "traffic_bytes", "status", "repeat")


#: columns a train-mode report adds (flopscope.training)
TRAIN_COLUMNS = ("phase", "saved_bytes", "gradient_bytes")


def render_csv(report: Report, **_: Any) -> str:
    """Per-layer rows; unknown values are empty cells, shapes are ``1x64x56x56``."""
    train = report.totals.backward_macs is not None
    return table(COLUMNS + (TRAIN_COLUMNS if train else ()), (
        [l.name, l.op, l.module, " ".join(shape(s) for s in l.output_shapes),
         _cell(l.macs), _cell(l.flops), l.params, _cell(l.output_bytes),
         _cell(l.traffic_bytes), l.status, l.repeat]
        + ([l.phase or "", _cell(l.saved_bytes), _cell(l.gradient_bytes)] if train else [])
        for l in report.layers))


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """CSV text: a header line, then one line per row (None is an empty cell).

    >>> print(table(["model", "macs"], [["resnet18", 1814073344], ["x", None]]), end="")
    model,macs
    resnet18,1814073344
    x,
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _cell(value: int | None) -> str:
    return "" if value is None else str(value)
