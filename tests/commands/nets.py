"""Tiny models for the gate tests: a chain of 3x3 convs (ONNX, built with onnx.helper) and
a PyTorch ``file.py:factory`` written to a temporary folder."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

#: channels of the base conv chain; "widened" doubles conv1's output channels
BASE = (8, 8, 4)
WIDENED = (8, 16, 4)


def conv_net(path: str | os.PathLike[str], widths: Sequence[int] = BASE, *, cin: int = 3, hw: int = 16,
             custom_op: str | None = None, name: str | None = None) -> str:
    """Write a chain Conv(3x3, pad 1) -> Relu per width, named ``/convI/Conv`` (module
    ``convI``); ``custom_op`` appends a node of a made-up domain that has no cost rule."""
    nodes, inits, prev, c = [], [], "x", cin
    for i, w in enumerate(widths):
        weight = numpy_helper.from_array(np.zeros((w, c, 3, 3), np.float32), f"conv{i}.weight")
        bias = numpy_helper.from_array(np.zeros((w,), np.float32), f"conv{i}.bias")
        inits += [weight, bias]
        nodes.append(helper.make_node("Conv", [prev, weight.name, bias.name], [f"c{i}"],
                                      name=f"/conv{i}/Conv", pads=[1, 1, 1, 1], kernel_shape=[3, 3]))
        nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"], name=f"/relu{i}/Relu"))
        prev, c = f"r{i}", w
    opsets = [helper.make_opsetid("", 17)]
    if custom_op:
        nodes.append(helper.make_node(custom_op, [prev], ["y"], name="/custom/Op", domain="com.example"))
        opsets.append(helper.make_opsetid("com.example", 1))
    else:
        nodes.append(helper.make_node("Identity", [prev], ["y"], name="/out/Identity"))
    graph = helper.make_graph(nodes, name or "net",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, cin, hw, hw])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(graph, opset_imports=opsets), os.fspath(path))
    return os.fspath(path)


def torch_factory(path: str | os.PathLike[str], body_width: int = 8) -> str:
    """Write a PyTorch file with ``make()`` returning stem -> body -> head convs; returns the
    ``file.py:make`` spec."""
    source = f"""
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.stem = nn.Conv2d(3, 8, 3, padding=1)
                self.body = nn.Conv2d(8, {body_width}, 3, padding=1)
                self.head = nn.Conv2d({body_width}, 4, 1)

            def forward(self, x):
                return self.head(self.body(self.stem(x).relu()).relu())


        def make():
            return Net()
    """
    with open(path, "w", encoding="utf-8") as f:
        f.write(textwrap.dedent(source))
    return f"{os.fspath(path)}:make"
