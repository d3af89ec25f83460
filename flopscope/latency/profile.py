"""Per-layer time from ONNX Runtime's profiler, mapped back onto the report's layers.

ONNX Runtime rewrites the graph before it runs it: it folds constants, fuses BatchNorm
into the preceding Conv (the BatchNormalization node disappears), fuses activations and
adds into ``FusedConv`` (which keeps the Conv's name), and on x86 rewrites convolutions
into NCHWc kernels named after their output tensor (``<tensor>_nchwc``) with
``ReorderInput``/``ReorderOutput`` nodes between layouts. The profiler times the nodes of
that rewritten graph. :func:`map_layers` maps them back:

1. each ORT node is anchored to an original layer by name, then by the tensor its name
   derives from (``r92_nchwc`` -> the producer of ``r92``), then by its output tensors;
2. an anchor whose op differs from the ORT node's (a fused Conv anchored on the ReLU
   after it) moves back along tensors that no longer exist to the nearest layer with the
   ORT node's op; the layers on the way are fused into it;
3. layers whose output tensor vanished and fed only a measured layer's chain are fused
   into it; constants and other removed layers are "folded".

The time of a surviving node stays with its head layer, and the layers it absorbed name
that layer in ``fused_into``. Layout and copy nodes (``ReorderInput``...) add their time to
the layer they serve; ORT nodes that match no layer are listed apart.
"""

from __future__ import annotations

import bisect
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: ORT nodes that move data between layouts or devices: their time joins the layer they serve
HELPER_OPS = frozenset({"ReorderInput", "ReorderOutput", "MemcpyToHost", "MemcpyFromHost"})
#: ops whose bodies ORT profiles as nodes of their own (their time is in the parent's)
CONTROL_FLOW = frozenset({"If", "Loop", "Scan"})
#: how far step 2 walks back from an anchor looking for the fused op
SEARCH_DEPTH = 8
#: how many ``_word`` endings of an ORT node's name are tried off to find its source tensor
STRIP_LIMIT = 3

#: the profiled session: runs left out as warm-up, then runs averaged
PROFILE_WARMUP_RUNS = 2
PROFILE_RUNS = 10

#: layer statuses in a profile
MEASURED, FUSED, FOLDED, IN_SUBGRAPH = "measured", "fused", "folded", "in-subgraph"

_DERIVED_SUFFIX = re.compile(r"(?:_nchwc|_token_\d+)+$")


@dataclass(frozen=True)
class GraphNode:
    """A node of a graph as the mapping sees it: names only."""

    name: str
    op: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


@dataclass
class NodeTimes:
    """Mean time per run of each profiled ORT node, in milliseconds."""

    ms: dict[str, float] = field(default_factory=dict)
    ops: dict[str, str] = field(default_factory=dict)
    providers: dict[str, str] = field(default_factory=dict)
    runs: int = 0


@dataclass
class LayerTime:
    """One report layer beside the time ONNX Runtime spent on it.

    ``time_ms`` (mean per run) is set on the layer that carries a surviving node's time;
    layers fused into it have ``status="fused"`` and name it in ``fused_into``, and it lists
    them in ``absorbed``. ``group_flops`` adds the absorbed layers' FLOPs, which the time
    covers, and ``gflops_per_s`` divides them by it.
    """

    name: str
    op: str
    flops: int | None
    status: str
    time_ms: float | None = None
    share: float | None = None
    fused_into: str = ""
    absorbed: list[str] = field(default_factory=list)
    ort_nodes: list[str] = field(default_factory=list)
    ort_ops: list[str] = field(default_factory=list)
    group_flops: int | None = None
    gflops_per_s: float | None = None


@dataclass
class OtherTime:
    """An ORT node that matches no layer (or runs inside a control-flow body)."""

    name: str
    op: str
    time_ms: float
    counted: bool = True


@dataclass
class LayerProfile:
    """Per-layer times of one profiled session (``total_ms``: sum of node times per run)."""

    runs: int
    total_ms: float
    layers: list[LayerTime]
    other: list[OtherTime] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- profiler events


