"""The namespace and working directory of the package's doctests (``--doctest-modules``).

Each docstring example of ``flopscope/`` runs in a fresh temporary directory (its cwd)
holding a tiny ``model.onnx`` (Conv + Relu + Flatten + Gemm with a symbolic batch dim ``N``)
and a ``baseline.json`` (its report at ``N=1``), with these names at hand: ``flopscope``,
``Path``, ``report`` (resnet18), ``graph`` (its layer graph), ``r18``/``r50`` and ``a``/``b``
(resnet18 and resnet50, for the diff examples), ``c`` (their Comparison), ``zoo`` (the two
as a Zoo without export or timing) and ``row`` (its resnet18 row). All are made once per
session, at the first doctest. This file sits at the repository root: it is not part of the package.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from _pytest.doctest import DoctestItem

collect_ignore = ["flopscope/__main__.py"]    # runs the CLI on import


def _tiny_model(path: Path) -> None:
    """A 3x8x8 image -> Conv(4, 3x3) -> Relu -> Flatten -> Gemm(10), batch dim ``N``."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)
             for name, shape in [("w", (4, 3, 3, 3)), ("wb", (4,)), ("fc", (10, 144)), ("fcb", (10,))]]
    nodes = [helper.make_node("Conv", ["x", "w", "wb"], ["c"], name="conv", kernel_shape=[3, 3]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Flatten", ["r"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "fc", "fcb"], ["y"], name="fc", transB=1)]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))


@pytest.fixture(scope="session")
def _doctest_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files every doctest finds in its working directory (built once)."""
    import flopscope

    root = tmp_path_factory.mktemp("doctest-files")
    _tiny_model(root / "model.onnx")
    (root / "baseline.json").write_text(
        flopscope.analyze(str(root / "model.onnx"), dims={"N": 1}).to_json(indent=2))
    return root


@pytest.fixture(scope="session")
def _doctest_names(doctest_namespace: dict[str, Any]) -> None:
    """Fill pytest's ``doctest_namespace`` (once, at the first doctest)."""
    import flopscope

    r18, r50 = flopscope.analyze("resnet18"), flopscope.analyze("resnet50")
    zoo = _zoo([r18, r50])
    doctest_namespace.update(flopscope=flopscope, Path=Path, report=r18, r18=r18, r50=r50, a=r18, b=r50,
                             graph=flopscope.load_graph("resnet18"), c=flopscope.compare([r18, r50]),
                             zoo=zoo, row=zoo.rows[0])


def _zoo(reports: list[Any]) -> Any:
    """A zoo of ``reports`` without its export and timing (``run_zoo`` takes seconds a model):
    the published figures from the catalog, the ONNX counts taken as equal to PyTorch's."""
    from flopscope.models import catalog
    from flopscope.zoo import Zoo, ZooRow, machine_info

    rows = []
    for report in reports:
        spec = catalog.spec(report.model.name)
        rows.append(ZooRow(
            name=spec.name, description=spec.description, input_shape=list(spec.input_shape),
            report=report, onnx_macs=report.totals.macs, onnx_params=report.totals.params,
            published_params=spec.published_params, published_gmacs=spec.published_gmacs,
            source=spec.source))
    return Zoo(rows=rows, presets=[], machine=machine_info())


@pytest.fixture(autouse=True)
def _doctest_cwd(request: pytest.FixtureRequest) -> None:
    """Run each doctest, with the names above, in a fresh copy of the doctest files."""
    if isinstance(request.node, DoctestItem):
        request.getfixturevalue("_doctest_names")
        tmp_path: Path = request.getfixturevalue("tmp_path")
        shutil.copytree(request.getfixturevalue("_doctest_files"), tmp_path, dirs_exist_ok=True)
        request.getfixturevalue("monkeypatch").chdir(tmp_path)
