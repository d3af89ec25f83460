"""LLM phases: the cost of a prefill or of one decode step, per token.

A decoder model (a Hugging Face ``hf:`` source or a transformers model object) is traced
as it runs in that phase (an ONNX decoder export with past key/value inputs has its inputs
and dim params bound to the phase instead: :func:`_onnx_phase`): **prefill** reads ``seq``
prompt tokens (after ``context`` cached ones, usually none); **decode** reads one new
token against a KV cache already holding ``context`` tokens. On the PyTorch path the
model fills that cache itself, in a traced prefill of ``context`` tokens (meta tensors:
nothing allocated), so every layer keeps what transformers keeps. Each step is costed
exactly like any other analysis, then put per token:

* FLOPs (and MACs) per token: the step's totals over the ``batch·new`` tokens it makes;
* weight bytes read: every parameter once per step (the embedding table included: an
  upper bound, a step gathers only its tokens' rows), per token shared by the batch; a
  Mixture-of-Experts layer's experts (``torch._grouped_mm`` over E experts) only as far
  as its token-expert pairs can reach: min(E, pairs) of E (exact for one token, whose k
  experts are distinct; an upper bound for more);
* KV-cache bytes, per token and for the whole cache after the step: for full attention
  ``2·layers·tokens·kv_heads·head_dim·bytes`` (keys and values); on the PyTorch path
  measured from the cache (:func:`cache_bytes`): a sliding-window layer holds at most its
  window, latent attention (DeepSeek-V3) its compressed latent, a state-space or
  linear-attention layer (Mamba, Jamba, Qwen3-Next) a fixed state;
* arithmetic intensity: FLOPs over the bytes the step must move at least: the weights,
  the cache it reads (``context`` tokens, the states) and what it writes (the new
  tokens' K/V, the states).

On a named device (:mod:`flopscope.devices`, ``--device``) a step takes at least
max(FLOPs / peak FLOP/s for the weights' dtype, bytes moved / bandwidth): :func:`on_device`.

>>> kv_cache_bytes(layers=32, tokens=1, kv_heads=8, head_dim=128, dtype_bytes=2)
131072
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from math import prod
from typing import TYPE_CHECKING, Any

from flopscope.errors import FlopscopeError

if TYPE_CHECKING:
    from flopscope.devices import Device

PHASES = ("prefill", "decode")

#: torch / ONNX dtype names -> the dtype keys of a device's peak table
_PEAK_DTYPES = {"float64": "fp64", "double": "fp64", "float32": "fp32", "float": "fp32",
                "bfloat16": "bf16", "float16": "fp16", "half": "fp16", "int8": "int8",
                "uint8": "int8", "float8_e4m3fn": "fp8", "float8_e5m2": "fp8"}


def kv_cache_bytes(layers: int, tokens: int, kv_heads: int, head_dim: int, dtype_bytes: int) -> int:
    """Bytes of keys and values for ``tokens`` tokens: ``2·layers·tokens·kv_heads·head_dim·bytes``."""
    return 2 * layers * tokens * kv_heads * head_dim * dtype_bytes


@dataclass(frozen=True)
class DeviceEstimate:
    """A phase step on a named device's roofline: a lower bound on its time.

    ``seconds_per_step`` = max(FLOPs / ``peak_flops``, ``bytes_moved`` / ``bandwidth``);
    ``bound`` says which term wins (``"memory"`` or ``"compute"``); ``dtype`` is the peak
    used (the weights' dtype, or fp32 where the device lists none for it).
    """

    name: str
    source: str
    dtype: str
    peak_flops: float
    bandwidth_bytes_per_s: float
    bytes_moved: int
    seconds_per_step: float
    seconds_per_token: float
    tokens_per_s: float
    bound: str


@dataclass(frozen=True)
class PhaseCost:
    """One phase step of a decoder model, totals and per token (see the module doc).

    ``tokens`` is the number of new tokens the step processes (``batch·seq`` for a
    prefill, ``batch`` for a decode step); ``kv_cache_bytes`` is the cache after the step.
    """

    phase: str
    batch: int
    seq: int
    context: int
    tokens: int
    macs: int
    flops: int
    weight_bytes: int
    kv_dtype: str
    kv_bytes_per_token: int
    kv_cache_bytes: int
    kv_read_bytes: int
    kv_written_bytes: int
    weight_dtype: str = ""
    device: DeviceEstimate | None = None
    expert_bytes: int = 0            # Mixture-of-Experts weights in the model...
    expert_bytes_read: int = 0       # ... and those the step reads at most (in weight_bytes)
    state_bytes: int = 0             # recurrent / convolution states in kv_cache_bytes

    @property
    def flops_per_token(self) -> float:
        return self.flops / self.tokens

    @property
    def macs_per_token(self) -> float:
        return self.macs / self.tokens

    @property
    def weight_bytes_per_token(self) -> float:
        return self.weight_bytes / self.tokens

    @property
    def bytes_moved(self) -> int:
        """Bytes the step must move at least: weights, KV cache read and K/V written."""
        return self.weight_bytes + self.kv_read_bytes + self.kv_written_bytes

    @property
    def arithmetic_intensity(self) -> float:
        """FLOPs per byte moved: weights, KV cache read and K/V written."""
        moved = self.bytes_moved
        return self.flops / moved if moved else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Fields and per-token figures, for JSON."""
        return {**asdict(self), "flops_per_token": self.flops_per_token,
                "macs_per_token": self.macs_per_token,
                "weight_bytes_per_token": self.weight_bytes_per_token,
                "arithmetic_intensity": self.arithmetic_intensity}

    def text(self) -> str:
        """A short plain-text block."""
        rows = self.rows()
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)

    def markdown(self) -> str:
        """A Markdown section: a ``### phase`` heading and a two-column table."""
        body = [f"| {k} | {v} |" for k, v in self.rows()]
        return "\n".join(["### phase", "", "| | |", "|---|---|", *body])

    def rows(self) -> list[tuple[str, str]]:
        """``(label, value)`` pairs, the phase first, then per-token costs and the device."""
        from flopscope.units import si

        rows = [
            ("phase", f"{self.phase} (batch {self.batch}, seq {self.seq}, context {self.context})"),
            ("new tokens", f"{self.tokens:,}"),
            ("FLOPs per token", f"{self.flops_per_token:,.0f}  ({si(self.flops_per_token)})"),
            ("MACs per token", f"{self.macs_per_token:,.0f}"),
            ("weight bytes read", f"{self.weight_bytes:,} B per step, "
                                  f"{self.weight_bytes_per_token:,.0f} B per token"),
        ]
        if self.expert_bytes:
            rows.append(("of which experts", f"{self.expert_bytes_read:,} B of {self.expert_bytes:,} B "
                                             "(the experts the step's tokens can reach)"))
        rows += [
            ("KV cache", f"{self.kv_bytes_per_token:,} B per token ({self.kv_dtype}), "
                         f"{self.kv_cache_bytes:,} B in total after the step"
                         + (f", of which {self.state_bytes:,} B recurrent state"
                            if self.state_bytes else "")),
            ("arithmetic intensity", f"{self.arithmetic_intensity:.2f} FLOPs/B"),
        ]
        d = self.device
        if d is not None:
            rows += [
                ("device", f"{d.name}: {si(d.peak_flops)}FLOP/s {d.dtype}, "
                           f"{si(d.bandwidth_bytes_per_s)}B/s ({d.source})"),
                ("time lower bound", f"{_seconds(d.seconds_per_step)} per step, "
                                     f"{_seconds(d.seconds_per_token)} per token "
                                     f"({d.bound}-bound)"),
                ("tokens/s at most", f"{d.tokens_per_s:,.1f}"),
            ]
        return rows


