"""Dense products: Gemm (Linear), MatMul with broadcast batch dims, Einsum, the
quantised MatMulInteger and QLinearMatMul, Det (an LU factorisation), and PyTorch's
grouped matmul (a Mixture-of-Experts layer's experts) and triangular solve."""

from __future__ import annotations

from collections.abc import Iterable
from math import prod

from flopscope.graph import FLOPSCOPE_DOMAIN, Node, RuleError
from flopscope.rules.constants import per_element
from flopscope.rules.registry import Cost, rule


@rule("Gemm", dot_product=True)
def gemm(node: Node) -> Cost:
    """Y = alpha·A'·B' + beta·C: MACs = M·N·K; FLOPs = (2K−1)·M·N.

    Plus M·N multiplies when alpha ≠ 1, and when C is used (beta ≠ 0) M·N adds, plus
    M·N multiplies when beta ≠ 1. The notes' 300→100 layer: 30,000 MACs and 59,900
    FLOPs without bias.
    """
    a = node.shape(0)
    if len(a) != 2:
        raise RuleError(f"Gemm '{node.name}': A must be 2-D, got {a}")
    k = a[0] if node.attr("transA", 0) else a[1]
    b = node.inputs[1] if len(node.inputs) > 1 else None
    if b is not None and b.dims is not None and len(b.dims) == 2:
        _same_k(node, k, b.dims[1] if node.attr("transB", 0) else b.dims[0])
    m, n = node.out_shape(0)
    outputs = m * n
    flops = max(2 * k - 1, 0) * outputs
    if node.attr("alpha", 1.0) != 1.0:
        flops += outputs
    beta = node.attr("beta", 1.0)
    if node.has_input(2) and beta != 0.0:
        flops += outputs * (1 if beta == 1.0 else 2)
    return Cost(macs=k * outputs, flops=flops)


def _matmul(node: Node, a_index: int, b_index: int) -> tuple[int, int]:
    """(K, outputs) of a numpy-style matmul of inputs ``a_index`` and ``b_index``."""
    a = node.shape(a_index)
    if not a:
        raise RuleError(f"{node.op} '{node.name}': scalar operand")
    k = a[-1]
    b = node.inputs[b_index] if len(node.inputs) > b_index else None
    if b is not None and b.dims:
        _same_k(node, k, b.dims[-2] if len(b.dims) > 1 else b.dims[0])
    return k, node.out_numel()


@rule("MatMul", dot_product=True)
def matmul(node: Node) -> Cost:
    """numpy matmul: MACs = batch·M·N·K over the broadcast batch dims; FLOPs = (2K−1) per output."""
    k, outputs = _matmul(node, 0, 1)
    return Cost(macs=k * outputs, flops=max(2 * k - 1, 0) * outputs)


@rule("MatMulInteger", dot_product=True)
def matmul_integer(node: Node) -> Cost:
    """Integer matmul (a, b, zero points): MatMul's MACs and 2K−1 operations per output."""
    k, outputs = _matmul(node, 0, 1)
    return Cost(macs=k * outputs, flops=max(2 * k - 1, 0) * outputs)


@rule("QLinearMatMul", dot_product=True)
def qlinear_matmul(node: Node) -> Cost:
    """Quantised matmul (a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp): MatMul's MACs,
    2K−1 per output, then requantisation priced as QuantizeLinear per output."""
    k, outputs = _matmul(node, 0, 3)
    return Cost(macs=k * outputs,
                flops=(max(2 * k - 1, 0) + per_element("QuantizeLinear")) * outputs)


