"""``flopscope diff A B`` (flopscope/commands/diff.py, flopscope/render/diff.py) and
``flopscope models`` (flopscope/commands/models.py)."""

from __future__ import annotations

import json

import pytest

from flopscope.analysis import analyze
from flopscope.cli import main
from flopscope.render.diff import render_diff
from tests.commands.nets import WIDENED, conv_net

# conv_net at 16x16, 3x3 kernels: conv0 3->8, conv1 8->8 (widened 8->16), conv2 8->4 (16->4)
CONV0 = 8 * 3 * 9 * 256                          # 55,296 MACs in both
CONV1_OLD, CONV1_NEW = 8 * 8 * 9 * 256, 16 * 8 * 9 * 256        # 147,456 -> 294,912
CONV2_OLD, CONV2_NEW = 4 * 8 * 9 * 256, 4 * 16 * 9 * 256        # 73,728 -> 147,456
PARAMS_OLD = (8 * 3 * 9 + 8) + (8 * 8 * 9 + 8) + (4 * 8 * 9 + 4)   # 1,100
PARAMS_NEW = (8 * 3 * 9 + 8) + (16 * 8 * 9 + 16) + (4 * 16 * 9 + 4)   # 1,972


@pytest.fixture
def pair(tmp_path):
    return conv_net(tmp_path / "base.onnx"), conv_net(tmp_path / "wide.onnx", WIDENED)


def test_totals_and_modules_that_moved(pair, capsys):
    assert main(["diff", *pair]) == 0
    out = capsys.readouterr().out
    old_macs, new_macs = CONV0 + CONV1_OLD + CONV2_OLD, CONV0 + CONV1_NEW + CONV2_NEW
    assert out.startswith("base.onnx (onnx) -> wide.onnx (onnx)\n")
    macs = next(line for line in out.splitlines() if line.startswith("MACs "))
    assert macs.split() == ["MACs", f"{old_macs:,}", f"{new_macs:,}", f"{new_macs - old_macs:+,}",
                            f"{100 * (new_macs - old_macs) / old_macs:+.2f}%"]
    params = next(line for line in out.splitlines() if line.startswith("params "))
    assert params.split()[1:4] == [f"{PARAMS_OLD:,}", f"{PARAMS_NEW:,}", f"{PARAMS_NEW - PARAMS_OLD:+,}"]
    assert "modules by change in MACs (depth 1): 2 of 2 that moved" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("conv")]
    assert rows == [
        ["conv1", f"{CONV1_OLD:,}", f"{CONV1_NEW:,}", f"{CONV1_NEW - CONV1_OLD:+,}", "+100.00%", "1"],
        ["conv2", f"{CONV2_OLD:,}", f"{CONV2_NEW:,}", f"{CONV2_NEW - CONV2_OLD:+,}", "+100.00%", "1"]]


def test_a_saved_json_report_against_a_model(pair, tmp_path, capsys):
    saved = tmp_path / "base.json"
    assert main(["report", pair[0], "--format", "json", "-o", str(saved)]) == 0
    assert main(["diff", str(saved), pair[1], "--format", "json", "--top", "1", "--by", "params"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["old"]["label"] == "base.json" and data["new"]["label"] == "wide.onnx"
    params = next(t for t in data["totals"] if t["metric"] == "params")
    assert (params["old"], params["new"]) == (PARAMS_OLD, PARAMS_NEW)
    assert params["delta"] == PARAMS_NEW - PARAMS_OLD
    assert data["modules_moved"] == 2 and len(data["modules"]) == 1
    top = data["modules"][0]
    assert (top["module"], top["field"]) == ("conv1", "params")
    assert top["delta"] == (16 * 8 * 9 + 16) - (8 * 8 * 9 + 8)


def test_identical_models_show_no_module_move(pair, capsys):
    assert main(["diff", pair[0], pair[0], "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("## flopscope diff:") and "no module's MACs moved" in out
    assert "| MACs " in out and "+0.00%" in out


def test_a_layer_only_one_side_has_is_new(tmp_path):
    old = analyze(conv_net(tmp_path / "a.onnx", (8, 8)))
    new = analyze(conv_net(tmp_path / "b.onnx", (8, 8, 4)))
    text = render_diff(old, new, depth=None)
    conv2 = next(line for line in text.splitlines() if line.startswith("conv2"))
    assert conv2.split() == ["conv2", "0", f"{CONV2_OLD:,}", f"{CONV2_OLD:+,}", "new", "1", "(1", "new)"]


def test_unknown_names_and_missing_files_are_one_line(pair, capsys):
    assert main(["diff", pair[0], "resnet05"]) == 2
    assert "did you mean 'resnet50'" in capsys.readouterr().err
    assert main(["diff", "missing.json", pair[0]]) == 2
    assert "missing.json" in capsys.readouterr().err
    assert main(["diff", pair[0], pair[1], "--top", "-1"]) == 2


def test_models_lists_the_catalog(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    resnet50 = next(line for line in out.splitlines() if line.startswith("resnet50 "))
    assert resnet50.split() == ["resnet50", "resnet", "1x3x224x224", "25,557,032", "4.089", "G"]
    myconv = next(line for line in out.splitlines() if line.startswith("myconv "))
    assert myconv.split()[-2:] == ["-", "-"]                     # nothing published
    assert main(["models", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    from flopscope.models.catalog import names

    assert [d["name"] for d in data] == names()


def test_training_totals_appear_only_when_both_reports_have_them():
    """An inference report has no backward MACs: the diff lists the totals both carry."""
    import torch

    from flopscope.render.diff import total_deltas

    net = torch.nn.Sequential(torch.nn.Linear(4, 3))
    inference, train = analyze(net, (2, 4)), analyze(net, (2, 4), mode="train")
    assert "backward_macs" not in [d.metric for d in total_deltas(inference, inference)]
    assert "backward_macs" not in [d.metric for d in total_deltas(inference, train)]
    both = {d.metric: d for d in total_deltas(train, train)}
    assert both["backward_macs"].old == both["backward_macs"].new > 0
