"""Progress on stderr, the CLI's side of the library's progress callbacks.

The library reports progress through callbacks (``bench(progress=...)``,
``run_zoo(log=...)``) and never writes to a stream; the commands supply these.

>>> import io
>>> out = io.StringIO()
>>> bar = ProgressBar(out, width=4)
>>> bar.update("measure", 1.0, "3 runs")
>>> out.getvalue().startswith("\\rmeasure  [####] 100% 3 runs")
True
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


class ProgressBar:
    """A carriage-return progress bar, redrawn at most ten times a second.

    :meth:`update` has the signature of the library's progress callback,
    ``progress(phase, fraction, detail)``; :meth:`close` wipes the line.
    """

    def __init__(self, stream: TextIO, width: int = 28):
        self.stream = stream
        self.width = width
        self._last = 0

    def update(self, phase: str, fraction: float, detail: str = "") -> None:
        now = time.monotonic_ns()
        if now - self._last < 100_000_000 and fraction < 1:
            return
        self._last = now
        fraction = min(max(fraction, 0.0), 1.0)
        filled = int(fraction * self.width)
        self.stream.write(f"\r{phase:<8} [{'#' * filled}{'.' * (self.width - filled)}] "
                          f"{100 * fraction:3.0f}% {detail:<24}")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\r" + " " * (self.width + 48) + "\r")
        self.stream.flush()


def progress_bar(enabled: bool | None = None, stream: TextIO | None = None) -> ProgressBar | None:
    """A bar on ``stream`` (default stderr): ``None`` when it is a terminal,
    ``True``/``False`` always/never."""
    stream = sys.stderr if stream is None else stream
    if enabled is None:
        enabled = stream.isatty()
    return ProgressBar(stream) if enabled else None


def log_lines(prefix: str, stream: TextIO | None = None) -> Callable[[str], None]:
    """A callback writing each message as one line ``PREFIX: message`` (default stderr).

    >>> import io
    >>> out = io.StringIO()
    >>> log_lines("flopscope zoo", out)("resnet18: analysing")
    >>> out.getvalue()
    'flopscope zoo: resnet18: analysing\\n'
    """
    def log(message: str) -> None:
        target = sys.stderr if stream is None else stream
        print(f"{prefix}: {message}", file=target, flush=True)
    return log