@rule("GroupedMatMul", domain=FLOPSCOPE_DOMAIN, dot_product=True)
def grouped_matmul(node: Node) -> Cost:
    """``torch._grouped_mm(A, B, offs)``: G independent products, the groups cut by the
    offsets along one dim. Every row (or column, or summed index) falls in exactly one
    group, so the count does not depend on the offsets' values, only on the shapes:

    - A (M, K) with B (G, K, N): rows of A by group (the experts of a MoE layer, M
      token-expert pairs): MACs = M·K·N, (2K−1)·M·N FLOPs;
    - A (G, M, K) with B (K, N): columns of B by group: MACs = M·K·N;
    - A (M, K) with B (K, N), output (G, M, N): K cut into groups K₁…K_G: MACs = M·K·N,
      FLOPs = (2K−G)·M·N (each group's dot products are summed on their own);
    - A (G, M, K) with B (G, K, N): a batched matmul, MACs = G·M·K·N.

    A group the offsets leave empty, or rows past the last offset, would cost less; a
    Mixture-of-Experts router sends every token-expert pair to one expert.
    """
    a, b = node.shape(0), node.shape(1)
    if len(a) not in (2, 3) or len(b) not in (2, 3):
        raise RuleError(f"GroupedMatMul '{node.name}': operands must be 2-D or 3-D, got {a} and {b}")
    _same_k(node, a[-1], b[-2])
    k = a[-1]
    if len(a) == 2 and len(b) == 2:
        groups, m, n = node.out_shape(0)
        return Cost(macs=m * k * n, flops=max(2 * k - groups, 0) * m * n)
    outputs = node.out_numel()
    return Cost(macs=k * outputs, flops=max(2 * k - 1, 0) * outputs)


def _same_k(node: Node, k_a: int, k_b: int) -> None:
    """A and B must agree on the summed dim: a model where they do not cannot run, and
    costing it from A alone would report a number for it."""
    if k_a != k_b:
        raise RuleError(f"{node.op} '{node.name}': A's inner dim {k_a} does not match B's {k_b}")


def _einsum_terms(equation: str, shapes: list[tuple[int, ...]]) -> tuple[list[str], str, dict[str, int]]:
    """Split an einsum equation into operand labels and output labels, with label sizes.

    An ellipsis becomes upper-case-free private labels, broadcast right-aligned.
    """
    eq = equation.replace(" ", "")
    lhs, _, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise RuleError(f"Einsum equation '{equation}' names {len(terms)} operands, "
                        f"got {len(shapes)}")
    ell_rank = max((len(s) - (len(t) - 3) for t, s in zip(terms, shapes) if "..." in t), default=0)
    ell = "".join(chr(0x391 + i) for i in range(ell_rank))  # Greek capitals: never user labels
    sizes: dict[str, int] = {}
    out_terms = []
    for term, shape in zip(terms, shapes):
        if "..." in term:
            own = len(shape) - (len(term) - 3)
            term = term.replace("...", ell[ell_rank - own:] if own else "")
        if len(term) != len(shape):
            raise RuleError(f"Einsum operand '{term}' does not fit shape {shape}")
        for label, size in zip(term, shape):
            if sizes.get(label, 1) == 1:
                sizes[label] = size
            elif size not in (1, sizes[label]):
                raise RuleError(f"Einsum label '{label}' has sizes {sizes[label]} and {size}")
        out_terms.append(term)
    if _ == "":  # implicit output: labels seen once, sorted, after the ellipsis
        counts = {c: "".join(out_terms).count(c) for c in sizes}
        rhs = ell + "".join(sorted(c for c, k in counts.items() if k == 1 and c not in ell))
    else:
        rhs = rhs.replace("...", ell)
    return out_terms, rhs, sizes


