"""ONNX Runtime's attention kernels (``com.microsoft``): Attention, MultiHeadAttention,
GroupQueryAttention, PackedAttention, DecoderMaskedMultiHeadAttention, SparseAttention,
RotaryEmbedding.

Each fused kernel costs what the unfused graph computes, in the same pieces:

- the input projection where the kernel holds it (Attention, PackedAttention): a MatMul
  of the input (tokens, Hin) with the weights (Hin, Hq+Hk+Hv), K = Hin, and the bias add;
- a packed bias on Q, K and V (MultiHeadAttention): one add per element;
- rotary embedding of Q and K when ``do_rotary`` is set: RotaryEmbedding's 3 per element;
- scaled dot-product attention: :func:`flopscope.rules.attention.sdpa` with batch B, query
  heads N, query length S, key length T (past + new), head sizes dk and dv; grouped
  key/value heads change the cache's size, not the dot products. Masks, attention biases
  and the causal select count one FLOP per score each.
"""

from __future__ import annotations

from dataclasses import replace

from flopscope.graph import Node, RuleError, Tensor
from flopscope.rules.attention import sdpa
from flopscope.rules.decoder import rotary_embedding
from flopscope.rules.registry import Cost, rule

MS = "com.microsoft"


def _heads(node: Node) -> int:
    n = int(node.attr("num_heads", 0))
    if n <= 0:
        raise RuleError(f"{node.op} '{node.name}': num_heads must be set")
    return n


def _sizes(node: Node, hidden: int, w: tuple[int, ...]) -> tuple[int, int, int]:
    """(Hq, Hk, Hv) of a projection weight (Hin, Hq+Hk+Hv)."""
    sizes = node.attr("qkv_hidden_sizes")
    if sizes:
        hq, hk, hv = (int(s) for s in sizes)
    elif w[1] % 3:
        raise RuleError(f"{node.op} '{node.name}': weights {w} do not split into Q, K and V")
    else:
        hq = hk = hv = w[1] // 3
    if hq + hk + hv != w[1] or w[0] != hidden:
        raise RuleError(f"{node.op} '{node.name}': weights {w} do not fit input hidden {hidden} "
                        f"and Q/K/V sizes {(hq, hk, hv)}")
    return hq, hk, hv


def _projection(tokens: int, hidden: int, width: int, bias: bool) -> Cost:
    outputs = tokens * width
    return Cost(macs=tokens * hidden * width,
                flops=max(2 * hidden - 1, 0) * outputs + (outputs if bias else 0))


def _plus(*costs: Cost) -> Cost:
    return Cost(macs=sum(c.macs for c in costs), flops=sum(c.flops for c in costs))


