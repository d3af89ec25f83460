"""The rule registry: one pure function per op, registered once by decorator.

Ops are keyed by their qualified name (:func:`qualify`): bare for the ONNX standard
domain, ``domain.Op`` otherwise. flopscope's own ops, which the ONNX standard lacks
(PyTorch's adaptive pooling), live in :data:`flopscope.graph.FLOPSCOPE_DOMAIN`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flopscope.graph import Node


@dataclass(frozen=True, slots=True)
class Cost:
    """What one execution of a node costs.

    ``macs`` counts multiply-accumulates of dot-product ops only; ``flops`` counts every
    floating-point operation under flopscope's convention (see ``rules/constants.py``).
    """

    macs: int = 0
    flops: int = 0


Rule = Callable[[Node], Cost]

_RULES: dict[str, Rule] = {}

#: ops whose MACs are dot products (see :func:`is_dot_product`)
_DOT_PRODUCT: set[str] = set()


def rule(*ops: str, domain: str = "", dot_product: bool = False) -> Callable[[Rule], Rule]:
    """Register ``fn`` as the cost rule of ``ops``; registering an op twice is an error.

    ``dot_product`` marks ops whose MACs are dot products (Conv, MatMul, attention...).

    The registry is global: this example registers into it for the ``with`` block only.

    >>> from unittest import mock
    >>> with mock.patch.dict("flopscope.rules.registry._RULES"):
    ...     @rule("MyOp", domain="com.example")
    ...     def my_op(node):
    ...         return Cost(flops=node.out_numel())
    ...     print(get_rule("com.example.MyOp") is my_op)
    True
    >>> get_rule("com.example.MyOp") is None
    True
    """

    def register(fn: Rule) -> Rule:
        keys = [qualify(op, domain) for op in ops]
        taken = [key for key in keys if key in _RULES or keys.count(key) > 1]
        if taken:  # checked before registering any, so a failed call changes nothing
            raise RuntimeError(f"duplicate cost rule for op '{taken[0]}'")
        for key in keys:
            _RULES[key] = fn
            if dot_product:
                _DOT_PRODUCT.add(key)
        return fn

    return register


def qualify(op: str, domain: str = "") -> str:
    """Registry key of an op: bare for the default domain, ``domain.Op`` otherwise.

    >>> qualify("Conv"), qualify("AdaptiveMaxPool", "ai.flopscope")
    ('Conv', 'ai.flopscope.AdaptiveMaxPool')
    """
    return op if domain in ("", "ai.onnx") else f"{domain}.{op}"


def get_rule(qualified_op: str) -> Rule | None:
    """The rule for ``qualified_op``, or None when the op is unsupported."""
    return _RULES.get(qualified_op)


def is_dot_product(qualified_op: str) -> bool:
    """True when ``qualified_op`` has a rule whose MACs are dot products.

    >>> is_dot_product("Conv"), is_dot_product("Relu"), is_dot_product("com.example.Foo")
    (True, False, False)
    """
    return qualified_op in _DOT_PRODUCT


def supported_ops() -> list[str]:
    """Every op that has a cost rule, sorted.

    >>> "Conv" in supported_ops() and "ai.flopscope.AdaptiveAveragePool" in supported_ops()
    True
    """
    return sorted(_RULES)
