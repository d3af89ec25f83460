"""PyTorch frontend, training step: forward and backward traced on meta or fake tensors.

The module runs in train mode with its parameters as meta (or fake) stand-ins that
require grad (unless frozen), under the recorder of :mod:`flopscope.frontends.torch`.
After the forward, a sum of the outputs is taken outside the recorder and ``backward()``
runs under it, so the ATen ops autograd runs for the gradients (``convolution_backward``,
the ``mm`` of a linear layer's grad-input and grad-weight, ``native_batch_norm_backward``,
``threshold_backward``...) are recorded like forward ops, mapped by
:mod:`flopscope.frontends.aten_backward`. Autograd itself decides what is computed: no
grad-weight product for a frozen parameter, no grad-input product for a layer whose input
does not require grad (the first layer).

Each backward op is attributed to the module whose forward created the autograd node
that runs it: a module forward hook labels the autograd nodes created since the module's
pre-hook (sequence numbers increase as nodes are made) with its path, innermost modules
first. Ops run during backward inside a module's forward (``torch.utils.checkpoint``
recomputing its segment) are marked ``"recompute"``.

Saved activations are measured with ``torch.autograd.graph.saved_tensors_hooks`` during
the forward: the distinct storages autograd keeps for backward, parameters excluded.
"""

from __future__ import annotations

import contextlib
import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._pytree import tree_flatten

from flopscope.errors import FlopscopeError, one_line
from flopscope.frontends import aten_backward  # noqa: F401  (registers the backward mappings)
from flopscope.frontends.torch import (
    _leaves,
    _NeedsFake,
    _Recorder,
    arguments,
    bind_inputs,
    build,
    dtype_name,
    module_path,
)
from flopscope.graph import LayerGraph, Param, Tensor
from flopscope.sources import merge_inputs, resolve

#: phases of a traced node
FORWARD, BACKWARD, RECOMPUTE = "forward", "backward", "recompute"


@dataclass(frozen=True)
class Step:
    """One ATen call as memory sees it: the storages it reads and writes, each with its
    bytes, and its phase."""

    reads: tuple[tuple[int, int], ...]
    writes: tuple[tuple[int, int], ...]
    phase: str


@dataclass(frozen=True)
class TrainTrace:
    """A traced training step.

    ``graph`` holds the forward nodes, then those run by ``backward()`` (``phases`` says
    which, per node). ``saved`` maps the IR name of each tensor autograd saved for
    backward to its storage bytes (``""`` gathers saved storages the trace did not name);
    ``grads`` names the parameter gradients (IR tensor name -> parameter name);
    ``writers`` gives, for each tensor an ATen call wrote, the index of the first node
    recorded for that call (also for outputs the IR nodes leave out, such as max-pool
    indices or batch-norm statistics). ``steps`` is the memory view of the step, one
    :class:`Step` per ATen call in order, by storage (so views allocate nothing);
    ``outputs`` the storages of the model's outputs, ``held`` those of parameters,
    buffers and parameter gradients (memory held through the step, counted apart).
    """

    graph: LayerGraph
    phases: tuple[str, ...]
    saved: Mapping[str, int]
    grads: Mapping[str, str]
    writers: Mapping[str, int]
    steps: tuple[Step, ...] = ()
    outputs: frozenset[int] = frozenset()
    held: frozenset[int] = frozenset()

    @property
    def saved_bytes(self) -> int:
        """Bytes of the distinct storages autograd saved for backward."""
        return sum(self.saved.values())


def storage_id(t: torch.Tensor) -> int:
    """Identity of a tensor's storage (views and saved copies of a tensor share it)."""
    return int(t.untyped_storage()._cdata)


def _view_key(t: torch.Tensor) -> tuple[Any, ...]:
    return (storage_id(t), t.storage_offset(), tuple(t.shape), tuple(t.stride()), t.dtype)


