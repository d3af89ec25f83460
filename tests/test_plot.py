"""Charts of a Report, saved as PNG and SVG (flopscope/plot.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flopscope.comparison import compare
from flopscope.errors import FlopscopeError
from flopscope.plot import TOP_BARS, metrics_chart, plot, to_svg
from tests.fake_reports import latency, synthetic

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def is_png(path) -> bool:
    data = path.read_bytes()
    return data.startswith(PNG_SIGNATURE) and len(data) > 5_000 and b"IEND" in data[-16:]


def is_svg(path) -> bool:
    text = path.read_text(encoding="utf-8")
    return "<svg" in text[:2_000] and text.rstrip().endswith("</svg>") and len(text) > 5_000


def test_layers_chart_saved_as_png(tmp_path):
    from matplotlib.figure import Figure

    fig = plot(synthetic(12), "layers", path=tmp_path / "layers.png")
    assert isinstance(fig, Figure)
    assert is_png(tmp_path / "layers.png")
    assert [ax.get_xlabel() for ax in fig.axes] == ["FLOPs", "parameters", "output bytes"]
    assert "2 not costed" in fig._suptitle.get_text()
    assert len(fig.axes[0].patches) == 12                         # every layer, no "others"


def test_layers_chart_saved_as_svg(tmp_path):
    plot(synthetic(12), "layers", path=str(tmp_path / "layers.svg"))
    assert is_svg(tmp_path / "layers.svg")


def test_a_big_model_shows_its_heaviest_layers_and_the_others():
    report = synthetic(5000)
    fig = plot(report, "layers")
    assert f"top {TOP_BARS} of 5,000 layers" in fig._suptitle.get_text()
    flops = fig.axes[0]
    assert len(flops.patches) == TOP_BARS + 1
    labels = [t.get_text() for t in flops.get_yticklabels()]
    heaviest = report.top(TOP_BARS)
    assert labels[:-1] == [l.name for l in heaviest]
    assert labels[-1] == f"others ({5000 - TOP_BARS:,} layers)"
    widths = [p.get_width() for p in flops.patches]
    assert widths[:-1] == [l.flops for l in heaviest]
    assert widths[-1] == report.totals.flops - sum(l.flops for l in heaviest)     # the rest, summed
    params = [p.get_width() for p in fig.axes[1].patches]
    assert sum(params) == report.totals.params


def _overlaps(fig):
    """Pairs of texts that the renderer drew on ``fig`` and whose boxes overlap (each box
    from ``text.get_window_extent(renderer)``; only what was drawn counts, so tick labels
    outside the view, which matplotlib skips, are not compared)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    drawn = []
    draw_text = renderer.draw_text

    def record(gc, x, y, s, prop, angle, ismath=False, mtext=None):
        if mtext is not None and s.strip():
            drawn.append(mtext)
        return draw_text(gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)

    renderer.draw_text = record
    fig.draw(renderer)
    assert drawn, "nothing drawn"
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in drawn]
    return [(a, b) for i, (a, box_a) in enumerate(boxes) for b, box_b in boxes[i + 1:]
            if box_a.overlaps(box_b)]


@pytest.mark.parametrize("n", [4, 30, 5000])
def test_layers_chart_labels_do_not_overlap(n):
    report = synthetic(n)
    report.layers[-1].name = "a_very_long_layer_name_" * 5
    report.layers[-1].flops = 10**9
    assert _overlaps(plot(report, "layers")) == []


def test_point_labels_do_not_overlap():
    """Models with nearly the same FLOPs and latency: their names are moved apart."""
    reports = [synthetic(10 + (i % 2), f"model-{i}") for i in range(6)]
    for i, r in enumerate(reports):
        r.latency = latency(1.0 + 0.001 * i)
    fig = plot(reports, "latency")
    assert len(fig.axes[0].texts) == 6
    assert _overlaps(fig) == []
    fig = metrics_chart(compare(reports), "flops", "p50_ms")
    assert _overlaps(fig) == []


def test_other_charts_labels_do_not_overlap():
    a, b = synthetic(30, "a"), synthetic(300, "b")
    b.latency = latency(2.0)
    assert _overlaps(plot([a, b], "cumulative")) == []
    assert _overlaps(plot(b, "roofline", peak_gflops=100.0, bandwidth_gbs=10.0)) == []


