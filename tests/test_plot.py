"""Charts of a Report, saved as PNG and SVG (flopscope/plot.py)."""

from __future__ import annotations

import sys

import matplotlib
import pytest

from flopscope.errors import FlopscopeError
from flopscope.plot import MAX_BARS, plot
from tests.fake_reports import latency, synthetic

matplotlib.use("Agg")                    # what a headless machine gets anyway; never a window here

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def is_png(path) -> bool:
    data = path.read_bytes()
    return data.startswith(PNG_SIGNATURE) and len(data) > 5_000 and b"IEND" in data[-16:]


def is_svg(path) -> bool:
    text = path.read_text(encoding="utf-8")
    return "<svg" in text[:2_000] and text.rstrip().endswith("</svg>") and len(text) > 5_000


def test_layers_chart_saved_as_png(tmp_path):
    from matplotlib.figure import Figure

    fig = synthetic(12).plot("layers", path=tmp_path / "layers.png")
    assert isinstance(fig, Figure)
    assert is_png(tmp_path / "layers.png")
    assert [ax.get_ylabel() for ax in fig.axes] == ["FLOPs", "parameters", "output bytes"]
    assert "2 not costed" in fig.axes[0].get_title()


def test_layers_chart_saved_as_svg(tmp_path):
    synthetic(12).plot("layers", path=str(tmp_path / "layers.svg"))
    assert is_svg(tmp_path / "layers.svg")


def test_a_big_model_shows_its_heaviest_layers(tmp_path):
    fig = synthetic(5000).plot("layers")
    assert f"{MAX_BARS} heaviest of 5,000 layers" in fig.axes[0].get_title()
    assert len(fig.axes[0].patches) == MAX_BARS


def test_figures_are_not_left_open_in_pyplot():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    synthetic(8).plot("cumulative")
    assert plt.get_fignums() == before


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
    fig = report.plot("latency", path=tmp_path / "layers.svg")
    assert is_svg(tmp_path / "layers.svg")
    assert "per-layer" in fig.axes[0].get_title()


def test_latency_chart_needs_a_latency():
    with pytest.raises(FlopscopeError, match="no latency"):
        synthetic(6).plot("latency")


def test_roofline_with_explicit_peaks(tmp_path):
    report = synthetic(20)
    report.latency = latency(0.5)
    fig = report.plot("roofline", path=tmp_path / "roofline.png", peak_gflops=100.0, bandwidth_gbs=10.0)
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
    fig = report.plot("roofline")
    assert "ridge at 10.0" in fig.axes[0].get_title()
    assert "layers, measured" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_roofline_says_so_when_peaks_cannot_be_measured(monkeypatch):
    monkeypatch.setitem(sys.modules, "flopscope.latency.roofline", None)     # import fails
    with pytest.raises(FlopscopeError, match="peak_gflops= and bandwidth_gbs="):
        synthetic(8).plot("roofline")


def test_roofline_needs_traffic():
    report = synthetic(4)
    for l in report.layers:
        l.traffic_bytes = None
    with pytest.raises(FlopscopeError, match="nothing to place"):
        report.plot("roofline", peak_gflops=1.0, bandwidth_gbs=1.0)


def test_bad_kind_suffix_and_counts():
    report = synthetic(4)
    with pytest.raises(ValueError, match="unknown plot kind 'pie'"):
        report.plot("pie")
    with pytest.raises(ValueError, match="ending in .png"):
        report.plot("layers", path="chart.jpeg")
    with pytest.raises(ValueError, match="one report, not 2"):
        plot([report, report], "layers")
    with pytest.raises(ValueError, match="1 names for 2 reports"):
        plot([report, report], "cumulative", names=["one"])
