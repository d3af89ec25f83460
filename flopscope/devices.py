"""Named devices: datasheet peaks for roofline estimates on hardware flopscope does not run on.

Each :class:`Device` carries its peak dense FLOP/s per dtype (no structured sparsity) and
its memory bandwidth, each with the document it comes from. ``--device NAME`` anywhere in
flopscope reads this table through :func:`get_device`; the host's own, measured, peaks are
:mod:`flopscope.latency.peaks`.

>>> get_device("h100").peak("fp16") / 1e12
989.4
>>> round(get_device("Raspberry Pi 5").bandwidth_bytes_per_s / 1e9, 1)
17.1
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field

from flopscope.errors import FlopscopeError

#: dtype names a device's peaks are keyed by
DTYPES = ("fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8")

_T = 1e12
_G = 1e9


@dataclass(frozen=True)
class Device:
    """One device's datasheet figures: ``peak_flops`` per dtype (dense FLOP/s, or OP/s for
    int8), ``bandwidth_bytes_per_s`` of its main memory, and where each figure comes from."""

    name: str
    kind: str                                    # "gpu", "cpu" or "soc"
    peak_flops: Mapping[str, float]
    bandwidth_bytes_per_s: float
    memory_bytes: int
    source: str                                  # the document the figures come from
    aliases: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())   # estimates and caveats

    def peak(self, dtype: str = "fp32") -> float:
        """Peak dense FLOP/s for ``dtype``, or FlopscopeError when the table has none.

        >>> get_device("a100").peak("bf16") / 1e12
        312.0
        """
        try:
            return self.peak_flops[dtype]
        except KeyError:
            raise FlopscopeError(f"no {dtype} peak for {self.name}; it has "
                                 f"{', '.join(self.peak_flops)}") from None

    def ridge(self, dtype: str = "fp32") -> float:
        """FLOPs per byte at which the device turns compute-bound."""
        return self.peak(dtype) / self.bandwidth_bytes_per_s

    def roofline_s(self, flops: float, traffic_bytes: float, dtype: str = "fp32") -> float:
        """Roofline time in seconds: max(FLOPs / peak, bytes / bandwidth).

        >>> get_device("h200").roofline_s(0, 4.8e9)
        0.001
        """
        return max(flops / self.peak(dtype), traffic_bytes / self.bandwidth_bytes_per_s)


_DEVICES = (
    Device("H100 SXM", "gpu",
           {"fp64": 34 * _T, "fp32": 67 * _T, "tf32": 494.7 * _T, "bf16": 989.4 * _T, "fp16": 989.4 * _T,
            "fp8": 1978.9 * _T, "int8": 1978.9 * _T},
           3.35e12, 80 << 30, "NVIDIA H100 Tensor Core GPU datasheet (SXM column; sparse figures halved)",
           aliases=("h100", "h100-sxm")),
    Device("H200", "gpu",
           {"fp64": 34 * _T, "fp32": 67 * _T, "tf32": 494.7 * _T, "bf16": 989.4 * _T, "fp16": 989.4 * _T,
            "fp8": 1978.9 * _T, "int8": 1978.9 * _T},
           4.8e12, 141 * 10**9, "NVIDIA H200 Tensor Core GPU datasheet (SXM column; sparse figures halved)",
           aliases=("h200", "h200-sxm")),
    Device("A100 80GB", "gpu",
           {"fp64": 9.7 * _T, "fp32": 19.5 * _T, "tf32": 156 * _T, "bf16": 312 * _T, "fp16": 312 * _T,
            "int8": 624 * _T},
           2.039e12, 80 << 30, "NVIDIA A100 Tensor Core GPU datasheet (80GB SXM column, dense)",
           aliases=("a100", "a100-80gb")),
    Device("L4", "gpu",
           {"fp32": 30.3 * _T, "tf32": 60 * _T, "bf16": 121 * _T, "fp16": 121 * _T, "fp8": 242.5 * _T,
            "int8": 242.5 * _T},
           300e9, 24 << 30, "NVIDIA L4 Tensor Core GPU datasheet (sparse figures halved)",
           aliases=("l4",)),
    Device("RTX 4090", "gpu",
           {"fp32": 82.6 * _T, "tf32": 82.6 * _T, "bf16": 165.2 * _T, "fp16": 165.2 * _T,
            "fp8": 330.3 * _T, "int8": 660.6 * _T},
           1008e9, 24 << 30, "NVIDIA Ada Lovelace architecture whitepaper, GeForce RTX 4090 column "
                             "(tensor FLOP/s with FP32 accumulate, dense)",
           aliases=("4090", "rtx4090")),
    Device("Apple M2", "soc",
           {"fp32": 3.6 * _T, "fp16": 3.6 * _T, "int8": 15.8 * _T},
           100e9, 24 << 30, "Apple M2 announcement, June 2022 (GPU 3.6 TFLOPS, Neural Engine "
                            "15.8 TOPS, 100 GB/s unified memory)",
           aliases=("m2",),
           notes=("int8 is the Neural Engine's figure; fp16 assumes the GPU's fp32 rate",)),
    Device("Snapdragon 8 Gen 3 phone", "soc",
           {"fp32": 2.8 * _T, "fp16": 5.6 * _T, "int8": 34 * _T},
           76.8e9, 12 << 30, "Qualcomm Snapdragon 8 Gen 3 product brief (LPDDR5X 4800 MHz, 64-bit "
                             "bus: 76.8 GB/s); Adreno 750 and Hexagon figures are public estimates",
           aliases=("snapdragon", "sd8g3", "snapdragon-8-gen-3", "phone"),
           notes=("compute peaks are estimates: Qualcomm does not publish them",)),
    Device("Raspberry Pi 5", "cpu",
           {"fp64": 76.8 * _G, "fp32": 153.6 * _G, "fp16": 307.2 * _G},
           17.1e9, 8 << 30, "Raspberry Pi 5 product brief (4x Cortex-A76 at 2.4 GHz, LPDDR4X-4267 on "
                            "a 32-bit bus); FLOP/s derived: 2 128-bit NEON FMA pipes per core",
           aliases=("rpi5", "pi5", "raspberry-pi-5"),
           notes=("derived peaks: 4 cores x 2.4 GHz x 16 fp32 FLOP/cycle",)),
)

#: the table, by canonical name
DEVICES: dict[str, Device] = {d.name: d for d in _DEVICES}


def _key(name: str) -> str:
    return "".join(c for c in name.lower() if c.isalnum())


_LOOKUP: dict[str, Device] = {}
for _device in _DEVICES:
    for _name in (_device.name, *_device.aliases):
        _LOOKUP[_key(_name)] = _device


def names() -> list[str]:
    """Canonical device names, in table order (for ``--device`` choices)."""
    return list(DEVICES)


def get_device(name: str) -> Device:
    """The device ``name`` stands for (canonical name or alias, any case, spaces and dashes
    ignored), or FlopscopeError naming the choices.

    >>> get_device("rtx-4090").name
    'RTX 4090'
    """
    try:
        return _LOOKUP[_key(name)]
    except KeyError:
        spellings = [n.lower() for d in _DEVICES for n in (d.name, *d.aliases)]
        close = difflib.get_close_matches(name.lower(), spellings, n=3, cutoff=0.6)
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        raise FlopscopeError(f"unknown device '{name}'{hint}; choose one of "
                             f"{', '.join(DEVICES)}") from None
