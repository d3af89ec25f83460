"""ONNX Runtime's own operators, made visible to ONNX shape inference.

Files that ONNX Runtime's tools write (the transformer optimizer, session-optimised dumps,
quantisers, LLM builders) use operators that the ``onnx`` package has no schema for: the
``com.microsoft`` and ``com.microsoft.nchwc`` domains, and a few that ORT registers in the
default domain (``SimplifiedLayerNormalization``). ONNX shape inference stops at each of
them, and every tensor after the first one stays unknown.

:func:`stand_ins` rewrites such a node, in the copy of the model used for checking and
inference only, into standard operators with the same output shapes and dtypes:
``FusedConv`` becomes ``Conv``, ``MatMulNBits`` a ``MatMul`` with a weight of its logical
shape ``K x N``, ``SkipLayerNormalization`` an ``Identity`` (and a reduction for its
statistics outputs). ONNX's own inference then runs once over the whole graph, with its
data propagation through shape arithmetic intact. The analysed graph keeps the original
operators; rules cost them.

This is the judgement on ``onnxruntime.tools.symbolic_shape_infer``: it knows many of
these operators but not the fused and nchwc ones (``FusedConv``, ``FusedMatMul``, ``QGemm``,
``nchwc.Conv``), stops at the first unknown node, needs sympy and a full ``import onnx``,
and runs in Python over every node: seconds on a large graph. A stand-in per operator
keeps inference in C++ and in one pass.

Stand-in nodes are named with :data:`MARK` so that the walk over the inferred copy can
skip them.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flopscope.frontends.onnxcore import (
    AttributeProto,
    NodeProto,
    SchemaError,
    TensorProto,
    ValueInfoProto,
    schema_attributes,
    value_info,
)

#: prefix of every name a stand-in introduces (nodes, helper tensors, fake weights)
MARK = "flopscope.shape/"

MS = "com.microsoft"
NCHWC = "com.microsoft.nchwc"

#: ORT operators in the default domain that the onnx package does not know
#: (LayerNormalization before opset 17 is one too: ORT registers it as a contrib op;
#: the Memcpy ops are what a CUDA session dump adds between devices; the others are
#: experimental ops onnx dropped and ORT still runs)
ORT_DEFAULT_DOMAIN = frozenset({"SimplifiedLayerNormalization", "LayerNormalization",
                                "MemcpyFromHost", "MemcpyToHost", "Scale", "Affine",
                                "ImageScaler", "ScaledTanh", "ParametricSoftplus"})


@dataclass
class Rewrite:
    """What the stand-ins add to the inference copy besides their nodes."""

    #: fake graph inputs: name -> (elem type, shape)
    inputs: dict[str, tuple[int, tuple[int, ...]]] = field(default_factory=dict)
    #: small constants: name -> values (float32 when named ``MARK + "floats/..."``, else int64)
    constants: dict[str, tuple[float, ...] | tuple[int, ...]] = field(default_factory=dict)
    #: replaced nodes, by op
    replaced: dict[str, int] = field(default_factory=dict)


@dataclass
class _Ctx:
    node: NodeProto
    attrs: dict[str, Any]
    opset: int
    #: constant tensors: name -> (shape, elem type)
    meta: Mapping[str, tuple[tuple[int, ...], int]]
    rewrite: Rewrite
    out: list[NodeProto] = field(default_factory=list)
    count: int = 0

    def inp(self, i: int) -> str:
        return self.node.input[i] if i < len(self.node.input) else ""

    def outp(self, i: int) -> str:
        return self.node.output[i] if i < len(self.node.output) else ""

    def tmp(self) -> str:
        self.count += 1
        return f"{MARK}{self.node.output[0]}/{self.count}"

    def add(self, op: str, inputs: Sequence[str], output: str, **attrs: Any) -> str:
        """A standard ``op`` node at the model's opset. Attributes that opset's schema does
        not define are left out (ORT's nchwc MaxPool carries ceil_mode in an opset-9 file,
        where MaxPool has none and so always floors): the stand-in gives shapes only."""
        node = NodeProto(op_type=op, name=f"{MARK}{output}", output=[output])
        node.input.extend(inputs)
        try:
            known: frozenset[str] | None = schema_attributes(op, self.opset) if attrs else None
        except SchemaError:     # no such op at this opset: the checker says so, as before
            known = None
        for key, value in attrs.items():
            if known is None or key in known:
                node.attribute.append(_attribute(key, value))
        self.out.append(node)
        return output

    def ints(self, *values: int) -> str:
        name = f"{MARK}ints/" + "_".join(map(str, values))
        self.rewrite.constants[name] = tuple(values)
        return name

    def fake(self, shape: Sequence[int], elem: int = TensorProto.FLOAT) -> str:
        name = self.tmp()
        self.rewrite.inputs[name] = (elem, tuple(int(d) for d in shape))
        return name

    def const_shape(self, i: int) -> tuple[int, ...] | None:
        entry = self.meta.get(self.inp(i))
        return entry[0] if entry is not None else None

    def elem(self, i: int, default: int = TensorProto.FLOAT) -> int:
        entry = self.meta.get(self.inp(i))
        return entry[1] if entry is not None else default

    def reduce_last(self, x: str, output: str) -> str:
        """``output`` = ``x`` with its last dim reduced to 1 (a statistics output)."""
        if self.opset >= 18:
            return self.add("ReduceMean", [x, self.ints(-1)], output, keepdims=1)
        return self.add("ReduceMean", [x], output, axes=[-1], keepdims=1)

    def cast(self, x: str, output: str, elem: int) -> str:
        return self.add("Cast", [x], output, to=elem)

    def extra_outputs(self, *pairs: tuple[int, Callable[[str], str]]) -> None:
        for i, make in pairs:
            if self.outp(i):
                make(self.outp(i))


def _attribute(key: str, value: Any) -> AttributeProto:
    a = AttributeProto(name=key)
    if isinstance(value, bool | int):
        a.type, a.i = AttributeProto.INT, int(value)
    elif isinstance(value, float):
        a.type, a.f = AttributeProto.FLOAT, value
    elif isinstance(value, str):
        a.type, a.s = AttributeProto.STRING, value.encode()
    elif isinstance(value, (list, tuple)) and all(isinstance(v, int) for v in value):
        a.type = AttributeProto.INTS
        a.ints.extend(value)
    elif isinstance(value, (list, tuple)):
        a.type = AttributeProto.FLOATS
        a.floats.extend(float(v) for v in value)
    else:
        raise TypeError(f"attribute {key}={value!r}")
    return a


def _copy_attrs(ctx: _Ctx, keys: Iterable[str]) -> dict[str, Any]:
    return {k: ctx.attrs[k] for k in keys if k in ctx.attrs}


_CONV_ATTRS = ("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides")
_POOL_ATTRS = ("auto_pad", "kernel_shape", "pads", "strides", "dilations", "ceil_mode",
               "count_include_pad", "storage_order")


# --------------------------------------------------------------------------- stand-ins


def _identity(i: int = 0, *stats: int, skip_sum: int | None = None) -> Callable[[_Ctx], None]:
    """Output 0 has input ``i``'s shape; ``stats`` outputs are per-row statistics; output
    ``skip_sum`` (SkipLayerNormalization's input+skip+bias sum) has input ``i``'s shape."""
    def stand_in(ctx: _Ctx) -> None:
        ctx.add("Identity", [ctx.inp(i)], ctx.outp(0))
        for k in stats:
            if ctx.outp(k):
                ctx.reduce_last(ctx.inp(i), ctx.outp(k))
        if skip_sum is not None and ctx.outp(skip_sum):
            ctx.add("Identity", [ctx.inp(i)], ctx.outp(skip_sum))
    return stand_in


def _same_op(op: str, inputs: Sequence[int], keys: Sequence[str]) -> Callable[[_Ctx], None]:
    """The standard ``op`` on the node's ``inputs`` (absent ones dropped from the end)."""
    def stand_in(ctx: _Ctx) -> None:
        names = [ctx.inp(i) for i in inputs]
        while names and not names[-1]:
            names.pop()
        ctx.add(op, names, ctx.outp(0), **_copy_attrs(ctx, keys))
    return stand_in


def _cast_to(ctx: _Ctx, x: str, elem: int) -> None:
    ctx.cast(x, ctx.outp(0), elem)


def _reorder_input(ctx: _Ctx) -> None:
    if ctx.attrs.get("channels_last", 0):
        ctx.add("Transpose", [ctx.inp(0)], ctx.outp(0), perm=[0, 3, 1, 2])
    else:
        ctx.add("Identity", [ctx.inp(0)], ctx.outp(0))


def _reorder_output(ctx: _Ctx) -> None:
    if ctx.attrs.get("channels_last", 0):
        ctx.add("Transpose", [ctx.inp(0)], ctx.outp(0), perm=[0, 2, 3, 1])
    else:
        ctx.add("Identity", [ctx.inp(0)], ctx.outp(0))


def _nchwc_upsample(ctx: _Ctx) -> None:
    """Integer ``scales`` of the spatial dims: Resize with scales (1, 1, *scales)."""
    full = (1.0, 1.0, *(float(s) for s in ctx.attrs.get("scales", ())))
    name = f"{MARK}floats/" + "_".join(map(str, full))
    ctx.rewrite.constants[name] = full
    inputs = [ctx.inp(0), "", name] if ctx.opset >= 11 else [ctx.inp(0), name]
    ctx.add("Resize", inputs, ctx.outp(0))


def _gemm(a: int, b: int, c: int | None, float_unless: int | None = None) -> Callable[[_Ctx], None]:
    """Gemm on inputs ``a``, ``b`` (``c``); output float unless input ``float_unless`` is given."""
    def stand_in(ctx: _Ctx) -> None:
        names = [ctx.inp(a), ctx.inp(b)] + ([ctx.inp(c)] if c is not None and ctx.inp(c) else [])
        attrs = _copy_attrs(ctx, ("transA", "transB"))
        if float_unless is not None and not ctx.inp(float_unless):
            ctx.cast(ctx.add("Gemm", names, ctx.tmp(), **attrs), ctx.outp(0), TensorProto.FLOAT)
        else:
            ctx.add("Gemm", names, ctx.outp(0), **attrs)
    return stand_in


def _fused_matmul(ctx: _Ctx) -> None:
    ta, tb = ctx.attrs.get("transA", 0), ctx.attrs.get("transB", 0)
    if ctx.attrs.get("transBatchA", 0) or ctx.attrs.get("transBatchB", 0):
        return
    a, b = ctx.inp(0), ctx.inp(1)
    b_shape = ctx.const_shape(1)
    if not ta and not tb:
        ctx.add("MatMul", [a, b], ctx.outp(0))
    elif not ta and b_shape is not None and len(b_shape) >= 2:
        logical = (*b_shape[:-2], b_shape[-1], b_shape[-2])
        ctx.add("MatMul", [a, ctx.fake(logical, ctx.elem(1))], ctx.outp(0))
    else:   # both operands carry the same batch dims (attention's Q·Kᵀ)
        lhs, rhs = ("...ji" if ta else "...ij"), ("...kj" if tb else "...jk")
        ctx.add("Einsum", [a, b], ctx.outp(0), equation=f"{lhs},{rhs}->...ik")


def _nhwc_conv(ctx: _Ctx) -> None:
    """Channels-last Conv: X (N, H, W, C), W (M, kH, kW, C/group)."""
    w = ctx.const_shape(1)
    if w is None or len(w) != 4:
        return
    nchw = ctx.add("Transpose", [ctx.inp(0)], ctx.tmp(), perm=[0, 3, 1, 2])
    weight = ctx.fake((w[0], w[3], w[1], w[2]), ctx.elem(1))
    y = ctx.add("Conv", [nchw, weight], ctx.tmp(), **_copy_attrs(ctx, _CONV_ATTRS))
    ctx.add("Transpose", [y], ctx.outp(0), perm=[0, 2, 3, 1])


def _channels_last(op: str, x: int, rest: Sequence[int], keys: Sequence[str]) -> Callable[[_Ctx], None]:
    """The standard ``op`` on NHWC data (``channels_last``, or always when the op is Nhwc*):
    transposed to NCHW, run, and transposed back."""
    def stand_in(ctx: _Ctx) -> None:
        names = [ctx.inp(i) for i in rest]
        while names and not names[-1]:
            names.pop()
        attrs = _copy_attrs(ctx, keys)
        if ctx.node.op_type.startswith("Nhwc") or ctx.attrs.get("channels_last", 0):
            nchw = ctx.add("Transpose", [ctx.inp(x)], ctx.tmp(), perm=[0, 3, 1, 2])
            y = ctx.add(op, [nchw, *names], ctx.tmp(), **attrs)
            ctx.add("Transpose", [y], ctx.outp(0), perm=[0, 2, 3, 1])
        else:
            ctx.add(op, [ctx.inp(x), *names], ctx.outp(0), **attrs)
    return stand_in


def _matmul_kn(ctx: _Ctx) -> None:
    """MatMulNBits / MatMulBnb4: A (…, K) times a logical K x N weight."""
    k, n = ctx.attrs.get("K"), ctx.attrs.get("N")
    if not k or not n:
        return
    ctx.add("MatMul", [ctx.inp(0), ctx.fake((k, n))], ctx.outp(0))


def _matmul_to_float(scale: int | None) -> Callable[[_Ctx], None]:
    def stand_in(ctx: _Ctx) -> None:
        elem = ctx.elem(scale) if scale is not None else TensorProto.FLOAT
        ctx.cast(ctx.add("MatMul", [ctx.inp(0), ctx.inp(1)], ctx.tmp()), ctx.outp(0), elem)
    return stand_in


def _attention_projection(weight: int, quantised: bool) -> Callable[[_Ctx], None]:
    """Attention / QAttention / PackedAttention: out = input projected to the value size."""
    def stand_in(ctx: _Ctx) -> None:
        w = ctx.const_shape(weight)
        if w is None or len(w) != 2:
            return
        sizes = ctx.attrs.get("qkv_hidden_sizes")
        v_hidden = int(sizes[2]) if sizes else w[1] // 3
        projected = ctx.add("MatMul", [ctx.inp(0), ctx.fake((w[0], v_hidden))],
                            ctx.tmp() if quantised else ctx.outp(0))
        if quantised:
            ctx.cast(projected, ctx.outp(0), ctx.elem(3))
    return stand_in


def _heads_attention(heads_attr: str, kv_attr: str | None, packed_groups: int = 0,
                     past: tuple[int, int] = (3, 4), shared: bool = False) -> Callable[[_Ctx], None]:
    """MultiHeadAttention, GroupQueryAttention, SparseAttention, DecoderMaskedMultiHeadAttention.

    Output 0 has the query's shape (values have the queries' head size). Packed QKV (no
    key input): the query's last dim holds N + 2·kv heads, the output N of them.
    Present key/value: past (inputs ``past``, (B, kv, P, H)) concatenated with the new keys
    along the length, or the past buffer itself when the kernel ``shared`` it.
    """
    def stand_in(ctx: _Ctx) -> None:
        q = ctx.inp(0)
        n = int(ctx.attrs.get(heads_attr, 0) or 0)
        kv = int(ctx.attrs.get(kv_attr, 0) or 0) if kv_attr else n
        kv = kv or n
        split = None
        if ctx.inp(1):
            ctx.add("Identity", [q], ctx.outp(0))
        elif n and packed_groups:
            split = ctx.add("Reshape", [q, ctx.ints(0, 0, n + 2 * kv, -1)], ctx.tmp())
            first = ctx.add("Slice", [split, ctx.ints(0), ctx.ints(n), ctx.ints(2)], ctx.tmp())
            ctx.add("Reshape", [first, ctx.ints(0, 0, -1)], ctx.outp(0))
        else:
            return
        for out, old in ((1, past[0]), (2, past[1])):
            if not ctx.outp(out) or not ctx.inp(old):
                continue
            if shared:
                ctx.add("Identity", [ctx.inp(old)], ctx.outp(out))
                continue
            if split is not None:            # packed: keys are heads n..n+kv, values the rest
                start = n + (out - 1) * kv
                heads = ctx.add("Slice", [split, ctx.ints(start), ctx.ints(start + kv), ctx.ints(2)],
                                ctx.tmp())
            elif ctx.inp(out) and kv:
                heads = ctx.add("Reshape", [ctx.inp(out), ctx.ints(0, 0, kv, -1)], ctx.tmp())
            else:
                continue
            bnsh = ctx.add("Transpose", [heads], ctx.tmp(), perm=[0, 2, 1, 3])
            ctx.add("Concat", [ctx.inp(old), bnsh], ctx.outp(out), axis=2)
    return stand_in


def _embed_layer_norm(ctx: _Ctx) -> None:
    ctx.add("Gather", [ctx.inp(2), ctx.inp(0)], ctx.outp(0))
    if ctx.outp(1):
        if ctx.opset >= 18:
            reduced = ctx.add("ReduceMax", [ctx.inp(0), ctx.ints(1)], ctx.tmp(), keepdims=0)
        else:
            reduced = ctx.add("ReduceMax", [ctx.inp(0)], ctx.tmp(), axes=[1], keepdims=0)
        ctx.cast(reduced, ctx.outp(1), TensorProto.INT32)
    if ctx.outp(2):
        ctx.add("Identity", [ctx.outp(0)], ctx.outp(2))


def _bias_split_gelu(ctx: _Ctx) -> None:
    halves = ctx.add("Reshape", [ctx.inp(0), ctx.ints(0, 0, 2, -1)], ctx.tmp())
    first = ctx.add("Slice", [halves, ctx.ints(0), ctx.ints(1), ctx.ints(2)], ctx.tmp())
    ctx.add("Reshape", [first, ctx.ints(0, 0, -1)], ctx.outp(0))


def _gather_block_quantized(ctx: _Ctx) -> None:
    data = ctx.const_shape(0)
    if data is None or not data:
        return
    bits = int(ctx.attrs.get("bits", 4))
    packed = ctx.elem(0) == TensorProto.UINT8 and bits < 8
    logical = (*data[:-1], data[-1] * (8 // bits)) if packed else data
    gathered = ctx.add("Gather", [ctx.fake(logical), ctx.inp(1)], ctx.tmp(),
                       axis=int(ctx.attrs.get("gather_axis", 0)))
    ctx.cast(gathered, ctx.outp(0), ctx.elem(2))


def _qlinear_binary(op: str) -> Callable[[_Ctx], None]:
    def stand_in(ctx: _Ctx) -> None:
        ctx.add(op, [ctx.inp(0), ctx.inp(3)], ctx.outp(0))
    return stand_in


def _qlinear_concat(ctx: _Ctx) -> None:
    ctx.add("Concat", list(ctx.node.input[2::3]), ctx.outp(0), axis=int(ctx.attrs.get("axis", 0)))


def _qlinear_global_pool(ctx: _Ctx) -> None:
    if ctx.attrs.get("channels_last", 0):
        nchw = ctx.add("Transpose", [ctx.inp(0)], ctx.tmp(), perm=[0, 3, 1, 2])
        pooled = ctx.add("GlobalAveragePool", [nchw], ctx.tmp())
        ctx.add("Transpose", [pooled], ctx.outp(0), perm=[0, 2, 3, 1])
    else:
        ctx.add("GlobalAveragePool", [ctx.inp(0)], ctx.outp(0))


def _qlinear_reduce_mean(ctx: _Ctx) -> None:
    axes = list(ctx.attrs.get("axes", ()))
    keep = int(ctx.attrs.get("keepdims", 1))
    if ctx.opset >= 18:
        ctx.add("ReduceMean", [ctx.inp(0), ctx.ints(*axes)] if axes else [ctx.inp(0)],
                ctx.outp(0), keepdims=keep)
    else:
        ctx.add("ReduceMean", [ctx.inp(0)], ctx.outp(0), keepdims=keep,
                **({"axes": axes} if axes else {}))


def _quantize(ctx: _Ctx) -> None:
    elem = ctx.elem(2, TensorProto.UINT8) if ctx.inp(2) else TensorProto.UINT8
    _cast_to(ctx, ctx.inp(0), elem)


def _dequantize(ctx: _Ctx) -> None:
    _cast_to(ctx, ctx.inp(0), ctx.elem(1))


def _causal_conv(ctx: _Ctx) -> None:
    """Output 0 has the input's shape, the carried state (output 1) the past state's."""
    ctx.add("Identity", [ctx.inp(0)], ctx.outp(0))
    if ctx.outp(1) and ctx.inp(3):
        ctx.add("Identity", [ctx.inp(3)], ctx.outp(1))


_MS_STANDINS: dict[str, Callable[[_Ctx], None]] = {
    # activations and elementwise: output 0 is input 0's shape
    **{op: _identity() for op in ("Gelu", "FastGelu", "BiasGelu", "QuickGelu", "BiasAdd",
                                  "RotaryEmbedding", "BiasSoftmax", "GroupNorm",
                                  "QLinearSigmoid", "QLinearLeakyRelu", "QLinearSoftmax",
                                  "MoE", "QMoE")},
    "SkipGroupNorm": _identity(0, skip_sum=1),
    "CausalConvWithState": _causal_conv,
    "SkipLayerNormalization": _identity(0, 1, 2, skip_sum=3),
    "SkipSimplifiedLayerNormalization": _identity(0, 1, 2, skip_sum=3),
    "SimplifiedLayerNormalization": _identity(0, 1),
    "EmbedLayerNormalization": _embed_layer_norm,
    "BiasSplitGelu": _bias_split_gelu,
    # fused and quantised dot products
    "FusedConv": _same_op("Conv", (0, 1, 2), _CONV_ATTRS),
    "NhwcConv": _nhwc_conv,
    "FusedGemm": _same_op("Gemm", (0, 1, 2), ("alpha", "beta", "transA", "transB")),
    "FusedMatMul": _fused_matmul,
    "MatMulNBits": _matmul_kn,
    "MatMulBnb4": _matmul_kn,
    "MatMulIntegerToFloat": _matmul_to_float(2),
    "DynamicQuantizeMatMul": _matmul_to_float(None),
    "QGemm": _gemm(0, 3, 6, float_unless=7),
    "GatherBlockQuantized": _gather_block_quantized,
    "Attention": _attention_projection(1, quantised=False),
    "PackedAttention": _attention_projection(1, quantised=False),
    "QAttention": _attention_projection(1, quantised=True),
    "MultiHeadAttention": _heads_attention("num_heads", None, past=(6, 7)),
    "GroupQueryAttention": _heads_attention("num_heads", "kv_num_heads", packed_groups=1),
    "SparseAttention": _heads_attention("num_heads", "kv_num_heads", packed_groups=1, shared=True),
    "DecoderMaskedMultiHeadAttention": _heads_attention("num_heads", None, packed_groups=1,
                                                        past=(5, 6), shared=True),
    # the QLinear family
    "QLinearConv": _channels_last("Conv", 0, (3,), _CONV_ATTRS),
    "NhwcMaxPool": _channels_last("MaxPool", 0, (), _POOL_ATTRS),
    "QLinearAdd": _qlinear_binary("Add"),
    "QLinearMul": _qlinear_binary("Mul"),
    "QLinearConcat": _qlinear_concat,
    "QLinearGlobalAveragePool": _qlinear_global_pool,
    "QLinearAveragePool": _same_op("AveragePool", (0,), _POOL_ATTRS),
    "QLinearReduceMean": _qlinear_reduce_mean,
    "QLinearWhere": _same_op("Where", (0, 1, 4), ()),
    "QuantizeLinear": _quantize,
    "DequantizeLinear": _dequantize,
}

_NCHWC_STANDINS: dict[str, Callable[[_Ctx], None]] = {
    "Conv": _same_op("Conv", (0, 1, 2), _CONV_ATTRS),
    "MaxPool": _same_op("MaxPool", (0,), _POOL_ATTRS),
    "AveragePool": _same_op("AveragePool", (0,), _POOL_ATTRS),
    "GlobalAveragePool": _same_op("GlobalAveragePool", (0,), ()),
    "GlobalMaxPool": _same_op("GlobalMaxPool", (0,), ()),
    "ReorderInput": _reorder_input,
    "ReorderOutput": _reorder_output,
    "Upsample": _nchwc_upsample,
}

_DEFAULT_STANDINS: dict[str, Callable[[_Ctx], None]] = {
    "SimplifiedLayerNormalization": _identity(0, 1),
    "LayerNormalization": _identity(0, 1, 2),
    **{op: _identity() for op in ("MemcpyFromHost", "MemcpyToHost", "Scale", "Affine", "ImageScaler",
                                  "ScaledTanh", "ParametricSoftplus")},
}

STANDINS: Mapping[str, Mapping[str, Callable[[_Ctx], None]]] = {
    MS: _MS_STANDINS, NCHWC: _NCHWC_STANDINS, "": _DEFAULT_STANDINS,
}


def has_stand_in(op: str, domain: str) -> bool:
    """True when :func:`stand_ins` can rewrite ``domain``'s ``op``."""
    return op in STANDINS.get("" if domain == "ai.onnx" else domain, {})


def stand_ins(node: NodeProto, attrs: dict[str, Any], opset: int,
              meta: Mapping[str, tuple[tuple[int, ...], int]], rewrite: Rewrite) -> list[NodeProto] | None:
    """Standard nodes with ``node``'s output shapes and dtypes, or None when there is no
    stand-in (or it needs a constant the model does not have). ``attrs`` are the node's
    attributes as Python values, ``opset`` the default domain's version, ``meta`` the
    constant tensors' (shape, element type).

    >>> from flopscope.frontends.onnxcore import NodeProto
    >>> node = NodeProto(op_type="FastGelu", domain="com.microsoft", input=["x"], output=["y"])
    >>> [n.op_type for n in stand_ins(node, {}, 17, {}, Rewrite())]
    ['Identity']
    """
    table = STANDINS.get("" if node.domain == "ai.onnx" else node.domain, {})
    make = table.get(node.op_type)
    if make is None or not node.output:
        return None
    ctx = _Ctx(node, attrs, opset, meta, rewrite)
    make(ctx)
    if not ctx.out:
        return None
    key = f"{node.domain}.{node.op_type}" if node.domain else node.op_type
    rewrite.replaced[key] = rewrite.replaced.get(key, 0) + 1
    return ctx.out


def constant_infos(rewrite: Rewrite) -> tuple[list[TensorProto], list[ValueInfoProto]]:
    """The initializers and fake graph inputs a rewrite needs."""
    inits = []
    for name, values in rewrite.constants.items():
        t = TensorProto(name=name, dims=[len(values)])
        if name.startswith(f"{MARK}floats/"):
            t.data_type = TensorProto.FLOAT
            t.raw_data = struct.pack(f"<{len(values)}f", *values)
        else:
            t.data_type = TensorProto.INT64
            t.raw_data = struct.pack(f"<{len(values)}q", *values)
        inits.append(t)
    inputs = [value_info(name, elem, shape) for name, (elem, shape) in rewrite.inputs.items()]
    return inits, inputs