def expert_weights(report: Any, width: int) -> tuple[int, int]:
    """``(bytes, bytes read)`` of the Mixture-of-Experts weights of a step's ``report``:
    each ``GroupedMatMul`` of M token-expert pair rows over G experts reads at most
    min(G, M) of its G weight matrices (``width`` bytes per element).

    >>> from flopscope.report import Layer
    >>> row = Layer("e", "ai.flopscope.GroupedMatMul", "experts", [[2, 8]], 256, 512, 128,
    ...             None, None, input_shapes=[[2, 4], [8]])
    >>> expert_weights(type("R", (), {"layers": [row]})(), 2)
    (256, 64)
    """
    total = read = 0
    for row in report.layers:
        shapes = row.input_shapes
        if not row.op.endswith("GroupedMatMul") or not row.params or len(shapes) != 2 or \
                not shapes[0] or len(shapes[0]) != 2 or not shapes[1]:
            continue
        pairs, groups = shapes[0][0], shapes[1][0]
        if not isinstance(pairs, int) or not isinstance(groups, int) or not groups:
            continue
        size = row.params * width
        total += size
        read += size * min(groups, pairs) // groups
    return total, read


def _seconds(t: float) -> str:
    """``t`` seconds in s, ms, µs or ns, four significant digits.

    >>> _seconds(6.354149e-08), _seconds(0.0125)
    ('63.54 ns', '12.5 ms')
    """
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if t >= scale:
            return f"{t / scale:.4g} {unit}"
    return f"{t / 1e-9:.4g} ns"


