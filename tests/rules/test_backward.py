"""Gradient ops (rules/backward.py), each number worked by hand from the docstrings."""

from __future__ import annotations

import pytest

from flopscope.graph import FLOPSCOPE_DOMAIN, Node, RuleError, Tensor
from flopscope.rules import get_rule, is_dot_product
from flopscope.rules.backward import GRAD_FLOPS_PER_ELEMENT


def t(*shape: int) -> Tensor:
    return Tensor("t", shape, "float32")


def grad(qualified: str, inputs, outputs=(), **attrs):
    op = qualified.removeprefix(FLOPSCOPE_DOMAIN + ".")
    node = Node(f"n/{op}", op, tuple(inputs), tuple(outputs), attrs, domain=FLOPSCOPE_DOMAIN)
    return get_rule(qualified)(node)


# 3x3 conv, 8 -> 16 channels, 2 x 8 x 8 input, stride 1, pad 1: 2*16*8*8 outputs, 8*9 terms
DY, X, W = t(2, 16, 8, 8), t(2, 8, 8, 8), t(16, 8, 3, 3)
FWD = 2 * 16 * 8 * 8 * 8 * 9


def test_conv_grad_costs_grad_input_and_grad_weight_as_forward_convolutions():
    cost = grad("ai.flopscope.ConvGrad", [DY, X, W], output_mask=(1, 1, 1))
    assert cost.macs == 2 * FWD
    grad_input, grad_weight = 2 * FWD - 2 * 8 * 8 * 8, 2 * FWD - 16 * 8 * 9
    grad_bias = 2 * 16 * 8 * 8 - 16           # per channel: 2*8*8 terms summed
    assert cost.flops == grad_input + grad_weight + grad_bias
    assert is_dot_product(f"{FLOPSCOPE_DOMAIN}.ConvGrad")


@pytest.mark.parametrize(("mask", "macs"), [((0, 1, 0), FWD), ((1, 0, 0), FWD), ((0, 0, 1), 0)])
def test_conv_grad_costs_only_what_autograd_asked_for(mask, macs):
    """First layer: no grad-input; frozen weight: no grad-weight."""
    assert grad("ai.flopscope.ConvGrad", [DY, X, W], output_mask=mask).macs == macs


def test_grouped_and_transposed_conv_grad():
    dw = grad("ai.flopscope.ConvGrad", [t(1, 8, 4, 4), t(1, 8, 4, 4), t(8, 1, 3, 3)], output_mask=(1, 1, 0))
    assert dw.macs == 2 * (8 * 16 * 9)         # depthwise: one input channel per filter
    # transposed: weight (Cin=4, Cout=6, 2, 2); each of the 4*3*3 input elements feeds 6*4 outputs
    tr = grad("ai.flopscope.ConvGrad", [t(1, 6, 6, 6), t(1, 4, 3, 3), t(4, 6, 2, 2)], output_mask=(0, 1, 0),
              transposed=1)
    assert tr.macs == 4 * 3 * 3 * 6 * 2 * 2


def test_conv_grad_refuses_channels_that_do_not_fit():
    with pytest.raises(RuleError, match="filters"):
        grad("ai.flopscope.ConvGrad", [t(1, 5, 4, 4), t(1, 3, 4, 4), t(8, 3, 3, 3)])


def test_batch_norm_grad():
    x = t(2, 4, 3, 3)
    e = 2 * 4 * 3 * 3
    assert grad("ai.flopscope.BatchNormGrad", [x, x, t(4)], output_mask=(1, 1, 1), training=1).flops == 10 * e
    # frozen affine params, input needs grad: the statistics sums are still needed
    assert grad("ai.flopscope.BatchNormGrad", [x, x, t(4)], output_mask=(1, 0, 0), training=1).flops == 10 * e
    # first layer: only grad-weight (x̂ 2, Σdy·x̂ 2) and grad-bias (Σdy 1)
    assert grad("ai.flopscope.BatchNormGrad", [x, x, t(4)], output_mask=(0, 1, 1), training=1).flops == 5 * e
    # eval statistics: dy·scale (1) + Σdy·x̂ with x̂ (4) + Σdy (1)
    assert grad("ai.flopscope.BatchNormGrad", [x, x, t(4)], output_mask=(1, 1, 1), training=0).flops == 6 * e


