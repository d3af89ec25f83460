"""The pipeline: model -> LayerGraph (frontends) -> costs (rules) -> Report."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flopscope.errors import FlopscopeError, option
from flopscope.graph import LayerGraph, Node, RuleError, ShapeUnknown
from flopscope.memory import peak_activation
from flopscope.report import (
    CONVENTIONS,
    NOT_TAKEN,
    OK,
    UNRESOLVED,
    UNSUPPORTED,
    Coverage,
    InputInfo,
    Layer,
    ModelInfo,
    Report,
    Totals,
)
from flopscope.rules import get_rule, is_dot_product
from flopscope.rules.constants import overridden
from flopscope.sources import merge_inputs, parse_input_shapes, resolve


@dataclass(slots=True)
class _Costed:
    macs: int | None
    flops: int | None
    status: str
    reason: str = ""
    contradiction: bool = False     # shapes or attributes contradict the op (a RuleError)


def cost_node(node: Node) -> _Costed:
    """Cost one node once (no repeat), or say why it cannot be costed."""
    fn = get_rule(node.qualified_op)
    if fn is None:
        return _Costed(None, None, UNSUPPORTED, f"no cost rule for {node.qualified_op}")
    try:
        cost = fn(node)
    except ShapeUnknown as exc:
        return _Costed(None, None, UNRESOLVED, str(exc))
    except RuleError as exc:
        return _Costed(None, None, UNRESOLVED, str(exc), contradiction=True)
    except (KeyError, IndexError, TypeError, ValueError, ArithmeticError) as exc:
        return _Costed(None, None, UNRESOLVED,
                       f"{node.op} '{node.name}': attributes or shapes do not fit the op "
                       f"({type(exc).__name__}: {exc})")
    if cost.macs < 0 or cost.flops < 0:     # a negative pad or size slipped through: never report it
        return _Costed(None, None, UNRESOLVED,
                       f"{node.op} '{node.name}': shapes or attributes give a negative cost "
                       f"({cost.macs} MACs, {cost.flops} FLOPs)")
    return _Costed(cost.macs, cost.flops, OK)


def build_report(graph: LayerGraph, convention: str = "flopscope",
                 flop_table: Mapping[str, int] | None = None) -> Report:
    """Cost every node of ``graph`` and assemble the :class:`Report`."""
    if convention not in CONVENTIONS:
        raise FlopscopeError(f"unknown convention '{convention}'; "
                             f"choose one of {', '.join(CONVENTIONS)}")
    try:
        with overridden(flop_table):
            costs = [cost_node(node) for node in graph.nodes]
    except ValueError as exc:
        raise FlopscopeError(str(exc)) from None
    _refuse_misfit_inputs(graph, costs)
    notes = list(graph.notes)
    repeats = [node.repeat for node in graph.nodes]
    notes += _resolve_alternatives(graph, costs, repeats)

    constants = graph.constants
    seen_params: set[str] = set()
    layers: list[Layer] = []
    coverage = Coverage(nodes=len(graph.nodes))
    activation_bytes = traffic_total = 0
    for node, c, repeat in zip(graph.nodes, costs, repeats):
        params = 0
        # a parameter belongs to the first layer that computes with it, not to an Identity
        # that merely passes it on under another name (its outputs are constants too)
        outputs_constant = all(t is None or t.name in constants for t in node.outputs)
        passes_on = bool(node.outputs) and outputs_constant
        for t in () if passes_on else node.inputs:
            param = graph.params.get(t.name) if t is not None else None
            if param is not None and param.name not in seen_params:
                seen_params.add(param.name)
                if not param.buffer:
                    params += param.numel
        out_bytes = _sum_bytes(node.outputs)
        read = _sum_bytes({t.name: t for t in node.inputs if t is not None}.values())
        traffic = None if out_bytes is None or read is None else (read + out_bytes) * repeat
        if node.op != "Constant" and not outputs_constant:
            activation_bytes += out_bytes or 0
        traffic_total += traffic or 0
        status, reason = c.status, c.reason
        macs = flops = None
        if c.status == OK:
            coverage.costed += 1
            assert c.macs is not None and c.flops is not None   # cost_node gives both when OK
            macs = c.macs * repeat
            flops = (2 * macs if convention == "2mac" else c.flops * repeat)
            if repeat == 0 and node.branch:
                status, reason = NOT_TAKEN, "lighter branch of an If whose condition is unknown"
        elif c.status == UNSUPPORTED:
            coverage.unsupported[node.qualified_op] = coverage.unsupported.get(node.qualified_op, 0) + 1
        else:
            coverage.unresolved[node.qualified_op] = coverage.unresolved.get(node.qualified_op, 0) + 1
            if is_dot_product(node.qualified_op):
                dots = coverage.uncosted_dot_products
                dots[node.qualified_op] = dots.get(node.qualified_op, 0) + 1
        layers.append(Layer(
            name=node.name, op=node.qualified_op, module=node.module,
            output_shapes=[list(t.shape) if t is not None and t.shape is not None else None
                           for t in node.outputs],
            macs=macs, flops=flops, params=params, output_bytes=out_bytes,
            traffic_bytes=traffic, status=status, repeat=repeat, reason=reason,
            input_shapes=[list(t.shape) if t.shape is not None else None
                          for i, t in enumerate(node.inputs) if t is not None and i not in node.weights],
            attrs=_layout(node)))

    peak = peak_activation(graph)
    if peak.unknown:
        notes.append(f"{peak.unknown} tensor(s) of unknown size left out of the memory figures")

    distinct = {p.name: p for p in graph.params.values()}.values()   # aliases map to one Param
    weights = [p for p in distinct if not p.buffer]
    buffers = [p for p in distinct if p.buffer]
    known = bool(weights) and all(p.trainable is not None for p in weights)
    trainable = sum(p.numel for p in weights if p.trainable) if known else None
    totals = Totals(
        macs=sum(l.macs or 0 for l in layers),
        flops=sum(l.flops or 0 for l in layers),
        params=sum(p.numel for p in weights),
        param_bytes=sum(p.nbytes for p in weights),
        activation_bytes=activation_bytes,
        peak_activation_bytes=peak.bytes,
        traffic_bytes=traffic_total,
        trainable_params=trainable,
        frozen_params=None if trainable is None else sum(p.numel for p in weights) - trainable,
        buffers=sum(p.numel for p in buffers),
        buffer_bytes=sum(p.nbytes for p in buffers),
    )
    # which ops went uncosted is the Coverage's to say; notes carry assumptions only
    model = ModelInfo(graph.name, graph.source,
                      [InputInfo(t.name, list(t.shape or ()), t.dtype) for t in graph.inputs])
    return Report(model=model, convention=convention, totals=totals, coverage=coverage,
                  layers=layers, notes=notes, modules=dict(graph.modules))


#: the layout attributes a layer row shows, for the ops that have a kernel
_LAYOUT = ("kernel_shape", "strides", "dilations", "group")


def _layout(node: Node) -> dict[str, Any]:
    """Kernel, strides, dilations and groups of a convolution or pooling node (``{}`` for
    other ops), as plain ints and lists."""
    if "kernel_shape" not in node.attrs and node.op not in ("Conv", "ConvTranspose"):
        return {}
    out: dict[str, Any] = {}
    weight = node.inputs[1] if len(node.inputs) > 1 else None
    for key in _LAYOUT:
        value = node.attrs.get(key)
        if value is None and key == "kernel_shape" and weight is not None and weight.shape:
            value = weight.shape[2:]                            # Conv: read from the weight
        if value is not None:
            out[key] = int(value) if isinstance(value, int) else [int(v) if type(v) is int else v
                                                                  for v in value]
    return out


def _refuse_misfit_inputs(graph: LayerGraph, costs: list[_Costed]) -> None:
    """Input sizes the user gave in place of the declared ones, and a layer that then
    contradicts its weights: the shapes do not fit the model, an error naming the layer
    (not a layer quietly left out of the totals)."""
    if not graph.resized_inputs:
        return
    for c in costs:
        if c.contradiction:
            given = {t.name: t.shape for t in graph.inputs}
            inputs = ", ".join(f"'{name}' {_dims(given.get(name))} (the model declares "
                               f"{_dims(declared)})" for name, declared in graph.resized_inputs.items())
            raise FlopscopeError(f"the input shapes given do not fit the model: {inputs}; "
                                 f"layer {c.reason}")


def _dims(shape: Any) -> str:
    return "?" if shape is None else "x".join("?" if d is None else str(d) for d in shape) or "scalar"


def _sum_bytes(tensors) -> int | None:
    total = 0
    for t in tensors:
        if t is None:
            continue
        n = t.nbytes
        if n is None:
            return None
        total += n
    return total


def _resolve_alternatives(graph: LayerGraph, costs: list[_Costed], repeats: list[int]) -> list[str]:
    """For each If with an unknown condition keep the heavier branch (an upper bound).

    Inner Ifs are decided first, so an outer branch is weighed with its inner choice.
    """
    notes = []
    by_if: dict[str, dict[str, list[int]]] = {}     # one pass: linear in nodes x nesting depth
    for i, node in enumerate(graph.nodes):
        for tag in node.branch:
            name, _, branch = tag.rpartition(":")
            by_if.setdefault(name, {}).setdefault(branch, []).append(i)
    for if_name in sorted(graph.alternatives, key=lambda n: -n.count("/")):
        members = by_if.get(if_name, {})
        if len(members) < 2:
            continue
        weight = {branch: sum((costs[i].flops or 0) * repeats[i] for i in idx)
                  for branch, idx in members.items()}
        keep = max(members, key=lambda b: (weight[b], b == "then_branch"))
        for branch, idx in members.items():
            if branch != keep:
                for i in idx:
                    repeats[i] = 0
        notes.append(f"If '{if_name}': condition unknown, costed the heavier {keep} "
                     f"({weight[keep]:,} FLOPs) as an upper bound")
    return notes


def load_graph(model: Any, inputs: Any = None, *, input_shapes: Mapping[str, Any] | None = None,
               dims: Mapping[str, int] | None = None, name: str | None = None) -> LayerGraph:
    """Turn any supported model into a :class:`LayerGraph` (see :func:`analyze`): the
    frontend step alone, before any rule runs.

    >>> graph = flopscope.load_graph("resnet18")
    >>> [(n.op, n.module) for n in graph.nodes][:2]
    [('Conv', 'conv1'), ('BatchNormalization', 'bn1')]
    """
    source = resolve(model)
    inputs, input_shapes = _parse_text_shapes(inputs, input_shapes)
    given = merge_inputs(inputs, input_shapes)
    if source.is_onnx:
        from flopscope.frontends import onnx as onnx_frontend
        return onnx_frontend.load(source.target, input_shapes=given.by_name(), dims=dims, name=name)
    if dims:
        raise FlopscopeError(f"{option('dims', '--dim')} binds symbolic dims of ONNX models; for "
                             f"PyTorch models give {option('input_shapes', '--input-shape')}")
    from flopscope.frontends import torch as torch_frontend
    return torch_frontend.load(source, given, name=name)


def _parse_text_shapes(inputs: Any, input_shapes: Mapping[str, Any] | None,
                       ) -> tuple[Any, Mapping[str, Any] | None]:
    """The command line's shape strings accepted from Python too: ``"1x3x224x224"``,
    ``"ids=1x128:int64"``, a list of them, or string values in ``input_shapes``.

    >>> _parse_text_shapes("1x3x64x64", None)
    (None, {'': (1, 3, 64, 64)})
    >>> _parse_text_shapes(None, {"ids": "1x128:int64"})
    (None, {'ids': ((1, 128), 'int64')})
    """
    texts = [inputs] if isinstance(inputs, str) else inputs if (
        isinstance(inputs, (list, tuple)) and inputs and all(isinstance(i, str) for i in inputs)) else None
    shapes = dict(input_shapes or {})
    for name, value in list(shapes.items()):
        if isinstance(value, str):
            shapes[name] = parse_input_shapes([value])[""]
    if texts is None:
        return inputs, (shapes if input_shapes is not None else None)
    parsed = parse_input_shapes(list(texts))
    if "" in parsed and "" in shapes:
        raise FlopscopeError("give the unnamed input shape once (in inputs or input_shapes)")
    return None, {**parsed, **shapes}


def analyze(model: Any, inputs: Any = None, *, input_shapes: Mapping[str, Any] | None = None,
            dims: Mapping[str, int] | None = None, convention: str = "flopscope",
            flop_table: Mapping[str, int] | None = None, name: str | None = None,
            mode: str = "inference", optimizer: str = "adamw", precision: str = "fp32",
            frozen: Iterable[str] = ()) -> Report:
    """Analyse a model without running it and return its :class:`Report`.

    ``model`` is a path to an ``.onnx`` file, an ``onnx.ModelProto``, an ``nn.Module``,
    a reference architecture name (``"resnet50"``), ``"path/to/file.py:factory"`` or a
    :class:`flopscope.sources.Source` resolved from one of them.
    ``inputs`` gives input shapes (a tuple, the command line's ``"1x3x224x224"``, or a
    dict by input name) or, for PyTorch, example tensors. ``dims`` binds ONNX symbolic
    dims; ``convention`` is ``"flopscope"`` or ``"2mac"``; ``flop_table`` overrides
    per-element FLOP prices.
    ``mode="train"`` costs a training step (see :mod:`flopscope.training`): forward and
    backward, the ``optimizer`` step (sgd, momentum, adam, adamw) and training memory in
    ``precision`` (fp32, bf16-mixed, fp16-mixed); ``frozen`` globs parameter names to freeze.

    >>> import flopscope
    >>> report = flopscope.analyze("model.onnx", dims={"N": 1})
    >>> print(report.totals.macs, report.coverage.percent)
    5328 100.0
    """
    if mode == "train":
        from flopscope.training import analyze_training
        return analyze_training(resolve(model), merge_inputs(inputs, input_shapes),
                                lambda graph: build_report(graph, convention, flop_table), dims=dims,
                                convention=convention, name=name, optimizer=optimizer,
                                precision=precision, frozen=frozen)
    if mode != "inference":
        from flopscope.training import MODES
        raise FlopscopeError(f"unknown mode '{mode}'; choose {' or '.join(MODES)}")
    graph = load_graph(model, inputs, input_shapes=input_shapes, dims=dims, name=name)
    return build_report(graph, convention, flop_table)
