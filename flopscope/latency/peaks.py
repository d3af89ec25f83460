"""This host's peaks and ORT's efficiency on it: measured once, kept in a JSON cache.

The peaks are what ONNX Runtime itself reaches under a preset (its threads, pinning and
kernels): FLOP/s per dtype from a GEMM (float32 ``MatMul``, uint8 ``MatMulInteger``) and
a 3x3 convolution, and memory bandwidth from a copy-bound graph (an ``Add`` of a scalar to
64 MiB: every byte read once and written once). The calibration then profiles a dozen
small graphs shaped like the layers of common CNNs (stems, 3x3 and 1x1 convolutions,
depthwise convolutions, residual adds, pooling, a channel shuffle, classifier heads) with
ORT's per-node profiler and fits, per op family and bound, the fraction of the roofline
the kernels reach (:func:`flopscope.latency.predict.fit`). The peaks are the one source of
the roofs of the roofline view (:mod:`flopscope.latency.roofline`) and of the prediction.

Both are stored in ``host.json`` under the user's cache folder (``$FLOPSCOPE_CACHE_DIR``,
else ``$XDG_CACHE_HOME/flopscope``, else ``~/.cache/flopscope``), keyed by CPU model,
physical cores, onnxruntime version, preset and threads: a later run on the same host
reads them back (``refresh=True`` measures again).

>>> hp = host_profile("cpu")                       # doctest: +SKIP
>>> hp.peak("fp32"), hp.bandwidth_gb_per_s         # doctest: +SKIP
(98.1, 14.2)
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flopscope.errors import FlopscopeError
from flopscope.latency.predict import Calibration, Sample, fit, predict, samples
from flopscope.latency.presets import Preset, fingerprint, get_preset

#: the cache file's name and schema
CACHE_FILE = "host.json"
SCHEMA = "flopscope.host/1"
CACHE_ENV = "FLOPSCOPE_CACHE_DIR"
#: GEMM size (2n³ FLOPs; operands fit in the caches), convolution, copy size
GEMM_N = 512
CONV_SHAPE = (1, 128, 56, 56)
COPY_BYTES = 64 << 20
#: each peak is the best of at least this many runs and this many seconds
REPEATS = 10
MIN_SECONDS = 0.2
#: each calibration graph is profiled this many times; its layers keep their shortest time
CALIBRATION_REPEATS = 3


@dataclass(frozen=True)
class HostProfile:
    """Peaks (GFLOP/s per dtype, GB/s) and the fitted :class:`Calibration` of one host,
    preset and thread count."""

    key: str
    gflops_per_s: Mapping[str, float]
    bandwidth_gb_per_s: float
    calibration: Calibration
    measured: str = ""
    method: str = ""
    details: Mapping[str, float] = field(default_factory=dict)

    def peak(self, dtype: str = "fp32") -> float:
        """GFLOP/s for ``dtype`` (the best of the GEMM and the convolution for fp32)."""
        try:
            return self.gflops_per_s[dtype]
        except KeyError:
            raise FlopscopeError(f"no measured {dtype} peak on this host") from None

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "gflops_per_s": dict(self.gflops_per_s),
                "bandwidth_gb_per_s": self.bandwidth_gb_per_s, "calibration": self.calibration.to_dict(),
                "measured": self.measured, "method": self.method, "details": dict(self.details)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HostProfile:
        return cls(data["key"], dict(data["gflops_per_s"]), float(data["bandwidth_gb_per_s"]),
                   Calibration.from_dict(data["calibration"]), data.get("measured", ""),
                   data.get("method", ""), dict(data.get("details", {})))


# --------------------------------------------------------------------------- cache


def cache_path() -> Path:
    """Where ``host.json`` lives (see the module's docstring)."""
    folder = os.environ.get(CACHE_ENV)
    if not folder:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        folder = os.path.join(base, "flopscope")
    return Path(folder) / CACHE_FILE


def host_key(preset: Preset, threads: int) -> str:
    """The cache key of a host profile.

    >>> host_key(get_preset("cpu"), 2)                 # doctest: +SKIP
    'AMD EPYC 7B13 | 2 cores | onnxruntime 1.20.1 | cpu | 2 threads'
    """
    f = fingerprint(preset, threads)
    return f"{f['cpu']} | {f['physical_cores']} cores | onnxruntime {f['onnxruntime']} | " \
           f"{preset.name} | {threads} threads"


def read_cache(path: Path) -> dict[str, Any]:
    """The cache's entries by key ({} when there is no readable cache of this schema)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        return {}
    entries = data.get("hosts", {})
    return entries if isinstance(entries, dict) else {}


def write_cache(path: Path, entries: Mapping[str, Any]) -> None:
    """Write the entries atomically (a temporary file renamed over the cache)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".host-", suffix=".json", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"schema": SCHEMA, "hosts": dict(entries)}, f, indent=2)
    os.replace(tmp, path)


