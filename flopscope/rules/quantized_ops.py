"""ONNX Runtime's quantised kernels (``com.microsoft``): QGemm, the QLinear* family,
MatMulNBits, MatMulBnb4, GatherBlockQuantized, MatMulIntegerToFloat,
DynamicQuantizeMatMul, QAttention, the contrib QuantizeLinear / DequantizeLinear, and the
channels-last QLinearConv and NhwcMaxPool of ORT's NHWC transformer.

They follow ``rules/conv.py``'s QLinearConv and ``rules/matmul.py``'s QLinearMatMul: the
float op's MACs and FLOPs computed on integers, then requantisation priced as
QuantizeLinear per output when the output is quantised, or one multiply per output by the
combined scale when it is float. Weight-only quantised products (MatMulNBits, MatMulBnb4)
dequantise each weight element once per call (DequantizeLinear's price), then multiply in
float; the MACs are those of the float MatMul, K·N per row of A.
"""

from __future__ import annotations

from dataclasses import replace
from math import prod

from flopscope.graph import Node, RuleError
from flopscope.rules.activation import softmax
from flopscope.rules.constants import per_element
from flopscope.rules.contrib_attention import projected_attention
from flopscope.rules.conv import qlinear_conv
from flopscope.rules.elementwise import dynamic_quantize_linear
from flopscope.rules.matmul import _matmul, gemm
from flopscope.rules.pool import average_pool, global_average_pool, max_pool
from flopscope.rules.registry import Cost, Rule, rule

MS = "com.microsoft"


def _requantised(cost: Cost, outputs: int) -> Cost:
    return Cost(macs=cost.macs, flops=cost.flops + per_element("QuantizeLinear") * outputs)


@rule("QGemm", domain=MS, dot_product=True)
def qgemm(node: Node) -> Cost:
    """(A, a_scale, a_zp, B, b_scale, b_zp, C, y_scale, y_zp): Gemm's cost on A, B and the
    int32 bias C; then QuantizeLinear per output with y_scale (input 7), else one multiply
    per output by the combined scale (float output)."""
    base = gemm(replace(node, inputs=(node.inputs[0], node.inputs[3],
                                      node.inputs[6] if node.has_input(6) else None)))
    outputs = node.out_numel()
    if node.has_input(7):
        return _requantised(base, outputs)
    return Cost(macs=base.macs, flops=base.flops + outputs)


@rule("QLinearConv", domain=MS, dot_product=True)
def ms_qlinear_conv(node: Node) -> Cost:
    """The default domain's QLinearConv (Conv's MACs, 2n−1 per output, the bias, then
    QuantizeLinear per output) on channels-last data when ``channels_last`` is set
    (X: N, H, W, C; W stays M, C/group, kH, kW), as ORT's NHWC transformer writes it."""
    if not node.attr("channels_last", 0):
        return qlinear_conv(node)
    x, w = node.shape(0), node.shape(3)
    group = node.attr("group", 1)
    if len(x) < 3 or len(w) != len(x) or x[-1] != w[1] * group:
        raise RuleError(f"QLinearConv '{node.name}': input {x} does not fit weight {w} with group={group}")
    n, outputs = prod(w[1:]), node.out_numel()
    flops = max(2 * n - 1, 0) * outputs + (outputs if node.has_input(8) else 0)
    return _requantised(Cost(macs=n * outputs, flops=flops), outputs)


@rule("NhwcMaxPool", domain=MS)
def nhwc_max_pool(node: Node) -> Cost:
    """MaxPool on channels-last data: k−1 compares per output."""
    return max_pool(node)


def _qlinear_binary(op: str) -> Rule:
    def cost(node: Node) -> Cost:
        outputs = node.out_numel()
        return _requantised(Cost(flops=per_element(op) * outputs), outputs)
    cost.__name__ = cost.__qualname__ = f"qlinear_{op.lower()}"
    cost.__doc__ = (f"QLinear{op} (A, A_scale, A_zp, B, B_scale, B_zp, C_scale, C_zp): {op}'s "
                    "table price per output, then QuantizeLinear's per output.")
    return cost


rule("QLinearAdd", domain=MS)(_qlinear_binary("Add"))
rule("QLinearMul", domain=MS)(_qlinear_binary("Mul"))


@rule("QLinearSigmoid", "QLinearLeakyRelu", domain=MS)
def qlinear_activation(node: Node) -> Cost:
    """(X, X_scale, X_zp, Y_scale, Y_zp): the activation's table price (Sigmoid or
    LeakyRelu), then QuantizeLinear's, per element."""
    key = node.op.removeprefix("QLinear")
    outputs = node.out_numel()
    return _requantised(Cost(flops=per_element(key) * outputs), outputs)


@rule("QLinearSoftmax", domain=MS)
def qlinear_softmax(node: Node) -> Cost:
    """Softmax's 5n−2 per row along ``axis`` (opset semantics of the ``opset`` attribute:
    before 13 the dims from axis on, flattened), then QuantizeLinear per element."""
    legacy = replace(node, opset=int(node.attr("opset", 13)))
    return _requantised(softmax(legacy), node.out_numel())


@rule("QLinearConcat", domain=MS)
def qlinear_concat(node: Node) -> Cost:
    """(Y_scale, Y_zp, then X, X_scale, X_zp per input): each input is requantised to the
    output's scale, DequantizeLinear then QuantizeLinear per output element."""
    outputs = node.out_numel()
    return Cost(flops=(per_element("DequantizeLinear") + per_element("QuantizeLinear")) * outputs)


