"""The row selection every format honours (flopscope/render/tables.py), and the issue 14
defects of the report's presentation, each pinned by a test."""

from __future__ import annotations

import csv
import io
import json
import re

import onnx
import pytest

import flopscope
from flopscope.analysis import analyze
from flopscope.cli import main
from flopscope.errors import FlopscopeError
from flopscope.render import FORMATS, render
from flopscope.render.tables import folded, lower_bound_warning, select
from flopscope.report import Coverage, Layer, Report
from tests.render.nets import (
    TINYNET,
    TINYNET_BLOCK_CONV_MACS,
    TINYNET_CONV1_MACS,
    TINYNET_FC_MACS,
)
from tests.test_cli import _model


@pytest.fixture(scope="module")
def tiny() -> Report:
    return analyze(TINYNET)


def cli(capsys, *argv):
    code = main(["report", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


# ----------------------------------------------------------------------- the tree


def test_module_tree_in_execution_order_with_classes(tiny):
    rows = select(tiny).rows
    assert [(r.path, r.depth, r.cls, r.op) for r in rows] == [
        ("conv1", 0, "", "Conv"), ("relu", 0, "ReLU", "Relu"),
        ("layer1", 0, "Sequential", ""), ("layer1.0", 1, "Block", ""),
        ("layer1.0.conv1", 2, "", "Conv"), ("layer1.0.relu", 2, "ReLU", "Relu"),
        ("layer1.0.conv2", 2, "", "Conv"), ("node_add", 2, "", "Add"),
        ("layer1.0.relu", 2, "ReLU", "Relu"),      # the ReLU module called again: its own row
        ("avgpool", 0, "AdaptiveAvgPool2d", "ReduceMean"), ("fc", 0, "Linear", "Gemm")]
    conv1 = rows[0]
    assert conv1.inputs == ([1, 3, 32, 32],) and conv1.outputs == ([1, 8, 16, 16],)
    assert conv1.attrs["kernel_shape"] == [3, 3] and conv1.attrs["strides"] == [2, 2]
    block = rows[3]
    assert block.macs == 2 * TINYNET_BLOCK_CONV_MACS and block.layers == 5


def test_plumbing_is_folded_unless_all_layers(tiny):
    assert "Reshape" not in [r.op for r in select(tiny).rows]
    assert select(tiny).folded == 1
    every = select(tiny, all_layers=True)
    assert every.folded == 0 and [r.op for r in every.rows].count("Reshape") == 1
    assert folded(Layer("r", "Reshape", "", [[1, 8]], 0, 0, 0, 32, 64))
    assert not folded(Layer("r", "Reshape", "", [[1, 8]], None, None, 0, 32, 64, status="unresolved"))


def test_sums_over_the_selection_match_the_totals(tiny):
    (whole,) = select(tiny, depth=0).rows
    assert (whole.path, whole.cls, whole.macs, whole.layers) == ("(model)", "TinyNet", tiny.totals.macs, 10)
    for depth in (None, 1, 2, 3):
        rows = select(tiny, depth=depth).rows
        top = [r for r in rows if r.depth == 0]
        assert sum(r.macs for r in top) == tiny.totals.macs, depth
        assert sum(r.params for r in top) == tiny.totals.params, depth


def test_lower_bound_warning_names_the_uncosted_dot_products():
    c = Coverage(nodes=10, costed=8, unsupported={"com.x.Op": 1}, unresolved={"MatMul": 1},
                 uncosted_dot_products={"MatMul": 1})
    warning = lower_bound_warning(c)
    assert warning.startswith("warning: the totals are a lower bound: 2 node(s) not costed")
    assert "MatMul x1" in warning
    report = Report(flopscope.report.ModelInfo("m", "onnx"), "flopscope", flopscope.report.Totals(),
                    c, [])
    for fmt in ("text", "markdown"):
        assert "the totals are a lower bound" in render(report, fmt), fmt


# ----------------------------------------------------------------------- defects 2 and 3


def test_depth_keeps_parent_prefixes(tiny, capsys):
    """Defect 2: --depth 2 named rows by their last component ("0" for layer1.0)."""
    code, out, _ = cli(capsys, TINYNET, "--depth", "2")
    assert code == 0
    names = [row.split()[0] for row in out.split("module tree (to depth 2)")[1].split("\n\n")[0]
             .splitlines()[3:]]
    assert names == ["conv1", "relu", "layer1", "layer1.0", "avgpool", "fc"]


def _csv_rows(text):
    return list(csv.DictReader(io.StringIO(text)))


def test_depth_and_top_in_every_format(capsys):
    """Defect 3: --depth 2 --top 3 printed every module; csv/json/html ignored the flags."""
    expected = ["layer1.0", "conv1", "relu"]          # relu before avgpool: equal FLOPs, tree order
    shown = {}
    for fmt in FORMATS:
        code, out, _ = cli(capsys, TINYNET, "--depth", "2", "--top", "3", "--format", fmt)
        assert code == 0, fmt
        shown[fmt] = out
    text_rows = shown["text"].split("top 3 modules by FLOPs (to depth 2)")[1].split("\n\n")[0]
    assert [r.split()[0] for r in text_rows.splitlines()[3:]] == expected
    md_rows = shown["markdown"].split("### top 3 modules by FLOPs")[1].split("\n\n")[1].splitlines()[2:]
    assert [r.split("|")[1].strip() for r in md_rows] == expected
    assert [r["name"] for r in _csv_rows(shown["csv"])] == expected
    data = json.loads(shown["json"])
    assert [r["name"] for r in data["selection"]["rows"]] == expected
    assert data["selection"]["rows"][0]["macs"] == 2 * TINYNET_BLOCK_CONV_MACS
    assert len(data["layers"]) == 10                  # the contract keeps every layer
    tree = shown["html"].split("top 3 modules by FLOPs (to depth 2)")[1]
    assert re.findall(r"<tr><td>([^<]*)</td>", tree) == expected


def test_all_layers_in_every_format(capsys):
    for fmt in FORMATS:
        _, folded_out, _ = cli(capsys, TINYNET, "--depth", "1", "--format", fmt)
        _, every_out, _ = cli(capsys, TINYNET, "--depth", "1", "--all-layers", "--format", fmt)
        if fmt == "csv":
            assert "node_view" not in folded_out and "node_view" in every_out
        elif fmt == "json":
            sel = json.loads(folded_out)["selection"], json.loads(every_out)["selection"]
            assert sel[0]["folded"] == 1 and sel[1]["folded"] == 0
            assert [r["op"] for r in sel[1]["rows"]].count("Reshape") == 1
        else:
            if fmt == "html":      # the selected rows' table; the page's charts name layers too
                folded_out, every_out = (o.split("module tree (to depth 1)")[1].split("</table>")[0]
                                         for o in (folded_out, every_out))
            assert "node_view" not in folded_out and "node_view" in every_out, fmt


# ----------------------------------------------------------------------- defect 4


def test_notes_go_to_stderr_beside_csv_and_json(tmp_path, capsys):
    """Defect 4: notes (here: a symbolic batch bound to 1) vanished from csv output."""
    path = tmp_path / "sym.onnx"
    onnx.save_model(_model(("N", 3, 8, 8)), str(path))
    for fmt in ("csv", "json"):
        code, out, err = cli(capsys, path, "--format", fmt)
        assert code == 0 and "symbolic dim 'N'" in err and err.startswith("flopscope: note: ")
        assert "symbolic dim" not in out or fmt == "json"      # json carries them in "notes" too
    code, out, err = cli(capsys, path)
    assert code == 0 and err == "" and "note: symbolic dim 'N'" in out


# ----------------------------------------------------------------------- defect 5


def test_analyze_takes_the_cli_shape_strings():
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU())
    report = flopscope.analyze(net, "1x3x64x64")
    assert report.totals.macs == 8 * 62 * 62 * 3 * 9                    # 830,304
    assert flopscope.analyze(net, input_shapes={"input": "1x3x64x64"}).totals.macs == report.totals.macs
    ids = flopscope.analyze(torch.nn.Embedding(100, 8), "1x16:int64")
    assert ids.model.inputs[0].dtype == "int64" and ids.model.inputs[0].shape == [1, 16]


def test_a_missing_input_shape_is_asked_for_in_the_callers_words(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    tokens = torch.nn.Sequential(torch.nn.Embedding(100, 8), torch.nn.Linear(8, 2))
    with pytest.raises(FlopscopeError) as info:
        flopscope.analyze(tokens)
    message = str(info.value)
    assert "inputs=((1, 128), 'int64')" in message and "--input-shape" not in message
    with pytest.raises(FlopscopeError) as info:
        flopscope.analyze(torch.nn.Conv2d(4, 8, 3))
    assert "inputs=(1, 4, 224, 224)" in str(info.value)
    with pytest.raises(FlopscopeError) as info:
        flopscope.analyze(torch.nn.Conv2d(4, 8, 3), dims={"N": 2})
    assert "dims binds symbolic dims" in str(info.value) and "--dim" not in str(info.value)
    (tmp_path / "tok.py").write_text(
        "import torch.nn as nn\n"
        "def make():\n    return nn.Sequential(nn.Embedding(100, 8), nn.Linear(8, 2))\n")
    code, out, err = cli(capsys, f"{tmp_path / 'tok.py'}:make")
    assert code == 2 and "e.g. --input-shape 1x128:int64" in err and "inputs=" not in err


# ----------------------------------------------------------------------- defect 9


def test_dynamo_conv_with_folded_batchnorm_belongs_to_the_conv(tiny):
    """Defect 9: torch.onnx folds each BatchNorm into its Conv and keeps the BN's scope."""
    convs = [(l.module, l.macs) for l in tiny.layers if l.op == "Conv"]
    assert convs == [("conv1", TINYNET_CONV1_MACS), ("layer1.0.conv1", TINYNET_BLOCK_CONV_MACS),
                     ("layer1.0.conv2", TINYNET_BLOCK_CONV_MACS)]
    assert not any(l.module.endswith(("bn1", "bn2")) for l in tiny.layers)
    assert tiny.totals.macs == TINYNET_CONV1_MACS + 2 * TINYNET_BLOCK_CONV_MACS + TINYNET_FC_MACS
    assert tiny.modules["layer1.0"] == "Block" and tiny.modules[""] == "TinyNet"


# ----------------------------------------------------------------------- defect 11 and data


def test_print_report_is_short(tiny):
    """Defect 11: print(report) dumped 40 KB."""
    text = str(tiny)
    assert text == repr(tiny) and "\n" not in text and len(text) < 200
    assert text.startswith("Report(tinynet_dynamo: MACs 350 k") or "MACs 350 k" in text


def test_new_fields_are_in_the_json_and_read_back(tiny):
    data = json.loads(render(tiny, "json"))
    conv = data["layers"][0]
    assert conv["input_shapes"] == [[1, 3, 32, 32]] and conv["attrs"]["group"] == 1
    assert data["modules"]["layer1.0"] == "Block"
    assert Report.from_dict(data) == tiny
