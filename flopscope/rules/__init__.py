"""Cost rules, one module per op family; importing this package registers them all."""

from flopscope.rules import (  # noqa: F401  (registration by import)
    activation,
    attention,
    contrib_activation,
    contrib_attention,
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
from flopscope.rules.registry import DOT_PRODUCT_OPS, Cost, get_rule, qualify, rule, supported_ops

__all__ = ["DOT_PRODUCT_OPS", "Cost", "get_rule", "qualify", "rule", "supported_ops"]
