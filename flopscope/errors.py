"""Errors a user can act on. The CLI prints them as one line and exits with code 2.

A message that tells the user what to give says it in the caller's words: Python
keyword arguments for the API (``input_shapes={'x': (1, 3, 224, 224)}``), flags for the
command line (``--input-shape x=1x3x224x224``), which installs its spelling with
:func:`cli_spelling` for the length of a command.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar


class FlopscopeError(Exception):
    """Unusable input: a missing or malformed model, a bad flag, a shape that does not fit.

    >>> try:
    ...     flopscope.analyze("missing.onnx")
    ... except flopscope.FlopscopeError as exc:
    ...     print(exc)                                   # doctest: +SKIP
    missing.onnx: no such file
    """

    exit_code = 2


_CLI: ContextVar[bool] = ContextVar("flopscope_cli_spelling", default=False)


@contextmanager
def cli_spelling() -> Iterator[None]:
    """Within this block, messages name command-line flags instead of Python arguments.

    >>> with cli_spelling():
    ...     print(option("dims", "--dim"))
    --dim
    >>> option("dims", "--dim")
    'dims'
    """
    token = _CLI.set(True)
    try:
        yield
    finally:
        _CLI.reset(token)


def option(python: str, cli: str) -> str:
    """``python`` (an argument's name) or, under :func:`cli_spelling`, ``cli`` (its flag)."""
    return cli if _CLI.get() else python


def shape_hint(name: str = "", shape: Sequence[int] = (1, 3, 224, 224), dtype: str = "") -> str:
    """How to give one input's shape, in the caller's words.

    >>> shape_hint("x", (1, 3, 8, 8)), shape_hint("", (1, 3, 8, 8))
    ("input_shapes={'x': (1, 3, 8, 8)}", 'inputs=(1, 3, 8, 8)')
    >>> shape_hint("input_ids", (1, 128), "int64")
    "input_shapes={'input_ids': ((1, 128), 'int64')}"
    >>> with cli_spelling():
    ...     print(shape_hint("input_ids", (1, 128), "int64"))
    --input-shape input_ids=1x128:int64
    """
    dims = tuple(shape)
    if _CLI.get():
        text = "x".join(str(d) for d in dims) + (f":{dtype}" if dtype else "")
        return f"--input-shape {name + '=' if name else ''}{text}"
    value = repr((dims, dtype)) if dtype else repr(dims)
    return f"input_shapes={{{name!r}: {value}}}" if name else f"inputs={value}"


def dim_hint(symbol: str = "N", size: str = "SIZE") -> str:
    """How to bind a symbolic dimension, in the caller's words.

    >>> dim_hint("N", "8")
    "dims={'N': 8}"
    >>> with cli_spelling():
    ...     print(dim_hint("N"))
    --dim N=SIZE
    """
    return f"--dim {symbol}={size}" if _CLI.get() else f"dims={{{symbol!r}: {size}}}"
