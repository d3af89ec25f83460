"""ONNX Runtime's Mixture-of-Experts kernels, as its model builder writes them for
Mixtral-, Phi-MoE-, Qwen-MoE- and GPT-OSS-style models: MoE (float experts) and QMoE
(weight-only quantised experts, 4 or 8 bits).

A node routes each of its ``rows`` tokens (the input's leading dims) to ``k`` of ``E``
experts from ``router_probs`` (logits: softmax over E, then top k) and runs each
token-expert pair through that expert's FFN: FC1 (``fusion·inter`` outputs, fusion 2 when
the SwiGLU/GeGLU gate and up projections are fused in it), the activation, FC2 back to
``hidden``, and FC3 (a separate up projection) when given. Every pair goes to exactly one
expert, so the count does not depend on the routing:

* MACs = rows·k·hidden·(fusion·inter + inter + [inter with FC3]);
* FLOPs: 2K−1 per output of each projection and 1 per bias element; the activation per
  element of ``inter`` (relu 1, gelu and silu 5, SwiGLU 8: the α multiply, sigmoid 4, the
  gate multiply, + β, the up multiply; 3 compares more with ``swiglu_limit``; GeGLU gelu
  5 + the multiply; with FC3 and a plain activation, the product act(FC1·x)·FC3·x: 1
  more); the router's softmax (5E−2 per row) and top k (E·⌈log2(k+1)⌉ per
  row); with ``normalize_routing_weights`` k−1 adds and k divides per row; the weighted
  sum of the k expert outputs (2k−1 per hidden element);
* QMoE dequantises the weights of each expert a call can reach (min(E, rows·k) of them)
  once, at DequantizeLinear's price per element.

Weights are laid out ``(E, fusion·inter, hidden)`` for FC1 and ``(E, hidden, inter)`` for
FC2 (ONNX Runtime 1.22 on; the last dim packed ``8/bits`` to a byte in QMoE); the older
transposed layout, ``(E, hidden, fusion·inter)``, is read from the shapes too.
"""

from __future__ import annotations

from math import ceil, log2, prod

from flopscope.graph import Node, RuleError
from flopscope.rules.constants import per_element
from flopscope.rules.registry import Cost, rule

MS = "com.microsoft"

#: activation_type -> FLOPs per element of inter (before any swiglu_limit clamps)
_ACTIVATION = {"relu": 1, "gelu": 5, "silu": 5, "identity": 0, "swiglu": 8, "geglu": 6,
               "relu2": 2}


def _inputs(node: Node, quantised: bool) -> dict[str, int]:
    """Input positions by role: QMoE interleaves scales (and zero points at the end)."""
    if quantised:
        return {"fc1": 2, "fc1_bias": 4, "fc2": 5, "fc2_bias": 7, "fc3": 8, "fc3_bias": 10}
    return {"fc1": 2, "fc1_bias": 3, "fc2": 4, "fc2_bias": 5, "fc3": 6, "fc3_bias": 7}


def _bits(node: Node, fc: str, quantised: bool) -> int:
    if not quantised:
        return 0
    bits = int(node.attr(f"{fc}_expert_weight_bits", 0) or node.attr("expert_weight_bits", 4))
    if bits not in (1, 2, 4, 8):
        raise RuleError(f"{node.op} '{node.name}': {bits}-bit expert weights")
    return bits


def _out_features(node: Node, shape: tuple[int, ...], features_in: int, bits: int, what: str) -> int:
    """Output features of expert weights ``shape`` taking ``features_in`` inputs: laid out
    (E, out, in) (the in dim packed 8/bits to a byte when quantised) or, in the older
    layout, (E, in, out) (out packed)."""
    if len(shape) != 3:
        raise RuleError(f"{node.op} '{node.name}': {what} weights must be 3-D, got {shape}")
    per_byte = 8 // bits if bits else 1
    if shape[2] * per_byte == features_in:
        return shape[1]
    if shape[1] == features_in:
        return shape[2] * per_byte
    raise RuleError(f"{node.op} '{node.name}': {what} weights {shape} do not take {features_in} inputs")


