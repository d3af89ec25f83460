"""Every kind of bad input the robustness issue lists, through the CLI: a report where one
is honest (unknown ops listed, unknowable shapes marked), otherwise exit 2 with one line
on stderr that names the reason -- and the flag that fixes it, where there is one.

Cases ``tests/test_cli.py`` already covers (missing path, directory, empty file, random
bytes, truncation, an input without a shape, rank mismatches) are not repeated here.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from tests.robustness.helpers import (
    CRG_MACS,
    I64,
    assert_clean,
    assert_refused,
    conv_relu_gemm,
    external_tensor,
    model,
    run_cli,
    vi,
)


def save(m: onnx.ModelProto, folder: Path, name: str = "m.onnx") -> Path:
    path = folder / name
    path.write_bytes(m.SerializeToString())
    return path


def report_json(*argv: object) -> dict:
    outcome = run_cli("report", *argv, "--format", "json")
    assert outcome.code == 0, outcome.err
    assert_clean(outcome)
    return json.loads(outcome.out)


# --------------------------------------------------------------------------- files


def test_bit_flipped_protobuf(tmp_path):
    raw = bytearray(conv_relu_gemm().SerializeToString())
    raw[2] ^= 0xFF
    (tmp_path / "m.onnx").write_bytes(raw)
    assert_refused(run_cli("report", tmp_path / "m.onnx"), "not a valid ONNX file", "protobuf parse failed")


def test_names_that_are_not_utf8(tmp_path):
    raw = conv_relu_gemm().SerializeToString()
    assert raw.count(b"\x04conv") == 1
    (tmp_path / "m.onnx").write_bytes(raw.replace(b"\x04conv", b"\x04co\xffv"))   # node name, same length
    assert_refused(run_cli("report", tmp_path / "m.onnx"), "not UTF-8")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_a_named_pipe_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "m.onnx")                  # opening it to read would wait for a writer
    assert_refused(run_cli("report", tmp_path / "m.onnx", limit=5), "not a regular file")


def test_a_file_past_protobufs_2gib_limit_is_refused_with_advice(tmp_path):
    path = tmp_path / "huge.onnx"
    with open(path, "wb") as f:
        f.truncate(2**31)                           # sparse: takes no disk, and is never read
    outcome = run_cli("report", path, limit=5)
    assert_refused(outcome, "2 GiB", "save_as_external_data=True")


class _Trap:
    """Unpickling this writes a marker file: proof that something unpickled it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "unpickled"))


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".pkl", ".ckpt"])
def test_pickled_checkpoints_are_refused_never_unpickled(tmp_path, suffix):
    marker = tmp_path / "unpickled.txt"
    path = tmp_path / f"model{suffix}"
    path.write_bytes(pickle.dumps(_Trap(marker)))
    assert_refused(run_cli("report", path), "never unpickles", "export it to ONNX", "file.py:factory")
    assert not marker.exists()


# --------------------------------------------------------------------------- invalid graphs


def _edit(fn):
    m = conv_relu_gemm()
    fn(m)
    return m


def _set(container, index, value):
    container[index] = value


INVALID = {
    "dangling edge": (lambda m: _set(m.graph.node[1].input, 0, "nowhere"), "invalid ONNX graph"),
    "cycle": (lambda m: _set(m.graph.node[0].input, 0, "f"), "topologically sorted"),
    "duplicate node output": (lambda m: _set(m.graph.node[1].output, 0, "c"), "single static assignment"),
    "duplicate graph input": (lambda m: m.graph.input.append(m.graph.input[0]), "single static assignment"),
    "duplicate initializer": (lambda m: m.graph.initializer.append(m.graph.initializer[0]), "not unique"),
    "unknown op": (lambda m: setattr(m.graph.node[1], "op_type", "Frobnicate"), "No Op registered"),
    "unknown opset": (lambda m: setattr(m.opset_import[0], "version", 99), "opset 99"),
    "unknown IR version": (lambda m: setattr(m, "ir_version", 999), "ir_version 999"),
    "attribute of the wrong type": (lambda m: setattr(m.graph.node[3].attribute[0], "type",
                                                      onnx.AttributeProto.FLOAT), "invalid ONNX graph"),
    "negative initializer dim": (lambda m: _set(m.graph.initializer[1].dims, 0, -8), "negative dimension"),
    "negative input dim": (lambda m: setattr(m.graph.input[0].type.tensor_type.shape.dim[0], "dim_value", -3),
                           "dimension -3 is not a size"),
    "no graph inputs": (lambda m: m.graph.ClearField("input"), "invalid ONNX graph"),
}


