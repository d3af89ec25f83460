"""Number formatting shared by the renderers."""

from __future__ import annotations


def si(n: int | float | None, digits: int = 3) -> str:
    """A count in SI units: ``si(4089184256)`` -> ``'4.09 G'``."""
    if n is None:
        return "?"
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.{digits}g} {unit}"
    return f"{n:g}" if isinstance(n, float) else str(n)


def binary_bytes(n: int | None) -> str:
    """A byte count in binary units: ``binary_bytes(102400)`` -> ``'100 KiB'``."""
    if n is None:
        return "?"
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} B"


def exact(n: int | None) -> str:
    """An exact integer with thousands separators, ``-`` for None."""
    return "-" if n is None else f"{n:,}"


def shape(s: list | None) -> str:
    """``[1, 64, 56, 56]`` -> ``'1x64x56x56'``."""
    if s is None:
        return "?"
    return "x".join(str(d) for d in s) if s else "scalar"
