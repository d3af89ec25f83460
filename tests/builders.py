"""Tiny ONNX models for the rule tests: one node (or a few), concrete shapes, opset explicit.

``single_node("Conv", {"x": (1, 3, 8, 8), "w": np.ones((4, 3, 3, 3), np.float32)}, ["y"])``
builds a model whose graph inputs are the shaped entries and whose initializers are the
array entries; outputs get no declared shape, so ONNX shape inference fills them in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from flopscope.analysis import analyze
from flopscope.report import Layer, Report

F32, I64, BOOL = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL

#: an input spec: a shape (graph input, float32), (shape, elem_type), an array
#: (initializer), or None (an omitted optional input, written as "")
InputSpec = Any


def weight(*shape: int, value: float = 0.5) -> np.ndarray:
    """A float32 initializer of ``shape``."""
    return np.full(shape, value, dtype=np.float32)


def ints(*values: int) -> np.ndarray:
    """An int64 1-D initializer (axes, pads, shapes, ``k``...)."""
    return np.array(values, dtype=np.int64)


def model_of(nodes: Sequence[onnx.NodeProto], inputs: Mapping[str, InputSpec],
             outputs: Sequence[str], opset: int = 17) -> onnx.ModelProto:
    """A model of ``nodes`` with ``inputs`` (see :data:`InputSpec`) and unshaped ``outputs``."""
    graph_inputs, inits = [], []
    for name, spec in inputs.items():
        if spec is None:
            continue
        if isinstance(spec, np.ndarray):
            inits.append(numpy_helper.from_array(spec, name))
        elif len(spec) == 2 and isinstance(spec[0], (tuple, list)):
            graph_inputs.append(helper.make_tensor_value_info(name, spec[1], list(spec[0])))
        else:
            graph_inputs.append(helper.make_tensor_value_info(name, F32, list(spec)))
    graph = helper.make_graph(
        list(nodes), "g", graph_inputs,
        [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None) for o in outputs],
        initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def single_node(op: str, inputs: Mapping[str, InputSpec], outputs: Sequence[str] = ("y",),
                attrs: Mapping[str, Any] | None = None, opset: int = 17,
                domain: str = "") -> onnx.ModelProto:
    """A one-node model: ``op`` applied to ``inputs`` (in order; ``None`` = omitted)."""
    node = helper.make_node(op, [n if s is not None else "" for n, s in inputs.items()],
                            list(outputs), name=op, domain=domain or None, **dict(attrs or {}))
    model = model_of([node], inputs, outputs, opset)
    if domain:
        model.opset_import.append(helper.make_opsetid(domain, 1))
    return model


def run(op: str, inputs: Mapping[str, InputSpec], outputs: Sequence[str] = ("y",),
        attrs: Mapping[str, Any] | None = None, opset: int = 17, **analyze_kwargs: Any) -> Report:
    """Analyse :func:`single_node` ``(op, ...)``."""
    return analyze(single_node(op, inputs, outputs, attrs, opset), **analyze_kwargs)


def layer(report: Report, op: str) -> Layer:
    """The one layer of ``op`` in ``report`` (fails when there are none or several)."""
    found = [l for l in report.layers if l.op == op]
    assert len(found) == 1, f"expected one {op} layer, found {[l.op for l in report.layers]}"
    return found[0]


def cost(op: str, inputs: Mapping[str, InputSpec], outputs: Sequence[str] = ("y",),
         attrs: Mapping[str, Any] | None = None, opset: int = 17, **analyze_kwargs: Any) -> Layer:
    """The costed layer of a one-node model (asserts it was costed)."""
    row = layer(run(op, inputs, outputs, attrs, opset, **analyze_kwargs), op)
    assert row.status == "ok", f"{op}: {row.status} ({row.reason})"
    return row


def set_location(path: Path, location: str) -> None:
    """Rewrite every external-data location of the model at ``path`` (data file left alone)."""
    model = onnx.load(str(path), load_external_data=False)
    for t in model.graph.initializer:
        for entry in t.external_data:
            if entry.key == "location":
                entry.value = location
    onnx.save(model, str(path))
