"""Elementwise math, comparisons, logic and selection, priced from ``rules/constants.py``.

Unary and binary ops cost their table price per output element (binary ones after
broadcasting) and are registered from the table itself (:func:`register_priced`), not
listed here. The variadic Sum / Max / Min / Mean cost it once per output element for every input after the
first, and Mean one divide more.
"""

from __future__ import annotations

from math import prod

from flopscope.graph import Node
from flopscope.rules.constants import FLOPS_PER_ELEMENT, per_element
from flopscope.rules.registry import Cost, Rule, get_rule, rule


def _priced(op: str) -> Rule:
    def cost(node: Node) -> Cost:
        return Cost(flops=per_element(op) * node.out_numel())
    cost.__name__ = cost.__qualname__ = f"elementwise_{op}"
    cost.__doc__ = f"{op}: FLOPs = FLOPS_PER_ELEMENT['{op}'] per output element."
    return cost


def register_priced() -> list[str]:
    """Register every op of the price table that has no rule yet as costing its price
    per output element, and return them.

    ``flopscope.rules`` calls this once, after every family module has registered its
    own rules: an entry whose op has a rule of its own (Swish, Clip, the variadic Sum,
    BatchNormalization...) is priced by that rule, and a variant key ``Op.variant``
    (``Gelu.tanh``) prices a form of ``Op`` that ``Op``'s rule picks. So adding a plain
    per-element op is one line in ``rules/constants.py``.
    """
    added = [op for op in FLOPS_PER_ELEMENT if "." not in op and get_rule(op) is None]
    for op in added:
        rule(op)(_priced(op))
    return added


@rule("DynamicQuantizeLinear")
def dynamic_quantize_linear(node: Node) -> Cost:
    """QuantizeLinear with its scale and zero point computed from the data, for n input
    elements: the min and the max of x, 2(n−1) compares; the scale (max(0, ·),
    min(0, ·), subtract, divide by qmax − qmin) 4; the zero point (divide, subtract from
    qmin, saturate (min and max), round) 5; then QuantizeLinear's table price per element."""
    n = prod(node.shape(0))
    return Cost(flops=2 * max(n - 1, 0) + 4 + 5 + per_element("QuantizeLinear") * n)


def _variadic(op: str, extra_per_element: int = 0) -> Rule:
    def cost(node: Node) -> Cost:
        k = sum(1 for t in node.inputs if t is not None)
        if k <= 1:
            return Cost()
        return Cost(flops=((k - 1) * per_element(op) + extra_per_element) * node.out_numel())
    cost.__name__ = cost.__qualname__ = f"variadic_{op}"
    cost.__doc__ = (f"{op} of k inputs: (k−1)·FLOPS_PER_ELEMENT['{op}']"
                    + (f" + {extra_per_element}" if extra_per_element else "")
                    + " FLOPs per output element; 0 for a single input.")
    return cost


rule("Sum")(_variadic("Sum"))
rule("Max")(_variadic("Max"))
rule("Min")(_variadic("Min"))
rule("Mean")(_variadic("Mean", extra_per_element=1))  # the divide by the input count
