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


def log_lines(prefix: str, stream: TextIO | None = None,
              status: Callable[[], str] | None = None) -> Callable[[str], None]:
    """A callback writing each message as one line ``PREFIX: message`` (default stderr);
    with ``status`` (e.g. :meth:`Eta.text`), ``PREFIX [status]: message``.

    >>> import io
    >>> out = io.StringIO()
    >>> log_lines("flopscope zoo", out)("resnet18: analysing")
    >>> out.getvalue()
    'flopscope zoo: resnet18: analysing\\n'
    """
    def log(message: str) -> None:
        target = sys.stderr if stream is None else stream
        where = f" [{status()}]" if status is not None else ""
        print(f"{prefix}{where}: {message}", file=target, flush=True)
    return log


class Eta:
    """``k/N`` and an estimate of the time left, kept from the library's progress callback
    (:meth:`update`, ``progress(phase, fraction, detail)`` with ``detail`` ``"k/N"``): the
    time so far, scaled by the share of the work left.

    >>> clock = iter([0.0, 60.0]).__next__
    >>> eta = Eta(clock)
    >>> eta.update("zoo", 0.0, "1/4"); eta.text()
    '1/4, estimating the time left'
    >>> eta.update("zoo", 0.25, "2/4"); eta.text()
    '2/4, about 3 min left'
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._start = clock()
        self.fraction = 0.0
        self.detail = ""

    def update(self, phase: str, fraction: float, detail: str = "") -> None:
        self.fraction, self.detail = min(max(fraction, 0.0), 1.0), detail

    def text(self) -> str:
        if self.fraction <= 0:
            return f"{self.detail}, estimating the time left"
        elapsed = self._clock() - self._start
        return f"{self.detail}, about {duration(elapsed * (1 - self.fraction) / self.fraction)} left"


def duration(seconds: float) -> str:
    """A rough duration: ``'40 s'``, ``'3 min'``, ``'2 min 10 s'``, ``'1 h 5 min'``.

    >>> duration(42.4), duration(130), duration(180), duration(3900)
    ('42 s', '2 min 10 s', '3 min', '1 h 5 min')
    """
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        minutes, rest = divmod(s, 60)
        rest = rest // 10 * 10
        return f"{minutes} min" + (f" {rest} s" if rest else "")
    hours, rest = divmod(s, 3600)
    return f"{hours} h" + (f" {rest // 60} min" if rest // 60 else "")
