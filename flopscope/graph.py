"""The layer-graph IR that every frontend produces and every rule reads.

A :class:`LayerGraph` is a list of :class:`Node` in execution order. Nodes speak the
ONNX operator vocabulary (``Conv``, ``Gemm``, ``Relu``...), carry their attributes with
the ONNX defaults filled in, and point at :class:`Tensor` records (name, shape, dtype).
Shapes are tuples of ints once bound; a dimension that could not be resolved stays a
string (its symbolic name) and a shape that is not known at all is ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from math import prod
from typing import Any

Dim = int | str
Shape = tuple[Dim, ...]

#: Storage size in bits of each dtype name used in the IR.
DTYPE_BITS: dict[str, int] = {
    "float64": 64, "float32": 32, "float16": 16, "bfloat16": 16,
    "float8e4m3fn": 8, "float8e4m3fnuz": 8, "float8e5m2": 8, "float8e5m2fnuz": 8,
    "float8e8m0": 8, "float4e2m1": 4,
    "int64": 64, "int32": 32, "int16": 16, "int8": 8, "int4": 4, "int2": 2,
    "uint64": 64, "uint32": 32, "uint16": 16, "uint8": 8, "uint4": 4, "uint2": 2,
    "bool": 8, "complex64": 64, "complex128": 128,
}

#: the domain of flopscope's own ops, those the ONNX standard lacks (ai.flopscope.AdaptiveMaxPool)
FLOPSCOPE_DOMAIN = "ai.flopscope"

#: dtypes whose constant tensors count as parameters.
FLOAT_DTYPES = frozenset(
    name for name in DTYPE_BITS if name.startswith(("float", "bfloat", "complex"))
)


class ShapeUnknown(Exception):
    """Raised by a rule when a shape it needs was not inferred; the node is marked."""


class ValueUnknown(ShapeUnknown):
    """Raised by a rule when a constant input it needs (axes, ``k``...) is not known."""


class RuleError(Exception):
    """Raised by a rule when a node's shapes or attributes contradict the operator."""


def nbytes(shape: Shape | None, dtype: str) -> int | None:
    """Bytes that a tensor of ``shape`` and ``dtype`` occupies, or None if not static.

    >>> nbytes((1, 3, 224, 224), "float32")
    602112
    """
    dims = static_dims(shape)
    if dims is None or dtype not in DTYPE_BITS:
        return None
    return (prod(dims) * DTYPE_BITS[dtype] + 7) // 8


def static_dims(shape: Shape | None) -> tuple[int, ...] | None:
    """``shape`` when every dim is a known integer, else None.

    >>> static_dims((1, 3)), static_dims((1, "batch")), static_dims(None)
    ((1, 3), None, None)
    """
    if shape is None:
        return None
    dims = tuple(d for d in shape if type(d) is int)
    return dims if len(dims) == len(shape) else None


@dataclass(frozen=True, slots=True)
class Tensor:
    """A value flowing through the graph: an activation, an input or a weight.

    ``dims`` (the shape when every dim is a known integer, else None), ``static``,
    ``numel`` and ``nbytes`` are worked out once, when the record is made: reports of 100k
    layers read them several times each.

    >>> Tensor("x", (1, 3, 224, 224), "float32").nbytes
    602112
    """

    name: str
    shape: Shape | None
    dtype: str
    dims: tuple[int, ...] | None = field(init=False, repr=False, compare=False)
    static: bool = field(init=False, repr=False, compare=False)
    numel: int | None = field(init=False, repr=False, compare=False)
    nbytes: int | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        dims = static_dims(self.shape)
        numel = None if dims is None else prod(dims)
        size = None if numel is None or self.dtype not in DTYPE_BITS else (
            numel * DTYPE_BITS[self.dtype] + 7) // 8
        object.__setattr__(self, "dims", dims)
        object.__setattr__(self, "static", dims is not None)
        object.__setattr__(self, "numel", numel)
        object.__setattr__(self, "nbytes", size)


