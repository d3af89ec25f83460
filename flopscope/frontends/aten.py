"""ATen -> ONNX vocabulary: how each recorded PyTorch op becomes IR nodes.

A handler receives a :class:`Call` (the op's arguments bound to their schema names, the
IR tensors of its inputs and outputs) and returns the nodes to emit. Most ATen ops map
onto one ONNX op; the fused kernels PyTorch takes in eval mode
(``_native_multi_head_attention``, ``_transformer_encoder_layer_fwd``, the CPU RNN
layer, the fused SDPA kernels) are expanded into the ops they fuse, so they are costed
like their unfused forms. Ops with no entry are reported as unsupported by ATen name.

Every mapping is declared once, through one door that refuses a second handler for an
ATen name: ``@handles("name", ...)`` on a handler function, or a ``maps(make, aten_name=
"OnnxOp", ...)`` table whose entries all get the handler ``make("OnnxOp")``. Adding a
mapping is one entry in one table (or one decorated function) and one test case in
``tests/frontends/test_aten.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from flopscope.graph import FLOPSCOPE_DOMAIN, Tensor


@dataclass
class Emit:
    """One IR node to add: op, inputs, outputs, attributes, known constant values, and the
    op's domain ("" for the ONNX standard, :data:`FLOPSCOPE_DOMAIN` for flopscope's own)."""

    op: str
    inputs: list[Tensor | None]
    outputs: list[Tensor]
    attrs: dict[str, Any] = field(default_factory=dict)
    values: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    suffix: str = ""
    domain: str = ""


@dataclass
class Call:
    """A recorded ATen call, as a handler sees it."""

    name: str                          # "convolution", "add" (in-place "_" stripped)
    args: dict[str, Any]               # schema-bound arguments (tensors still torch tensors)
    outputs: list[Tensor]              # IR tensors of the flattened outputs
    ir: Callable[[Any], Tensor | None]  # torch tensor -> IR tensor (None for None)
    fresh: Callable[[tuple[int, ...], str], Tensor]  # a new intermediate IR tensor

    def t(self, key: str) -> Tensor | None:
        return self.ir(self.args.get(key))

    def tensor(self, key: str) -> Tensor:
        """The IR tensor of the tensor argument ``key``, which the mapping reads: a missing
        one raises, and the op is reported unsupported (as for any argument a mapping does
        not understand)."""
        found = self.t(key)
        if found is None:
            raise ValueError(f"{self.name}: no tensor argument '{key}'")
        return found

    def first_tensor(self) -> Tensor | None:
        for value in self.args.values():
            if _is_tensor(value):
                return self.ir(value)
        return None


def dims(tensor: Tensor | None) -> tuple[int, ...]:
    """The dims of a recorded tensor. The torch frontend records every dim as an int, so
    only a missing tensor fails here (a ValueError: the op is reported unsupported).

    >>> dims(Tensor("x", (2, 3), "float32"))
    (2, 3)
    """
    if tensor is None:
        raise ValueError("a tensor argument the mapping reads is missing")
    if tensor.dims is None:
        raise ValueError(f"tensor '{tensor.name}' has no static shape")
    return tensor.dims


Handler = Callable[[Call], list[Emit]]

#: ATen op name -> its handler; filled only through :func:`handles` and :func:`maps`
HANDLERS: dict[str, Handler] = {}


def _is_tensor(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype") and hasattr(value, "device")


def _declare(entries: Iterable[tuple[str, Handler]]) -> None:
    """The one way into :data:`HANDLERS`: an ATen name that already has a handler, or
    that comes twice, is an error, checked before any is added (a failed declaration
    changes nothing)."""
    entries = list(entries)
    names = [name for name, _ in entries]
    taken = [name for name in names if name in HANDLERS or names.count(name) > 1]
    if taken:
        raise RuntimeError(f"duplicate ATen handler for '{taken[0]}'")
    HANDLERS.update(entries)


def handles(*names: str) -> Callable[[Handler], Handler]:
    """Declare ``fn`` the handler of ATen op packet names: ``@handles("convolution",
    "_convolution")`` over a function, or ``handles("mm", "bmm")(one("MatMul", ...))``."""

    def register(fn: Handler) -> Handler:
        _declare((name, fn) for name in names)
        return fn

    return register


def maps(make: Callable[[str], Handler], **table: str) -> Mapping[str, str]:
    """Declare each ``aten_name="OnnxOp"`` entry of ``table`` with the handler
    ``make("OnnxOp")`` and return the table (read-only): ``maps(all_tensors, relu="Relu",
    exp="Exp")``. A name given twice in one table is a SyntaxError (repeated keyword
    argument), one declared elsewhere a RuntimeError."""
    _declare((name, make(op)) for name, op in table.items())
    return MappingProxyType(table)


def one(op: str, *keys: str, **attrs: Any) -> Handler:
    """A handler emitting ``op`` over the tensor arguments ``keys`` (default: the first)."""

    def handler(call: Call) -> list[Emit]:
        inputs = [call.t(k) for k in keys] if keys else [call.first_tensor()]
        return [Emit(op, inputs, call.outputs, dict(attrs))]

    return handler


def _tensors_in(call: Call) -> list[Tensor | None]:
    found: list[Tensor | None] = []
    for value in call.args.values():
        if _is_tensor(value):
            found.append(call.ir(value))
        elif isinstance(value, (list, tuple)):
            found.extend(call.ir(v) for v in value if _is_tensor(v))
    return found


def all_tensors(op: str) -> Handler:
    """A handler emitting ``op`` over every tensor argument, in schema order."""
    return lambda call: [Emit(op, _tensors_in(call), call.outputs)]


# ----------------------------------------------------------------- dense products


@handles("convolution", "_convolution")
def _conv(call: Call) -> list[Emit]:
    a = call.args
    op = "ConvTranspose" if a.get("transposed") else "Conv"
    attrs = {"group": int(a.get("groups", 1)), "strides": tuple(a["stride"]),
             "pads": tuple(a["padding"]) * 2, "dilations": tuple(a["dilation"])}
    return [Emit(op, [call.t("input"), call.t("weight"), call.t("bias")], call.outputs, attrs)]


@handles("addmm")
def _addmm(call: Call) -> list[Emit]:
    a = call.args
    attrs = {"alpha": float(a.get("alpha", 1)), "beta": float(a.get("beta", 1)),
             "transA": 0, "transB": 0}
    return [Emit("Gemm", [call.t("mat1"), call.t("mat2"), call.t("self")], call.outputs, attrs)]


handles("mm", "bmm")(one("MatMul", "self", "mat2"))
handles("mv")(one("MatMul", "self", "vec"))
handles("dot")(one("MatMul", "self", "tensor"))
handles("vdot")(one("MatMul", "self", "other"))


@handles("addmv", "baddbmm", "addbmm")
def _add_product(call: Call) -> list[Emit]:
    """beta·self + alpha·(a @ b): a MatMul then the scaled add."""
    a = call.args
    left, right = (("mat", "vec") if call.name == "addmv" else ("batch1", "batch2"))
    x, y = call.t(left), call.t(right)
    out = call.outputs[0]
    if call.name == "addbmm":  # sum over the batch: a batched product, then a reduction
        product = call.fresh((dims(x)[0], *dims(out)), out.dtype)
        summed = call.fresh(dims(out), out.dtype)
        emits = [Emit("MatMul", [x, y], [product], suffix="matmul"),
                 Emit("ReduceSum", [product], [summed], suffix="sum")]
    else:
        summed = call.fresh(dims(out), out.dtype)
        emits = [Emit("MatMul", [x, y], [summed], suffix="matmul")]
    emits += _scaled_add(call, summed, call.t("self"), out, float(a.get("alpha", 1)),
                         float(a.get("beta", 1)))
    return emits


def _scaled_add(call: Call, product: Tensor, addend: Tensor | None, out: Tensor,
                alpha: float, beta: float) -> list[Emit]:
    emits = []
    if alpha != 1:
        scaled = call.fresh(dims(product), product.dtype)
        emits.append(Emit("Mul", [product], [scaled], suffix="alpha"))
        product = scaled
    if beta == 0 or addend is None:
        emits.append(Emit("Identity", [product], [out], suffix="out"))
        return emits
    if beta != 1:
        scaled = call.fresh(dims(addend), addend.dtype)
        emits.append(Emit("Mul", [addend], [scaled], suffix="beta"))
        addend = scaled
    emits.append(Emit("Add", [product, addend], [out], suffix="add"))
    return emits


# ----------------------------------------------------------------- elementwise

# unary: ATen name -> ONNX op over every tensor argument
maps(
    all_tensors,
    relu="Relu", sigmoid="Sigmoid", tanh="Tanh", silu="Swish", mish="Mish",
    hardswish="HardSwish", hardsigmoid="HardSigmoid", leaky_relu="LeakyRelu",
    elu="Elu", celu="Celu", selu="Selu", softplus="Softplus", exp="Exp",
    log="Log", sqrt="Sqrt", neg="Neg", abs="Abs", reciprocal="Reciprocal",
    sign="Sign", sgn="Sign", floor="Floor", ceil="Ceil", round="Round", erf="Erf",
    sin="Sin", cos="Cos", tan="Tan", asin="Asin", acos="Acos", atan="Atan",
    sinh="Sinh", cosh="Cosh", asinh="Asinh", acosh="Acosh", atanh="Atanh",
    isnan="IsNaN", isinf="IsInf", logical_not="Not", bitwise_not="BitwiseNot",
    threshold="ThresholdedRelu", _prelu_kernel="PRelu", prelu="PRelu",
    softshrink="Shrink", hardshrink="Shrink",
)

# binary and selection: ATen name -> ONNX op over every tensor argument
maps(
    all_tensors,
    div="Div", pow="Pow", remainder="Mod", fmod="Mod",
    eq="Equal", ne="Equal", lt="Less", le="LessOrEqual", gt="Greater",
    ge="GreaterOrEqual", logical_and="And", logical_or="Or", logical_xor="Xor",
    bitwise_and="BitwiseAnd", bitwise_or="BitwiseOr", bitwise_xor="BitwiseXor",
    maximum="Max", minimum="Min", where="Where", masked_fill="Where",
    floor_divide="Div", atan2="Atan", xlogy="Mul",
)


def _complex(tensor: Tensor | None) -> bool:
    return tensor is not None and tensor.dtype.startswith("complex")


@handles("mul")
def _mul(call: Call) -> list[Emit]:
    """A Mul; of two complex tensors (a rotary embedding in complex form: LLaMA 4,
    DeepSeek-V2), its real arithmetic: (a + bi)(c + di) = (ac − bd) + (ad + bc)i, four
    multiplies and two adds per element; of a complex and a real one, two multiplies."""
    inputs = _tensors_in(call)
    out = call.outputs[0]
    if not _complex(out):
        return [Emit("Mul", inputs, call.outputs)]
    both = len(inputs) == 2 and all(_complex(t) for t in inputs)
    parts = [call.fresh(dims(out), "float32") for _ in range(4 if both else 1)]
    emits = [Emit("Mul", inputs, [part], suffix=f"part{i}") for i, part in enumerate(parts)]
    if both:
        emits += [Emit("Sub", [parts[0], parts[1]], [call.fresh(dims(out), "float32")], suffix="real"),
                  Emit("Add", [parts[2], parts[3]], call.outputs)]
    else:
        emits.append(Emit("Mul", inputs, call.outputs))
    return emits


@handles("polar")
def _polar(call: Call) -> list[Emit]:
    """abs·(cos θ + i sin θ): a Cos, a Sin and two multiplies per element."""
    magnitude, angle, out = call.tensor("abs"), call.tensor("angle"), call.outputs[0]
    cos, sin, real = (call.fresh(dims(out), angle.dtype) for _ in range(3))
    return [Emit("Cos", [angle], [cos], suffix="cos"), Emit("Sin", [angle], [sin], suffix="sin"),
            Emit("Mul", [magnitude, cos], [real], suffix="real"),
            Emit("Mul", [magnitude, sin], call.outputs)]


@handles("add", "sub", "rsub")
def _add(call: Call) -> list[Emit]:
    """x ± alpha·y: an Add or Sub, and a multiply first when alpha ≠ 1; of complex
    tensors, one per real and imaginary part."""
    op = "Add" if call.name == "add" else "Sub"
    inputs = _tensors_in(call)
    alpha = call.args.get("alpha", 1)
    if _complex(call.outputs[0]) and alpha == 1:
        part = call.fresh(dims(call.outputs[0]), "float32")
        return [Emit(op, inputs, [part], suffix="real"), Emit(op, inputs, call.outputs)]
    if alpha == 1 or len(inputs) < 2 or inputs[1] is None:
        return [Emit(op, inputs, call.outputs)]
    other = inputs[1]
    scaled = call.fresh(dims(other), other.dtype)
    return [Emit("Mul", [other], [scaled], suffix="alpha"),
            Emit(op, [inputs[0], scaled], call.outputs)]


@handles("rsqrt")
def _rsqrt(call: Call) -> list[Emit]:
    """1 / sqrt(x): a square root and a reciprocal."""
    x, out = call.first_tensor(), call.outputs[0]
    root = call.fresh(dims(out), out.dtype)
    return [Emit("Sqrt", [x], [root], suffix="sqrt"), Emit("Reciprocal", [root], [out])]


@handles("expm1", "log1p")
def _shifted(call: Call) -> list[Emit]:
    """exp(x) − 1 and log(1 + x) (xIELU's activation...): the Exp or Log and the ±1."""
    x, out = call.first_tensor(), call.outputs[0]
    one = Tensor("one", (), out.dtype)
    mid = call.fresh(dims(out), out.dtype)
    if call.name == "expm1":
        return [Emit("Exp", [x], [mid], suffix="exp"), Emit("Sub", [mid, one], [out])]
    return [Emit("Add", [x, one], [mid], suffix="add"), Emit("Log", [mid], [out])]


@handles("gelu")
def _gelu(call: Call) -> list[Emit]:
    return [Emit("Gelu", [call.t("self")], call.outputs,
                 {"approximate": call.args.get("approximate", "none")})]


@handles("clamp", "clip", "clamp_min", "clamp_max", "hardtanh")
def _clamp(call: Call) -> list[Emit]:
    """Clip with one input slot per bound that is given (ReLU6 is hardtanh(0, 6))."""
    a, x = call.args, call.t("self")
    scalar = Tensor("bound", (), x.dtype if x else "float32")
    if call.name == "hardtanh":
        lo = hi = True
    elif call.name == "clamp_min":
        lo, hi = True, False
    elif call.name == "clamp_max":
        lo, hi = False, True
    else:
        lo, hi = a.get("min") is not None, a.get("max") is not None
    return [Emit("Clip", [x, scalar if lo else None, scalar if hi else None], call.outputs)]


@handles("_softmax", "softmax", "_log_softmax", "log_softmax", "_safe_softmax")
def _softmax(call: Call) -> list[Emit]:
    op = "LogSoftmax" if "log" in call.name else "Softmax"
    return [Emit(op, [call.t("self")], call.outputs, {"axis": int(call.args["dim"])})]


# ----------------------------------------------------------------- reductions

def reduction(op: str) -> Handler:
    """A handler emitting the reduction ``op`` over ``self``; ``max(a, b)`` and friends,
    which have no ``self``, are the binary Max / Min."""

    def handler(call: Call) -> list[Emit]:
        x = call.t("self")
        if x is None:
            return [Emit("Max" if call.name == "max" else "Min", _tensors_in(call), call.outputs)]
        return [Emit(op, [x], call.outputs[:1])]

    return handler


# reductions: ATen name -> ONNX reduction over self
maps(
    reduction,
    sum="ReduceSum", mean="ReduceMean", amax="ReduceMax", amin="ReduceMin",
    max="ReduceMax", min="ReduceMin", prod="ReduceProd", argmax="ArgMax",
    argmin="ArgMin", logsumexp="ReduceLogSumExp", any="ReduceMax", all="ReduceMin",
)


@handles("linalg_vector_norm", "norm")
def _norm(call: Call) -> list[Emit]:
    order = call.args.get("ord", call.args.get("p", 2))
    op = "ReduceL1" if order == 1 else "ReduceL2"
    return [Emit(op, [call.t("self")], call.outputs)]


@handles("cumsum", "cumprod")
def _cumulative(call: Call) -> list[Emit]:
    axis = Tensor("axis", (), "int64")
    op = "CumSum" if call.name == "cumsum" else "CumProd"
    return [Emit(op, [call.t("self"), axis], call.outputs, values={1: (int(call.args["dim"]),)})]


@handles("linalg_solve_triangular")
def _solve_triangular(call: Call) -> list[Emit]:
    """A·X = B (or X·A = B) for triangular A (Qwen3-Next's gated delta rule, chunk by
    chunk): flopscope's own ``ai.flopscope.TriangularSolve``; ONNX has no such op."""
    return [Emit("TriangularSolve", [call.tensor("self"), call.tensor("B")], call.outputs[:1],
                 {"left": int(bool(call.args.get("left", True))),
                  "unitriangular": int(bool(call.args.get("unitriangular", False)))},
                 domain=FLOPSCOPE_DOMAIN)]


@handles("_linalg_det", "linalg_det", "det")
def _det(call: Call) -> list[Emit]:
    """The determinant only; _linalg_det's LU factors and pivots are its by-products."""
    return [Emit("Det", [call.first_tensor()], call.outputs[:1])]


#: grid_sampler's integer enums -> GridSample's attribute strings
_GRID_MODES = {0: "linear", 1: "nearest", 2: "cubic"}
_GRID_PADDING = {0: "zeros", 1: "border", 2: "reflection"}


@handles("grid_sampler_2d", "grid_sampler_3d", "grid_sampler")
def _grid_sample(call: Call) -> list[Emit]:
    attrs = {"mode": _GRID_MODES[int(call.args["interpolation_mode"])],
             "padding_mode": _GRID_PADDING[int(call.args["padding_mode"])],
             "align_corners": int(bool(call.args["align_corners"]))}
    return [Emit("GridSample", [call.t("input"), call.t("grid")], call.outputs[:1], attrs)]


@handles("affine_grid_generator")
def _affine_grid(call: Call) -> list[Emit]:
    size = Tensor("size", (len(call.args["size"]),), "int64")
    return [Emit("AffineGrid", [call.t("theta"), size], call.outputs[:1],
                 {"align_corners": int(bool(call.args["align_corners"]))},
                 values={1: tuple(int(d) for d in call.args["size"])})]


@handles("col2im")
def _col2im(call: Call) -> list[Emit]:
    """F.fold: ONNX's Col2Im with the image and block shapes as constant inputs."""
    image, block = (tuple(int(d) for d in call.args[k]) for k in ("output_size", "kernel_size"))
    padding = tuple(int(p) for p in call.args["padding"])
    return [Emit("Col2Im", [call.t("self"), Tensor("image_shape", (len(image),), "int64"),
                            Tensor("block_shape", (len(block),), "int64")], call.outputs,
                 {"dilations": tuple(int(d) for d in call.args["dilation"]),
                  "pads": padding + padding, "strides": tuple(int(d) for d in call.args["stride"])},
                 values={1: image, 2: block})]


#: nll_loss's reduction enum -> NegativeLogLikelihoodLoss's attribute
_REDUCTIONS = {0: "none", 1: "mean", 2: "sum"}


@handles("nll_loss_forward", "nll_loss2d_forward")
def _nll_loss(call: Call) -> list[Emit]:
    """PyTorch always compares each target with ignore_index (default −100), so it is
    always set; the total-weight output is a by-product of the mean."""
    inputs = [call.t("self"), call.t("target")]
    if call.args.get("weight") is not None:
        inputs.append(call.t("weight"))
    return [Emit("NegativeLogLikelihoodLoss", inputs, call.outputs[:1],
                 {"reduction": _REDUCTIONS[int(call.args["reduction"])],
                  "ignore_index": int(call.args["ignore_index"])})]


@handles("topk")
def _topk(call: Call) -> list[Emit]:
    k = Tensor("k", (1,), "int64")
    return [Emit("TopK", [call.t("self"), k], call.outputs,
                 {"axis": int(call.args.get("dim", -1))}, values={1: (int(call.args["k"]),)})]


@handles("sort")
def _sort(call: Call) -> list[Emit]:
    """A full sort is a TopK of every element, in order (ONNX has no Sort)."""
    x = call.tensor("self")
    axis = int(call.args.get("dim", -1))
    k = Tensor("k", (1,), "int64")
    return [Emit("TopK", [x, k], call.outputs,
                 {"axis": axis, "largest": int(bool(call.args.get("descending", False))),
                  "sorted": 1}, values={1: (dims(x)[axis],)})]


@handles("histc")
def _histc(call: Call) -> list[Emit]:
    """Counts per bin (a Mixture-of-Experts router's tokens per expert): flopscope's own
    ``ai.flopscope.Histogram``; ONNX has no such op."""
    return [Emit("Histogram", [call.tensor("self")], call.outputs[:1],
                 {"bins": int(call.args.get("bins", 100))}, domain=FLOPSCOPE_DOMAIN)]


@handles("_grouped_mm")
def _grouped_mm(call: Call) -> list[Emit]:
    """``torch._grouped_mm`` (a Mixture-of-Experts layer's experts in one call): flopscope's
    own ``ai.flopscope.GroupedMatMul``; ONNX has no such op. A bias is added after."""
    if call.args.get("bias") is not None:
        raise ValueError("_grouped_mm with a bias")
    return [Emit("GroupedMatMul", [call.tensor("self"), call.tensor("mat2"), call.t("offs")],
                 call.outputs[:1], domain=FLOPSCOPE_DOMAIN)]


# ----------------------------------------------------------------- normalisation


@handles("native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training",
         "batch_norm")
def _batch_norm(call: Call) -> list[Emit]:
    training = bool(call.args.get("training", False))
    inputs = [call.t(k) for k in ("input", "weight", "bias", "running_mean", "running_var")]
    return [Emit("BatchNormalization", inputs, call.outputs[:1],
                 {"training_mode": int(training), "epsilon": float(call.args.get("eps", 1e-5))})]


@handles("native_layer_norm")
def _layer_norm(call: Call) -> list[Emit]:
    axis = -len(call.args["normalized_shape"])
    return [Emit("LayerNormalization", [call.t("input"), call.t("weight"), call.t("bias")],
                 call.outputs[:1], {"axis": axis})]


@handles("native_group_norm")
def _group_norm(call: Call) -> list[Emit]:
    return [Emit("GroupNormalization", [call.t("input"), call.t("weight"), call.t("bias")],
                 call.outputs[:1], {"num_groups": int(call.args["group"])})]


@handles("_fused_rms_norm")
def _rms_norm(call: Call) -> list[Emit]:
    axis = -len(call.args["normalized_shape"])
    return [Emit("RMSNormalization", [call.t("input"), call.t("weight")], call.outputs[:1],
                 {"axis": axis})]


# ----------------------------------------------------------------- pooling and resampling


def _pool_attrs(call: Call, spatial: int) -> dict[str, Any]:
    a = call.args
    kernel = tuple(a["kernel_size"])
    kernel = kernel * spatial if len(kernel) == 1 else kernel
    stride = tuple(a.get("stride") or kernel)
    return {"kernel_shape": kernel, "strides": stride * spatial if len(stride) == 1 else stride}


@handles("max_pool1d", "max_pool2d", "max_pool3d", "max_pool2d_with_indices",
         "max_pool3d_with_indices", "max_pool1d_with_indices")
def _max_pool(call: Call) -> list[Emit]:
    x = call.t("self")
    spatial = len(x.shape) - 2 if x and x.shape else 2
    return [Emit("MaxPool", [x], call.outputs[:1], _pool_attrs(call, spatial))]


@handles("avg_pool1d", "avg_pool2d", "avg_pool3d")
def _avg_pool(call: Call) -> list[Emit]:
    x = call.t("self")
    spatial = len(x.shape) - 2 if x and x.shape else 2
    return [Emit("AveragePool", [x], call.outputs[:1], _pool_attrs(call, spatial))]


@handles("_adaptive_avg_pool1d", "_adaptive_avg_pool2d", "_adaptive_avg_pool3d",
         "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
         "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d")
def _adaptive_pool(call: Call) -> list[Emit]:
    """Adaptive pooling as ONNX exports it: global pooling for a 1x1 output, a fixed
    window when the sizes divide, else the exact adaptive windows (flopscope's own
    ``ai.flopscope.Adaptive{Average,Max}Pool``: ONNX has no such op)."""
    x, out = call.t("self"), call.outputs[0]
    kind = "Max" if "max" in call.name else "Average"
    in_sp, out_sp = dims(x)[2:], dims(out)[2:]
    if all(o == 1 for o in out_sp):
        return [Emit(f"Global{kind}Pool", [x], call.outputs[:1])]
    if all(o and i % o == 0 for i, o in zip(in_sp, out_sp)):
        kernel = tuple(i // o for i, o in zip(in_sp, out_sp))
        return [Emit(f"{kind}Pool", [x], call.outputs[:1],
                     {"kernel_shape": kernel, "strides": kernel})]
    return [Emit(f"Adaptive{kind}Pool", [x], call.outputs[:1], domain=FLOPSCOPE_DOMAIN)]


@handles("upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d",
         "_upsample_nearest_exact1d", "_upsample_nearest_exact2d", "_upsample_nearest_exact3d",
         "upsample_linear1d", "upsample_bilinear2d", "upsample_trilinear3d",
         "_upsample_bilinear2d_aa", "upsample_bicubic2d", "_upsample_bicubic2d_aa")
def _upsample(call: Call) -> list[Emit]:
    mode = "nearest" if "nearest" in call.name else "cubic" if "bicubic" in call.name else "linear"
    return [Emit("Resize", [call.first_tensor()], call.outputs,
                 {"mode": mode, "antialias": int(call.name.endswith("_aa"))})]


# ----------------------------------------------------------------- attention


@handles("_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_flash_attention",
         "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention",
         "_scaled_dot_product_fused_attention_overrideable")
def _sdpa(call: Call) -> list[Emit]:
    a = call.args
    mask = call.ir(a.get("attn_mask", a.get("attn_bias")))
    attrs = {"is_causal": int(bool(a.get("is_causal", False)))}
    return [Emit("Attention", [call.t("query"), call.t("key"), call.t("value"), mask],
                 call.outputs[:1], attrs)]



def _linear(call: Call, x: Tensor, weight: Tensor | None, bias: Tensor | None, out_features: int,
            out: Tensor | None, tag: str) -> tuple[list[Emit], Tensor]:
    """x @ Wᵀ (+ b) over the last dim, as MatMul (+ Add); W keeps its parameter name."""
    shape = (*dims(x)[:-1], out_features)
    w = Tensor(weight.name, (dims(x)[-1], out_features), weight.dtype) if weight else None
    product = call.fresh(shape, x.dtype) if bias is not None or out is None else out
    emits = [Emit("MatMul", [x, w], [product], suffix=f"{tag}")]
    if bias is not None:
        result = out if out is not None else call.fresh(shape, x.dtype)
        emits.append(Emit("Add", [product, bias], [result], suffix=f"{tag}_bias"))
        product = result
    return emits, product


def _mha_block(call: Call, query: Tensor, key: Tensor, value: Tensor, heads: int,
               qkv_w: Tensor | None, qkv_b: Tensor | None, proj_w: Tensor | None,
               proj_b: Tensor | None, mask: Tensor | None, out: Tensor | None,
               tag: str = "") -> tuple[list[Emit], Tensor]:
    """Multi-head attention unfused: q/k/v projections, attention, output projection."""
    b, sq, e = dims(query)
    skv = dims(key)[1]
    d = e // heads
    emits: list[Emit] = []
    heads_in = []
    for i, (name, src, length) in enumerate((("q", query, sq), ("k", key, skv), ("v", value, skv))):
        # the packed qkv weight and bias are one parameter each: the q projection reads them
        w = qkv_w if i == 0 else (Tensor(f"{qkv_w.name}[{name}]", (e, e), qkv_w.dtype) if qkv_w else None)
        bias = qkv_b if i == 0 else (Tensor(f"{qkv_b.name}[{name}]", (e,), qkv_b.dtype) if qkv_b else None)
        proj, projected = _linear(call, src, w, bias, e, None, f"{tag}{name}_proj")
        emits += proj
        split = call.fresh((b, heads, length, d), src.dtype)
        emits.append(Emit("Reshape", [projected], [split], suffix=f"{tag}{name}_heads"))
        heads_in.append(split)
    attended = call.fresh((b, heads, sq, d), query.dtype)
    emits.append(Emit("Attention", [*heads_in, mask], [attended], suffix=f"{tag}attention"))
    merged = call.fresh((b, sq, e), query.dtype)
    emits.append(Emit("Reshape", [attended], [merged], suffix=f"{tag}merge_heads"))
    proj, result = _linear(call, merged, proj_w, proj_b, e, out, f"{tag}out_proj")
    return emits + proj, result


@handles("_native_multi_head_attention")
def _native_mha(call: Call) -> list[Emit]:
    a = call.args
    emits, _ = _mha_block(call, call.tensor("query"), call.tensor("key"), call.tensor("value"),
                          int(a["num_head"]), call.t("qkv_weight"), call.t("qkv_bias"),
                          call.t("proj_weight"), call.t("proj_bias"), call.t("mask"),
                          call.outputs[0])
    return emits


@handles("_transformer_encoder_layer_fwd")
def _encoder_layer(call: Call) -> list[Emit]:
    """The fused nn.TransformerEncoderLayer: attention and feed-forward blocks with their
    residual adds and layer norms, in pre- or post-norm order."""
    a = call.args
    src, out = call.tensor("src"), call.outputs[0]
    shape, dtype = dims(src), src.dtype
    e = shape[-1]
    emits: list[Emit] = []

    def norm(x: Tensor, k: int, result: Tensor | None = None) -> Tensor:
        y = result or call.fresh(shape, dtype)
        emits.append(Emit("LayerNormalization", [x, call.t(f"norm_weight_{k}"),
                                                 call.t(f"norm_bias_{k}")], [y], {"axis": -1},
                          suffix=f"norm{k}"))
        return y

    def residual(x: Tensor, y: Tensor, tag: str, result: Tensor | None = None) -> Tensor:
        z = result or call.fresh(shape, dtype)
        emits.append(Emit("Add", [x, y], [z], suffix=tag))
        return z

    def attention(x: Tensor) -> Tensor:
        block, y = _mha_block(call, x, x, x, int(a["num_heads"]), call.t("qkv_weight"),
                              call.t("qkv_bias"), call.t("proj_weight"), call.t("proj_bias"),
                              call.t("mask"), None, "self_attn.")
        emits.extend(block)
        return y

    def feed_forward(x: Tensor) -> Tensor:
        w1 = call.t("ffn_weight_1")
        hidden = a["ffn_weight_1"].shape[0]
        block, h = _linear(call, x, w1, call.t("ffn_bias_1"), hidden, None, "linear1")
        emits.extend(block)
        act = call.fresh(dims(h), dtype)
        emits.append(Emit("Gelu" if a.get("use_gelu") else "Relu", [h], [act], suffix="activation"))
        block, y = _linear(call, act, call.t("ffn_weight_2"), call.t("ffn_bias_2"), e, None, "linear2")
        emits.extend(block)
        return y

    if a.get("norm_first"):
        x = residual(src, attention(norm(src, 1)), "residual1")
        residual(x, feed_forward(norm(x, 2)), "residual2", out)
    else:
        x = norm(residual(src, attention(src), "residual1"), 1)
        norm(residual(x, feed_forward(x), "residual2"), 2, out)
    return emits


# ----------------------------------------------------------------- recurrent

_RNN_MODES = {0: ("RNN", ("Relu",)), 1: ("RNN", ("Tanh",)), 2: ("LSTM", None), 3: ("GRU", None)}


@handles("mkldnn_rnn_layer")
def _rnn_layer(call: Call) -> list[Emit]:
    """One direction of one layer of the CPU RNN kernel, as an ONNX RNN/GRU/LSTM node.

    The parameters keep their names; the bias of the hidden path rides as an extra
    input after the ONNX ones so that it is attributed to this layer.
    """
    a = call.args
    op, activations = _RNN_MODES[int(a["mode"])]
    x, w_ih, w_hh = call.t("input"), call.tensor("weight0"), call.tensor("weight1")
    gates = dims(w_ih)[0]
    hidden = int(a["hidden_size"])
    w = Tensor(w_ih.name, (1, gates, dims(w_ih)[1]), w_ih.dtype)
    r = Tensor(w_hh.name, (1, gates, hidden), w_hh.dtype)
    inputs: list[Tensor | None] = [x, w, r]
    if a.get("has_biases"):
        b_ih, b_hh = call.tensor("weight2"), call.t("weight3")
        inputs += [Tensor(b_ih.name, (1, 2 * gates), b_ih.dtype), None, None, None, None, b_hh]
    attrs: dict[str, Any] = {"hidden_size": hidden, "layout": 0}
    if activations:
        attrs["activations"] = activations
    return [Emit(op, inputs, call.outputs[:1], attrs)]


# ----------------------------------------------------------------- movement (0 FLOPs)

# ATen name -> ONNX op over every tensor argument
_MOVEMENT = maps(
    all_tensors,
    view="Reshape", _unsafe_view="Reshape", reshape="Reshape", _reshape_alias="Reshape",
    view_as_complex="Reshape", view_as_real="Reshape",     # (..., 2) reals <-> complexes
    view_as="Reshape", flatten="Flatten", unflatten="Reshape",
    permute="Transpose", transpose="Transpose", t="Transpose", swapaxes="Transpose",
    numpy_T="Transpose", movedim="Transpose", channel_shuffle="Transpose",
    expand="Expand", expand_as="Expand", broadcast_to="Expand",
    unsqueeze="Unsqueeze", squeeze="Squeeze",
    clone="Identity", contiguous="Identity", detach="Identity", alias="Identity",
    copy="Identity", lift_fresh="Identity", lift_fresh_copy="Identity",
    _to_copy="Cast", to="Cast", type_as="Cast", _to_dim_order_copy="Cast",
    cat="Concat", concat="Concat", stack="Concat", hstack="Concat", vstack="Concat",
    split="Split", split_with_sizes="Split", unsafe_split="Split", chunk="Split",
    unbind="Split", tensor_split="Split",
    slice="Slice", narrow="Slice", select="Gather", index="Gather",
    index_select="Gather", embedding="Gather", gather="GatherElements",
    take_along_dim="GatherElements", scatter="ScatterElements", index_put="ScatterND",
    constant_pad_nd="Pad", pad="Pad", reflection_pad1d="Pad", reflection_pad2d="Pad",
    reflection_pad3d="Pad", replication_pad1d="Pad", replication_pad2d="Pad",
    replication_pad3d="Pad",
    repeat="Tile", tile="Tile", roll="Slice", flip="Slice",
    pixel_shuffle="DepthToSpace", pixel_unshuffle="SpaceToDepth",
    tril="Trilu", triu="Trilu", native_dropout="Dropout", dropout="Dropout",
    fill="Identity", zero="Identity", masked_scatter="Where",
    as_strided="Identity", diagonal="Slice", expand_copy="Expand",
)

#: ops that create tensors from nothing: their outputs are constants, not nodes
FACTORIES = frozenset({
    "empty", "empty_like", "empty_strided", "zeros", "zeros_like", "ones", "ones_like", "full",
    "full_like", "arange", "linspace", "scalar_tensor", "new_empty", "new_empty_strided",
    "new_zeros", "new_ones", "new_full", "eye", "rand", "randn", "rand_like", "randn_like",
    "randint", "tensor", "_tensor_constant", "normal", "uniform", "bernoulli",
})

#: zero-cost ops that may be folded away when they only touch constants
FOLDABLE = frozenset(name for name, op in _MOVEMENT.items() if op != "Dropout")

#: ops that only read metadata or set state: never nodes
IGNORED = frozenset({"_local_scalar_dense", "sym_size", "sym_stride", "sym_numel", "is_same_size",
                     "set", "resize", "record_stream", "_assert_async", "_assert_scalar",
                     "_functional_assert_async", "sym_constrain_range_for_size",
                     "_resize_output"})
