"""Golden outputs of the default text view (flopscope/render/text.py): totals and coverage
first, then the module tree, no plumbing rows. Rewrite them on purpose with
``pytest tests/render/test_golden.py --update-golden`` and read the diff."""

from __future__ import annotations

import os

import pytest

from flopscope.analysis import analyze
from flopscope.render import render
from tests.render.nets import TINYNET, transformer_block

GOLDEN = os.path.join(os.path.dirname(__file__), "golden")


def _models():
    return {
        "resnet50": lambda: analyze("resnet50"),
        "transformer_block": lambda: analyze(transformer_block(), "1x16x64", name="transformer_block"),
        "tinynet_dynamo": lambda: analyze(TINYNET),
    }


@pytest.mark.parametrize("name", sorted(_models()))
def test_default_text_view(name, update_golden):
    text = render(_models()[name](), "text")
    path = os.path.join(GOLDEN, f"{name}.txt")
    if update_golden:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    with open(path, encoding="utf-8") as f:
        assert text == f.read(), f"{path} differs; rerun with --update-golden and read the diff"


@pytest.mark.parametrize("name", sorted(_models()))
def test_golden_files_read_as_promised(name):
    """What the goldens pin: totals and coverage before the tree, and no plumbing rows."""
    with open(os.path.join(GOLDEN, f"{name}.txt"), encoding="utf-8") as f:
        text = f.read()
    assert text.index("MACs") < text.index("coverage: ") < text.index("module tree")
    tree = text.split("module tree", 1)[1].split("\n\n", 1)[0].splitlines()[3:]
    ops = {cell for row in tree for cell in row.split()}
    assert tree and not ops & {"Reshape", "Transpose", "Identity", "Shape", "Constant", "Split"}
