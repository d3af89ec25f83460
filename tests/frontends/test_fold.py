"""Shape arithmetic folded where ONNX inference stops; weights shared through Identity;
large files read without their payloads."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from flopscope.analysis import analyze
from flopscope.frontends import fold
from flopscope.frontends import onnx as onnx_frontend


def chunk_model() -> onnx.ModelProto:
    """x.chunk(2, dim=1) as the TorchScript exporter writes it, then a conv on one half:
    Shape -> Gather -> Add -> Div -> Mul -> Slice. Inference's data propagation stops at Div."""
    c = lambda name, v: helper.make_node("Constant", [], [name], value=numpy_helper.from_array(  # noqa: E731
        np.array(v, dtype=np.int64), name))
    w = numpy_helper.from_array(np.ones((4, 4, 3, 3), np.float32), "w")
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        c("one", 1), c("zero", [0]), c("one_list", [1]), c("two", 2),
        helper.make_node("Gather", ["shape", "one"], ["channels"], axis=0),
        helper.make_node("Add", ["channels", "one"], ["plus"]),
        helper.make_node("Div", ["plus", "two"], ["half"]),
        helper.make_node("Unsqueeze", ["half", "zero"], ["half_1d"]),
        helper.make_node("Slice", ["x", "zero", "half_1d", "one_list"], ["first"]),
        helper.make_node("Conv", ["first", "w"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    ]
    graph = helper.make_graph(nodes, "chunk", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                             [1, 8, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_shape_arithmetic_is_folded_and_the_conv_costed():
    report = analyze(chunk_model())
    assert report.coverage.complete
    (conv,) = [layer for layer in report.layers if layer.op == "Conv"]
    assert conv.output_shapes == [[1, 4, 16, 16]]
    assert conv.macs == 4 * 16 * 16 * 4 * 9
    assert any("folded" in note for note in report.notes)
    # the folded nodes stay in the report, as the free shape plumbing they are
    assert {"Shape", "Gather", "Div", "Slice"} <= {layer.op for layer in report.layers}


def test_fold_evaluates_integer_division_toward_zero():
    graph = chunk_model().graph
    values = {"one": np.array(1), "two": np.array(2), "zero": np.array([0]), "one_list": np.array([1])}
    assert fold.fold(graph, {"x": (1, 7, 16, 16)}, values) >= 4
    assert values["half"] == 4                                    # (7 + 1) // 2
    assert fold._div(None, np.array([-7]), np.array([2]))[0] == -3


def test_weights_shared_through_identity_count_once_at_their_first_user():
    w = numpy_helper.from_array(np.ones((4, 4, 1, 1), np.float32), "w")
    nodes = [helper.make_node("Identity", ["w"], ["w_a"]), helper.make_node("Identity", ["w"], ["w_b"]),
             helper.make_node("Conv", ["x", "w_a"], ["h"]), helper.make_node("Conv", ["h", "w_b"], ["y"])]
    graph = helper.make_graph(nodes, "shared", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                              [1, 4, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    report = analyze(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    assert report.totals.params == 16
    by_op = [(layer.op, layer.params) for layer in report.layers]
    assert by_op == [("Identity", 0), ("Identity", 0), ("Conv", 16), ("Conv", 0)]
    assert report.totals.activation_bytes == 2 * 4 * 8 * 8 * 4      # the aliases are weights


def test_large_files_are_read_without_payloads(tmp_path, monkeypatch):
    model = chunk_model()
    model.graph.initializer[0].CopyFrom(numpy_helper.from_array(
        np.random.default_rng(0).standard_normal((4, 4, 3, 3)).astype(np.float32), "w"))
    path = tmp_path / "m.onnx"
    onnx.save_model(model, path)
    whole = analyze(path)
    monkeypatch.setattr(onnx_frontend, "SCAN_SIZE", 0)
    monkeypatch.setattr(onnx_frontend.protoscan, "PAYLOAD_LIMIT", 64)
    scanned = analyze(path)
    assert scanned.totals == whole.totals and scanned.layers == whole.layers


def test_ops_beyond_integer_arithmetic_fold_on_the_reference_implementation():
    # ONNX Runtime's optimiser rewrites Gather chains into Split + Squeeze (several outputs),
    # which neither inference's data propagation nor the numpy fast path follow
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Split", ["shape", "sizes"], ["rows", "cols"], axis=0),
        helper.make_node("Concat", ["cols", "rows"], ["swapped"], axis=0),
        helper.make_node("Reshape", ["x", "swapped"], ["r"]),
        helper.make_node("MatMul", ["r", "w"], ["y"], name="mm"),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.array([1, 1], np.int64), "sizes"),
         numpy_helper.from_array(np.ones((2, 3), np.float32), "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    report = analyze(model, dims={"N": 2})
    (mm,) = [layer for layer in report.layers if layer.name == "mm"]
    assert mm.output_shapes == [[6, 3]]
    assert mm.macs == 6 * 3 * 2
    assert report.coverage.percent == 100
