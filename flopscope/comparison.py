"""Several models or variants side by side, with ratios against the first.

>>> import flopscope
>>> from torch import nn
>>> c = flopscope.compare({"conv": nn.Conv2d(64, 128, 3, padding=1),
...                        "separable": nn.Sequential(nn.Conv2d(64, 64, 3, padding=1, groups=64),
...                                                   nn.Conv2d(64, 128, 1))},
...                       inputs=(1, 64, 56, 56))
>>> c.to_dataframe()[["macs", "macs_ratio"]]
                macs  macs_ratio
model
conv       231211008    1.000000
separable   27496448    0.118924
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from html import escape
from typing import TYPE_CHECKING, Any

from flopscope.metrics import BYTES, MS
from flopscope.metrics import METRICS as GATE_METRICS
from flopscope.report import Report, Totals
from flopscope.units import binary_bytes, si

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

#: the metrics a comparison shows unless told otherwise (``p50_ms`` is added when every
#: report has a latency)
DEFAULT_METRICS = ("macs", "flops", "params", "param_bytes", "peak_activation_bytes", "traffic_bytes")
_TOTALS = tuple(f.name for f in fields(Totals))
_LATENCY = ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "min_ms", "throughput_per_s", "gflops_per_s")
#: every metric a comparison can show: the Totals fields, ``layers`` (count), ``coverage``
#: (percent of nodes costed) and the latency figures
METRICS = _TOTALS + ("layers", "coverage") + _LATENCY
_FLOAT_METRICS = frozenset(("coverage",) + _LATENCY)
#: column headers: the gate's metrics' own (:mod:`flopscope.metrics`), and the other figures'
_LABELS = {**{key: m.header for key, m in GATE_METRICS.items()},
           "throughput_per_s": "throughput /s", "gflops_per_s": "GFLOP/s", "p50_ms": "p50",
           "p99_ms": "p99", "mean_ms": "mean", "min_ms": "min"}
#: units (how a value is formatted): the gate's metrics' own, the other figures'; counts by default
_UNITS = {**{key: m.unit for key, m in GATE_METRICS.items()}, "buffer_bytes": BYTES,
          **dict.fromkeys(("p50_ms", "p99_ms", "mean_ms", "min_ms"), MS)}


@dataclass(repr=False)
class Comparison:
    """Reports side by side: one row per model, one column per metric, and each metric's
    ratio against the first model (``macs_ratio`` ...).

    Index it by name or position for a model's :class:`Report`; ``str()`` is a text
    table, and a notebook shows it as an HTML table.

    >>> c = flopscope.compare([r18, r50])
    >>> c["resnet50"].totals.macs
    4089184256
    >>> round(c.ratio("resnet50", "macs"), 2)
    2.25
    """

    reports: list[Report]
    names: list[str]
    metrics: tuple[str, ...] = DEFAULT_METRICS

    def __post_init__(self) -> None:
        if len(self.names) != len(self.reports):
            raise ValueError(f"{len(self.names)} names for {len(self.reports)} reports")
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown:
            raise ValueError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(METRICS)}")

    def __repr__(self) -> str:
        return f"Comparison(names={self.names!r}, metrics={self.metrics!r})"

    def __len__(self) -> int:
        return len(self.reports)

    def __iter__(self) -> Iterator[tuple[str, Report]]:
        return iter(zip(self.names, self.reports))

    def __getitem__(self, key: str | int) -> Report:
        return self.reports[self._index(key)]

    def value(self, model: str | int, metric: str) -> int | float | None:
        """``metric`` of one model (None where it has none, e.g. no latency).

        >>> c.value("resnet18", "params")
        11689512
        """
        return _metric(self.reports[self._index(model)], metric)

    def ratio(self, model: str | int, metric: str) -> float | None:
        """``metric`` of ``model`` divided by that of the first model (None when either
        is missing or the first is zero).

        >>> c.ratio(1, "flops")
        2.2573...
        """
        base, value = self.value(0, metric), self.value(model, metric)
        if base is None or value is None or base == 0:
            return None
        return value / base

    def rows(self) -> list[dict[str, Any]]:
        """Plain rows: ``{"model": name, metric: value, metric + "_ratio": ratio, ...}``.

        >>> c.rows()[1]["macs_ratio"]
        2.254...
        """
        out = []
        for i, name in enumerate(self.names):
            row: dict[str, Any] = {"model": name}
            for m in self.metrics:
                row[m] = self.value(i, m)
                row[f"{m}_ratio"] = self.ratio(i, m)
            out.append(row)
        return out

    def to_dataframe(self) -> pd.DataFrame:
        """One row per model (indexed by name), each metric followed by its ratio against
        the first model. Counts are nullable ``Int64``, ratios, latency and coverage
        ``float64`` (NaN where undefined).

        >>> c.to_dataframe().columns[:2].tolist()
        ['macs', 'macs_ratio']
        """
        import pandas as pd

        rows = self.rows()
        data: dict[str, pd.Series] = {}
        for m in self.metrics:
            dtype = "float64" if m in _FLOAT_METRICS else "Int64"
            data[m] = pd.Series([r[m] for r in rows], dtype=dtype)
            data[f"{m}_ratio"] = pd.Series([_nan(r[f"{m}_ratio"]) for r in rows], dtype="float64")
        frame = pd.DataFrame(data)
        frame.index = pd.Index(self.names, name="model", dtype="str")
        return frame

    def table(self) -> tuple[list[str], list[list[str]]]:
        """Headers and formatted cells: each value with its ratio against the first model.

        >>> headers, rows = c.table()
        >>> rows[1][1]
        '4.09 G (2.25x)'
        """
        headers = ["model"] + [_LABELS.get(m, m) for m in self.metrics]
        rows = []
        for i, name in enumerate(self.names):
            cells = [name]
            for m in self.metrics:
                text = _format(m, self.value(i, m))
                r = self.ratio(i, m)
                if i and r is not None:
                    text += f" ({r:.3g}x)"
                cells.append(text)
            rows.append(cells)
        return headers, rows

    def plot(self, kind: str = "cumulative", path: str | os.PathLike | None = None, **options: Any) -> Figure:
        """The models in one chart: ``"cumulative"`` (FLOPs and parameters by depth),
        ``"latency"`` (latency against FLOPs) or ``"metrics"`` (one metric against another,
        ``x=`` and ``y=``, one point per model); see :mod:`flopscope.plot`.

        >>> fig = c.plot("cumulative", path="compare.png")
        >>> fig = c.plot("metrics", x="macs", y="params")
        """
        from flopscope.plot import metrics_chart, plot

        if kind == "metrics":
            return metrics_chart(self, path=path, **options)
        if kind not in ("cumulative", "latency"):
            raise ValueError(f"a comparison draws 'cumulative', 'latency' or 'metrics' charts, not '{kind}'")
        return plot(self.reports, kind, path, names=self.names, **options)

    def __str__(self) -> str:
        from flopscope.render.text import table

        headers, rows = self.table()
        text = table(headers, rows, ("left",) + ("right",) * len(self.metrics))
        return text + (f"\nratios against {self.names[0]}" if len(self.names) > 1 else "")

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(f"Comparison of {len(self)} models" if cycle else str(self))

    def _repr_html_(self) -> str:
        from flopscope.render.html import fragment, table

        headers, rows = self.table()
        note = f"<p>ratios against {escape(self.names[0])}</p>" if len(self.names) > 1 else ""
        return fragment(table(headers, rows, ("left",) + ("right",) * len(self.metrics)), note)

    def _index(self, key: str | int) -> int:
        if isinstance(key, int):
            if not -len(self.reports) <= key < len(self.reports):
                raise IndexError(f"model {key} out of range ({len(self.reports)} models)")
            return key % len(self.reports)
        try:
            return self.names.index(key)
        except ValueError:
            raise KeyError(f"no model named {key!r}; the models are {', '.join(self.names)}") from None


def compare(items: Sequence[Any] | Mapping[str, Any], names: Sequence[str] | None = None,
            inputs: Any = None, metrics: Sequence[str] | None = None, **analyze_options: Any) -> Comparison:
    """Compare models or variants side by side.

    ``items`` is a list of Reports or of anything :func:`flopscope.analyze` takes (an
    ``.onnx`` path, an ``nn.Module``, a reference name such as ``"resnet50"``...), or a
    dict from name to such an item. Items that are not Reports are analysed with
    ``inputs`` (the same input shape for all of them; analyse models that need different
    inputs first and pass their Reports) and ``analyze_options`` (``convention``,
    ``dims``...). ``names`` label the rows (default: the dict's keys, else each model's
    name, numbered where two are alike). ``metrics`` are chosen from :data:`METRICS`
    (default :data:`DEFAULT_METRICS`, plus ``p50_ms`` when every report has a latency).

    >>> import flopscope
    >>> from torch import nn
    >>> c = flopscope.compare([nn.Conv2d(64, 64, 3), nn.Conv2d(64, 64, 3, groups=8)],
    ...                       names=["dense", "groups=8"], inputs=(1, 64, 32, 32))
    >>> c.ratio("groups=8", "macs")
    0.125
    >>> print(flopscope.compare(c.reports, names=c.names, metrics=["macs", "params"]))
    model                MACs           params
    --------  ---------------  ---------------
    dense              33.2 M           36.9 k
    groups=8  4.15 M (0.125x)  4.67 k (0.127x)
    ratios against dense
    """
    from flopscope.analysis import analyze

    if isinstance(items, Mapping):
        if names is not None:
            raise ValueError("give names either as the dict's keys or as names=, not both")
        names, items = [str(k) for k in items], list(items.values())
    items = list(items)
    if not items:
        raise ValueError("nothing to compare: no models given")
    if names is not None and len(names) != len(items):
        raise ValueError(f"{len(names)} names for {len(items)} models")
    reports = [item if isinstance(item, Report) else analyze(item, inputs, **analyze_options)
               for item in items]
    if metrics is None:
        metrics = DEFAULT_METRICS + (("p50_ms",) if all(r.latency is not None for r in reports) else ())
    labels = list(names) if names is not None else _unique([r.model.name for r in reports])
    return Comparison(reports, labels, tuple(metrics))


# --------------------------------------------------------------------------- helpers


def _metric(report: Report, metric: str) -> int | float | None:
    if metric in _TOTALS:
        return getattr(report.totals, metric)
    if metric == "layers":
        return len(report.layers)
    if metric == "coverage":
        return report.coverage.percent
    if metric in _LATENCY:
        return None if report.latency is None else getattr(report.latency, metric)
    raise ValueError(f"unknown metric '{metric}'; choose from {', '.join(METRICS)}")


def _format(metric: str, value: int | float | None) -> str:
    if value is None:
        return "-"
    unit = _UNITS.get(metric)
    if unit == BYTES:
        return binary_bytes(int(value))
    if unit == MS:
        return f"{value:.3f} ms"
    if metric == "coverage":
        return f"{value:.1f}%"
    if metric == "gflops_per_s":
        return f"{value:.1f}"
    return si(value)


def _nan(value: float | None) -> float:
    return float("nan") if value is None else value


def _unique(names: list[str]) -> list[str]:
    """Number repeated names: ``["Sequential", "Sequential"]`` -> ``[..., "Sequential (2)"]``."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out

