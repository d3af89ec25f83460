"""The rule registry, coverage of unknown ops, the FLOP-table override and the "2mac" convention."""

from __future__ import annotations

import pathlib
import re

import pytest
from onnx import helper

from flopscope.analysis import analyze
from flopscope.errors import FlopscopeError
from flopscope.graph import Node, Tensor
from flopscope.rules import DOT_PRODUCT_OPS, Cost, get_rule, qualify, registry, rule, supported_ops
from flopscope.rules.constants import overridden, per_element
from tests.builders import cost, layer, model_of, run, single_node, weight

#: every op flopscope prices; a new rule must be added here and get a test in tests/rules/
SUPPORTED = {
    # conv.py, matmul.py, attention.py, recurrent.py: the dot-product ops
    "Conv", "ConvTranspose", "Gemm", "MatMul", "Einsum", "Attention", "RNN", "GRU", "LSTM",
    "ConvInteger", "QLinearConv", "MatMulInteger", "QLinearMatMul",
    # activation.py
    "Relu", "LeakyRelu", "PRelu", "ThresholdedRelu", "Elu", "Celu", "Selu", "Sigmoid",
    "HardSigmoid", "HardSwish", "Swish", "Tanh", "Softplus", "Softsign", "Mish", "Shrink",
    "Gelu", "Clip", "Softmax", "LogSoftmax", "Hardmax",
    # elementwise.py
    "Erf", "Exp", "Log", "Sqrt", "Neg", "Abs", "Reciprocal", "Sign", "Floor", "Ceil", "Round",
    "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh",
    "IsNaN", "IsInf", "Not", "BitwiseNot", "Add", "Sub", "Mul", "Div", "Pow", "Mod",
    "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or", "Xor",
    "BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "Where", "DequantizeLinear",
    "QuantizeLinear", "Sum", "Max", "Min", "Mean",
    # pool.py
    "MaxPool", "AveragePool", "LpPool", "GlobalMaxPool", "GlobalAveragePool", "GlobalLpPool",
    "AdaptiveAveragePool", "AdaptiveMaxPool",
    # norm.py
    "BatchNormalization", "LayerNormalization", "InstanceNormalization", "GroupNormalization",
    "RMSNormalization", "LRN", "LpNormalization",
    # reduce.py
    "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
    "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp", "ArgMax", "ArgMin", "TopK", "CumSum",
    "CumProd", "NonZero",
    # movement.py
    "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Identity", "Dropout",
    "Cast", "CastLike", "Shape", "Size", "Constant", "ConstantOfShape", "Expand", "Tile",
    "Concat", "Split", "Slice", "Gather", "GatherElements", "GatherND", "Pad",
    "DepthToSpace", "SpaceToDepth", "EyeLike", "OneHot", "Trilu", "ReverseSequence",
    "Compress", "MaxUnpool", "If", "Loop", "Scan",
    "SequenceConstruct", "SequenceEmpty", "SequenceInsert", "SequenceAt", "SequenceErase",
    "SequenceLength", "SplitToSequence", "ConcatFromSequence",
    "Optional", "OptionalHasElement", "OptionalGetElement",
    "ScatterElements", "ScatterND", "Scatter", "Range", "BitCast",
    # resize.py
    "Resize", "Upsample",
    # matmul.py, elementwise.py, norm.py (later additions)
    "Det", "DynamicQuantizeLinear", "MeanVarianceNormalization",
    # spatial.py
    "GridSample", "AffineGrid", "RoiAlign", "DeformConv", "Col2Im", "CenterCropPad",
    # loss.py, sampling.py
    "SoftmaxCrossEntropyLoss", "NegativeLogLikelihoodLoss",
    "RandomUniform", "RandomUniformLike", "RandomNormal", "RandomNormalLike", "Bernoulli",
    "Multinomial",
    # signal.py
    "DFT", "STFT", "HannWindow", "HammingWindow", "BlackmanWindow", "MelWeightMatrix",
    # decoder.py
    "RotaryEmbedding", "SwiGLU", "TensorScatter", "LinearAttention", "CausalConvWithState",
}

DOT_PRODUCT = {"Conv", "ConvTranspose", "Gemm", "MatMul", "Einsum", "Attention", "RNN", "GRU", "LSTM",
               "ConvInteger", "QLinearConv", "MatMulInteger", "QLinearMatMul", "Det", "AffineGrid",
               "DeformConv", "LinearAttention", "CausalConvWithState"}

