"""Activation memory: peak live bytes from a liveness walk over the execution order.

A tensor lives from the step that produces it (graph inputs: from the start) to its last
consumer (graph outputs: to the end). Constants are weights, not activations. At each
step the inputs being read and the outputs being written are live together.
"""

from __future__ import annotations

from dataclasses import dataclass

from flopscope.graph import LayerGraph


@dataclass(frozen=True, slots=True)
class Peak:
    """Peak live activation bytes, the step where it occurs, and tensors of unknown size."""

    bytes: int
    node: str
    unknown: int


def peak_activation(graph: LayerGraph) -> Peak:
    """Peak activation memory of ``graph`` in execution order.

    >>> peak_activation(graph).bytes
    6422528
    """
    constants = graph.constants
    end = len(graph.nodes)
    last_use: dict[str, int] = {}
    for i, node in enumerate(graph.nodes):
        for t in node.inputs:
            if t is not None and t.name not in constants:
                last_use[t.name] = i
    for t in graph.outputs:
        last_use[t.name] = end
    sizes: dict[str, int] = {}
    unknown = 0

    def size_of(t) -> int:
        nonlocal unknown
        n = t.nbytes
        if n is None:
            unknown += 1
            return 0
        return n

    live = 0
    for t in graph.inputs:
        if t.name in last_use:
            sizes[t.name] = size_of(t)
            live += sizes[t.name]
    peak, where = live, graph.nodes[0].name if graph.nodes else ""
    frees: dict[int, list[str]] = {}
    for name, i in last_use.items():
        frees.setdefault(i, []).append(name)
    for i, node in enumerate(graph.nodes):
        for t in node.outputs:
            if t is None or t.name in constants or t.name in sizes:
                continue
            sizes[t.name] = size_of(t)
            live += sizes[t.name]
            if t.name not in last_use:       # never read: freed right after this step
                frees.setdefault(i, []).append(t.name)
        if live > peak:
            peak, where = live, node.name
        for name in frees.get(i, ()):
            live -= sizes.pop(name, 0)
    return Peak(peak, where, unknown)
