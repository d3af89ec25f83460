"""A Report as pandas DataFrames: one row per layer (:func:`to_dataframe`), per module
(:func:`by_module`) or per op type (:func:`by_op_type`), exact integers.

pandas is imported when a frame is built, not with this module.

>>> df = to_dataframe(report)
>>> df.sort_values("flops", ascending=False).head(3)[["name", "op", "flops"]]
                   name    op      flops
0            conv1/Conv  Conv  235225088
53  layer4.0.conv2/Conv  Conv  231185920
59  layer4.1.conv1/Conv  Conv  231185920
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flopscope.report import Report
from flopscope.units import shape

if TYPE_CHECKING:
    import pandas as pd

#: column -> dtype. ``Int64`` (pandas' nullable integer) where a layer may have no value
#: (an unsupported op has no MACs or FLOPs, a tensor of unknown shape no byte count),
#: ``int64`` where every layer has one; text columns are pandas' string dtype.
COLUMNS: dict[str, str] = {
    "name": "str",
    "op": "str",
    "module": "str",
    "output_shapes": "str",
    "macs": "Int64",
    "flops": "Int64",
    "params": "int64",
    "output_bytes": "Int64",
    "traffic_bytes": "Int64",
    "status": "str",
    "repeat": "int64",
    "reason": "str",
    "module_class": "str",
    "input_shapes": "str",
}

#: columns of :func:`by_module`
MODULE_COLUMNS: dict[str, str] = {"module": "str", "module_class": "str", "depth": "int64",
                                  "layers": "int64", "params": "int64", "macs": "int64",
                                  "flops": "int64"}
#: columns of :func:`by_op_type`
OP_COLUMNS: dict[str, str] = {"op": "str", "count": "int64", "params": "int64", "macs": "int64",
                              "flops": "int64", "uncosted": "int64"}


def to_dataframe(report: Report) -> pd.DataFrame:
    """One row per layer of ``report``, in execution order.

    Columns are :data:`COLUMNS`: ``macs``, ``flops``, ``output_bytes`` and
    ``traffic_bytes`` are nullable ``Int64`` (``<NA>`` where a layer could not be costed);
    ``params`` and ``repeat`` are ``int64``; ``output_shapes`` is text such as
    ``"1x64x56x56"`` (outputs joined by ``", "``).

    >>> import flopscope
    >>> from torch import nn
    >>> r = flopscope.analyze(nn.Conv2d(3, 8, 3), (1, 3, 32, 32))
    >>> to_dataframe(r)[["op", "output_shapes", "macs"]]
         op output_shapes   macs
    0  Conv     1x8x30x30  194400
    """
    layers = report.layers
    data: dict[str, list[Any]] = {
        "name": [l.name for l in layers],
        "op": [l.op for l in layers],
        "module": [l.module for l in layers],
        "output_shapes": [", ".join(shape(s) for s in l.output_shapes) for l in layers],
        "macs": [l.macs for l in layers],
        "flops": [l.flops for l in layers],
        "params": [l.params for l in layers],
        "output_bytes": [l.output_bytes for l in layers],
        "traffic_bytes": [l.traffic_bytes for l in layers],
        "status": [l.status for l in layers],
        "repeat": [l.repeat for l in layers],
        "reason": [l.reason for l in layers],
        "module_class": [report.modules.get(l.module, "") for l in layers],
        "input_shapes": [", ".join(shape(s) for s in l.input_shapes) for l in layers],
    }
    return _frame(data, COLUMNS)


def by_module(report: Report, depth: int = 1) -> pd.DataFrame:
    """:meth:`Report.by_module` as a DataFrame: one row per module down to ``depth`` levels
    of the module path (``""`` is the whole model), parents before children, with the
    module's class where the source names it; exact integers.

    >>> by_module(report, 1).head(3)
      module module_class  depth  layers    params        macs       flops
    0              ResNet      0      69  11689512  1814073344  3635321856
    1  conv1       Conv2d      1       1      9408   118013952   235225088
    2    bn1  BatchNorm2d      1       1       128           0     1605632
    """
    rows = report.by_module(depth)
    data: dict[str, list[Any]] = {"module": [r.module for r in rows],
            "module_class": [report.modules.get(r.module, "") for r in rows],
            "depth": [r.depth for r in rows], "layers": [r.layers for r in rows],
            "params": [r.params for r in rows], "macs": [r.macs for r in rows],
            "flops": [r.flops for r in rows]}
    return _frame(data, MODULE_COLUMNS)


def by_op_type(report: Report) -> pd.DataFrame:
    """:meth:`Report.by_op_type` as a DataFrame: one row per op type, heaviest FLOPs first,
    with how many of its layers were not costed.

    >>> by_op_type(report)[["op", "count", "macs"]].head(2)
                       op  count        macs
    0                Conv     20  1813561344
    1  BatchNormalization     20           0
    """
    rows = report.by_op_type()
    data: dict[str, list[Any]] = {"op": [r.op for r in rows], "count": [r.count for r in rows],
            "params": [r.params for r in rows], "macs": [r.macs for r in rows],
            "flops": [r.flops for r in rows], "uncosted": [r.unsupported for r in rows]}
    return _frame(data, OP_COLUMNS)


def _frame(data: dict[str, list[Any]], columns: dict[str, str]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({name: pd.Series(data[name], dtype=dtype) for name, dtype in columns.items()})