@rule("Einsum", dot_product=True)
def einsum(node: Node) -> Cost:
    """Contract operands pairwise, left to right; each step is a batched dot product.

    For a step over labels L, keeping labels K (in the output or a later operand) and
    summing the rest S: MACs = ∏L, FLOPs = (2·∏S − 1)·∏K. A single operand is a pure
    reduction: 0 MACs, (∏S − 1)·∏K adds.
    """
    shapes = [node.shape(i) for i in range(len(node.inputs))]
    terms, out, sizes = _einsum_terms(node.attr("equation", ""), shapes)

    def size(labels: Iterable[str]) -> int:
        return prod(sizes[c] for c in labels)

    if len(terms) == 1:
        summed = set(terms[0]) - set(out)
        kept = set(terms[0]) & set(out)
        return Cost(flops=max(size(summed) - 1, 0) * size(kept) if summed else 0)
    macs = flops = 0
    current = terms[0]
    for i, term in enumerate(terms[1:], start=1):
        later = set(out).union(*terms[i + 1:])
        labels = set(current) | set(term)
        kept = {c for c in labels if c in later}
        summed = labels - kept
        macs += size(labels)
        flops += max(2 * size(summed) - 1, 0) * size(kept)
        current = "".join(sorted(kept))
    return Cost(macs=macs, flops=flops)


def _det_counts(n: int) -> tuple[int, int]:
    """(MACs, FLOPs) of the determinant of one n×n matrix by LU with partial pivoting."""
    if n <= 0:
        return 0, 0  # the empty matrix: det = 1, a constant
    macs = (n - 1) * n * (2 * n - 1) // 6           # Σ_{m=1}^{n−1} m² multiply-subtracts
    flops = (2 * macs                               # each a multiply and a subtract
             + n * (n - 1) // 2                     # Σ m divides by the pivot
             + n * n - 1                            # Σ (m+1 abs + m compares) pivot search
             + (n - 1)                              # product of the n diagonal entries
             + 1)                                   # times the permutation's sign (±1)
    return macs, flops


@rule("TriangularSolve", domain=FLOPSCOPE_DOMAIN, dot_product=True)
def triangular_solve(node: Node) -> Cost:
    """``torch.linalg.solve_triangular``: A·X = B for A (…, n, n) triangular and B
    (…, n, k) (or X·A = B, B (…, k, n), with ``left`` = 0), by substitution: unknown i
    of each of the k right-hand sides takes the i already found, one multiply-add each,
    then a divide by the diagonal (none when ``unitriangular``).
    MACs = k·n(n−1)/2 per matrix; FLOPs = 2·MACs + k·n divides. Times the batch of the
    output. A 3×3 system with 2 right-hand sides: 6 MACs, 18 FLOPs.
    """
    a, y = node.shape(0), node.out_shape(0)
    if len(a) < 2 or a[-1] != a[-2] or len(y) < 2:
        raise RuleError(f"TriangularSolve '{node.name}': A {a} is not a batch of square matrices")
    n = a[-1]
    k = y[-1] if node.attr("left", 1) else y[-2]
    systems = prod(y[:-2]) * k
    macs = systems * n * (n - 1) // 2
    divides = 0 if node.attr("unitriangular", 0) else systems * n
    return Cost(macs=macs, flops=2 * macs + divides)


@rule("Det", dot_product=True)
def det(node: Node) -> Cost:
    """Determinant of each n×n matrix of (…, n, n) by Gaussian elimination (LU) with
    partial pivoting, as LAPACK getrf and Eigen's PartialPivLU do it.

    Step k = 1…n−1 leaves m = n−k rows below the pivot: pick the pivot of largest
    magnitude among m+1 (m+1 abs, m compares; the row swap is data movement), m
    divides for the multipliers, and an m×m update aᵢⱼ −= lᵢ·uⱼ (m² multiply-adds).
    Then n−1 multiplies for the diagonal product and one multiply by the sign of the
    row permutation (its parity is integer work). Per matrix:
    MACs = Σm² = (n−1)n(2n−1)/6 ≈ n³/3; FLOPs = 2·MACs + n(n−1)/2 + (n²−1) + (n−1) + 1.
    Times the batch ∏(…). A 2×2 matrix: 1 MAC, 8 FLOPs.
    """
    x = node.shape(0)
    if len(x) < 2 or x[-1] != x[-2]:
        raise RuleError(f"Det '{node.name}': input {x} is not a batch of square matrices")
    macs, flops = _det_counts(x[-1])
    batch = prod(x[:-2])
    return Cost(macs=batch * macs, flops=batch * flops)
