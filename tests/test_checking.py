"""Running a check: the analysis, the latency measurement and the baseline file around the
pure checks of the gate."""

from __future__ import annotations

import json
import sys
import types

import pytest

import flopscope.latency
from flopscope.checking import load_baseline, measure_latency, run_check
from flopscope.errors import FlopscopeError
from flopscope.report import Latency, Training
from tests.test_gate import OLD, make_report


def fake_harness(monkeypatch, bench) -> None:
    """Stand in for ``flopscope.latency``'s bench; its submodules (the presets) still load."""
    fake = types.ModuleType("flopscope.latency")
    fake.__path__, fake.bench = flopscope.latency.__path__, bench
    monkeypatch.setitem(sys.modules, "flopscope.latency", fake)


def test_run_check_turns_unusable_input_into_errors(tmp_path):
    result = run_check(str(tmp_path / "missing.onnx"), limits={"macs": 1})
    assert result.exit_code == 2 and "no such file" in result.errors[0]
    given = run_check(None, report=make_report(OLD), baseline=str(tmp_path / "nope.json"))
    assert given.exit_code == 2 and "flopscope baseline MODEL" in given.errors[0]


def test_run_check_takes_the_baseline_convention_and_a_dict_baseline():
    report = make_report(OLD)
    result = run_check(None, report=report, baseline=report.to_dict(),
                       update_command=lambda new: f"cmd --convention {new.convention}")
    assert result.exit_code == 0 and result.update_command == "cmd --convention flopscope"


def test_run_check_rejects_a_baseline_that_is_no_report():
    assert "not a flopscope report" in run_check(None, report=make_report(OLD), baseline={"x": 1}).errors[0]
    assert "not int" in run_check(None, report=make_report(OLD), baseline=3).errors[0]


@pytest.mark.parametrize("content, words", [
    (None, "no such baseline; create it with: flopscope baseline MODEL -o"),
    ("{not json", "the baseline is not valid JSON"),
    (b"\xff\xfe", "the baseline is not valid JSON"),
    ('{"schema": "flopscope.report/1"}', "not a flopscope JSON report"),
])
def test_load_baseline_names_the_problem(tmp_path, content, words):
    path = tmp_path / "base.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(FlopscopeError, match=words):
        load_baseline(str(path))


def test_load_baseline_reads_a_saved_report(tmp_path):
    path = tmp_path / "base.json"
    path.write_text(json.dumps(make_report(OLD).to_dict()))
    assert load_baseline(str(path)).totals.macs == 3500


def test_measure_latency_passes_the_bindings_and_turns_failures_into_one_line(monkeypatch):
    calls = []

    def bench(model, inputs=None, **options):
        calls.append((model, inputs, options))
        if model == "broken":
            raise RuntimeError("provider\n  exploded")
        return Latency("cpu", "CPUExecutionProvider", 1, 1, 3, 1.0, 2.0, 3.0, 1.0, 0.1)

    fake_harness(monkeypatch, bench)
    latency = measure_latency("m.onnx", None, preset="cpu", iterations=3, dims={"N": 1})
    assert latency.p90_ms == 2.0
    assert calls == [("m.onnx", None, {"preset": "cpu", "iterations": 3, "dims": {"N": 1}})]
    with pytest.raises(FlopscopeError, match=r"^latency measurement \(cpu\) failed: RuntimeError: "
                                             r"provider exploded$"):
        measure_latency("broken", None, preset="cpu")


def test_a_latency_limit_is_measured_unless_told_not_to(monkeypatch):
    from flopscope.budget import LatencyLimit

    fake_harness(monkeypatch, lambda *a, **k: Latency("cpu", "CPUExecutionProvider", 1, 1, 3, 1.0, 25.0,
                                                      30.0, 1.0, 0.1))
    limit = LatencyLimit("cpu", 20.0)
    over = run_check("m.onnx", report=make_report(OLD), latency=limit)
    assert over.exit_code == 1 and [c.metric for c in over.checks] == ["p90_ms"]
    skipped = run_check("m.onnx", report=make_report(OLD), latency=limit, measure=False)
    assert skipped.exit_code == 0 and "not measured (--no-latency)" in skipped.notes[0]