def test_to_svg_is_an_svg_element():
    svg = to_svg(plot(synthetic(8), "cumulative"))
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>") and "<?xml" not in svg


def test_figures_are_not_left_open_in_pyplot():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    plot(synthetic(8), "cumulative")
    assert plt.get_fignums() == before


def test_charts_leave_matplotlib_global_state_alone(tmp_path):
    """No backend chosen, no rcParams set, pyplot never imported: every chart is a plain
    Figure owned by the caller (checked in a fresh interpreter, where nothing else has
    imported pyplot)."""
    code = f"""
import sys
from flopscope.comparison import compare
from flopscope.plot import plot
from tests.fake_reports import latency, synthetic
a, b = synthetic(10, "a"), synthetic(20, "b")
a.latency, b.latency = latency(1.0), latency(2.0)
plot(a, "layers", path={str(tmp_path / "l.png")!r})
plot([a, b], "cumulative", path={str(tmp_path / "c.svg")!r})
plot([a, b], "latency")
plot(a, "roofline", peak_gflops=10.0, bandwidth_gbs=1.0)
compare([a, b]).plot("metrics", x="macs", y="params", path={str(tmp_path / "m.png")!r})
from flopscope.plot import prediction_chart
prediction_chart({{"cpu": [("a", 1.0, 1.2)]}})
assert "matplotlib.pyplot" not in sys.modules, "pyplot was imported"
"""
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert is_png(tmp_path / "l.png") and is_svg(tmp_path / "c.svg") and is_png(tmp_path / "m.png")
    for module in ("plot", "zoo", "comparison"):
        source = (root / "flopscope" / f"{module}.py").read_text(encoding="utf-8")
        for call in ("import matplotlib.pyplot", "plt.", "matplotlib.use(", "rcParams["):
            assert call not in source, (module, call)


def test_metrics_chart_one_series_per_group(tmp_path):
    a, b, c = synthetic(10, "a"), synthetic(20, "b"), synthetic(30, "c")
    a.latency, b.latency = latency(1.0), latency(2.0)
    fig = metrics_chart({"cpu": compare([a, b]), "mobile": compare([c])}, "flops", "p50_ms",
                        labels=("FLOPs", "p50 (ms)"), path=tmp_path / "m.png")
    ax = fig.axes[0]
    assert is_png(tmp_path / "m.png")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["cpu", "mobile"]
    assert [t.get_text() for t in ax.texts] == ["a", "b"]                  # c has no latency: left out
    assert ax.get_xlabel() == "FLOPs" and ax.get_title() == "p50 (ms) against FLOPs"
    points = [tuple(p) for p in ax.collections[0].get_offsets()]
    assert points == [(a.totals.flops, 1.0), (b.totals.flops, 2.0)]


def test_prediction_chart_points_and_reference_lines(tmp_path):
    from flopscope.plot import prediction_chart

    fig = prediction_chart({"cpu": [("a", 10.0, 12.0), ("b", 40.0, 30.0)], "mobile": [("a", 30.0, 28.0)]},
                           path=tmp_path / "p.png")
    ax = fig.axes[0]
    assert is_png(tmp_path / "p.png")
    assert [tuple(p) for p in ax.collections[0].get_offsets()] == [(10.0, 12.0), (40.0, 30.0)]
    assert [t.get_text() for t in ax.texts] == ["a", "b", "a"]
    # perfect prediction and the ±25% band, from 10/1.5 to 40*1.5
    lines = [tuple(map(tuple, (line.get_xdata(), line.get_ydata()))) for line in ax.lines]
    assert lines[0] == ((10 / 1.5, 60.0), (10 / 1.5, 60.0))
    assert lines[2][1] == pytest.approx((1.25 * 10 / 1.5, 75.0))
    assert ax.get_xlabel() == "measured p50 (ms)" and ax.get_xscale() == "log"


def test_cumulative_chart_of_several_reports(tmp_path):
    a, b = synthetic(10, "a"), synthetic(30, "b")
    fig = plot([a, b], "cumulative", path=tmp_path / "cumulative.png", names=["small", "big"])
    assert is_png(tmp_path / "cumulative.png")
    top = fig.axes[0]
    assert [t.get_text() for t in top.get_legend().get_texts()] == ["small", "big"]
    assert max(top.lines[1].get_ydata()) == b.totals.flops


