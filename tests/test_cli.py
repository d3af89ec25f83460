"""``flopscope report``: formats, the JSON contract, options, one-line errors, no torch import."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from flopscope.cli import main
from flopscope.render.csv import COLUMNS

CONV_MACS = 8 * 6 * 6 * 3 * 3 * 3                         # 7,776
FC_MACS = 288 * 10                                        # 2,880
PARAMS = 8 * 27 + 8 + 2880 + 10                           # 3,114


def _vi(name, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def _w(name, *shape):
    return numpy_helper.from_array(np.full(shape, 0.5, np.float32), name)


def _model(x_shape=(1, 3, 8, 8)):
    nodes = [helper.make_node("Conv", ["x", "cw", "cb"], ["c"], name="/features/features.0/Conv",
                              kernel_shape=[3, 3]),
             helper.make_node("Relu", ["c"], ["r"], name="/features/features.1/Relu"),
             helper.make_node("Flatten", ["r"], ["f"], name="/Flatten"),
             helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="/classifier/Gemm", transB=1)]
    graph = helper.make_graph(nodes, "tiny", [_vi("x", list(x_shape) if x_shape else None)],
                              [_vi("y", [1, 10])],
                              [_w("cw", 8, 3, 3, 3), _w("cb", 8), _w("fw", 10, 288), _w("fb", 10)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny Conv/Relu/Gemm model, a symbolic-batch one, a shapeless-input one, and junk."""
    d = tmp_path_factory.mktemp("cli")
    onnx.save_model(_model(), str(d / "tiny.onnx"))
    onnx.save_model(_model(("N", 3, 8, 8)), str(d / "sym.onnx"))
    onnx.save_model(_model(None), str(d / "noshape.onnx"))
    (d / "empty.onnx").write_bytes(b"")
    (d / "random.onnx").write_bytes(np.random.default_rng(0).bytes(4096))
    (d / "notes.onnx").write_text("these are not the weights you are looking for\n")
    (d / "folder.onnx").mkdir()
    (d / "tensor.onnx").write_bytes(numpy_helper.from_array(np.ones(4, np.float32)).SerializeToString())
    return d


