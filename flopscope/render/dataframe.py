"""A Report as a pandas DataFrame: one row per layer, exact integers.

pandas is imported when a frame is built, not with this module.

>>> df = to_dataframe(report)                              # doctest: +SKIP
>>> df.sort_values("flops", ascending=False).head(3)       # doctest: +SKIP
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
}


def to_dataframe(report: Report) -> pd.DataFrame:
    """One row per layer of ``report``, in execution order.

    Columns are :data:`COLUMNS`: ``macs``, ``flops``, ``output_bytes`` and
    ``traffic_bytes`` are nullable ``Int64`` (``<NA>`` where a layer could not be costed);
    ``params`` and ``repeat`` are ``int64``; ``output_shapes`` is text such as
    ``"1x64x56x56"`` (outputs joined by ``", "``).

    >>> import flopscope
    >>> from torch import nn
    >>> r = flopscope.analyze(nn.Conv2d(3, 8, 3), (1, 3, 32, 32))   # doctest: +SKIP
    >>> to_dataframe(r)[["op", "output_shapes", "macs"]]             # doctest: +SKIP
         op output_shapes   macs
    0  Conv     1x8x30x30  194400
    """
    import pandas as pd

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
    }
    return pd.DataFrame({name: pd.Series(data[name], dtype=dtype) for name, dtype in COLUMNS.items()})