@dataclass(slots=True)
class Node:
    """One operator application, in ONNX vocabulary.

    ``weights`` holds the indices of inputs that are constant tensors (initializers,
    parameters, constants); ``values`` the contents of small constant inputs the
    frontend could resolve (axes, pads, ``k``...), flattened; ``opset`` the operator set
    version the node follows; ``repeat`` multiplies the node's cost (a loop body that
    runs ``repeat`` times); ``branch`` names the conditional branches enclosing the node.
    """

    name: str
    op: str
    inputs: tuple[Tensor | None, ...]
    outputs: tuple[Tensor | None, ...]
    attrs: Mapping[str, Any] = field(default_factory=dict)
    domain: str = ""
    module: str = ""
    weights: frozenset[int] = frozenset()
    values: Mapping[int, tuple[Any, ...]] = field(default_factory=dict)
    opset: int = 0
    repeat: int = 1
    branch: tuple[str, ...] = ()

    @property
    def qualified_op(self) -> str:
        """The op name with its domain when it is not the default ONNX domain."""
        if self.domain in ("", "ai.onnx"):
            return self.op
        return f"{self.domain}.{self.op}"

    def has_input(self, i: int) -> bool:
        """True when optional input ``i`` is present."""
        return i < len(self.inputs) and self.inputs[i] is not None

    def shape(self, i: int = 0) -> tuple[int, ...]:
        """The static shape of input ``i``; raises :class:`ShapeUnknown` otherwise."""
        return _static(self.inputs[i] if i < len(self.inputs) else None, self, "input", i)

    def out_shape(self, i: int = 0) -> tuple[int, ...]:
        """The static shape of output ``i``; raises :class:`ShapeUnknown` otherwise."""
        return _static(self.outputs[i] if i < len(self.outputs) else None, self, "output", i)

    def out_numel(self, i: int = 0) -> int:
        """Element count of output ``i`` (static shapes only)."""
        return prod(self.out_shape(i))

    def value(self, i: int) -> tuple[Any, ...]:
        """Contents of constant input ``i``; raises :class:`ValueUnknown` otherwise."""
        if i not in self.values:
            raise ValueUnknown(f"{self.op} '{self.name}': input {i} is not a known constant")
        return self.values[i]

    def attr(self, key: str, default: Any = None) -> Any:
        """Attribute ``key``, or ``default`` when the node does not carry it."""
        value = self.attrs.get(key)
        return default if value is None else value


def _static(tensor: Tensor | None, node: Node, kind: str, i: int) -> tuple[int, ...]:
    if tensor is None:
        raise ShapeUnknown(f"{node.op} '{node.name}': {kind} {i} is absent")
    if tensor.dims is None:
        raise ShapeUnknown(f"{node.op} '{node.name}': shape of {kind} '{tensor.name}' unknown")
    return tensor.dims


@dataclass(frozen=True, slots=True)
class Param:
    """A constant tensor that counts as a model parameter or buffer.

    ``trainable`` is None when the source cannot tell (ONNX). Buffers (BatchNorm
    running statistics in PyTorch) are reported separately from parameters.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    trainable: bool | None = None
    buffer: bool = False

    @property
    def numel(self) -> int:
        return prod(self.shape)

    @property
    def nbytes(self) -> int:
        return nbytes(self.shape, self.dtype) or 0


@dataclass
class LayerGraph:
    """A whole model: inputs, nodes in execution order, outputs and parameters.

    ``params`` maps tensor names to the constants that count as parameters (or buffers);
    ``constants`` names every constant tensor, parameters and integer constants alike:
    they are weights, not activations. ``notes`` records every
    assumption the frontend made (bound symbolic dims, one-iteration loops...).
    """

    name: str
    source: str
    inputs: list[Tensor]
    outputs: list[Tensor]
    nodes: list[Node]
    params: dict[str, Param] = field(default_factory=dict)
    #: names of every constant tensor (parameters, buffers, integer constants)
    constants: frozenset[str] = frozenset()
    notes: list[str] = field(default_factory=list)
    #: per If node, the branch names, so the cost step can pick the heavier branch
    alternatives: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: module path -> class name (``{"layer1.0": "Bottleneck"}``), where the source says it:
    #: the PyTorch modules that ran, or the class scopes of a dynamo-exported ONNX file
    modules: dict[str, str] = field(default_factory=dict)
    #: input name -> declared shape, for inputs the user gave other sizes than declared:
    #: a layer whose shapes then contradict its weights is the user's mismatch, an error
    resized_inputs: dict[str, tuple[Any, ...]] = field(default_factory=dict)