@pytest.mark.parametrize("what", sorted(INVALID))
def test_invalid_graphs_are_one_line_errors(tmp_path, what):
    edit, needle = INVALID[what]
    assert_refused(run_cli("report", save(_edit(edit), tmp_path)), needle)


def test_nodes_out_of_order_are_sorted_as_onnx_runtime_does(tmp_path):
    # ONNX Runtime sorts the nodes itself and runs such files: counted as if sorted, and said
    m = conv_relu_gemm()
    expected = report_json(save(m, tmp_path))
    m.graph.node.insert(0, m.graph.node.pop(3))
    data = report_json(save(m, tmp_path))
    assert data["totals"] == expected["totals"]
    assert data["coverage"]["percent"] == 100
    assert any("not in topological order" in note for note in data["notes"])


# --------------------------------------------------------------------------- partial results


def test_unknown_domain_ops_are_listed_with_the_coverage(tmp_path):
    m = conv_relu_gemm()
    m.graph.node[1].op_type, m.graph.node[1].domain = "FancyRelu", "com.example"
    m.opset_import.append(helper.make_opsetid("com.example", 3))
    data = report_json(save(m, tmp_path))
    assert data["coverage"]["unsupported"] == {"com.example.FancyRelu": 1}
    assert data["coverage"]["percent"] < 100
    assert not any("FancyRelu" in note for note in data["notes"])        # coverage says it
    text = run_cli("report", save(m, tmp_path)).out
    assert "com.example.FancyRelu" in text


def test_a_shape_that_cannot_be_inferred_is_marked_not_guessed(tmp_path):
    # Reshape to a shape that is a graph input: the result's sizes are unknowable
    m = model([helper.make_node("Reshape", ["x", "shape"], ["r"], name="reshape"),
               helper.make_node("MatMul", ["r", "w"], ["y"], name="mm")],
              [vi("x", [2, 6]), vi("shape", [2], I64)], [vi("y", None)],
              [numpy_helper.from_array(np.ones((6, 4), np.float32), "w")])
    data = report_json(save(m, tmp_path))
    (mm,) = [layer for layer in data["layers"] if layer["name"] == "mm"]
    assert mm["status"] == "unresolved" and mm["macs"] is None and mm["flops"] is None
    assert "unknown" in mm["reason"]
    assert data["coverage"]["unresolved"] == {"MatMul": 1}


def test_an_input_shape_that_does_not_fit_is_refused(tmp_path):
    # 9x9 images flatten to 392 features; the Gemm wants 288
    outcome = run_cli("report", save(conv_relu_gemm(), tmp_path), "--input-shape", "x=1x3x9x9")
    assert_refused(outcome, "input shapes given do not fit the model")


def test_a_channel_count_that_does_not_fit_is_refused_naming_the_layer(tmp_path):
    # ONNX shape inference lets 5 channels into a 3-channel Conv; the rule does not, and a
    # layer left out of the totals would be a silent undercount (issue 14, defect 1)
    outcome = run_cli("report", save(conv_relu_gemm(), tmp_path), "--input-shape", "x=1x5x8x8")
    assert_refused(outcome, "input shapes given do not fit the model", "'x' 1x5x8x8",
                   "declares 1x3x8x8", "Conv 'conv'", "does not fit weight")


# --------------------------------------------------------------------------- absurd dims


def test_absurd_batch_is_exact_integer_arithmetic(tmp_path):
    data = report_json(save(conv_relu_gemm("N"), tmp_path), "--dim", f"N={2**62}")
    assert data["totals"]["macs"] == 2**62 * CRG_MACS                   # a Python int, exactly
    assert data["model"]["inputs"][0]["shape"] == [2**62, 3, 8, 8]


