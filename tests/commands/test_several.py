"""``flopscope report A B dir/``: one summary row per model, ``--jobs`` in parallel
(flopscope/commands/several.py)."""

from __future__ import annotations

import json

import pytest

from flopscope.cli import main
from flopscope.commands.several import expand, run_all
from tests.commands.nets import WIDENED, conv_net

# conv_net at 16x16: MACs of conv0 + conv1 + conv2 (3x3 kernels), params with biases
BASE_MACS = (8 * 3 + 8 * 8 + 4 * 8) * 9 * 256                 # 276,480
WIDE_MACS = (8 * 3 + 16 * 8 + 4 * 16) * 9 * 256               # 497,664
BASE_PARAMS = (8 * 3 + 8 * 8 + 4 * 8) * 9 + 8 + 8 + 4         # 1,100
WIDE_PARAMS = (8 * 3 + 16 * 8 + 4 * 16) * 9 + 8 + 16 + 4      # 1,972


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "nets"
    d.mkdir()
    conv_net(d / "b_wide.onnx", WIDENED)
    conv_net(d / "a_base.onnx")
    (d / "notes.txt").write_text("not a model")
    return d


def test_a_directory_means_its_onnx_files(folder, capsys):
    assert expand([str(folder)]) == [str(folder / "a_base.onnx"), str(folder / "b_wide.onnx")]
    assert main(["report", str(folder), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["macs"], r["params"], r["coverage"], r["error"]) for r in rows] == [
        (BASE_MACS, BASE_PARAMS, 100.0, ""), (WIDE_MACS, WIDE_PARAMS, 100.0, "")]


def test_several_models_print_one_row_each_in_parallel(folder, tmp_path, capsys):
    extra = conv_net(tmp_path / "c.onnx", (4,))
    assert main(["report", str(folder), extra, "--jobs", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["model", "inputs", "params"] and len(lines) == 2 + 3
    assert lines[2].startswith(str(folder / "a_base.onnx")) and "276 k" in lines[2]
    assert lines[4].startswith(extra)
    models = expand([str(folder), extra])
    assert run_all(models, {}, jobs=3) == run_all(models, {}, jobs=1)      # same rows, same order


def test_a_model_that_fails_gets_its_row_and_exit_2(folder, capsys):
    assert main(["report", str(folder), "missing.onnx", "--format", "csv"]) == 2
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "model,inputs,params,macs,flops,param_bytes,peak_activation_bytes,coverage,error"
    assert lines[-1].startswith("missing.onnx,,,,,,,,") and "no such file" in lines[-1]


@pytest.mark.parametrize("argv, needle", [
    (["--format", "html"], "--format html shows one model"),
    (["--top", "3"], "--top applies to one model's layers"),
    (["--jobs", "0"], "--jobs must be >= 1"),
])
def test_refused_options(folder, capsys, argv, needle):
    assert main(["report", str(folder), *argv]) == 2
    assert needle in capsys.readouterr().err


def test_an_empty_directory_is_refused(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "no .onnx file in it" in capsys.readouterr().err
