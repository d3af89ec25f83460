"""External data: ORT may only read weights stored inside the model's folder."""

from __future__ import annotations

import os

import onnx
import pytest

from flopscope.errors import FlopscopeError
from flopscope.latency import bench
from flopscope.latency.safety import check_external_data, external_locations
from tests.builders import set_location
from tests.latency.nets import with_external_data


def _load(path):
    return onnx.load(str(path), load_external_data=False)


def test_external_data_inside_the_folder_is_allowed_and_runs(tmp_path):
    path = with_external_data(tmp_path)
    assert external_locations(_load(path)) == ["net.data"]
    assert check_external_data(_load(path), path) == [(tmp_path / "net.data").resolve()]
    lat = bench(path, iterations=2, warmup_budget_s=0.0)
    assert lat.iterations == 2


def test_subfolder_location_is_allowed(tmp_path):
    (tmp_path / "weights").mkdir()
    path = with_external_data(tmp_path, "weights/net.data")
    assert check_external_data(_load(path), path) == [(tmp_path / "weights" / "net.data").resolve()]


@pytest.mark.parametrize("location, why", [
    ("../net.data", "'..'"),
    ("weights/../../net.data", "'..'"),
    ("..\\net.data", "'..'"),
    ("/etc/passwd", "absolute"),
    ("C:\\weights\\net.data", "absolute"),
    ("missing.data", "not a file"),
])
def test_locations_that_leave_the_folder_are_refused(tmp_path, location, why):
    path = with_external_data(tmp_path)
    set_location(path, location)
    with pytest.raises(FlopscopeError, match=why):
        check_external_data(_load(path), path)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links")
def test_symlink_escaping_the_folder_is_refused(tmp_path):
    outside = tmp_path / "outside"
    model_dir = tmp_path / "model"
    outside.mkdir()
    model_dir.mkdir()
    path = with_external_data(outside)                      # writes outside/net.data
    os.replace(path, model_dir / "ext.onnx")
    os.symlink(outside / "net.data", model_dir / "net.data")
    with pytest.raises(FlopscopeError, match="symbolic link"):
        check_external_data(_load(model_dir / "ext.onnx"), model_dir / "ext.onnx")
    with pytest.raises(FlopscopeError, match="symbolic link"):        # and before any session
        bench(model_dir / "ext.onnx", iterations=1)


def test_symlink_inside_the_folder_is_fine(tmp_path):
    path = with_external_data(tmp_path)
    os.rename(tmp_path / "net.data", tmp_path / "real.data")
    os.symlink(tmp_path / "real.data", tmp_path / "net.data")
    assert check_external_data(_load(path), path) == [(tmp_path / "real.data").resolve()]


def test_models_without_external_data_pass(tmp_path):
    from tests.latency.nets import conv_bn_relu
    path = conv_bn_relu(tmp_path)
    assert external_locations(_load(path)) == []
    assert check_external_data(_load(path), path) == []
