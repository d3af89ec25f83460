"""PyTorch frontend: an ``nn.Module`` -> :class:`LayerGraph`, without real compute.

The module runs eagerly (so Python control flow works) on fake tensors under a
``TorchDispatchMode`` that records every ATen op with its shapes and the ``nn.Module``
path it ran in; ``flopscope.frontends.aten`` maps the ops onto the ONNX vocabulary. No
arithmetic is done and no activation memory is allocated; a model built on the meta
device (weights that would not fit in memory) is analysed the same way.

The user's module is left as it was: global module hooks are removed on exit, no
attribute is set, the state dict is untouched and training/eval flags are restored.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from flopscope.errors import FlopscopeError, one_line, shape_hint
from flopscope.frontends import aten
from flopscope.graph import LayerGraph, Node, Param, Tensor
from flopscope.sources import HF, MODULE, Source, merge_inputs, resolve

OPSET = 23  # the ONNX semantics the recorded nodes follow (Softmax on one axis...)


@cache
def dtype_name(dtype: torch.dtype) -> str:
    """IR dtype name of a torch dtype (``torch.float32`` -> ``"float32"``)."""
    name = str(dtype).removeprefix("torch.")
    if name.startswith("float8_"):
        return "float8" + name[len("float8_"):].replace("_", "")
    return {"bool": "bool", "half": "float16", "float": "float32", "double": "float64",
            "long": "int64", "int": "int32"}.get(name, name)


# --------------------------------------------------------------------------- inputs


def _forward_names(module: torch.nn.Module) -> list[str]:
    try:
        sig = inspect.signature(module.forward)
    except (TypeError, ValueError):
        return []
    return [p.name for p in sig.parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _is_shape(value: Any) -> bool:
    return isinstance(value, (tuple, list, torch.Size)) and all(
        isinstance(d, int) and not isinstance(d, bool) for d in value)


def _example(value: Any, device: torch.device, what: str,
             examples: dict[int, Any] | None = None) -> Any:
    """A shape, (shape, dtype) pair or tensor -> a tensor to run on (inside fake mode).
    The values of a real tensor given are kept in ``examples`` (by the new tensor's id),
    for the data-dependent reads they may answer."""
    if isinstance(value, torch.Tensor):
        made = torch.empty(value.shape, dtype=value.dtype, device=device)
        if examples is not None and value.device.type != "meta" and \
                type(value) is torch.Tensor and value.numel() <= _VALUE_LIMIT:
            examples[id(made)] = value.detach().to("cpu", copy=True)   # never the user's own
        return made
    if _is_shape(value):
        if any(d < 0 for d in value):
            raise FlopscopeError(f"{what}: negative size in shape {tuple(value)}")
        return torch.empty(tuple(value), device=device)
    if isinstance(value, tuple) and len(value) == 2 and _is_shape(value[0]):
        dtype = value[1] if isinstance(value[1], torch.dtype) else getattr(torch, str(value[1]), None)
        if not isinstance(dtype, torch.dtype):
            raise FlopscopeError(f"{what}: unknown dtype {value[1]!r}")
        return torch.empty(tuple(value[0]), dtype=dtype, device=device)
    return value  # other Python values pass through unchanged


def arguments(module: torch.nn.Module, inputs: Any, input_shapes: Mapping[str, Any] | None,
              device: torch.device, examples: dict[int, Any] | None = None,
              ) -> tuple[list[Any], dict[str, Any], list[str]]:
    """Positional args, keyword args and the input names to run ``module`` with: tensors
    on ``device`` for the shapes (see :func:`flopscope.sources.merge_inputs`).

    >>> arguments(torch.nn.Linear(4, 2), (3, 4), None, torch.device("meta"))[2]
    ['input']
    """
    names = _forward_names(module)
    given = merge_inputs(inputs, input_shapes)
    inputs, shapes = given.unnamed, dict(given.named)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    if inputs is not None:
        if isinstance(inputs, torch.Tensor) or _is_shape(inputs) or (
                isinstance(inputs, tuple) and len(inputs) == 2 and _is_shape(inputs[0])
                and not _is_shape(inputs[1])):
            inputs = [inputs]
        args = [_example(v, device, f"input {i}", examples) for i, v in enumerate(inputs)]
    unknown = [k for k in shapes if k not in names and not _accepts_kwargs(module)]
    if unknown:
        raise FlopscopeError(f"input names {', '.join(map(repr, unknown))} are not arguments of "
                             f"{type(module).__name__}.forward({', '.join(names)})")
    for key, value in shapes.items():
        kwargs[key] = _example(value, device, f"input '{key}'", examples)
    if not args and not kwargs and names:
        shape, dtype = example_shape(module)
        hint = shape_hint(names[0] if _required(module) > 1 else "", shape, dtype)
        raise FlopscopeError(f"{type(module).__name__} needs example inputs: give input shapes "
                             f"for forward({', '.join(names)}), e.g. {hint}")
    input_names = [names[i] if i < len(names) else f"input_{i}" for i in range(len(args))]
    return args, kwargs, input_names + list(kwargs)


def example_shape(module: torch.nn.Module) -> tuple[tuple[int, ...], str]:
    """A plausible first input for ``module``, from its first layer with weights: token
    ids for an embedding, ``(1, C, 224, 224)`` for a 2-D convolution, ``(1, features)``
    for a linear layer... (shape, dtype; dtype ``""`` for float).

    >>> example_shape(torch.nn.Sequential(torch.nn.Embedding(100, 8), torch.nn.Linear(8, 2)))
    ((1, 128), 'int64')
    >>> example_shape(torch.nn.Conv1d(4, 8, 3))
    ((1, 4, 128), '')
    """
    nn = torch.nn
    for m in module.modules():
        if isinstance(m, (nn.Embedding, nn.EmbeddingBag)):
            return (1, 128), "int64"
        if isinstance(m, nn.modules.conv._ConvNd):
            spatial = {1: (128,), 2: (224, 224), 3: (16, 112, 112)}.get(len(m.kernel_size), (224, 224))
            return (1, m.in_channels, *spatial), ""
        if isinstance(m, nn.MultiheadAttention):
            return ((1, 128, m.embed_dim) if m.batch_first else (128, 1, m.embed_dim)), ""
        if isinstance(m, nn.Linear):
            return (1, m.in_features), ""
        if isinstance(m, (nn.RNNBase,)):
            return ((1, 128, m.input_size) if m.batch_first else (128, 1, m.input_size)), ""
    return (1, 3, 224, 224), ""


def _required(module: torch.nn.Module) -> int:
    """How many positional arguments forward() needs (those without a default)."""
    try:
        params = inspect.signature(module.forward).parameters.values()
    except (TypeError, ValueError):
        return 0
    return sum(1 for p in params if p.default is p.empty
               and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


def _accepts_kwargs(module: torch.nn.Module) -> bool:
    try:
        return any(p.kind == p.VAR_KEYWORD
                   for p in inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):
        return False


# --------------------------------------------------------------------------- example values

#: the most elements a tensor may have for its example values to be kept
_VALUE_LIMIT = 1 << 22
_UNKNOWN = object()
#: factories whose values mean nothing (uninitialised or random): never computed
_NO_VALUES = frozenset({"empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided",
                        "empty_permuted", "rand", "randn", "rand_like", "randn_like", "randint",
                        "normal", "uniform", "bernoulli"})


def default_values(name: str, value: Any) -> Any:
    """The example values an integer or boolean input runs on when the user gives none:
    all ones for a mask (no padding), positions along the last axis for ``*position*``
    inputs, zeros otherwise (token 0, segment 0); None for floating inputs, whose
    values are never read.

    >>> default_values("attention_mask", torch.empty(1, 3, dtype=torch.int64)).tolist()
    [[1, 1, 1]]
    >>> default_values("position_ids", torch.empty(1, 3, dtype=torch.int64)).tolist()
    [[0, 1, 2]]
    """
    if value.dtype.is_floating_point or value.dtype.is_complex or value.numel() > _VALUE_LIMIT:
        return None
    shape = tuple(value.shape)
    if "mask" in name:
        return torch.ones(shape, dtype=value.dtype)
    if "position" in name and shape:
        return torch.arange(shape[-1]).expand(shape).to(value.dtype).contiguous()
    return torch.zeros(shape, dtype=value.dtype)


class _Values:
    """Concrete example values of the small tensors computed from the inputs' example
    values and from constants made in forward() (masks, positions, cache lengths): a
    data-dependent read (``.item()``, ``nonzero``, ``any``/``all`` of a mask) is answered
    from them. They are computed on the CPU, only for tensors of at most
    :data:`_VALUE_LIMIT` elements whose inputs all have values; weights never do."""

    def __init__(self) -> None:
        self.by_id: dict[int, Any] = {}

    def run(self, func: Any, args: tuple, kwargs: dict, tensors: list[Any], factory: bool) -> Any:
        """``func`` run on the values of ``tensors`` (the op's tensor arguments), or
        :data:`_UNKNOWN` when one has none (or, with no tensor argument, the op makes
        no tensor from nothing)."""
        if not tensors and not factory:
            return _UNKNOWN
        by_id = self.by_id
        if any(id(t) not in by_id for t in tensors):
            return _UNKNOWN

        def swap(v: Any) -> Any:
            if isinstance(v, torch.Tensor):
                return by_id[id(v)]
            if isinstance(v, torch.device):
                return _CPU
            if isinstance(v, (list, tuple)):
                return type(v)(swap(x) for x in v)
            return v

        from torch.utils._python_dispatch import _disable_current_modes

        cpu_kwargs = {k: swap(v) for k, v in kwargs.items()}
        if "device" in cpu_kwargs:
            cpu_kwargs["device"] = _CPU
        try:
            with _disable_current_modes():
                return func(*swap(args), **cpu_kwargs)
        except Exception:
            return _UNKNOWN

    def bind(self, outs: list[Any], result: Any, keep: list[Any]) -> None:
        """Record ``result`` (flattened like ``outs``) as the values of ``outs``; an
        output without a value (an in-place op on a known tensor) forgets its old one."""
        values = _leaves(result) if result is not _UNKNOWN else []
        if len(values) != len(outs):
            values = [None] * len(outs)
        for out, value in zip(outs, values):
            if not isinstance(out, torch.Tensor):
                continue
            if isinstance(value, torch.Tensor) and value.numel() <= _VALUE_LIMIT:
                self.by_id[id(out)] = value
                keep.append(out)
            else:
                self.by_id.pop(id(out), None)


_CPU = torch.device("cpu")


# --------------------------------------------------------------------------- recording


class _Recorder(TorchDispatchMode):
    """Records ATen calls as IR nodes; module paths come from global forward hooks."""

    def __init__(self, names: dict[int, str], constants: set[str]) -> None:
        super().__init__()
        self.names = names            # id(tensor) -> IR tensor name
        self.constants = constants    # IR names of constants (params, buffers, literals)
        self.keep: list[Any] = []     # keeps tensors alive so ids stay unique
        self.records: dict[int, Tensor] = {}   # id(tensor) -> its last IR record
        self.nodes: list[Node] = []
        self.module_stack: list[str] = [""]
        self.modules: dict[str, str] = {}     # module path -> class name, for those that ran
        self.node_names: set[str] = set()
        self.counter = 0
        self.values = _Values()

    # ------------------------------------------------------------- tensors

    def tensor(self, value: Any) -> Tensor | None:
        if not isinstance(value, torch.Tensor):
            return None
        key = id(value)
        name = self.names.get(key)
        if name is None:  # a tensor from outside the trace: a constant captured by the model
            name = self._new_name("const")
            self.names[key] = name
            self.constants.add(name)
            self.keep.append(value)
        record = self.records.get(key)
        if record is None or record.name != name or record.shape != value.shape:
            record = self._record(value, name)
        return record

    def _record(self, value: Any, name: str) -> Tensor:
        """A new IR record of ``value`` under ``name``, kept as its latest."""
        record = Tensor(name, tuple(int(d) for d in value.shape), dtype_name(value.dtype))
        self.records[id(value)] = record
        return record

    def _new_name(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}_{self.counter}"

    def fresh(self, shape: tuple[int, ...], dtype: str) -> Tensor:
        return Tensor(self._new_name("t"), tuple(shape), dtype)

    def _bind_outputs(self, outs: list[Any], constant: bool, alias: str | None) -> list[Tensor]:
        """Name the op's output tensors (in-place ops get a new version of the name)."""
        result = []
        for value in outs:
            if not isinstance(value, torch.Tensor):
                continue
            self.keep.append(value)
            name = alias if alias is not None else self._new_name("const" if constant else "t")
            if constant:
                self.constants.add(name)
            self.names[id(value)] = name
            result.append(self._record(value, name))
        return result

    # ------------------------------------------------------------- dispatch

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        kwargs = kwargs or {}
        packet = func._schema.name.split("::")[-1]
        name = packet[:-1] if packet.endswith("_") else packet   # in-place: relu_ -> relu
        flat_in = _leaves((args, kwargs))
        in_tensors = [t for t in flat_in if isinstance(t, torch.Tensor)]
        value: Any = _UNKNOWN
        try:
            if name in _DATA_DEPENDENT:   # answered from example values, when they are known
                value = self.values.run(func, args, kwargs, in_tensors, False)
            if value is not _UNKNOWN:
                out = _like(value, in_tensors[0].device)
            else:   # on meta this fails and the trace moves to fake tensors, whose constants
                    # (a comparison of two known sizes...) may still answer it
                shortcut = _SHAPE_SHORTCUTS.get(func)
                out = shortcut(*args, **kwargs) if shortcut is not None and _on_meta(args) else None
                if out is None and func in _SHAPE_RULES:
                    out = _SHAPE_RULES[func](*args, **kwargs)
                if out is None:
                    out = func(*args, **kwargs)
        except FlopscopeError:
            raise
        except Exception as exc:
            raise _explain(func, exc, self.module_stack[-1]) from None
        if func.namespace == "prim":
            return out
        flat_out = _leaves(out)
        if value is _UNKNOWN and (in_tensors or name in aten.FACTORIES) and \
                name not in _NO_VALUES and all(
                t.numel() <= _VALUE_LIMIT for t in flat_out if isinstance(t, torch.Tensor)):
            value = self.values.run(func, args, kwargs, in_tensors, name in aten.FACTORIES)
        self.values.bind(flat_out, value, self.keep)
        if name in aten.IGNORED:
            return out
        ir_inputs = [self.tensor(t) for t in in_tensors]
        if name in aten.FACTORIES or (not ir_inputs and name not in aten.HANDLERS):
            self._bind_outputs(flat_out, True, None)
            return out
        if name in aten.FOLDABLE and not func._schema.is_mutable and all(
                t.name in self.constants for t in ir_inputs if t is not None):
            # reshaping or casting a weight: the result is still that weight
            first = ir_inputs[0] if len(ir_inputs) == 1 and len(flat_out) == 1 else None
            alias = first.name if first is not None else None
            self._bind_outputs(flat_out, True, alias)
            return out
        ir_outputs = self._bind_outputs(flat_out, False, None)
        call = aten.Call(name=name, args=_bind_args(func, args, kwargs), outputs=ir_outputs,
                         ir=self.tensor, fresh=self.fresh)
        handler = aten.HANDLERS.get(name)
        emits = None
        if handler is not None:
            try:
                emits = handler(call)
            except (KeyError, IndexError, TypeError, AttributeError, ValueError):
                emits = None  # arguments the mapping does not understand: report, do not guess
        if emits is None:
            unsupported = aten.Emit(f"{packet}.{func._overloadname}", list(ir_inputs), ir_outputs)
            self._add(unsupported, self.module_stack[-1], "aten", name)
        else:
            for emit in emits:
                self._add(emit, self.module_stack[-1], emit.domain, None)
        return out

    def _add(self, emit: aten.Emit, module: str, domain: str, label: str | None) -> None:
        base = f"{module or 'model'}/{label or emit.op}{'.' + emit.suffix if emit.suffix else ''}"
        name, k = base, 1
        while name in self.node_names:
            k += 1
            name = f"{base}#{k}"
        self.node_names.add(name)
        weights = frozenset(i for i, t in enumerate(emit.inputs)
                            if t is not None and t.name in self.constants)
        self.nodes.append(Node(
            name=name, op=emit.op, inputs=tuple(emit.inputs), outputs=tuple(emit.outputs),
            attrs=emit.attrs, domain=domain, module=module, weights=weights,
            values=emit.values, opset=OPSET))


def _leaves(value: Any, into: list[Any] | None = None) -> list[Any]:
    """The leaves of an op's arguments or results, in order (ATen nests only tuples,
    lists and dicts; torch's general pytree flattening costs a quarter of a trace)."""
    if into is None:
        into = []
    if isinstance(value, (tuple, list)):
        for v in value:
            _leaves(v, into)
    elif isinstance(value, dict):
        for v in value.values():
            _leaves(v, into)
    else:
        into.append(value)
    return into


def _like(value: Any, device: torch.device) -> Any:
    """A data-dependent op's result, computed on example values, as the trace's tensors:
    tensors become empty ones of the same shape on ``device``; Python scalars stay."""
    if isinstance(value, torch.Tensor):
        return torch.empty(value.shape, dtype=value.dtype, device=device)
    if isinstance(value, (tuple, list)):
        return type(value)(_like(v, device) for v in value)
    return value


def _on_meta(args: tuple) -> bool:
    first = args[0] if args else None
    return isinstance(first, torch.Tensor) and first.device.type == "meta" and \
        type(first) is torch.Tensor


def _same_as_first(x: Any, *args: Any, **kwargs: Any) -> Any:
    """Pointwise ops: the output is shaped like the input (PyTorch's meta kernels for these
    run Python reference code; on a ResNet they cost more than the whole analysis). Only
    for contiguous inputs, whose output layout is not in question."""
    return torch.empty_like(x) if x.is_contiguous() else None


def _in_place(x: Any, *args: Any, **kwargs: Any) -> Any:
    return x if x.is_contiguous() else None


def _binary(a: Any, b: Any, *args: Any, **kwargs: Any) -> Any:
    """Same-shape, same-dtype binary ops; anything else goes to the meta kernel."""
    if _twins(a, b):
        return torch.empty_like(a)
    return None


def _binary_in_place(a: Any, b: Any, *args: Any, **kwargs: Any) -> Any:
    return a if _twins(a, b) else None


def _twins(a: Any, b: Any) -> bool:
    return (isinstance(b, torch.Tensor) and b.shape == a.shape and b.dtype == a.dtype
            and a.is_contiguous() and b.is_contiguous() and b.device == a.device)


def _batch_norm(x: Any, weight: Any, bias: Any, mean: Any, var: Any, training: bool = False,
                *args: Any, **kwargs: Any) -> Any:
    if not x.is_contiguous():
        return None
    stats = (x.shape[1],) if training and x.dim() > 1 else (0,)
    return (torch.empty_like(x), torch.empty(stats, device="meta", dtype=x.dtype),
            torch.empty(stats, device="meta", dtype=x.dtype))


def _batch_norm_eval(x: Any, *args: Any, **kwargs: Any) -> Any:
    if not x.is_contiguous():
        return None
    empty = torch.empty((0,), device="meta", dtype=x.dtype)
    return torch.empty_like(x), empty, empty


_aten = torch.ops.aten
#: ATen op -> its result worked out without the meta kernel, or None to run the kernel
_SHAPE_SHORTCUTS: dict[object, Callable[..., Any]] = {
    **{getattr(_aten, op).default: _same_as_first
       for op in ("relu", "sigmoid", "tanh", "hardtanh", "hardswish", "hardsigmoid", "silu", "gelu",
                  "clone", "leaky_relu", "elu")},
    **{getattr(_aten, op).default: _in_place
       for op in ("relu_", "sigmoid_", "tanh_", "hardtanh_", "hardswish_", "hardsigmoid_", "silu_",
                  "leaky_relu_", "elu_")},
    **{getattr(_aten, op).Tensor: _binary for op in ("add", "sub", "mul", "div")},
    **{getattr(_aten, op).Tensor: _binary_in_place for op in ("add_", "sub_", "mul_", "div_")},
    _aten.native_batch_norm.default: _batch_norm,
    _aten._native_batch_norm_legit_no_training.default: _batch_norm_eval,
}


def _grouped_mm(a: Any, b: Any, offs: Any = None, bias: Any = None, out_dtype: Any = None) -> Any:
    """``torch._grouped_mm``'s result: the meta kernel checks CUDA's dtype rule (bfloat16
    only), which the CPU kernel and a float32 model on the meta device do not follow."""
    shape: tuple[int, ...]
    if a.dim() == 2 and b.dim() == 2:
        shape = (offs.shape[0], a.shape[0], b.shape[1])
    elif a.dim() == 2:
        shape = (a.shape[0], b.shape[-1])
    elif b.dim() == 2:
        shape = (a.shape[1], b.shape[1])
    else:
        shape = (a.shape[0], a.shape[1], b.shape[-1])
    return torch.empty(shape, dtype=out_dtype or a.dtype, device=a.device)


#: ATen op -> its result's shape worked out here on any device, where the meta kernel
#: refuses inputs the real kernel takes
_SHAPE_RULES: dict[object, Callable[..., Any]] = {}
if hasattr(_aten, "_grouped_mm"):
    _SHAPE_RULES[_aten._grouped_mm.default] = _grouped_mm


class _Functions(torch.overrides.TorchFunctionMode):
    """Functions costed as one op before PyTorch decomposes them: which kernel a direct call
    of ``F.scaled_dot_product_attention`` picks (flash, efficient, math) depends on the
    device, and the math one would spread the attention over a dozen ops. (Calls made
    inside other torch functions, such as ``F.multi_head_attention_forward``, are not
    seen here; their ATen ops are costed one by one, with the same MACs.)"""

    def __init__(self, recorder: _Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        kwargs = kwargs or {}
        if func is torch.nn.functional.scaled_dot_product_attention:
            return self._attention(*args, **kwargs)
        return func(*args, **kwargs)

    def _attention(self, query: Any, key: Any, value: Any, attn_mask: Any = None,
                   dropout_p: float = 0.0, is_causal: bool = False, **_: Any) -> Any:
        rec = self.recorder
        inputs = [rec.tensor(query), rec.tensor(key), rec.tensor(value), rec.tensor(attn_mask)]
        out = query.new_empty((*query.shape[:-1], value.shape[-1]))
        rec.constants.discard(rec.names.get(id(out), ""))   # new_empty was seen as a factory
        outputs = rec._bind_outputs([out], False, None)
        rec._add(aten.Emit("Attention", inputs, outputs, {"is_causal": int(bool(is_causal))}),
                 rec.module_stack[-1], "", None)
        return out


def _bind_args(func: Any, args: tuple, kwargs: dict) -> dict[str, Any]:
    bound: dict[str, Any] = {}
    schema_args = func._schema.arguments
    for i, arg in enumerate(schema_args):
        if i < len(args) and not arg.kwarg_only:
            bound[arg.name] = args[i]
        elif arg.name in kwargs:
            bound[arg.name] = kwargs[arg.name]
        elif arg.has_default_value():
            bound[arg.name] = arg.default_value
    return bound


#: ops whose result depends on tensor values, not only on shapes
_DATA_DEPENDENT = frozenset({"_local_scalar_dense", "nonzero", "masked_select", "unique", "_unique2",
                             "unique_consecutive", "unique_dim", "is_nonzero", "equal", "argwhere",
                             "nonzero_static", "repeat_interleave", "bincount", "histc"})


def _explain(func: Any, exc: Exception, module: str) -> FlopscopeError:
    where = f"in module '{module}'" if module else "at the top level"
    kind = type(exc).__name__
    op = str(func).split(".")[1] if str(func).count(".") >= 2 else str(func)
    if "DataDependent" in kind or "DynamicOutputShape" in kind or op in _DATA_DEPENDENT:
        hint = ""
        if "expert" in module.rsplit(".", 1)[-1].lower():
            hint = ("; a Mixture-of-Experts layer that loops over the experts its router picked "
                    "(transformers' experts_implementation='eager') can be analysed as "
                    "experts_implementation='grouped_mm' (the default), whose count is the same "
                    "for any routing")
        return FlopscopeError(
            f"the model does data-dependent work {where} ({func}: its result depends on tensor "
            f"values), which cannot be analysed without running it on real data{hint}")
    return FlopscopeError(f"forward() failed on the given input shapes {where} ({func}): {one_line(exc)}")


# --------------------------------------------------------------------------- entry point


def build(source: Source, *, weights: bool = False) -> tuple[torch.nn.Module, Any]:
    """``(module, default inputs)`` of a PyTorch-path :class:`Source` of any kind, a
    Hugging Face config (``hf:``) included: on the meta device unless ``weights``."""
    if source.kind == HF:
        from flopscope.frontends import hf

        return hf.build_source(source, weights=weights)
    return source.build(weights=weights)


def load(model: Any, inputs: Any = None, *, input_shapes: Mapping[str, Any] | None = None,
         name: str | None = None) -> LayerGraph:
    """Trace ``model`` on fake tensors and return its :class:`LayerGraph`.

    ``inputs`` is a shape (``(1, 3, 224, 224)``), a list of shapes, ``(shape, dtype)``
    pairs, example tensors, or a dict of them by forward() argument name.
    """
    source = resolve(model)
    module, default_inputs = build(source)
    given = merge_inputs(inputs, input_shapes)
    if given.empty:
        given = merge_inputs(default_inputs)
    params = dict(module.named_parameters())
    buffers = dict(module.named_buffers())
    on_meta = any(t.device.type == "meta" for t in (*params.values(), *buffers.values()))

    graph_params: dict[str, Param] = {}
    for pname, p in params.items():
        graph_params[pname] = Param(pname, tuple(p.shape), dtype_name(p.dtype), trainable=p.requires_grad)
    seen = {id(p) for p in params.values()}
    for bname, b in buffers.items():
        if id(b) not in seen:
            seen.add(id(b))
            graph_params[bname] = Param(bname, tuple(b.shape), dtype_name(b.dtype), buffer=True)

    modes = {m: m.training for m in module.modules()}
    try:
        module.eval()
        try:
            # weights stand in as meta tensors (swapped in by functional_call, swapped back
            # after): meta kernels compute shapes only, no real memory, no fake tensors
            recorder, graph_inputs, graph_outputs = _trace(module, params, buffers, given,
                                                           None, "meta")
        except _NeedsFake:
            # the model makes tensors on its own device (torch.arange(n) on the CPU...):
            # fake tensors follow it there
            recorder, graph_inputs, graph_outputs = _trace(module, params, buffers, given,
                                                           None, "fake")
    finally:
        for m, training in modes.items():
            m.training = training

    notes = []
    if on_meta and source.kind in (MODULE, HF):
        notes.append("weights on the meta device: analysed without allocating them")
    quantised = _unapplied_quantisation(module, params)
    if quantised:
        notes.append(quantised)
    return LayerGraph(
        name=name or source.name, source="torch", inputs=graph_inputs, outputs=graph_outputs,
        nodes=recorder.nodes, params=graph_params, constants=frozenset(recorder.constants),
        notes=notes, modules=recorder.modules)


def _unapplied_quantisation(module: Any, params: Mapping[str, Any]) -> str:
    """A note when the model's config asks for quantised weights (``quantization_config``:
    AWQ, GPTQ, bitsandbytes, FP8...) but its weights are plain floats (a model built from
    a config: transformers quantises only while loading a checkpoint): weight bytes are then
    those of the float weights, not of the checkpoint."""
    config = getattr(getattr(module, "config", None), "quantization_config", None)
    if config is None:
        return ""
    values = config if isinstance(config, Mapping) else getattr(config, "__dict__", {})
    if any(not p.dtype.is_floating_point for p in params.values()):
        return ""                                # quantised layers are in place: counted as they are
    method = values.get("quant_method", "quantization")
    bits = values.get("bits") or (4 if values.get("load_in_4bit") else
                                  8 if values.get("load_in_8bit") else None)
    dtypes = sorted({str(p.dtype).removeprefix("torch.") for p in params.values()})
    what = f"{method}, {bits}-bit" if bits else str(method)
    return (f"quantization_config ({what}) not applied: transformers quantises while loading a "
            f"checkpoint; weights counted as {'/'.join(dtypes)}, as built, not as stored quantised")


def module_path(module_names: dict[int, str], mod: Any, stack: list[str]) -> str:
    """``mod``'s path in the model; a module created on the fly inside forward() is named
    after its class under the module that runs it (the top of ``stack``)."""
    path = module_names.get(id(mod))
    if path is None:
        parent = stack[-1]
        path = f"{parent}.{type(mod).__name__}" if parent else type(mod).__name__
    return path


def bind_inputs(recorder: _Recorder, args: Sequence[Any], kwargs: dict[str, Any],
                input_names: Sequence[str], examples: dict[int, Any] | None = None) -> list[Tensor]:
    """Name the model's tensor inputs in ``recorder`` and return them as graph inputs. With
    ``examples`` (id -> value, from :func:`arguments`), each input's example values (or
    :func:`default_values`) answer the data-dependent reads of the trace."""
    graph_inputs = []
    for input_name, value in zip(input_names, [*args, *kwargs.values()]):
        if not isinstance(value, torch.Tensor):
            continue
        recorder.names[id(value)] = input_name
        recorder.keep.append(value)
        if examples is not None:
            known = examples.get(id(value))
            if known is None:
                known = default_values(input_name, value)
            if known is not None:
                recorder.values.by_id[id(value)] = known
        graph_inputs.append(Tensor(input_name, tuple(value.shape), dtype_name(value.dtype)))
    return graph_inputs


class _NeedsFake(Exception):
    """The meta trace met a tensor on another device: retry on fake tensors."""


def _trace(module: torch.nn.Module, params: dict[str, Any], buffers: dict[str, Any], inputs: Any,
           input_shapes: Mapping[str, Any] | None, how: str) -> tuple[_Recorder, list, list]:
    """Run ``module`` once under the recorder, on meta tensors or fake ones."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    names: dict[int, str] = {}
    constants: set[str] = set()
    held = (*params.values(), *buffers.values())
    # a model without weights is not "on meta": its own tensors (a captured constant) are real
    on_meta = bool(held) and all(t.device.type == "meta" for t in held)
    state: dict[str, Any] = {}
    for kind in (params, buffers):
        for key, tensor in kind.items():
            if how == "meta" and not on_meta:
                stand_in = torch.empty_like(tensor, device="meta")
                stand_in.requires_grad_(False)
            else:
                stand_in = tensor
            state[key] = stand_in
            names.setdefault(id(stand_in), key)
            constants.add(names[id(stand_in)])
    recorder = _Recorder(names, constants)
    module_names = {id(m): n for n, m in module.named_modules()}

    def pre_hook(mod: torch.nn.Module, _args: Any) -> None:
        path = module_path(module_names, mod, recorder.module_stack)
        recorder.modules.setdefault(path, type(mod).__name__)
        recorder.module_stack.append(path)

    def post_hook(mod: torch.nn.Module, _args: Any, _out: Any) -> None:
        if len(recorder.module_stack) > 1:
            recorder.module_stack.pop()

    device = torch.device("meta") if how == "meta" else (
        torch.device("meta") if on_meta else torch.device("cpu"))
    fake = FakeTensorMode(allow_non_fake_inputs=True) if how == "fake" else contextlib.nullcontext()
    pre = post = None
    try:
        with torch.no_grad(), fake:
            examples: dict[int, Any] = {}
            args, kwargs, input_names = arguments(module, inputs, input_shapes, device, examples)
            graph_inputs = bind_inputs(recorder, args, kwargs, input_names, examples)
            pre = torch.nn.modules.module.register_module_forward_pre_hook(pre_hook)
            post = torch.nn.modules.module.register_module_forward_hook(post_hook, always_call=True)
            with recorder, _Functions(recorder):
                if how == "meta" and not on_meta:
                    out = torch.func.functional_call(module, state, tuple(args), kwargs,
                                                     tie_weights=True, strict=False)
                else:
                    out = module(*args, **kwargs)
            flat_out, _ = tree_flatten(out)       # any pytree the model returns
            graph_outputs = [t for t in (recorder.tensor(v) for v in flat_out) if t is not None]
    except Exception as exc:
        if how == "meta" and "device" in str(exc) and not on_meta:
            raise _NeedsFake from None
        if isinstance(exc, FlopscopeError):
            raise
        raise FlopscopeError(f"{type(module).__name__}: forward() failed on the given input "
                             f"shapes ({one_line(exc, named=True)})") from None
    finally:
        if pre is not None:
            pre.remove()
        if post is not None:
            post.remove()
    return recorder, graph_inputs, graph_outputs


