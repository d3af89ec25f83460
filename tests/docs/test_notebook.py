"""docs/notebook.ipynb runs: every code cell in order, in one namespace, as a kernel would.

The notebook checks the course notes' numbers itself with ``assert`` statements; this test
runs it (with matplotlib's Agg backend) and shows each cell's last expression the way a
notebook does, through its HTML display, so a display that breaks or grows fails here too.
"""

from __future__ import annotations

import ast
import json
import linecache
import shutil
import time
from pathlib import Path
from typing import Any

import matplotlib
import pytest

matplotlib.use("Agg")

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "notebook.ipynb"


def load() -> dict[str, Any]:
    return json.loads(NOTEBOOK.read_text(encoding="utf-8"))


def show(value: Any) -> None:
    """What a notebook does with a cell's value: its HTML display when it has one (a
    Report's is the one ``import flopscope`` registers with IPython)."""
    import flopscope
    from flopscope.report import Report

    html = (lambda: flopscope._report_html(value)) if isinstance(value, Report) \
        else getattr(value, "_repr_html_", None)
    if callable(html):
        text = html()
        assert text is None or (isinstance(text, str) and len(text) < 100_000)
    else:
        repr(value)


def run(notebook: dict[str, Any]) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "__notebook__"}
    for i, cell in enumerate(c for c in notebook["cells"] if c["cell_type"] == "code"):
        name = f"<notebook code cell {i + 1}>"
        source = "".join(cell["source"])
        linecache.cache[name] = (len(source), None, source.splitlines(True), name)   # for tracebacks
        tree = ast.parse(source, filename=name)
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        exec(compile(tree, name, "exec"), namespace)
        if last is not None:
            show(eval(compile(ast.Expression(last.value), name, "eval"), namespace))
    return namespace


def test_notebook_is_nbformat_4_without_outputs():
    notebook = load()
    assert notebook["nbformat"] == 4 and notebook["nbformat_minor"] >= 5
    assert notebook["metadata"]["kernelspec"]["language"] == "python"
    ids = [cell["id"] for cell in notebook["cells"]]
    assert len(set(ids)) == len(ids)
    for cell in notebook["cells"]:
        assert cell["cell_type"] in ("markdown", "code")
        assert isinstance(cell["source"], list) and cell["metadata"] == {}
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
    try:
        import nbformat
    except ImportError:
        return
    nbformat.validate(nbformat.reads(NOTEBOOK.read_text(encoding="utf-8"), as_version=4))


def test_notebook_runs_and_its_checks_hold(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                        # nothing the notebook writes lands in the repo
    start = time.perf_counter()
    namespace = run(load())
    elapsed = time.perf_counter() - start
    try:
        assert namespace["r"].totals.macs == 924_844_032
        assert namespace["first_layers"].value(0, "params") == 150_528 * 1024 + 1024
        assert namespace["vgg_block"].ratio(0, "params") == 1.0
        assert namespace["vgg_block"].ratio(1, "params") == pytest.approx(49 / 27)
        assert elapsed < 120                           # about 15 s on 2 cores; a hang fails
    finally:
        shutil.rmtree(namespace["out"], ignore_errors=True)
