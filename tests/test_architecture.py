"""The architecture contracts of pyproject.toml's ``[tool.importlinter]``: the real tree
keeps them, and each contract breaks when one deliberately bad import is added to the
import graph (so none of them passes by construction).

The bad imports are added to a copy of grimp's graph of the real tree and checked with
import-linter's own contract classes: no file is written, and one graph serves all tests.
"""

from __future__ import annotations

import ast
import copy
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import grimp
import pytest
from importlinter import configuration
from importlinter.application.use_cases import read_user_options
from importlinter.contracts.acyclic_siblings import AcyclicSiblingsContract
from importlinter.contracts.forbidden import ForbiddenContract
from importlinter.contracts.layers import LayersContract

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
configuration.configure()   # lint-imports' settings: option readers, the timer contracts use
#: the options as lint-imports reads them (strings, the session options apart)
OPTIONS = read_user_options(str(ROOT / "pyproject.toml"))
CONTRACT_TYPES = {"layers": LayersContract, "forbidden": ForbiddenContract,
                  "acyclic_siblings": AcyclicSiblingsContract}

#: contract id -> (importer, imported) that must break it; chains of two or more steps
#: check that the contract follows indirect imports too
BAD_IMPORTS = {
    "layers": [("flopscope.graph", "flopscope.analysis"),            # a low layer imports a high one
               ("flopscope.rules.conv", "flopscope.frontends.onnx"),  # independent siblings
               ("flopscope.report", "flopscope.render.text")],        # a cycle: render.text imports report
    "no-cycles": [("flopscope.graph", "flopscope.rules.registry"),    # rules.registry imports graph
                  ("flopscope.latency.stats", "flopscope.checking")],  # checking -> latency (package)
    "library-not-cli": [("flopscope.gate", "flopscope.commands.common"),
                        ("flopscope.units", "flopscope.__main__")],   # units -> __main__ -> cli
    "report-no-presenter": [("flopscope.report", "flopscope.render.html"),
                            ("flopscope.report", "flopscope.comparison")],  # comparison -> plot
    "onnx-path-light": [("flopscope.rules.norm", "flopscope.render.dataframe"),  # -> pandas
                        ("flopscope.graph", "flopscope.export"),           # -> frontends.torch -> torch
                        ("flopscope.frontends.onnx", "torch")],
}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(CONFIG["root_package"],
                             include_external_packages=CONFIG["include_external_packages"],
                             exclude_type_checking_imports=CONFIG["exclude_type_checking_imports"],
                             cache_dir=None)


def contract(contract_id: str) -> Any:
    options = next(c for c in OPTIONS.contracts_options if c["id"] == contract_id)
    return CONTRACT_TYPES[options["type"]](name=options["name"], session_options=OPTIONS.session_options,
                                           contract_options=dict(options))


def test_lint_imports_keeps_every_contract_on_the_real_tree() -> None:
    code = ("import sys; from importlinter.cli import lint_imports_command; "
            "sys.argv = ['lint-imports', '--no-cache']; sys.exit(lint_imports_command())")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Contracts: {len(CONFIG['contracts'])} kept, 0 broken." in done.stdout


def test_every_contract_has_bad_imports_to_try() -> None:
    assert sorted(BAD_IMPORTS) == sorted(c["id"] for c in CONFIG["contracts"])


@pytest.mark.parametrize("contract_id", sorted(BAD_IMPORTS))
def test_each_contract_is_kept_by_the_real_graph(graph: grimp.ImportGraph, contract_id: str) -> None:
    assert contract(contract_id).check(copy.deepcopy(graph), verbose=False).kept


@pytest.mark.parametrize(("contract_id", "importer", "imported"),
                         [(c, a, b) for c, pairs in BAD_IMPORTS.items() for a, b in pairs])
def test_each_contract_breaks_on_a_bad_import(graph: grimp.ImportGraph, contract_id: str,
                                              importer: str, imported: str) -> None:
    bad = copy.deepcopy(graph)
    assert not bad.direct_import_exists(importer=importer, imported=imported)
    bad.add_import(importer=importer, imported=imported, line_number=1, line_contents="import bad")
    assert not contract(contract_id).check(bad, verbose=False).kept


def function_local(path: Path, module: str) -> list[tuple[int, bool]]:
    """(line, inside a function?) of each import of ``module`` in the file at ``path``."""
    found: list[tuple[int, bool]] = []

    def walk(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            names = ([a.name for a in child.names] if isinstance(child, ast.Import)
                     else [child.module or ""] if isinstance(child, ast.ImportFrom) else [])
            if any(n == module or n.startswith(module + ".") for n in names):
                found.append((child.lineno, in_function))
            walk(child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef))

    walk(ast.parse(path.read_text()), False)
    return found


def test_the_torch_imports_of_sources_stay_inside_functions() -> None:
    """The ONNX-path contract ignores ``flopscope.sources -> torch`` (see pyproject.toml):
    it holds only while every such import is inside a torch-path function."""
    imports = function_local(ROOT / "flopscope" / "sources.py", "torch")
    assert imports and all(inside for _, inside in imports), imports


def test_function_local_tells_a_module_level_import(tmp_path: Path) -> None:
    path = tmp_path / "probe.py"
    path.write_text("import torch\n\ndef f():\n    from torch import nn\n")
    assert function_local(path, "torch") == [(1, False), (4, True)]


def test_analysing_an_onnx_file_imports_neither_torch_nor_pandas(tmp_path: Path) -> None:
    code = f"""
import sys
import onnx
from onnx import TensorProto, helper
x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])
graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), {str(tmp_path / "m.onnx")!r})
from flopscope.analysis import analyze
from flopscope.render import render
report = analyze({str(tmp_path / "m.onnx")!r})
for fmt in ("text", "json", "csv", "markdown"):
    render(report, fmt)
print(report.totals.flops)
assert not {{"torch", "pandas"}} & set(sys.modules), sorted({{"torch", "pandas"}} & set(sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["8"]