#: functions that pick an attention kernel by device (the second calls the first)
_ATTENTION = (torch.nn.functional.scaled_dot_product_attention,
              torch.nn.functional.multi_head_attention_forward)


class _FusedKernels(torch.overrides.TorchFunctionMode):
    """On meta tensors ``F.scaled_dot_product_attention`` always takes the math kernel
    (its L×S probabilities saved for backward); the CPU takes a fused one (flash, which
    saves a log-sum-exp and recomputes them). Meeting it on meta restarts the trace on
    fake CPU tensors, which make the CPU's choice."""

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        if func in _ATTENTION and args and getattr(args[0], "device", None) is not None and \
                args[0].device.type == "meta":
            raise _NeedsFake
        return func(*args, **(kwargs or {}))


class _TrainRecorder(_Recorder):
    """The forward recorder, plus: tensors known by storage and view (autograd hands
    backward a new tensor object for a saved output), per-node phases, and module
    attribution of backward ops through the autograd node being run."""

    def __init__(self, names: dict[int, str], constants: set[str]) -> None:
        super().__init__(names, constants)
        self.by_view: dict[tuple[Any, ...], str] = {}
        self.labels: dict[int, str] = {}        # autograd sequence nr -> module path
        self.phase = FORWARD
        self.phases: list[str] = []
        self.writers: dict[str, int] = {}      # IR tensor name -> first node of its ATen call
        self.steps: list[Step] = []

    def _record(self, value: Any, name: str) -> Tensor:
        self.by_view[_view_key(value)] = name
        return super()._record(value, name)

    def name_of(self, value: torch.Tensor) -> str | None:
        name = self.names.get(id(value))
        return name if name is not None else self.by_view.get(_view_key(value))

    def tensor(self, value: Any) -> Tensor | None:
        if isinstance(value, torch.Tensor) and id(value) not in self.names:
            name = self.by_view.get(_view_key(value))
            if name is not None:
                self.names[id(value)] = name
                self.keep.append(value)
        return super().tensor(value)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        before = len(self.nodes)
        phase, pushed = self.phase, False
        if phase == BACKWARD:
            if len(self.module_stack) > 1:
                phase = RECOMPUTE
            else:
                node = _current_node()
                path = self.labels.get(node._sequence_nr(), "") if node is not None else ""
                self.module_stack.append(path)
                pushed = True
        try:
            out = super().__torch_dispatch__(func, types, args, kwargs)
        finally:
            if pushed:
                self.module_stack.pop()
            self.phases.extend([phase] * (len(self.nodes) - before))
        flat = _leaves(out)
        self.steps.append(Step(
            tuple({(storage_id(t), t.untyped_storage().nbytes())
                   for t in _leaves((args, kwargs or {})) if isinstance(t, torch.Tensor)}),
            tuple((storage_id(t), t.untyped_storage().nbytes()) for t in flat
                  if isinstance(t, torch.Tensor)), phase))
        if len(self.nodes) > before:
            for value in flat:
                name = self.names.get(id(value)) if isinstance(value, torch.Tensor) else None
                if name is not None:
                    self.writers.setdefault(name, before)
        return out


def _label(outputs: Any, start: int, path: str, labels: dict[int, str]) -> None:
    """Label the autograd nodes made since sequence nr ``start`` that lead to ``outputs``."""
    flat, _ = tree_flatten(outputs)
    todo = [t.grad_fn for t in flat if isinstance(t, torch.Tensor) and t.grad_fn is not None]
    while todo:
        node = todo.pop()
        seq = node._sequence_nr()
        if seq < start or seq in labels:
            continue
        labels[seq] = path
        todo.extend(n for n, _ in node.next_functions if n is not None)


def frozen_names(names: Iterable[str], patterns: Iterable[str]) -> set[str]:
    """Parameter names that match any glob in ``patterns`` (``backbone.*``).

    >>> sorted(frozen_names(["fc.weight", "conv1.weight"], ["conv*"]))
    ['conv1.weight']
    """
    pats = list(patterns)
    return {n for n in names if any(fnmatch.fnmatchcase(n, p) for p in pats)}