def on_device(cost: PhaseCost, device: Device | str) -> DeviceEstimate:
    """``cost`` on ``device``'s roofline (a :class:`~flopscope.devices.Device` or its name).

    >>> c = PhaseCost("decode", 1, 1, 0, 1, macs=10**9, flops=2 * 10**9,
    ...               weight_bytes=2 * 10**9, kv_dtype="bfloat16", kv_bytes_per_token=0,
    ...               kv_cache_bytes=0, kv_read_bytes=0, kv_written_bytes=0,
    ...               weight_dtype="bfloat16")
    >>> e = on_device(c, "h100")
    >>> e.bound, round(e.seconds_per_token * 1e3, 4)
    ('memory', 0.597)
    """
    from flopscope.devices import get_device

    dev = get_device(device) if isinstance(device, str) else device
    dtype = _PEAK_DTYPES.get(cost.weight_dtype or cost.kv_dtype, "fp32")
    if dtype not in dev.peak_flops:
        dtype = "fp32"
    peak = dev.peak(dtype)
    compute_s = cost.flops / peak
    memory_s = cost.bytes_moved / dev.bandwidth_bytes_per_s
    step = max(compute_s, memory_s)
    return DeviceEstimate(
        name=dev.name, source=dev.source, dtype=dtype, peak_flops=peak,
        bandwidth_bytes_per_s=dev.bandwidth_bytes_per_s, bytes_moved=cost.bytes_moved,
        seconds_per_step=step, seconds_per_token=step / cost.tokens,
        tokens_per_s=cost.tokens / step if step else float("inf"),
        bound="memory" if memory_s >= compute_s else "compute")


def with_device(cost: PhaseCost, device: Device | str | None) -> PhaseCost:
    """``cost`` with its :class:`DeviceEstimate` on ``device`` (unchanged when None)."""
    return cost if device is None else replace(cost, device=on_device(cost, device))