def projected_attention(node: Node, past: int, extra_masks: int) -> tuple[Cost, Cost]:
    """(projection, attention) of Attention-style kernels: input (B, S, Hin), weights
    input 1, bias input 2; ``past``: the input index of the (2, B, N, P, H) past state."""
    x, w = node.shape(0), node.shape(1)
    if len(x) != 3 or len(w) != 2:
        raise RuleError(f"{node.op} '{node.name}': input {x} and weights {w} must be 3-D and 2-D")
    b, s, hidden = x
    n = _heads(node)
    hq, hk, hv = _sizes(node, hidden, w)
    t = s + (node.shape(past)[3] if node.has_input(past) else 0)
    masks = extra_masks + bool(node.attr("unidirectional", 0))
    core = sdpa(b, n, s, t, hq // n, hv // n, masks=masks)
    return _projection(b * s, hidden, hq + hk + hv, node.has_input(2)), core


@rule("Attention", domain=MS, dot_product=True)
def attention(node: Node) -> Cost:
    """Input projection (input · weights + bias), then attention of S queries over
    T = past + S keys (past: input 4, (2, B, N, P, H)); the mask index (input 3), the
    attention bias (input 5) and ``unidirectional`` each add one FLOP per score.

    >>> # B=1, S=4, Hin=8, weights 8x24, 2 heads: projection 4·8·24 = 768 MACs,
    >>> # attention 1·2·4·4·(4+4) = 256 MACs
    """
    projection, core = projected_attention(node, 4, node.has_input(3) + node.has_input(5))
    return _plus(projection, core)


@rule("PackedAttention", domain=MS, dot_product=True)
def packed_attention(node: Node) -> Cost:
    """Attention over sequences packed without padding: input (tokens, Hin), token_offset
    (input 3) of shape (B, S). The projection runs over the tokens; attention is costed
    at the padded length S of every sequence (the kernel skips padding, which the file
    does not say: an upper bound when sequences are shorter than S)."""
    x, w = node.shape(0), node.shape(1)
    b, s = node.shape(3)
    if len(x) != 2 or len(w) != 2:
        raise RuleError(f"PackedAttention '{node.name}': input {x} and weights {w} must be 2-D")
    tokens, hidden = x
    n = _heads(node)
    hq, hk, hv = _sizes(node, hidden, w)
    core = sdpa(b, n, s, s, hq // n, hv // n, masks=node.has_input(5))
    return _plus(_projection(tokens, hidden, hq + hk + hv, node.has_input(2)), core)


def _kv_length(node: Node, key: int, heads_format: bool) -> int:
    k = node.shape(key)
    return k[2] if heads_format and len(k) == 4 else k[1]


@rule("MultiHeadAttention", domain=MS, dot_product=True)
def multi_head_attention(node: Node) -> Cost:
    """Q (B, S, D) or packed QKV (B, S, N, 3, H); K, V as (B, L, D), (B, N, L, H), or
    packed KV (B, L, N, 2, H); past key (input 6, (B, N, P, H)) adds P keys to new 3-D
    keys. The packed bias (input 3) adds one FLOP per Q, K and V element; the key padding
    mask (input 4) and attention bias (input 5) one per score each."""
    q = node.shape(0)
    n = _heads(node)
    bias = 0
    if len(q) == 5:                                  # packed QKV
        b, s, _, _, dk = q
        t, dv = s, dk
        bias_elements = 3 * b * s * n * dk
    else:
        b, s, d = q
        dk = d // n
        k = node.shape(1)
        if len(k) == 5:                              # packed KV
            t, dv = k[1], k[4]
        elif len(k) == 4:                            # (B, N, L, H): already with the past
            t, dk, dv = k[2], k[3], node.shape(2)[3]
        else:
            t = k[1] + (node.shape(6)[2] if node.has_input(6) else 0)
            dv = node.shape(2)[2] // n
        new_keys = t - (node.shape(6)[2] if node.has_input(6) and len(k) == 3 else 0)
        bias_elements = b * s * n * dk + b * new_keys * n * (dk + dv)
    if node.has_input(3):
        bias = bias_elements
    core = sdpa(b, n, s, t, dk, dv, masks=node.has_input(4) + node.has_input(5)
                + bool(node.attr("unidirectional", 0)))
    return Cost(macs=core.macs, flops=core.flops + bias)


def _rotary(node: Node, tokens: int, heads: int, head: int) -> int:
    """RotaryEmbedding's FLOPs on ``tokens`` rows of ``heads`` heads of size ``head``."""
    if not node.attr("do_rotary", 0):
        return 0
    x = Tensor("x", (1, tokens, heads * head), "float32")
    return rotary_embedding(Node(node.name, "RotaryEmbedding", (x,), (), attrs={"num_heads": heads})).flops


@rule("GroupQueryAttention", domain=MS, dot_product=True)
def group_query_attention(node: Node) -> Cost:
    """Q (B, S, N·H), or packed QKV (B, S, (N + 2·kv)·H) when key is absent; past key
    (input 3) (B, kv, P, H). Key length T = total_sequence_length (input 6) when its value
    is known, else P + S. Causal (one select per score); rotary on Q and K with
    ``do_rotary``; ``softcap`` adds tanh and 2 multiplies per score; the attention bias
    (input 10) one add per score."""
    q = node.shape(0)
    n = _heads(node)
    kv = node.attr("kv_num_heads", 0) or n
    b, s, d = q
    head = d // (n + 2 * kv) if not node.has_input(1) else d // n
    if 6 in node.values:
        t = int(node.values[6][0])
    else:
        t = s + (node.shape(3)[2] if node.has_input(3) else 0)
    core = sdpa(b, n, s, t, head, head, masks=1 + node.has_input(10),
                softcap=bool(node.attr("softcap", 0.0)))
    rotary = _rotary(node, b * s, n + kv, head)
    return Cost(macs=core.macs, flops=core.flops + rotary)


@rule("DecoderMaskedMultiHeadAttention", domain=MS, dot_product=True)
def decoder_masked_mha(node: Node) -> Cost:
    """One new token (S = 1) against a key/value cache: self-attention with past key
    (input 5) (B, N, max_len, H) reads past_sequence_length (input 7) + 1 keys when that
    value is known, else the whole buffer max_len (an upper bound); cross-attention with
    a 4-D key (B, N, L, H) reads L. Packed QKV when key is absent. Mask (input 3) and
    attention bias (input 4) add one per score; the bias (input 10) one per Q, K, V
    element."""
    q = node.shape(0)
    n = _heads(node)
    b, s, d = q
    packed = not node.has_input(1)
    head = d // (3 * n) if packed else d // n
    if not packed and len(node.shape(1)) == 4:
        t = node.shape(1)[2]
    elif 7 in node.values:
        t = int(node.values[7][0]) + s
    elif node.has_input(5):
        t = node.shape(5)[2]
    else:
        t = s
    bias = 3 * b * s * n * head if node.has_input(10) else 0
    core = sdpa(b, n, s, t, head, head, masks=node.has_input(3) + node.has_input(4))
    return Cost(macs=core.macs, flops=core.flops + bias)


@rule("SparseAttention", domain=MS, dot_product=True)
def sparse_attention(node: Node) -> Cost:
    """Block-sparse causal attention of a prompt: only the blocks the layout keeps are
    computed. block_row_indices (input 5, CSR row pointers, (layouts, rows + 1)) must be
    a known constant: layout l keeps ptr[l][-1] blocks of size² scores, head h uses layout
    h mod layouts. T is total_sequence_length (input 7) when known, else past + S.
    Scores = B·Σ_h blocks(h)·size², each a dot product of H terms, scaled
    and causally selected; the softmax of a row of n kept scores is 5n−2 and P·V 2n−1 per
    output, so over all rows 5·scores − 2·rows and H·(2·scores − rows). Rotary on Q and
    K with ``do_rotary``. Token generation (S < T) is not modelled: unresolved rather than
    guessed."""
    q = node.shape(0)
    n = _heads(node)
    kv = node.attr("kv_num_heads", 0) or n
    b, s, d = q
    head = d // (n + 2 * kv) if not node.has_input(1) else d // n
    if 7 in node.values:                                 # total_sequence_length
        t = int(node.values[7][0])
    else:
        t = s + (node.shape(3)[2] if node.has_input(3) else 0)
    if t != s:
        raise RuleError(f"SparseAttention '{node.name}': token generation (S={s} < T={t}) not modelled")
    layouts, width = node.shape(5)
    ptr = node.value(5)
    size = node.attr("sparse_block_size", 0)
    kept = [int(ptr[(h % layouts) * width + width - 1]) for h in range(n)]
    scores = b * sum(kept) * size * size
    rows = b * n * s
    per_score = max(2 * head - 1, 0) + 1 + 1         # dot product, scale, causal select
    # softmax: 5n−2 per row of n kept scores; P·V: 2n−1 per output, head outputs per row
    flops = scores * per_score + (5 * scores - 2 * rows) + head * (2 * scores - rows)
    rotary = _rotary(node, b * s, n + kv, head)
    return Cost(macs=scores * 2 * head, flops=flops + rotary)


@rule("RotaryEmbedding", domain=MS)
def ms_rotary_embedding(node: Node) -> Cost:
    """The default-domain RotaryEmbedding's cost (3 FLOPs per rotated element) with this
    kernel's inputs: (input, position_ids, cos_cache, sin_cache)."""
    cos = node.inputs[2] if len(node.inputs) > 2 else None
    return rotary_embedding(replace(node, inputs=(node.inputs[0], cos)))

