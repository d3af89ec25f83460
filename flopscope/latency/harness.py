"""The latency harness: one model, one preset, a measurement protocol that holds on a
noisy machine.

Protocol: the session's creation and its first run are timed on their own; warm-up runs
go in windows of 5 until the median of a window is within 2% of the previous one's (at
least 10 runs, at most a warm-up time budget); then a fixed count of runs or a time
budget. Each run is timed with ``time.perf_counter_ns`` around ``session.run`` alone.
The inputs are random data of the shapes the analysis bound, so GFLOP/s divides the
same FLOP count the report shows.

PyTorch models are exported to ONNX in a temporary folder, removed afterwards. Nothing
is written next to the user's model: the profiler's output and ORT's optimised graph go
to temporary folders too.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from flopscope.errors import FlopscopeError
from flopscope.latency import stats
from flopscope.latency.presets import (
    SPIN_INTER,
    SPIN_INTRA,
    Preset,
    check_provider,
    check_session,
    choose_cores,
    cpu_name,
    get_preset,
    gpu_name,
    pinned,
)
from flopscope.report import Latency, Report

#: without --iterations or --time-budget, measure for this long (and at least MIN_RUNS runs)
DEFAULT_TIME_BUDGET_S = 3.0
MIN_RUNS = 10
#: a time budget never runs more than this many runs
MAX_RUNS = 100_000
#: warm-up stops after this long even if the median has not settled (but not before 10 runs)
WARMUP_BUDGET_S = 5.0
WARMUP_MAX_RUNS = 1_000
#: the per-layer profile: runs left out as warm-up, then runs averaged
PROFILE_WARMUP_RUNS = 2
PROFILE_RUNS = 10


@dataclass
class Protocol:
    """How many runs to time. ``iterations`` alone: exactly that many; ``time_budget_s``
    alone: until it is spent (at least ``MIN_RUNS``); both: whichever ends first;
    neither: ``DEFAULT_TIME_BUDGET_S``."""

    iterations: int | None = None
    time_budget_s: float | None = None
    warmup_budget_s: float = WARMUP_BUDGET_S
    warmup_max_runs: int = WARMUP_MAX_RUNS

    def __post_init__(self) -> None:
        if self.iterations is not None and self.iterations < 1:
            raise FlopscopeError("--iterations must be >= 1")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise FlopscopeError("--time-budget must be > 0 seconds")
        if self.warmup_budget_s < 0:
            raise FlopscopeError("the warm-up budget must be >= 0 seconds")

    def limits(self) -> tuple[int, float, int]:
        """(most runs, seconds, fewest runs) of the measurement phase."""
        if self.iterations is not None and self.time_budget_s is None:
            return self.iterations, float("inf"), self.iterations
        budget = self.time_budget_s if self.time_budget_s is not None else DEFAULT_TIME_BUDGET_S
        most = self.iterations if self.iterations is not None else MAX_RUNS
        return most, budget, min(MIN_RUNS, most)


# --------------------------------------------------------------------------- progress


class ProgressBar:
    """A carriage-return progress bar, redrawn at most ten times a second."""

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


def _progress_bar(progress: bool | None) -> ProgressBar | None:
    """``None``: a bar when stderr is a terminal; ``True``/``False``: always/never."""
    if progress is None:
        progress = sys.stderr.isatty()
    return ProgressBar(sys.stderr) if progress else None


# --------------------------------------------------------------------------- sessions


@dataclass
class LiveSession:
    """An ORT session inside its preset's pinning: ``run()`` runs it once on the inputs."""

    session: Any
    run: Callable[[], Any]
    affinity: list[int] | None
    session_ns: int
    keep: list[Any] = field(default_factory=list)   # device buffers bound to the session


def make_runner(session: Any, feeds: Mapping[str, Any], preset: Preset) -> tuple[Callable[[], Any], list]:
    """A zero-argument call that runs ``session`` once, and the objects it needs alive.

    CPU presets call ``session.run(None, feeds)``. The gpu preset copies the inputs to the
    device once (``OrtValue.ortvalue_from_numpy(x, "cuda", 0)``), binds the outputs on the
    device too, and each run is ``run_with_iobinding``, which returns once the device is done.
    """
    if not preset.io_binding:
        return functools.partial(session.run, None, dict(feeds)), []
    import onnxruntime as ort

    binding = session.io_binding()
    values = [ort.OrtValue.ortvalue_from_numpy(array, "cuda", 0) for array in feeds.values()]
    for name, value in zip(feeds, values):
        binding.bind_ortvalue_input(name, value)
    for out in session.get_outputs():
        binding.bind_output(out.name, "cuda", 0)
    binding.synchronize_inputs()
    return functools.partial(session.run_with_iobinding, binding), [binding, values]