def analyze_phase(model: Any, phase: str, *, seq: int | None = None, context: int = 0,
                  batch: int = 1, trust_remote_code: bool = False,
                  device: Device | str | None = None,
                  dims: Mapping[str, int] | None = None,
                  convention: str = "flopscope") -> tuple[Any, PhaseCost]:
    """``(report of the step, its PhaseCost)`` for a decoder model in ``phase``.

    ``model`` is ``"hf:ID_OR_FOLDER"`` (or its Source) or a transformers model object.
    Prefill defaults to ``seq`` = 128 prompt tokens; decode processes one token (``seq``
    must be 1 or left out) against ``context`` cached tokens. ``device`` (a name from
    :mod:`flopscope.devices`) adds the step's roofline time on it (:func:`on_device`);
    ``dims`` binds an ONNX export's other dim params (head counts left symbolic);
    ``convention`` is the FLOP convention, as for :func:`flopscope.analyze`.
    """
    from flopscope.analysis import analyze
    from flopscope.frontends.hf import DEFAULT_SEQ
    from flopscope.sources import HF, MODULE, resolve, with_options

    if phase not in PHASES:
        raise FlopscopeError(f"--phase must be one of {', '.join(PHASES)}, not '{phase}'")
    if isinstance(device, str):
        from flopscope.devices import get_device

        device = get_device(device)                      # an unknown name fails before the trace
    if batch < 1 or context < 0 or (seq is not None and seq < 1):
        raise FlopscopeError("--batch and --seq must be >= 1, --context >= 0")
    if phase == "decode":
        if seq not in (None, 1):
            raise FlopscopeError("a decode step reads one token: give --context, not --seq")
        seq = 1
    elif seq is None:
        seq = DEFAULT_SEQ
    source = resolve(model)
    if source.is_onnx:
        report, cost = _onnx_phase(source, phase, seq, context, batch, dict(dims or {}), convention)
        return report, with_device(cost, device)
    if source.kind == HF:
        from flopscope.frontends.hf import build_source

        module, _ = build_source(with_options(source, trust_remote_code=trust_remote_code))
    elif source.kind == MODULE and hasattr(source.value, "config"):
        module = source.value
    else:
        raise FlopscopeError(f"{source.spec}: --phase needs a decoder model: hf:ID_OR_FOLDER, "
                             "a transformers model or an ONNX decoder export with past inputs")
    config = module.config
    if getattr(config, "is_encoder_decoder", False):
        raise FlopscopeError(f"{source.spec}: --phase handles decoder-only models; this one is "
                             "an encoder-decoder")
    import inspect

    from transformers import DynamicCache

    names = inspect.signature(module.forward).parameters      # transformers 5 renames it
    cache_name = next((n for n in ("cache", "past_key_values") if n in names), None)
    if cache_name is None:
        raise FlopscopeError(f"{source.spec}: --phase needs a model that takes a KV cache "
                             f"(cache= or past_key_values=); {type(module).__name__} takes neither")
    # the model fills its own cache: every layer kind (full or sliding-window attention,
    # latent attention, recurrent state) keeps what transformers keeps, on the meta device
    cache = DynamicCache(config=config)
    if context:
        analyze(module, input_shapes={"input_ids": ((batch, context), "int64"),
                                      "attention_mask": ((batch, context), "int64"),
                                      cache_name: cache}, name=source.name)
    read = cache_bytes(cache)
    if context and not read.total:
        raise FlopscopeError(f"{source.spec}: the model kept nothing in its cache over a prefill "
                             f"of {context} tokens (use_cache is off in its config?): no decode "
                             "step against that context to cost")
    inputs: dict[str, Any] = {"input_ids": ((batch, seq), "int64"), cache_name: cache}
    if not (context and read.per_token == 0):
        # a cache of states only (Mamba, RWKV-style): generation passes no mask after the
        # first step (the state-space mixer would broadcast the tokens over one)
        inputs["attention_mask"] = ((batch, context + seq), "int64")
    report = analyze(module, input_shapes=inputs, name=source.name, convention=convention)
    held = cache_bytes(cache)
    dtype = next(module.parameters()).dtype
    tokens = batch * seq
    experts, experts_read = expert_weights(report, dtype.itemsize)
    cost = PhaseCost(
        phase=phase, batch=batch, seq=seq, context=context, tokens=tokens,
        macs=report.totals.macs, flops=report.totals.flops,
        weight_bytes=report.totals.param_bytes - experts + experts_read,
        expert_bytes=experts, expert_bytes_read=experts_read,
        kv_dtype=held.dtype or str(dtype).removeprefix("torch."),
        kv_bytes_per_token=held.per_token // batch,
        kv_cache_bytes=held.total, kv_read_bytes=read.total,
        kv_written_bytes=held.per_token * seq + held.state,
        state_bytes=held.state, weight_dtype=str(dtype).removeprefix("torch."))
    return report, with_device(cost, device)


@dataclass(frozen=True)
class CacheBytes:
    """What a transformers cache holds: ``total`` bytes; ``per_token``, the keys and
    values of one position of every attention layer (the batch included); ``state``, the
    recurrent and convolution states of linear-attention and state-space layers (a fixed
    size, rewritten each step); ``dtype`` of the keys."""

    total: int = 0
    per_token: int = 0
    state: int = 0
    dtype: str = ""


def cache_bytes(cache: Any) -> CacheBytes:
    """The bytes a transformers ``DynamicCache`` holds, layer by layer (tensors on the
    meta device count by their shape): a full-attention layer grows by one position per
    token, a sliding-window one stops at its window, a state layer has a fixed size.

    >>> import torch
    >>> from transformers import DynamicCache
    >>> cache = DynamicCache()
    >>> kv = torch.empty(2, 4, 10, 8, device="meta")     # batch 2, 4 heads, 10 tokens, dim 8
    >>> _ = cache.update(kv, kv.clone(), 0)
    >>> cache_bytes(cache)
    CacheBytes(total=5120, per_token=512, state=0, dtype='float32')
    """
    import torch

    def size(tensor: torch.Tensor) -> int:
        return tensor.nelement() * tensor.element_size()

    total = per_token = state = 0
    dtype = ""
    for layer in getattr(cache, "layers", ()):
        keys: Any = getattr(layer, "keys", None)
        values: Any = getattr(layer, "values", None)
        if isinstance(keys, torch.Tensor) and keys.dim() >= 2 and keys.numel():
            held = size(keys) + (size(values) if isinstance(values, torch.Tensor) else 0)
            total += held
            per_token += held // keys.shape[-2]
            dtype = dtype or str(keys.dtype).removeprefix("torch.")
        for name in ("conv_states", "recurrent_states"):
            states: Any = getattr(layer, name, None) or {}
            state += sum(size(t) for t in states.values() if isinstance(t, torch.Tensor))
    return CacheBytes(total + state, per_token, state, dtype)


