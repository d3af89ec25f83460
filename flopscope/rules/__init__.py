"""Cost rules, one module per op family; importing this package registers them all.

The ops whose rule is their price per element and nothing more are registered last,
from the price table itself (:func:`flopscope.rules.elementwise.register_priced`): every
entry of ``FLOPS_PER_ELEMENT`` that no family module gave a rule of its own.
"""

from flopscope.rules import (  # noqa: F401  (registration by import)
    activation,
    attention,
    backward,
    contrib_activation,
    contrib_attention,
    contrib_moe,
    contrib_movement,
    contrib_norm,
    conv,
    decoder,
    elementwise,
    fused,
    loss,
    matmul,
    movement,
    norm,
    pool,
    quantized_ops,
    recurrent,
    reduce,
    resize,
    sampling,
    signal,
    spatial,
)
from flopscope.rules.registry import Cost, get_rule, is_dot_product, qualify, rule, supported_ops

elementwise.register_priced()

__all__ = ["Cost", "get_rule", "is_dot_product", "qualify", "rule", "supported_ops"]