#: ONNX Runtime's own operators (contrib_activation.py, contrib_norm.py, contrib_attention.py,
#: contrib_movement.py, fused.py, quantized_ops.py); SimplifiedLayerNormalization, the Memcpy
#: ops and onnx's dropped experimental ops are in the default domain
_MS = "com.microsoft"
_ORT_DOT = {f"{_MS}.{op}" for op in (
    "Attention", "MultiHeadAttention", "GroupQueryAttention", "PackedAttention",
    "DecoderMaskedMultiHeadAttention", "SparseAttention", "FusedConv", "FusedGemm", "FusedMatMul",
    "NhwcConv", "QGemm", "QLinearConv", "MatMulNBits", "MatMulBnb4", "MatMulIntegerToFloat",
    "DynamicQuantizeMatMul", "QAttention")} | {f"{_MS}.nchwc.Conv"}
_ORT_DEFAULT = {"SimplifiedLayerNormalization", "MemcpyFromHost", "MemcpyToHost", "Scale", "Affine",
                "ImageScaler", "ScaledTanh", "ParametricSoftplus"}
SUPPORTED |= _ORT_DOT | _ORT_DEFAULT | {f"{_MS}.{op}" for op in (
    "Gelu", "FastGelu", "BiasGelu", "QuickGelu", "BiasAdd", "BiasSoftmax", "BiasSplitGelu",
    "SkipLayerNormalization", "SkipSimplifiedLayerNormalization", "EmbedLayerNormalization",
    "GroupNorm", "SkipGroupNorm", "RotaryEmbedding", "QLinearAdd", "QLinearMul", "QLinearSigmoid",
    "QLinearLeakyRelu", "QLinearSoftmax", "QLinearConcat", "QLinearGlobalAveragePool",
    "QLinearAveragePool", "QLinearReduceMean", "QLinearWhere", "QuantizeLinear", "DequantizeLinear",
    "GatherBlockQuantized", "NhwcMaxPool")} | {f"{_MS}.nchwc.{op}" for op in (
    "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "ReorderInput", "ReorderOutput",
    "Upsample")}
DOT_PRODUCT |= _ORT_DOT


@pytest.fixture
def private_registry(monkeypatch):
    """Register into copies of the registry, so the real one is left as it was."""
    monkeypatch.setattr(registry, "_RULES", dict(registry._RULES))
    monkeypatch.setattr(registry, "DOT_PRODUCT_OPS", set(registry.DOT_PRODUCT_OPS))
    return registry


# ------------------------------------------------------------------------ registration


def test_supported_ops_is_exactly_the_list():
    ops = supported_ops()
    assert ops == sorted(ops)
    assert set(ops) == SUPPORTED, (f"new: {sorted(set(ops) - SUPPORTED)}, "
                                   f"gone: {sorted(SUPPORTED - set(ops))}")
    assert len(ops) == len(SUPPORTED)


def test_every_supported_op_is_exercised_by_a_rule_test():
    here = pathlib.Path(__file__).parent
    text = "\n".join(p.read_text() for p in here.glob("test_*.py") if p.name != "test_registry.py")
    quoted = set(re.findall(r'"([A-Z][A-Za-z0-9]*)"', text))
    missing = sorted(op for op in SUPPORTED if op.rsplit(".", 1)[-1] not in quoted)
    assert not missing, f"ops with no rule test: {missing}"


def test_dot_product_ops():
    assert DOT_PRODUCT_OPS == DOT_PRODUCT


def test_every_rule_documents_its_formula():
    for op in supported_ops():
        doc = get_rule(op).__doc__ or ""
        assert doc.strip(), f"{op}'s rule has no docstring"


@pytest.mark.parametrize("op", ["Conv", "Relu", "Sum", "Reshape"])
def test_registering_an_existing_op_again_raises(op, private_registry):
    with pytest.raises(RuntimeError, match=f"duplicate cost rule for op '{op}'"):
        rule(op)(lambda node: Cost())
    assert get_rule(op) is not None and get_rule(op).__name__ != "<lambda>"


def test_registering_a_new_op_twice_raises(private_registry):
    @rule("Frobnicate", domain="com.example")
    def first(node):
        """Frobnicate: one FLOP per output element."""
        return Cost(flops=node.out_numel())

    assert get_rule("com.example.Frobnicate") is first
    assert "com.example.Frobnicate" in supported_ops()
    with pytest.raises(RuntimeError, match="duplicate"):
        rule("Frobnicate", domain="com.example")(first)
    rule("Frobnicate")(first)                        # another domain is another op