# ----------------------------------------------------------------------- train mode

# conv_net(BASE) at 1x3x16x16, by hand: params 224 + 584 + 292 = 1,100 (4,400 bytes); outputs
# 4 x 8,192 (conv0, relu0, conv1, relu1: 8x16x16 floats) + 3 x 4,096 (conv2, relu2, y) = 45,056
# bytes, all kept for backward (ONNX); adamw keeps 2 fp32 states per parameter
PARAMS = 224 + 584 + 292
ACTIVATIONS = 4 * 8 * 16 * 16 * 4 + 3 * 4 * 16 * 16 * 4
PEAK_TRAINING = 4 * PARAMS + 4 * PARAMS + 2 * 4 * PARAMS + ACTIVATIONS     # weights, grads, state
INFERENCE_MACS = 276_480
# backward: conv0's input is the graph input (weight gradient only), conv1 and conv2 also
# pass the gradient on: 55,296 + 2 x 147,456 + 2 x 73,728
TRAIN_MACS = INFERENCE_MACS + 55_296 + 2 * 147_456 + 2 * 73_728


@pytest.fixture
def onnx_net(tmp_path):
    from tests.commands.nets import conv_net

    return conv_net(tmp_path / "net.onnx")


def test_a_train_check_passes_at_its_limit_and_fails_one_byte_under(onnx_net):
    assert PEAK_TRAINING == 62_656
    result = run_check(onnx_net, mode="train", limits={"peak_training_bytes": PEAK_TRAINING})
    assert result.exit_code == 0 and result.mode == "train adamw fp32"
    assert [(c.metric, c.new) for c in result.checks] == [("peak_training_bytes", PEAK_TRAINING)]
    over = run_check(onnx_net, mode="train", limits={"peak_training_bytes": PEAK_TRAINING - 1})
    assert over.exit_code == 1 and over.failures[0].new == PEAK_TRAINING


@pytest.mark.parametrize("optimizer, states", [("sgd", 0), ("momentum", 1), ("adam", 2), ("adamw", 2)])
def test_optimizer_state_bytes_are_states_per_parameter_times_four(onnx_net, optimizer, states):
    result = run_check(onnx_net, mode="train", optimizer=optimizer,
                       limits={"optimizer_state_bytes": states * PARAMS * 4, "gradient_bytes": PARAMS * 4})
    assert result.exit_code == 0, result.errors
    assert [c.new for c in result.checks] == [states * PARAMS * 4, PARAMS * 4]
    assert result.mode == f"train {optimizer} fp32"


def test_a_train_report_does_not_carry_the_inference_totals(onnx_net):
    """Why training limits without a mode get their own analysis: a training step's MACs,
    FLOPs and activations are not inference's."""
    from flopscope.analysis import analyze

    train, inference = analyze(onnx_net, mode="train"), analyze(onnx_net)
    assert (inference.totals.macs, train.totals.forward_macs, train.totals.macs) == (
        INFERENCE_MACS, INFERENCE_MACS, TRAIN_MACS)
    assert train.totals.flops != inference.totals.flops
    assert (train.training, inference.training) == (Training("adamw", "fp32"), None)


def test_training_limits_without_a_mode_are_checked_on_a_second_analysis(onnx_net, monkeypatch):
    import flopscope.analysis

    modes = []
    analyze = flopscope.analysis.analyze
    monkeypatch.setattr(flopscope.analysis, "analyze",
                        lambda *a, **k: modes.append(k["mode"]) or analyze(*a, **k))
    result = run_check(onnx_net, limits={"macs": INFERENCE_MACS, "peak_training_bytes": PEAK_TRAINING})
    assert modes == ["inference", "train"] and result.exit_code == 0
    assert {c.metric: c.new for c in result.checks} == {"macs": INFERENCE_MACS,
                                                       "peak_training_bytes": PEAK_TRAINING}
    assert result.mode == "inference + train adamw fp32"
    assert "peak training bytes checked on a second analysis, of a training step (train adamw fp32)" \
        in result.notes[0]
    # the same MACs limit on the training step is over: forward + backward
    train = run_check(onnx_net, mode="train", limits={"macs": INFERENCE_MACS})
    assert train.exit_code == 1 and train.checks[0].new == TRAIN_MACS