def _preload_cuda() -> None:
    """onnxruntime-gpu >= 1.21 can load the CUDA and cuDNN libraries of pip's nvidia-*
    packages; where they are not installed it changes nothing."""
    import onnxruntime as ort

    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        return
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            preload()
        except Exception:  # the provider check after session creation reports what is missing
            pass


@contextlib.contextmanager
def open_session(source: str | os.PathLike[str] | bytes, preset: str | Preset, threads: int | None = None,
                 feeds: Mapping[str, Any] | None = None, *, free_dims: Mapping[str, int] | None = None,
                 options: Any = None) -> Iterator[LiveSession]:
    """Create the preset's session for ``source`` (a path or serialised model) and hold it,
    pinned as the preset says, for the ``with`` block; the affinity is restored after.

    ``options`` replaces the preset's SessionOptions (the profiler adds to them).
    """
    import onnxruntime as ort

    preset = get_preset(preset)
    check_provider(preset)
    threads = preset.resolve_threads(threads)
    if preset.provider != "CPUExecutionProvider":
        _preload_cuda()
    cores = choose_cores(threads) if preset.pin else None
    with pinned(cores) as affinity:
        so = options if options is not None else preset.session_options(threads, free_dims)
        model = source if isinstance(source, bytes) else os.fspath(source)
        t0 = time.perf_counter_ns()
        try:
            session = ort.InferenceSession(model, so, providers=preset.providers())
        except Exception as exc:
            text = " ".join(str(exc).split())[:300]
            raise FlopscopeError(f"ONNX Runtime cannot load the model: {text}") from None
        session_ns = time.perf_counter_ns() - t0
        check_session(session, preset)
        run, keep = make_runner(session, feeds or {}, preset)
        yield LiveSession(session, run, affinity, session_ns, keep)


def read_settings(live: LiveSession, preset: Preset, free_dims: Mapping[str, int]) -> dict[str, Any]:
    """The settings a session really runs with, read back from it."""
    so = live.session.get_session_options()

    def entry(key: str) -> str:
        try:
            return so.get_session_config_entry(key)
        except RuntimeError:
            return "1"                           # ORT's default: spinning allowed

    return {
        "providers": list(live.session.get_providers()),
        "intra_op_num_threads": so.intra_op_num_threads,
        "inter_op_num_threads": so.inter_op_num_threads,
        "execution_mode": so.execution_mode.name,
        "graph_optimization_level": so.graph_optimization_level.name,
        "intra_op_allow_spinning": entry(SPIN_INTRA),
        "inter_op_allow_spinning": entry(SPIN_INTER),
        "affinity": live.affinity,
        "free_dimension_overrides": dict(free_dims) if preset.fixed_shapes else {},
        "io_binding": preset.io_binding,
    }


# --------------------------------------------------------------------------- timing


def timed_runs(run: Callable[[], Any], most: int, seconds: float, fewest: int = 1,
               bar: ProgressBar | None = None, phase: str = "measure") -> list[int]:
    """Run ``run`` until ``most`` runs or ``seconds`` have passed (but at least
    ``fewest`` runs); the time of each run in nanoseconds."""
    clock = time.perf_counter_ns
    times: list[int] = []
    append = times.append
    start = clock()
    deadline = start + seconds * 1e9 if seconds != float("inf") else float("inf")
    while len(times) < most:
        t0 = clock()
        run()
        t1 = clock()
        append(t1 - t0)
        if t1 >= deadline and len(times) >= fewest:
            break
        if bar is not None:
            done = max(len(times) / most, (t1 - start) / (seconds * 1e9) if seconds else 1.0)
            bar.update(phase, done, f"{len(times)} runs")
    return times


def warm_up(run: Callable[[], Any], budget_s: float = WARMUP_BUDGET_S,
            max_runs: int = WARMUP_MAX_RUNS, bar: ProgressBar | None = None) -> tuple[list[int], bool]:
    """Warm-up runs in windows until :func:`stats.warmed_up` holds or the budget is spent
    (never fewer than ``stats.WARMUP_MIN_RUNS`` runs); the times and whether it settled."""
    clock = time.perf_counter_ns
    times: list[int] = []
    start = clock()
    deadline = start + budget_s * 1e9
    while True:
        times += timed_runs(run, stats.WARMUP_WINDOW, float("inf"))
        if stats.warmed_up(times):
            return times, True
        now = clock()
        if len(times) >= max_runs or (now >= deadline and len(times) >= stats.WARMUP_MIN_RUNS):
            return times, False
        if bar is not None:
            spent = (now - start) / (budget_s * 1e9) if budget_s else 1.0
            bar.update("warm-up", max(len(times) / max_runs, spent), f"{len(times)} runs")


