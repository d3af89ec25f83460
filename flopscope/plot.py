"""Pictures of a Report: per-layer bars, cumulative FLOPs, latency against FLOPs, roofline.

matplotlib is imported when a chart is drawn, not with this module. Each function returns
a plain matplotlib ``Figure`` that belongs to the caller: pyplot never sees it, so no
global state (backend, rcParams, pyplot's figure registry) is touched, a notebook shows it
once, as the cell's value, and it works on a headless machine or in CI. ``path`` also
saves it, as PNG or SVG (or PDF) by the file's suffix.

>>> import flopscope
>>> from flopscope.plot import plot
>>> r = flopscope.analyze("model.onnx")
>>> fig = plot(r, "layers", path="model-layers.png")
>>> fig = flopscope.plot.plot([r18, r50], "cumulative")
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from flopscope.errors import FlopscopeError
from flopscope.report import Report

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from flopscope.comparison import Comparison

KINDS = ("layers", "cumulative", "latency", "roofline")
#: file suffixes ``path`` may have
FORMATS = (".png", ".svg", ".pdf")
#: layers drawn by the layers chart (the heaviest), before its "others" bar
TOP_BARS = 25
#: layer names are cut to this many characters on the axes
MAX_LABEL = 28


def plot(target: Report | Sequence[Report], kind: str = "layers", path: str | os.PathLike | None = None,
         **options: Any) -> Figure:
    """Draw ``kind`` (one of :data:`KINDS`) for a report or a list of reports.

    ``"layers"`` and ``"roofline"`` take one report; ``"cumulative"`` and ``"latency"``
    one or several (``names=`` labels them). ``options`` go to the chart function:
    :func:`layers_chart`, :func:`cumulative_chart`, :func:`latency_chart`,
    :func:`roofline_chart`.

    >>> fig = plot(report, "cumulative", path="cumulative.svg")
    """
    if kind not in KINDS:
        raise ValueError(f"unknown plot kind '{kind}'; choose one of {', '.join(KINDS)}")
    if path is not None:
        _suffix(path)                                  # before drawing, not after
    reports = [target] if isinstance(target, Report) else list(target)
    if not reports:
        raise ValueError("nothing to plot: no reports given")
    if kind in ("layers", "roofline"):
        if len(reports) != 1:
            raise ValueError(f"the {kind} chart draws one report, not {len(reports)}")
        single = layers_chart if kind == "layers" else roofline_chart
        return single(reports[0], path=path, **options)
    several = cumulative_chart if kind == "cumulative" else latency_chart
    return several(reports, path=path, **options)


def layers_chart(report: Report, *, max_layers: int = TOP_BARS,
                 path: str | os.PathLike | None = None) -> Figure:
    """The ``max_layers`` heaviest layers by FLOPs, heaviest at the top, and one "others"
    bar for the rest: FLOPs, parameters and output (activation) bytes side by side. Layers
    that could not be costed count as zero FLOPs, and the title counts them. The figure
    grows with the number of bars, so the layer names never overlap.

    >>> fig = layers_chart(report, max_layers=15, path="layers.png")
    """
    if max_layers < 1:
        raise ValueError(f"max_layers must be >= 1, not {max_layers}")
    heaviest = report.top(max_layers)
    chosen = {id(l) for l in heaviest}
    rest = [l for l in report.layers if id(l) not in chosen]
    names = [_label(l.name) for l in heaviest]
    panels = [("FLOPs", [l.flops or 0 for l in heaviest], sum(l.flops or 0 for l in rest), "tab:blue"),
              ("parameters", [l.params for l in heaviest], sum(l.params for l in rest), "tab:green"),
              ("output bytes", [l.output_bytes or 0 for l in heaviest],
               sum(l.output_bytes or 0 for l in rest), "tab:orange")]
    if rest:
        names.append(f"others ({len(rest):,} layers)")
    fig = _figure(figsize=(12.0, 1.6 + 0.24 * max(len(names), 4)))
    axes = fig.subplots(1, 3, sharey=True)
    y = list(range(len(names)))
    for ax, (label, values, others, color) in zip(axes, panels):
        bars = values + ([others] if rest else [])
        colors = [color] * len(values) + (["tab:gray"] if rest else [])
        ax.barh(y, bars, color=colors, height=0.75)
        ax.set_xlabel(label)
        ax.xaxis.set_major_formatter(_eng())
        ax.xaxis.set_major_locator(_ticks(4))
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y)
    axes[0].set_yticklabels(names, fontsize=8)
    axes[0].invert_yaxis()                               # heaviest at the top
    uncosted = sum(l.flops is None for l in report.layers)
    shown = (f"top {len(heaviest)} of {len(report.layers):,} layers" if rest
             else f"{len(heaviest):,} layers")
    fig.suptitle(f"{_label(report.model.name, 60)}: {shown} by FLOPs"
                 + (f" ({uncosted} not costed)" if uncosted else ""), fontsize=11)
    fig.tight_layout()
    return _finish(fig, path)


def cumulative_chart(reports: Report | Sequence[Report], *, names: Sequence[str] | None = None,
                     path: str | os.PathLike | None = None) -> Figure:
    """Cumulative FLOPs and parameters against depth (layer index in execution order),
    one line per report: where in the network the work and the weights are.

    >>> fig = cumulative_chart([r18, r50], names=["ResNet-18", "ResNet-50"])
    """
    reports = [reports] if isinstance(reports, Report) else list(reports)
    labels = _names(reports, names)
    fig = _figure(figsize=(8.0, 6.0))
    top, bottom = fig.subplots(2, 1, sharex=True)
    for report, label in zip(reports, labels):
        flops = _running([l.flops or 0 for l in report.layers])
        params = _running([l.params for l in report.layers])
        depth = list(range(1, len(report.layers) + 1))
        top.step(depth, flops, where="post", label=label)
        bottom.step(depth, params, where="post", label=label)
    top.set_ylabel("cumulative FLOPs")
    bottom.set_ylabel("cumulative parameters")
    bottom.set_xlabel("depth (layers in execution order)")
    for ax in (top, bottom):
        ax.yaxis.set_major_formatter(_eng())
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
    top.legend(loc="upper left")
    top.set_title("cumulative FLOPs and parameters by depth")
    fig.tight_layout()
    return _finish(fig, path)


def latency_chart(reports: Report | Sequence[Report], *, names: Sequence[str] | None = None,
                  path: str | os.PathLike | None = None) -> Figure:
    """Measured latency against FLOPs.

    For several reports (each with a ``latency``, e.g. from ``flopscope.bench``): one
    point per model at (FLOPs, p50), with a bar up to p90. For one report whose latency
    has a per-layer profile: one point per timed layer at (FLOPs its time covers, mean
    ms). Reports without latency are left out; none with latency is an error.

    >>> r = flopscope.analyze("model.onnx")
    >>> lat = flopscope.bench("model.onnx", per_layer=True, report=r, iterations=20)
    >>> fig = latency_chart(r)
    """
    reports = [reports] if isinstance(reports, Report) else list(reports)
    labels = _names(reports, names)
    timed = [(r, r.latency, n) for r, n in zip(reports, labels) if r.latency is not None]
    if not timed:
        raise FlopscopeError("no latency to plot: measure one first with "
                             "flopscope.bench(model, report=report), which attaches it to the report")
    fig = _figure(figsize=(7.5, 5.0))
    ax = fig.subplots()
    per_layer = _layer_times(timed[0][0]) if len(timed) == 1 else []
    if per_layer:
        _, lat, label = timed[0]
        xs, ys, ops = zip(*per_layer)
        for op in sorted(set(ops)):
            chosen = [(x, y) for x, y, o in per_layer if o == op]
            ax.scatter([c[0] for c in chosen], [c[1] for c in chosen], label=op, alpha=0.8, s=18)
        ax.set_xscale("symlog", linthresh=max(1.0, min((x for x in xs if x > 0), default=1.0)))
        ax.set_xlabel("FLOPs of the layer (with the layers fused into it)")
        ax.set_ylabel("mean time per run (ms)")
        ax.set_title(f"{label}: per-layer time against FLOPs ({lat.preset})")
        ax.legend(fontsize=7, ncol=2)
    else:
        for report, lat, label in timed:
            flops = lat.flops if lat.flops is not None else report.totals.flops
            ax.errorbar([flops], [lat.p50_ms], yerr=[[0.0], [max(lat.p90_ms - lat.p50_ms, 0.0)]],
                        fmt="o", capsize=3)
            ax.annotate(label, (flops, lat.p50_ms), textcoords="offset points", xytext=(5, 5), fontsize=8)
        ax.set_xlabel("FLOPs per run")
        ax.set_ylabel("latency p50 (ms), bar to p90")
        presets = sorted({lat.preset for _, lat, _ in timed})
        ax.set_title(f"latency against FLOPs ({', '.join(presets)})")
        ax.margins(x=0.15, y=0.1)                      # room for the labels
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
    ax.xaxis.set_major_formatter(_eng())
    ax.grid(alpha=0.3)
    fig.tight_layout()
    spread_labels(fig, ax)
    return _finish(fig, path)


def roofline_chart(report: Report, *, peak_gflops: float | None = None, bandwidth_gbs: float | None = None,
                   path: str | os.PathLike | None = None) -> Figure:
    """Each layer on the roofline: arithmetic intensity (FLOPs per byte of traffic) on x,
    GFLOP/s on y, under the roof ``min(peak, intensity × bandwidth)``.

    The peaks are ``peak_gflops`` and ``bandwidth_gbs`` when given, else those of the
    report's latency (``bench(..., roofline=True)``), else this host's ``cpu`` preset
    profile from ``flopscope.latency.peaks`` (measured by ONNX Runtime once, some ten
    seconds, then cached; the compute peak of the model's dtype, see
    ``flopscope.latency.roofline.compute_roof``). Layers are drawn at their
    measured GFLOP/s when the latency has per-layer times, otherwise at their attainable
    GFLOP/s (on the roof); the whole model at its measured GFLOP/s when it has a latency.

    >>> fig = roofline_chart(report, peak_gflops=200, bandwidth_gbs=20)
    """
    peak, bandwidth, measured = _peaks(report, peak_gflops, bandwidth_gbs)
    points = [(l.flops / l.traffic_bytes, l.flops, l.name) for l in report.layers
              if l.flops and l.traffic_bytes]
    if not points:
        raise FlopscopeError(f"no layer of {report.model.name} has both FLOPs and memory traffic: "
                             "nothing to place on a roofline")
    ridge = peak / bandwidth
    fig = _figure(figsize=(7.5, 5.0))
    ax = fig.subplots()
    lo = min(min(p[0] for p in points), ridge) / 4
    hi = max(max(p[0] for p in points), ridge) * 4
    xs = [lo * (hi / lo) ** (k / 200) for k in range(201)]
    ax.plot(xs, [min(peak, x * bandwidth) for x in xs], color="black", linewidth=1.5,
            label=f"roof: {peak:.0f} GFLOP/s, {bandwidth:.1f} GB/s")
    ax.axvline(ridge, color="grey", linestyle=":", linewidth=1)
    total = sum(p[1] for p in points)
    sizes = [8 + 200 * p[1] / total for p in points]
    if measured:
        got = [(p[0], measured[p[2]], s) for p, s in zip(points, sizes) if p[2] in measured]
        ax.scatter([g[0] for g in got], [g[1] for g in got], s=[g[2] for g in got], alpha=0.6,
                   label="layers, measured")
    else:
        ax.scatter([p[0] for p in points], [min(peak, p[0] * bandwidth) for p in points], s=sizes,
                   alpha=0.6, label="layers, attainable (not measured)")
    t = report.totals
    if report.latency is not None and t.traffic_bytes and report.latency.p50_ms:
        flops = report.latency.flops if report.latency.flops is not None else t.flops
        ax.scatter([flops / t.traffic_bytes], [flops / (report.latency.p50_ms / 1e3) / 1e9], marker="*",
                   s=180, color="tab:red", label="whole model, measured p50")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOPs / byte)")
    ax.set_ylabel("GFLOP/s")
    ax.set_title(f"{report.model.name} on the roofline (ridge at {ridge:.1f} FLOPs/byte)")
    ax.grid(which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return _finish(fig, path)


def metrics_chart(series: Comparison | Mapping[str, Comparison], x: str, y: str, *,
                  labels: tuple[str, str] | None = None, title: str | None = None, log: bool = True,
                  path: str | os.PathLike | None = None) -> Figure:
    """One point per model at (``x``, ``y``), two metrics of a comparison (``"macs"``,
    ``"params"``, ``"p50_ms"``... see :data:`flopscope.comparison.METRICS`), each point
    named (names moved apart where they would overlap). A mapping of comparisons draws one
    marked series per key (the zoo draws one per latency preset). Models without a value
    for either metric are left out. ``log`` puts an axis on a log scale when its values
    span at least a decade.

    >>> c = flopscope.compare([r18, r50])
    >>> fig = metrics_chart(c, "macs", "params", labels=("MACs", "parameters"))
    """
    groups = dict(series) if isinstance(series, Mapping) else {"": series}
    xlabel, ylabel = labels or (x, y)
    fig = _figure(figsize=(7.0, 5.0))
    ax = fig.subplots()
    for (group, comparison), marker in zip(groups.items(), itertools.cycle("os^Dv")):
        points = _known_points(comparison, x, y)
        ax.scatter([p[0] for p in points], [p[1] for p in points], marker=marker, label=group or None)
        for px, py, name in points:
            ax.annotate(name, (px, py), fontsize=7, xytext=(3, 3), textcoords="offset points")
    if log:                                            # per axis, when its values span a decade
        from matplotlib.ticker import NullFormatter

        for axis, values in ((ax.xaxis, ax.dataLim.intervalx), (ax.yaxis, ax.dataLim.intervaly)):
            low, high = sorted(values)
            if low > 0 and high / low >= 10:
                (ax.set_xscale if axis is ax.xaxis else ax.set_yscale)("log")
                axis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_major_formatter(_eng())
    ax.yaxis.set_major_formatter(_eng())
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title or f"{ylabel} against {xlabel}")
    ax.grid(True, which="both", alpha=0.3)
    if any(groups):
        ax.legend()
    fig.tight_layout()
    spread_labels(fig, ax)
    return _finish(fig, path)


def prediction_chart(series: Mapping[str, Sequence[tuple[str, float, float]]], *, title: str | None = None,
                     path: str | os.PathLike | None = None) -> Figure:
    """Predicted against measured latency: one marked series per key (a preset), each point
    ``(name, measured ms, predicted ms)`` named, on log axes with the line of a perfect
    prediction and a ±25% band.

    >>> fig = prediction_chart({"cpu": [("resnet18", 19.2, 17.5), ("vgg16", 160.0, 171.0)]})  # doctest: +SKIP
    """
    fig = _figure(figsize=(7.0, 5.0))
    ax = fig.subplots()
    values = [v for points in series.values() for _, m, p in points for v in (m, p) if v > 0]
    for (group, points), marker in zip(series.items(), itertools.cycle("os^Dv")):
        ax.scatter([m for _, m, _ in points], [p for _, _, p in points], marker=marker, label=group or None)
        for name, m, p in points:
            ax.annotate(name, (m, p), fontsize=7, xytext=(3, 3), textcoords="offset points")
    if values:
        lo, hi = min(values) / 1.5, max(values) * 1.5
        ax.plot([lo, hi], [lo, hi], color="grey", linewidth=1, label="predicted = measured")
        for k in (0.75, 1.25):
            ax.plot([lo, hi], [k * lo, k * hi], color="grey", linewidth=0.6, linestyle="--")
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set(xlabel="measured p50 (ms)", ylabel="predicted (ms)",
           title=title or "Predicted against measured latency (dashed: ±25%)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return _finish(fig, path)


def save(fig: Figure, path: str | os.PathLike) -> None:
    """Save ``fig`` as PNG, SVG or PDF, chosen by the suffix of ``path``.

    >>> save(plot(report, "layers"), "layers.svg")
    """
    fig.savefig(path, format=_suffix(path)[1:], dpi=120, bbox_inches="tight")


# --------------------------------------------------------------------------- helpers


def _figure(figsize: tuple[float, float]) -> Figure:
    """A new figure that belongs to the caller alone: a plain ``matplotlib.figure.Figure``,
    never registered with pyplot, so no global figure state, backend or window is touched
    (a notebook shows it once, as the cell's value)."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def _suffix(path: str | os.PathLike) -> str:
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in FORMATS:
        raise ValueError(f"cannot tell the image format of '{os.fspath(path)}': "
                         f"give a path ending in {', '.join(FORMATS)}")
    return suffix


def _finish(fig: Figure, path: str | os.PathLike | None) -> Figure:
    if path is not None:
        save(fig, path)
    return fig


def _eng() -> Any:
    from matplotlib.ticker import EngFormatter

    return EngFormatter(sep="")


def _label(name: str, limit: int = MAX_LABEL) -> str:
    return name if len(name) <= limit else name[:limit - 1] + "…"


def _ticks(n: int) -> Any:
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(n)


def to_svg(fig: Figure) -> str:
    """The figure as an SVG document's ``<svg>`` element (no XML prolog), to inline in HTML.

    >>> to_svg(plot(report, "layers"))[:4]
    '<svg'
    """
    import io

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg"):]


def spread_labels(fig: Figure, ax: Any, gap_px: float = 1.0, rounds: int = 200) -> None:
    """Move the annotations of ``ax`` up, one by one, until no two overlap (each keeps its
    point; only its text offset changes). Needs the figure laid out: call it last.

    >>> fig = metrics_chart(c, "macs", "params")
    >>> fig.tight_layout(); spread_labels(fig, fig.axes[0])
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not ax.texts:
        return
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    renderer = canvas.get_renderer()
    scale = 72.0 / fig.dpi                                # display pixels -> points
    placed: list[Any] = []
    labels = sorted(ax.texts, key=lambda t: t.get_window_extent(renderer).y0)
    for text in labels:
        for _ in range(rounds):
            box = text.get_window_extent(renderer)
            hit = next((p for p in placed if box.overlaps(p)), None)
            if hit is None:
                break
            dx, dy = text.xyann
            text.xyann = (dx, dy + (hit.y1 - box.y0 + gap_px) * scale)
        placed.append(text.get_window_extent(renderer))


def _running(values: list[int]) -> list[int]:
    out, total = [], 0
    for v in values:
        total += v
        out.append(total)
    return out


def _names(reports: list[Report], names: Sequence[str] | None) -> list[str]:
    if names is None:
        return [r.model.name for r in reports]
    if len(names) != len(reports):
        raise ValueError(f"{len(names)} names for {len(reports)} reports")
    return list(names)


def _known_points(comparison: Comparison, x: str, y: str) -> list[tuple[float, float, str]]:
    """(``x``, ``y``, name) of each model of ``comparison`` that has both metrics."""
    points = []
    for i, name in enumerate(comparison.names):
        px, py = comparison.value(i, x), comparison.value(i, y)
        if px is not None and py is not None:
            points.append((px, py, name))
    return points


def _layer_times(report: Report) -> list[tuple[int, float, str]]:
    """(FLOPs, ms, op) of each timed layer of the report's per-layer profile."""
    profile = report.latency.per_layer if report.latency is not None else None
    rows = []
    for row in (profile or {}).get("layers", []):
        ms = row.get("time_ms")
        flops = row.get("group_flops") if row.get("group_flops") is not None else row.get("flops")
        if ms is not None and flops is not None:
            rows.append((flops, ms, row.get("op", "?")))
    return rows


def _peaks(report: Report, peak_gflops: float | None,
           bandwidth_gbs: float | None) -> tuple[float, float, dict[str, float]]:
    """(peak GFLOP/s, bandwidth GB/s, measured GFLOP/s by layer name)."""
    data = report.latency.roofline if report.latency is not None else None
    measured = {row["name"]: row["achieved_gflops_per_s"] for row in (data or {}).get("layers", [])
                if row.get("achieved_gflops_per_s")}
    if data:
        peak_gflops = peak_gflops or data.get("peak_gflops_per_s")
        bandwidth_gbs = bandwidth_gbs or data.get("bandwidth_gb_per_s")
    if not peak_gflops or not bandwidth_gbs:
        try:
            from flopscope.latency.peaks import host_profile
            from flopscope.latency.roofline import compute_roof

            host = host_profile("cpu")
        except ImportError as exc:
            raise FlopscopeError("the roofline chart needs peak_gflops= and bandwidth_gbs=, or "
                                 f"flopscope.latency.peaks to measure them ({exc})") from None
        peak_gflops = peak_gflops or compute_roof(report, host)[1]
        bandwidth_gbs = bandwidth_gbs or host.bandwidth_gb_per_s
    if peak_gflops <= 0 or bandwidth_gbs <= 0:
        raise ValueError(f"peaks must be positive (got {peak_gflops} GFLOP/s, {bandwidth_gbs} GB/s)")
    return float(peak_gflops), float(bandwidth_gbs), measured
