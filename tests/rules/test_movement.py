"""Data movement, shape plumbing, constants, containers: 0 MACs and 0 FLOPs.
Scatters with a reduction and Range do arithmetic, and say how much."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from flopscope.analysis import analyze
from tests.builders import BOOL, F32, I64, cost, ints, layer, model_of, weight

INT32 = TensorProto.INT32

#: op -> (inputs, outputs, attrs, opset): a valid one-node instance of each free op
FREE = {
    "Reshape": ({"x": (2, 3, 4), "shape": ints(6, 4)}, ["y"], {}, 17),
    "Flatten": ({"x": (2, 3, 4)}, ["y"], {"axis": 1}, 17),
    "Transpose": ({"x": (2, 3, 4)}, ["y"], {"perm": [2, 0, 1]}, 17),
    "Squeeze": ({"x": (2, 1, 4), "axes": ints(1)}, ["y"], {}, 17),
    "Unsqueeze": ({"x": (2, 4), "axes": ints(0)}, ["y"], {}, 17),
    "Identity": ({"x": (2, 3)}, ["y"], {}, 17),
    "Dropout": ({"x": (2, 3)}, ["y", "mask"], {}, 17),
    "Cast": ({"x": (2, 3)}, ["y"], {"to": TensorProto.INT64}, 17),
    "CastLike": ({"x": (2, 3), "like": ((1,), I64)}, ["y"], {}, 17),
    "Shape": ({"x": (2, 3)}, ["y"], {}, 17),
    "Size": ({"x": (2, 3)}, ["y"], {}, 17),
    "Constant": ({}, ["y"], {"value": numpy_helper.from_array(np.ones((2, 3), np.float32))}, 17),
    "ConstantOfShape": ({"shape": ints(2, 3)}, ["y"],
                        {"value": helper.make_tensor("v", F32, [1], [0.5])}, 17),
    "Expand": ({"x": (3, 1), "shape": ints(2, 3, 4)}, ["y"], {}, 17),
    "Tile": ({"x": (2, 3), "repeats": ints(2, 2)}, ["y"], {}, 17),
    "Concat": ({"a": (2, 3), "b": (4, 3)}, ["y"], {"axis": 0}, 17),
    "Split": ({"x": (6, 4), "split": ints(2, 4)}, ["y1", "y2"], {"axis": 0}, 17),
    "Slice": ({"x": (10, 4), "starts": ints(1), "ends": ints(5)}, ["y"], {}, 17),
    "Gather": ({"x": (5, 4), "idx": ints(0, 2)}, ["y"], {"axis": 0}, 17),
    "GatherElements": ({"x": (3, 4), "idx": ((3, 2), I64)}, ["y"], {"axis": 1}, 17),
    "GatherND": ({"x": (3, 4), "idx": ((2, 2), I64)}, ["y"], {}, 17),
    "Pad": ({"x": (2, 3), "pads": ints(1, 1, 1, 1)}, ["y"], {}, 17),
    "DepthToSpace": ({"x": (1, 8, 2, 2)}, ["y"], {"blocksize": 2}, 17),
    "SpaceToDepth": ({"x": (1, 2, 4, 4)}, ["y"], {"blocksize": 2}, 17),
    "EyeLike": ({"x": (3, 4)}, ["y"], {}, 17),
    "OneHot": ({"idx": ((3,), I64), "depth": ints(5), "values": weight(2)}, ["y"], {}, 17),
    "Trilu": ({"x": (4, 4)}, ["y"], {}, 17),
    "ReverseSequence": ({"x": (4, 2, 5), "lens": ((2,), I64)}, ["y"],
                        {"batch_axis": 1, "time_axis": 0}, 17),
    "Compress": ({"x": (3, 4), "cond": ((3,), BOOL)}, ["y"], {"axis": 0}, 17),
    "MaxUnpool": ({"x": (1, 1, 2, 2), "idx": ((1, 1, 2, 2), I64)}, ["y"],
                  {"kernel_shape": [2, 2], "strides": [2, 2]}, 17),
    "StringConcat": ({"a": ((2, 3), TensorProto.STRING), "b": ((3,), TensorProto.STRING)}, ["y"], {}, 20),
}


@pytest.mark.parametrize("op", sorted(FREE))
def test_data_movement_is_free(op):
    inputs, outputs, attrs, opset = FREE[op]
    row = cost(op, inputs, outputs=outputs, attrs=attrs, opset=opset)
    assert (row.macs, row.flops) == (0, 0)


def _report_of(nodes, inputs, outputs, opset=18):
    return analyze(model_of(nodes, inputs, outputs, opset))


def test_sequence_ops_are_free():
    n = helper.make_node
    nodes = [
        n("SequenceConstruct", ["a", "b"], ["s1"]),
        n("SequenceInsert", ["s1", "a"], ["s2"]),
        n("SequenceErase", ["s2"], ["s3"]),
        n("SequenceLength", ["s3"], ["length"]),
        n("SequenceAt", ["s3", "pos"], ["item"]),
        n("SequenceEmpty", [], ["empty"], dtype=F32),
        n("SplitToSequence", ["a"], ["s4"], axis=0),
        n("ConcatFromSequence", ["s4"], ["cat"], axis=0),
    ]
    report = _report_of(nodes, {"a": (2, 3), "b": (2, 3), "pos": np.array(0, np.int64)},
                        ["length", "item", "empty", "cat"])
    assert report.coverage.complete and report.coverage.costed == 8
    for row in report.layers:
        assert (row.macs, row.flops) == (0, 0), row.op


def test_optional_ops_are_free():
    n = helper.make_node
    nodes = [
        n("Optional", ["x"], ["opt"]),
        n("OptionalHasElement", ["opt"], ["has"]),
        n("OptionalGetElement", ["opt"], ["got"]),
    ]
    report = _report_of(nodes, {"x": (2, 3)}, ["has", "got"])
    assert report.coverage.complete and report.coverage.costed == 3
    assert [(r.op, r.macs, r.flops) for r in report.layers] == [
        ("Optional", 0, 0), ("OptionalHasElement", 0, 0), ("OptionalGetElement", 0, 0)]


# ------------------------------------------------------------- control-flow containers


def _vi(name, shape, elem=F32):
    return helper.make_tensor_value_info(name, elem, shape)


def test_loop_container_is_free_and_its_body_runs_trip_count_times():
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Add", ["v_in", "v_in"], ["v_out"], name="body_add")],
        "body", [_vi("iter", [], I64), _vi("cond_in", [], BOOL), _vi("v_in", [2, 3])],
        [_vi("cond_out", [], BOOL), _vi("v_out", [2, 3])])
    loop = helper.make_node("Loop", ["trips", "cond", "x"], ["y"], name="loop", body=body)
    report = _report_of([loop], {"trips": np.array(3, np.int64), "cond": np.array(True),
                                 "x": (2, 3)}, ["y"], opset=17)
    assert (layer(report, "Loop").macs, layer(report, "Loop").flops) == (0, 0)
    assert layer(report, "Add").flops == 3 * (2 * 3)
    assert layer(report, "Identity").flops == 0


def test_scan_container_is_free_and_its_body_runs_once_per_item():
    body = helper.make_graph(
        [helper.make_node("Add", ["s_in", "x_in"], ["s_out"]),
         helper.make_node("Identity", ["s_out"], ["y_out"])],
        "body", [_vi("s_in", [3]), _vi("x_in", [3])], [_vi("s_out", [3]), _vi("y_out", [3])])
    scan = helper.make_node("Scan", ["s0", "xs"], ["s_final", "ys"], name="scan", body=body,
                            num_scan_inputs=1)
    report = _report_of([scan], {"s0": (3,), "xs": (5, 3)}, ["s_final", "ys"], opset=17)
    assert (layer(report, "Scan").macs, layer(report, "Scan").flops) == (0, 0)
    assert layer(report, "Add").flops == 5 * 3


def test_if_container_is_free():
    then_g = helper.make_graph([helper.make_node("Neg", ["x"], ["t"])], "then", [], [_vi("t", [2, 3])])
    else_g = helper.make_graph([helper.make_node("Identity", ["x"], ["e"])], "else", [],
                               [_vi("e", [2, 3])])
    node = helper.make_node("If", ["c"], ["y"], name="if", then_branch=then_g, else_branch=else_g)
    report = _report_of([node], {"c": ((), BOOL), "x": (2, 3)}, ["y"], opset=17)
    assert (layer(report, "If").macs, layer(report, "If").flops) == (0, 0)
    # condition unknown: the heavier branch (Neg, 1 per element) is the upper bound
    assert report.totals.flops == 2 * 3


# ---------------------------------------------------------------- scatters and Range


@pytest.mark.parametrize("reduction, opset, flops", [
    (None, 16, 0),
    ("none", 16, 0),
    ("add", 16, 2 * 4),          # one FLOP per update element
    ("mul", 16, 2 * 4),
    ("max", 18, 2 * 4),
    ("min", 18, 2 * 4),
])
def test_scatter_elements(reduction, opset, flops):
    attrs = {"axis": 0} | ({} if reduction is None else {"reduction": reduction})
    row = cost("ScatterElements", {"data": (3, 4), "idx": ((2, 4), I64), "updates": (2, 4)},
               attrs=attrs, opset=opset)
    assert (row.macs, row.flops) == (0, flops)


@pytest.mark.parametrize("reduction, opset, flops", [
    (None, 16, 0),
    ("add", 16, 3 * 5),
    ("mul", 16, 3 * 5),
    ("max", 18, 3 * 5),
])
def test_scatter_nd(reduction, opset, flops):
    attrs = {} if reduction is None else {"reduction": reduction}
    row = cost("ScatterND", {"data": (4, 5), "idx": ((3, 1), I64), "updates": (3, 5)},
               attrs=attrs, opset=opset)
    assert (row.macs, row.flops) == (0, flops)


@pytest.mark.parametrize("start, limit, delta, dtype, count", [
    (0.0, 10.0, 2.0, np.float32, 5),
    (0, 10, 3, np.int64, 4),          # 0, 3, 6, 9
    (10, 0, -1, np.int32, 10),
])
def test_range_one_add_per_element(start, limit, delta, dtype, count):
    row = cost("Range", {"start": np.array(start, dtype), "limit": np.array(limit, dtype),
                         "delta": np.array(delta, dtype)})
    assert row.output_shapes == [[count]]
    assert (row.macs, row.flops) == (0, count)


def test_where_is_a_select_per_element_not_free():
    row = cost("Where", {"cond": ((2, 3), BOOL), "a": (2, 3), "b": (2, 3)})
    assert (row.macs, row.flops) == (0, 2 * 3)


def test_a_chain_of_free_ops_costs_only_its_arithmetic():
    n = helper.make_node
    nodes = [
        n("Reshape", ["x", "shape"], ["r"]),
        n("Transpose", ["r"], ["t"], perm=[1, 0]),
        n("Relu", ["t"], ["y"]),
    ]
    report = _report_of(nodes, {"x": (2, 3, 4), "shape": ints(6, 4)}, ["y"], opset=17)
    assert report.totals.macs == 0
    assert report.totals.flops == 6 * 4                # the Relu alone
    assert [r.flops for r in report.layers] == [0, 0, 24]


# ---------------------------------------------------------------- Scatter and BitCast


@pytest.mark.parametrize("axis", [None, 1])
def test_scatter_deprecated_alias_is_a_plain_copy(axis):
    # Scatter (opsets 9-10) = ScatterElements without a reduction: 0 FLOPs
    attrs = {} if axis is None else {"axis": axis}
    row = cost("Scatter", {"data": (3, 4), "idx": ((2, 4), I64), "updates": (2, 4)},
               attrs=attrs, opset=10)
    assert (row.macs, row.flops) == (0, 0)


@pytest.mark.parametrize("shape, src, to", [
    ((2, 3), F32, TensorProto.INT32),
    ((4,), TensorProto.INT64, TensorProto.DOUBLE),
    ((), F32, TensorProto.UINT32),
])
def test_bitcast_reinterprets_bits_for_free(shape, src, to):
    row = cost("BitCast", {"x": (shape, src)}, attrs={"to": to}, opset=26)
    assert row.output_shapes == [list(shape)]
    assert (row.macs, row.flops) == (0, 0)