@rule("QLinearGlobalAveragePool", domain=MS)
def qlinear_global_average_pool(node: Node) -> Cost:
    """GlobalAveragePool's HW per (n, c) (channels first, or last with ``channels_last``),
    then QuantizeLinear per output."""
    x = node.shape(0)
    if node.attr("channels_last", 0):
        spatial, outputs = prod(x[1:-1]), x[0] * x[-1]
        return _requantised(Cost(flops=spatial * outputs), outputs)
    return _requantised(global_average_pool(node), node.out_numel())


@rule("QLinearAveragePool", domain=MS)
def qlinear_average_pool(node: Node) -> Cost:
    """AveragePool's k per output, then QuantizeLinear per output."""
    return _requantised(average_pool(node), node.out_numel())


@rule("QLinearReduceMean", domain=MS)
def qlinear_reduce_mean(node: Node) -> Cost:
    """ReduceMean over ``axes``: r−1 adds and a divide per output of r inputs (r FLOPs),
    then QuantizeLinear per output."""
    x = node.shape(0)
    outputs = node.out_numel()
    r = prod(x) // outputs if outputs else 0
    return _requantised(Cost(flops=r * outputs), outputs)


@rule("QLinearWhere", domain=MS)
def qlinear_where(node: Node) -> Cost:
    """One select per output (Where's price), then QuantizeLinear per output."""
    outputs = node.out_numel()
    return _requantised(Cost(flops=per_element("Where") * outputs), outputs)


@rule("QuantizeLinear", domain=MS)
def ms_quantize_linear(node: Node) -> Cost:
    """The table's QuantizeLinear per element."""
    return Cost(flops=per_element("QuantizeLinear") * node.out_numel())


@rule("DequantizeLinear", domain=MS)
def ms_dequantize_linear(node: Node) -> Cost:
    """The table's DequantizeLinear per element."""
    return Cost(flops=per_element("DequantizeLinear") * node.out_numel())


def _weight_only(node: Node, bias: int | None) -> Cost:
    """A (…, K) times a K x N weight stored in ``bits``-bit blocks (attributes K, N)."""
    a = node.shape(0)
    k, n = node.attr("K", 0), node.attr("N", 0)
    if not a or a[-1] != k or n <= 0:
        raise RuleError(f"{node.op} '{node.name}': input {a} does not fit K={k}, N={n}")
    outputs = node.out_numel()
    flops = (max(2 * k - 1, 0) + (bias is not None and node.has_input(bias))) * outputs
    return Cost(macs=k * outputs, flops=flops + per_element("DequantizeLinear") * k * n)


@rule("MatMulNBits", domain=MS, dot_product=True)
def matmul_nbits(node: Node) -> Cost:
    """(A, B packed, scales, zero_points, g_idx, bias): MatMul's K·N MACs per row of A and
    2K−1 FLOPs per output, one add per output for the bias (input 5), and each of the K·N
    weights dequantised once.

    >>> # A (1, 5, 32), K=32, N=24: 5·24·32 = 3840 MACs; 5·24·63 + 2·32·24 FLOPs
    """
    return _weight_only(node, 5)


@rule("MatMulBnb4", domain=MS, dot_product=True)
def matmul_bnb4(node: Node) -> Cost:
    """(A, B packed, absmax): as MatMulNBits (FP4/NF4 lookup and absmax scale priced as
    DequantizeLinear's 2 per weight), no bias."""
    return _weight_only(node, None)


@rule("GatherBlockQuantized", domain=MS)
def gather_block_quantized(node: Node) -> Cost:
    """Gather from a block-quantised table, each gathered element dequantised:
    DequantizeLinear's price per output element."""
    return Cost(flops=per_element("DequantizeLinear") * node.out_numel())


@rule("MatMulIntegerToFloat", domain=MS, dot_product=True)
def matmul_integer_to_float(node: Node) -> Cost:
    """(A, B, a_scale, b_scale, a_zp, b_zp, bias): MatMulInteger's K MACs and 2K−1 per
    output, one multiply per output by a_scale·b_scale, one add for the bias (input 6)."""
    k, outputs = _matmul(node, 0, 1)
    return Cost(macs=k * outputs, flops=(max(2 * k - 1, 0) + 1 + node.has_input(6)) * outputs)


@rule("DynamicQuantizeMatMul", domain=MS, dot_product=True)
def dynamic_quantize_matmul(node: Node) -> Cost:
    """(A float, B, b_scale, b_zp, bias): DynamicQuantizeLinear of A, then
    MatMulIntegerToFloat's cost (bias: input 4)."""
    k, outputs = _matmul(node, 0, 1)
    quantise = dynamic_quantize_linear(node).flops
    return Cost(macs=k * outputs,
                flops=quantise + (max(2 * k - 1, 0) + 1 + node.has_input(4)) * outputs)


@rule("QAttention", domain=MS, dot_product=True)
def qattention(node: Node) -> Cost:
    """(input, weight, bias, input_scale, weight_scale, mask_index, input_zp, weight_zp,
    past): Attention's projection on integers, one multiply per projected element by the
    combined scale, then Attention's float attention (mask: input 5, past: input 8)."""
    projection, core = projected_attention(node, 8, node.has_input(5))
    b, s, _ = node.shape(0)
    width = node.shape(1)[1]
    return Cost(macs=projection.macs + core.macs,
                flops=projection.flops + b * s * width + core.flops)
