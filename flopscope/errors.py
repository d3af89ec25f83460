"""Errors a user can act on. The CLI prints them as one line and exits with code 2."""

from __future__ import annotations


class FlopscopeError(Exception):
    """Unusable input: a missing or malformed model, a bad flag, a shape that does not fit.

    >>> try:
    ...     flopscope.analyze("missing.onnx")
    ... except flopscope.FlopscopeError as exc:
    ...     print(exc)                                   # doctest: +SKIP
    missing.onnx: no such file
    """

    exit_code = 2