@pytest.mark.parametrize("flag, needle", [
    (f"--dim=N={2**64}", "64-bit"),
    ("--input-shape=x=1x3x99999999999999999999x8", "64-bit"),
    ("--dim=N=-1", "bad --dim"),
    ("--input-shape=x=1x-3x8x8", ">= 0"),
])
def test_sizes_past_int64_or_negative_are_refused(tmp_path, flag, needle):
    assert_refused(run_cli("report", save(conv_relu_gemm("N"), tmp_path), flag), needle)


def test_inference_overflow_never_gives_negative_counts(tmp_path):
    m = conv_relu_gemm()
    m.graph.node[0].attribute[0].ints[:] = [2**62, 3]      # the kernel: output size goes negative
    data = report_json(save(m, tmp_path))
    counts = [data["totals"][k] for k in ("macs", "flops", "params")]
    counts += [layer[k] for layer in data["layers"] for k in ("macs", "flops") if layer[k] is not None]
    assert all(type(c) is int and c >= 0 for c in counts), counts
    assert data["coverage"]["costed"] < data["coverage"]["nodes"]


def test_huge_weights_are_counted_exactly(tmp_path):
    w = external_tensor("w", [2**31, 2**31], "w.bin")      # 16 EiB of float32, declared
    m = model([helper.make_node("MatMul", ["x", "w"], ["y"])], [vi("x", [1, 2**31])], [vi("y", [1, 2**31])],
              [w])
    data = report_json(save(m, tmp_path))
    assert data["totals"]["params"] == 2**62 and data["totals"]["param_bytes"] == 2**64
    assert data["totals"]["macs"] == 2**62


def test_huge_channel_counts_cost_no_time(tmp_path):
    # LRN prices a window per channel; with 2^40 channels that is a formula, not a loop
    channels, size = 2**40, 5
    m = model([helper.make_node("LRN", ["x"], ["y"], size=size)], [vi("x", [1, channels, 1, 1])],
              [vi("y", None)])
    data = report_json(save(m, tmp_path))
    windows = size * channels - 2 * (1 + 2)                 # each edge loses 1 + 2 channels of window
    assert data["layers"][0]["flops"] == 2 * windows + 3 * channels


def test_a_recurrent_weight_with_absurd_directions_is_flagged(tmp_path):
    w = external_tensor("w", [2**40, 3, 4], "w.bin")
    r = external_tensor("r", [2**40, 3, 3], "w.bin")
    m = model([helper.make_node("RNN", ["x", "w", "r"], ["y"], hidden_size=3)],
              [vi("x", [2, 1, 4])], [vi("y", None)], [w, r])
    (layer,) = report_json(save(m, tmp_path))["layers"]
    assert layer["status"] == "unresolved" and "directions" in layer["reason"]


def test_many_nodes_with_one_name_get_unique_names(tmp_path):
    nodes = [helper.make_node("Relu", [f"t{i}"], [f"t{i + 1}"], name="same") for i in range(3000)]
    m = model(nodes, [vi("t0", [1, 4])], [vi("t3000", [1, 4])])
    outcome = run_cli("report", save(m, tmp_path), "--format", "json", limit=20)
    assert outcome.code == 0, outcome.err
    names = [layer["name"] for layer in json.loads(outcome.out)["layers"]]
    assert len(set(names)) == 3000 and names[:3] == ["same", "same#2", "same#3"]


# --------------------------------------------------------------------------- file.py:factory


FACTORIES = '''
import torch

def fine():
    return torch.nn.Linear(4, 2), (1, 4)

def raises():
    raise ValueError("the factory broke\\nacross two lines")

def not_a_module():
    return 42
'''


@pytest.fixture(scope="module")
def factories(tmp_path_factory):
    path = tmp_path_factory.mktemp("factories") / "nets.py"
    path.write_text(FACTORIES)
    (path.parent / "broken.py").write_text("import torch\ndef net(:\n")
    return path


@pytest.mark.parametrize("spec, needles", [
    ("nets.py:raises", ("the factory raised ValueError", "the factory broke across two lines")),
    ("nets.py:not_a_module", ("returned int", "not a torch.nn.Module")),
    ("nets.py:absent", ("has no 'absent'",)),
    ("broken.py:net", ("importing it raised SyntaxError",)),
    ("missing.py:net", ("no such file",)),
])
def test_factories_that_fail_are_one_line_errors(factories, spec, needles):
    pytest.importorskip("torch")
    assert_refused(run_cli("report", factories.parent / spec, limit=60), *needles)