def node_times(events: Sequence[Mapping[str, Any]], skip_runs: int = 1) -> NodeTimes:
    """Mean kernel time per run of each node from ORT profiler ``events`` (the JSON list
    ``end_profiling`` writes), leaving out the first ``skip_runs`` runs (warm-up).

    Node events are ``{"cat": "Node", "name": "<node>_kernel_time", "dur": µs,
    "args": {"op_name", "provider"}}``; runs are the ``model_run`` events that enclose them.
    """
    runs = sorted((e["ts"], e["ts"] + e["dur"]) for e in events
                  if e.get("cat") == "Session" and e.get("name") == "model_run")
    kept = runs[skip_runs:] if len(runs) > skip_runs else runs
    starts = [r[0] for r in kept]
    out = NodeTimes(runs=len(kept))
    totals: dict[str, float] = {}
    for e in events:
        name = e.get("name", "")
        if e.get("cat") != "Node" or not name.endswith("_kernel_time"):
            continue
        if kept:
            i = bisect.bisect_right(starts, e["ts"]) - 1
            if i < 0 or e["ts"] > kept[i][1]:
                continue                        # in a skipped run
        node = name[:-len("_kernel_time")]
        totals[node] = totals.get(node, 0.0) + e.get("dur", 0)
        args = e.get("args", {})
        out.ops.setdefault(node, args.get("op_name", ""))
        out.providers.setdefault(node, args.get("provider", ""))
    runs_counted = max(1, len(kept))
    out.ms = {node: us / 1000.0 / runs_counted for node, us in totals.items()}
    return out


# --------------------------------------------------------------------------- mapping


def op_family(ort_op: str) -> str:
    """The ONNX op an ORT kernel stands for: ``FusedConv`` -> ``Conv``."""
    return ort_op[len("Fused"):] if ort_op.startswith("Fused") and len(ort_op) > 5 else ort_op


class _Original:
    """Producer and consumer tables of the original graph."""

    def __init__(self, layers: Sequence[GraphNode], constants: Iterable[str]):
        self.layers = {l.name: l for l in layers}
        self.order = {l.name: i for i, l in enumerate(layers)}
        self.producer: dict[str, str] = {}
        self.consumers: dict[str, list[str]] = {}
        for l in layers:
            for t in l.outputs:
                if t:
                    self.producer[t] = l.name
            for t in l.inputs:
                if t:
                    self.consumers.setdefault(t, []).append(l.name)
        const = set(constants)
        self.constant_layers: set[str] = set()
        for l in layers:                        # topological order: one pass propagates
            if all(not t or t in const for t in l.inputs):
                self.constant_layers.add(l.name)
                const.update(t for t in l.outputs if t)


def map_layers(original: Sequence[GraphNode], optimized: Sequence[GraphNode],
               optimized_tensors: Iterable[str], times: NodeTimes, *,
               constants: Iterable[str] = (), flops: Mapping[str, int | None] | None = None,
               ops: Mapping[str, str] | None = None) -> LayerProfile:
    """Attribute the ORT ``times`` of the ``optimized`` graph's nodes to the ``original``
    layers (both in topological order); ``optimized_tensors`` are all tensor names that
    exist in the optimized graph (inputs, outputs, initializers and node edges);
    ``constants`` the original graph's constant tensors; ``flops``/``ops`` by layer name
    (``ops`` defaults to the nodes' op types)."""
    g = _Original(original, constants)
    alive = set(optimized_tensors)
    flops = flops or {}
    ops = ops or {}

    def vanished(t: str) -> bool:
        return bool(t) and t not in alive

    anchors = _anchors(g, optimized)
    direct = {a for a in (anchors[n.name] for n in optimized if n.op not in HELPER_OPS) if a is not None}
    group_of: dict[str, str] = {}               # layer -> head layer
    heads: dict[str, list[str]] = {}            # head layer -> ORT nodes whose time it carries
    helpers: list[GraphNode] = []
    unmatched: list[GraphNode] = []

    for node in optimized:                      # steps 1 and 2
        anchor = anchors[node.name]
        if node.op in HELPER_OPS:
            helpers.append(node)
            continue
        if anchor is None:
            unmatched.append(node)
            continue
        target, path = anchor, [anchor]
        if g.layers[anchor].op != op_family(node.op):
            taken = (direct - {anchor}) | set(group_of)
            found = _search_back(g, anchor, op_family(node.op), taken, vanished)
            if found is not None:
                path = found
                target = found[-1]
        target = group_of.get(target, target)
        heads.setdefault(target, []).append(node.name)
        for name in path:
            group_of.setdefault(name, target)

    for head in sorted(heads, key=g.order.__getitem__):    # step 3: fused chains after a head
        _grow_forward(g, head, group_of, direct, vanished)
    _absorb_leftovers(g, group_of, direct, vanished)

    for node in helpers:                        # layout and copy nodes join the layer they serve
        anchor = anchors[node.name] or _helper_anchor(node, optimized, anchors)
        if anchor is None:
            unmatched.append(node)
            continue
        head = group_of.get(anchor, anchor)
        group_of.setdefault(head, head)
        heads.setdefault(head, []).append(node.name)

    return _rows(g, heads, group_of, unmatched, optimized, times, flops, ops)


