"""Training losses: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss.

Both see scores of shape (N, C, D1…Dk) and integer labels of shape (N, D1…Dk): S =
N·∏D samples, each of C classes. Per sample, picking the label's class (a gather) is
data movement, 0 FLOPs; then the loss is −x[c]: a negate (1), times weight[c] when
``weights`` is given (the weight is gathered, 0, then 1 multiply). With
``ignore_index``, each label is compared with it (1) and the sample's loss, or its
weight, is zeroed by a select (1).

Reduction: ``none`` keeps the S losses (0); ``sum`` adds them (S−1); ``mean`` adds them
and divides once (S). Its divisor is the constant S without weights or ignore_index;
otherwise it is summed too: the gathered weights (with ignore_index, zeroed ones) or
the count of kept samples, S−1 more adds.

SoftmaxCrossEntropyLoss first takes the log-softmax of the scores over C, priced as
the LogSoftmax rule prices it (5C−1 per sample); its optional ``log_prob`` output is
that intermediate, so returning it costs nothing more.
"""

from __future__ import annotations

from math import prod

from flopscope.graph import Node, RuleError
from flopscope.rules.activation import log_softmax_flops
from flopscope.rules.registry import Cost, rule


def _samples(node: Node) -> tuple[int, int]:
    """(S, C): samples and classes, after checking labels (and weights) fit the scores."""
    x = node.shape(0)
    if len(x) < 2:
        raise RuleError(f"{node.op} '{node.name}': scores must be (N, C, ...), got {x}")
    labels = node.inputs[1] if len(node.inputs) > 1 else None
    if labels is not None and labels.dims is not None and labels.dims != x[:1] + x[2:]:
        raise RuleError(f"{node.op} '{node.name}': labels {labels.shape} do not fit scores {x}")
    weights = node.inputs[2] if node.has_input(2) else None
    if weights is not None and weights.dims is not None and weights.dims != (x[1],):
        raise RuleError(f"{node.op} '{node.name}': weights {weights.shape} are not one per "
                        f"class ({x[1]})")
    return prod(x[:1] + x[2:]), x[1]


def _picked_loss(node: Node, samples: int) -> int:
    """FLOPs from the gathered log-probabilities to the (reduced) loss; see the module."""
    weighted = node.has_input(2)
    ignore = node.attr("ignore_index") is not None
    per_sample = 1 + weighted + 2 * ignore           # negate, weight, compare + select
    reduction = node.attr("reduction", "mean")
    adds = max(samples - 1, 0)
    if reduction == "none":
        reduced = 0
    elif reduction == "sum":
        reduced = adds
    elif reduction == "mean":
        reduced = adds + 1 + (adds if weighted or ignore else 0)
    else:
        raise RuleError(f"{node.op} '{node.name}': unknown reduction '{reduction}'")
    return samples * per_sample + reduced


@rule("NegativeLogLikelihoodLoss")
def nll_loss(node: Node) -> Cost:
    """Per sample: gather (0), negate (1), ×weight[c] with weights (1), compare and select
    with ignore_index (2); then sum: S−1 adds, mean: S−1 adds and a divide, plus S−1
    adds for the divisor with weights or ignore_index. S = N·∏D samples."""
    samples, _ = _samples(node)
    return Cost(flops=_picked_loss(node, samples))


@rule("SoftmaxCrossEntropyLoss")
def softmax_cross_entropy_loss(node: Node) -> Cost:
    """LogSoftmax over the C classes of each sample (5C−1, the LogSoftmax rule), then
    NegativeLogLikelihoodLoss's count on it. The ``log_prob`` output is free."""
    samples, classes = _samples(node)
    return Cost(flops=log_softmax_flops(samples, classes) + _picked_loss(node, samples))