#: private autograd entry points, with fallbacks should a release drop them: the node
#: backward is running (else backward ops go to the top level) and the next node's
#: sequence number (else a module labels every unlabelled node leading to its outputs)
_current_node = getattr(torch._C, "_current_autograd_node", lambda: None)
_next_sequence_nr = getattr(torch._C._autograd, "_get_sequence_nr", lambda: 0)

#: autocast dtype of each mixed precision (flopscope.training.PRECISIONS)
AUTOCAST = {"bf16-mixed": torch.bfloat16, "fp16-mixed": torch.float16}


def load_train(model: Any, inputs: Any = None, *, input_shapes: Mapping[str, Any] | None = None,
               frozen: Iterable[str] = (), name: str | None = None,
               precision: str = "fp32") -> TrainTrace:
    """Trace one training step of ``model`` (forward, then backward of the outputs' sum).

    ``frozen`` holds glob patterns of parameter names to treat as ``requires_grad=False``
    (the module itself is not changed); parameters already frozen stay frozen. A mixed
    ``precision`` runs the forward under ``torch.autocast`` on (fake) CPU tensors, so
    activations, saved tensors and gradients take the dtypes autocast gives them.
    """
    source = resolve(model)
    module, default_inputs = build(source)
    given = merge_inputs(inputs, input_shapes)
    if given.empty:
        given = merge_inputs(default_inputs)
    params = dict(module.named_parameters())
    buffers = dict(module.named_buffers())
    patterns = list(frozen)
    matched = frozen_names(params, patterns)
    if patterns and not matched:
        raise FlopscopeError(f"--frozen {' '.join(patterns)}: no parameter name matches")
    trainable = {n: p.requires_grad and n not in matched for n, p in params.items()}
    graph_params: dict[str, Param] = {
        n: Param(n, tuple(p.shape), dtype_name(p.dtype), trainable=trainable[n])
        for n, p in params.items()}
    seen = {id(p) for p in params.values()}
    for bname, b in buffers.items():
        if id(b) not in seen:
            seen.add(id(b))
            graph_params[bname] = Param(bname, tuple(b.shape), dtype_name(b.dtype), buffer=True)

    modes = {m: m.training for m in module.modules()}
    try:
        module.train()
        cast = AUTOCAST.get(precision)
        try:
            if cast is not None:       # autocast acts on CPU tensors, not on meta ones
                raise _NeedsFake
            rec, graph_in, graph_out, saved, grads, outputs, held = _trace(
                module, params, buffers, trainable, given, "meta", None)
        except _NeedsFake:
            rec, graph_in, graph_out, saved, grads, outputs, held = _trace(
                module, params, buffers, trainable, given, "fake", cast)
    finally:
        for m, training in modes.items():
            m.training = training
    graph = LayerGraph(name=name or source.name, source="torch", inputs=graph_in,
                       outputs=graph_out, nodes=rec.nodes, params=graph_params,
                       constants=frozenset(rec.constants), notes=[])
    return TrainTrace(graph, tuple(rec.phases), saved, grads, rec.writers, tuple(rec.steps),
                      outputs, held)