def _name_candidates(name: str) -> Iterator[str]:
    """``name``, then without ORT's suffixes (``r8_bn_nchwc`` -> ``r8_bn``, ``r8``)."""
    if not name:
        return
    yield name
    base = _DERIVED_SUFFIX.sub("", name)
    for _ in range(STRIP_LIMIT):
        if base and base != name:
            yield base
        name = base
        base = name.rpartition("_")[0]
        if not base:
            return


def _anchors(g: _Original, optimized: Sequence[GraphNode]) -> dict[str, str | None]:
    """The original layer each ORT node stands for: by name, by the tensor its name is
    derived from, then by its output tensors; None when nothing matches."""
    anchors: dict[str, str | None] = {}
    for node in optimized:
        anchor = None
        for candidate in _name_candidates(node.name):
            if candidate in g.layers:
                anchor = candidate
            elif candidate in g.producer:
                anchor = g.producer[candidate]
            if anchor is not None:
                break
        if anchor is None:
            anchor = next((g.producer[t] for t in node.outputs if t in g.producer), None)
        anchors[node.name] = anchor
    return anchors


def _search_back(g: _Original, start: str, op: str, taken: set[str],
                 vanished: Callable[[str], bool]) -> list[str] | None:
    """Breadth-first from ``start`` through vanished input tensors to the nearest layer
    of ``op`` not ``taken``; the path from ``start`` to it, or None."""
    parent: dict[str, str | None] = {start: None}
    frontier = [start]
    for _ in range(SEARCH_DEPTH):
        nxt = []
        for name in frontier:
            for t in g.layers[name].inputs:
                prev = g.producer.get(t) if vanished(t) else None
                if prev is None or prev in parent or prev in taken or prev in g.constant_layers:
                    continue
                parent[prev] = name
                if g.layers[prev].op == op:
                    path = [prev]
                    while (up := parent[path[-1]]) is not None:
                        path.append(up)
                    return path[::-1]
                nxt.append(prev)
        frontier = nxt
    return None


def _grow_forward(g: _Original, head: str, group_of: dict[str, str], direct: set[str],
                  vanished: Callable[[str], bool]) -> None:
    """Claim the chain after ``head``'s group: a vanished tensor with one consumer."""
    stack = [name for name, h in group_of.items() if h == head]
    while stack:
        name = stack.pop()
        for t in g.layers[name].outputs:
            users = g.consumers.get(t, [])
            if vanished(t) and len(users) == 1:
                user = users[0]
                if user not in group_of and user not in direct and user not in g.constant_layers:
                    group_of[user] = head
                    stack.append(user)


def _absorb_leftovers(g: _Original, group_of: dict[str, str], direct: set[str],
                      vanished: Callable[[str], bool]) -> None:
    """Layers that vanished next to a group join it: through a vanished input (an op
    fused after its producer), else a vanished output (an op folded into its consumer)."""
    changed = True
    while changed:
        changed = False
        for name, layer in g.layers.items():
            if name in group_of or name in direct or name in g.constant_layers:
                continue
            head = None
            for t in layer.inputs:
                producer = g.producer.get(t)
                if vanished(t) and producer in group_of:
                    head = group_of[producer]
                    break
            if head is None:
                for t in layer.outputs:
                    users = [u for u in g.consumers.get(t, []) if u in group_of]
                    if vanished(t) and users:
                        head = group_of[users[0]]
                        break
            if head is not None:
                group_of[name] = head
                changed = True


