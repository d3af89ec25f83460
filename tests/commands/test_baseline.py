"""``flopscope baseline MODEL -o FILE``: the saved JSON report."""

from __future__ import annotations

import json

from flopscope.cli import main
from flopscope.report import SCHEMA, Report
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
