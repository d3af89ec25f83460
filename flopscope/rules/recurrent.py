"""Recurrent cells: RNN, GRU, LSTM, unrolled over the full sequence length.

Per time step, batch row and direction, with G gates, input size I and hidden size H:
MACs = G·H·(I + H) (the input and recurrent projections). FLOPs: (2I−1)·G·H and
(2H−1)·G·H for the projections, G·H adds joining them, 2·G·H bias adds when B is given,
then the cell's pointwise work (below), with the activations priced from the table.
``sequence_lens`` can only shorten the run; the full length is counted.
"""

from __future__ import annotations

from flopscope.graph import Node, RuleError
from flopscope.rules.constants import per_element
from flopscope.rules.registry import Cost, rule


def _activation_flops(name: str) -> int:
    if name == "Affine":
        return 2                                   # alpha·x + beta
    if name == "ScaledTanh":
        return per_element("Tanh") + 2             # alpha·tanh(beta·x)
    return per_element(name)


def _recurrent(node: Node, gates: int,
               defaults: tuple[str, ...]) -> tuple[Cost, int, list[tuple[int, ...]]]:
    """Projection cost over all steps and directions, hidden units per direction, and
    the FLOPs of each direction's activations (forward first, as ONNX lists them)."""
    x, w = node.shape(0), node.shape(1)
    if len(x) != 3 or len(w) != 3:
        raise RuleError(f"{node.op} '{node.name}': X {x} and W {w} must be 3-D")
    steps, batch = (x[1], x[0]) if node.attr("layout", 0) else (x[0], x[1])
    dirs, i = w[0], x[2]
    if dirs not in (1, 2):                          # and never a loop over a hostile size
        raise RuleError(f"{node.op} '{node.name}': W {w} has {dirs} directions, not 1 or 2")
    h = node.attr("hidden_size") or w[1] // gates
    gh = gates * h
    per_step = (2 * i - 1) * gh + (2 * h - 1) * gh + gh
    if node.has_input(3):
        per_step += 2 * gh
    if node.attr("clip") is not None:
        per_step += 2 * gh                         # clip the gate inputs: two compares
    names = tuple(node.attr("activations") or defaults * dirs)
    k = len(defaults)
    acts = [tuple(_activation_flops(n) for n in names[d * k:(d + 1) * k]) for d in range(dirs)]
    runs = steps * batch * dirs
    return Cost(macs=runs * gh * (i + h), flops=runs * per_step), steps * batch * h, acts


@rule("RNN", dot_product=True)
def rnn(node: Node) -> Cost:
    """H_t = f(X·Wᵀ + H·Rᵀ + b): the activation f once per hidden unit."""
    base, units, acts = _recurrent(node, 1, ("Tanh",))
    return Cost(macs=base.macs, flops=base.flops + units * sum(f for (f,) in acts))


@rule("GRU", dot_product=True)
def gru(node: Node) -> Cost:
    """z and r through f, r⊙(recurrent term) (1 multiply), h̃ through g,
    H = (1−z)⊙h̃ + z⊙H (subtract, 2 multiplies, add): 2f + g + 5 per hidden unit."""
    base, units, acts = _recurrent(node, 3, ("Sigmoid", "Tanh"))
    return Cost(macs=base.macs, flops=base.flops + units * sum(2 * f + g + 5 for f, g in acts))


@rule("LSTM", dot_product=True)
def lstm(node: Node) -> Cost:
    """i, f, o through f; c̃ through g; C = f⊙C + i⊙c̃ (3); H = o⊙h(C) (h + 1):
    3f + g + h + 4 per hidden unit, and 6 more (3 multiplies, 3 adds) with peepholes P."""
    base, units, acts = _recurrent(node, 4, ("Sigmoid", "Tanh", "Tanh"))
    peephole = 6 if node.has_input(7) else 0
    cell = sum(3 * f + g + h + 4 + peephole for f, g, h in acts)
    return Cost(macs=base.macs, flops=base.flops + units * cell)
