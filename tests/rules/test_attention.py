"""Attention (opset 23). B batch, Hq query heads, Sq, Skv (past + present), dk, dv:
MACs = B·Hq·Sq·Skv·(dk + dv); FLOPs = per score (2dk−1) + 1 scale (+1 mask, +1 causal)
(+ tanh and 2 multiplies with softcap), softmax 5·Skv − 2 per row, (2Skv − 1) per output."""

from __future__ import annotations

import pytest
from onnx import TensorProto

from tests.builders import cost

Bt, Hq, Sq, Skv, DK, DV = 2, 4, 3, 5, 8, 6
SCORES = Bt * Hq * Sq * Skv            # 120
ROWS = Bt * Hq * Sq                    # 24
OUTS = Bt * Hq * Sq * DV               # 144


def test_attention_4d_by_hand():
    row = cost("Attention", {"q": (Bt, Hq, Sq, DK), "k": (Bt, Hq, Skv, DK), "v": (Bt, Hq, Skv, DV)},
               opset=23)
    assert row.output_shapes[0] == [Bt, Hq, Sq, DV]
    assert row.macs == 2 * 4 * 3 * 5 * (8 + 6) == 1680
    # scores: 15 (dot) + 1 (scale) each; softmax 23 per row; P.V 9 per output
    assert row.flops == 120 * 16 + 24 * 23 + 144 * 9


def test_attention_grouped_query_heads_4d():
    # 2 KV heads shared by 4 query heads: same arithmetic per query head
    row = cost("Attention", {"q": (Bt, Hq, Sq, DK), "k": (Bt, 2, Skv, DK), "v": (Bt, 2, Skv, DV)},
               opset=23)
    assert row.output_shapes[0] == [Bt, Hq, Sq, DV]
    assert row.macs == SCORES * (DK + DV)
    assert row.flops == SCORES * (2 * DK) + ROWS * (5 * Skv - 2) + OUTS * (2 * Skv - 1)


@pytest.mark.parametrize("kv_heads", [Hq, 2])
def test_attention_3d_with_head_counts(kv_heads):
    row = cost("Attention", {"q": (Bt, Sq, Hq * DK), "k": (Bt, Skv, kv_heads * DK),
                             "v": (Bt, Skv, kv_heads * DV)},
               attrs={"q_num_heads": Hq, "kv_num_heads": kv_heads}, opset=23)
    assert row.output_shapes[0] == [Bt, Sq, Hq * DV]
    assert row.macs == SCORES * (DK + DV)
    assert row.flops == SCORES * (2 * DK) + ROWS * (5 * Skv - 2) + OUTS * (2 * Skv - 1)


@pytest.mark.parametrize("mask_shape, elem", [
    ((Sq, Skv), TensorProto.FLOAT),            # additive mask
    ((Bt, 1, Sq, Skv), TensorProto.BOOL),      # boolean mask
])
def test_attention_with_mask_adds_one_per_score(mask_shape, elem):
    row = cost("Attention", {"q": (Bt, Hq, Sq, DK), "k": (Bt, Hq, Skv, DK), "v": (Bt, Hq, Skv, DV),
                             "mask": (mask_shape, elem)}, opset=23)
    assert row.macs == SCORES * (DK + DV)
    assert row.flops == SCORES * (2 * DK - 1 + 1 + 1) + ROWS * (5 * Skv - 2) + OUTS * (2 * Skv - 1)


def test_attention_is_causal_adds_one_per_score():
    row = cost("Attention", {"q": (Bt, Hq, Sq, DK), "k": (Bt, Hq, Skv, DK), "v": (Bt, Hq, Skv, DV)},
               attrs={"is_causal": 1}, opset=23)
    assert row.flops == SCORES * (2 * DK + 1) + ROWS * (5 * Skv - 2) + OUTS * (2 * Skv - 1)


def test_attention_mask_and_causal_each_add_one_per_score():
    row = cost("Attention", {"q": (Bt, Hq, Sq, DK), "k": (Bt, Hq, Skv, DK), "v": (Bt, Hq, Skv, DV),
                             "mask": ((Sq, Skv), TensorProto.FLOAT)}, attrs={"is_causal": 1}, opset=23)
    assert row.flops == SCORES * (2 * DK + 2) + ROWS * (5 * Skv - 2) + OUTS * (2 * Skv - 1)


def test_attention_softcap_adds_tanh_and_two_multiplies_per_score():
    row = cost("Attention", {"q": (Bt, Hq, Sq, DK), "k": (Bt, Hq, Skv, DK), "v": (Bt, Hq, Skv, DV)},
               attrs={"softcap": 30.0}, opset=23)
    assert row.flops == SCORES * (2 * DK + 5 + 2) + ROWS * (5 * Skv - 2) + OUTS * (2 * Skv - 1)


def test_attention_scale_attribute_does_not_change_the_count():
    row = cost("Attention", {"q": (Bt, Hq, Sq, DK), "k": (Bt, Hq, Skv, DK), "v": (Bt, Hq, Skv, DV)},
               attrs={"scale": 0.5}, opset=23)
    assert row.flops == SCORES * (2 * DK) + ROWS * (5 * Skv - 2) + OUTS * (2 * Skv - 1)


def test_attention_with_past_key_and_value_extends_the_key_length():
    past = 7
    row = cost("Attention", {"q": (Bt, Hq, Sq, DK), "k": (Bt, Hq, Skv, DK), "v": (Bt, Hq, Skv, DV),
                             "mask": None, "past_k": (Bt, Hq, past, DK), "past_v": (Bt, Hq, past, DV)},
               outputs=["y", "present_k", "present_v"], opset=23)
    total = Skv + past                                    # 12 keys
    assert row.output_shapes == [[Bt, Hq, Sq, DV], [Bt, Hq, total, DK], [Bt, Hq, total, DV]]
    scores, outs = Bt * Hq * Sq * total, Bt * Hq * Sq * DV
    assert row.macs == scores * (DK + DV)
    assert row.flops == scores * (2 * DK) + ROWS * (5 * total - 2) + outs * (2 * total - 1)


def test_attention_single_query_decode_step():
    # one new token against 16 cached keys, 1 batch, 2 heads, head size 4
    row = cost("Attention", {"q": (1, 2, 1, 4), "k": (1, 2, 16, 4), "v": (1, 2, 16, 4)}, opset=23)
    assert row.macs == 1 * 2 * 1 * 16 * (4 + 4) == 256
    assert row.flops == 32 * (7 + 1) + 2 * (5 * 16 - 2) + 8 * (2 * 16 - 1)