def test_a_failed_registration_registers_nothing(private_registry):
    with pytest.raises(RuntimeError, match="duplicate cost rule for op 'Conv'"):
        rule("BrandNewOp", "Conv")(lambda node: Cost())
    assert get_rule("BrandNewOp") is None


def test_qualify():
    assert qualify("Conv") == qualify("Conv", "ai.onnx") == "Conv"
    assert qualify("Frobnicate", "com.example") == "com.example.Frobnicate"


def test_a_custom_domain_rule_is_used_by_analyze(private_registry):
    @rule("Frobnicate", domain="com.example", dot_product=True)
    def frobnicate(node):
        """Frobnicate: 3 MACs and 7 FLOPs per output element."""
        return Cost(macs=3 * node.out_numel(), flops=7 * node.out_numel())

    assert "com.example.Frobnicate" in private_registry.DOT_PRODUCT_OPS
    model = single_node("Frobnicate", {"x": (2, 5)}, domain="com.example")
    model.graph.output[0].CopyFrom(helper.make_tensor_value_info("y", 1, [2, 5]))
    row = layer(analyze(model), "com.example.Frobnicate")
    assert (row.status, row.macs, row.flops) == ("ok", 3 * 10, 7 * 10)


def test_a_rule_is_a_pure_function_of_the_node():
    node = Node("r", "Relu", (Tensor("x", (2, 3), "float32"),), (Tensor("y", (2, 3), "float32"),))
    assert get_rule("Relu")(node) == get_rule("Relu")(node) == Cost(macs=0, flops=6)


# --------------------------------------------------------------------- unsupported ops


def _with_unknown(count):
    nodes = [helper.make_node("Relu", ["x"], ["h0"], name="relu")]
    for i in range(count):
        nodes.append(helper.make_node("Frobnicate", [f"h{i}"], [f"h{i + 1}"], name=f"frob{i}",
                                      domain="com.example"))
    model = model_of(nodes, {"x": (2, 3)}, [f"h{count}"])
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    return analyze(model)


@pytest.mark.parametrize("count", [1, 3])
def test_unknown_op_is_reported_by_name_count_and_coverage_never_zero(count):
    report = _with_unknown(count)
    assert report.coverage.nodes == 1 + count
    assert report.coverage.costed == 1
    assert report.coverage.unsupported == {"com.example.Frobnicate": count}
    assert report.coverage.percent == pytest.approx(100.0 / (1 + count))
    assert not report.coverage.complete
    frobs = [l for l in report.layers if l.op == "com.example.Frobnicate"]
    assert len(frobs) == count
    for row in frobs:
        assert row.status == "unsupported"
        assert row.macs is None and row.flops is None       # unknown, not zero
        assert "no cost rule" in row.reason
    assert report.totals.flops == 2 * 3                      # the Relu only
    assert any(f"com.example.Frobnicate x{count}" in note for note in report.notes)


def test_onnx_op_without_a_rule_is_unsupported():
    report = run("NonMaxSuppression", {"boxes": (1, 6, 4), "scores": (1, 1, 6)}, opset=17)
    row = layer(report, "NonMaxSuppression")
    assert row.status == "unsupported" and row.flops is None
    assert report.coverage.unsupported == {"NonMaxSuppression": 1}
    assert report.coverage.percent == 0.0


def test_complete_coverage():
    report = run("Relu", {"x": (2, 3)})
    assert report.coverage.complete and report.coverage.percent == 100.0
    assert report.coverage.unsupported == {} and report.coverage.unresolved == {}


# --------------------------------------------------------------------- FLOP-table override


def test_overridden_changes_prices_inside_the_block_only():
    assert per_element("Sigmoid") == 4
    with overridden({"Sigmoid": 1, "Relu": 0}) as table:
        assert per_element("Sigmoid") == 1 and per_element("Relu") == 0
        assert table["Sigmoid"] == 1 and table["Tanh"] == 5
    assert per_element("Sigmoid") == 4 and per_element("Relu") == 1


def test_analyze_flop_table_overrides_per_element_prices():
    n = 2 * 3 * 4
    assert cost("Sigmoid", {"x": (2, 3, 4)}).flops == 4 * n
    assert cost("Sigmoid", {"x": (2, 3, 4)}, flop_table={"Sigmoid": 1}).flops == 1 * n
    assert cost("Sigmoid", {"x": (2, 3, 4)}).flops == 4 * n        # nothing leaks


