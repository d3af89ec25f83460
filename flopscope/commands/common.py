"""Options and parsing shared by the subcommands."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from flopscope.errors import FlopscopeError


def add_model_options(p: argparse.ArgumentParser, model: bool = True) -> None:
    """MODEL, --input-shape and --dim."""
    if model:
        p.add_argument("model", help="an .onnx file, a reference architecture name (resnet50) "
                                     "or path/to/file.py:factory (runs that file's code)")
    p.add_argument("--input-shape", action="append", metavar="[NAME=]1x3x224x224[:dtype]",
                   help="bind an input's shape (repeatable)")
    p.add_argument("--dim", action="append", metavar="NAME=SIZE",
                   help="bind a symbolic dimension, e.g. N=8 (repeatable)")


def add_training_options(p: argparse.ArgumentParser, defaults: bool = True,
                         fallback: str = "") -> None:
    """--mode, --optimizer, --precision and --frozen, with the vocabularies of
    :mod:`flopscope.training`. ``defaults=False`` leaves them None when not given (for a
    command that must tell a given flag from its default); ``fallback`` says where the
    defaults come from first (``"the baseline's"``)."""
    from flopscope.report import Training
    from flopscope.training import MODES, OPTIMIZERS, PRECISIONS

    default = Training()
    first = f"{fallback}, else " if fallback else ""
    p.add_argument("--mode", choices=MODES, default=MODES[0] if defaults else None,
                   help=f"train: forward + backward, optimizer step and training memory "
                        f"(default {first}{MODES[0]})")
    p.add_argument("--optimizer", choices=tuple(OPTIMIZERS), default=default.optimizer if defaults else None,
                   help=f"train mode: the optimizer whose step and state are costed "
                        f"(default {first}{default.optimizer})")
    p.add_argument("--precision", choices=tuple(PRECISIONS), default=default.precision if defaults else None,
                   help=f"train mode: fp32, or half-precision weights/grads with fp32 master "
                        f"weights and state (default {first}{default.precision})")
    p.add_argument("--frozen", action="append", default=[], metavar="PATTERN",
                   help="train mode: freeze parameters whose name matches this glob (repeatable)")


def emit(text: str, output: str | None, inputs: Sequence[str] = ()) -> None:
    """Write ``text`` to ``output`` (a path) or stdout. An ``output`` that is one of the
    command's ``inputs`` (the model, a baseline) is refused: the tool never overwrites
    what it was given."""
    if output:
        for given in inputs:
            if _same_file(output, given):
                raise FlopscopeError(f"-o {output} is the input {given}; flopscope never overwrites "
                                     "what it reads")
        try:
            with open(output, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as exc:
            raise FlopscopeError(f"cannot write {output}: {exc.strerror or exc}") from None
    else:
        sys.stdout.write(text)


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def non_negative(flag: str, value: int | None) -> None:
    if value is not None and value < 0:
        raise FlopscopeError(f"{flag} must be >= 0")