# --------------------------------------------------------------------------- inputs


def random_inputs(inputs: list[Any], seed: int = 0) -> dict[str, Any]:
    """numpy data for each analysed input (``InputInfo``): floats from a standard normal,
    integers 0 (valid indices and token ids), booleans True."""
    import numpy as np

    rng = np.random.default_rng(seed)
    feeds = {}
    for info in inputs:
        shape = tuple(info.shape)
        if not all(type(d) is int for d in shape):
            raise FlopscopeError(f"input '{info.name}' has no concrete shape ({info.shape}); "
                                 f"pass --input-shape {info.name}=...")
        try:
            dtype = np.dtype(info.dtype)
        except TypeError:
            raise FlopscopeError(f"input '{info.name}': cannot make {info.dtype} data with numpy") from None
        if dtype.kind == "f":
            feeds[info.name] = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind == "b":
            feeds[info.name] = np.ones(shape, dtype=dtype)
        elif dtype.kind in "iu":
            feeds[info.name] = np.zeros(shape, dtype=dtype)
        else:
            raise FlopscopeError(f"input '{info.name}': no random data for dtype {info.dtype}")
    return feeds


def _real_inputs(model: Any) -> list[Any]:
    init = {t.name for t in model.graph.initializer}
    return [vi for vi in model.graph.input if vi.name not in init]


def free_dims(model: Any, inputs: list[Any]) -> dict[str, int]:
    """Symbolic input dims of ``model`` and the sizes the analysis bound them to."""
    bound = {info.name: info.shape for info in inputs}
    out: dict[str, int] = {}
    for vi in _real_inputs(model):
        shape = bound.get(vi.name)
        if shape is None or not vi.type.HasField("tensor_type"):
            continue
        for dim, size in zip(vi.type.tensor_type.shape.dim, shape):
            if dim.HasField("dim_param") and dim.dim_param and type(size) is int:
                out.setdefault(dim.dim_param, size)
    return out


def _batch_dims(model: Any, batch: int | None, dims: dict[str, int]) -> None:
    """Bind each input's symbolic leading dim to ``batch``."""
    if batch is None:
        return
    for vi in _real_inputs(model):
        shape = vi.type.tensor_type.shape.dim if vi.type.HasField("tensor_type") else []
        if shape and shape[0].HasField("dim_param") and shape[0].dim_param:
            dims.setdefault(shape[0].dim_param, batch)


# --------------------------------------------------------------------------- models


@dataclass
class _Prepared:
    path: Path
    name: str
    input_shapes: dict[str, Any]
    notes: list[str]


@contextlib.contextmanager
def _model_file(model: Any, inputs: Any, input_shapes: Mapping[str, Any] | None,
                batch: int | None) -> Iterator[_Prepared]:
    """The ONNX file to run (see :func:`flopscope.export.onnx_file`), its name, and the
    input shapes its analysis binds."""
    from flopscope.export import DEFAULT_OPSET, onnx_file
    from flopscope.sources import merge_inputs, resolve

    source = resolve(model)
    given = merge_inputs(inputs, input_shapes)
    with onnx_file(source, given, batch=batch) as path:
        if source.is_onnx:
            yield _Prepared(path, source.name, given.by_name(), [])
        else:
            yield _Prepared(path, source.name, {}, [f"PyTorch model exported to ONNX (opset {DEFAULT_OPSET}) "
                                                    "for ONNX Runtime; layers are the exported graph's"])


# --------------------------------------------------------------------------- the harness