def test_latency_chart_of_several_models(tmp_path):
    fast, slow = synthetic(10, "fast"), synthetic(40, "slow")
    fast.latency, slow.latency = latency(1.0), latency(3.0)
    plot([fast, slow, synthetic(6, "unmeasured")], "latency", path=tmp_path / "latency.png")
    assert is_png(tmp_path / "latency.png")


def test_latency_chart_of_one_profiled_model(tmp_path):
    report = synthetic(10)
    report.latency = latency(per_layer={"layers": [
        {"name": l.name, "op": l.op, "flops": l.flops, "time_ms": 0.01 * (i + 1), "group_flops": None}
        for i, l in enumerate(report.layers)]})
    fig = plot(report, "latency", path=tmp_path / "layers.svg")
    assert is_svg(tmp_path / "layers.svg")
    assert "per-layer" in fig.axes[0].get_title()


def test_latency_chart_needs_a_latency_and_says_how():
    """Defect 10: the message names the public call, not an internal function."""
    with pytest.raises(FlopscopeError, match="no latency") as info:
        plot(synthetic(6), "latency")
    assert "flopscope.bench(model, report=report)" in str(info.value)
    assert "bench_report" not in str(info.value)


def test_roofline_with_explicit_peaks(tmp_path):
    report = synthetic(20)
    report.latency = latency(0.5)
    fig = plot(report, "roofline", path=tmp_path / "roofline.png", peak_gflops=100.0, bandwidth_gbs=10.0)
    assert is_png(tmp_path / "roofline.png")
    assert "ridge at 10.0 FLOPs/byte" in fig.axes[0].get_title()
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["roof: 100 GFLOP/s, 10.0 GB/s", "layers, attainable (not measured)",
                      "whole model, measured p50"]


def test_roofline_from_the_measured_peaks_and_layer_times(tmp_path):
    report = synthetic(8)
    report.latency = latency(0.5, roofline={
        "peak_gflops_per_s": 50.0, "bandwidth_gb_per_s": 5.0,
        "layers": [{"name": report.layers[0].name, "achieved_gflops_per_s": 3.0}]})
    fig = plot(report, "roofline")
    assert "ridge at 10.0" in fig.axes[0].get_title()
    assert "layers, measured" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_roofline_from_the_hosts_cached_cpu_profile(tmp_path, monkeypatch):
    from flopscope.latency.presets import PRESETS
    from tests.latency.nets import use_synthetic_host

    measured = use_synthetic_host(monkeypatch, tmp_path, gflops=40.0, bandwidth=4.0)
    fig = plot(synthetic(8), "roofline", bandwidth_gbs=8.0)      # a given peak wins over the host's
    assert measured == [("cpu", PRESETS["cpu"].resolve_threads(None))]
    assert "roof: 40 GFLOP/s, 8.0 GB/s" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    plot(synthetic(8), "roofline")
    assert len(measured) == 1                                     # read back from the cache


def test_roofline_says_so_when_peaks_cannot_be_measured(monkeypatch):
    monkeypatch.setitem(sys.modules, "flopscope.latency.peaks", None)        # import fails
    with pytest.raises(FlopscopeError, match="peak_gflops= and bandwidth_gbs="):
        plot(synthetic(8), "roofline")


def test_roofline_needs_traffic():
    report = synthetic(4)
    for l in report.layers:
        l.traffic_bytes = None
    with pytest.raises(FlopscopeError, match="nothing to place"):
        plot(report, "roofline", peak_gflops=1.0, bandwidth_gbs=1.0)


def test_bad_kind_suffix_and_counts():
    report = synthetic(4)
    with pytest.raises(ValueError, match="unknown plot kind 'pie'"):
        plot(report, "pie")
    with pytest.raises(ValueError, match="ending in .png"):
        plot(report, "layers", path="chart.jpeg")
    with pytest.raises(ValueError, match="one report, not 2"):
        plot([report, report], "layers")
    with pytest.raises(ValueError, match="1 names for 2 reports"):
        plot([report, report], "cumulative", names=["one"])
