"""Pooling: max k−1 compares, average k−1 adds + 1 divide, Lp 2k, per output; global pools."""

from __future__ import annotations

import pytest

from tests.builders import cost


def test_max_pool_3x3_stride_2():
    # 16x16 input, 3x3 window, stride 2, no padding: (16 - 3) // 2 + 1 = 7
    row = cost("MaxPool", {"x": (2, 8, 16, 16)}, attrs={"kernel_shape": [3, 3], "strides": [2, 2]})
    assert row.output_shapes[0] == [2, 8, 7, 7]
    assert (row.macs, row.flops) == (0, (3 * 3 - 1) * 2 * 8 * 7 * 7)


def test_max_pool_with_padding_and_indices_output():
    row = cost("MaxPool", {"x": (1, 4, 8, 8)}, outputs=["y", "idx"],
               attrs={"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]})
    assert row.output_shapes == [[1, 4, 8, 8], [1, 4, 8, 8]]
    assert row.flops == 8 * 4 * 8 * 8


def test_max_pool_dilation_keeps_the_window_count():
    # a 2x2 window dilated by 2 spans 3x3 but still compares 4 values
    row = cost("MaxPool", {"x": (1, 1, 9, 9)}, attrs={"kernel_shape": [2, 2], "dilations": [2, 2]})
    assert row.output_shapes[0] == [1, 1, 7, 7]
    assert row.flops == (2 * 2 - 1) * 7 * 7


def test_max_pool_ceil_mode_counts_the_extra_outputs():
    row = cost("MaxPool", {"x": (1, 1, 8, 8)},
               attrs={"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1})
    assert row.output_shapes[0] == [1, 1, 4, 4]            # ceil((8 - 3) / 2) + 1
    assert row.flops == 8 * 4 * 4


def test_max_pool_1d_and_3d():
    assert cost("MaxPool", {"x": (1, 2, 10)}, attrs={"kernel_shape": [4]}).flops == 3 * 2 * 7
    row = cost("MaxPool", {"x": (1, 2, 4, 4, 4)}, attrs={"kernel_shape": [2, 2, 2], "strides": [2, 2, 2]})
    assert row.flops == (8 - 1) * 2 * 2 * 2 * 2


@pytest.mark.parametrize("count_include_pad", [0, 1])
def test_average_pool_adds_and_one_divide(count_include_pad):
    row = cost("AveragePool", {"x": (1, 3, 8, 8)},
               attrs={"kernel_shape": [2, 2], "strides": [2, 2], "count_include_pad": count_include_pad})
    assert row.output_shapes[0] == [1, 3, 4, 4]
    outputs = 3 * 4 * 4
    assert (row.macs, row.flops) == (0, ((2 * 2 - 1) + 1) * outputs)


def test_average_pool_3x3_stride_1_same():
    row = cost("AveragePool", {"x": (1, 3, 8, 8)}, attrs={"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]})
    assert row.flops == (8 + 1) * 3 * 8 * 8


@pytest.mark.parametrize("p", [1, 2])
def test_lp_pool_powers_adds_root(p):
    row = cost("LpPool", {"x": (1, 3, 8, 8)}, attrs={"kernel_shape": [2, 2], "strides": [2, 2], "p": p})
    k = 2 * 2
    assert row.flops == (k + (k - 1) + 1) * 3 * 4 * 4


def test_global_max_pool():
    row = cost("GlobalMaxPool", {"x": (2, 64, 7, 7)})
    assert row.output_shapes[0] == [2, 64, 1, 1]
    assert (row.macs, row.flops) == (0, (7 * 7 - 1) * 2 * 64)


def test_global_average_pool():
    row = cost("GlobalAveragePool", {"x": (2, 64, 7, 7)})
    assert (row.macs, row.flops) == (0, ((7 * 7 - 1) + 1) * 2 * 64)


def test_global_lp_pool():
    row = cost("GlobalLpPool", {"x": (2, 64, 7, 7)})
    assert row.flops == (49 + 48 + 1) * 2 * 64


def test_global_pools_1d_and_3d():
    assert cost("GlobalAveragePool", {"x": (1, 4, 10)}).flops == 10 * 4
    assert cost("GlobalMaxPool", {"x": (1, 4, 2, 3, 5)}).flops == (30 - 1) * 4


# ------------------------------------------------- adaptive pooling (PyTorch frontend only)
# ONNX has no adaptive pooling: exporters write global pooling for a 1x1 output and a plain
# window where the sizes divide, and refuse the rest. The PyTorch frontend emits flopscope's
# own ai.flopscope.AdaptiveAveragePool / AdaptiveMaxPool there, with PyTorch's overlapping windows.


def _torch_window_lengths(size: int, out: int) -> list[int]:
    """Each output's window length along one axis, as PyTorch's kernel uses it: output i
    of the pooled one-hot e_j is 1/L_i when j lies in window i."""
    torch = pytest.importorskip("torch")
    hits = torch.stack([torch.nn.functional.adaptive_avg_pool1d(torch.eye(size)[j].view(1, 1, size), out)
                        .view(out) for j in range(size)])
    return [round(1 / float(col[col > 0].max())) for col in hits.T]


def test_adaptive_windows_by_hand_and_as_pytorch_pools():
    # 5 -> 3: windows [0, 2), [1, 4), [3, 5): lengths 2, 3, 2 (they overlap)
    assert _torch_window_lengths(5, 3) == [2, 3, 2]
    # 8 -> 7 (VGG's 7x7 head on a 256x256 image): seven windows of 2
    assert _torch_window_lengths(8, 7) == [2] * 7
    from flopscope.rules.pool import _adaptive_window_sum
    for size, out in [(5, 3), (8, 7), (10, 4), (7, 5), (13, 6), (6, 4)]:
        assert _adaptive_window_sum(size, out) == sum(_torch_window_lengths(size, out)), (size, out)


@pytest.mark.parametrize("kind, op, flops", [
    # 1x2x5x5 -> 3x3: window sizes 2,3,2 per axis, Σk = 7·7 = 49 per channel
    ("Avg", "ai.flopscope.AdaptiveAveragePool", 2 * 49),   # k FLOPs per output
    ("Max", "ai.flopscope.AdaptiveMaxPool", 2 * (49 - 9)),  # k−1 compares per output
])
def test_adaptive_pool_that_does_not_divide(kind, op, flops):
    torch = pytest.importorskip("torch")
    from flopscope.analysis import analyze
    pool = getattr(torch.nn, f"Adaptive{kind}Pool2d")((3, 3))
    report = analyze(pool, inputs=(1, 2, 5, 5))
    (row,) = report.layers
    assert (row.op, row.status, row.macs, row.flops) == (op, "ok", 0, flops)
    assert row.output_shapes == [[1, 2, 3, 3]] and report.coverage.complete


def test_adaptive_pool_that_divides_is_a_plain_window():
    torch = pytest.importorskip("torch")
    from flopscope.analysis import analyze
    (row,) = analyze(torch.nn.AdaptiveAvgPool2d((3, 3)), inputs=(1, 2, 6, 6)).layers
    assert (row.op, row.flops) == ("AveragePool", 2 * 9 * 4)    # 2x2 windows, 4 FLOPs each


def test_vgg16_at_256_pixels_is_fully_costed():
    """VGG's AdaptiveAvgPool2d((7, 7)) meets an 8x8 map at 256x256 input."""
    pytest.importorskip("torch")
    from flopscope.analysis import analyze
    report = analyze("vgg16", inputs=(1, 3, 256, 256))
    assert report.coverage.complete
    (row,) = [r for r in report.layers if "Adaptive" in r.op]
    assert (row.op, row.flops) == ("ai.flopscope.AdaptiveAveragePool", 512 * 14 * 14)
