"""The FLOP price of every elementwise op, in one table.

flopscope's convention (stated in every report): each add, subtract, multiply, divide,
exponential, logarithm, square root, power, erf and compare counts as one FLOP. The
per-element price of an op is the number of those primitives in its formula; the
derivation stands beside each entry. The notes' two anchors: ReLU is one FLOP per
element, the sigmoid four.

Users can override entries for one analysis (``analyze(..., flop_table={...})``) or by
hand with :func:`overridden`; rules read the active table through :func:`per_element`.
Compound ops (softmax, normalisations, pooling, attention, recurrent cells) spell their
formula out in their own rule, from the same one-FLOP primitives.

The table is also the registration of the plain ops: an entry whose op has no rule of
its own is registered as costing its price per output element
(``rules.elementwise.register_priced``). A key ``Op.variant`` (``Gelu.tanh``) prices a
form of ``Op`` that ``Op``'s own rule picks; it is not an op.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType

FLOPS_PER_ELEMENT: Mapping[str, int] = MappingProxyType({
    # activations
    "Relu": 1,              # max(x, 0)
    "LeakyRelu": 2,         # compare, multiply
    "PRelu": 2,             # compare, multiply
    "ThresholdedRelu": 1,   # compare
    "Elu": 4,               # compare, exp, subtract 1, multiply alpha
    "Celu": 5,              # compare, divide, exp, subtract 1, multiply alpha
    "Selu": 5,              # compare, exp, subtract 1, multiply alpha, multiply gamma
    "Sigmoid": 4,           # negate, exp, add 1, divide (the notes' count)
    "HardSigmoid": 4,       # multiply alpha, add beta, min 1, max 0
    "HardSwish": 5,         # HardSigmoid (4) then multiply by x
    "Swish": 5,             # Sigmoid (4) then multiply by x
    "Tanh": 5,              # multiply 2, exp, subtract 1, add 1, divide
    "Gelu": 5,              # divide sqrt(2), erf, add 1, multiply x, multiply 0.5
    "Gelu.tanh": 9,         # x^3 (2), mul 0.044715, add, mul sqrt(2/pi), tanh as one
                            # primitive, add 1, multiply x, multiply 0.5
    "Softplus": 3,          # exp, add 1, log
    "Softsign": 3,          # abs, add 1, divide
    "Mish": 9,              # Softplus (3), Tanh (5), multiply x
    "Clip": 1,              # per bound given: one min and/or one max
    "Shrink": 2,            # compare, add or subtract the bias
    # unary math
    "Erf": 1, "Exp": 1, "Log": 1, "Sqrt": 1, "Neg": 1, "Abs": 1, "Reciprocal": 1,
    "Sign": 1, "Floor": 1, "Ceil": 1, "Round": 1,
    "Sin": 1, "Cos": 1, "Tan": 1, "Asin": 1, "Acos": 1, "Atan": 1,
    "Sinh": 1, "Cosh": 1, "Asinh": 1, "Acosh": 1, "Atanh": 1,
    "IsNaN": 1, "IsInf": 1, "Not": 1, "BitwiseNot": 1,
    # binary math (per output element, after broadcasting)
    "Add": 1, "Sub": 1, "Mul": 1, "Div": 1, "Pow": 1, "Mod": 1,
    "Equal": 1, "Less": 1, "LessOrEqual": 1, "Greater": 1, "GreaterOrEqual": 1,
    "And": 1, "Or": 1, "Xor": 1, "BitShift": 1,
    "BitwiseAnd": 1, "BitwiseOr": 1, "BitwiseXor": 1,
    "Where": 1,             # one select per output element
    # variadic (per output element, per input after the first)
    "Sum": 1, "Max": 1, "Min": 1, "Mean": 1,  # Mean adds one divide per element
    # inference-time normalisation
    "BatchNormalization": 2,  # scale and shift folded: x * s + b
    # quantisation
    "DequantizeLinear": 2,  # subtract zero point, multiply scale
    "QuantizeLinear": 5,    # divide scale, round, add zero point, saturate (min, max)
})

_active: ContextVar[Mapping[str, int]] = ContextVar("flopscope_flop_table",
                                                   default=FLOPS_PER_ELEMENT)


def per_element(op: str) -> int:
    """FLOPs per element of ``op`` under the active table."""
    return _active.get()[op]


@contextmanager
def overridden(overrides: Mapping[str, int] | None) -> Iterator[Mapping[str, int]]:
    """Use ``overrides`` on top of the default table inside the ``with`` block.

    >>> with overridden({"Sigmoid": 1}):
    ...     per_element("Sigmoid")
    1
    """
    if not overrides:
        yield _active.get()
        return
    unknown = sorted(set(overrides) - set(FLOPS_PER_ELEMENT))
    if unknown:
        raise ValueError(f"unknown entries in FLOP table: {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(FLOPS_PER_ELEMENT))}")
    for key, value in overrides.items():
        if type(value) is not int or value < 0:
            raise ValueError(f"FLOP table entry {key}={value!r} must be an integer >= 0")
    token = _active.set(MappingProxyType({**_active.get(), **overrides}))
    try:
        yield _active.get()
    finally:
        _active.reset(token)
