"""Fold shape arithmetic that ONNX shape inference cannot see through.

Exporters compute split points, reshape targets and slice bounds at run time:
``Shape -> Gather -> Add -> Div -> Mul -> Slice`` (``x.chunk(2, dim=1)`` through the
TorchScript exporter). ONNX's data propagation follows some of these ops but not all
(``Div`` stops it), and every layer after the first unknown shape would go uncounted.

:func:`fold` evaluates such small integer computations with numpy, once the shapes they
read are known, and replaces each folded node in the inference copy by a ``Constant``
with its value; inference then runs again. Ops beyond that integer arithmetic run on the
onnx package's reference implementation. Only the copy used for inference changes:
the folded nodes stay in the analysed graph as the (free) shape plumbing they are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from onnx import GraphProto, NodeProto, helper, numpy_helper

from flopscope.frontends.ortops import MARK

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


#: ops never evaluated: random, control flow, sequences (values not reproducible or not tensors)
_NEVER = frozenset({"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
                    "Multinomial", "Bernoulli", "If", "Loop", "Scan", "SequenceConstruct",
                    "SequenceEmpty", "SequenceInsert", "SequenceAt", "SequenceErase",
                    "SequenceLength", "SplitToSequence", "ConcatFromSequence", "Optional",
                    "OptionalHasElement", "OptionalGetElement", "Constant"})

#: prefix of the Constants added for a folded node's second and later outputs (the ONNX
#: frontend skips nodes so named when it walks the inference copy)
EXTRA = MARK


def _reference(node: NodeProto, args: list[Any], opset: int) -> tuple[np.ndarray, ...] | None:
    """Every output of ``node`` from the onnx package's reference implementation of its op
    (it covers every standard op), or None when it has none or fails."""
    from onnx.reference import ReferenceEvaluator
    from onnx.reference.ops import load_op

    try:
        cls = load_op("", node.op_type, opset or None)
        op = cls(node, {"log": lambda *a: None, "opsets": {"": opset}, "verbose": 0,
                        "new_ops": None, "existing_functions": {},
                        "evaluator_cls": ReferenceEvaluator})
        result = op.run(*args)
    except Exception:       # an op it lacks, an input it refuses: leave it to run time
        return None
    outputs = result if isinstance(result, tuple) else (result,)
    return tuple(np.asarray(o) for o in outputs)


def fold(graph: GraphProto, shapes: Mapping[str, tuple[int, ...]],
         values: dict[str, np.ndarray], opset: int = 0) -> int:
    """Replace the foldable nodes of ``graph`` (in place) by Constants; return how many.

    ``shapes`` holds the static shapes inference found, ``values`` the known constant
    tensors (it is extended with every folded output). The integer ops exporters use for
    shape arithmetic run on numpy here; every other standard op (``Split``, ``Tile``...)
    on the onnx package's reference implementation, at the model's ``opset``. A node
    with several outputs becomes one Constant per output (the extra ones named
    :data:`EXTRA`...).
    """
    folded = 0
    index = 0
    while index < len(graph.node):
        node = graph.node[index]
        index += 1
        if node.domain not in ("", "ai.onnx") or not node.output or node.op_type in _NEVER \
                or node.name.startswith(EXTRA):
            continue
        if all(not o or o in values for o in node.output):
            continue
        results: tuple[Any, ...] | None = None
        try:
            if len(node.output) != 1:
                results = None
            elif node.op_type == "Shape" and node.input[0] in shapes:
                results = (_shape_of(node, shapes[node.input[0]]),)
            elif node.op_type == "Size" and node.input[0] in shapes:
                results = (np.array(int(np.prod(shapes[node.input[0]])), dtype=np.int64),)
            elif node.op_type in _OPS and node.input and all(not n or n in values for n in node.input):
                args = [values[n] if n else None for n in node.input]
                while args and args[-1] is None:
                    args.pop()
                results = (np.asarray(_OPS[node.op_type](node, *args)),)
        except (ValueError, TypeError, IndexError, ZeroDivisionError, StopIteration, OverflowError,
                MemoryError, FloatingPointError):
            results = None
        if results is None and node.op_type not in _OPS and node.input \
                and all(not n or n in values for n in node.input) \
                and not any(a.type in (a.GRAPH, a.GRAPHS) for a in node.attribute):
            results = _reference(node, [values[n] if n else None for n in node.input], opset)
        if results is None or len(results) < len([o for o in node.output if o]) or any(
                r.size > MAX_ELEMENTS or r.dtype == object for r in results):
            continue
        made = []
        for k, (out, result) in enumerate(zip(node.output, results)):
            if not out:
                continue
            values[out] = result
            made.append(helper.make_node("Constant", [], [out], name=node.name if k == 0 else f"{EXTRA}{out}",
                                         value=numpy_helper.from_array(result, out)))
        graph.node[index - 1].CopyFrom(made[0])
        for extra in made[1:]:
            graph.node.insert(index, extra)
            index += 1
        folded += 1
    return folded