#: names of past key/value inputs in decoder exports: (layer, "key" | "value")
_PAST = re.compile(r"past_key_values\.(\d+)\.(key|value)|past\.(\d+)\.(key|value)"
                   r"|past_(key|value)_(\d+)|past_(key|value)_values_(\d+)")

#: ONNX element types -> torch-style dtype names
_ONNX_DTYPES = {1: "float32", 10: "float16", 16: "bfloat16", 11: "float64", 3: "int8", 2: "uint8",
                17: "float8_e4m3fn", 19: "float8_e5m2"}


def _past_layer(name: str) -> int | None:
    m = _PAST.fullmatch(name)
    if m is None:
        return None
    return int(next(g for g in m.groups() if g is not None and g.isdigit()))


def _onnx_phase(source: Any, phase: str, seq: int, context: int, batch: int,
                given: dict[str, int], convention: str = "flopscope") -> tuple[Any, PhaseCost]:
    """A phase step of an ONNX decoder export with past key/value inputs.

    Inputs ``input_ids`` / ``position_ids`` are bound to ``(batch, seq)``, ``attention_mask``
    to ``(batch, context + seq)``, every past key/value (``[batch, kv_heads, past, head_dim]``)
    to ``context`` cached tokens; their dim params are bound by name as well.
    """
    import numpy as np
    from onnx import helper

    from flopscope.analysis import analyze
    from flopscope.frontends.onnx import read_model

    proto = source.target if not isinstance(source.target, (str, os.PathLike)) \
        else read_model(source.target)
    init = {i.name for i in proto.graph.initializer}
    shapes: dict[str, tuple[int, ...]] = {}
    dims: dict[str, int] = dict(given)
    layers: set[int] = set()
    per_token = 0
    kv_dtype = ""

    def bind(name: str, declared: list[Any], wanted: tuple[int | None, ...]) -> tuple[int, ...]:
        if len(declared) != len(wanted):
            raise FlopscopeError(f"{source.spec}: input '{name}' has rank {len(declared)}, "
                                 f"--phase expects {len(wanted)}")
        out = []
        for axis, (dim, want) in enumerate(zip(declared, wanted)):
            if want is None:
                if dim.HasField("dim_param") and dim.dim_param in dims:
                    out.append(dims[dim.dim_param])
                    continue
                if not dim.HasField("dim_value"):
                    raise FlopscopeError(f"{source.spec}: input '{name}' axis {axis} is "
                                         f"symbolic ('{dim.dim_param}'); give it with --dim")
                out.append(dim.dim_value)
                continue
            if dim.HasField("dim_param"):
                if dims.setdefault(dim.dim_param, want) != want:
                    raise FlopscopeError(f"{source.spec}: dim '{dim.dim_param}' would be both "
                                         f"{dims[dim.dim_param]} and {want} in this phase")
            elif dim.HasField("dim_value") and dim.dim_value != want:
                raise FlopscopeError(f"{source.spec}: input '{name}' axis {axis} is fixed at "
                                     f"{dim.dim_value}; this phase needs {want}")
            out.append(want)
        return tuple(out)

    genai = _genai_decoder(source)
    head_size = genai.get("head_size")
    window = genai.get("sliding_window") or {}
    size = window.get("window_size") if isinstance(window, dict) else None
    window_size = size if isinstance(size, int) and size > 0 else 0
    sliding = set(window.get("layers") or ()) if window_size else set()
    read = held = state = 0
    for value in proto.graph.input:
        if value.name in init:
            continue
        declared = list(value.type.tensor_type.shape.dim)
        layer = _past_layer(value.name)
        if value.name in ("input_ids", "position_ids"):
            shapes[value.name] = bind(value.name, declared, (batch, seq))
        elif value.name == "attention_mask":
            shapes[value.name] = bind(value.name, declared, (batch, context + seq))
        elif layer is not None:
            if len(declared) == 4 and isinstance(head_size, int) and declared[3].HasField("dim_param"):
                dims.setdefault(declared[3].dim_param, head_size)     # genai's kv_cache_dim
            # a sliding-window layer keeps at most its window (genai_config.json says which)
            cap = window_size if layer in sliding else None
            past = min(context, cap) if cap else context
            shape = bind(value.name, declared, (batch, None, past, None))
            elem = value.type.tensor_type.elem_type
            one = shape[1] * shape[3] * _itemsize(elem)               # one token, this tensor
            per_token += one
            read += one * batch * past
            held += one * batch * (min(context + seq, cap) if cap else context + seq)
            kv_dtype = _ONNX_DTYPES.get(elem, str(np.dtype(helper.tensor_dtype_to_np_dtype(elem))))
            layers.add(layer)
            shapes[value.name] = shape
        elif value.name.startswith("past") and declared:
            # a carried state (the builder's past.N.conv of a short-convolution layer): a
            # fixed size, read and rewritten every step
            shape = bind(value.name, declared, (batch,) + (None,) * (len(declared) - 1))
            elem = value.type.tensor_type.elem_type
            state += prod(shape) * _itemsize(elem)
            shapes[value.name] = shape
    if not layers:
        raise FlopscopeError(f"{source.spec}: --phase needs a decoder export with past key/value "
                             "inputs (past_key_values.N.key / past_key_N ...); it has none")
    report = analyze(proto, input_shapes=shapes, dims=dims, name=source.name, convention=convention)
    tokens = batch * seq
    experts, experts_read = onnx_expert_weights(proto, report)
    cost = PhaseCost(
        phase=phase, batch=batch, seq=seq, context=context, tokens=tokens,
        macs=report.totals.macs, flops=report.totals.flops,
        weight_bytes=report.totals.param_bytes - experts + experts_read,
        expert_bytes=experts, expert_bytes_read=experts_read,
        kv_dtype=kv_dtype, kv_bytes_per_token=per_token, state_bytes=state,
        kv_cache_bytes=held + state, kv_read_bytes=read + state,
        kv_written_bytes=per_token * tokens + state,
        weight_dtype=_weight_dtype(proto))
    return report, cost


