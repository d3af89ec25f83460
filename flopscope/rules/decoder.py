"""Decoder building blocks of ONNX opsets 23–28: RotaryEmbedding, SwiGLU, TensorScatter
(KV-cache update), LinearAttention (recurrent linear attention, DeltaNet family) and
CausalConvWithState (stateful depthwise causal 1-D convolution).

RotaryEmbedding: 6 FLOPs per rotated pair. SwiGLU: Swish of the gate times the value.
TensorScatter: a copy, 0 FLOPs. LinearAttention: state update and readout per token and
head as dot products. CausalConvWithState: a depthwise Conv over the output length.
Each rule's docstring spells out its formula.
"""

from __future__ import annotations

from math import prod

from flopscope.graph import Node, RuleError
from flopscope.rules.constants import per_element
from flopscope.rules.registry import Cost, rule


@rule("RotaryEmbedding")
def rotary_embedding(node: Node) -> Cost:
    """FLOPs = 3·B·S·H·r, r = rotary_embedding_dim (0: the whole head size).

    Each head's first r elements form r/2 pairs (x1, x2), rotated as x1·cos − x2·sin and
    x2·cos + x1·sin: 4 multiplies and 2 adds, 6 FLOPs per pair, 3 per rotated element.
    The other head_size − r elements are copied. Gathering cos/sin by position_ids and
    the interleaved layout are data movement: 0 FLOPs. A 3-D input (B, S, hidden) is
    split into num_heads heads of hidden/num_heads.
    """
    x = node.shape(0)
    if len(x) == 4:
        b, h, s, head = x
    elif len(x) == 3:
        b, s, hidden = x
        h = node.attr("num_heads", 0)
        if h <= 0 or hidden % h:
            raise RuleError(f"RotaryEmbedding '{node.name}': 3-D input {x} needs num_heads "
                            f"dividing the hidden size (num_heads={h})")
        head = hidden // h
    else:
        raise RuleError(f"RotaryEmbedding '{node.name}': input {x} must be 3-D or 4-D")
    r = node.attr("rotary_embedding_dim", 0) or head
    if r % 2 or r > head:
        raise RuleError(f"RotaryEmbedding '{node.name}': rotary_embedding_dim {r} must be "
                        f"even and at most the head size {head}")
    cos = node.inputs[1] if len(node.inputs) > 1 else None
    if cos is not None and cos.static and cos.shape and cos.shape[-1] != r // 2:
        raise RuleError(f"RotaryEmbedding '{node.name}': cos_cache {cos.shape} does not "
                        f"end in rotary_dim/2 = {r // 2}")
    return Cost(flops=6 * b * s * h * (r // 2))   # 4 multiplies + 2 adds per pair


@rule("SwiGLU")
def swiglu(node: Node) -> Cost:
    """FLOPs = (Swish + 1 + [alpha ≠ 1])·numel(Y): Y = A·Sigmoid(alpha·A) · B.

    Swish of the gate A at the table's price (Sigmoid 4, multiply by A 1), one multiply
    by the value B, and one more multiply per element for alpha·A when alpha is not 1
    (at alpha = 1 that multiply is the identity and is skipped). A and B have the same
    shape (no broadcasting).
    """
    a, b = node.shape(0), node.shape(1)
    if a != b:
        raise RuleError(f"SwiGLU '{node.name}': A {a} and B {b} must have the same shape")
    per = per_element("Swish") + 1 + (node.attr("alpha", 1.0) != 1.0)
    return Cost(flops=per * prod(a))


@rule("TensorScatter")
def tensor_scatter(node: Node) -> Cost:
    """A KV-cache update: the update tensor is copied into the cache at the write
    indices (mod max_sequence_length in circular mode, index arithmetic): 0 FLOPs."""
    return Cost()


def _split_heads(node: Node, i: int, heads: int, what: str) -> tuple[int, int, int]:
    """(B, T, per-head size) of a packed (B, T, heads·d) LinearAttention input."""
    shape = node.shape(i)
    if len(shape) != 3 or shape[2] % heads:
        raise RuleError(f"LinearAttention '{node.name}': {what} {shape} is not "
                        f"(B, T, {heads}·d)")
    return shape[0], shape[1], shape[2] // heads


@rule("LinearAttention", dot_product=True)
def linear_attention(node: Node) -> Cost:
    """The recurrence run token by token, as the spec defines it; with N = B·T·H_kv
    (token × KV head) and M = B·T·H_q (token × query head), d_k and d_v the head sizes:

    - write S += k ⊗ v: d_k·d_v MACs, 2·d_k·d_v FLOPs (multiply + accumulate) per N;
    - readout o = scale·qᵀS: d_v dot products of length d_k, d_k·d_v MACs and
      d_v·(2d_k−1) + d_v (scale) FLOPs per M (GQA repeats the state: data movement);
    - gated / gated_delta: exp of every decay element (numel(decay): one per head or
      per key dim) and d_k·d_v multiplies S·exp(g) per N;
    - delta / gated_delta: retrieval Sᵀk, d_k·d_v MACs and d_v·(2d_k−1) FLOPs, then
      v − Sᵀk and β·(…), 2·d_v FLOPs per N.

    chunk_size is a tuning hint for a chunk-parallel kernel with the same output; the
    count is the recurrent form's. past_state only sets the initial state (zeros
    otherwise): the same work. A decay or beta input that the update_rule requires or
    forbids, or head sizes that do not agree, are refused.
    """
    hq, hkv = node.attr("q_num_heads", 0), node.attr("kv_num_heads", 0)
    if hq <= 0 or hkv <= 0 or hq % hkv:
        raise RuleError(f"LinearAttention '{node.name}': q_num_heads {hq} must be a "
                        f"positive multiple of kv_num_heads {hkv}")
    update = node.attr("update_rule", "gated_delta")
    if update not in ("linear", "gated", "delta", "gated_delta"):
        raise RuleError(f"LinearAttention '{node.name}': unknown update_rule '{update}'")
    gated, delta = update in ("gated", "gated_delta"), update in ("delta", "gated_delta")
    b, t, dk = _split_heads(node, 0, hq, "query")
    kb, kt, kdk = _split_heads(node, 1, hkv, "key")
    vb, vt, dv = _split_heads(node, 2, hkv, "value")
    if (kb, kt, kdk) != (b, t, dk) or (vb, vt) != (b, t):
        raise RuleError(f"LinearAttention '{node.name}': query {node.shape(0)}, key "
                        f"{node.shape(1)} and value {node.shape(2)} do not agree")
    for i, what, wanted in ((4, "decay", gated), (5, "beta", delta)):
        if node.has_input(i) != wanted:
            raise RuleError(f"LinearAttention '{node.name}': update_rule '{update}' "
                            f"{'needs' if wanted else 'forbids'} the {what} input")
    n, m, state = b * t * hkv, b * t * hq, dk * dv
    macs = n * state + m * state                       # write, readout
    flops = n * 2 * state + m * (dv * (2 * dk - 1) + dv)
    if gated:
        decay = node.shape(4)
        if len(decay) != 3 or decay[:2] != (b, t) or decay[2] not in (hkv, hkv * dk):
            raise RuleError(f"LinearAttention '{node.name}': decay {decay} is not "
                            f"({b}, {t}, {hkv}) or ({b}, {t}, {hkv * dk})")
        flops += prod(decay) + n * state               # exp(g), S·exp(g)
    if delta:
        beta = node.shape(5)
        if len(beta) != 3 or beta[:2] != (b, t) or beta[2] not in (hkv, 1):
            raise RuleError(f"LinearAttention '{node.name}': beta {beta} is not "
                            f"({b}, {t}, {hkv}) or ({b}, {t}, 1)")
        macs += n * state                              # Sᵀk
        flops += n * (dv * (2 * dk - 1) + 2 * dv)      # Sᵀk, v − Sᵀk, β·(…)
    return Cost(macs=macs, flops=flops)


@rule("CausalConvWithState", dot_product=True)
def causal_conv_with_state(node: Node) -> Cost:
    """MACs = B·C·L·k: a depthwise Conv (group = C, weight (C, 1, k)) over the input
    extended on the left by k−1 positions (past_state, or zeros without it), so each of
    the B·C·L outputs is a dot product of length k: 2k−1 FLOPs, +1 with the bias, +Swish
    (from the FLOP table) with activation 'silu' / 'swish'. present_state is a copy.
    """
    x, w = node.shape(0), node.shape(1)
    if len(x) != 3 or len(w) != 3 or w[0] != x[1] or w[1] != 1:
        raise RuleError(f"CausalConvWithState '{node.name}': input {x} does not fit "
                        f"depthwise weight {w} (channels, 1, k)")
    activation = node.attr("activation", "none")
    if activation not in ("none", "silu", "swish"):
        raise RuleError(f"CausalConvWithState '{node.name}': unknown activation "
                        f"'{activation}'")
    k, outputs = w[2], prod(x)
    per = max(2 * k - 1, 0) + node.has_input(2)
    if activation != "none":
        per += per_element("Swish")
    return Cost(macs=k * outputs, flops=per * outputs)