def host_profile(preset: str | Preset = "cpu", threads: int | None = None, *, refresh: bool = False,
                 path: Path | None = None,
                 measure: Callable[[Preset, int], HostProfile] | None = None) -> HostProfile:
    """The host profile of ``preset`` with ``threads`` from the cache, else measured (by
    ``measure``, default :func:`measure_host`: some ten seconds) and cached."""
    preset = get_preset(preset)
    if preset.device != "cpu":
        raise FlopscopeError(f"the {preset.name} preset runs on {preset.device}: host peaks "
                             "are measured on the CPU only")
    threads = preset.resolve_threads(threads)
    path = path or cache_path()
    key = host_key(preset, threads)
    entries = read_cache(path)
    if not refresh and key in entries:
        try:
            return HostProfile.from_dict(entries[key])
        except (KeyError, TypeError, ValueError):
            pass                                   # a stale entry: measure again
    profile = (measure or measure_host)(preset, threads)
    entries = read_cache(path)                     # another process may have written meanwhile
    entries[key] = {**profile.to_dict(), "key": key}
    try:
        write_cache(path, entries)
    except OSError:
        pass                                       # a read-only home: measured, not kept
    return HostProfile.from_dict(entries[key])


# --------------------------------------------------------------------------- measurement


def measure_host(preset: Preset, threads: int) -> HostProfile:
    """Measure the peaks and fit the calibration of ``preset`` with ``threads``."""
    gemm = _gemm_gflops(preset, threads)
    conv = _conv_gflops(preset, threads)
    details = {"gemm_fp32_gflops_per_s": gemm, "conv_fp32_gflops_per_s": conv}
    peaks = {"fp32": max(gemm, conv)}
    try:
        peaks["int8"] = details["gemm_int8_gops_per_s"] = _gemm_int8_gops(preset, threads)
    except Exception:                               # noqa: BLE001 - an ORT build without the kernel
        pass
    bandwidth = _copy_gb_per_s(preset, threads)
    calibration = calibrate(preset, threads, peaks["fp32"], bandwidth)
    return HostProfile(host_key(preset, threads), peaks, bandwidth, calibration,
                       measured=time.strftime("%Y-%m-%d %H:%M"),
                       method=(f"ONNX Runtime under preset {preset.name}: best of >= {REPEATS} runs and "
                               f"{MIN_SECONDS} s of a {GEMM_N}x{GEMM_N} MatMul, a 3x3 Conv on "
                               f"{'x'.join(map(str, CONV_SHAPE))} and an Add over {COPY_BYTES >> 20} MiB; "
                               f"efficiencies fitted on {calibration.samples} profiled calibration "
                               "layers"),
                       details=details)


def _best_s(preset: Preset, threads: int, model: bytes, feeds: Mapping[str, Any]) -> float:
    """Shortest time in seconds of ``model`` run under ``preset`` after a warm-up run, over
    at least :data:`REPEATS` runs and :data:`MIN_SECONDS` (so that a busy neighbour's pause
    is caught), and at most 100 times :data:`REPEATS` runs."""
    from flopscope.latency.session import open_session

    with open_session(model, preset, threads, feeds) as live:
        live.run()                                 # warm-up: thread pool, page faults
        best = float("inf")
        start = time.perf_counter_ns()
        runs = 0
        while runs < REPEATS or (time.perf_counter_ns() - start < MIN_SECONDS * 1e9 and runs < 100 * REPEATS):
            t0 = time.perf_counter_ns()
            live.run()
            best = min(best, max(time.perf_counter_ns() - t0, 1) / 1e9)
            runs += 1
        return best


def _gemm_gflops(preset: Preset, threads: int, n: int = GEMM_N) -> float:
    import numpy as np

    g = _Graph("gemm", (n, n))
    g.matmul(n)
    feeds = {"x": np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)}
    return 2 * n**3 / _best_s(preset, threads, g.model(), feeds) / 1e9


