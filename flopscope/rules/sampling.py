"""Random sampling: RandomUniform(Like), RandomNormal(Like), Bernoulli, Multinomial.

flopscope's convention for random numbers, used by every rule here:

- The generator itself (Philox, Mersenne Twister...) works on integers: its bit
  mixing is not floating point, 0 FLOPs, and so is turning its integer into a float
  (a Cast, 0 FLOPs as everywhere in flopscope).
- A unit uniform u in [0, 1) is those bits scaled by 2⁻ᵏ: 1 multiply.
- Uniform on [low, high): u·(high − low) + low: the unit uniform, a multiply and an
  add, 3 FLOPs per element (high − low is folded from the attributes once, 0). The
  count does not depend on ``low``/``high``: a generic kernel applies both.
- Normal: Box–Muller turns a pair of unit uniforms into two normals,
  r = sqrt(−2·ln u₁), θ = 2π·u₂, z₀ = r·cos θ, z₁ = r·sin θ: 2 unit uniforms (2), log,
  multiply by −2, sqrt, multiply by 2π, cos, sin and two multiplies: 10 FLOPs per pair;
  an odd count still draws a whole pair for its last element. Then each element is
  scaled and shifted (z·scale + mean): 2 FLOPs. For n outputs: 10·⌈n/2⌉ + 2n.
- Bernoulli: one unit uniform and one compare with p per element: 2 FLOPs.
- Multinomial: inverse-CDF sampling, as onnxruntime and TensorFlow do it; see the rule.
"""

from __future__ import annotations

from flopscope.graph import Node, RuleError
from flopscope.rules.registry import Cost, rule

UNIT_UNIFORM = 1      # integer bits times 2^-k
UNIFORM = UNIT_UNIFORM + 2  # then multiply by (high - low), add low
BOX_MULLER_PAIR = 2 * UNIT_UNIFORM + 8  # log, *-2, sqrt, *2pi, cos, sin, 2 multiplies
NORMAL_AFFINE = 2     # multiply scale, add mean
BERNOULLI = UNIT_UNIFORM + 1  # compare with p


@rule("RandomUniform", "RandomUniformLike")
def random_uniform(node: Node) -> Cost:
    """u·(high − low) + low per element: unit uniform (1), multiply (1), add (1): 3 FLOPs.

    The generator's integer work is not floating point. RandomUniform takes its shape
    from the ``shape`` attribute, RandomUniformLike from its input: the same per element.
    """
    return Cost(flops=UNIFORM * node.out_numel())


@rule("RandomNormal", "RandomNormalLike")
def random_normal(node: Node) -> Cost:
    """Box–Muller: 10 FLOPs per pair of outputs (2 unit uniforms, log, ×−2, sqrt, ×2π,
    cos, sin, 2 multiplies), ⌈n/2⌉ pairs, then z·scale + mean (2 per element):
    10·⌈n/2⌉ + 2n FLOPs for n outputs."""
    n = node.out_numel()
    return Cost(flops=BOX_MULLER_PAIR * ((n + 1) // 2) + NORMAL_AFFINE * n)


@rule("Bernoulli")
def bernoulli(node: Node) -> Cost:
    """One unit uniform (1) and one compare with the probability p (1) per element: 2 FLOPs."""
    return Cost(flops=BERNOULLI * node.out_numel())


@rule("Multinomial")
def multinomial(node: Node) -> Cost:
    """Inverse-CDF sampling from unnormalised log-probabilities (batch, C), s samples a row.

    Per row, the CDF of exp(x − max): max (C−1 compares), subtract (C), exp (C), running
    sum (C−1 adds): 4C−2. Per sample: a unit uniform (1) times the total (1), then a
    binary search (upper_bound) of the CDF: at most bit_length(C) = ⌈log2(C+1)⌉
    compares, counted at that worst case. FLOPs = batch·(4C−2 + s·(2 + bit_length(C))).
    """
    x = node.shape(0)
    if len(x) != 2:
        raise RuleError(f"Multinomial '{node.name}': input must be (batch, classes), got {x}")
    batch, classes = x
    if classes < 1:
        raise RuleError(f"Multinomial '{node.name}': no classes to sample from ({x})")
    samples = node.attr("sample_size", 1)
    per_row = 4 * classes - 2 + samples * (UNIT_UNIFORM + 1 + classes.bit_length())
    return Cost(flops=batch * per_row)

