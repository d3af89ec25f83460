"""NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss on scores (N, C, D...) and labels
(N, D...): S = N * prod(D) samples. Per sample: gather (0), negate (1), x weight (1, with
weights), compare with ignore_index and select (2, with ignore_index). Reduction: none 0,
sum S-1 adds, mean S-1 adds + 1 divide (+ S-1 adds for the divisor with weights or
ignore_index). SoftmaxCrossEntropyLoss adds LogSoftmax over C: 5C-1 per sample."""

from __future__ import annotations

import pytest

from tests.builders import I64, cost, layer, run, weight

#: (scores shape, labels shape, samples S, classes C)
SHAPES = [
    ((4, 5), (4,), 4, 5),
    ((2, 3, 6), (2, 6), 2 * 6, 3),
    ((2, 3, 4, 5), (2, 4, 5), 2 * 4 * 5, 3),
]

OPTIONS = [  # (reduction, weighted, ignore_index)
    (r, w, i) for r in (None, "none", "sum", "mean") for w in (False, True) for i in (None, -1, 2)
]


def _picked_by_hand(s, reduction, weighted, ignore):
    per_sample = 1                      # negate
    if weighted:
        per_sample += 1                 # multiply by weight[c]
    if ignore is not None:
        per_sample += 2                 # compare with ignore_index, select
    reduction = reduction or "mean"     # the default
    if reduction == "none":
        reduced = 0
    elif reduction == "sum":
        reduced = s - 1
    else:                               # mean: sum, divide, and a summed divisor
        reduced = (s - 1) + 1 + ((s - 1) if weighted or ignore is not None else 0)
    return s * per_sample + reduced


def _inputs(scores, labels, c, weighted):
    inputs = {"x": scores, "t": (labels, I64)}
    if weighted:
        inputs["w"] = weight(c)
    return inputs


def _attrs(reduction, ignore):
    attrs = {}
    if reduction is not None:
        attrs["reduction"] = reduction
    if ignore is not None:
        attrs["ignore_index"] = ignore
    return attrs


@pytest.mark.parametrize("reduction, weighted, ignore", OPTIONS)
@pytest.mark.parametrize("scores, labels, s, c", SHAPES)
def test_nll_loss(scores, labels, s, c, reduction, weighted, ignore):
    row = cost("NegativeLogLikelihoodLoss", _inputs(scores, labels, c, weighted),
               outputs=["loss"], attrs=_attrs(reduction, ignore), opset=22)
    assert (row.macs, row.flops) == (0, _picked_by_hand(s, reduction, weighted, ignore))


@pytest.mark.parametrize("reduction, weighted, ignore", OPTIONS)
@pytest.mark.parametrize("scores, labels, s, c", SHAPES)
def test_softmax_cross_entropy_loss(scores, labels, s, c, reduction, weighted, ignore):
    row = cost("SoftmaxCrossEntropyLoss", _inputs(scores, labels, c, weighted),
               outputs=["loss"], attrs=_attrs(reduction, ignore), opset=13)
    # log-softmax per sample over C: max (C-1), subtract (C), exp (C), sum (C-1), log 1,
    # subtract (C) = 5C - 1, as the LogSoftmax rule
    log_softmax = s * ((c - 1) + c + c + (c - 1) + 1 + c)
    assert (row.macs, row.flops) == (0, log_softmax + _picked_by_hand(s, reduction, weighted, ignore))


def test_softmax_cross_entropy_log_prob_output_is_free():
    inputs = {"x": (8, 10), "t": ((8,), I64)}
    alone = cost("SoftmaxCrossEntropyLoss", inputs, outputs=["loss"], opset=13)
    both = cost("SoftmaxCrossEntropyLoss", inputs, outputs=["loss", "log_prob"], opset=13)
    # 8 samples x (5*10 - 1) + 8 negates + 7 adds + 1 divide
    assert alone.flops == both.flops == 8 * 49 + 8 + 7 + 1


def test_nll_loss_opset_12_and_13():
    for opset in (12, 13):
        row = cost("NegativeLogLikelihoodLoss", {"x": (3, 4), "t": ((3,), I64)},
                   attrs={"reduction": "sum"}, opset=opset)
        assert row.flops == 3 + 2          # 3 negates, 2 adds


def test_loss_with_mismatched_labels_is_refused():
    row = layer(run("NegativeLogLikelihoodLoss", {"x": (2, 3, 4), "t": ((2, 5), I64)},
                    opset=22), "NegativeLogLikelihoodLoss")
    assert row.status != "ok" and row.flops is None
    assert "do not fit scores" in row.reason


def test_loss_with_weights_not_one_per_class_is_refused():
    row = layer(run("SoftmaxCrossEntropyLoss", {"x": (2, 3, 4), "t": ((2, 4), I64),
                                                 "w": weight(4)}, opset=13),
                "SoftmaxCrossEntropyLoss")
    assert row.status != "ok" and row.flops is None
    assert "one per class" in row.reason


def test_loss_with_1d_scores_is_refused():
    row = layer(run("SoftmaxCrossEntropyLoss", {"x": (3,), "t": ((3,), I64)}, opset=13),
                "SoftmaxCrossEntropyLoss")
    assert row.status != "ok" and row.flops is None
    assert "(N, C, ...)" in row.reason
