"""Fold shape arithmetic that ONNX shape inference cannot see through.

Exporters compute split points, reshape targets and slice bounds at run time:
``Shape -> Gather -> Add -> Div -> Mul -> Slice`` (``x.chunk(2, dim=1)`` through the
TorchScript exporter). ONNX's data propagation follows some of these ops but not all
(``Div`` stops it), and every layer after the first unknown shape would go uncounted.

:func:`fold` evaluates such small integer computations with numpy, once the shapes they
read are known, and replaces each folded node in the inference copy by a ``Constant``
with its value; inference then runs again. Only the copy used for inference changes:
the folded nodes stay in the analysed graph as the (free) shape plumbing they are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from onnx import GraphProto, NodeProto, helper, numpy_helper

#: folded values larger than this many elements are left to run time
MAX_ELEMENTS = 1024


def _axis(node: NodeProto, default: int = 0) -> int:
    for a in node.attribute:
        if a.name == "axis":
            return a.i
    return default


def _ints(node: NodeProto, name: str) -> list[int] | None:
    for a in node.attribute:
        if a.name == name:
            return list(a.ints)
    return None


def _slice(node: NodeProto, x: np.ndarray, *rest: np.ndarray) -> np.ndarray:
    if rest:
        starts, ends = rest[0], rest[1]
        axes = rest[2] if len(rest) > 2 and rest[2] is not None else np.arange(len(starts))
        steps = rest[3] if len(rest) > 3 and rest[3] is not None else np.ones(len(starts), np.int64)
    else:  # Slice-1: attributes
        starts, ends = np.array(_ints(node, "starts")), np.array(_ints(node, "ends"))
        axes = np.array(_ints(node, "axes") or range(len(starts)))
        steps = np.ones(len(starts), np.int64)
    index = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        index[int(a)] = slice(int(s), int(e), int(st))
    return x[tuple(index)]


def _unsqueeze(node: NodeProto, x: np.ndarray, axes: np.ndarray | None = None) -> np.ndarray:
    axes_list = [int(a) for a in (axes if axes is not None else _ints(node, "axes") or [])]
    rank = x.ndim + len(axes_list)
    for a in sorted(a + rank if a < 0 else a for a in axes_list):
        x = np.expand_dims(x, a)
    return x


def _squeeze(node: NodeProto, x: np.ndarray, axes: np.ndarray | None = None) -> np.ndarray:
    axes_list = axes if axes is not None else _ints(node, "axes")
    return np.squeeze(x, axis=tuple(int(a) for a in axes_list)) if axes_list is not None else np.squeeze(x)


def _div(node: NodeProto, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if np.issubdtype(a.dtype, np.integer):   # ONNX integer division truncates toward zero
        return (np.trunc(a / b)).astype(a.dtype)
    return a / b


def _cast(node: NodeProto, x: np.ndarray) -> np.ndarray:
    to = next(a.i for a in node.attribute if a.name == "to")
    return x.astype(helper.tensor_dtype_to_np_dtype(to))


def _range(node: NodeProto, start: np.ndarray, limit: np.ndarray, delta: np.ndarray) -> np.ndarray:
    return np.arange(start, limit, delta, dtype=start.dtype)


def _constant_of_shape(node: NodeProto, shape: np.ndarray) -> np.ndarray:
    value = next((numpy_helper.to_array(a.t) for a in node.attribute if a.name == "value"),
                 np.zeros(1, np.float32))
    return np.full(tuple(int(d) for d in shape), value.reshape(-1)[0], dtype=value.dtype)


def _reduce(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    def reduce(node: NodeProto, x: np.ndarray, axes: np.ndarray | None = None) -> np.ndarray:
        keep = next((a.i for a in node.attribute if a.name == "keepdims"), 1)
        chosen = axes if axes is not None else _ints(node, "axes")
        axis = tuple(int(a) for a in chosen) if chosen is not None and len(chosen) else None
        return fn(x, axis=axis, keepdims=bool(keep))
    return reduce


#: numpy implementations of the integer ops exporters use for shape arithmetic
_OPS: dict[str, Callable[..., np.ndarray]] = {
    "Gather": lambda n, x, i: np.take(x, i, axis=_axis(n)),
    "Concat": lambda n, *xs: np.concatenate(xs, axis=_axis(n)),
    "Slice": _slice,
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Add": lambda n, a, b: a + b,
    "Sub": lambda n, a, b: a - b,
    "Mul": lambda n, a, b: a * b,
    "Div": _div,
    "Mod": lambda n, a, b: np.fmod(a, b) if any(x.i for x in n.attribute if x.name == "fmod")
    else np.mod(a, b),
    "Neg": lambda n, x: -x,
    "Abs": lambda n, x: np.abs(x),
    "Floor": lambda n, x: np.floor(x),
    "Ceil": lambda n, x: np.ceil(x),
    "Sqrt": lambda n, x: np.sqrt(x),
    "Max": lambda n, *xs: np.maximum.reduce(np.broadcast_arrays(*xs)),
    "Min": lambda n, *xs: np.minimum.reduce(np.broadcast_arrays(*xs)),
    "Equal": lambda n, a, b: np.equal(a, b),
    "Less": lambda n, a, b: np.less(a, b),
    "Greater": lambda n, a, b: np.greater(a, b),
    "Not": lambda n, x: np.logical_not(x),
    "Where": lambda n, c, a, b: np.where(c, a, b),
    "Cast": _cast,
    "Identity": lambda n, x: x,
    "Range": _range,
    "Reshape": lambda n, x, s: x.reshape(tuple(int(d) if d != 0 else x.shape[i]
                                               for i, d in enumerate(s))),
    "ConstantOfShape": _constant_of_shape,
    "Expand": lambda n, x, s: np.broadcast_to(x, np.broadcast_shapes(x.shape, tuple(int(d) for d in s))),
    "ReduceProd": _reduce(np.prod),
    "ReduceSum": _reduce(np.sum),
    "ReduceMax": _reduce(np.max),
    "ReduceMin": _reduce(np.min),
}


def _shape_of(node: NodeProto, shape: tuple[int, ...]) -> np.ndarray:
    start = next((a.i for a in node.attribute if a.name == "start"), 0)
    end = next((a.i for a in node.attribute if a.name == "end"), None)
    return np.array(shape[start:end], dtype=np.int64)


def fold(graph: GraphProto, shapes: Mapping[str, tuple[int, ...]],
         values: dict[str, np.ndarray]) -> int:
    """Replace the foldable nodes of ``graph`` (in place) by Constants; return how many.

    ``shapes`` holds the static shapes inference found, ``values`` the known constant
    tensors (it is extended with every folded output).
    """
    folded = 0
    for index, node in enumerate(graph.node):
        if node.domain not in ("", "ai.onnx") or len(node.output) != 1 or node.op_type == "Constant":
            continue
        out = node.output[0]
        if out in values:
            continue
        result: Any = None
        try:
            if node.op_type == "Shape" and node.input[0] in shapes:
                result = _shape_of(node, shapes[node.input[0]])
            elif node.op_type == "Size" and node.input[0] in shapes:
                result = np.array(int(np.prod(shapes[node.input[0]])), dtype=np.int64)
            elif node.op_type in _OPS and node.input and all(not n or n in values for n in node.input):
                args = [values[n] if n else None for n in node.input]
                while args and args[-1] is None:
                    args.pop()
                result = np.asarray(_OPS[node.op_type](node, *args))
        except (ValueError, TypeError, IndexError, ZeroDivisionError, StopIteration, OverflowError,
                MemoryError, FloatingPointError):
            result = None
        if result is None or result.size > MAX_ELEMENTS or result.dtype == object:
            continue
        values[out] = result
        constant = helper.make_node("Constant", [], [out], name=node.name,
                                    value=numpy_helper.from_array(result, out))
        graph.node[index].CopyFrom(constant)
        folded += 1
    return folded
