"""Export a PyTorch model to ONNX, for the latency harness and for cross-checks."""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from pathlib import Path
from typing import Any

from flopscope.errors import FlopscopeError

#: opset the exports ask for (the TorchScript exporter supports up to 20 on torch 2.13)
DEFAULT_OPSET = 17


def _example_inputs(module: Any, inputs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    import torch

    from flopscope.frontends.torch import _arguments

    device = torch.device("cpu")
    args, kwargs, _ = _arguments(module, inputs, None, device)
    real = tuple(torch.zeros(a.shape, dtype=a.dtype) if isinstance(a, torch.Tensor) else a
                 for a in args)
    real_kwargs = {k: torch.zeros(v.shape, dtype=v.dtype) if isinstance(v, torch.Tensor) else v
                   for k, v in kwargs.items()}
    return real, real_kwargs


def export_onnx(model: Any, inputs: Any, path: str | os.PathLike[str], *,
                opset: int = DEFAULT_OPSET, exporter: str = "auto") -> Path:
    """Export ``model`` (an ``nn.Module``, a reference name or ``file.py:factory``) to ``path``.

    ``inputs`` are shapes or example tensors as for :func:`flopscope.analyze`.
    ``exporter`` is ``"torchscript"`` (fast, keeps module scopes in node names),
    ``"dynamo"`` (``torch.export`` based), or ``"auto"``: TorchScript first, then dynamo.
    The model is exported in eval mode and its training flags are restored.

    >>> flopscope.export_onnx("resnet18", (1, 3, 224, 224), "resnet18.onnx")  # doctest: +SKIP
    """
    import torch

    from flopscope.frontends.torch import resolve

    module, default_inputs, display = resolve(model)
    if inputs is None:
        inputs = default_inputs
    if any(p.device.type == "meta" for p in module.parameters()):
        raise FlopscopeError(f"{display}: weights are on the meta device; ONNX export needs real "
                             "weights (build the model on the CPU)")
    out = Path(path)
    if out.parent and not out.parent.exists():
        raise FlopscopeError(f"cannot export to {out}: folder {out.parent} does not exist")
    order = {"auto": ("torchscript", "dynamo"), "torchscript": ("torchscript",),
             "dynamo": ("dynamo",)}.get(exporter)
    if order is None:
        raise FlopscopeError(f"unknown exporter '{exporter}': auto, torchscript or dynamo")
    modes = {m: m.training for m in module.modules()}
    errors = []
    try:
        module.eval()
        with torch.no_grad():
            args, kwargs = _example_inputs(module, inputs)
        for kind in order:
            try:
                _export(module, args, kwargs, out, opset, kind)
                return out
            except Exception as exc:  # each exporter fails in its own way
                errors.append(f"{kind}: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
    finally:
        for m, training in modes.items():
            m.training = training
    raise FlopscopeError(f"{display}: ONNX export failed ({'; '.join(errors)})")


def _export(module: Any, args: tuple, kwargs: dict, out: Path, opset: int, kind: str) -> None:
    import torch

    sink = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        warnings.simplefilter("ignore")
        if kind == "torchscript":
            torch.onnx.export(module, args, str(out), kwargs=kwargs or None, opset_version=opset,
                              dynamo=False, do_constant_folding=True)
        else:
            program = torch.onnx.export(module, args, kwargs=kwargs or None, opset_version=max(opset, 18),
                                        dynamo=True, verbose=False)
            program.save(str(out))
