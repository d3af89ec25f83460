"""ONNX Runtime's activation kernels (rules/contrib_activation.py), counted by hand."""

from __future__ import annotations

from tests.builders import weight
from tests.rules.contrib import cost_op

X = (2, 3, 4)
E = 2 * 3 * 4                                   # elements


def test_gelu_family():
    assert cost_op("Gelu", {"x": X}).flops == 5 * E                   # the table's erf Gelu
    assert cost_op("BiasGelu", {"x": X, "b": weight(4)}).flops == (1 + 5) * E
    assert cost_op("FastGelu", {"x": X}).flops == 9 * E               # the table's tanh Gelu
    assert cost_op("FastGelu", {"x": X, "b": weight(4)}).flops == (9 + 1) * E
    assert cost_op("QuickGelu", {"x": X}).flops == (5 + 1) * E        # Swish + alpha·x (1.702)
    assert cost_op("QuickGelu", {"x": X}, attrs={"alpha": 1.0}).flops == 5 * E
    assert cost_op("Gelu", {"x": X}).macs == 0


def test_bias_add_two_adds_per_element():
    assert cost_op("BiasAdd", {"x": X, "b": weight(4), "skip": X}).flops == 2 * E


def test_bias_softmax_adds_then_softmax_rows_from_axis():
    data = {"x": (2, 3, 4, 5), "b": (2, 3, 4, 5)}
    # axis 1 (default): rows of n = 3·4·5 = 60, 2 rows
    assert cost_op("BiasSoftmax", data).flops == 120 + 2 * (5 * 60 - 2)
    assert cost_op("BiasSoftmax", data, attrs={"axis": 3}).flops == 120 + 24 * (5 * 5 - 2)


def test_bias_split_gelu_halves_the_channels():
    row = cost_op("BiasSplitGelu", {"x": (1, 4, 20), "b": weight(20)})
    assert row.output_shapes == [[1, 4, 10]]
    # 80 bias adds (2 per output), then Gelu (5) and the multiply (1) per output
    assert row.flops == 80 + (5 + 1) * 40


def test_default_domain_ops_ort_still_runs():
    # experimental ops onnx dropped (ORT registers them in the default domain) and the
    # copies a GPU session dump inserts
    x = {"x": X}
    assert cost_op("Scale", x, attrs={"scale": 2.0}, domain="").flops == E
    assert cost_op("Affine", x, attrs={"alpha": 2.0, "beta": 1.0}, domain="").flops == 2 * E
    assert cost_op("ImageScaler", {"x": (1, 3, 2, 2)}, attrs={"scale": 2.0, "bias": [1.0, 2.0, 3.0]},
                   domain="").flops == 2 * 12
    assert cost_op("ScaledTanh", x, attrs={"alpha": 1.0, "beta": 2.0}, domain="").flops == (5 + 2) * E
    assert cost_op("ParametricSoftplus", x, domain="").flops == (3 + 2) * E
    for op in ("MemcpyFromHost", "MemcpyToHost"):
        row = cost_op(op, x, domain="")
        assert row.output_shapes == [list(X)] and row.flops == 0