def bench(model: Any, inputs: Any = None, *, preset: str | Preset = "cpu", threads: int | None = None,
          iterations: int | None = None, time_budget_s: float | None = None, batch: int | None = None,
          progress: bool | None = None, report: Report | None = None,
          input_shapes: Mapping[str, Any] | None = None, dims: Mapping[str, int] | None = None,
          per_layer: bool = False, roofline: bool = False,
          warmup_budget_s: float = WARMUP_BUDGET_S) -> Latency:
    """Measure ``model``'s latency on ONNX Runtime with a named preset.

    ``model`` and ``inputs`` are as for :func:`flopscope.analyze` (an ``.onnx`` path, a
    reference name, ``file.py:factory`` or an ``nn.Module``, which is exported first).
    ``preset`` is ``"cpu"``, ``"mobile"`` or ``"gpu"`` (see ``flopscope.latency.PRESETS``);
    ``threads`` overrides its intra-op threads; ``iterations`` / ``time_budget_s`` set how
    many runs are timed; ``batch`` binds the inputs' leading dim. ``per_layer`` adds the
    profiler's per-layer times, ``roofline`` the roofline view. With ``report`` (a Report
    of the same model) GFLOP/s uses its FLOP count and ``report.latency`` is set.
    ``progress``: a bar on stderr (None: when stderr is a terminal).

    >>> lat = flopscope.bench("resnet50.onnx", preset="mobile", iterations=50)  # doctest: +SKIP
    >>> lat.p50_ms, lat.label                                                    # doctest: +SKIP
    (181.2, 'mobile-like (x86 kernels)')
    """
    run_report = bench_report(model, inputs, preset=preset, threads=threads, iterations=iterations,
                              time_budget_s=time_budget_s, batch=batch, progress=progress,
                              input_shapes=input_shapes, dims=dims, per_layer=per_layer,
                              roofline=roofline, warmup_budget_s=warmup_budget_s,
                              flops=report.totals.flops if report is not None else None)
    latency = run_report.latency
    assert latency is not None
    if report is not None:
        report.latency = latency
    return latency


def bench_report(model: Any, inputs: Any = None, *, preset: str | Preset = "cpu",
                 threads: int | None = None, iterations: int | None = None,
                 time_budget_s: float | None = None, batch: int | None = None,
                 progress: bool | None = None, input_shapes: Mapping[str, Any] | None = None,
                 dims: Mapping[str, int] | None = None, per_layer: bool = False,
                 roofline: bool = False, warmup_budget_s: float = WARMUP_BUDGET_S,
                 flops: int | None = None) -> Report:
    """:func:`bench`, returning the Report of the graph that ran with its ``latency`` set
    (``flops`` overrides the FLOP count behind GFLOP/s)."""
    from flopscope.analysis import build_report, load_graph
    from flopscope.frontends.onnx import read_model
    from flopscope.latency.safety import check_external_data

    preset = get_preset(preset)
    check_provider(preset)                       # before any export or analysis
    threads = preset.resolve_threads(threads)
    protocol = Protocol(iterations, time_budget_s, warmup_budget_s)
    if batch is not None and batch < 1:
        raise FlopscopeError("--batch must be >= 1")

    with _model_file(model, inputs, input_shapes, batch) as prepared:
        proto = read_model(prepared.path)
        check_external_data(proto, prepared.path)
        bound = dict(dims or {})
        _batch_dims(proto, batch, bound)
        graph = load_graph(prepared.path, input_shapes=prepared.input_shapes, dims=bound,
                           name=prepared.name)
        run_report = build_report(graph)
        shapes = [i.shape for i in run_report.model.inputs]
        run_batch = shapes[0][0] if shapes and shapes[0] and type(shapes[0][0]) is int else 1
        if batch is not None and run_batch != batch:
            raise FlopscopeError(f"--batch {batch}: the model's batch dimension is fixed at {run_batch}")
        feeds = random_inputs(run_report.model.inputs)
        fixed = free_dims(proto, run_report.model.inputs)
        count = run_report.totals.flops if flops is None else flops
        latency = _measure(prepared.path, feeds, preset, threads, fixed, protocol,
                           _progress_bar(progress), run_batch, count)
        latency.notes = prepared.notes + latency.notes
        if not run_report.coverage.complete and flops is None:
            latency.notes.append(f"GFLOP/s counts the costed layers only "
                                 f"({run_report.coverage.percent:.1f}% of nodes)")
        profile = None
        if per_layer:
            profile = profile_layers(prepared.path, proto, graph, run_report, preset, threads, feeds, fixed)
            latency.per_layer = profile.to_dict()
        if roofline:
            latency.roofline = _roofline(run_report, latency, preset, threads, count, profile)
    run_report.latency = latency
    return run_report


