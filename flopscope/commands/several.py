"""``flopscope report A B dir/``: several models, one summary row each, analysed in parallel.

A directory stands for the ``*.onnx`` files in it. ``--jobs N`` analyses N models at a
time in worker processes (forked while this process has not imported torch, as on the ONNX
path; started afresh otherwise, since a fork of torch is not safe). A model that cannot be analysed gets a row
with its error, and the command exits 2 after printing the others.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from flopscope.errors import MESSAGE_LIMIT, FlopscopeError, one_line

FORMATS = ("text", "markdown", "csv", "json")
#: summary columns: key, header
COLUMNS = (("model", "model"), ("inputs", "inputs"), ("params", "params"), ("macs", "MACs"),
           ("flops", "FLOPs"), ("param_bytes", "weights"), ("peak_activation_bytes", "peak activations"),
           ("coverage", "coverage"), ("error", "error"))


def expand(models: Sequence[str]) -> list[str]:
    """The models named: each directory replaced by its ``*.onnx`` files, sorted.

    >>> expand(["a.onnx", "resnet18"])
    ['a.onnx', 'resnet18']
    """
    out: list[str] = []
    for model in models:
        if os.path.isdir(model):
            found = sorted(os.path.join(model, f) for f in os.listdir(model) if f.lower().endswith(".onnx"))
            if not found:
                raise FlopscopeError(f"{model}: a directory with no .onnx file in it")
            out += found
        else:
            out.append(model)
    return out


def several(models: Sequence[str]) -> bool:
    """True when the arguments name more than one model (two or more, or a directory)."""
    return len(models) > 1 or any(os.path.isdir(m) for m in models)


def summarise(model: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """One summary row of ``model`` (analysed with ``options``), or its error. Runs in a
    worker, so it returns plain data."""
    from flopscope.analysis import analyze
    from flopscope.render.tables import inputs_text

    try:
        report = analyze(model, **options)
    except FlopscopeError as exc:
        return {"model": model, "error": one_line(exc, MESSAGE_LIMIT)}
    except Exception as exc:  # noqa: BLE001 - one model's bug must not lose the other rows
        return {"model": model, "error": one_line(exc, named=True)}
    t = report.totals
    return {"model": model, "name": report.model.name, "inputs": inputs_text(report), "params": t.params,
            "macs": t.macs, "flops": t.flops, "param_bytes": t.param_bytes,
            "peak_activation_bytes": t.peak_activation_bytes, "coverage": round(report.coverage.percent, 3),
            "complete": report.coverage.complete, "error": ""}


def run_all(models: Sequence[str], options: Mapping[str, Any], jobs: int = 1) -> list[dict[str, Any]]:
    """A summary row per model, in the order given, ``jobs`` at a time."""
    if jobs <= 1 or len(models) == 1:
        return [summarise(m, options) for m in models]
    import multiprocessing

    context = multiprocessing.get_context("spawn" if "torch" in sys.modules else "fork")
    with ProcessPoolExecutor(max_workers=min(jobs, len(models)), mp_context=context) as executor:
        return list(executor.map(summarise, models, [options] * len(models)))


def render(rows: list[dict[str, Any]], fmt: str = "text") -> str:
    """The rows as a table (``text``, ``markdown``), ``csv`` or ``json``."""
    import csv
    import io
    import json

    from tabulate import tabulate

    from flopscope.units import binary_bytes, si

    if fmt == "json":
        return json.dumps(rows, indent=2) + "\n"
    keys = [k for k, _ in COLUMNS if k != "error" or any(r.get("error") for r in rows)]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, keys, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()

    def cell(row: dict[str, Any], key: str) -> str:
        value = row.get(key)
        if value is None or value == "":
            return "-" if key != "error" else ""
        if key in ("param_bytes", "peak_activation_bytes"):
            return binary_bytes(value)
        if key in ("params", "macs", "flops"):
            return si(value)
        if key == "coverage":
            return f"{value:.1f}%" + ("" if row.get("complete") else " (lower bound)")
        return str(value)

    headers = [h for k, h in COLUMNS if k in keys]
    table = [[cell(r, k) for k in keys] for r in rows]
    align = tuple("left" if k in ("model", "inputs", "error") else "right" for k in keys)
    text: str = tabulate(table, headers, tablefmt="github" if fmt == "markdown" else "simple",
                         disable_numparse=True, colalign=align)
    return text + "\n"


def run(args: argparse.Namespace, options: Mapping[str, Any]) -> int:
    """``flopscope report`` with several models: the summary table, exit 2 if any failed."""
    from flopscope.commands.common import emit

    if args.format not in FORMATS:
        raise FlopscopeError(f"--format {args.format} shows one model; for several choose one of "
                             f"{', '.join(FORMATS)}")
    for flag in ("depth", "top"):
        if getattr(args, flag, None) is not None:
            raise FlopscopeError(f"--{flag} applies to one model's layers; several models get one "
                                 "summary row each")
    if args.jobs is not None and args.jobs < 1:
        raise FlopscopeError("--jobs must be >= 1")
    models = expand(args.model)
    rows = run_all(models, options, args.jobs or 1)
    emit(render(rows, args.format), args.output, models)
    return 2 if any(r["error"] for r in rows) else 0
