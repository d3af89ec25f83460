"""ONNX Runtime's fused kernels: FusedConv, FusedGemm, FusedMatMul, NhwcConv,
CausalConvWithState (the LLM builder's short convolution of LFM2, Mamba and Gated DeltaNet
layers) and the ``com.microsoft.nchwc`` layout ops that session-optimised files contain.

A fused op costs what it fuses. FusedConv = Conv (its rule) + the optional sum input Z
(one add per output) + its activation priced from the table per output; FusedGemm = Gemm
+ activation; FusedMatMul = MatMul over the (optionally transposed) operands + one
multiply per output when ``alpha`` ≠ 1. The nchwc ops are the standard Conv and pooling
ops on channel-blocked tensors (channels padded to the CPU's block size, which the file's
reordered weights show): the same rules, on those shapes. ReorderInput / ReorderOutput
only move data.
"""

from __future__ import annotations

from dataclasses import replace
from math import prod

from flopscope.graph import Node, RuleError
from flopscope.rules.constants import per_element
from flopscope.rules.conv import conv
from flopscope.rules.matmul import _same_k, gemm
from flopscope.rules.pool import average_pool, global_average_pool, global_max_pool, max_pool
from flopscope.rules.registry import Cost, rule
from flopscope.rules.resize import resize

MS = "com.microsoft"
NCHWC = "com.microsoft.nchwc"

#: activations ORT fuses (MLAS's activation kinds) -> table key; Clip applies two bounds
_ACTIVATIONS = {"Relu": ("Relu", 1), "Sigmoid": ("Sigmoid", 1), "Tanh": ("Tanh", 1),
                "LeakyRelu": ("LeakyRelu", 1), "HardSigmoid": ("HardSigmoid", 1),
                "Clip": ("Clip", 2)}


def activation_flops(node: Node, outputs: int) -> int:
    """FLOPs of a fused ``activation`` attribute over ``outputs`` elements (0 without one).

    >>> activation_flops(Node("c", "FusedConv", (), (), attrs={"activation": "Clip"}), 10)
    20
    """
    name = node.attr("activation", "")
    if not name:
        return 0
    if name not in _ACTIVATIONS:
        raise RuleError(f"{node.op} '{node.name}': fused activation '{name}' has no price")
    key, times = _ACTIVATIONS[name]
    return times * per_element(key) * outputs


@rule("FusedConv", domain=MS, dot_product=True)
def fused_conv(node: Node) -> Cost:
    """Conv(X, W, B) + Z + activation: Conv's MACs and FLOPs, one add per output when
    the sum input Z (input 3) is given, and the activation's table price per output."""
    base = conv(node)
    outputs = node.out_numel()
    return Cost(macs=base.macs,
                flops=base.flops + outputs * node.has_input(3) + activation_flops(node, outputs))


rule("Conv", domain=NCHWC, dot_product=True)(fused_conv)


@rule("FusedGemm", domain=MS, dot_product=True)
def fused_gemm(node: Node) -> Cost:
    """Gemm (alpha, beta, transA, transB as Gemm) + the activation per output."""
    base = gemm(node)
    return Cost(macs=base.macs, flops=base.flops + activation_flops(node, node.out_numel()))


@rule("FusedMatMul", domain=MS, dot_product=True)
def fused_matmul(node: Node) -> Cost:
    """alpha·op(A)·op(B), op a transpose of the last two dims (transA/transB) or of the
    batch and row dims (transBatchA/B): K is A's column count after its op. MACs =
    K per output, FLOPs = 2K−1 per output, plus one multiply per output when alpha ≠ 1.

    >>> # A (2, 5, 3) · Bᵀ with B (2, 7, 3): K = 3, 2·5·7 outputs -> 210 MACs, 350 FLOPs
    """
    a = node.shape(0)
    if len(a) < 2:
        raise RuleError(f"FusedMatMul '{node.name}': A must have 2 or more dims, got {a}")
    if node.attr("transBatchA", 0):
        k = a[0] if node.attr("transA", 0) else a[-1]
    else:
        k = a[-2] if node.attr("transA", 0) else a[-1]
    b = node.inputs[1] if len(node.inputs) > 1 else None
    if b is not None and b.static and not node.attr("transBatchB", 0):
        shape = node.shape(1)
        if len(shape) >= 2:
            _same_k(node, k, shape[-1] if node.attr("transB", 0) else shape[-2])
    outputs = node.out_numel()
    flops = max(2 * k - 1, 0) * outputs + (outputs if node.attr("alpha", 1.0) != 1.0 else 0)
    return Cost(macs=k * outputs, flops=flops)


@rule("NhwcConv", domain=MS, dot_product=True)
def nhwc_conv(node: Node) -> Cost:
    """Conv on channels-last tensors (X: N, H, W, C; W: M, kH, kW, C/group): the same
    dot products as Conv, n = (C/group)·∏kernel terms per output."""
    x, w = node.shape(0), node.shape(1)
    group = node.attr("group", 1)
    if len(x) < 3 or len(w) != len(x) or x[-1] != w[-1] * group:
        raise RuleError(f"NhwcConv '{node.name}': input {x} does not fit weight {w} with group={group}")
    n = w[-1]
    for k in w[1:-1]:
        n *= k
    outputs = node.out_numel()
    return Cost(macs=n * outputs, flops=max(2 * n - 1, 0) * outputs + outputs * node.has_input(2))


@rule("CausalConvWithState", domain=MS, dot_product=True)
def causal_conv_with_state(node: Node) -> Cost:
    """A causal depthwise convolution that carries its last (k−1)·dilation positions from
    step to step (input 3 in, output 1 out): every output reads its k taps (from the input
    or the carried state), so MACs = k·outputs and 2k−1 FLOPs per output, one add per
    output for the bias (input 2), and the ``activation`` (silu / swish) per output. The
    state's update only moves data. Weight (C, 1, k_1, ...): k = ∏k_i."""
    w = node.shape(1)
    if len(w) < 3 or w[1] != 1:
        raise RuleError(f"CausalConvWithState '{node.name}': weight {w} is not depthwise (C, 1, k...)")
    k = prod(w[2:])
    outputs = node.out_numel()
    activation = str(node.attr("activation", "none"))
    per = {"none": 0, "silu": per_element("Swish"), "swish": per_element("Swish")}.get(activation)
    if per is None:
        raise RuleError(f"CausalConvWithState '{node.name}': activation '{activation}'")
    return Cost(macs=k * outputs,
                flops=(max(2 * k - 1, 0) + node.has_input(2) + per) * outputs)


rule("MaxPool", domain=NCHWC)(max_pool)
rule("AveragePool", domain=NCHWC)(average_pool)
rule("GlobalAveragePool", domain=NCHWC)(global_average_pool)
rule("GlobalMaxPool", domain=NCHWC)(global_max_pool)


@rule("ReorderInput", "ReorderOutput", domain=NCHWC)
def reorder(node: Node) -> Cost:
    """A layout change (NCHW or NHWC to channel-blocked and back): no arithmetic."""
    return Cost()


@rule("Upsample", domain=NCHWC)
def nchwc_upsample(node: Node) -> Cost:
    """Resize's cost with the node's integer ``scales`` and ``mode`` (nearest: 0)."""
    return resize(replace(node, attrs={"mode": node.attr("mode", "nearest")}))
