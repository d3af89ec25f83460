"""Reading an ONNX file's graph without its weights, at the wire level."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from flopscope.frontends import protoscan
from flopscope.frontends.protoscan import PAYLOAD_LIMIT, WireError, read_without_payloads

BIG = PAYLOAD_LIMIT // 4 + 1          # float32 elements just over the limit


def model_with_payloads() -> onnx.ModelProto:
    """Large and small initializers, a large Constant, a Loop body with its own weight,
    float_data as well as raw_data, and a sparse initializer."""
    big = numpy_helper.from_array(np.arange(BIG, dtype=np.float32), "big")
    small = numpy_helper.from_array(np.array([1, BIG], dtype=np.int64), "shape")
    typed = helper.make_tensor("typed", TensorProto.FLOAT, [BIG], np.ones(BIG, np.float32).tolist())
    const = helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(
        np.ones((BIG,), np.float32)))
    body_weight = numpy_helper.from_array(np.ones((BIG,), np.float32), "body_w")
    body = helper.make_graph(
        [helper.make_node("Add", ["acc", "body_w"], ["acc_out"]),
         helper.make_node("Identity", ["cond"], ["cond_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc", TensorProto.FLOAT, [BIG])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [BIG])],
        [body_weight])
    nodes = [
        const,
        helper.make_node("Add", ["big", "typed"], ["s"]),
        helper.make_node("Add", ["s", "c"], ["t"]),
        helper.make_node("Reshape", ["t", "shape"], ["u"]),
        helper.make_node("Loop", ["trip", "", "t"], ["v"], body=body),
    ]
    trip = numpy_helper.from_array(np.array(3, dtype=np.int64), "trip")
    graph = helper.make_graph(nodes, "g", [], [helper.make_tensor_value_info("u", TensorProto.FLOAT, None),
                                              helper.make_tensor_value_info("v", TensorProto.FLOAT, None)],
                              [big, small, typed, trip])
    sparse = helper.make_sparse_tensor(
        numpy_helper.from_array(np.ones(BIG, np.float32), "sp"),
        numpy_helper.from_array(np.arange(BIG, dtype=np.int64), "sp_idx"), [2 * BIG])
    graph.sparse_initializer.append(sparse)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def payload_free(model: onnx.ModelProto) -> onnx.ModelProto:
    """What read_without_payloads should give: the model with large data fields cleared."""
    expected = onnx.ModelProto()
    expected.CopyFrom(model)

    def clear(t: TensorProto) -> None:
        for field in ("float_data", "int32_data", "int64_data", "raw_data", "double_data", "uint64_data"):
            value = getattr(t, field)
            width = 8 if "64" in field or "double" in field else 4
            size = len(value) if field == "raw_data" else len(value) * width
            if size > PAYLOAD_LIMIT:
                t.ClearField(field)

    def walk(g: onnx.GraphProto) -> None:
        for t in g.initializer:
            clear(t)
        for s in g.sparse_initializer:
            clear(s.values)
            clear(s.indices)
        for n in g.node:
            for a in n.attribute:
                if a.type == onnx.AttributeProto.TENSOR:
                    clear(a.t)
                if a.type == onnx.AttributeProto.GRAPH:
                    walk(a.g)

    walk(expected.graph)
    return expected


def test_large_payloads_are_skipped_and_everything_else_kept(tmp_path):
    model = model_with_payloads()
    path = tmp_path / "m.onnx"
    onnx.save_model(model, path)
    data, dropped = read_without_payloads(path)
    assert onnx.ModelProto.FromString(data) == payload_free(model)
    assert dropped > 6 * BIG * 4        # big, typed, constant, body weight, sparse values+indices
    assert len(data) < path.stat().st_size - dropped + 64


def test_small_models_come_back_unchanged(tmp_path):
    path = tmp_path / "m.onnx"
    model = helper.make_model(helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])]))
    onnx.save_model(model, path)
    data, dropped = read_without_payloads(path)
    assert data == path.read_bytes() and dropped == 0


@pytest.mark.parametrize("cut", [1, 7, 100, -1])
def test_truncated_files_raise_wire_errors(tmp_path, cut):
    path = tmp_path / "m.onnx"
    onnx.save_model(model_with_payloads(), path)
    raw = path.read_bytes()
    path.write_bytes(raw[:cut] if cut > 0 else raw[:-3])
    with pytest.raises(WireError):
        read_without_payloads(path)


def test_varints_round_trip():
    for value in (0, 1, 127, 128, 300, 2**32, 2**63 - 1):
        encoded = protoscan._encode_varint(value)
        assert protoscan._varint(memoryview(encoded), 0, len(encoded)) == (value, len(encoded))
