"""Decoder blocks: RotaryEmbedding (6 FLOPs per rotated pair), SwiGLU (Swish · B),
TensorScatter (a copy), LinearAttention (recurrent state update + readout as dot
products) and CausalConvWithState (depthwise causal conv, bias, SiLU)."""

from __future__ import annotations

import pytest

from tests.builders import I64, cost, layer, run, weight

# ------------------------------------------------------------------- RotaryEmbedding


@pytest.mark.parametrize("attrs, rotary, cache", [
    ({}, 8, 4),                                         # full head: 4 pairs per head
    ({"interleaved": 1}, 8, 4),                         # other layout, same cost
    ({"rotary_embedding_dim": 4}, 4, 2),                # first 4 of 8 rotated, 4 copied
    ({"rotary_embedding_dim": 4, "interleaved": 1}, 4, 2),
])
def test_rotary_embedding_4d(attrs, rotary, cache):
    b, h, s, head = 2, 4, 3, 8
    row = cost("RotaryEmbedding", {"x": (b, h, s, head), "cos": weight(50, cache),
                                   "sin": weight(50, cache), "pos": ((b, s), I64)},
               attrs=attrs, opset=23)
    # per rotated pair: 4 multiplies + 2 adds
    assert (row.macs, row.flops) == (0, b * h * s * (rotary // 2) * (4 + 2))


def test_rotary_embedding_3d_input_splits_into_heads():
    # hidden 32 = 4 heads x 8; no position_ids: caches are (B, S, head/2)
    row = cost("RotaryEmbedding", {"x": (2, 3, 32), "cos": (2, 3, 4), "sin": (2, 3, 4)},
               attrs={"num_heads": 4}, opset=23)
    assert row.flops == 2 * 3 * 4 * (8 // 2) * 6      # B x S x H x pairs x 6


def test_rotary_embedding_3d_input_without_num_heads_is_refused():
    row = layer(run("RotaryEmbedding", {"x": (2, 3, 32), "cos": (2, 3, 16), "sin": (2, 3, 16)},
                    opset=23), "RotaryEmbedding")
    assert row.status != "ok" and row.flops is None
    assert "num_heads" in row.reason


def test_rotary_embedding_dim_wider_than_the_head_is_refused():
    row = layer(run("RotaryEmbedding", {"x": (1, 2, 3, 8), "cos": (1, 3, 8), "sin": (1, 3, 8)},
                    attrs={"rotary_embedding_dim": 16}, opset=23), "RotaryEmbedding")
    assert row.status != "ok" and row.flops is None
    assert "rotary_embedding_dim 16" in row.reason


# --------------------------------------------------------------------------- SwiGLU


def test_swiglu_default_alpha():
    row = cost("SwiGLU", {"a": (2, 5, 16), "b": (2, 5, 16)}, opset=28)
    # Swish(A): sigmoid 4 + multiply by A 1; then multiply by B 1
    assert (row.macs, row.flops) == (0, 2 * 5 * 16 * (4 + 1 + 1))


def test_swiglu_alpha_scales_the_gate_inside_the_sigmoid():
    row = cost("SwiGLU", {"a": (2, 4), "b": (2, 4)}, attrs={"alpha": 0.5}, opset=28)
    # alpha * A (1), sigmoid (4), times A (1), times B (1)
    assert row.flops == 2 * 4 * (1 + 4 + 1 + 1)


def test_swiglu_follows_the_flop_table():
    row = cost("SwiGLU", {"a": (3, 4), "b": (3, 4)}, opset=28, flop_table={"Swish": 2})
    assert row.flops == 3 * 4 * (2 + 1)


def test_swiglu_inputs_of_different_shapes_are_refused():
    row = layer(run("SwiGLU", {"a": (2, 4), "b": (2, 5)}, opset=28), "SwiGLU")
    assert row.status != "ok" and row.flops is None
    assert "same shape" in row.reason

# -------------------------------------------------------------------- TensorScatter


@pytest.mark.parametrize("mode", ["linear", "circular"])
def test_tensor_scatter_is_a_copy(mode):
    row = cost("TensorScatter", {"past": (2, 1, 4, 5), "update": (2, 1, 2, 5),
                                 "idx": ((2,), I64)}, attrs={"mode": mode}, opset=24)
    assert (row.macs, row.flops) == (0, 0)


def test_tensor_scatter_prefill_without_write_indices():
    row = cost("TensorScatter", {"past": (3, 8, 5), "update": (3, 2, 5)},
               attrs={"axis": 1}, opset=24)
    assert (row.macs, row.flops) == (0, 0)


# ------------------------------------------------------------------ LinearAttention
# N = B·T·H_kv (token x kv head), M = B·T·H_q; state d_k x d_v.
# write S += k (x) v: dk·dv MACs, 2·dk·dv FLOPs per N
# readout scale·qᵀS: dk·dv MACs, dv·(2dk−1) + dv FLOPs per M
# gated: exp per decay element, dk·dv multiplies per N
# delta: Sᵀk dk·dv MACs and dv·(2dk−1) FLOPs, subtract dv, beta multiply dv, per N


def _la(q_heads, kv_heads, b, t, dk, dv, decay=None, beta=None, past=False, **attrs):
    inputs = {"q": (b, t, q_heads * dk), "k": (b, t, kv_heads * dk), "v": (b, t, kv_heads * dv),
              "past": (b, kv_heads, dk, dv) if past else None,
              "decay": decay, "beta": beta}
    while inputs and list(inputs.values())[-1] is None:   # drop trailing omitted inputs
        inputs.popitem()
    return cost("LinearAttention", inputs, outputs=["y", "state"],
                attrs={"q_num_heads": q_heads, "kv_num_heads": kv_heads, **attrs}, opset=27)


def test_linear_attention_linear_rule():
    row = _la(4, 4, 2, 4, 8, 8, update_rule="linear")
    n = m = 2 * 4 * 4                                   # 32 token-heads
    assert row.macs == n * 8 * 8 + m * 8 * 8            # write + readout
    assert row.flops == n * 2 * 8 * 8 + m * (8 * (2 * 8 - 1) + 8)


@pytest.mark.parametrize("decay_last, exps", [
    (4 * 8, 2 * 4 * 4 * 8),                             # per key dim: B·T·H_kv·dk exps
    (4, 2 * 4 * 4),                                     # per head: B·T·H_kv exps
])
def test_linear_attention_gated_rule(decay_last, exps):
    row = _la(4, 4, 2, 4, 8, 8, decay=(2, 4, decay_last), update_rule="gated")
    n = m = 2 * 4 * 4
    assert row.macs == n * 64 + m * 64
    # write 2·64, readout 8·15 + 8, decay: exps + 64 multiplies of the state
    assert row.flops == n * 128 + m * (8 * 15 + 8) + exps + n * 64


@pytest.mark.parametrize("beta_last", [4, 1])
def test_linear_attention_delta_rule(beta_last):
    row = _la(4, 4, 2, 4, 8, 8, beta=(2, 4, beta_last), update_rule="delta")
    n = m = 2 * 4 * 4
    assert row.macs == n * 64 + m * 64 + n * 64         # write, readout, retrieval Sᵀk
    # retrieval 8·15, v − Sᵀk 8, beta 8
    assert row.flops == n * 128 + m * (8 * 15 + 8) + n * (8 * 15 + 8 + 8)


@pytest.mark.parametrize("past", [False, True])
def test_linear_attention_gated_delta_gqa(past):
    # default update_rule gated_delta; 8 query heads share 2 kv heads; dk 4, dv 6
    b, t, hq, hkv, dk, dv = 1, 5, 8, 2, 4, 6
    row = _la(hq, hkv, b, t, dk, dv, decay=(b, t, hkv), beta=(b, t, hkv), past=past,
              chunk_size=2, scale=0.25)
    n, m, s = b * t * hkv, b * t * hq, dk * dv          # 10, 40, 24
    assert row.macs == n * s + m * s + n * s
    assert row.flops == (n * 2 * s                      # write
                         + m * (dv * (2 * dk - 1) + dv)   # readout + scale
                         + b * t * hkv + n * s           # exp per head, decay the state
                         + n * (dv * (2 * dk - 1) + 2 * dv))  # delta correction


@pytest.mark.parametrize("width, heads, rule, reason", [
    (8, (2, 2), "gated", "needs the decay input"),
    (12, (3, 2), "linear", "positive multiple"),          # 3 query heads on 2 key/value heads
], ids=["gated_without_decay", "heads_that_do_not_divide"])
def test_linear_attention_refusals(width, heads, rule, reason):
    shape = (1, 2, width)
    row = layer(run("LinearAttention", {"q": shape, "k": shape, "v": shape}, outputs=["y", "state"],
                    attrs={"q_num_heads": heads[0], "kv_num_heads": heads[1], "update_rule": rule},
                    opset=27), "LinearAttention")
    assert row.status != "ok" and row.flops is None
    assert reason in row.reason


# -------------------------------------------------------------- CausalConvWithState


@pytest.mark.parametrize("bias, past, activation, per_output", [
    (False, False, "none", 2 * 4 - 1),                  # 4 multiplies + 3 adds
    (True, False, "none", 2 * 4 - 1 + 1),               # + bias add
    (False, True, "none", 2 * 4 - 1),                   # past_state replaces the zero pad
    (True, True, "silu", 2 * 4 - 1 + 1 + 5),            # + SiLU: sigmoid 4, multiply 1
    (False, False, "swish", 2 * 4 - 1 + 5),
])
def test_causal_conv_with_state(bias, past, activation, per_output):
    b, c, length, k = 2, 6, 8, 4
    inputs = {"x": (b, c, length), "w": weight(c, 1, k),
              "bias": weight(c) if bias else None,
              "past": (b, c, k - 1) if past else None}
    if not past:
        inputs.pop("past")
    row = cost("CausalConvWithState", inputs, outputs=["y", "state"],
               attrs={"activation": activation}, opset=27)
    outputs = b * c * length
    assert (row.macs, row.flops) == (outputs * k, outputs * per_output)


def test_causal_conv_with_state_decode_step():
    row = cost("CausalConvWithState", {"x": (1, 16, 1), "w": weight(16, 1, 4), "b": weight(16),
                                       "past": (1, 16, 3)}, outputs=["y", "state"], opset=27)
    assert (row.macs, row.flops) == (16 * 4, 16 * (7 + 1))


def test_causal_conv_with_state_non_depthwise_weight_is_refused():
    row = layer(run("CausalConvWithState", {"x": (1, 4, 8), "w": weight(4, 2, 3)},
                    outputs=["y", "state"], opset=27), "CausalConvWithState")
    assert row.status != "ok" and row.flops is None
    assert "does not fit" in row.reason