def run_main(capsys, *argv):
    code = main(["report", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, out, err, *needles):
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("flopscope: error: ") and "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]


# --------------------------------------------------------------------------- formats


def test_text(files, capsys):
    """Totals and coverage first, then the module tree, the op types, the convention."""
    code, out, err = run_main(capsys, files / "tiny.onnx")
    assert code == 0 and err == ""
    assert "tiny (onnx)" in out and "x 1x3x8x8 float32" in out
    assert f"{CONV_MACS + FC_MACS:,}" in out and f"{PARAMS:,}" in out
    assert out.index("MACs") < out.index("coverage: 100.0% (4 of 4 nodes costed)") \
        < out.index("module tree") < out.index("by op type") < out.index("convention: flopscope")
    assert "  features.0  Conv  1x3x8x8 -> 1x8x6x6  k3x3" in out
    assert "Flatten" not in _tree(out) and "1 zero-cost plumbing layer(s) folded" in out


def _tree(out):
    """The rows of the text report's module tree (or top list)."""
    block = out.split("\n\n")
    table = next(b for b in block if b.startswith(("module tree", "top ")))
    return table.splitlines()[3:]


def test_all_layers_shows_the_plumbing(files, capsys):
    code, out, _ = run_main(capsys, files / "tiny.onnx", "--all-layers")
    assert code == 0 and "folded" not in out
    assert [row.split()[0] for row in _tree(out)] == ["features", "features.0", "features.1",
                                                      "/Flatten", "classifier"]


def test_markdown(files, capsys):
    code, out, _ = run_main(capsys, files / "tiny.onnx", "--format", "markdown")
    assert code == 0
    assert out.startswith("## tiny (onnx)")
    assert "### totals" in out and "### module tree" in out
    assert out.index("### totals") < out.index("- coverage: 100.0%") < out.index("### module tree")
    assert any(line.startswith("|") and "Gemm" in line for line in out.splitlines())
    assert "| &nbsp;&nbsp;features.0 | Conv |" in out


def test_csv(files, capsys):
    code, out, _ = run_main(capsys, files / "tiny.onnx", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert tuple(rows[0]) == COLUMNS
    assert [r["op"] for r in rows] == ["Conv", "Relu", "Flatten", "Gemm"]
    assert sum(int(r["macs"]) for r in rows) == CONV_MACS + FC_MACS
    assert sum(int(r["params"]) for r in rows) == PARAMS
    assert rows[0]["output_shapes"] == "1x8x6x6" and rows[0]["module"] == "features.0"


CONTRACT = {
    "model": {"name", "source", "inputs"},
    "totals": {"macs", "flops", "params", "param_bytes", "activation_bytes", "peak_activation_bytes",
               "traffic_bytes"},
    "coverage": {"nodes", "costed", "unsupported"},
}
LAYER_KEYS = {"name", "op", "module", "output_shapes", "macs", "flops", "params", "output_bytes",
              "traffic_bytes"}


def _strict_json(text):
    def no_constants(name):
        raise ValueError(f"JSON has {name}")
    return json.loads(text, parse_constant=no_constants)


def test_json_follows_the_contract(files, capsys):
    code, out, _ = run_main(capsys, files / "tiny.onnx", "--format", "json")
    assert code == 0
    data = _strict_json(out)
    assert data["schema"] == "flopscope.report/1"
    assert {"schema", "model", "convention", "totals", "coverage", "layers", "latency"} <= set(data)
    for section, keys in CONTRACT.items():
        assert keys <= set(data[section]), section
    assert data["model"]["source"] == "onnx" and data["model"]["name"] == "tiny"
    assert data["model"]["inputs"] == [{"name": "x", "shape": [1, 3, 8, 8], "dtype": "float32"}]
    assert data["convention"] == "flopscope" and data["latency"] is None
    for key in CONTRACT["totals"]:
        assert type(data["totals"][key]) is int, key
    assert data["totals"]["macs"] == CONV_MACS + FC_MACS and data["totals"]["params"] == PARAMS
    assert type(data["coverage"]["nodes"]) is int and type(data["coverage"]["costed"]) is int
    assert data["coverage"]["unsupported"] == {} and data["coverage"]["nodes"] == 4
    assert len(data["layers"]) == 4
    for row in data["layers"]:
        assert LAYER_KEYS <= set(row)
        assert all(type(row[k]) is int for k in ("macs", "flops", "params", "output_bytes", "traffic_bytes"))
        assert all(type(d) is int for shape in row["output_shapes"] for d in shape)
    assert [row["module"] for row in data["layers"]] == ["features.0", "features.1", "", "classifier"]


def test_json_unsupported_counts_are_ints(tmp_path, capsys):
    model = _model()
    model.graph.node.append(helper.make_node("Mystery", ["y"], ["z"], domain="com.example", name="m"))
    model.graph.output[0].CopyFrom(_vi("z", [1, 10]))
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    onnx.save_model(model, str(tmp_path / "custom.onnx"))
    code, out, _ = run_main(capsys, tmp_path / "custom.onnx", "--format", "json")
    data = _strict_json(out)
    assert code == 0 and data["coverage"]["unsupported"] == {"com.example.Mystery": 1}
    mystery = data["layers"][-1]
    assert mystery["macs"] is None and mystery["flops"] is None and data["coverage"]["costed"] == 4


# --------------------------------------------------------------------------- options


def test_depth(files, capsys):
    code, out, _ = run_main(capsys, files / "tiny.onnx", "--depth", "1")
    assert code == 0 and "module tree (to depth 1)" in out
    assert [row.split()[0] for row in _tree(out)] == ["features", "classifier"]
    code, out, _ = run_main(capsys, files / "tiny.onnx", "--depth", "2")
    assert code == 0 and "module tree (to depth 2)" in out
    # full paths, each under its parent (defect 2: rows read "0", "1" without their prefix)
    assert [row.rstrip().split("  ")[0] for row in _tree(out)] == ["features", "", "", "classifier"]
    assert [row.split()[0] for row in _tree(out)] == ["features", "features.0", "features.1",
                                                      "classifier"]


def test_top(files, capsys):
    code, out, _ = run_main(capsys, files / "tiny.onnx", "--top", "2")
    assert code == 0 and "top 2 layers by FLOPs" in out
    assert [row.split()[0] for row in _tree(out)] == ["features.0", "classifier"]


def test_convention_2mac(files, capsys):
    code, out, _ = run_main(capsys, files / "tiny.onnx", "--convention", "2mac", "--format", "json")
    data = _strict_json(out)
    assert code == 0 and data["convention"] == "2mac"
    assert data["totals"]["flops"] == 2 * data["totals"]["macs"] == 2 * (CONV_MACS + FC_MACS)
    assert [row["flops"] for row in data["layers"]] == [2 * CONV_MACS, 0, 0, 2 * FC_MACS]


def test_output_file(files, tmp_path, capsys):
    target = tmp_path / "report.json"
    code, out, err = run_main(capsys, files / "tiny.onnx", "--format", "json", "-o", target)
    assert code == 0 and out == "" and err == ""
    assert _strict_json(target.read_text())["totals"]["params"] == PARAMS


def test_input_shape_and_dim(files, capsys):
    code, out, _ = run_main(capsys, files / "sym.onnx", "--format", "json")
    data = _strict_json(out)
    assert data["totals"]["macs"] == CONV_MACS + FC_MACS
    assert any("--dim N=" in note for note in data["notes"])
    code, out, _ = run_main(capsys, files / "sym.onnx", "--format", "json", "--dim", "N=4")
    assert code == 0 and _strict_json(out)["model"]["inputs"][0]["shape"] == [4, 3, 8, 8]
    assert _strict_json(out)["layers"][0]["macs"] == 4 * CONV_MACS
    code, out, _ = run_main(capsys, files / "noshape.onnx", "--format", "json", "--input-shape", "x=1x3x8x8")
    assert code == 0 and _strict_json(out)["totals"]["macs"] == CONV_MACS + FC_MACS
    code, out, _ = run_main(capsys, files / "tiny.onnx", "--format=json", "--input-shape=1x3x8x8:float32")
    assert code == 0 and _strict_json(out)["totals"]["macs"] == CONV_MACS + FC_MACS


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("name, needle", [
    ("missing.onnx", "no such file"),
    ("folder.onnx", "directory"),
    ("empty.onnx", "empty"),
    ("random.onnx", "random.onnx"),
    ("notes.onnx", "not a valid ONNX file"),
    ("tensor.onnx", "not an ONNX model"),                   # a TensorProto, not a ModelProto
])
def test_unusable_files(files, capsys, name, needle):
    assert_one_line_error(*run_main(capsys, files / name), needle)


def test_truncated_onnx_file(tmp_path, capsys, light_model):
    data = open(light_model("squeezenet"), "rb").read()
    (tmp_path / "half.onnx").write_bytes(data[: len(data) // 2])
    assert_one_line_error(*run_main(capsys, tmp_path / "half.onnx"), "half.onnx")


def test_input_without_shape_names_the_flag(files, capsys):
    assert_one_line_error(*run_main(capsys, files / "noshape.onnx"), "--input-shape x=")


@pytest.mark.parametrize("argv, needle", [
    (["--input-shape", "x=1x3xabc"], "bad shape '1x3xabc'"),
    (["--input-shape", "x=1x3x8"], "rank 4"),
    (["--input-shape", "z=1x3x8x8"], "'z'"),
    (["--dim", "N"], "bad --dim"),
    (["--dim", "batch=2"], "'batch'"),
    (["--depth", "-1"], "--depth"),
    (["--format", "yaml"], "yaml"),
])
def test_bad_options(files, capsys, argv, needle):
    assert_one_line_error(*run_main(capsys, files / "sym.onnx", *argv), needle)


# --------------------------------------------------------------------------- the real entry point


def _flopscope(*argv, extra=()):
    return subprocess.run([sys.executable, *extra, "-m", "flopscope", *map(str, argv)],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("make", ["missing", "truncated"])
def test_process_exit_code_and_one_line(tmp_path, light_model, make):
    path = tmp_path / "model.onnx"
    if make == "truncated":
        data = open(light_model("resnet50"), "rb").read()
        path.write_bytes(data[: len(data) // 2])
    result = _flopscope("report", path)
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_onnx_report_does_not_import_torch_pandas_numpy_or_the_onnx_package(light_model):
    """The ONNX path loads onnx's protobuf classes and C++ extension only (see
    flopscope.frontends.onnxcore): ``import onnx`` alone costs more than the analysis."""
    result = _flopscope("report", light_model("resnet50"), "--format", "json", extra=("-X", "importtime"))
    assert result.returncode == 0, result.stderr
    assert _strict_json(result.stdout)["totals"]["macs"] == 4_089_184_256
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert "google.protobuf.descriptor_pool" in imported             # the check sees imports
    top = {name.split(".")[0] for name in imported}
    assert not top & {"torch", "pandas", "numpy"} and "onnx" not in imported


def test_main_leaves_the_garbage_collector_alone(capsys):
    """Only the console entry point switches the cyclic collector off: main() runs
    in-process in tests, notebooks and other programs, which keep their collector."""
    import gc

    assert gc.isenabled()
    assert main(["report", "resnet18", "--format", "json"]) == 0
    assert gc.isenabled()


def test_console_entry_point_disables_gc_in_its_own_process():
    import subprocess
    import sys

    code = ("import gc, sys; from flopscope import cli; cli.main = lambda: print(gc.isenabled()) or 0; "
            "cli.console()")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.stdout.strip() == "False" and out.returncode == 0