def _trace(module: torch.nn.Module, params: dict[str, Any], buffers: dict[str, Any],
           trainable: Mapping[str, bool], given: Any, how: str, cast: torch.dtype | None
           ) -> tuple[_TrainRecorder, list[Tensor], list[Tensor], dict[str, int], dict[str, str],
                      frozenset[int], frozenset[int]]:
    from torch._subclasses.fake_tensor import FakeTensorMode

    names: dict[int, str] = {}
    constants: set[str] = set()
    recorder = _TrainRecorder(names, constants)
    module_names = {id(m): n for n, m in module.named_modules()}
    starts: list[int] = []

    def pre_hook(mod: torch.nn.Module, _args: Any) -> None:
        recorder.module_stack.append(module_path(module_names, mod, recorder.module_stack))
        starts.append(_next_sequence_nr())

    def post_hook(mod: torch.nn.Module, _args: Any, out: Any) -> None:
        if len(recorder.module_stack) > 1:
            path = recorder.module_stack.pop()
            # also during backward: a reentrant checkpoint makes new nodes as it recomputes
            _label(out, starts.pop(), path, recorder.labels)

    device = torch.device("meta") if how == "meta" else torch.device("cpu")
    fake = FakeTensorMode(allow_non_fake_inputs=True) if how == "fake" else contextlib.nullcontext()
    saved: dict[int, tuple[str, int]] = {}
    param_storages: set[int] = set()
    pre = post = None

    def pack(t: torch.Tensor) -> torch.Tensor:
        key = storage_id(t)
        if key not in param_storages and key not in saved:
            saved[key] = (recorder.name_of(t) or "", t.untyped_storage().nbytes())
        return t

    try:
        with torch.enable_grad(), fake:
            state: dict[str, Any] = {}
            for kind in (params, buffers):
                for key, tensor in kind.items():
                    stand_in = torch.empty_like(tensor, device=device)
                    stand_in.requires_grad_(bool(trainable.get(key, False)))
                    state[key] = stand_in
                    names.setdefault(id(stand_in), key)
                    constants.add(names[id(stand_in)])
                    param_storages.add(storage_id(stand_in))
            examples: dict[int, Any] = {}     # a mask's all-ones values answer data-dependent reads
            args, kwargs, input_names = arguments(module, given, None, device, examples)
            graph_inputs = bind_inputs(recorder, args, kwargs, input_names, examples)
            pre = torch.nn.modules.module.register_module_forward_pre_hook(pre_hook)
            post = torch.nn.modules.module.register_module_forward_hook(post_hook, always_call=True)
            autocast = (torch.autocast("cpu", dtype=cast) if cast is not None
                        else contextlib.nullcontext())
            with recorder, _FusedKernels(), autocast, \
                    torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                out = torch.func.functional_call(module, state, tuple(args), kwargs,
                                                 tie_weights=True, strict=False)
            flat_out, _ = tree_flatten(out)
            graph_outputs = [t for t in (recorder.tensor(v) for v in flat_out) if t is not None]
            _label(out, 0, "", recorder.labels)
            roots = [t for t in flat_out if isinstance(t, torch.Tensor) and t.requires_grad]
            if not roots:
                raise FlopscopeError(f"{type(module).__name__}: no output depends on a trainable "
                                     "parameter (all frozen?): nothing to train")
            loss = torch.stack([t.float().sum() for t in roots]).sum()
            recorder.phase = BACKWARD
            with recorder:
                loss.backward()
            grads = {}
            held = set(param_storages)
            outputs = frozenset(storage_id(t) for t in roots)
            for key, stand_in in state.items():
                if stand_in.grad is not None:
                    held.add(storage_id(stand_in.grad))
                    grad_name = recorder.name_of(stand_in.grad)
                    if grad_name is not None:
                        grads[grad_name] = key
    except Exception as exc:
        if how == "meta" and (isinstance(exc, _NeedsFake) or "device" in str(exc)):
            raise _NeedsFake from None
        if isinstance(exc, FlopscopeError):
            raise
        raise FlopscopeError(f"{type(module).__name__}: training step failed on the given input "
                             f"shapes ({one_line(exc, named=True)})") from None
    finally:
        if pre is not None:
            pre.remove()
        if post is not None:
            post.remove()
    by_name: dict[str, int] = {}
    for tensor_name, size in saved.values():
        by_name[tensor_name] = by_name.get(tensor_name, 0) + size
    return recorder, graph_inputs, graph_outputs, by_name, grads, outputs, frozenset(held)