def _helper_anchor(node: GraphNode, optimized: Sequence[GraphNode],
                   anchors: Mapping[str, str | None]) -> str | None:
    """A layout node with no anchor of its own serves the first node that reads its output."""
    outs = set(node.outputs)
    for other in optimized:
        if other.op not in HELPER_OPS and outs.intersection(other.inputs):
            return anchors.get(other.name)
    return None


def _rows(g: _Original, heads: dict[str, list[str]], group_of: dict[str, str],
          unmatched: list[GraphNode], optimized: Sequence[GraphNode], times: NodeTimes,
          flops: Mapping[str, int | None], ops: Mapping[str, str]) -> LayerProfile:
    in_graph = {n.name for n in optimized}
    control_flow = any(n.op in CONTROL_FLOW for n in optimized)
    other = [OtherTime(n.name, n.op, times.ms.get(n.name, 0.0)) for n in unmatched]
    for name, ms in times.ms.items():
        if name not in in_graph:
            other.append(OtherTime(name, times.ops.get(name, ""), ms, counted=not control_flow))
    members: dict[str, list[str]] = {}
    for name, head in group_of.items():
        if name != head:
            members.setdefault(head, []).append(name)
    head_ms = {h: sum(times.ms.get(n, 0.0) for n in nodes) for h, nodes in heads.items()}
    total = sum(head_ms.values()) + sum(o.time_ms for o in other if o.counted)

    rows = []
    for name, layer in g.layers.items():
        row = LayerTime(name=name, op=ops.get(name, layer.op), flops=flops.get(name), status=FOLDED)
        if name in heads:
            absorbed = sorted(members.get(name, []), key=g.order.__getitem__)
            nodes = heads[name]
            ms = head_ms[name]
            group = [flops.get(n) for n in [name, *absorbed]]
            row.status = MEASURED
            row.time_ms = ms
            row.share = ms / total if total else None
            row.absorbed = absorbed
            row.ort_nodes = list(nodes)
            row.ort_ops = [times.ops.get(n) or _op_of(optimized, n) for n in nodes]
            row.group_flops = None if any(f is None for f in group) else sum(f or 0 for f in group)
            if row.group_flops is not None and ms > 0:
                row.gflops_per_s = row.group_flops / (ms / 1e3) / 1e9
        elif name in group_of:
            row.status = FUSED
            row.fused_into = group_of[name]
        rows.append(row)
    notes = []
    if control_flow and any(not o.counted for o in other):
        notes.append("nodes inside control-flow bodies are listed apart; their time is "
                     "already in their If/Loop/Scan node's")
    return LayerProfile(runs=times.runs, total_ms=total, layers=rows, other=other, notes=notes)


def _op_of(optimized: Sequence[GraphNode], name: str) -> str:
    for n in optimized:
        if n.name == name:
            return n.op
    return ""


# --------------------------------------------------------------------------- ONNX glue


def graph_nodes(graph: Any) -> list[GraphNode]:
    """The top-level nodes of an ONNX ``GraphProto`` as :class:`GraphNode`."""
    return [GraphNode(n.name, n.op_type, tuple(n.input), tuple(n.output)) for n in graph.node]


def graph_tensors(graph: Any) -> set[str]:
    """Every tensor name that exists at the top level of an ONNX ``GraphProto``."""
    names = {vi.name for vi in graph.input} | {vi.name for vi in graph.output}
    names.update(t.name for t in graph.initializer)
    for n in graph.node:
        names.update(t for t in n.input if t)
        names.update(t for t in n.output if t)
    return names


