"""Session set-up: an ONNX Runtime session opened as a preset says, the data it runs on,
and the settings it really runs with.

A session is created inside its preset's CPU pinning (:func:`open_session`); its inputs
are random data of the shapes the analysis bound (:func:`random_inputs`), and the
symbolic dims the analysis bound become free-dimension overrides (:func:`free_dims`).

>>> import flopscope
>>> feeds = random_inputs(flopscope.load_graph("model.onnx").inputs)
>>> with open_session("model.onnx", "cpu", feeds=feeds) as live:
...     outputs = live.run()
>>> [y.shape for y in outputs]
[(1, 10)]
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from flopscope.errors import FlopscopeError, one_line
from flopscope.latency.presets import (
    SPIN_INTER,
    SPIN_INTRA,
    Preset,
    check_provider,
    check_session,
    choose_cores,
    get_preset,
    pinned,
)


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

    Without IO binding it calls ``session.run(None, feeds)``. A preset with ``io_binding``
    copies the inputs to its device once (``OrtValue.ortvalue_from_numpy(x, device, 0)``),
    binds the outputs on the device too, and each run is ``run_with_iobinding``, which
    returns once the device is done.
    """
    if not preset.io_binding:
        return functools.partial(session.run, None, dict(feeds)), []
    import onnxruntime as ort

    binding = session.io_binding()
    values = [ort.OrtValue.ortvalue_from_numpy(array, preset.device, 0) for array in feeds.values()]
    for name, value in zip(feeds, values):
        binding.bind_ortvalue_input(name, value)
    for out in session.get_outputs():
        binding.bind_output(out.name, preset.device, 0)
    binding.synchronize_inputs()
    return functools.partial(session.run_with_iobinding, binding), [binding, values]


def _preload_cuda() -> None:
    """onnxruntime-gpu >= 1.21 can load the CUDA and cuDNN libraries of pip's nvidia-*
    packages; where they are not installed it changes nothing. What it prints is dropped:
    the library writes nothing."""
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
    if preset.device == "cuda":
        _preload_cuda()
    cores = choose_cores(threads) if preset.pin else None
    with pinned(cores) as affinity:
        so = options if options is not None else preset.session_options(threads, free_dims)
        model = source if isinstance(source, bytes) else os.fspath(source)
        t0 = time.perf_counter_ns()
        try:
            session = ort.InferenceSession(model, so, providers=preset.providers())
        except Exception as exc:
            raise FlopscopeError(f"ONNX Runtime cannot load the model: {one_line(exc)}") from None
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


# --------------------------------------------------------------------------- inputs and dims


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
    """Symbolic input dims of ``model`` (a ``ModelProto``) and the sizes the analysis bound
    them to, read from the analysed ``inputs`` (each with a name and a shape)."""
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


def batch_dims(model: Any, batch: int | None) -> dict[str, int]:
    """Each input's symbolic leading dim of ``model`` bound to ``batch`` (none without one).

    >>> from onnx import TensorProto, helper
    >>> x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])
    >>> batch_dims(helper.make_model(helper.make_graph([], "g", [x], [])), 8)
    {'N': 8}
    """
    dims: dict[str, int] = {}
    if batch is None:
        return dims
    for vi in _real_inputs(model):
        shape = vi.type.tensor_type.shape.dim if vi.type.HasField("tensor_type") else []
        if shape and shape[0].HasField("dim_param") and shape[0].dim_param:
            dims.setdefault(shape[0].dim_param, batch)
    return dims