def _measure(path: Path, feeds: Mapping[str, Any], preset: Preset, threads: int,
             fixed: Mapping[str, int], protocol: Protocol, bar: ProgressBar | None, batch: int,
             flops: int | None) -> Latency:
    notes = []
    try:
        with open_session(path, preset, threads, feeds, free_dims=fixed) as live:
            t0 = time.perf_counter_ns()
            live.run()
            first_ns = time.perf_counter_ns() - t0
            warm, settled = warm_up(live.run, protocol.warmup_budget_s, protocol.warmup_max_runs, bar)
            most, seconds, fewest = protocol.limits()
            times = timed_runs(live.run, most, seconds, fewest, bar)
            settings = read_settings(live, preset, fixed)
            provider = live.session.get_providers()[0]
    finally:
        if bar is not None:
            bar.close()
    if not settled:
        notes.append(f"warm-up ended after {len(warm)} runs without the median settling "
                     f"within {stats.WARMUP_TOLERANCE:.0%}")
    if preset.name == "mobile":
        notes.append("mobile-like: a desktop CPU restricted to mobile settings; x86 kernels, "
                     "not a phone's")
    ms = stats.summarize(times).scaled(1e-6)
    p50_s = ms.p50 / 1e3
    return Latency(
        preset=preset.name, provider=provider, threads=threads, batch=batch, iterations=len(times),
        p50_ms=ms.p50, p90_ms=ms.p90, p99_ms=ms.p99, mean_ms=ms.mean, std_ms=ms.std, min_ms=ms.min,
        cv=ms.cv, throughput_per_s=stats.throughput_per_s(batch, p50_s),
        gflops_per_s=stats.gflops_per_s(flops, p50_s), session_ms=live.session_ns / 1e6,
        first_run_ms=first_ns / 1e6, warmup_runs=len(warm), label=preset.label,
        device=gpu_name() if preset.io_binding else cpu_name(), flops=flops, settings=settings,
        notes=notes)


# --------------------------------------------------------------------------- per layer, roofline


#: ORT writes the optimised graph's weights to this file beside it, in the temporary folder
_OPTIMIZED_DATA = "optimized.onnx.data"


def profile_layers(path: Path, proto: Any, graph: Any, report: Report, preset: Preset, threads: int,
                   feeds: Mapping[str, Any], fixed: Mapping[str, int],
                   runs: int = PROFILE_RUNS) -> Any:
    """Per-layer times (:class:`~flopscope.latency.profile.LayerProfile`) of ``report``'s
    layers from a separate, profiled session with the same settings.

    The profiled session loads a copy whose nodes carry the report's layer names (unnamed
    and duplicate names made unique), so ORT's node names lead back to the layers; its
    external data is still read from the model's folder.
    """
    import onnx

    from flopscope.latency.profile import layer_names, profile_report

    names = layer_names(proto, graph)
    named = proto
    if any(n.name != name for n, name in zip(proto.graph.node, names)):
        named = onnx.ModelProto()
        named.CopyFrom(proto)
        for node, name in zip(named.graph.node, names):
            node.name = name
    with tempfile.TemporaryDirectory(prefix="flopscope-profile-") as tmp:
        so = preset.session_options(threads, fixed)
        so.enable_profiling = True
        so.profile_file_prefix = os.path.join(tmp, "ort-profile")
        so.optimized_model_filepath = os.path.join(tmp, "optimized.onnx")
        so.add_session_config_entry("session.optimized_model_external_initializers_file_name",
                                    _OPTIMIZED_DATA)
        so.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes",
                                    "1024")
        source: Any = path
        if named is not proto:
            source = named.SerializeToString()
            so.add_session_config_entry("session.model_external_initializers_file_folder_path",
                                        str(path.resolve().parent))
        with open_session(source, preset, threads, feeds, options=so) as live:
            for _ in range(PROFILE_WARMUP_RUNS + runs):
                live.run()
            trace = live.session.end_profiling()
        with open(trace, encoding="utf-8") as f:
            events = json.load(f)
        optimized = onnx.load(os.path.join(tmp, "optimized.onnx"), load_external_data=False)
    profile = profile_report(named, optimized, events, report, constants=graph.constants,
                             skip_runs=PROFILE_WARMUP_RUNS)
    profile.notes.append(f"mean of {profile.runs} profiled runs after {PROFILE_WARMUP_RUNS} "
                         "warm-up runs; profiling adds overhead, so compare shares, not sums, with p50")
    return profile


def _roofline(report: Report, latency: Latency, preset: Preset, threads: int, flops: int | None,
              profile: Any) -> dict[str, Any] | None:
    from flopscope.latency.roofline import roofline

    if preset.io_binding:
        latency.notes.append("roofline not drawn: it measures this host's CPU, and the gpu "
                             "preset runs on the GPU")
        return None
    times = None
    if profile is not None:
        times = {row.name: (row.time_ms, row.group_flops) for row in profile.layers
                 if row.time_ms is not None}
    return roofline(report, p50_ms=latency.p50_ms, flops=flops, threads=threads,
                    layer_times=times).to_dict()
