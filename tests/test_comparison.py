"""flopscope.compare: models side by side with ratios against the first (flopscope/comparison.py)."""

from __future__ import annotations

import math
from dataclasses import fields

import pandas as pd
import pytest

import flopscope
from flopscope.comparison import _LATENCY, DEFAULT_METRICS, METRICS, Comparison, compare
from flopscope.report import Latency
from tests.fake_reports import latency, synthetic


def conv_variants():
    from torch import nn

    conv = nn.Conv2d(64, 128, 3, padding=1, bias=False)
    separable = nn.Sequential(nn.Conv2d(64, 64, 3, padding=1, groups=64, bias=False),
                              nn.Conv2d(64, 128, 1, bias=False))
    return {"conv": conv, "separable": separable}


def test_conv_vs_depthwise_separable():
    c = flopscope.compare(conv_variants(), inputs=(1, 64, 56, 56))
    hw = 56 * 56
    assert c.value("conv", "macs") == 9 * 64 * 128 * hw
    assert c.value("separable", "macs") == 9 * 64 * hw + 64 * 128 * hw
    assert c.ratio("separable", "macs") == pytest.approx(1 / 128 + 1 / 9)
    assert c.ratio("separable", "params") == pytest.approx((9 * 64 + 64 * 128) / (9 * 64 * 128))
    assert c.ratio("conv", "macs") == 1.0


def test_dataframe_columns_and_dtypes():
    c = compare([synthetic(10, "a"), synthetic(20, "b")], metrics=("macs", "params", "coverage"))
    df = c.to_dataframe()
    assert list(df.columns) == ["macs", "macs_ratio", "params", "params_ratio", "coverage", "coverage_ratio"]
    assert df.index.tolist() == ["a", "b"] and df.index.name == "model"
    assert df["macs"].dtype == pd.Int64Dtype() and df["params"].dtype == pd.Int64Dtype()
    assert df["macs_ratio"].dtype == "float64" and df["coverage"].dtype == "float64"
    assert df.loc["b", "macs"] == c["b"].totals.macs
    assert df.loc["b", "params_ratio"] == pytest.approx(c["b"].totals.params / c["a"].totals.params)


def test_ratios_against_a_zero_or_a_missing_value_are_nan():
    a, b = synthetic(6, "a"), synthetic(6, "b")
    a.totals.macs = 0
    b.latency = latency(1.0)
    df = compare([a, b], metrics=("macs", "p50_ms")).to_dataframe()
    assert math.isnan(df.loc["b", "macs_ratio"])
    assert math.isnan(df.loc["a", "p50_ms"]) and df.loc["b", "p50_ms"] == 1.0
    assert math.isnan(df.loc["b", "p50_ms_ratio"])


def test_latency_is_compared_when_every_model_has_one():
    a, b = synthetic(6, "a"), synthetic(6, "b")
    a.latency, b.latency = latency(2.0), latency(3.0)
    c = compare([a, b])
    assert c.metrics == DEFAULT_METRICS + ("p50_ms",)
    assert c.ratio("b", "p50_ms") == 1.5
    assert compare([a, synthetic(6)]).metrics == DEFAULT_METRICS


def test_text_and_html_tables():
    a, b = synthetic(10, "a"), synthetic(10, "b<&>")
    b.totals.macs = 2 * a.totals.macs
    c = compare([a, b], metrics=("macs", "param_bytes"))
    text = str(c)
    assert text.splitlines()[0].split() == ["model", "MACs", "weights"]
    assert "(2x)" in text and text.endswith("ratios against a")
    html = c._repr_html_()
    assert "b&lt;&amp;&gt;" in html and "<&>" not in html and "(2x)" in html
    assert html.count('<td class="n">') == 4 and html.endswith("<p>ratios against a</p>\n</div>")


def test_each_metric_is_formatted_by_its_unit():
    report = synthetic(6)
    report.totals.param_bytes, report.totals.buffer_bytes, report.totals.macs = 3 << 20, 2048, 4_089_184_256
    report.latency = latency(p50_ms=2.5)   # p90 3.000 ms
    _, rows = Comparison([report], ["a"], ("param_bytes", "buffer_bytes", "macs", "p90_ms")).table()
    assert rows == [["a", "3 MiB", "2 KiB", "4.09 G", "3.000 ms"]]


def test_names_default_unique_and_lookup():
    c = compare([synthetic(6), synthetic(6), synthetic(6, "other")])
    assert c.names == ["synthetic", "synthetic (2)", "other"]
    assert c["other"] is c.reports[2] and c[-1] is c.reports[2]
    assert [name for name, _ in c] == c.names and len(c) == 3
    with pytest.raises(KeyError, match="no model named 'missing'"):
        c["missing"]


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown metric"):
        compare([synthetic(6)], metrics=("macs", "speed"))
    with pytest.raises(ValueError, match="nothing to compare"):
        compare([])
    with pytest.raises(ValueError, match="2 names for 1 models"):
        compare([synthetic(6)], names=["a", "b"])
    with pytest.raises(ValueError, match="not both"):
        compare({"a": synthetic(6)}, names=["a"])


def test_every_metric_is_readable():
    report = synthetic(6)
    report.latency = latency(1.0)
    row = compare([report], metrics=METRICS).rows()[0]
    assert row["layers"] == 6 and row["macs_ratio"] == 1.0
    assert set(_LATENCY) <= {f.name for f in fields(Latency)}


def test_plot_of_a_comparison(tmp_path):
    c = compare([synthetic(6, "a"), synthetic(12, "b")])
    c.plot("cumulative", path=tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(ValueError, match="not 'roofline'"):
        c.plot("roofline")
    fig = c.plot("metrics", x="macs", y="params")
    assert [t.get_text() for t in fig.axes[0].texts] == ["a", "b"]


def test_comparison_of_reference_architectures():
    c = flopscope.compare(["resnet18", "resnet50"])
    assert isinstance(c, Comparison) and c.names == ["resnet18", "resnet50"]
    assert c.value("resnet18", "params") == 11_689_512
    assert c.value("resnet50", "params") == 25_557_032
    assert 2.2 < c.ratio("resnet50", "macs") < 2.3
