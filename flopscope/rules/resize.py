"""Resampling: Resize and the older Upsample.

Per output element, with d = the number of axes whose size changes:
nearest copies (0 FLOPs); linear blends 2^d taps by 2^d−1 lerps of 3 FLOPs (subtract,
multiply, add); cubic weights 4^d taps (4^d multiplies, 4^d−1 adds). Coordinate
arithmetic is per axis, not per element, and is not counted.
"""

from __future__ import annotations

from flopscope.graph import Node, ValueUnknown
from flopscope.rules.registry import Cost, rule


@rule("Resize", "Upsample")
def resize(node: Node) -> Cost:
    """See the module docstring; antialiased downscaling (opset 18) widens the taps and
    is reported as unresolved rather than guessed."""
    x, y = node.shape(0), node.out_shape(0)
    d = sum(1 for a, b in zip(x, y) if a != b)
    mode = node.attr("mode", "nearest")
    if mode == "nearest" or d == 0:
        return Cost()
    if node.attr("antialias", 0) and any(b < a for a, b in zip(x, y)):
        raise ValueUnknown(f"Resize '{node.name}': antialiased downscaling tap count not modelled")
    per_output = 3 * (2**d - 1) if mode in ("linear", "bilinear") else 2 * 4**d - 1
    return Cost(flops=per_output * node.out_numel())
