"""Parameters of deployed ONNX files: quantised weights, their scales, stored copies.

A quantised file holds the same logical weights as its float source, in other storage:
int8 matrices (MatMulInteger, QGemm), 4-bit blocks packed two to a byte (MatMulNBits,
GatherBlockQuantized), uint8 embedding tables read by Gather and dequantised after it.
They count at their logical element count (MatMulNBits: N x K), with their real storage
as weight memory (4-bit: half a byte each). The scales and zero points that go with them
are quantisation metadata, not weights of the model: they are kept apart, as buffers
(counted in ``buffers`` and ``buffer_bytes``, not in ``params``).

The ONNX frontend asks :func:`role` for every constant input of every node.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from math import prod
from typing import Any

from flopscope.graph import Node, Param, Tensor

MS = "com.microsoft."

#: op -> (indices of integer weights, indices of scales and zero points)
QUANTISED: Mapping[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "ConvInteger": ((1,), (2, 3)),
    "QLinearConv": ((3, 8), (1, 2, 4, 5, 6, 7)),
    "MatMulInteger": ((0, 1), (2, 3)),
    "QLinearMatMul": ((0, 3), (1, 2, 4, 5, 6, 7)),
    "DequantizeLinear": ((0,), (1, 2)),
    "QuantizeLinear": ((), (1, 2)),
    MS + "DequantizeLinear": ((0,), (1, 2)),
    MS + "QuantizeLinear": ((), (1, 2)),
    MS + "QGemm": ((3, 6), (1, 2, 4, 5, 7, 8)),
    MS + "QLinearConv": ((3, 8), (1, 2, 4, 5, 6, 7)),
    MS + "MatMulNBits": ((1,), (2, 3)),
    MS + "MatMulBnb4": ((1,), (2,)),
    MS + "GatherBlockQuantized": ((0,), (2, 3)),
    MS + "MatMulIntegerToFloat": ((1,), (2, 3, 4, 5)),
    MS + "DynamicQuantizeMatMul": ((1,), (2, 3)),
    MS + "QAttention": ((1,), (3, 4, 6, 7)),
    MS + "QLinearAdd": ((0, 3), (1, 2, 4, 5, 6, 7)),
    MS + "QLinearMul": ((0, 3), (1, 2, 4, 5, 6, 7)),
    MS + "QLinearSigmoid": ((), (1, 2, 3, 4)),
    MS + "QLinearLeakyRelu": ((), (1, 2, 3, 4)),
    MS + "QLinearSoftmax": ((), (1, 2, 3, 4)),
    MS + "QLinearGlobalAveragePool": ((), (1, 2, 3, 4)),
    MS + "QLinearAveragePool": ((), (1, 2, 3, 4)),
    MS + "QLinearReduceMean": ((), (1, 2, 3, 4)),
}

#: integer element types a quantiser stores weights in (int64 and int32 tables are indices)
_QUANTISED_DTYPES = frozenset({"int8", "uint8", "int4", "uint4", "int2", "uint2", "int16", "uint16"})

_PACKED_DTYPE = {2: "uint2", 4: "uint4", 8: "uint8"}


def _logical_nbits(node: Node, shape: tuple[int, ...], dtype: str) -> tuple[tuple[int, ...], str]:
    """MatMulNBits / MatMulBnb4: packed blocks -> the logical N x K weight of ``bits`` each."""
    k, n = node.attr("K", 0), node.attr("N", 0)
    bits = node.attr("bits", 4) if node.op == "MatMulNBits" else 4
    if k and n and bits in _PACKED_DTYPE:
        return (n, k), _PACKED_DTYPE[bits]
    return shape, dtype


def _logical_gather(node: Node, shape: tuple[int, ...], dtype: str) -> tuple[tuple[int, ...], str]:
    """GatherBlockQuantized: a uint8 table packs 8/bits values per byte along its last axis."""
    bits = node.attr("bits", 4)
    if dtype == "uint8" and bits in (2, 4) and shape:
        return (*shape[:-1], shape[-1] * (8 // bits)), _PACKED_DTYPE[bits]
    return shape, dtype


_LOGICAL: Mapping[str, Callable[[Node, tuple[int, ...], str], tuple[tuple[int, ...], str]]] = {
    MS + "MatMulNBits": _logical_nbits,
    MS + "MatMulBnb4": _logical_nbits,
    MS + "GatherBlockQuantized": _logical_gather,
}


def _scale_of_dynamic_input(nodes: Iterable[Node]) -> set[str]:
    """Outputs 1 (the scale) of DynamicQuantizeLinear: a Mul of one of them by a constant
    is the dynamic quantiser's combined scale, and the constant the weight's scale."""
    return {n.outputs[1].name for n in nodes if n.op == "DynamicQuantizeLinear" and not n.domain
            and len(n.outputs) > 1 and n.outputs[1] is not None}


def parameters(nodes: list[Node], meta: Mapping[str, tuple[tuple[int, ...], str]],
               consumed: set[str], aliases: Mapping[str, str],
               float_dtypes: frozenset[str]) -> dict[str, Param]:
    """Every constant that counts as a parameter or, for quantisation metadata, a buffer.

    Float constants the graph uses are parameters; so are quantised integer weights (at
    their logical shape) and integer tables read by Gather. Scales and zero points of
    quantised ops are buffers.

    >>> from flopscope.graph import Node, Tensor
    >>> b = Tensor("b", (24, 2, 8), "uint8")
    >>> mm = Node("mm", "MatMulNBits", (Tensor("a", (1, 32), "float32"), b), (), domain="com.microsoft",
    ...           attrs={"K": 32, "N": 24, "bits": 4})
    >>> parameters([mm], {"b": ((24, 2, 8), "uint8")}, {"b"}, {}, frozenset({"float32"}))["b"]
    Param(name='b', shape=(24, 32), dtype='uint4', trainable=None, buffer=False)
    """
    weights: dict[str, tuple[tuple[int, ...], str]] = {}
    metadata: set[str] = set()
    scales = _scale_of_dynamic_input(nodes)

    def constant(t: Tensor | None) -> str | None:
        name = t.name if t is not None else None
        return name if name is not None and name in meta and name not in aliases else None

    for node in nodes:
        op = node.qualified_op
        quantised = QUANTISED.get(op)
        if quantised is not None:
            held, meta_inputs = quantised
            for i in held:
                name = constant(node.inputs[i]) if i < len(node.inputs) else None
                if name is not None and name not in weights:
                    shape, dtype = meta[name]
                    logical = _LOGICAL.get(op)
                    weights[name] = logical(node, shape, dtype) if logical else (shape, dtype)
            for i in meta_inputs:
                name = constant(node.inputs[i]) if i < len(node.inputs) else None
                if name is not None:
                    metadata.add(name)
        elif op == "Gather" and node.inputs:       # a quantised embedding table
            name = constant(node.inputs[0])
            if name is not None and meta[name][1] in _QUANTISED_DTYPES:
                weights.setdefault(name, meta[name])
        elif op == "Mul" and scales and any(t is not None and t.name in scales for t in node.inputs):
            metadata.update(n for n in map(constant, node.inputs) if n is not None)

    params: dict[str, Param] = {}
    for name, (shape, dtype) in meta.items():
        if name in aliases or name not in consumed:
            continue
        if name in metadata and name not in weights:
            params[name] = Param(name, tuple(shape), dtype, buffer=True)
        elif name in weights:
            logical_shape, logical_dtype = weights[name]
            params[name] = Param(name, tuple(logical_shape), logical_dtype)
        elif dtype in float_dtypes:
            params[name] = Param(name, tuple(shape), dtype)
    for alias, root in aliases.items():
        if root in params:
            params[alias] = params[root]
    return params


#: copies smaller than this many elements are not worth a note (biases, norms)
DUPLICATE_MIN = 1024

#: element types compared for copies, with their numpy names
_COMPARABLE = {1: "float32", 10: "float16", 11: "float64", 16: "uint16"}   # bfloat16 as bits


def duplicates(initializers: Iterable[Any], params: Mapping[str, Param]) -> tuple[list[str], set[str]]:
    """Matrices stored twice: equal payloads, or one the transpose of the other (a tied
    embedding written once as the lookup table and once as the output projection).
    Returns a note for each and the names of the copies: a copy is one parameter of the
    model, so it counts once; its storage is real, so it stays in memory as a buffer.

    Only 2-D float payloads already in memory are compared (external data and the
    payloads a large file is read without are never read), pairs of one shape or of
    swapped shapes only; tensors of one repeated value (zero-initialised) are no copies.
    """
    by_shape: dict[tuple[tuple[int, ...], int], list[Any]] = {}
    for t in initializers:
        if len(t.dims) == 2 and t.data_type in _COMPARABLE and t.name in params \
                and not params[t.name].buffer and prod(t.dims) >= DUPLICATE_MIN \
                and t.HasField("raw_data"):
            by_shape.setdefault((tuple(sorted(t.dims)), t.data_type), []).append(t)
    candidates = [group for group in by_shape.values() if len(group) > 1]
    if not candidates:
        return [], set()
    import numpy as np

    notes: list[str] = []
    copies: set[str] = set()
    for group in candidates:
        arrays = []
        for t in group:
            a = np.frombuffer(t.raw_data, dtype=_COMPARABLE[t.data_type])
            if a.size == prod(t.dims) and not (a == a[0]).all():
                arrays.append((t.name, a.reshape(tuple(t.dims))))
        for i, (a_name, a) in enumerate(arrays):
            if a_name in copies:
                continue
            for b_name, b in arrays[i + 1:]:
                if b_name in copies:
                    continue
                if a.shape == b.shape and np.array_equal(a, b):
                    how = "a copy"
                elif a.shape == b.shape[::-1] and np.array_equal(a.T, b):
                    how = "a transposed copy"
                else:
                    continue
                copies.add(b_name)
                notes.append(f"weight '{b_name}' is {how} of '{a_name}' (a tied weight stored "
                             f"twice): counted once as a parameter, its storage as a buffer")
    return notes, copies