def test_layer_norm_grad():
    x = t(2, 5, 8)
    e = 2 * 5 * 8
    op = "ai.flopscope.LayerNormGrad"
    assert grad(op, [x, x, t(8)], output_mask=(1, 1, 1)).flops == (2 + 8 + 2 + 1) * e
    assert grad(op, [x, x, t(8)], output_mask=(1, 0, 0)).flops == (2 + 8) * e
    assert grad(op, [x, x, t(8)], output_mask=(0, 1, 1)).flops == (2 + 2 + 1) * e


@pytest.mark.parametrize(("op", "price"), [
    ("ai.flopscope.ReluGrad", 1),
    ("ai.flopscope.HardtanhGrad", 2),
    ("ai.flopscope.LeakyReluGrad", 2),
    ("ai.flopscope.SigmoidGrad", 3),
    ("ai.flopscope.TanhGrad", 3),
    ("ai.flopscope.SiluGrad", 9),
    ("ai.flopscope.GeluGrad", 11),
    ("ai.flopscope.DropoutGrad", 2),
    ("ai.flopscope.SoftmaxGrad", 4),
    ("ai.flopscope.LogSoftmaxGrad", 4),
    ("ai.flopscope.AvgPoolGrad", 1),
])
def test_pointwise_grads_cost_their_price_per_grad_input_element(op, price):
    assert GRAD_FLOPS_PER_ELEMENT[op.removeprefix(FLOPSCOPE_DOMAIN + ".")] == price
    assert grad(op, [t(2, 3, 4), t(2, 3, 4)], [t(2, 3, 4)]).flops == price * 24
    assert grad(op, [t(2, 3, 4), t(2, 3, 4)], [t(2, 3, 4)]).macs == 0


def test_tanh_gelu_grad_is_priced_as_its_variant():
    assert grad("ai.flopscope.GeluGrad", [t(10), t(10)], [t(10)], variant="tanh").flops == 17 * 10
    assert grad("ai.flopscope.GeluGrad", [t(10), t(10)], [t(10)], variant="none").flops == 11 * 10


def test_scatter_adds_cost_one_add_per_incoming_gradient_element():
    # max pool 2x2 over 1x1x4x4: each of the 4 grad-output elements is added once
    assert grad("ai.flopscope.MaxPoolGrad", [t(1, 1, 2, 2), t(1, 1, 4, 4)], [t(1, 1, 4, 4)]).flops == 4
    # embedding: 2x3 tokens of width 8 added into a 100x8 table
    tokens = Tensor("i", (2, 3), "int64")
    assert grad("ai.flopscope.EmbeddingGrad", [t(2, 3, 8), tokens], [t(100, 8)]).flops == 48


def test_fused_attention_grad_recomputes_the_scores():
    """Q (1, 2, 4, 8), K and V (1, 2, 6, 8): n = 1·2·4·6 = 48 scores; Q·Kᵀ again, dV, dP,
    dQ, dK: n·(3·8 + 2·8) MACs."""
    q, kv = t(1, 2, 4, 8), t(1, 2, 6, 8)
    cost = grad("ai.flopscope.AttentionGrad", [q, q, kv, kv])
    assert cost.macs == 48 * (3 * 8 + 2 * 8)
    n, rows = 48, 8
    assert cost.flops == (n * 15 + 2 * 6 * 8 * 7 + n * 15 + rows * 16 + n * 6 + rows * 8 * 11
                          + 2 * 6 * 8 * 7)
    with pytest.raises(RuleError, match="K has 6 positions, V 5"):
        grad("ai.flopscope.AttentionGrad", [q, q, kv, t(1, 2, 5, 8)])
