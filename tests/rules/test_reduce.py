"""Reductions along axes (keepdims 0/1; axes as attribute or input), ArgMax/ArgMin, TopK,
CumSum, NonZero. r is the number of elements folded into each output."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto

from tests.builders import cost, ints, layer, run

X = (2, 3, 4)

#: op -> FLOPs per output as a function of r
REDUCE = {
    "ReduceSum": lambda r: r - 1,              # r - 1 adds
    "ReduceMean": lambda r: (r - 1) + 1,       # adds and one divide
    "ReduceMax": lambda r: r - 1,              # compares
    "ReduceMin": lambda r: r - 1,
    "ReduceProd": lambda r: r - 1,             # multiplies
    "ReduceL1": lambda r: r + (r - 1),         # abs, adds
    "ReduceL2": lambda r: r + (r - 1) + 1,     # squares, adds, sqrt
    "ReduceSumSquare": lambda r: r + (r - 1),  # squares, adds
    "ReduceLogSum": lambda r: (r - 1) + 1,     # adds, log
    "ReduceLogSumExp": lambda r: r + (r - 1) + 1,  # exps, adds, log
}

#: (axes, r, outputs) on a 2x3x4 input
AXES = [
    ([1], 3, 2 * 4),
    ([0, 2], 2 * 4, 3),
    ([-1], 4, 2 * 3),
    (None, 2 * 3 * 4, 1),           # no axes: reduce everything
]


def _reduce(op, axes, keepdims, axes_as_input):
    """Run ``op``; before opset 18 only ReduceSum takes axes as an input (from opset 13)."""
    attrs = {"keepdims": keepdims}
    inputs = {"x": X}
    if axes_as_input:
        opset = 13 if op == "ReduceSum" else 18
        if axes is not None:
            inputs["axes"] = ints(*axes)
    else:
        opset = 11 if op == "ReduceSum" else 13
        if axes is not None:
            attrs["axes"] = axes
    return cost(op, inputs, attrs=attrs, opset=opset)


@pytest.mark.parametrize("axes_as_input", [False, True], ids=["axes-attr", "axes-input"])
@pytest.mark.parametrize("keepdims", [0, 1])
@pytest.mark.parametrize("axes, r, outputs", AXES, ids=["axis1", "axes02", "axis-1", "all"])
@pytest.mark.parametrize("op", sorted(REDUCE))
def test_reduce(op, axes, r, outputs, keepdims, axes_as_input):
    row = _reduce(op, axes, keepdims, axes_as_input)
    assert row.macs == 0
    assert row.flops == REDUCE[op](r) * outputs


def test_reduce_mean_worked_example():
    # global average over a 7x7 map of 512 channels, as a ReduceMean: 48 adds + 1 divide each
    row = cost("ReduceMean", {"x": (1, 512, 7, 7)}, attrs={"axes": [2, 3], "keepdims": 1}, opset=13)
    assert row.output_shapes == [[1, 512, 1, 1]]
    assert row.flops == 49 * 512


def test_reduce_sum_noop_with_empty_axes_is_free():
    row = cost("ReduceSum", {"x": X}, attrs={"noop_with_empty_axes": 1}, opset=13)
    assert row.output_shapes == [[2, 3, 4]]
    assert row.flops == 0


def test_reduce_axes_from_a_graph_input_is_unresolved_not_zero():
    # axes unknown at analysis time: inference cannot give the output shape, so r is unknown
    report = run("ReduceMean", {"x": X, "axes": ((1,), TensorProto.INT64)},
                 attrs={"keepdims": 0}, opset=18)
    row = layer(report, "ReduceMean")
    assert row.status == "unresolved" and row.flops is None
    assert report.coverage.unresolved == {"ReduceMean": 1}


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("axis, keepdims, r, outputs", [
    (None, 1, 2, 3 * 4),            # default axis 0
    (1, 1, 3, 2 * 4),
    (1, 0, 3, 2 * 4),
    (-1, 0, 4, 2 * 3),
])
def test_arg_max_min(op, axis, keepdims, r, outputs):
    attrs = {"keepdims": keepdims}
    if axis is not None:
        attrs["axis"] = axis
    row = cost(op, {"x": X}, attrs=attrs)
    assert (row.macs, row.flops) == (0, (r - 1) * outputs)


# ------------------------------------------------------------------------------ TopK


@pytest.mark.parametrize("x, k, axis, rows, n, log_term", [
    ((3, 10), 4, None, 3, 10, 3),        # ceil(log2(4 + 1)) = 3
    ((3, 10), 1, -1, 3, 10, 1),          # ceil(log2(2)) = 1
    ((3, 10), 7, 1, 3, 10, 3),           # ceil(log2(8)) = 3
    ((10, 3), 8, 0, 3, 10, 4),           # ceil(log2(9)) = 4
    ((2, 16, 5), 16, 1, 2 * 5, 16, 5),   # ceil(log2(17)) = 5
])
def test_top_k_heap_estimate(x, k, axis, rows, n, log_term):
    attrs = {} if axis is None else {"axis": axis}
    row = cost("TopK", {"x": x, "k": ints(k)}, outputs=["values", "indices"], attrs=attrs)
    assert (row.macs, row.flops) == (0, rows * n * log_term)


# ---------------------------------------------------------------------------- CumSum


@pytest.mark.parametrize("axis, adds", [
    (0, (3 - 1) * 4),
    (1, (4 - 1) * 3),
    (-1, (4 - 1) * 3),
])
@pytest.mark.parametrize("scalar_axis", [True, False])
def test_cum_sum(axis, adds, scalar_axis):
    a = np.array(axis, dtype=np.int64) if scalar_axis else ints(axis)
    row = cost("CumSum", {"x": (3, 4), "axis": a})
    assert (row.macs, row.flops) == (0, adds)


def test_cum_sum_exclusive_reverse_same_count():
    # exclusive: y0 = 0, y1 = x0 (a copy), then one add each: 6 - 2 per row of 6
    row = cost("CumSum", {"x": (5, 6), "axis": ints(1)}, attrs={"exclusive": 1, "reverse": 1})
    assert row.flops == 5 * (6 - 2)
    row = cost("CumSum", {"x": (5, 6), "axis": ints(1)}, attrs={"reverse": 1})
    assert row.flops == 5 * (6 - 1)


def test_cum_sum_with_unknown_axis_is_unresolved():
    report = run("CumSum", {"x": (3, 4), "axis": ((), TensorProto.INT64)})
    row = layer(report, "CumSum")
    assert row.status == "unresolved" and row.flops is None
    assert report.coverage.unresolved == {"CumSum": 1}


def test_non_zero_one_compare_per_input_element():
    row = cost("NonZero", {"x": (3, 4, 5)})
    assert (row.macs, row.flops) == (0, 3 * 4 * 5)


# --------------------------------------------------------------------------- CumProd


@pytest.mark.parametrize("axis, exclusive, reverse, multiplies", [
    (0, 0, 0, 4 * (3 - 1)),           # 4 columns of 3: y0 = x0, then 2 multiplies each
    (1, 0, 0, 3 * (4 - 1)),           # 3 rows of 4
    (-1, 0, 1, 3 * (4 - 1)),          # reverse: the same recurrence from the other end
    (1, 1, 0, 3 * (4 - 2)),           # exclusive: y0 = 1, y1 = x0, 2 multiplies per row
    (1, 1, 1, 3 * (4 - 2)),
    (0, 1, 0, 4 * (3 - 2)),
])
def test_cum_prod(axis, exclusive, reverse, multiplies):
    row = cost("CumProd", {"x": (3, 4), "axis": ints(axis)},
               attrs={"exclusive": exclusive, "reverse": reverse}, opset=26)
    assert (row.macs, row.flops) == (0, multiplies)


@pytest.mark.parametrize("n, exclusive, multiplies", [
    (1, 0, 0), (1, 1, 0), (2, 1, 0), (2, 0, 1), (5, 1, 3),
])
def test_cum_prod_short_rows(n, exclusive, multiplies):
    row = cost("CumProd", {"x": (n,), "axis": np.array(0, np.int64)},
               attrs={"exclusive": exclusive}, opset=26)
    assert row.flops == multiplies


def test_cum_prod_unknown_axis_is_resolved_when_every_dim_is_the_same():
    # 1-D: the axis can only be 0; 6 elements -> 5 multiplies
    row = cost("CumProd", {"x": (6,), "axis": ((), TensorProto.INT64)}, opset=26)
    assert row.flops == 6 - 1
    # 3x3: whichever axis, 3 rows of 3 -> 3 * 2 multiplies
    row = cost("CumProd", {"x": (3, 3), "axis": ((), TensorProto.INT64)}, opset=26)
    assert row.flops == 3 * (3 - 1)


def test_cum_prod_unknown_axis_on_uneven_dims_is_unresolved():
    report = run("CumProd", {"x": (3, 4), "axis": ((), TensorProto.INT64)}, opset=26)
    row = layer(report, "CumProd")
    assert row.status == "unresolved" and row.flops is None


def test_cum_prod_axis_out_of_range_is_refused():
    report = run("CumProd", {"x": (3, 4), "axis": ints(2)}, opset=26)
    row = layer(report, "CumProd")
    assert row.status != "ok" and row.flops is None
    assert "out of range" in row.reason


def test_histogram_of_a_moe_router_by_hand():
    """torch.histc (tokens per expert, PyTorch frontend only: ONNX has no histogram):
    2 compares, a subtract, a multiply and an add per element."""
    torch = pytest.importorskip("torch")
    from flopscope.analysis import analyze

    class Counts(torch.nn.Module):
        def forward(self, ids):
            return torch.histc(ids, bins=8, min=0, max=7)

    (row,) = analyze(Counts(), inputs=(3, 16)).layers
    assert (row.op, row.output_shapes, row.macs, row.flops) == (
        "ai.flopscope.Histogram", [[8]], 0, 5 * 3 * 16)
