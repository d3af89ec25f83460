"""Parameters of deployed files (frontends/quantised.py): quantised weights at their logical
count, scales and zero points apart, integer tables read by Gather, weights stored twice."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from flopscope.analysis import analyze

F32, I64, U8 = TensorProto.FLOAT, TensorProto.INT64, TensorProto.UINT8


def _model(nodes, inputs, inits, domains=("com.microsoft",)):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(n, e, s) for n, e, s in inputs],
        [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.UNDEFINED, None)],
        initializer=[numpy_helper.from_array(a, n) for n, a in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]
                             + [helper.make_opsetid(d, 1) for d in domains])


def test_matmul_nbits_weight_counts_n_by_k_at_half_a_byte_each():
    # K=32, N=24, 4 bits in blocks of 16: B packed as (N, K/16, 16·4/8) = (24, 2, 8) bytes
    node = helper.make_node("MatMulNBits", ["a", "b", "s"], ["y"], domain="com.microsoft",
                            K=32, N=24, bits=4, block_size=16)
    report = analyze(_model([node], [("a", F32, [1, 32])],
                            {"b": np.ones((24, 2, 8), np.uint8), "s": np.ones(48, np.float32)}))
    assert report.totals.params == 24 * 32                 # the logical weight
    assert report.totals.param_bytes == 24 * 32 // 2        # its real storage, packed
    assert report.totals.buffers == 48                      # the scales, apart
    assert report.totals.buffer_bytes == 48 * 4


def test_quantised_embedding_table_read_by_gather_counts():
    # dynamic quantisation stores the table as uint8, Gather reads it, DequantizeLinear follows
    nodes = [helper.make_node("Gather", ["table", "ids"], ["rows"]),
             helper.make_node("DequantizeLinear", ["rows", "scale", "zp"], ["y"])]
    report = analyze(_model(nodes, [("ids", I64, [1, 5])],
                            {"table": np.arange(40 * 8, dtype=np.uint8).reshape(40, 8),
                             "scale": np.array(0.1, np.float32), "zp": np.array(3, np.uint8)}, ()))
    assert report.totals.params == 40 * 8
    assert report.totals.param_bytes == 40 * 8
    assert report.totals.buffers == 2                       # scale and zero point


def test_dynamic_quantisation_weight_scale_is_metadata():
    # x -> DynamicQuantizeLinear -> MatMulInteger(w int8) -> Cast -> Mul(x_scale · w_scale)
    nodes = [helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
             helper.make_node("MatMulInteger", ["xq", "w", "xz", "wz"], ["acc"]),
             helper.make_node("Cast", ["acc"], ["accf"], to=F32),
             helper.make_node("Mul", ["xs", "ws"], ["scale"]),
             helper.make_node("Mul", ["accf", "scale"], ["y"])]
    report = analyze(_model(nodes, [("x", F32, [2, 16])],
                            {"w": np.ones((16, 4), np.int8), "wz": np.array(0, np.int8),
                             "ws": np.array(0.02, np.float32)}, ()))
    assert report.totals.params == 16 * 4
    assert report.totals.buffers == 2                       # w's zero point and scale


def test_a_tied_embedding_stored_twice_counts_once_with_a_note():
    table = np.arange(64 * 32, dtype=np.float32).reshape(64, 32) / 100
    nodes = [helper.make_node("Gather", ["table", "ids"], ["h"]),
             helper.make_node("MatMul", ["h", "head"], ["y"])]
    report = analyze(_model(nodes, [("ids", I64, [1, 5])], {"table": table, "head": table.T.copy()}, ()))
    assert report.totals.params == 64 * 32                  # one embedding, not two
    assert report.totals.buffer_bytes == 64 * 32 * 4        # the copy's storage is still real
    assert any("'head' is a transposed copy of 'table'" in note for note in report.notes)


def test_equal_constant_tensors_are_not_taken_for_copies():
    zeros = np.zeros((64, 32), np.float32)                  # e.g. two zero-initialised weights
    nodes = [helper.make_node("MatMul", ["x", "a"], ["h"]), helper.make_node("MatMul", ["h", "b"], ["y"])]
    report = analyze(_model(nodes, [("x", F32, [1, 64])], {"a": zeros, "b": zeros.T.copy()}, ()))
    assert report.totals.params == 2 * 64 * 32
    assert not any("copy" in note for note in report.notes)
