"""Bench orchestration: one model, one preset; the analysed graph, the measurement, and
on request the per-layer profile and the roofline view.

The graph that runs is analysed once. A caller that has analysed the ONNX model already
hands its Report (and LayerGraph, for per-layer times) to :func:`bench`, and nothing is
analysed again; standalone, :func:`bench_report` loads and costs it. The inputs are
random data of the shapes the analysis bound, so GFLOP/s divides the same FLOP count the
report shows.

PyTorch models are exported to ONNX in a temporary folder, removed afterwards. Nothing
is written next to the user's model: the profiler's output and ORT's optimised graph go
to temporary folders too. Progress goes to the caller's ``progress`` callback
(:data:`flopscope.latency.measure.Progress`); nothing here writes to a stream.

The module is not called ``bench``: a submodule of that name would shadow the function
``flopscope.latency.bench``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flopscope.errors import FlopscopeError
from flopscope.latency.measure import WARMUP_BUDGET_S, Progress, Protocol, measure
from flopscope.latency.presets import Preset, check_provider, get_preset
from flopscope.latency.profile import profile_layers
from flopscope.latency.session import batch_dims, free_dims, random_inputs
from flopscope.report import Latency, Report

if TYPE_CHECKING:
    from flopscope.graph import LayerGraph


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


# --------------------------------------------------------------------------- bench


def bench(model: Any, inputs: Any = None, *, preset: str | Preset = "cpu", threads: int | None = None,
          iterations: int | None = None, time_budget_s: float | None = None, batch: int | None = None,
          progress: Progress | None = None, report: Report | None = None,
          graph: LayerGraph | None = None, flops: int | None = None,
          input_shapes: Mapping[str, Any] | None = None, dims: Mapping[str, int] | None = None,
          per_layer: bool = False, roofline: bool = False,
          warmup_budget_s: float = WARMUP_BUDGET_S, protocol: str = "quick",
          predict: bool = False) -> Latency:
    """Measure ``model``'s latency on ONNX Runtime with a named preset.

    ``model`` and ``inputs`` are as for :func:`flopscope.analyze` (an ``.onnx`` path, a
    reference name, ``file.py:factory`` or an ``nn.Module``, which is exported first).
    ``preset`` is ``"cpu"``, ``"mobile"`` or ``"gpu"`` (see ``flopscope.latency.PRESETS``);
    ``threads`` overrides its intra-op threads; ``iterations`` / ``time_budget_s`` set how
    many runs are timed; ``batch`` binds the inputs' leading dim. ``per_layer`` adds the
    profiler's per-layer times, ``roofline`` the roofline view, ``predict`` the latency
    predicted from the host's peaks (:mod:`flopscope.latency.predict`; ``predicted_ms``);
    both read the peaks of ``preset`` and ``threads`` from :mod:`flopscope.latency.peaks`
    (measured on first use, then cached).
    ``protocol="mlperf"`` measures MLPerf SingleStream-like (>= 1,024 runs and 60 s).
    ``progress`` is called as
    ``progress(phase, fraction, detail)`` while runs are timed.

    ``report`` is the caller's Report of the same model: GFLOP/s divides its FLOP count
    (or ``flops``) and ``report.latency`` is set. An ONNX model's report is the graph that
    runs, so the model is not analysed again (its shapes are those it was analysed with;
    ``graph``, the LayerGraph it was built from, serves the per-layer times). A PyTorch
    report cannot describe the exported graph, which is then analysed here.

    >>> lat = flopscope.bench("model.onnx", preset="mobile", iterations=50)
    >>> lat.p50_ms > 0, lat.label
    (True, 'mobile-like (x86 kernels)')
    """
    ran = report if report is not None and report.model.source == "onnx" else None
    if flops is None and report is not None:
        flops = report.totals.flops
    run_report = bench_report(model, inputs, preset=preset, threads=threads, iterations=iterations,
                              time_budget_s=time_budget_s, batch=batch, progress=progress,
                              input_shapes=input_shapes, dims=dims, per_layer=per_layer,
                              roofline=roofline, warmup_budget_s=warmup_budget_s, flops=flops,
                              report=ran, graph=graph, protocol=protocol, predict=predict)
    latency = run_report.latency
    assert latency is not None
    if report is not None:
        report.latency = latency
    return latency


def bench_report(model: Any, inputs: Any = None, *, preset: str | Preset = "cpu",
                 threads: int | None = None, iterations: int | None = None,
                 time_budget_s: float | None = None, batch: int | None = None,
                 progress: Progress | None = None, input_shapes: Mapping[str, Any] | None = None,
                 dims: Mapping[str, int] | None = None, per_layer: bool = False,
                 roofline: bool = False, warmup_budget_s: float = WARMUP_BUDGET_S,
                 flops: int | None = None, report: Report | None = None,
                 graph: LayerGraph | None = None, protocol: str = "quick",
                 predict: bool = False) -> Report:
    """:func:`bench`, returning the Report of the graph that ran with its ``latency`` set
    (``flops`` overrides the FLOP count behind GFLOP/s).

    ``report`` and ``graph`` are the caller's analysis of the ONNX graph that runs (either
    or both): given, the model is neither loaded nor costed again (only the LayerGraph is
    loaded for ``per_layer`` when the report comes without it), and ``inputs``,
    ``input_shapes`` and ``dims`` are those of that analysis. Without them the graph is
    loaded and costed here, once.
    """
    from flopscope.frontends.external import check_external_data
    from flopscope.frontends.onnx import read_model

    if progress is not None and not callable(progress):
        raise TypeError("progress is a callable progress(phase, fraction, detail) or None")
    preset = get_preset(preset)
    check_provider(preset)                       # before any export or analysis
    threads = preset.resolve_threads(threads)
    plan = Protocol(iterations, time_budget_s, warmup_budget_s, name=protocol)
    if batch is not None and batch < 1:
        raise FlopscopeError("--batch must be >= 1")
    given = report is not None or graph is not None
    if given and not _of_onnx(model, report, graph):
        raise FlopscopeError("the analysis given to bench must be of the ONNX graph that runs; a "
                             "PyTorch model is exported, and its graph analysed, here")

    with _model_file(model, inputs, input_shapes, batch) as prepared:
        proto = read_model(prepared.path)
        check_external_data(proto, prepared.path)
        run_report, graph = _analysis(prepared, proto, batch, dims, report, graph)
        shapes = [i.shape for i in run_report.model.inputs]
        run_batch = shapes[0][0] if shapes and shapes[0] and type(shapes[0][0]) is int else 1
        if batch is not None and run_batch != batch:
            raise FlopscopeError(f"--batch {batch}: the model's batch dimension is fixed at {run_batch}"
                                 + (" in the analysis given" if given else ""))
        feeds = random_inputs(run_report.model.inputs)
        fixed = free_dims(proto, run_report.model.inputs)
        count = run_report.totals.flops if flops is None else flops
        latency = measure(prepared.path, feeds, preset, threads, fixed, plan, batch=run_batch,
                          flops=count, progress=progress)
        latency.notes = prepared.notes + latency.notes
        if not run_report.coverage.complete and flops is None:
            latency.notes.append(f"GFLOP/s counts the costed layers only "
                                 f"({run_report.coverage.percent:.1f}% of nodes)")
        profile = None
        if per_layer:
            if graph is None:
                graph = _load(prepared, {}, {i.name: i.shape for i in run_report.model.inputs})
            profile = profile_layers(prepared.path, proto, graph, run_report, preset, threads, feeds, fixed)
            latency.per_layer = profile.to_dict()
        if roofline:
            latency.roofline = _roofline(run_report, latency, preset, threads, count, profile)
        if predict:
            _predict(run_report, latency, preset, threads, profile)
    run_report.latency = latency
    return run_report


def _of_onnx(model: Any, report: Report | None, graph: LayerGraph | None) -> bool:
    """Whether ``model`` runs as ONNX and the given analysis is of an ONNX graph."""
    from flopscope.sources import resolve

    return (resolve(model).is_onnx and (report is None or report.model.source == "onnx")
            and (graph is None or graph.source == "onnx"))


def _load(prepared: _Prepared, dims: Mapping[str, int],
          shapes: Mapping[str, Any] | None = None) -> LayerGraph:
    """The LayerGraph of the prepared ONNX file (the analysis's frontend step)."""
    from flopscope.analysis import load_graph

    return load_graph(prepared.path, input_shapes=prepared.input_shapes if shapes is None else shapes,
                      dims=dims, name=prepared.name)


def _analysis(prepared: _Prepared, proto: Any, batch: int | None, dims: Mapping[str, int] | None,
              report: Report | None, graph: LayerGraph | None) -> tuple[Report, LayerGraph | None]:
    """The Report of the graph that runs, and its LayerGraph where there is one: the
    caller's as given (a graph alone is costed), else loaded with ``dims`` and ``batch``
    bound, and costed."""
    from flopscope.analysis import build_report

    if report is None and graph is None:
        graph = _load(prepared, {**batch_dims(proto, batch), **dict(dims or {})})
    if report is None:
        assert graph is not None
        report = build_report(graph)
    return report, graph


# --------------------------------------------------------------------------- per layer, roofline


def _roofline(report: Report, latency: Latency, preset: Preset, threads: int, flops: int | None,
              profile: Any) -> dict[str, Any] | None:
    from flopscope.latency.roofline import roofline

    if preset.device != "cpu":
        latency.notes.append(f"roofline not drawn: it measures this host's CPU, and the "
                             f"{preset.name} preset runs on the {preset.device} device")
        return None
    times = None
    if profile is not None:
        times = {row.name: (row.time_ms, row.group_flops) for row in profile.layers
                 if row.time_ms is not None}
    return roofline(report, p50_ms=latency.p50_ms, flops=flops, preset=preset, threads=threads,
                    layer_times=times).to_dict()


def _predict(report: Report, latency: Latency, preset: Preset, threads: int, profile: Any) -> None:
    """Set ``latency.predicted_ms`` and ``latency.prediction`` from this host's cached peaks
    and calibration (measured on first use); with a per-layer ``profile``, the prediction's
    error over its layers too."""
    from flopscope.latency.peaks import host_profile
    from flopscope.latency.predict import error, layer_pairs, predict

    if preset.device != "cpu":
        latency.notes.append(f"no prediction: host peaks are the CPU's, and the {preset.name} "
                             f"preset runs on the {preset.device} device")
        return
    host = host_profile(preset, threads)
    p = predict(report.layers, host.peak("fp32"), host.bandwidth_gb_per_s, host.calibration,
                preset.optimization)
    latency.predicted_ms = p.predicted_ms
    latency.prediction = {"host": host.key, "peak_gflops_per_s": host.peak("fp32"),
                          "bandwidth_gb_per_s": host.bandwidth_gb_per_s,
                          "error": abs(p.predicted_ms - latency.p50_ms) / latency.p50_ms
                          if latency.p50_ms else None,
                          "layers": [asdict(row) for row in p.layers], "notes": list(p.notes)}
    if profile is not None:
        predicted, measured = layer_pairs(p, profile.to_dict())
        latency.prediction["layer_error"] = error(predicted, measured).to_dict()
        latency.prediction["layer_pairs"] = [[a, b] for a, b in zip(predicted, measured)]
