"""Errors a user can act on. The CLI prints them as one line and exits with code 2.

A message that tells the user what to give says it in the caller's words: Python
keyword arguments for the API (``input_shapes={'x': (1, 3, 224, 224)}``), flags for the
command line (``--input-shape x=1x3x224x224``), which installs its spelling with
:func:`cli_spelling` for the length of a command.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

LIMIT = 300
"""Default length of a one-line message: enough for an exception's first sentence and the
name it quotes, short enough that a message embedding it still fits a terminal or two."""

MESSAGE_LIMIT = 2000
"""Length of the CLI's final error line. A :class:`FlopscopeError` may embed several
one-line causes (export tries up to three exporters and quotes each), so it gets more room."""

_WORD = re.compile(r"\S+")


class FlopscopeError(Exception):
    """Unusable input: a missing or malformed model, a bad flag, a shape that does not fit.

    >>> try:
    ...     flopscope.analyze("missing.onnx")
    ... except flopscope.FlopscopeError as exc:
    ...     print(exc)
    missing.onnx: no such file
    """

    exit_code = 2


def one_line(message: str | BaseException, limit: int = LIMIT, *, named: bool = False) -> str:
    """``message`` as one line of at most ``limit`` characters, whatever user code or a
    hostile file put in it (newlines, runs of blanks, megabytes): whitespace collapses to
    single spaces and a cut text ends in "...". An exception whose message is empty reads
    as its type name; with ``named`` the type name always leads ("ValueError: bad value"),
    in front of the ``limit`` characters of message.

    >>> one_line("shape mismatch:\\n  expected 3\\n  got 4")
    'shape mismatch: expected 3 got 4'
    >>> one_line(KeyError())
    'KeyError'
    >>> one_line(ValueError("bad value"), named=True)
    'ValueError: bad value'
    >>> one_line("x" * 1_000_000, limit=10)
    'xxxxxxx...'
    """
    text = message if isinstance(message, str) else _text(message)
    words: list[str] = []
    size = -1
    for match in _WORD.finditer(text):   # stops early: megabytes cost only what is kept
        words.append(match.group())
        size += len(words[-1]) + 1
        if size > limit:
            break
    line = " ".join(words)
    if len(line) > limit:
        line = line[:limit - 3] + "..." if limit > 3 else line[:limit]
    if isinstance(message, BaseException):
        kind = type(message).__name__
        if not line:
            return kind
        if named:
            return f"{kind}: {line}"
    return line


def _text(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:   # a __str__ that raises must not hide the original error
        return ""


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
