"""ONNX Runtime's attention kernels (rules/contrib_attention.py), counted by hand.

Attention core with B batches, N heads, S queries, T keys, head sizes dk = dv = H:
scores = B·N·S·T, each 2H−1 FLOPs + 1 scale (+1 per mask); softmax 5T−2 per row (B·N·S
rows); P·V 2T−1 per output (B·N·S·H outputs); MACs = scores·2H.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto

from tests.builders import weight
from tests.rules.contrib import cost_op

I32, I64 = TensorProto.INT32, TensorProto.INT64


def core(b, n, s, t, h, masks=0):
    scores, rows, outputs = b * n * s * t, b * n * s, b * n * s * h
    flops = scores * (2 * h - 1 + 1 + masks) + rows * (5 * t - 2) + outputs * (2 * t - 1)
    return scores * 2 * h, flops


def test_attention_projects_then_attends():
    inputs = {"x": (1, 4, 8), "w": weight(8, 24), "b": weight(24)}
    row = cost_op("Attention", inputs, attrs={"num_heads": 2})
    macs, flops = core(1, 2, 4, 4, 4)
    assert (macs, flops) == (256, 624)
    assert row.macs == 4 * 8 * 24 + macs                     # projection + attention
    assert row.flops == 15 * 96 + 96 + flops                  # 2K-1 and the bias per output
    masked = cost_op("Attention", {**inputs, "mask": ((1, 4), I32)},
                     attrs={"num_heads": 2, "unidirectional": 1})
    assert masked.flops == row.flops + 2 * 32                 # mask and causal select per score


def test_packed_attention_projects_tokens_and_attends_per_sequence():
    row = cost_op("PackedAttention", {"x": (5, 8), "w": weight(8, 24), "b": weight(24),
                                      "offset": ((2, 3), I32), "cum": ((3,), I32)},
                  attrs={"num_heads": 2})
    macs, flops = core(2, 2, 3, 3, 4)
    assert row.macs == 5 * 8 * 24 + macs == 960 + 288
    assert row.flops == 15 * 120 + 120 + flops


def test_multi_head_attention_cross_bias_and_past():
    qkv = {"q": (1, 4, 8), "k": (1, 6, 8), "v": (1, 6, 8)}
    row = cost_op("MultiHeadAttention", qkv, attrs={"num_heads": 2})
    assert (row.macs, row.flops) == core(1, 2, 4, 6, 4) == (384, 960)
    biased = cost_op("MultiHeadAttention", {**qkv, "bias": weight(24)}, attrs={"num_heads": 2})
    assert biased.flops == 960 + 4 * 8 + 6 * 16               # Q elements, then K and V
    past = cost_op("MultiHeadAttention", {**qkv, "bias": None, "mask": None, "ab": None,
                                          "pk": (1, 2, 3, 4), "pv": (1, 2, 3, 4)},
                   outputs=["y", "present_k", "present_v"], attrs={"num_heads": 2})
    assert (past.macs, past.flops) == core(1, 2, 4, 9, 4)
    assert past.output_shapes == [[1, 4, 8], [1, 2, 9, 4], [1, 2, 9, 4]]


GQA = {"q": (1, 3, 32), "k": (1, 3, 16), "v": (1, 3, 16), "pk": (1, 2, 5, 8), "pv": (1, 2, 5, 8),
       "seqlens": ((1,), I32)}


@pytest.mark.parametrize("total", [np.array(8, np.int32), ((), I32)], ids=["known", "input"])
def test_group_query_attention_causal_with_grouped_kv(total):
    row = cost_op("GroupQueryAttention", {**GQA, "total": total},
                  attrs={"num_heads": 4, "kv_num_heads": 2})
    assert (row.macs, row.flops) == core(1, 4, 3, 8, 8, masks=1) == (1536, 3528)


def test_group_query_attention_packed_and_rotary():
    packed = {**GQA, "q": (1, 3, 64), "k": None, "v": None, "total": np.array(8, np.int32),
              "cos": weight(16, 4), "sin": weight(16, 4)}
    row = cost_op("GroupQueryAttention", packed,
                  attrs={"num_heads": 4, "kv_num_heads": 2, "do_rotary": 1})
    assert row.output_shapes == [[1, 3, 32]]
    rotary = 3 * 3 * (4 + 2) * 8                          # 3 per element of Q and K heads
    assert (row.macs, row.flops) == (1536, 3528 + rotary)


@pytest.mark.parametrize("past_length, t", [(np.array(6, np.int32), 7), (((), I32), 10)],
                         ids=["known", "buffer"])
def test_decoder_masked_mha_reads_past_plus_one(past_length, t):
    row = cost_op("DecoderMaskedMultiHeadAttention",
                  {"q": (2, 1, 8), "k": (2, 1, 8), "v": (2, 1, 8), "mask": None, "ab": None,
                   "pk": (2, 2, 10, 4), "pv": (2, 2, 10, 4), "len": past_length},
                  attrs={"num_heads": 2})
    assert (row.macs, row.flops) == core(2, 2, 1, t, 4)


def test_sparse_attention_counts_kept_blocks_only():
    row = cost_op("SparseAttention",
                  {"q": (1, 8, 16), "k": (1, 8, 16), "v": (1, 8, 16), "pk": (1, 2, 8, 8),
                   "pv": (1, 2, 8, 8), "rows": np.array([[0, 1, 3]], np.int32),
                   "cols": np.array([[0, 0, 1]], np.int32), "total": np.array(8, np.int32),
                   "klens": ((1,), I32)},
                  attrs={"num_heads": 2, "kv_num_heads": 2, "sparse_block_size": 4})
    scores, rows = 2 * 3 * 16, 16                          # 3 blocks of 4x4 per head
    assert row.macs == scores * 16 == 1536
    assert row.flops == scores * 17 + (5 * scores - 2 * rows) + 8 * (2 * scores - rows) == 3488


def test_ms_rotary_embedding_rotates_every_element_of_each_head():
    row = cost_op("RotaryEmbedding", {"x": (1, 4, 16), "pos": ((1, 4), I64), "cos": weight(8, 4),
                                      "sin": weight(8, 4)}, attrs={"num_heads": 2})
    assert row.flops == 6 * 1 * 4 * 2 * 4                 # 6 per pair, 4 pairs per head
