"""Shared fixtures: the ONNX model-zoo models that ship inside the onnx wheel."""

from __future__ import annotations

import glob
import os

import pytest


def _light_dir() -> str:
    import onnx

    return os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")


#: the light zoo models (weights made by ConstantOfShape, opset 9), by short name
LIGHT_MODELS = {
    os.path.basename(p)[len("light_"):-len(".onnx")]: p
    for p in sorted(glob.glob(os.path.join(_light_dir(), "light_*.onnx")))
}


@pytest.fixture
def light_model():
    """``light_model("resnet50")`` -> path of ``light_resnet50.onnx`` (skips if absent)."""

    def path(name: str) -> str:
        if name not in LIGHT_MODELS:
            pytest.skip(f"light_{name}.onnx is not in this onnx wheel")
        return LIGHT_MODELS[name]

    return path


_NONE = [pytest.param(None, marks=pytest.mark.skip(reason="no light models in this onnx wheel"))]


@pytest.fixture(params=sorted(LIGHT_MODELS) or _NONE)
def zoo_model(request) -> str:
    """Each light zoo model's path in turn."""
    return LIGHT_MODELS[request.param]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite golden files (tests/**/golden/) from the code instead of "
                          "comparing against them")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    """True when pytest runs with ``--update-golden``: golden tests rewrite their file."""
    return bool(request.config.getoption("--update-golden"))
