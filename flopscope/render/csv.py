"""CSV report: one row per layer, exact integers; or the rows that ``depth``/``top`` select."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from flopscope.render.tables import layout_text, select
from flopscope.report import Report
from flopscope.units import shape

#: the per-layer columns (every layer, in execution order); new columns go at the end
COLUMNS = ("name", "op", "module", "output_shapes", "macs", "flops", "params", "output_bytes",
           "traffic_bytes", "status", "repeat", "module_class", "input_shapes", "kernel")
#: the columns of a selection (``--depth``/``--top``): modules rolled up, or the heaviest rows
ROW_COLUMNS = ("name", "kind", "depth", "module_class", "op", "input_shapes", "output_shapes",
               "kernel", "layers", "params", "macs", "flops", "uncosted", "status")


#: columns a train-mode report adds (flopscope.training)
TRAIN_COLUMNS = ("phase", "saved_bytes", "gradient_bytes")


def render_csv(report: Report, *, depth: int | None = None, top: int | None = None,
               all_layers: bool = False) -> str:
    """Every layer (:data:`COLUMNS`, and :data:`TRAIN_COLUMNS` for a train-mode report;
    unknown values are empty cells, shapes are ``1x64x56x56``); with ``depth`` or ``top``,
    the rows the text report shows for them (:data:`ROW_COLUMNS`, see
    :func:`flopscope.render.tables.select`). Every layer is listed by default, so
    ``all_layers`` changes only a selection."""
    if depth is None and top is None:
        modules = report.modules
        train = report.totals.backward_macs is not None
        return table(COLUMNS + (TRAIN_COLUMNS if train else ()), (
            [l.name, l.op, l.module, _shapes(l.output_shapes), _cell(l.macs), _cell(l.flops),
             l.params, _cell(l.output_bytes), _cell(l.traffic_bytes), l.status, l.repeat,
             modules.get(l.module, ""), _shapes(l.input_shapes), layout_text(l.attrs)]
            + ([l.phase or "", _cell(l.saved_bytes), _cell(l.gradient_bytes)] if train else [])
            for l in report.layers))
    rows = select(report, depth, top, all_layers).rows
    return table(ROW_COLUMNS, ([r.path, r.kind, r.depth, r.cls, r.op, _shapes(r.inputs),
                                _shapes(r.outputs), layout_text(r.attrs), r.layers, r.params,
                                r.macs, r.flops, r.uncosted, r.status] for r in rows))


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


def _shapes(shapes: Iterable[Any]) -> str:
    return " ".join(shape(s) for s in shapes)


def _cell(value: int | None) -> str:
    return "" if value is None else str(value)