def layer_names(model: Any, graph: Any) -> list[str]:
    """The report's layer name of each top-level node of ``model`` (an ONNX ``ModelProto``),
    matched through its first output tensor in the :class:`~flopscope.graph.LayerGraph`."""
    by_output = {t.name: node.name for node in graph.nodes for t in node.outputs if t is not None}
    names = []
    for n in model.graph.node:
        first = next((t for t in n.output if t), "")
        names.append(by_output.get(first, n.name))
    return names


def profile_report(original: Any, optimized: Any, events: Sequence[Mapping[str, Any]],
                   report: Any, constants: Iterable[str] = (), skip_runs: int = 1) -> LayerProfile:
    """Per-layer times in ``report``'s layer order from a profiled session: ``original`` is
    the ``ModelProto`` the session loaded, its top-level nodes named as the report's layers;
    ``optimized`` the model ORT saved (``optimized_model_filepath``); ``events`` its profile."""
    times = node_times(events, skip_runs)
    flops = {l.name: l.flops for l in report.layers}
    ops = {l.name: l.op for l in report.layers}
    mapped = map_layers(graph_nodes(original.graph), graph_nodes(optimized.graph),
                        graph_tensors(optimized.graph), times,
                        constants={*constants, *(t.name for t in original.graph.initializer)},
                        flops=flops, ops=ops)
    top = {row.name: row for row in mapped.layers}
    rows = []
    for layer in report.layers:
        row = top.get(layer.name)
        if row is None:
            parents = [n for n in top if layer.name.startswith(n + "/")]
            row = LayerTime(name=layer.name, op=layer.op, flops=layer.flops, status=IN_SUBGRAPH,
                            fused_into=max(parents, key=len) if parents else "")
        rows.append(row)
    mapped.layers = rows
    return mapped


# --------------------------------------------------------------------------- profiled session


#: ORT writes the optimised graph's weights to this file beside it, in the temporary folder
_OPTIMIZED_DATA = "optimized.onnx.data"


def profile_layers(path: Path, proto: Any, graph: Any, report: Any, preset: Any, threads: int,
                   feeds: Mapping[str, Any], fixed: Mapping[str, int],
                   runs: int = PROFILE_RUNS) -> LayerProfile:
    """Per-layer times (:class:`~flopscope.latency.profile.LayerProfile`) of ``report``'s
    layers from a separate, profiled session with the same settings.

    The profiled session loads a copy whose nodes carry the report's layer names (unnamed
    and duplicate names made unique), so ORT's node names lead back to the layers; its
    external data is still read from the model's folder.
    """
    import onnx

    from flopscope.latency.session import open_session

    names = layer_names(proto, graph)
    named = proto
    if any(n.name != name for n, name in zip(proto.graph.node, names)):
        named = onnx.ModelProto()
        named.CopyFrom(proto)
        for node, name in zip(named.graph.node, names):
            node.name = name
    with tempfile.TemporaryDirectory(prefix="flopscope-profile-") as tmp:
        so = preset.session_options(threads, fixed)
        so.enable_profiling = True
        so.profile_file_prefix = os.path.join(tmp, "ort-profile")
        so.optimized_model_filepath = os.path.join(tmp, "optimized.onnx")
        so.add_session_config_entry("session.optimized_model_external_initializers_file_name",
                                    _OPTIMIZED_DATA)
        so.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes",
                                    "1024")
        source: Any = path
        if named is not proto:
            source = named.SerializeToString()
            so.add_session_config_entry("session.model_external_initializers_file_folder_path",
                                        str(path.resolve().parent))
        with open_session(source, preset, threads, feeds, options=so) as live:
            for _ in range(PROFILE_WARMUP_RUNS + runs):
                live.run()
            trace = live.session.end_profiling()
        with open(trace, encoding="utf-8") as f:
            events = json.load(f)
        optimized = onnx.load(os.path.join(tmp, "optimized.onnx"), load_external_data=False)
    profile = profile_report(named, optimized, events, report, constants=graph.constants,
                             skip_runs=PROFILE_WARMUP_RUNS)
    profile.notes.append(f"mean of {profile.runs} profiled runs after {PROFILE_WARMUP_RUNS} "
                         "warm-up runs; profiling adds overhead, so compare shares, not sums, with p50")
    return profile
