"""Export a PyTorch model to ONNX, for the latency harness and for cross-checks."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flopscope.errors import FlopscopeError, one_line
from flopscope.sources import ONNX_FILE, PROTO, merge_inputs, resolve, with_batch

#: opset the exports ask for (the TorchScript exporter supports up to 20 on torch 2.13)
DEFAULT_OPSET = 17


def _example_inputs(module: Any, inputs: Any, device: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Zero-filled example inputs of the given shapes (meta tensors for a meta module)."""
    import torch

    from flopscope.frontends.torch import arguments

    args, kwargs, _ = arguments(module, inputs, None, device)

    def real(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return torch.zeros(value.shape, dtype=value.dtype, device=device)
        return value

    return tuple(real(a) for a in args), {k: real(v) for k, v in kwargs.items()}


def export_onnx(model: Any, inputs: Any, path: str | os.PathLike[str], *,
                opset: int = DEFAULT_OPSET, exporter: str = "auto", weights: bool = True) -> Path:
    """Export ``model`` (an ``nn.Module``, a reference name, ``file.py:factory`` or a
    :class:`~flopscope.sources.Source` of one) to ``path``.

    ``inputs`` are shapes or example tensors as for :func:`flopscope.analyze` (None: a
    reference architecture's own input shape). ``exporter`` is ``"torchscript"`` (fast,
    keeps module scopes in node names), ``"dynamo"`` (``torch.export`` based), or
    ``"auto"``: TorchScript first, then dynamo. The model is exported in eval mode and
    its training flags are restored.

    ``weights=False`` exports the structure only, for cross-checks: the weights become
    graph inputs and a reference architecture is traced on the meta device, never
    allocated (the dynamo exporter; a second or two even for VGG).

    >>> from torch import nn
    >>> flopscope.export_onnx(nn.Conv2d(3, 8, 3), (1, 3, 32, 32), "conv.onnx")
    PosixPath('conv.onnx')
    """
    import torch

    from flopscope.frontends.torch import build

    source = resolve(model)
    module, default_inputs = build(source, weights=weights)
    display = source.name
    if inputs is None:
        inputs = default_inputs
    on_meta = any(p.device.type == "meta" for p in (*module.parameters(), *module.buffers()))
    if on_meta and weights:
        raise FlopscopeError(f"{display}: weights are on the meta device; ONNX export needs real "
                             "weights (build the model on the CPU)")
    out = Path(path)
    if not out.parent.is_dir():
        raise FlopscopeError(f"cannot export to {out}: folder {out.parent} does not exist")
    order = {"auto": ("torchscript", "dynamo"), "torchscript": ("torchscript",),
             "dynamo": ("dynamo",)}.get(exporter)
    if order is None:
        raise FlopscopeError(f"unknown exporter '{exporter}': auto, torchscript or dynamo")
    if not weights:
        order = ("dynamo",)          # the only exporter that traces without real weights
    modes = {m: m.training for m in module.modules()}
    errors = []
    try:
        module.eval()
        with torch.no_grad():
            args, kwargs = _example_inputs(module, inputs, torch.device("meta" if on_meta else "cpu"))
        with _exportable_experts(module):
            for kind in order:
                try:
                    _export(module, args, kwargs, out, opset, kind, weights)
                    return out
                except Exception as exc:  # each exporter fails in its own way
                    errors.append(f"{kind}: {one_line(exc, named=True)}")
    finally:
        for m, training in modes.items():
            m.training = training
    raise FlopscopeError(f"{display}: ONNX export failed ({'; '.join(errors)})")


@contextlib.contextmanager
def _exportable_experts(module: Any) -> Iterator[None]:
    """A transformers Mixture-of-Experts model exported with ``batched_mm`` experts: the
    default ``grouped_mm`` (sort, ``histc``, ``torch._grouped_mm``) has no ONNX export;
    ``batched_mm`` gathers each pair's expert weights and multiplies in a batch, the same
    MACs. The model's own setting is restored after."""
    config = getattr(module, "config", None)
    setter = getattr(module, "set_experts_implementation", None)
    before = getattr(config, "_experts_implementation", None)
    if before != "grouped_mm" or setter is None:
        yield
        return
    try:
        setter("batched_mm")
    except Exception:     # a model whose experts take no other implementation
        yield
        return
    try:
        yield
    finally:
        setter(before)


@contextlib.contextmanager
def onnx_file(model: Any, inputs: Any = None, *, batch: int | None = None) -> Iterator[Path]:
    """An ONNX file of any model, for ONNX Runtime: an ``.onnx`` file as it is; a
    ModelProto, or a PyTorch model exported with ``inputs`` (its own example inputs when
    None), written to a temporary folder that is removed on exit. ``batch`` sets the
    leading dim of a PyTorch model's input shapes; an ONNX model's ``inputs`` are not
    used here (its dims are bound when it is analysed).

    >>> import onnxruntime
    >>> from torch import nn
    >>> with onnx_file(nn.Conv2d(3, 8, 3), (1, 3, 32, 32)) as path:
    ...     session = onnxruntime.InferenceSession(path)
    >>> [i.name for i in session.get_inputs()]
    ['input']
    """
    source = resolve(model)
    if source.kind == ONNX_FILE:
        yield Path(source.spec)
        return
    with tempfile.TemporaryDirectory(prefix="flopscope-bench-") as tmp:
        path = Path(tmp) / "model.onnx"
        if source.kind == PROTO:
            path.write_bytes(source.value.SerializeToString())
            yield path
            return
        from flopscope.frontends.torch import build

        module, default_inputs = build(source, weights=True)
        given = merge_inputs(inputs)
        if given.empty:
            given = merge_inputs(default_inputs)
        if given.empty:
            raise FlopscopeError(f"{source.name}: give the input shapes (--input-shape 1x3x224x224)")
        if batch is not None:
            given = with_batch(given, batch)
        export_onnx(module, given, path)
        yield path


@contextlib.contextmanager
def _quiet_descriptors() -> Iterator[None]:
    """Silence file descriptors 1 and 2: the exporters' C++ side prints whole graphs there."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved = []
    try:
        with tempfile.TemporaryFile() as sink:
            for fd in (1, 2):
                saved.append((fd, os.dup(fd)))
                os.dup2(sink.fileno(), fd)
            yield
    finally:
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)


@contextlib.contextmanager
def _only_given(module: Any, args: tuple, kwargs: dict) -> Iterator[tuple[tuple, list[str] | None]]:
    """The TorchScript exporter passes every forward parameter it is not given at its
    default, an ``int`` default becoming a graph input the trace then computes with
    (transformers' ``logits_to_keep=0`` turned the LM head into a Gather of one token).
    With keyword inputs, ``module.forward`` is narrowed for the export to the parameters
    given, in signature order, and the inputs are named after them."""
    import inspect

    if not kwargs:
        yield args, None
        return
    params = inspect.signature(module.forward).parameters
    names = [n for n in list(params)[:len(args)]] + [n for n in params if n in kwargs]
    values = (*args, *(kwargs[n] for n in names[len(args):]))
    bound = module.forward
    had_own = "forward" in vars(module)

    def forward(*tensors: Any) -> Any:
        return bound(**dict(zip(names, tensors)))

    setattr(forward, "__signature__", inspect.Signature([params[n] for n in names]))  # noqa: B010
    module.forward = forward
    try:
        yield values, names
    finally:
        if had_own:
            module.forward = bound
        else:
            del module.forward


def _export(module: Any, args: tuple, kwargs: dict, out: Path, opset: int, kind: str,
            weights: bool) -> None:
    import torch

    sink = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), \
            _quiet_descriptors():
        warnings.simplefilter("ignore")
        if kind == "torchscript":
            with _only_given(module, args, kwargs) as (values, names):
                torch.onnx.export(module, values, str(out), input_names=names, opset_version=opset,
                                  dynamo=False, do_constant_folding=True)
            return
        program = torch.onnx.export(module, args, kwargs=kwargs or None, opset_version=max(opset, 18),
                                    dynamo=True, verbose=False, optimize=weights)
        assert program is not None      # the dynamo exporter returns its program
        if not weights:  # structure only: each weight becomes a typed graph input
            graph = program.model.graph
            for name, value in list(graph.initializers.items()):
                graph.initializers.pop(name)
                value.const_value = None
                graph.inputs.append(value)
        program.save(str(out))
