"""Files ONNX Runtime loads are analysed: its own operators, unsorted nodes, no value_info."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from flopscope.analysis import analyze
from flopscope.errors import FlopscopeError
from flopscope.frontends import onnx as onnx_frontend
from flopscope.frontends import ortops

F32 = TensorProto.FLOAT


def _model(nodes, inputs, inits=(), domains=("com.microsoft",), opset=17):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(n, e, s) for n, e, s in inputs],
        [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.UNDEFINED, None)],
        initializer=[numpy_helper.from_array(a, n) for n, a in inits])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]
                             + [helper.make_opsetid(d, 1) for d in domains])


def _shapes(model, **kwargs):
    graph = onnx_frontend.load(model, **kwargs)
    return graph, {t.name: t.shape for n in graph.nodes for t in n.outputs if t is not None}


def _llama_block():
    """RMSNorm in the default domain (as ORT's builders write it), then a MatMul and a
    com.microsoft FastGelu, listed out of order and without value_info."""
    w = np.ones((16, 32), np.float32)
    nodes = [helper.make_node("MatMul", ["h", "w"], ["y"], name="mm"),
             helper.make_node("SimplifiedLayerNormalization", ["x", "g"], ["h"], name="rms",
                              axis=-1, epsilon=1e-5),
             helper.make_node("FastGelu", ["y"], ["z"], name="gelu", domain="com.microsoft")]
    return _model(nodes, [("x", F32, ["B", 8, 16])], [("g", np.ones(16, np.float32)), ("w", w)])


def test_default_domain_ort_op_and_unsorted_nodes_are_analysed():
    graph, shapes = _shapes(_llama_block(), dims={"B": 2})
    assert [n.name for n in graph.nodes] == ["rms", "mm", "gelu"]
    assert shapes == {"h": (2, 8, 16), "y": (2, 8, 32), "z": (2, 8, 32)}
    assert any("not in topological order (2 moved)" in note for note in graph.notes)
    assert any("SimplifiedLayerNormalization x1" in note and "com.microsoft.FastGelu x1" in note
               for note in graph.notes)


def test_the_callers_model_is_not_reordered():
    model = _llama_block()
    analyze(model)
    assert [n.name for n in model.graph.node] == ["mm", "rms", "gelu"]


def test_a_cycle_is_still_refused():
    nodes = [helper.make_node("Relu", ["b"], ["a"], name="r1"),
             helper.make_node("Relu", ["a"], ["b"], name="r2")]
    with pytest.raises(FlopscopeError, match="cannot be topologically sorted"):
        analyze(_model(nodes, [("x", F32, [1])], domains=()))


def test_an_op_onnx_runtime_does_not_know_is_still_refused():
    nodes = [helper.make_node("Frobnicate", ["x"], ["y"])]
    with pytest.raises(FlopscopeError, match="No Op registered"):
        analyze(_model(nodes, [("x", F32, [1])], domains=()))


def test_layer_normalization_before_opset_17_is_ort_s_contrib_op():
    nodes = [helper.make_node("LayerNormalization", ["x", "g", "b"], ["y"], axis=-1),
             helper.make_node("Relu", ["y"], ["z"])]
    model = _model(nodes, [("x", F32, [2, 4, 8])],
                   [("g", np.ones(8, np.float32)), ("b", np.ones(8, np.float32))], domains=(), opset=13)
    _, shapes = _shapes(model)
    assert shapes["z"] == (2, 4, 8)


@pytest.mark.parametrize("node, inputs, inits, expected", [
    (helper.make_node("FusedConv", ["x", "w"], ["y"], domain="com.microsoft", pads=[1, 1, 1, 1],
                      activation="Relu"),
     [("x", F32, [1, 3, 8, 8])], [("w", np.ones((4, 3, 3, 3), np.float32))], (1, 4, 8, 8)),
    (helper.make_node("Conv", ["x", "w"], ["y"], domain="com.microsoft.nchwc", strides=[2, 2],
                      kernel_shape=[1, 1]),
     [("x", F32, [1, 8, 8, 8])], [("w", np.ones((16, 8, 1, 1), np.float32))], (1, 16, 4, 4)),
    (helper.make_node("ReorderInput", ["x"], ["y"], domain="com.microsoft.nchwc", channels_last=1),
     [("x", F32, [1, 8, 6, 16])], [], (1, 16, 8, 6)),
    (helper.make_node("Upsample", ["x"], ["y"], domain="com.microsoft.nchwc", scales=[2, 3]),
     [("x", F32, [1, 8, 4, 4])], [], (1, 8, 8, 12)),
    (helper.make_node("FusedMatMul", ["a", "b"], ["y"], domain="com.microsoft", transB=1, alpha=0.5),
     [("a", F32, [2, 4, 5, 3]), ("b", F32, [2, 4, 7, 3])], [], (2, 4, 5, 7)),
    (helper.make_node("FusedMatMul", ["a", "b"], ["y"], domain="com.microsoft", transB=1),
     [("a", F32, [2, 5, 3])], [("b", np.ones((7, 3), np.float32))], (2, 5, 7)),
    (helper.make_node("MatMulNBits", ["a", "b", "s"], ["y"], domain="com.microsoft", K=32, N=24,
                      bits=4, block_size=16),
     [("a", F32, [1, 5, 32])],
     [("b", np.ones((24, 2, 8), np.uint8)), ("s", np.ones(48, np.float32))], (1, 5, 24)),
    (helper.make_node("QGemm", ["a", "as", "az", "b", "bs", "bz"], ["y"], domain="com.microsoft",
                      transB=1),
     [("a", TensorProto.UINT8, [3, 16])],
     [("as", np.ones((), np.float32)), ("az", np.zeros((), np.uint8)),
      ("b", np.ones((8, 16), np.uint8)), ("bs", np.ones((), np.float32)),
      ("bz", np.zeros((), np.uint8))], (3, 8)),
    (helper.make_node("Attention", ["x", "w", "b"], ["y"], domain="com.microsoft", num_heads=2),
     [("x", F32, [2, 6, 16])],
     [("w", np.ones((16, 48), np.float32)), ("b", np.ones(48, np.float32))], (2, 6, 16)),
    (helper.make_node("GroupQueryAttention", ["qkv", "", "", "pk", "pv", "sl", "tl"], ["y"],
                      domain="com.microsoft", num_heads=4, kv_num_heads=2),
     [("qkv", F32, [1, 3, 64]), ("pk", F32, [1, 2, 5, 8]), ("pv", F32, [1, 2, 5, 8]),
      ("sl", TensorProto.INT32, [1]), ("tl", TensorProto.INT32, [])], [], (1, 3, 32)),
    (helper.make_node("BiasSplitGelu", ["x", "b"], ["y"], domain="com.microsoft"),
     [("x", F32, [1, 4, 20])], [("b", np.ones(20, np.float32))], (1, 4, 10)),
    (helper.make_node("EmbedLayerNormalization", ["ids", "seg", "we", "pe", "se", "g", "be"],
                      ["y", "mask"], domain="com.microsoft"),
     [("ids", TensorProto.INT32, [2, 7]), ("seg", TensorProto.INT32, [2, 7])],
     [("we", np.ones((30, 8), np.float32)), ("pe", np.ones((16, 8), np.float32)),
      ("se", np.ones((2, 8), np.float32)), ("g", np.ones(8, np.float32)),
      ("be", np.ones(8, np.float32))], (2, 7, 8)),
    (helper.make_node("QLinearConcat", ["ys", "yz", "a", "as", "az", "b", "bs", "bz"], ["y"],
                      domain="com.microsoft", axis=1),
     [("a", TensorProto.UINT8, [1, 3, 4]), ("b", TensorProto.UINT8, [1, 5, 4])],
     [("ys", np.ones((), np.float32)), ("yz", np.zeros((), np.uint8)),
      ("as", np.ones((), np.float32)), ("az", np.zeros((), np.uint8)),
      ("bs", np.ones((), np.float32)), ("bz", np.zeros((), np.uint8))], (1, 8, 4)),
], ids=lambda v: getattr(v, "op_type", None) or "")
def test_stand_ins_give_output_shapes(node, inputs, inits, expected):
    relu = helper.make_node("Relu", [node.output[0]], ["after"], name="after")
    model = _model([node, relu], inputs, inits,
                   domains=("com.microsoft", "com.microsoft.nchwc"))
    _, shapes = _shapes(model)
    assert shapes[node.output[0]] == expected
    assert shapes["after"] == expected      # and everything after it is known too


def test_stand_in_nodes_carry_the_mark_and_keep_outputs():
    node = helper.make_node("SkipLayerNormalization", ["x", "s", "g"], ["y", "m", "v", "sum"],
                            domain="com.microsoft")
    made = ortops.stand_ins(node, {}, 17, {}, ortops.Rewrite())
    assert made is not None and all(n.name.startswith(ortops.MARK) for n in made)
    assert [n.output[0] for n in made] == ["y", "m", "v", "sum"]


def test_stand_in_leaves_out_attributes_its_opset_does_not_define():
    """ORT's nchwc MaxPool carries ceil_mode in an opset-9 file (ResNet-50's session dump at
    level all); MaxPool-8 has no ceil_mode, so the stand-in must not carry it. 2x2/2 on 1x8x6x6
    -> 1x8x3x3, then 3 compares per output: 216 FLOPs."""
    pool = helper.make_node("MaxPool", ["x"], ["y"], domain="com.microsoft.nchwc", kernel_shape=[2, 2],
                            strides=[2, 2], ceil_mode=0, dilations=[1, 1])
    relu = helper.make_node("Relu", ["y"], ["after"], name="after")
    model = _model([pool, relu], [("x", F32, [1, 8, 6, 6])], opset=9,
                   domains=("com.microsoft", "com.microsoft.nchwc"))
    _, shapes = _shapes(model)
    assert shapes["y"] == shapes["after"] == (1, 8, 3, 3)
    report = analyze(model)
    assert report.coverage.complete and report.layers[0].flops == 8 * 3 * 3 * 3
