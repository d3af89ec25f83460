"""Cost rules, one module per op family; importing this package registers them all."""

from flopscope.rules import (  # noqa: F401  (registration by import)
    activation,
    attention,
    conv,
    decoder,
    elementwise,
    loss,
    matmul,
    movement,
    norm,
    pool,
    recurrent,
    reduce,
    resize,
    sampling,
    signal,
    spatial,
)
from flopscope.rules.registry import DOT_PRODUCT_OPS, Cost, get_rule, qualify, rule, supported_ops

__all__ = ["DOT_PRODUCT_OPS", "Cost", "get_rule", "qualify", "rule", "supported_ops"]
