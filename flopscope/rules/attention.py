"""Attention (ONNX opset 23), which the PyTorch frontend also maps its fused kernels onto.

With batch B, query heads Hq, query length Sq, key length Skv (past + present), head
sizes dk (queries/keys) and dv (values):
MACs = B·Hq·Sq·Skv·(dk + dv)  — the scores Q·Kᵀ and the weighted sum P·V.
FLOPs = (2dk−1) per score, 1 scale multiply per score, 1 per score for a mask and 1 for
the causal select, softcap (tanh + 2 multiplies) per score when set, the softmax's 5n−2 per
row of n = Skv, and (2Skv−1) per output element of P·V.
"""

from __future__ import annotations

from flopscope.graph import Node, RuleError
from flopscope.rules.constants import per_element
from flopscope.rules.registry import Cost, rule


def _heads(shape: tuple[int, ...], heads: int | None, what: str, node: Node) -> tuple[int, int, int, int]:
    """(batch, heads, length, head size) of a 4-D tensor, or a 3-D one split into heads."""
    if len(shape) == 4:
        return shape
    if len(shape) == 3 and heads:
        b, s, hidden = shape
        return b, heads, s, hidden // heads
    raise RuleError(f"Attention '{node.name}': {what} shape {shape} needs 4 dims or a head count")


@rule("Attention", dot_product=True)
def attention(node: Node) -> Cost:
    """Scaled dot-product attention; see the module docstring for the formula."""
    b, hq, sq, dk = _heads(node.shape(0), node.attr("q_num_heads"), "Q", node)
    _, _, skv, _ = _heads(node.shape(1), node.attr("kv_num_heads"), "K", node)
    _, _, _, dv = _heads(node.shape(2), node.attr("kv_num_heads"), "V", node)
    if node.has_input(4):                       # past_key extends the key length
        skv += node.shape(4)[2]
    return sdpa(b, hq, sq, skv, dk, dv, masks=node.has_input(3) + bool(node.attr("is_causal", 0)),
                softcap=bool(node.attr("softcap", 0.0)))


def sdpa(b: int, hq: int, sq: int, skv: int, dk: int, dv: int, masks: int = 0,
         softcap: bool = False) -> Cost:
    """The module docstring's formula, for the attention ops of every domain: ``masks``
    counts the per-score selects or adds (a mask, a bias, the causal select).

    >>> sdpa(1, 1, 2, 3, 4, 4)      # 6 scores of 4 terms, 8 outputs of 3 terms
    Cost(macs=48, flops=114)
    """
    scores = b * hq * sq * skv
    outputs = b * hq * sq * dv
    per_score = max(2 * dk - 1, 0) + 1 + masks      # dot product, the scale, the masks
    if softcap:
        per_score += per_element("Tanh") + 2
    rows = b * hq * sq
    flops = scores * per_score + rows * max(5 * skv - 2, 0) + outputs * max(2 * skv - 1, 0)
    return Cost(macs=scores * (dk + dv), flops=flops)