def test_training_limits_alone_analyse_once_in_train_mode(onnx_net, monkeypatch):
    import flopscope.analysis

    modes = []
    analyze = flopscope.analysis.analyze
    monkeypatch.setattr(flopscope.analysis, "analyze",
                        lambda *a, **k: modes.append(k["mode"]) or analyze(*a, **k))
    result = run_check(onnx_net, limits={"peak_training_bytes": PEAK_TRAINING - 1})
    assert modes == ["train"] and result.exit_code == 1 and result.mode == "train adamw fp32"
    assert "every limit is a training metric: analysed as a training step" in result.notes[0]


def test_a_training_setup_without_train_mode_is_an_error(onnx_net):
    result = run_check(onnx_net, optimizer="sgd", frozen=["x.*"], limits={"macs": INFERENCE_MACS})
    assert result.exit_code == 2
    assert result.errors == ["optimizer sgd, frozen x.*: a training setup, but this check is in inference "
                             "mode; ask for train mode (--mode train, or mode = \"train\" in a budget entry)"]


def test_a_train_baseline_is_checked_in_its_mode_with_the_training_metrics(onnx_net):
    from flopscope.analysis import analyze
    from flopscope.metrics import BASELINE_METRICS, TRAINING_METRICS

    saved = analyze(onnx_net, mode="train", optimizer="momentum").to_dict()
    assert saved["training"] == {"optimizer": "momentum", "precision": "fp32", "frozen": []}
    result = run_check(onnx_net, baseline=saved, update_command=lambda new: new.training.label)
    assert result.exit_code == 0 and result.mode == "train momentum fp32"
    assert [c.metric for c in result.checks] == list(BASELINE_METRICS + TRAINING_METRICS)
    assert result.update_command == "train momentum fp32"
    values = {c.metric: c.new for c in result.checks}
    assert values["optimizer_state_bytes"] == PARAMS * 4 and values["macs"] == TRAIN_MACS


@pytest.mark.parametrize("options, words", [
    ({"mode": "inference"}, "the baseline is train adamw fp32, this analysis inference; their totals "
                            "do not compare: check in the baseline's mode (--mode train --optimizer "
                            "adamw --precision fp32; mode = 'train' and the same keys in a budget entry)"),
    ({"optimizer": "sgd"}, "the baseline is train adamw fp32, this analysis train sgd fp32"),
    ({"precision": "bf16-mixed"}, "this analysis train adamw bf16-mixed"),
])
def test_a_baseline_in_another_mode_is_refused_in_one_line(onnx_net, options, words):
    from flopscope.analysis import analyze

    saved = analyze(onnx_net, mode="train").to_dict()
    result = run_check(onnx_net, baseline=saved, allow_model_change=True, **options)
    assert result.exit_code == 2 and result.checks == []
    assert len(result.errors) == 1 and words in result.errors[0] and "\n" not in result.errors[0]


def test_an_inference_baseline_against_a_train_analysis_is_refused(onnx_net):
    from flopscope.analysis import analyze

    result = run_check(onnx_net, mode="train", baseline=analyze(onnx_net).to_dict())
    assert result.exit_code == 2
    assert "the baseline is inference, this analysis train adamw fp32" in result.errors[0]
    assert "(without --mode train; no mode = 'train' in a budget entry)" in result.errors[0]


def test_a_train_report_saved_without_its_setup_is_refused(onnx_net):
    """A train-mode JSON report written before reports recorded their setup: its totals are a
    training step's, of an unknown optimizer and precision."""
    from flopscope.analysis import analyze

    saved = analyze(onnx_net, mode="train").to_dict()
    del saved["training"]
    for mode in ("inference", "train"):
        result = run_check(onnx_net, mode=mode, baseline=saved)
        assert result.exit_code == 2 and result.checks == []
        assert "is a train-mode report that does not record its optimizer and precision" in result.errors[0]
