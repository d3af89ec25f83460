"""The rule registry, coverage of unknown ops, the FLOP-table override and the "2mac" convention.

The list of supported ops is not kept here: ``golden/supported_ops.txt`` holds it, one
qualified op per line with its dot-product flag, and the test fails with a diff when the
registry and the file disagree. After adding, renaming or removing a rule on purpose,
regenerate the file and commit it with the rule::

    pytest tests/rules/test_registry.py --update-golden

(the ``--update-golden`` option is registered in ``tests/conftest.py``).
"""

from __future__ import annotations

import difflib
import pathlib
import re

import pytest
from onnx import helper

from flopscope.analysis import analyze
from flopscope.errors import FlopscopeError
from flopscope.graph import FLOPSCOPE_DOMAIN, Node, Tensor
from flopscope.report import Report
from flopscope.rules import Cost, get_rule, is_dot_product, qualify, registry, rule, supported_ops
from flopscope.rules.constants import overridden, per_element
from tests.builders import cost, layer, model_of, run, single_node, weight

GOLDEN = pathlib.Path(__file__).parent / "golden" / "supported_ops.txt"
GOLDEN_HEADER = """\
# Every op flopscope prices, one qualified op per line (bare: ONNX standard domain);
# "dot-product" marks the ops whose MACs are dot products. Generated from the registry:
#   pytest tests/rules/test_registry.py --update-golden
"""


def registry_listing() -> str:
    """The registry as the golden file spells it."""
    lines = [f"{op} dot-product" if is_dot_product(op) else op for op in supported_ops()]
    return GOLDEN_HEADER + "\n".join(lines) + "\n"


def golden_ops() -> set[str]:
    """The qualified ops the golden file lists."""
    return {line.split()[0] for line in GOLDEN.read_text().splitlines()
            if line.strip() and not line.startswith("#")}


@pytest.fixture
def private_registry(monkeypatch):
    """Register into copies of the registry, so the real one is left as it was."""
    monkeypatch.setattr(registry, "_RULES", dict(registry._RULES))
    monkeypatch.setattr(registry, "_DOT_PRODUCT", set(registry._DOT_PRODUCT))
    return registry


# ------------------------------------------------------------------------ registration


def test_supported_ops_match_the_golden_file(update_golden):
    """A new, renamed or removed rule shows here as a diff; after checking it, rewrite the
    file with ``--update-golden`` and commit it with the rule."""
    ops = supported_ops()
    assert ops == sorted(ops)
    actual = registry_listing()
    if update_golden:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(actual)
    expected = GOLDEN.read_text()
    diff = "".join(difflib.unified_diff(expected.splitlines(keepends=True),
                                        actual.splitlines(keepends=True),
                                        "golden/supported_ops.txt", "registry"))
    assert not diff, ("the registry and tests/rules/golden/supported_ops.txt disagree "
                      "(rerun with --update-golden if the change is intended):\n" + diff)


def test_every_supported_op_is_exercised_by_a_rule_test():
    here = pathlib.Path(__file__).parent
    text = "\n".join(p.read_text() for p in here.glob("test_*.py") if p.name != "test_registry.py")
    quoted = set(re.findall(r'"((?:[a-z][a-z0-9_]*\.)*[A-Z][A-Za-z0-9]*)"', text))
    # a rule test names its op qualified ("com.microsoft.FusedConv") or bare with its domain apart
    missing = sorted(op for op in golden_ops() if op not in quoted and op.rsplit(".", 1)[-1] not in quoted)
    assert not missing, f"ops with no rule test: {missing}"


def test_is_dot_product():
    assert is_dot_product("Conv") and is_dot_product("MatMul") and is_dot_product("LSTM")
    assert not is_dot_product("Relu") and not is_dot_product("ai.flopscope.AdaptiveMaxPool")
    assert not is_dot_product("com.example.Unknown")


def test_flopscope_own_ops_are_in_their_domain():
    """Ops the ONNX standard lacks are registered under ai.flopscope, never bare; the only
    other bare ones are those ONNX Runtime itself runs in the default domain."""
    from flopscope.frontends.ortops import ORT_DEFAULT_DOMAIN

    onnx_defs = pytest.importorskip("onnx.defs")
    standard = {s.name for s in onnx_defs.get_all_schemas_with_history() if s.domain in ("", "ai.onnx")}
    bare = [op for op in supported_ops() if "." not in op]
    assert not [op for op in bare if op not in standard | ORT_DEFAULT_DOMAIN]
    grads = ["AttentionGrad", "AvgPoolGrad", "BatchNormGrad", "ConvGrad", "DropoutGrad",
             "EmbeddingGrad", "GeluGrad", "HardtanhGrad", "LayerNormGrad", "LeakyReluGrad",
             "LogSoftmaxGrad", "MaxPoolGrad",
             "ReluGrad", "SigmoidGrad", "SiluGrad", "SoftmaxGrad", "TanhGrad"]   # rules/backward.py
    own = ["AdaptiveAveragePool", "AdaptiveMaxPool",                      # rules/pool.py
           "GroupedMatMul", "Histogram", "TriangularSolve"]               # matmul.py, reduce.py
    assert [op for op in supported_ops() if op.startswith(FLOPSCOPE_DOMAIN + ".")] == sorted(
        f"{FLOPSCOPE_DOMAIN}.{op}" for op in own + grads)


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

    assert is_dot_product("com.example.Frobnicate")
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
    from flopscope.render import render

    assert f"unsupported: com.example.Frobnicate x{count}" in render(report)


def test_onnx_op_without_a_rule_is_unsupported():
    report = run("NonMaxSuppression", {"boxes": (1, 6, 4), "scores": (1, 1, 6)}, opset=17)
    row = layer(report, "NonMaxSuppression")
    assert row.status == "unsupported" and row.flops is None
    assert report.coverage.unsupported == {"NonMaxSuppression": 1}
    assert report.coverage.percent == 0.0


def test_uncosted_dot_products_are_counted_by_op():
    """A Reshape to a shape known only at run time leaves its consumers' shapes unknown:
    the MatMul (a dot product) and the Relu are unresolved, only the MatMul's MACs are
    missing from the totals."""
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["r"], name="reshape"),
             helper.make_node("MatMul", ["r", "w"], ["m"], name="mm"),
             helper.make_node("MatMul", ["m", "w2"], ["m2"], name="mm2"),
             helper.make_node("Relu", ["r"], ["y"], name="relu")]
    model = model_of(nodes, {"x": (2, 6), "shape": ((2,), 7), "w": weight(6, 4), "w2": weight(4, 3)},
                     ["m2", "y"])
    report = analyze(model)
    assert report.coverage.unresolved == {"MatMul": 2, "Relu": 1}
    assert report.coverage.uncosted_dot_products == {"MatMul": 2}
    data = report.to_dict()["coverage"]
    assert data["uncosted_dot_products"] == {"MatMul": 2} and data["unresolved"] == {"MatMul": 2, "Relu": 1}
    assert Report.from_json(report.to_json()).coverage.uncosted_dot_products == {"MatMul": 2}


def test_unsupported_ops_are_not_uncosted_dot_products():
    report = _with_unknown(2)
    assert report.coverage.uncosted_dot_products == {}
    assert run("Conv", {"x": (1, 1, 4, 4), "w": weight(1, 1, 3, 3)}).coverage.uncosted_dot_products == {}


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
