"""to_dataframe(report): one row per layer, exact integer columns (flopscope/render/dataframe.py)."""

from __future__ import annotations

import pandas as pd
from pandas.api.types import is_string_dtype

from flopscope.render.dataframe import COLUMNS, to_dataframe
from flopscope.report import Coverage, ModelInfo, Report, Totals
from tests.fake_reports import synthetic


def test_columns_and_dtypes():
    df = to_dataframe(synthetic(10))
    assert list(df.columns) == list(COLUMNS)
    for column in ("macs", "flops", "output_bytes", "traffic_bytes"):
        assert df[column].dtype == pd.Int64Dtype(), column
    for column in ("params", "repeat"):
        assert df[column].dtype == "int64", column
    for column in ("name", "op", "module", "output_shapes", "status", "reason"):
        assert is_string_dtype(df[column].dtype), column


def test_one_row_per_layer_with_exact_values():
    report = synthetic(10)
    df = to_dataframe(report)
    assert len(df) == 10
    assert df["name"].tolist() == [l.name for l in report.layers]
    assert df.loc[0, "macs"] == 1000 and df.loc[4, "flops"] == 2008
    assert df.loc[0, "output_shapes"] == "1x16x8x8"
    assert int(df["macs"].sum()) == report.totals.macs        # NA skipped, no float rounding
    assert int(df["params"].sum()) == report.totals.params


def test_uncosted_layers_are_missing_not_zero():
    df = to_dataframe(synthetic(10))
    assert df["macs"].isna().tolist() == [i in (1, 3) for i in range(10)]
    assert df.loc[1, "status"] == "unsupported" and df.loc[3, "status"] == "unresolved"
    assert df.loc[1, "op"] == "com.example.Fancy"


def test_big_integers_stay_exact():
    report = synthetic(4)
    report.layers[0].macs = 2**62 + 1                          # beyond float64's 53 bits
    assert to_dataframe(report).loc[0, "macs"] == 2**62 + 1


def test_several_outputs_and_unknown_shapes():
    report = synthetic(4)
    report.layers[0].output_shapes = [[1, 4], None, ["N", 3], []]
    assert to_dataframe(report).loc[0, "output_shapes"] == "1x4, ?, Nx3, scalar"


def test_empty_report_keeps_the_dtypes():
    empty = Report(ModelInfo("empty", "onnx"), "flopscope", Totals(), Coverage(), [])
    df = to_dataframe(empty)
    assert len(df) == 0 and list(df.columns) == list(COLUMNS)
    assert df["macs"].dtype == pd.Int64Dtype() and df["params"].dtype == "int64"


def test_analysed_model():
    import torch.nn as nn

    import flopscope

    report = flopscope.analyze(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()), (1, 3, 32, 32))
    df = to_dataframe(report)
    assert df["op"].tolist() == ["Conv", "Relu"]
    assert df.loc[0, "macs"] == 8 * 30 * 30 * 3 * 9
    assert df.loc[0, "params"] == 8 * 3 * 9 + 8
    assert df.loc[0, "output_shapes"] == "1x8x30x30"