def _gemm_int8_gops(preset: Preset, threads: int, n: int = GEMM_N) -> float:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((n, n), dtype=np.int8), "w")
    graph = helper.make_graph([helper.make_node("MatMulInteger", ["x", "w"], ["y"], name="mmi")], "int8",
                              [helper.make_tensor_value_info("x", TensorProto.UINT8, [n, n])],
                              [helper.make_tensor_value_info("y", TensorProto.INT32, [n, n])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    feeds = {"x": np.ones((n, n), dtype=np.uint8)}
    return 2 * n**3 / _best_s(preset, threads, model, feeds) / 1e9


def _conv_gflops(preset: Preset, threads: int) -> float:
    import numpy as np

    n, c, h, w = CONV_SHAPE
    g = _Graph("conv", CONV_SHAPE)
    g.conv(c, c, 3)
    feeds = {"x": np.random.default_rng(1).standard_normal(CONV_SHAPE, dtype=np.float32)}
    return 2 * n * c * c * 9 * h * w / _best_s(preset, threads, g.model(), feeds) / 1e9


def _copy_gb_per_s(preset: Preset, threads: int, nbytes: int = COPY_BYTES) -> float:
    import numpy as np

    size = nbytes // 4
    g = _Graph("copy", (size,))
    g.op("Add", g.const(np.ones((1,), dtype=np.float32)))
    feeds = {"x": np.ones((size,), dtype=np.float32)}
    return 2 * nbytes / _best_s(preset, threads, g.model(), feeds) / 1e9


# --------------------------------------------------------------------------- calibration


class _Graph:
    """A small ONNX graph built layer by layer from input ``x`` (a calibration case)."""

    def __init__(self, name: str, shape: tuple[int, ...]):
        self.name, self.shape = name, shape
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.cur = "x"
        self._n = 0

    def _next(self, op: str) -> str:
        self._n += 1
        return f"{op.lower()}{self._n}"

    def const(self, array: Any) -> str:
        from onnx import numpy_helper

        name = f"w{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op: str, *extra: str, **attrs: Any) -> str:
        from onnx import helper

        name = self._next(op)
        self.nodes.append(helper.make_node(op, [self.cur, *extra], [name], name=name, **attrs))
        self.cur = name
        return name

    def conv(self, cin: int, cout: int, k: int = 3, stride: int = 1, group: int = 1,
             dilation: int = 1) -> str:
        import numpy as np

        rng = np.random.default_rng(self._n)
        w = self.const(rng.standard_normal((cout, cin // group, k, k), dtype=np.float32) * 0.1)
        b = self.const(np.zeros(cout, dtype=np.float32))
        pad = dilation * (k - 1) // 2
        return self.op("Conv", w, b, kernel_shape=[k, k], strides=[stride, stride], group=group,
                       pads=[pad] * 4, dilations=[dilation, dilation])

    def bn(self, c: int) -> str:
        import numpy as np

        ones, zeros = np.ones(c, dtype=np.float32), np.zeros(c, dtype=np.float32)
        return self.op("BatchNormalization", self.const(ones), self.const(zeros), self.const(zeros),
                       self.const(ones))

    def matmul(self, n: int, cout: int | None = None) -> str:
        import numpy as np

        w = np.random.default_rng(self._n).standard_normal((n, cout or n), dtype=np.float32)
        return self.op("MatMul", self.const(w))

    def gemm(self, cin: int, cout: int) -> str:
        import numpy as np

        rng = np.random.default_rng(self._n)
        w = self.const(rng.standard_normal((cout, cin), dtype=np.float32) * 0.01)
        return self.op("Gemm", w, self.const(np.zeros(cout, dtype=np.float32)), transB=1)

    def model(self) -> bytes:
        from onnx import TensorProto, helper

        graph = helper.make_graph(self.nodes, self.name,
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(self.shape))],
                                  [helper.make_tensor_value_info(self.cur, TensorProto.FLOAT, None)],
                                  self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        return model.SerializeToString()


def _cases() -> list[_Graph]:
    """Calibration graphs shaped like the layers of the common CNN families."""
    import numpy as np

    out = []
    g = _Graph("stem", (1, 3, 224, 224))
    g.conv(3, 64, 7, 2); g.bn(64); g.op("Relu")                                  # noqa: E702
    g.op("MaxPool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    out.append(g)
    g = _Graph("basic", (1, 64, 56, 56))
    skip = g.cur
    g.conv(64, 64); g.bn(64); g.op("Relu"); g.conv(64, 64); g.bn(64)             # noqa: E702
    g.op("Add", skip); g.op("Relu")                                              # noqa: E702
    out.append(g)
    g = _Graph("deep", (1, 256, 14, 14))
    g.conv(256, 256); g.bn(256); g.op("Relu")                                    # noqa: E702
    out.append(g)
    g = _Graph("wide", (1, 64, 112, 112))
    g.conv(64, 64); g.op("Relu")                                                 # noqa: E702
    out.append(g)
    g = _Graph("bottleneck", (1, 256, 28, 28))
    g.conv(256, 64, 1); g.bn(64); g.op("Relu"); g.conv(64, 256, 1); g.bn(256)    # noqa: E702
    out.append(g)
    g = _Graph("inverted", (1, 24, 56, 56))
    g.conv(24, 144, 1); g.bn(144); g.op("Clip", g.const(np.array(0, np.float32)),   # noqa: E702
                                        g.const(np.array(6, np.float32)))
    g.conv(144, 144, 3, 1, group=144); g.bn(144); g.op("Relu"); g.conv(144, 24, 1); g.bn(24)  # noqa: E702
    out.append(g)
    g = _Graph("depthwise-s2", (1, 96, 112, 112))
    g.conv(96, 96, 3, 2, group=96); g.bn(96); g.op("Relu")                       # noqa: E702
    out.append(g)
    g = _Graph("dilated", (1, 64, 64, 64))
    g.conv(64, 64, 3, dilation=2); g.op("Relu"); g.conv(64, 64, 3, dilation=4); g.op("Relu")  # noqa: E702
    out.append(g)
    g = _Graph("shuffle", (1, 240, 28, 28))
    skip = g.cur
    g.op("Reshape", g.const(np.array([1, 3, 80, 28, 28], np.int64)))
    g.op("Transpose", perm=[0, 2, 1, 3, 4])
    g.op("Reshape", g.const(np.array([1, 240, 28, 28], np.int64)))
    g.conv(240, 240, 3, 2, group=240); g.bn(240)                                 # noqa: E702
    pooled = g.op("AveragePool", kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1])
    g.cur = skip
    g.op("AveragePool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    g.op("Concat", pooled, axis=1); g.op("Relu")                                 # noqa: E702
    out.append(g)
    g = _Graph("head", (1, 512, 7, 7))
    g.op("GlobalAveragePool"); g.op("Flatten"); g.gemm(512, 1000)                # noqa: E702
    out.append(g)
    g = _Graph("classifier", (1, 8192))
    g.gemm(8192, 4096); g.op("Relu"); g.gemm(4096, 1000)                         # noqa: E702
    out.append(g)
    return out


def calibrate(preset: Preset, threads: int, gflops_per_s: float, bandwidth_gb_per_s: float,
              repeats: int = CALIBRATION_REPEATS) -> Calibration:
    """Profile the calibration graphs under ``preset`` ``repeats`` times and fit the
    efficiencies on each layer's shortest mean time (a busy neighbour only slows a run)."""
    points: list[Sample] = []
    for case in _cases():
        model = case.model()
        best: list[Sample] = []
        for _ in range(repeats):
            profile, report = profile_model(model, preset, threads)
            prediction = predict(report.layers, gflops_per_s, bandwidth_gb_per_s, Calibration({}),
                                 preset.optimization)
            found = samples(prediction, profile.to_dict())
            best = found if not best or len(best) != len(found) else [
                min(a, b, key=lambda s: s.measured_ms) for a, b in zip(best, found)]
        points += best
    return fit(points)


def profile_model(model: bytes | Path, preset: Preset, threads: int) -> tuple[Any, Any]:
    """(per-layer profile, report) of an ONNX model run under ``preset``: analysed by
    flopscope, profiled by ORT."""
    import onnx

    from flopscope.analysis import build_report, load_graph
    from flopscope.latency.profile import profile_layers
    from flopscope.latency.session import random_inputs

    with tempfile.TemporaryDirectory(prefix="flopscope-calibrate-") as tmp:
        path = Path(model) if isinstance(model, Path) else Path(tmp) / "case.onnx"
        if not isinstance(model, Path):
            path.write_bytes(model)
        proto = onnx.load(path)
        graph = load_graph(path)
        report = build_report(graph)
        feeds = random_inputs(report.model.inputs)
        profile = profile_layers(path, proto, graph, report, preset, threads, feeds, {})
    return profile, report
