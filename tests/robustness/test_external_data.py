"""External data: a location outside the model's folder is refused before anything reads
it (``..``, absolute paths, symbolic links leading out), wherever the tensor sits; a
location inside is analysed without ever being opened. The check has one implementation,
``flopscope.frontends.external``, which the latency bench calls too (with the files
required, before ONNX Runtime reads them)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from flopscope.analysis import analyze
from flopscope.errors import FlopscopeError
from flopscope.frontends import external
from tests.builders import set_location
from tests.robustness.helpers import (
    assert_clean,
    assert_refused,
    control_flow,
    conv_relu_gemm,
    run_cli,
    save_with_external_data,
)

needs_symlinks = pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links")
needs_fifos = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")


@pytest.fixture
def ext(tmp_path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    return save_with_external_data(conv_relu_gemm(), folder)


@pytest.mark.parametrize("location, why", [
    ("../weights.bin", "climbs out with '..'"),
    ("sub/../../weights.bin", "climbs out with '..'"),
    ("..\\weights.bin", "climbs out with '..'"),
    ("/etc/passwd", "is an absolute path"),
    ("C:\\weights.bin", "is an absolute path"),
    ("\\\\server\\share\\weights.bin", "is an absolute path"),
    ("weights\x00.bin", "NUL byte"),
    ("", "names no location"),
])
def test_locations_outside_the_folder_are_refused(ext, location, why):
    set_location(ext, location)
    assert_refused(run_cli("report", ext), "external data location", why, "outside the model's folder")


def test_a_long_hostile_location_is_quoted_short(ext):
    set_location(ext, "../" * 10_000 + "etc/passwd")
    outcome = run_cli("report", ext)
    assert_refused(outcome, "climbs out")
    assert len(outcome.line) < 600


@needs_symlinks
def test_a_symlink_leading_out_of_the_folder_is_refused(ext, tmp_path):
    outside = tmp_path / "outside.bin"
    (ext.parent / "weights.bin").rename(outside)
    os.symlink(outside, ext.parent / "weights.bin")
    assert_refused(run_cli("report", ext), "symbolic link")


@needs_symlinks
def test_a_symlinked_folder_leading_out_is_refused(ext, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (ext.parent / "weights.bin").rename(tmp_path / "elsewhere" / "weights.bin")
    os.symlink(tmp_path / "elsewhere", ext.parent / "sub")
    set_location(ext, "sub/weights.bin")
    assert_refused(run_cli("report", ext), "symbolic link")


@needs_symlinks
def test_a_symlink_loop_is_refused(ext):
    (ext.parent / "weights.bin").unlink()
    os.symlink(ext.parent / "loop.bin", ext.parent / "weights.bin")
    os.symlink(ext.parent / "weights.bin", ext.parent / "loop.bin")
    assert_refused(run_cli("report", ext), "cannot be resolved")


@needs_symlinks
def test_symlinks_inside_the_folder_and_to_the_model_are_fine(ext, tmp_path):
    (ext.parent / "weights.bin").rename(ext.parent / "real.bin")
    os.symlink(ext.parent / "real.bin", ext.parent / "weights.bin")
    assert run_cli("report", ext).code == 0
    # a link to the model elsewhere: locations resolve against the link's folder, as ONNX
    # Runtime resolves them, and no weights sit there
    os.symlink(ext, tmp_path / "link.onnx")
    assert run_cli("report", tmp_path / "link.onnx").code == 0


def test_a_subfolder_location_is_fine(ext):
    (ext.parent / "sub").mkdir()
    (ext.parent / "weights.bin").rename(ext.parent / "sub" / "weights.bin")
    set_location(ext, "sub/weights.bin")
    assert run_cli("report", ext).code == 0


@needs_fifos
def test_external_data_inside_the_folder_is_never_opened(ext):
    # a named pipe blocks whoever opens it until a writer comes: none will
    (ext.parent / "weights.bin").unlink()
    os.mkfifo(ext.parent / "weights.bin")
    outcome = run_cli("report", ext, "--format", "json", limit=5)
    assert outcome.code == 0, outcome.err
    assert '"params": 3114' in outcome.out


@needs_fifos
def test_a_refused_location_is_never_opened(ext, tmp_path):
    os.mkfifo(tmp_path / "trap.bin")
    set_location(ext, "../trap.bin")
    assert_refused(run_cli("report", ext, limit=5), "climbs out")


def _hostile(t: TensorProto, location: str = "../../secret.bin") -> TensorProto:
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    entry = t.external_data.add()
    entry.key, entry.value = "location", location
    return t


def test_hostile_tensors_in_subgraphs_and_attributes_are_found(tmp_path):
    loop = control_flow()                       # a tensor inside the Loop body
    body = loop.graph.node[2].attribute[0].g
    body.initializer.append(_hostile(numpy_helper.from_array(np.ones((4, 4), np.float32), "lw2")))
    constant = conv_relu_gemm()                 # a Constant node's value
    constant.graph.node.insert(0, helper.make_node(
        "Constant", [], ["k"], value=_hostile(numpy_helper.from_array(np.ones(4, np.float32)))))
    for m in (loop, constant):
        (tmp_path / "m.onnx").write_bytes(m.SerializeToString())
        assert_refused(run_cli("report", tmp_path / "m.onnx"), "'../../secret.bin'", "climbs out")


def test_a_location_that_is_not_utf8_is_refused(tmp_path):
    m = conv_relu_gemm()
    m.graph.node.insert(0, helper.make_node(
        "Constant", [], ["k"], value=_hostile(numpy_helper.from_array(np.ones(4, np.float32)), "@@w.bin")))
    (tmp_path / "m.onnx").write_bytes(m.SerializeToString().replace(b"@@w.bin", b"\xff\xfew.bin"))
    assert_refused(run_cli("report", tmp_path / "m.onnx"), "not UTF-8")


def test_a_model_built_in_memory_has_its_locations_checked_too():
    m = conv_relu_gemm()
    _hostile(m.graph.initializer[2], "/etc/passwd")
    with pytest.raises(FlopscopeError, match="absolute path"):
        analyze(m)


def test_the_check_names_the_files_it_allows(ext, tmp_path):
    def check(path):
        return external.check_external_data(onnx.load(str(path), load_external_data=False), path)

    assert external.external_locations(onnx.load(str(ext), load_external_data=False)) == ["weights.bin"]
    assert check(ext) == [ext.parent.resolve() / "weights.bin"]
    (ext.parent / "sub").mkdir()
    (ext.parent / "weights.bin").rename(ext.parent / "sub" / "weights.bin")
    set_location(ext, "sub/weights.bin")
    assert check(ext) == [ext.parent.resolve() / "sub" / "weights.bin"]
    plain = tmp_path / "plain.onnx"
    onnx.save(conv_relu_gemm(), str(plain))
    assert external.external_locations(onnx.load(str(plain))) == [] and check(plain) == []


@needs_symlinks
def test_a_symlink_inside_the_folder_resolves_to_its_target(ext):
    (ext.parent / "weights.bin").rename(ext.parent / "real.bin")
    os.symlink(ext.parent / "real.bin", ext.parent / "weights.bin")
    m = onnx.load(str(ext), load_external_data=False)
    assert external.check_external_data(m, ext) == [ext.parent.resolve() / "real.bin"]


@needs_symlinks
def test_the_latency_bench_checks_before_any_session(ext, tmp_path, monkeypatch):
    from flopscope.latency import bench, measure

    assert bench(ext, iterations=1, warmup_budget_s=0.0).iterations == 1
    outside = tmp_path / "outside.bin"
    (ext.parent / "weights.bin").rename(outside)
    os.symlink(outside, ext.parent / "weights.bin")
    monkeypatch.setattr(measure, "open_session", lambda *a, **k: pytest.fail("a session was opened"))
    with pytest.raises(FlopscopeError, match="symbolic link"):
        bench(ext, iterations=1)
    (ext.parent / "weights.bin").unlink()
    with pytest.raises(FlopscopeError, match="not a file"):          # the analysis alone allows it
        bench(ext, iterations=1)


def test_the_analysis_does_not_need_the_files_the_harness_does(ext):
    m = onnx.load(str(ext), load_external_data=False)
    (ext.parent / "weights.bin").unlink()
    assert external.check_external_data(m, ext, require_files=False) == [ext.parent.resolve() / "weights.bin"]
    with pytest.raises(FlopscopeError, match="not a file"):
        external.check_external_data(m, ext)
    assert_clean(run_cli("report", ext))
