"""flopscope never writes next to the user's model nor modifies it: after every command the
model's folder lists the same files with the same bytes and mtimes, and the temporary
folder is as empty as before (the commands' scratch files are cleaned up)."""

from __future__ import annotations

import sys
import tempfile

import onnx
import pytest

from tests.robustness.helpers import conv_relu_gemm, run_cli, save_with_external_data, snapshot


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """A private temporary folder for this test, so other processes' files do not count.

    onnxruntime's extension writes ``$TMPDIR/.ses`` (a session id) when it is first
    imported; that is onnxruntime's file, not flopscope's, so it is imported beforehand.
    """
    pytest.importorskip("onnxruntime")
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return folder


@pytest.fixture
def models(tmp_path):
    """A plain model and one with external weights, in a folder of their own."""
    folder = tmp_path / "models"
    folder.mkdir()
    onnx.save_model(conv_relu_gemm("N"), str(folder / "plain.onnx"))
    save_with_external_data(conv_relu_gemm("N"), folder, "ext.onnx")
    return folder


def _commands(model, out):
    return [
        ["report", model],
        ["report", model, "--format", "json", "-o", out / "report.json"],
        ["report", model, "--format", "csv", "--dim", "N=2"],
        ["baseline", model, "-o", out / "baseline.json"],
        ["check", model, "--baseline", out / "baseline.json"],
        ["check", model, "--baseline", out / "baseline.json", "--dim", "N=2", "--allow-model-change",
         "--junit", out / "junit.xml"],
        ["bench", model, "--iterations", "2", "--no-progress", "--per-layer"],
        ["report", model, "--input-shape", "x=1x3x9x9"],                     # refused
    ]


@pytest.mark.parametrize("name", ["plain.onnx", "ext.onnx"])
def test_no_command_writes_next_to_the_model(models, scratch, tmp_path, name):
    out = tmp_path / "out"
    out.mkdir()
    before = snapshot(models)
    codes = []
    for argv in _commands(models / name, out):
        outcome = run_cli(*argv, limit=60)
        codes.append(outcome.code)
        assert snapshot(models) == before, argv
        assert list(scratch.iterdir()) == [], (argv, list(scratch.iterdir()))
    assert codes == [0, 0, 0, 0, 0, 1, 0, 2]       # N=2 doubles the baseline's counts: over budget


def test_a_refused_hostile_model_is_left_as_it_was(models, scratch):
    m = onnx.load(str(models / "ext.onnx"), load_external_data=False)
    m.graph.initializer[0].external_data[0].value = "../../etc/passwd"
    (models / "ext.onnx").write_bytes(m.SerializeToString())
    before = snapshot(models)
    for command in ("report", "baseline", "bench"):
        assert run_cli(command, models / "ext.onnx").code == 2
    assert snapshot(models) == before and list(scratch.iterdir()) == []


def test_a_factory_file_is_left_as_it_was(tmp_path, scratch, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setattr(sys, "dont_write_bytecode", False)      # as on a machine without PYTHON*
    folder = tmp_path / "user"
    folder.mkdir()
    (folder / "net.py").write_text("import torch\n\ndef make():\n    return torch.nn.Linear(4, 2), (1, 4)\n")
    before = snapshot(folder)
    assert run_cli("report", folder / "net.py:make", limit=60).code == 0
    assert snapshot(folder) == before


def test_output_cannot_overwrite_the_model(tmp_path):
    from flopscope.cli import main

    models = tmp_path / "models"
    models.mkdir()
    path = models / "m.onnx"
    onnx.save_model(conv_relu_gemm(), path)
    before = snapshot(models)
    assert main(["report", str(path), "-o", str(path)]) == 2
    assert snapshot(models) == before


def test_a_factory_that_exits_or_prints_lines_fails_in_one_line(tmp_path, capsys):
    pytest.importorskip("torch")
    from flopscope.cli import main

    (tmp_path / "bad.py").write_text("import sys\n\ndef make():\n    sys.exit(3)\n\n"
                                     "def noisy():\n    raise ValueError('first line\\nsecond line')\n")
    assert main(["report", f"{tmp_path / 'bad.py'}:make", "--input-shape", "1x4"]) == 2
    assert main(["report", f"{tmp_path / 'bad.py'}:noisy", "--input-shape", "1x4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "SystemExit" in err[0] and "first line second line" in err[1]
