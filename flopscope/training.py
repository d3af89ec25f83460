"""Training cost: backward, optimizer step, gradients, optimizer state, saved activations.

``analyze(model, mode="train", optimizer=..., precision=..., frozen=...)`` lands here.

PyTorch models are traced through a whole training step on meta or fake tensors
(:mod:`flopscope.frontends.torch_train`): the forward, then the backward of the sum of
the outputs. Every op autograd runs is a layer row with its ``phase`` (``forward``,
``backward``, or ``recompute`` for a checkpointed segment run again during backward),
attributed to the module whose forward made it, and costed exactly by the rules
(:mod:`flopscope.rules.backward` for the gradient ops). ONNX files have no autograd:
their backward is derived from the forward graph by rule (:func:`derive_backward`).

Optimizer step, per trainable parameter element (one FLOP per add, subtract, multiply,
divide, sqrt; scalars such as ``1 − β``, bias corrections and ``lr·λ`` are computed once
per step, not per element; no weight decay unless the optimizer's name says so):

- ``sgd``: p ← p − lr·g: multiply, subtract: 2 FLOPs, no state.
- ``momentum``: v ← μ·v + g (multiply, add); p ← p − lr·v (multiply, subtract): 4 FLOPs,
  1 state element (v).
- ``adam``: m ← β₁·m + (1−β₁)·g (2 multiplies, add: 3); v ← β₂·v + (1−β₂)·g·g
  (3 multiplies, add: 4); m̂ ← m / (1−β₁ᵗ) (1); v̂ ← v / (1−β₂ᵗ) (1);
  p ← p − lr·m̂ / (√v̂ + ε) (sqrt, add, divide, multiply, subtract: 5): 14 FLOPs,
  2 state elements (m, v).
- ``adamw``: Adam's 14, then the decoupled decay p ← p − (lr·λ)·p (multiply,
  subtract: 2): 16 FLOPs, 2 state elements.

Memory convention. ``fp32``: weights, gradients and optimizer state in the parameter's
own dtype (4 bytes for a float32 model). ``bf16-mixed`` / ``fp16-mixed`` (the mixed
precision convention of ZeRO, Rajbhandari et al. 2020, 16 bytes per parameter with
Adam): half-precision (2-byte) working weights and gradients, plus fp32 (4-byte) master
weights and fp32 optimizer state for every trainable parameter. Frozen parameters have
working weights only: no gradient, no master copy, no state. Under a mixed precision the
PyTorch trace runs the forward under ``torch.autocast`` (CPU, bf16 or fp16), so saved
activations and the peak take the dtypes autocast gives each op (matmuls and convolutions
in half precision, normalisations and reductions in fp32); ONNX activations keep the
file's dtypes.

Peak training memory = working weights + master weights + buffers + gradients + optimizer
state (all held through the step) + the peak of live activations and activation
gradients over the forward then the backward (:func:`peak_live_bytes`, a liveness walk
over the ATen calls of the traced step by storage: a storage lives from the call that
writes it to the last call that reads it, so an activation saved for backward lives
until its gradient op has run, and views allocate nothing; parameter gradients are
counted once, with the gradients). In train mode ``peak_activation_bytes`` is that peak.
ONNX files have no trace to walk: every forward output is taken as kept for backward.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from flopscope.errors import FlopscopeError
from flopscope.graph import DTYPE_BITS, FLOAT_DTYPES, LayerGraph, Param
from flopscope.report import OK, Layer, Report, Training
from flopscope.rules import is_dot_product

FORWARD, BACKWARD, RECOMPUTE, DERIVED = "forward", "backward", "recompute", "derived"
_T = TypeVar("_T")


@dataclass(frozen=True)
class Optimizer:
    """An optimizer's per-element cost: FLOPs of one update, state elements kept, and the
    update it counts (one FLOP per add, subtract, multiply, divide, sqrt).

    >>> OPTIMIZERS["momentum"].formula
    'v = mu*v + g (2); p = p - lr*v (2)'
    """

    name: str
    flops_per_element: int
    state_per_element: int
    formula: str


#: the modes ``analyze(..., mode=...)`` and ``--mode`` take: inference, or a training step
MODES = ("inference", "train")

#: the optimizers ``--optimizer`` names
OPTIMIZERS: dict[str, Optimizer] = {o.name: o for o in (
    Optimizer("sgd", 2, 0, "p = p - lr*g (2)"),
    Optimizer("momentum", 4, 1, "v = mu*v + g (2); p = p - lr*v (2)"),
    Optimizer("adam", 14, 2, "m = b1*m + (1-b1)*g (3); v = b2*v + (1-b2)*g*g (4); "
                             "mh = m/(1-b1^t) (1); vh = v/(1-b2^t) (1); "
                             "p = p - lr*mh/(sqrt(vh) + eps) (5)"),
    Optimizer("adamw", 16, 2, "adam's update (14); p = p - (lr*wd)*p (2)"),
)}

#: precisions ``--precision`` names -> bytes of working weights and gradients (None: the
#: parameter's own dtype), and whether fp32 master weights are kept
PRECISIONS: dict[str, tuple[int | None, bool]] = {
    "fp32": (None, False),
    "bf16-mixed": (2, True),
    "fp16-mixed": (2, True),
}
#: bytes per element of optimizer state (and master weights) under mixed precision
FP32_BYTES = 4


@dataclass(frozen=True)
class TrainingMemory:
    """Bytes held through a training step, by kind.

    >>> TrainingMemory(40, 0, 40, 80).held
    160
    """

    weight_bytes: int
    master_weight_bytes: int
    gradient_bytes: int
    optimizer_state_bytes: int

    @property
    def held(self) -> int:
        """Weights, master weights, gradients and optimizer state together."""
        return (self.weight_bytes + self.master_weight_bytes + self.gradient_bytes
                + self.optimizer_state_bytes)


def _choose(table: Mapping[str, _T], key: str, what: str) -> _T:
    if key not in table:
        raise FlopscopeError(f"unknown {what} '{key}'; choose one of {', '.join(table)}")
    return table[key]


def _element_bytes(p: Param) -> int:
    return (DTYPE_BITS.get(p.dtype, 32) + 7) // 8


def training_memory(params: Iterable[Param], optimizer: str = "adamw",
                    precision: str = "fp32") -> TrainingMemory:
    """Weights, master weights, gradients and optimizer state of ``params`` (buffers
    excluded; ``trainable=None``, an ONNX parameter, counts as trainable).

    >>> w = [Param("w", (10,), "float32", trainable=True), Param("f", (5,), "float32", trainable=False)]
    >>> training_memory(w, "adamw", "fp32")
    TrainingMemory(weight_bytes=60, master_weight_bytes=0, gradient_bytes=40, optimizer_state_bytes=80)
    >>> training_memory(w, "adamw", "bf16-mixed")
    TrainingMemory(weight_bytes=30, master_weight_bytes=40, gradient_bytes=20, optimizer_state_bytes=80)
    """
    opt = _choose(OPTIMIZERS, optimizer, "optimizer")
    working, master = _choose(PRECISIONS, precision, "precision")
    weights = masters = grads = state = 0
    for p in params:
        if p.buffer:
            continue
        size = working if working is not None else _element_bytes(p)
        weights += size * p.numel
        if p.trainable is False:
            continue
        grads += size * p.numel
        masters += FP32_BYTES * p.numel if master else 0
        state_bytes = FP32_BYTES if master else _element_bytes(p)
        state += opt.state_per_element * state_bytes * p.numel
    return TrainingMemory(weights, masters, grads, state)


def optimizer_flops(params: Iterable[Param], optimizer: str = "adamw") -> int:
    """FLOPs of one optimizer step over the trainable elements of ``params``.

    >>> optimizer_flops([Param("w", (10,), "float32", trainable=True)], "adam")
    140
    """
    opt = _choose(OPTIMIZERS, optimizer, "optimizer")
    return opt.flops_per_element * sum(p.numel for p in params
                                       if not p.buffer and p.trainable is not False)


def peak_live_bytes(steps: Sequence[Any], held: frozenset[int] = frozenset(),
                    outputs: frozenset[int] = frozenset()) -> int:
    """Peak bytes of live storages over ``steps`` (``Step``s of a traced training step:
    ``reads`` and ``writes`` as (storage, bytes), ``phase``), ``held`` storages left out.

    A storage lives from the step that first writes it (from the start when it is read
    before any step writes it: an input) to the last step that reads or writes it; the
    model's ``outputs`` live until the backward starts (the loss reads them). Views share
    their base's storage, so they allocate nothing.

    >>> from types import SimpleNamespace as S
    >>> steps = [S(reads=((1, 10),), writes=((2, 20),), phase="forward"),
    ...          S(reads=((2, 20),), writes=((3, 5),), phase="forward"),
    ...          S(reads=((3, 5),), writes=((4, 20),), phase="backward")]
    >>> peak_live_bytes(steps)        # step 0: the input (10) and its output (20)
    30
    >>> peak_live_bytes(steps, outputs=frozenset({2}))   # 2 is read by the loss: 20 + 5 + 20
    45
    """
    born: dict[int, int] = {}
    last: dict[int, int] = {}
    size: dict[int, int] = {}
    start_backward = len(steps)
    for i, step in enumerate(steps):
        if step.phase != FORWARD and start_backward == len(steps):
            start_backward = i
        for key, n in step.reads:
            born.setdefault(key, 0)
            size.setdefault(key, n)
            last[key] = i
        for key, n in step.writes:
            if key not in born:
                born[key], size[key] = i, n
            last[key] = i
    for key in outputs:
        if key in last:
            last[key] = max(last[key], start_backward)
    delta = [0] * (len(steps) + 1)
    for key, first in born.items():
        if key not in held:
            delta[first] += size[key]
            delta[last[key] + 1] -= size[key]
    live = peak = 0
    for change in delta:
        live += change
        peak = max(peak, live)
    return peak


# --------------------------------------------------------------------------- PyTorch


def analyze_training(source: Any, given: Any, build: Callable[[LayerGraph], Report], *,
                     dims: Mapping[str, int] | None = None, convention: str = "flopscope",
                     name: str | None = None, optimizer: str = "adamw", precision: str = "fp32",
                     frozen: Iterable[str] = ()) -> Report:
    """The :class:`Report` of one training step (see the module docstring); ``source`` is
    a resolved :class:`flopscope.sources.Source`, ``given`` its merged inputs, ``build``
    the analysis step that costs a graph (:func:`flopscope.analysis.build_report` with the
    caller's convention and price table: passed in, as the analysis is the layer above)."""
    _choose(OPTIMIZERS, optimizer, "optimizer")
    _choose(PRECISIONS, precision, "precision")
    frozen = list(frozen)
    if source.is_onnx:
        from flopscope.frontends import onnx as onnx_frontend
        if frozen:
            raise FlopscopeError("--frozen names PyTorch parameters; ONNX parameters all count "
                                 "as trainable")
        graph = onnx_frontend.load(source.target, input_shapes=given.by_name(), dims=dims,
                                   name=name)
        report = build(graph)
        derive_backward(report, graph)
        return _finish(report, graph, None, None, optimizer, precision, convention)
    if dims:
        raise FlopscopeError("--dim binds symbolic dims of ONNX models; for PyTorch models "
                             "give --input-shape")
    from flopscope.frontends.torch_train import load_train
    trace = load_train(source, given, frozen=frozen, name=name, precision=precision)
    report = build(trace.graph)
    for layer, phase in zip(report.layers, trace.phases):
        layer.phase = phase
    for i, phase in enumerate(trace.phases):
        if phase == FORWARD:
            report.layers[i].saved_bytes = 0
    for tensor_name, size in trace.saved.items():     # graph inputs: in the total only
        i = trace.writers.get(tensor_name, -1)
        if i >= 0 and report.layers[i].saved_bytes is not None:
            report.layers[i].saved_bytes = (report.layers[i].saved_bytes or 0) + size
    report.totals.saved_activation_bytes = trace.saved_bytes
    peak = peak_live_bytes(trace.steps, trace.held, trace.outputs)
    return _finish(report, trace.graph, peak, trace.saved_bytes, optimizer, precision, convention,
                   frozen)


def _finish(report: Report, graph: LayerGraph, peak: int | None, saved: int | None,
            optimizer: str, precision: str, convention: str, frozen: Sequence[str] = ()) -> Report:
    """Training totals from the phased layer rows, the parameters and a liveness walk."""
    report.training = Training(optimizer, precision, tuple(frozen))
    t = report.totals
    forward = [l for l in report.layers if l.phase == FORWARD]
    backward = [l for l in report.layers if l.phase in (BACKWARD, RECOMPUTE, DERIVED)]
    t.forward_macs = sum(l.macs or 0 for l in forward)
    t.forward_flops = sum(l.flops or 0 for l in forward)
    t.backward_macs = sum(l.macs or 0 for l in backward)
    t.backward_flops = sum(l.flops or 0 for l in backward)
    t.recompute_macs = sum(l.macs or 0 for l in report.layers if l.phase == RECOMPUTE)
    params = list({p.name: p for p in graph.params.values() if not p.buffer}.values())
    memory = training_memory(params, optimizer, precision)
    _layer_gradients(report, graph, precision)
    t.optimizer_flops = optimizer_flops(params, optimizer)
    t.macs = t.forward_macs + t.backward_macs
    t.flops = t.forward_flops + t.backward_flops + (0 if convention == "2mac" else t.optimizer_flops)
    t.gradient_bytes = memory.gradient_bytes
    t.optimizer_state_bytes = memory.optimizer_state_bytes
    t.master_weight_bytes = memory.master_weight_bytes
    if saved is None or peak is None:   # ONNX: no autograd to ask; every forward output is kept
        t.saved_activation_bytes = t.activation_bytes
        peak = t.activation_bytes
    else:
        t.peak_activation_bytes = peak
    t.peak_training_bytes = memory.held + t.buffer_bytes + peak
    report.notes.append(
        f"train mode: {optimizer}, {precision}; MACs and FLOPs are forward + backward "
        f"({t.forward_macs:,} + {t.backward_macs:,} MACs), FLOPs include the optimizer step "
        f"({t.optimizer_flops:,}); see flopscope.training for the memory convention")
    return report


def _layer_gradients(report: Report, graph: LayerGraph, precision: str) -> None:
    """Each forward layer's ``gradient_bytes``: the gradients of the parameters it owns
    (a parameter belongs to the first layer that reads it, as its ``params`` count)."""
    seen: set[str] = set()
    for node, layer in zip(graph.nodes, report.layers):
        if layer.phase != FORWARD:
            continue
        owned = [graph.params[t.name] for t in node.inputs
                 if t is not None and t.name in graph.params and t.name not in seen]
        seen.update(p.name for p in owned)
        layer.gradient_bytes = training_memory(
            [p for p in owned if not p.buffer], precision=precision).gradient_bytes


# --------------------------------------------------------------------------- ONNX


#: backward of non-dot-product ops, derived from the forward FLOPs: multiple of forward
#: FLOPs, per op (the gradient formula in the comment). An op not listed is costed as
#: 1× its forward and marked ``derived`` (no backward rule).
BACKWARD_FLOP_MULTIPLE: Mapping[str, int] = {
    "Relu": 1,                  # select dy by the sign of x: one compare
    "Add": 0, "Sub": 0,         # the gradient passes through (broadcast sums left out)
    "Mul": 2,                   # dy·b and dy·a
    "Div": 3,                   # dy/b and −dy·a/b²
    "BatchNormalization": 5,    # 10 per element in training (rules.backward) vs 2 forward
    "LayerNormalization": 2,    # 13 per element vs ~7 forward
    "Softmax": 1, "Sigmoid": 1, "Tanh": 1, "Gelu": 1,
    "MaxPool": 1, "AveragePool": 1, "GlobalAveragePool": 1,
    "Flatten": 0, "Reshape": 0, "Transpose": 0, "Identity": 0, "Concat": 0, "Slice": 0,
}


def derive_backward(report: Report, graph: LayerGraph) -> None:
    """Append one derived backward row per forward layer of an ONNX graph (in place).

    Which tensors need a gradient: floating-point parameters (every ONNX initializer
    counts as trainable) and what is computed from them; graph inputs do not. A
    dot-product op costs its forward MACs and FLOPs once per input that needs a gradient
    (grad-input, grad-weight): 2× forward, 1× for the first layer, whose input is a graph
    input. Other ops: :data:`BACKWARD_FLOP_MULTIPLE` of their forward FLOPs, or 1×
    marked ``derived`` when no rule is listed.
    """
    params = {name for name, p in graph.params.items()
              if not p.buffer and p.dtype in FLOAT_DTYPES}
    needs = set(params)
    rows: list[Layer] = []
    for node, layer in zip(graph.nodes, report.layers):
        layer.phase = FORWARD
        flowing = [t is not None and t.name in needs for t in node.inputs]
        if not any(flowing):
            continue
        needs.update(t.name for t in node.outputs if t is not None)
        if layer.status != OK:
            continue
        op = layer.op
        if is_dot_product(op):
            k = sum(flowing[:2])
            macs, flops, phase, why = (layer.macs or 0) * k, (layer.flops or 0) * k, BACKWARD, (
                f"{k} gradient product(s) of the forward's size")
        elif op in BACKWARD_FLOP_MULTIPLE:
            k = BACKWARD_FLOP_MULTIPLE[op]
            macs, flops, phase, why = 0, (layer.flops or 0) * k, BACKWARD, f"{k}x forward FLOPs"
        else:
            macs, flops, phase, why = 0, layer.flops or 0, DERIVED, (
                f"no backward rule for {op}: assumed equal to its forward")
        rows.append(Layer(name=f"{layer.name}/grad", op=f"{op}.grad", module=layer.module,
                          output_shapes=[], macs=macs, flops=flops, params=0,
                          output_bytes=None, traffic_bytes=None, phase=phase,
                          reason=f"derived from the forward: {why}"))
    report.layers.extend(rows)
    guessed = sorted({r.op for r in rows if r.phase == DERIVED})
    report.notes.append("ONNX: backward derived from the forward graph by rule; saved "
                        "activations count every forward output as kept (an upper bound)"
                        + (f"; no backward rule for {', '.join(guessed)} (costed as their forward)"
                           if guessed else ""))
