"""Gemm, MatMul and Einsum: MACs = batch·M·N·K, FLOPs = (2K−1) per output plus the extras."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto

from tests.builders import cost, layer, run, weight

# ------------------------------------------------------------------------------ Gemm


def test_notes_example_300_to_100_fully_connected_without_bias():
    row = cost("Gemm", {"x": (1, 300), "w": weight(100, 300)}, attrs={"transB": 1})
    assert row.output_shapes == [[1, 100]]
    assert row.macs == 300 * 100 == 30_000
    assert row.flops == (2 * 300 - 1) * 100 == 59_900
    assert row.params == 300 * 100


def test_fully_connected_with_bias_adds_one_flop_per_output():
    row = cost("Gemm", {"x": (1, 300), "w": weight(100, 300), "b": weight(100)}, attrs={"transB": 1})
    assert row.macs == 30_000
    assert row.flops == 59_900 + 100
    assert row.params == 300 * 100 + 100


def test_gemm_batch_rows():
    row = cost("Gemm", {"x": (8, 300), "w": weight(300, 100)})
    assert row.macs == 8 * 300 * 100
    assert row.flops == (2 * 300 - 1) * 8 * 100


def test_gemm_trans_a():
    # A is (K, M) = (7, 3) with transA: Y is 3 x 5, K = 7
    row = cost("Gemm", {"a": (7, 3), "b": (7, 5)}, attrs={"transA": 1})
    assert row.output_shapes == [[3, 5]]
    assert row.macs == 3 * 5 * 7
    assert row.flops == (2 * 7 - 1) * 15


def test_gemm_trans_a_and_b():
    row = cost("Gemm", {"a": (7, 3), "b": (5, 7)}, attrs={"transA": 1, "transB": 1})
    assert row.output_shapes == [[3, 5]]
    assert row.macs == 3 * 5 * 7


@pytest.mark.parametrize("alpha, beta, with_c, extra_per_output", [
    (1.0, 1.0, False, 0),      # plain product
    (2.0, 1.0, False, 1),      # alpha multiply
    (1.0, 1.0, True, 1),       # add C
    (1.0, 0.5, True, 2),       # multiply C by beta, add
    (2.0, 0.5, True, 3),       # alpha multiply, beta multiply, add
    (1.0, 0.0, True, 0),       # beta = 0: C is not used
    (1.0, 0.5, False, 0),      # beta without C: nothing to scale
])
def test_gemm_alpha_beta_and_c(alpha, beta, with_c, extra_per_output):
    inputs = {"a": (4, 6), "b": weight(6, 5)}
    if with_c:
        inputs["c"] = weight(4, 5)
    row = cost("Gemm", inputs, attrs={"alpha": alpha, "beta": beta})
    outputs = 4 * 5
    assert row.macs == 4 * 5 * 6
    assert row.flops == (2 * 6 - 1) * outputs + extra_per_output * outputs


def test_gemm_broadcast_c_counts_per_output():
    row = cost("Gemm", {"a": (4, 6), "b": (6, 5), "c": (1, 5)})
    assert row.flops == (2 * 6 - 1) * 20 + 20


# ---------------------------------------------------------------------------- MatMul


@pytest.mark.parametrize("a, b, out", [
    ((4, 5), (5, 6), [4, 6]),
    ((2, 3, 4, 5), (5, 6), [2, 3, 4, 6]),          # weight broadcast over batch dims
    ((3, 1, 4, 5), (2, 5, 6), [3, 2, 4, 6]),       # batch dims broadcast against each other
    ((7, 4, 5), (7, 5, 6), [7, 4, 6]),             # bmm
])
def test_matmul_broadcast_batch_dims(a, b, out):
    row = cost("MatMul", {"a": a, "b": b})
    assert row.output_shapes == [out]
    batch_m_n = 1
    for d in out:
        batch_m_n *= d
    k = 5
    assert row.macs == batch_m_n * k
    assert row.flops == (2 * k - 1) * batch_m_n


def test_matmul_broadcast_batch_example_by_hand():
    row = cost("MatMul", {"a": (3, 1, 4, 5), "b": (2, 5, 6)})
    assert row.macs == 3 * 2 * 4 * 6 * 5
    assert row.flops == 3 * 2 * 4 * 6 * (2 * 5 - 1)


@pytest.mark.parametrize("a, b, out, macs, flops", [
    ((5,), (5, 6), [6], 6 * 5, 6 * 9),             # vector @ matrix
    ((4, 5), (5,), [4], 4 * 5, 4 * 9),             # matrix @ vector
    ((5,), (5,), [], 5, 9),                        # dot product
    ((2, 3, 5), (5,), [2, 3], 2 * 3 * 5, 2 * 3 * 9),
    ((5,), (2, 5, 6), [2, 6], 2 * 6 * 5, 2 * 6 * 9),
])
def test_matmul_one_dimensional_operands(a, b, out, macs, flops):
    row = cost("MatMul", {"a": a, "b": b})
    assert row.output_shapes == [out]
    assert (row.macs, row.flops) == (macs, flops)


def test_matmul_with_weight_counts_params():
    row = cost("MatMul", {"x": (1, 10, 64), "w": weight(64, 32)})
    assert row.macs == 10 * 32 * 64
    assert row.params == 64 * 32


def test_matmul_k_equal_one_is_an_outer_product():
    row = cost("MatMul", {"a": (4, 1), "b": (1, 6)})
    assert (row.macs, row.flops) == (24, 24)        # one multiply per output, no adds


# ---------------------------------------------------------------------------- Einsum


def test_einsum_matmul_like():
    row = cost("Einsum", {"a": (4, 5), "b": (5, 6)}, attrs={"equation": "ij,jk->ik"})
    assert row.output_shapes == [[4, 6]]
    assert row.macs == 4 * 5 * 6
    assert row.flops == (2 * 5 - 1) * 4 * 6


def test_einsum_implicit_output_is_matmul():
    row = cost("Einsum", {"a": (4, 5), "b": (5, 6)}, attrs={"equation": "ij,jk"})
    assert row.output_shapes == [[4, 6]]
    assert (row.macs, row.flops) == (4 * 5 * 6, 9 * 24)


def test_einsum_batched():
    row = cost("Einsum", {"a": (3, 4, 5), "b": (3, 5, 6)}, attrs={"equation": "bij,bjk->bik"})
    assert row.macs == 3 * 4 * 5 * 6
    assert row.flops == (2 * 5 - 1) * 3 * 4 * 6


def test_einsum_attention_scores():
    # q (B=2, H=4, S=7, D=8) . k (B, H, T=9, D) -> scores (B, H, S, T)
    row = cost("Einsum", {"q": (2, 4, 7, 8), "k": (2, 4, 9, 8)}, attrs={"equation": "bhsd,bhtd->bhst"})
    assert row.macs == 2 * 4 * 7 * 9 * 8
    assert row.flops == (2 * 8 - 1) * 2 * 4 * 7 * 9


def test_einsum_with_ellipsis():
    row = cost("Einsum", {"a": (2, 3, 4, 5), "b": (2, 3, 5, 6)}, attrs={"equation": "...ij,...jk->...ik"})
    assert row.output_shapes == [[2, 3, 4, 6]]
    assert row.macs == 2 * 3 * 4 * 5 * 6
    assert row.flops == (2 * 5 - 1) * 2 * 3 * 4 * 6


def test_einsum_with_ellipsis_broadcast_ranks():
    # b has no batch dims: the ellipsis is empty there
    row = cost("Einsum", {"a": (2, 3, 4, 5), "b": (5, 6)}, attrs={"equation": "...ij,jk->...ik"})
    assert row.output_shapes == [[2, 3, 4, 6]]
    assert row.macs == 2 * 3 * 4 * 5 * 6


def test_einsum_three_operand_chain_left_to_right():
    # (2x3)(3x4)(4x5): first ij,jk -> ik (j summed), then ik,kl -> il (k summed)
    row = cost("Einsum", {"a": (2, 3), "b": (3, 4), "c": (4, 5)}, attrs={"equation": "ij,jk,kl->il"})
    assert row.output_shapes == [[2, 5]]
    step1_macs, step1_flops = 2 * 3 * 4, (2 * 3 - 1) * 2 * 4
    step2_macs, step2_flops = 2 * 4 * 5, (2 * 4 - 1) * 2 * 5
    assert row.macs == step1_macs + step2_macs == 64
    assert row.flops == step1_flops + step2_flops == 110


def test_einsum_single_operand_reduction():
    row = cost("Einsum", {"a": (3, 4)}, attrs={"equation": "ij->i"})
    assert row.output_shapes == [[3]]
    assert row.macs == 0
    assert row.flops == (4 - 1) * 3


def test_einsum_single_operand_full_sum_and_trace():
    assert cost("Einsum", {"a": (3, 4)}, attrs={"equation": "ij->"}).flops == 3 * 4 - 1
    trace = cost("Einsum", {"a": (4, 4)}, attrs={"equation": "ii->"})
    assert (trace.macs, trace.flops) == (0, 4 - 1)


def test_einsum_single_operand_transpose_is_free():
    row = cost("Einsum", {"a": (3, 4)}, attrs={"equation": "ij->ji"})
    assert (row.macs, row.flops) == (0, 0)


def test_einsum_outer_product_multiplies_only():
    row = cost("Einsum", {"a": (3,), "b": (4,)}, attrs={"equation": "i,j->ij"})
    assert (row.macs, row.flops) == (12, 12)


def test_einsum_dot_product():
    row = cost("Einsum", {"a": (6,), "b": (6,)}, attrs={"equation": "i,i->"})
    assert (row.macs, row.flops) == (6, 2 * 6 - 1)


def test_matmul_integer_and_qlinear_matmul():
    report = run("MatMulInteger", {"a": ((3, 5, 16), TensorProto.UINT8),
                                   "b": np.ones((16, 4), np.int8)}, opset=10)
    row = layer(report, "MatMulInteger")
    assert (row.macs, row.flops) == (3 * 5 * 4 * 16, 3 * 5 * 4 * 31)
    assert report.totals.params == 64
    def scalar(value, dtype):
        return np.array(value, dtype=dtype)

    q = run("QLinearMatMul", {"a": ((2, 16), TensorProto.UINT8), "as": scalar(0.1, np.float32),
                              "az": scalar(0, np.uint8), "b": np.ones((16, 4), np.uint8),
                              "bs": scalar(0.1, np.float32), "bz": scalar(0, np.uint8),
                              "ys": scalar(0.1, np.float32), "yz": scalar(0, np.uint8)}, opset=10)
    row = layer(q, "QLinearMatMul")
    assert (row.macs, row.flops) == (2 * 4 * 16, 2 * 4 * (31 + 5))


# ------------------------------------------------------------------------------- Det
# LU with partial pivoting; step with m rows below the pivot: m+1 abs + m compares,
# m divides, m*m multiply-subtracts; then n-1 diagonal multiplies and 1 sign multiply.


def _det_by_hand(n):
    macs = sum(m * m for m in range(1, n))
    flops = sum((m + 1) + m + m + 2 * m * m for m in range(1, n)) + (n - 1) + 1
    return macs, flops


@pytest.mark.parametrize("shape, batch, n", [
    ((2, 2), 1, 2),
    ((3, 3), 1, 3),
    ((4, 3, 3), 4, 3),
    ((2, 5, 6, 6), 2 * 5, 6),
    ((1, 1), 1, 1),
])
def test_det(shape, batch, n):
    row = cost("Det", {"x": shape}, opset=22)
    macs, flops = _det_by_hand(n)
    assert (row.macs, row.flops) == (batch * macs, batch * flops)


def test_det_closed_forms():
    # 2x2: 2 abs + 1 compare, 1 divide, 1 multiply-subtract (2), 1 diagonal multiply, 1 sign
    assert _det_by_hand(2) == (1, 2 + 1 + 1 + 2 + 1 + 1)
    # 3x3: m=2: 3+2+2+8 = 15, m=1: 2+1+1+2 = 6, diagonal 2, sign 1 -> 24; MACs 4 + 1
    row = cost("Det", {"x": (3, 3)}, opset=22)
    assert (row.macs, row.flops) == (5, 15 + 6 + 2 + 1)


@pytest.mark.parametrize("shape", [(3, 4), (5,), (2, 3, 2)])
def test_det_of_non_square_input_is_refused(shape):
    report = run("Det", {"x": shape}, opset=22)
    row = layer(report, "Det")
    assert row.status != "ok" and row.flops is None
    assert "not a batch of square matrices" in row.reason


# ------------------------------------------- grouped matmul (PyTorch frontend only)
# torch._grouped_mm: G products with the groups cut by offsets (a Mixture-of-Experts
# layer's experts). ONNX has no such op; the PyTorch frontend emits flopscope's own
# ai.flopscope.GroupedMatMul. Offsets [2, 2, 6] leave group 1 empty: the count does not
# depend on them.


class _Grouped:
    def __init__(self, a, b, offs):
        self.a, self.b, self.offs = a, b, offs

    def module(self):
        torch = pytest.importorskip("torch")
        b, offs = self.b, self.offs

        class Grouped(torch.nn.Module):
            def forward(self, a):
                return torch._grouped_mm(a, torch.ones(b), offs=None if offs is None else
                                         torch.tensor(offs, dtype=torch.int32))
        return Grouped()


@pytest.mark.parametrize("a, b, offs, out, macs, flops", [
    # rows of A by group: M·K·N MACs, (2K−1)·M·N FLOPs
    ((6, 4), (3, 4, 8), [2, 2, 6], (6, 8), 6 * 4 * 8, 7 * 6 * 8),
    # columns of B by group: M·K·N_total
    ((3, 6, 4), (4, 12), [4, 4, 12], (6, 12), 6 * 4 * 12, 7 * 6 * 12),
    # the summed dim by group: M·K·N MACs, (2K−G)·M·N FLOPs over G outputs of M×N
    ((8, 8), (8, 8), [4, 8], (2, 8, 8), 8 * 8 * 8, (2 * 8 - 2) * 8 * 8),
    # a batched matmul: G·M·K·N
    ((3, 6, 4), (3, 4, 8), None, (3, 6, 8), 3 * 6 * 4 * 8, 7 * 3 * 6 * 8),
])
def test_grouped_matmul_by_hand_and_shaped_as_the_cpu_kernel(a, b, offs, out, macs, flops):
    torch = pytest.importorskip("torch")
    if not hasattr(torch, "_grouped_mm"):
        pytest.skip("this PyTorch has no torch._grouped_mm")
    from flopscope.analysis import analyze
    grouped = _Grouped(a, b, offs).module()
    real = grouped(torch.rand(a))                    # the CPU kernel runs float32 (not meta)
    report = analyze(grouped, inputs=(a,))
    (row,) = [r for r in report.layers if r.op == "ai.flopscope.GroupedMatMul"]
    assert tuple(real.shape) == out and row.output_shapes == [list(out)]
    assert (row.macs, row.flops) == (macs, flops)
    assert report.coverage.complete


@pytest.mark.parametrize("left, unit, b_shape, macs, flops", [
    # 3x3 lower-triangular A, 2 right-hand sides: 2·(0 + 1 + 2) MACs, 2·MACs + 2·3 divides
    (True, False, (5, 3, 2), 5 * 2 * 3, 5 * (2 * 2 * 3 + 2 * 3)),
    (True, True, (5, 3, 2), 5 * 2 * 3, 5 * 2 * 2 * 3),          # unit diagonal: no divides
    (False, False, (5, 4, 3), 5 * 4 * 3, 5 * (2 * 4 * 3 + 4 * 3)),  # X·A = B: 4 rows of X
])
def test_triangular_solve_by_substitution(left, unit, b_shape, macs, flops):
    torch = pytest.importorskip("torch")
    from flopscope.analysis import analyze

    class Solve(torch.nn.Module):
        def forward(self, a, b):
            return torch.linalg.solve_triangular(a, b, upper=False, left=left, unitriangular=unit)

    report = analyze(Solve(), ((5, 3, 3), b_shape))
    (row,) = [r for r in report.layers if r.op == "ai.flopscope.TriangularSolve"]
    assert (row.macs, row.flops) == (macs, flops) and report.coverage.complete