def test_flop_table_reaches_compound_rules():
    # LSTM prices its gates from the table: Sigmoid 4 -> 1 saves 3 per gate per unit
    inputs = {"x": (5, 2, 3), "w": weight(1, 16, 3), "r": weight(1, 16, 4)}
    plain = cost("LSTM", inputs, attrs={"hidden_size": 4})
    cheap = cost("LSTM", inputs, attrs={"hidden_size": 4}, flop_table={"Sigmoid": 1})
    assert plain.flops - cheap.flops == 5 * 2 * 4 * 3 * (4 - 1)
    assert plain.macs == cheap.macs
    gelu = cost("Gelu", {"x": (10,)}, attrs={"approximate": "tanh"}, opset=20, flop_table={"Gelu.tanh": 2})
    assert gelu.flops == 20
    clip = cost("Clip", {"x": (10,), "lo": weight(), "hi": weight()}, flop_table={"Clip": 3})
    assert clip.flops == 2 * 3 * 10


def test_flop_table_rejects_unknown_keys():
    with pytest.raises(ValueError, match="unknown entries in FLOP table: Sigmod"):
        with overridden({"Sigmod": 1}):
            pass
    with pytest.raises(FlopscopeError, match="Sigmod"):
        run("Sigmoid", {"x": (2, 3)}, flop_table={"Sigmod": 1})


@pytest.mark.parametrize("value", [-1, 1.5, "2", True, None])
def test_flop_table_rejects_values_that_are_not_counts(value):
    with pytest.raises(ValueError, match="must be an integer >= 0"):
        with overridden({"Relu": value}):
            pass
    with pytest.raises(FlopscopeError):
        run("Relu", {"x": (2, 3)}, flop_table={"Relu": value})


# ----------------------------------------------------------------------- conventions


def test_2mac_convention_doubles_macs_and_zeroes_the_rest():
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fc"], ["y"], transB=1),
    ]
    model = model_of(nodes, {"x": (1, 3, 8, 8), "w": weight(16, 3, 3, 3), "b": weight(16),
                             "fc": weight(10, 16)}, ["y"])
    conv_macs, gemm_macs = 16 * 8 * 8 * 3 * 3 * 3, 10 * 16
    ours, other = analyze(model), analyze(model, convention="2mac")
    assert ours.convention == "flopscope" and other.convention == "2mac"
    assert [l.macs for l in other.layers] == [l.macs for l in ours.layers] == [conv_macs, 0, 0, 0, gemm_macs]
    assert [l.flops for l in other.layers] == [2 * conv_macs, 0, 0, 0, 2 * gemm_macs]
    assert other.totals.flops == 2 * other.totals.macs == 2 * (conv_macs + gemm_macs)
    n = 3 * 3 * 3
    assert ours.totals.flops == ((2 * n - 1) * 1024 + 1024) + 1024 + 16 * 64 + (2 * 16 - 1) * 10


@pytest.mark.parametrize("op, inputs, attrs, opset", [
    ("MatMul", {"a": (3, 4), "b": (4, 5)}, {}, 17),
    ("Einsum", {"a": (3, 4), "b": (4, 5)}, {"equation": "ij,jk->ik"}, 17),
    ("ConvTranspose", {"x": (1, 2, 3, 3), "w": weight(2, 2, 2, 2)}, {}, 17),
    ("RNN", {"x": (2, 1, 3), "w": weight(1, 4, 3), "r": weight(1, 4, 4)}, {"hidden_size": 4}, 17),
    ("Attention", {"q": (1, 1, 2, 4), "k": (1, 1, 3, 4), "v": (1, 1, 3, 4)}, {}, 23),
])
def test_2mac_convention_on_dot_product_ops(op, inputs, attrs, opset):
    row = cost(op, inputs, attrs=attrs, opset=opset, convention="2mac")
    assert row.macs > 0 and row.flops == 2 * row.macs


@pytest.mark.parametrize("op, inputs, attrs", [
    ("Softmax", {"x": (2, 3)}, {}),
    ("BatchNormalization", {"x": (1, 2, 3, 3), "s": weight(2), "b": weight(2), "m": weight(2),
                            "v": weight(2)}, {}),
    ("MaxPool", {"x": (1, 1, 4, 4)}, {"kernel_shape": [2, 2]}),
    ("Add", {"a": (2, 3), "b": (2, 3)}, {}),
])
def test_2mac_convention_gives_non_dot_product_ops_zero(op, inputs, attrs):
    row = cost(op, inputs, attrs=attrs, convention="2mac")
    assert (row.macs, row.flops) == (0, 0)


def test_unknown_convention_is_rejected():
    with pytest.raises(FlopscopeError, match="unknown convention"):
        run("Relu", {"x": (2,)}, convention="3mac")