def _genai_decoder(source: Any) -> dict[str, Any]:
    """The ``model.decoder`` section of the ``genai_config.json`` that ONNX Runtime's model
    builder writes beside its decoder (``head_size``, ``sliding_window``...), when the
    file analysed is that decoder; ``{}`` otherwise (or when it does not parse)."""
    import json

    target = source.target
    if not isinstance(target, (str, os.PathLike)):
        return {}
    path = os.path.join(os.path.dirname(os.fspath(target)), "genai_config.json")
    try:
        with open(path, encoding="utf-8") as f:
            decoder = json.load(f)["model"]["decoder"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    if not isinstance(decoder, dict) or decoder.get("filename") != os.path.basename(os.fspath(target)):
        return {}
    return decoder


def onnx_expert_weights(proto: Any, report: Any) -> tuple[int, int]:
    """``(bytes, bytes read)`` of the expert weights of an ONNX model's ``com.microsoft``
    MoE / QMoE nodes (every initializer they take past the input and the router: weights,
    scales, biases, zero points, all one slice per expert) in a step's ``report``: a node
    routing ``rows`` tokens to ``k`` of ``E`` experts reads at most min(E, rows·k) of them.
    A node the report has no row of by name counts as read whole."""
    from onnx import helper

    sizes = {t.name: _itemsize(t.data_type) * prod(t.dims) for t in proto.graph.initializer}
    rows = {row.name: row for row in report.layers}
    total = read = 0
    for node in proto.graph.node:
        if node.domain != "com.microsoft" or node.op_type not in ("MoE", "QMoE"):
            continue
        size = sum(sizes.get(name, 0) for name in node.input[2:])
        total += size
        row = rows.get(node.name)
        shapes = row.input_shapes if row is not None else []
        k = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "k"), 1)
        if len(shapes) < 2 or not shapes[0] or not shapes[1] or \
                not all(isinstance(d, int) for d in [*shapes[0], shapes[1][-1]]):
            read += size
            continue
        tokens, experts = prod(int(d) for d in shapes[0][:-1]), int(shapes[1][-1])
        read += size * min(experts, tokens * int(k)) // experts if experts else size
    return total, read


def _itemsize(elem: int) -> int:
    """Bytes per element of an ONNX element type."""
    import numpy as np
    from onnx import helper

    return int(np.dtype(helper.tensor_dtype_to_np_dtype(elem)).itemsize)


def _weight_dtype(proto: Any) -> str:
    """The dtype holding most of an ONNX model's weight elements ('' when none)."""
    counts: dict[int, int] = {}
    for t in proto.graph.initializer:
        counts[t.data_type] = counts.get(t.data_type, 0) + prod(t.dims)
    if not counts:
        return ""
    return _ONNX_DTYPES.get(max(counts, key=lambda k: counts[k]), "")
