"""``flopscope baseline MODEL -o FILE``: the saved JSON report."""

from __future__ import annotations

import json

import pytest

from flopscope.cli import main
from flopscope.report import SCHEMA, Report, Training
from tests.commands.nets import conv_net


def test_baseline_writes_the_json_report(tmp_path, capsys):
    path = conv_net(tmp_path / "net.onnx")
    out = tmp_path / "baseline.json"
    assert main(["baseline", path, "-o", str(out)]) == 0
    stdout, err = capsys.readouterr()
    assert stdout == "" and "wrote" in err and "276,480 MACs" in err
    data = json.loads(out.read_text())
    assert data["schema"] == SCHEMA and data["totals"]["macs"] == 276_480
    assert Report.from_dict(data).layers[2].module == "conv1"


def test_baseline_to_stdout_and_unsupported_note(tmp_path, capsys):
    path = conv_net(tmp_path / "custom.onnx", custom_op="FancyOp")
    assert main(["baseline", path]) == 0
    stdout, err = capsys.readouterr()
    assert json.loads(stdout)["coverage"]["unsupported"] == {"com.example.FancyOp": 1}
    assert "unsupported ops are not counted in this baseline (com.example.FancyOp x1)" in err


def test_baseline_of_a_missing_model_is_exit_2(tmp_path, capsys):
    assert main(["baseline", str(tmp_path / "missing.onnx"), "-o", str(tmp_path / "b.json")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert not (tmp_path / "b.json").exists()


# ----------------------------------------------------------------------- train mode

# conv_net(BASE), by hand: 1,100 fp32 parameters (4,400 bytes each of weights and gradients),
# momentum keeps one state each (4,400), and all 45,056 bytes of forward outputs are kept
PARAMS = 224 + 584 + 292
PEAK_TRAINING = 3 * 4 * PARAMS + 45_056


def test_a_train_baseline_round_trips_and_is_checked_in_its_mode(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    path = conv_net("net.onnx")
    assert main(["baseline", path, "--mode", "train", "--optimizer", "momentum", "-o", "train.json"]) == 0
    err = capsys.readouterr().err
    assert "wrote train.json (net, train momentum fp32: 774,144 MACs" in err
    assert f"{PEAK_TRAINING:,} peak training bytes)" in err
    with open("train.json", encoding="utf-8") as f:
        data = json.load(f)
    assert data["training"] == {"optimizer": "momentum", "precision": "fp32", "frozen": []}
    assert data["totals"]["optimizer_state_bytes"] == 4 * PARAMS
    assert data["totals"]["peak_training_bytes"] == PEAK_TRAINING
    saved = Report.from_dict(data)
    assert saved.training == Training("momentum", "fp32") and Report.from_dict(saved.to_dict()) == saved

    # the check takes the baseline's mode and compares the training metrics too
    assert main(["check", path, "--baseline", "train.json"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("PASS net.onnx (net, x 1x3x16x16, train momentum fp32): within budget")
    assert f"peak training bytes {PEAK_TRAINING:,} -> {PEAK_TRAINING:,} (+0.00%)" in out
    assert f"optimizer state bytes {4 * PARAMS:,} -> {4 * PARAMS:,}" in out

    # widen conv1 to 16 channels: 1,972 parameters, every training figure grows
    conv_net(path, (8, 16, 4))
    assert main(["check", path, "--baseline", "train.json"]) == 1
    out = capsys.readouterr().out
    assert f"gradient bytes grew from {4 * PARAMS:,} to {4 * 1_972:,}" in out
    # lighter: the command that rewrites the baseline keeps its mode
    conv_net(path, (8, 4, 4))
    assert main(["check", path, "--baseline", "train.json"]) == 0
    assert ("update the baseline: flopscope baseline net.onnx --mode train --optimizer momentum "
            "--precision fp32 -o train.json") in capsys.readouterr().out


@pytest.mark.parametrize("flags, words", [
    (["--mode", "inference"], "the baseline train.json is train adamw fp32, this analysis inference"),
    (["--optimizer", "sgd"], "the baseline train.json is train adamw fp32, this analysis train sgd fp32"),
])
def test_a_train_baseline_against_another_mode_is_refused_in_one_line(tmp_path, capsys, flags, words):
    path = conv_net(tmp_path / "net.onnx")
    baseline = tmp_path / "train.json"
    assert main(["baseline", path, "--mode", "train", "-o", str(baseline)]) == 0
    capsys.readouterr()
    assert main(["check", path, "--baseline", str(baseline), *flags]) == 2
    err = capsys.readouterr().err.replace(str(tmp_path) + "/", "")
    assert err.count("\n") == 1 and words in err
    assert "check in the baseline's mode (--mode train --optimizer adamw --precision fp32" in err


def test_an_inference_baseline_against_train_mode_is_refused(tmp_path, capsys):
    path = conv_net(tmp_path / "net.onnx")
    baseline = tmp_path / "b.json"
    assert main(["baseline", path, "-o", str(baseline)]) == 0
    assert json.loads(baseline.read_text())["training"] is None
    capsys.readouterr()
    assert main(["check", path, "--baseline", str(baseline), "--mode", "train"]) == 2
    assert "is inference, this analysis train adamw fp32" in capsys.readouterr().err


def test_a_training_setup_without_train_mode_is_exit_2(tmp_path, capsys):
    path = conv_net(tmp_path / "net.onnx")
    out = str(tmp_path / "b.json")
    assert main(["baseline", path, "--optimizer", "sgd", "--frozen", "x.*", "-o", out]) == 2
    assert capsys.readouterr().err == "flopscope: error: --optimizer, --frozen go with --mode train\n"
    assert not (tmp_path / "b.json").exists()
