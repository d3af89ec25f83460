"""Training cost (training.py): optimizer step and state, precision convention, the train-mode
report and its JSON, the ONNX backward derived by rule, the CLI flags."""

from __future__ import annotations

import json

import pytest
from onnx import helper

from flopscope.analysis import analyze
from flopscope.cli import main
from flopscope.errors import FlopscopeError
from flopscope.gate import check_budget
from flopscope.graph import Param
from flopscope.report import Report
from flopscope.training import OPTIMIZERS, optimizer_flops, training_memory
from tests.builders import model_of, weight

TRAIN_KEYS = ("forward_macs", "backward_macs", "optimizer_flops", "gradient_bytes",
              "optimizer_state_bytes", "saved_activation_bytes", "peak_training_bytes")


# ----------------------------------------------------------------- optimizer and precision


W = Param("w", (100, 10), "float32", trainable=True)
FROZEN = Param("f", (50,), "float32", trainable=False)
BUFFER = Param("running_mean", (7,), "float32", buffer=True)


@pytest.mark.parametrize(("name", "flops", "state"), [
    ("sgd", 2, 0), ("momentum", 4, 1), ("adam", 14, 2), ("adamw", 16, 2)])
def test_optimizer_step_and_state_per_trainable_element(name, flops, state):
    """FLOPs per element from the formulas in the module docstring; frozen params and
    buffers take no step and keep no state."""
    assert optimizer_flops([W, FROZEN, BUFFER], name) == flops * 1000
    assert training_memory([W, FROZEN, BUFFER], name).optimizer_state_bytes == state * 1000 * 4
    assert OPTIMIZERS[name].state_per_element == state
    # the formula counts what the price says: the (n) of each update sum to it
    counted = [int(part.rpartition("(")[2].rstrip(")")) for part in OPTIMIZERS[name].formula.split("; ")]
    assert sum(counted) == flops


def test_adamw_fp32_holds_two_fp32_copies_of_the_parameters_as_state():
    memory = training_memory([W], "adamw", "fp32")
    assert memory.optimizer_state_bytes == 2 * 1000 * 4
    assert (memory.weight_bytes, memory.gradient_bytes, memory.master_weight_bytes) == (4000, 4000, 0)


@pytest.mark.parametrize("precision", ["bf16-mixed", "fp16-mixed"])
def test_mixed_precision_is_half_weights_and_grads_plus_fp32_master_and_state(precision):
    """The ZeRO convention: 2 (weights) + 2 (grads) + 4 (master) + 4 + 4 (Adam m, v) = 16
    bytes per trainable parameter; a frozen one keeps only its 2-byte working copy."""
    memory = training_memory([W, FROZEN], "adamw", precision)
    assert memory.weight_bytes == 2 * 1050
    assert memory.gradient_bytes == 2 * 1000
    assert memory.master_weight_bytes == 4 * 1000
    assert memory.optimizer_state_bytes == 8 * 1000
    assert memory.held == 16 * 1000 + 2 * 50
    assert training_memory([W], "sgd", precision).held == (2 + 2 + 4) * 1000


def test_unknown_optimizer_or_precision_is_a_one_line_error():
    with pytest.raises(FlopscopeError, match="unknown optimizer 'lamb'; choose one of sgd"):
        optimizer_flops([W], "lamb")
    with pytest.raises(FlopscopeError, match="unknown precision 'fp8'"):
        training_memory([W], "adamw", "fp8")
    with pytest.raises(FlopscopeError, match="unknown mode 'serve'"):
        analyze("resnet18", (1, 3, 32, 32), mode="serve")


# ----------------------------------------------------------------- PyTorch report

torch = pytest.importorskip("torch")


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Linear(8, 16)
        self.head = torch.nn.Linear(16, 4)

    def forward(self, x):
        return self.head(torch.relu(self.body(x)))


PARAMS = 8 * 16 + 16 + 16 * 4 + 4


def test_train_report_totals_by_hand():
    report = analyze(Net(), (2, 8), mode="train", optimizer="adamw")
    t = report.totals
    body, head = 2 * 8 * 16, 2 * 16 * 4
    assert t.forward_macs == body + head
    assert t.backward_macs == body + 2 * head      # body: grad-weight only (x needs no grad)
    assert t.macs == t.forward_macs + t.backward_macs
    assert t.optimizer_flops == 16 * PARAMS
    assert t.flops == t.forward_flops + t.backward_flops + t.optimizer_flops
    assert t.gradient_bytes == 4 * PARAMS and t.optimizer_state_bytes == 8 * PARAMS
    # saved: x (body's grad-weight), ReLU's output (its grad and head's grad-weight)
    assert t.saved_activation_bytes == 2 * 8 * 4 + 2 * 16 * 4
    held = 4 * PARAMS + 4 * PARAMS + 8 * PARAMS
    assert t.peak_training_bytes == held + t.peak_activation_bytes
    assert {layer.phase for layer in report.layers} == {"forward", "backward"}
    grads = {layer.module: layer.gradient_bytes for layer in report.layers if layer.gradient_bytes}
    assert grads == {"body": 4 * (8 * 16 + 16), "head": 4 * (16 * 4 + 4)}