def moe_cost(node: Node, quantised: bool) -> Cost:
    """The Mixture-of-Experts cost described in the module doc."""
    if node.attr("weights_prepacked", 0):
        raise RuleError(f"{node.op} '{node.name}': prepacked expert weights (a layout of the kernel's own)")
    x = node.shape(0)
    if len(x) < 2:
        raise RuleError(f"{node.op} '{node.name}': input must be (tokens, hidden) or (batch, seq, hidden)")
    rows, hidden = prod(x[:-1]), x[-1]
    router = node.shape(1)
    experts = router[-1]
    if prod(router[:-1]) != rows:
        raise RuleError(f"{node.op} '{node.name}': router_probs {router} has no row per token of {x}")
    k = int(node.attr("k", 1))
    if not 1 <= k <= experts:
        raise RuleError(f"{node.op} '{node.name}': k={k} of {experts} experts")
    at = _inputs(node, quantised)
    activation = str(node.attr("activation_type", "relu"))
    if activation not in _ACTIVATION:
        raise RuleError(f"{node.op} '{node.name}': activation_type '{activation}'")
    fc3 = node.has_input(at["fc3"])
    gated = activation in ("swiglu", "geglu")
    fused = gated and not fc3
    fc1_out = _out_features(node, node.shape(at["fc1"]), hidden, _bits(node, "fc1", quantised), "FC1")
    if fused and fc1_out % 2:
        raise RuleError(f"{node.op} '{node.name}': fused {activation} FC1 has an odd {fc1_out} outputs")
    inter = fc1_out // 2 if fused else fc1_out
    fc2_shape = node.shape(at["fc2"])
    if _out_features(node, fc2_shape, inter, _bits(node, "fc2", quantised), "FC2") != hidden:
        raise RuleError(f"{node.op} '{node.name}': FC2 weights {fc2_shape} do not map {inter} to {hidden}")
    projections = [(hidden, fc1_out, "fc1_bias"), (inter, hidden, "fc2_bias")]
    if fc3:
        fc3_shape = node.shape(at["fc3"])
        if _out_features(node, fc3_shape, hidden, _bits(node, "fc3", quantised), "FC3") != inter:
            raise RuleError(f"{node.op} '{node.name}': FC3 weights {fc3_shape} do not map "
                            f"{hidden} to {inter}")
        projections.append((hidden, inter, "fc3_bias"))
    pairs = rows * k
    macs = pairs * sum(k_in * out for k_in, out, _ in projections)
    flops = pairs * sum((2 * k_in - 1) * out + out * node.has_input(at[bias])
                        for k_in, out, bias in projections)
    per = _ACTIVATION[activation] + (3 if gated and node.attr("swiglu_limit") is not None else 0)
    if fc3 and not gated:
        per += 1                                        # act(FC1 x) · FC3 x
    flops += pairs * inter * per
    flops += rows * ((5 * experts - 2) + experts * ceil(log2(k + 1)))    # softmax, top k
    if node.attr("normalize_routing_weights", 0):
        flops += rows * (2 * k - 1)
    flops += rows * hidden * (2 * k - 1)                                   # the weighted sum
    if quantised:
        reached = min(experts, pairs)
        flops += reached * sum(k_in * out for k_in, out, _ in projections) * per_element("DequantizeLinear")
    return Cost(macs=macs, flops=flops)


@rule("MoE", domain=MS, dot_product=True)
def moe(node: Node) -> Cost:
    """(input, router_probs, fc1 weights, fc1 bias, fc2 weights, fc2 bias, fc3 weights,
    fc3 bias): the module doc's count. 4 tokens of hidden 8 to k = 2 of E = 4 relu
    experts of inter 6: 8 pairs · (8·6 + 6·8) = 768 MACs."""
    return moe_cost(node, quantised=False)


@rule("QMoE", domain=MS, dot_product=True)
def qmoe(node: Node) -> Cost:
    """(input, router_probs, fc1 weights, fc1 scales, fc1 bias, fc2 weights, fc2 scales,
    fc2 bias, fc3 weights, fc3 scales, fc3 bias, zero points...): MoE's count with the
    weights ``expert_weight_bits`` wide, plus each reachable expert's weights dequantised
    once."""
    return moe_cost(node, quantised=True)
