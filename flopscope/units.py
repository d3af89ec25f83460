"""Number formatting: counts in SI units, bytes in binary units, exact integers, shapes.

One home for these formatters: the Report's short ``repr``, the renderers, comparisons,
the zoo and the latency report all import them from here.

>>> si(4089184256), binary_bytes(102400), exact(1814073344), shape([1, 3, 224, 224])
('4.09 G', '100 KiB', '1,814,073,344', '1x3x224x224')
"""

from __future__ import annotations

from collections.abc import Sequence


def si(n: int | float | None, digits: int = 3) -> str:
    """A count in SI units, ``?`` for None.

    >>> si(4089184256), si(950), si(None)
    ('4.09 G', '950', '?')
    """
    if n is None:
        return "?"
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.{digits}g} {unit}"
    return f"{n:g}" if isinstance(n, float) else str(n)


def binary_bytes(n: int | None) -> str:
    """A byte count in binary units, ``?`` for None.

    >>> binary_bytes(102400), binary_bytes(12)
    ('100 KiB', '12 B')
    """
    if n is None:
        return "?"
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} B"


def exact(n: int | None) -> str:
    """An exact integer with thousands separators, ``-`` for None.

    >>> exact(1814073344), exact(None)
    ('1,814,073,344', '-')
    """
    return "-" if n is None else f"{n:,}"


def shape(s: Sequence[int | str] | None) -> str:
    """A tensor shape as ``1x64x56x56``; ``?`` when unknown, ``scalar`` for rank 0.

    >>> shape([1, 64, 56, 56]), shape(["N", 3]), shape([]), shape(None)
    ('1x64x56x56', 'Nx3', 'scalar', '?')
    """
    if s is None:
        return "?"
    return "x".join(str(d) for d in s) if s else "scalar"


def percent_down(part: int, whole: int) -> str:
    """``part`` of ``whole`` as a percentage with one decimal, rounded down, so that
    anything short of all of it never reads 100.0%.

    >>> percent_down(4998, 5000), percent_down(8, 8), percent_down(0, 0)
    ('99.9%', '100.0%', '100.0%')
    """
    value = (1000 * part) // whole / 10 if whole else 100.0
    return f"{value:.1f}%"