def test_a_frozen_backbone_has_no_grad_weight_cost_or_gradient_memory():
    report = analyze(Net(), (2, 8), mode="train", optimizer="adam", frozen=["body.*"])
    t = report.totals
    head = 16 * 4 + 4
    assert t.backward_macs == 2 * 16 * 4                 # head's grad-weight; no grad-input
    assert t.gradient_bytes == 4 * head and t.optimizer_state_bytes == 8 * head
    assert sum(layer.gradient_bytes or 0 for layer in report.layers) == 4 * head
    assert t.optimizer_flops == 14 * head
    assert (t.trainable_params, t.frozen_params) == (head, PARAMS - head)


def test_json_has_the_train_totals_and_inference_leaves_them_null():
    report = analyze(Net(), (2, 8), mode="train")
    train = json.loads(report.to_json())
    assert all(isinstance(train["totals"][k], int) for k in TRAIN_KEYS)
    assert Report.from_dict(train).to_dict() == report.to_dict()      # a baseline round-trips
    assert {row["phase"] for row in train["layers"]} == {"forward", "backward"}
    inference = json.loads(analyze(Net(), (2, 8)).to_json())
    assert all(inference["totals"][k] is None for k in TRAIN_KEYS)
    assert {row["phase"] for row in inference["layers"]} == {None}


def test_csv_adds_the_train_columns_in_train_mode_only():
    from flopscope.render import render

    train = render(analyze(Net(), (2, 8), mode="train"), "csv").splitlines()
    assert train[0].endswith(",repeat,module_class,input_shapes,kernel,phase,saved_bytes,gradient_bytes")
    # body owns 144 params; the x it saves is a graph input, in the total only
    assert train[1].split(",")[-3:] == ["forward", "0", "576"]
    assert train[2].split(",")[-3:] == ["forward", "128", "0"]    # ReLU's output, 2x16 floats
    inference = render(analyze(Net(), (2, 8)), "csv").splitlines()
    assert inference[0].endswith(",status,repeat,module_class,input_shapes,kernel")


def test_the_gate_budgets_training_figures():
    report = analyze(Net(), (2, 8), mode="train")
    assert check_budget(report, {"backward_macs": report.totals.backward_macs}).exit_code == 0
    assert check_budget(report, {"peak_training_bytes": 1}).exit_code == 1


def test_training_macs_against_three_times_forward():
    """Resnet-18: training = 3x forward less conv1's grad-input (its input is the image)."""
    report = analyze("resnet18", (2, 3, 64, 64), mode="train")
    conv1 = 2 * 64 * 32 * 32 * 3 * 7 * 7
    assert report.totals.macs == 3 * report.totals.forward_macs - conv1


# ----------------------------------------------------------------- ONNX, derived


def tiny_onnx():
    """x (2x3x8x8) -> Conv 4x3x3x3 -> Relu -> Flatten -> Gemm (256 -> 5) -> Erf."""
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Flatten", ["r"], ["f"]),
             helper.make_node("Gemm", ["f", "g", "b"], ["y"], transB=1),
             helper.make_node("Erf", ["y"], ["z"])]
    return model_of(nodes, {"x": (2, 3, 8, 8), "w": weight(4, 3, 3, 3), "g": weight(5, 256),
                            "b": weight(5)}, ["z"])


def test_onnx_backward_is_derived_from_the_forward_by_rule():
    report = analyze(tiny_onnx(), mode="train", optimizer="sgd")
    t = report.totals
    conv, gemm = 2 * 4 * 8 * 8 * 3 * 9, 2 * 256 * 5
    assert t.forward_macs == conv + gemm
    assert t.backward_macs == conv + 2 * gemm        # the conv's input is the graph input
    grads = {layer.op: layer for layer in report.layers if layer.phase in ("backward", "derived")}
    assert grads["Relu.grad"].flops == 2 * 4 * 8 * 8 and grads["Relu.grad"].phase == "backward"
    assert grads["Erf.grad"].phase == "derived"        # no backward rule: costed as its forward
    assert any("no backward rule for Erf" in note for note in report.notes)
    params = 4 * 27 + 5 * 256 + 5
    assert t.optimizer_flops == 2 * params and t.optimizer_state_bytes == 0
    assert t.gradient_bytes == 4 * params


def test_the_onnx_train_path_does_not_import_torch(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "tiny.onnx"
    path.write_bytes(tiny_onnx().SerializeToString())
    code = ("import sys, flopscope; r = flopscope.analyze(sys.argv[1], mode='train'); "
            "assert r.totals.backward_macs > 0; assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)


def test_onnx_refuses_frozen_patterns():
    with pytest.raises(FlopscopeError, match="--frozen names PyTorch parameters"):
        analyze(tiny_onnx(), mode="train", frozen=["w"])


# ----------------------------------------------------------------- CLI


def test_cli_report_train_json(capsys, tmp_path):
    path = tmp_path / "tiny.onnx"
    path.write_bytes(tiny_onnx().SerializeToString())
    code = main(["report", str(path), "--mode", "train", "--optimizer", "adam",
                 "--precision", "bf16-mixed", "--format", "json"])
    totals = json.loads(capsys.readouterr().out)["totals"]
    assert code == 0
    params = 4 * 27 + 5 * 256 + 5
    assert totals["optimizer_state_bytes"] == 8 * params
    assert totals["gradient_bytes"] == 2 * params


def test_cli_frozen_pattern_that_matches_nothing_exits_2(capsys):
    code = main(["report", "resnet18", "--input-shape", "1x3x32x32", "--mode", "train",
                 "--frozen", "nothing.*"])
    assert code == 2
    assert "no parameter name matches" in capsys.readouterr().err
