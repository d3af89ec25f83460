"""``flopscope check`` end to end: budgets, baselines, exit codes and the CI outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
import xml.etree.ElementTree as ET

import pytest

import flopscope.latency
from flopscope.cli import main
from flopscope.report import Latency
from tests.commands.nets import BASE, WIDENED, conv_net, torch_factory

# conv_net(BASE) at 1x3x16x16: conv0 55,296 + conv1 147,456 + conv2 73,728 MACs
BASE_MACS = 276_480
BASE_PARAMS = 224 + 584 + 292


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def net(tmp_path, monkeypatch):
    """``models/net.onnx`` (the base chain) in a clean working folder, with its baseline."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    os.mkdir("models")
    path = conv_net("models/net.onnx")
    assert main(["baseline", path, "-o", "baseline.json"]) == 0
    return path


def budget(text: str, name: str = "flopscope.toml") -> str:
    with open(name, "w", encoding="utf-8") as f:
        f.write(text)
    return name


# ----------------------------------------------------------------------- baseline


def test_unchanged_model_passes_its_baseline(net, capsys):
    code, out, err = cli(capsys, "check", net, "--baseline", "baseline.json")
    assert code == 0, err
    assert out.startswith("PASS models/net.onnx (net, x 1x3x16x16): within budget")
    assert f"MACs {BASE_MACS:,} -> {BASE_MACS:,} (+0.00%)" in out


def test_widening_one_conv_fails_and_names_that_layer_first(net, capsys):
    conv_net(net, WIDENED)   # the pull request: conv1 gets 16 output channels instead of 8
    code, out, err = cli(capsys, "check", net, "--baseline", "baseline.json")
    assert code == 1, err
    lines = out.splitlines()
    assert lines[0] == "FAIL models/net.onnx (net, x 1x3x16x16): over budget"
    assert lines[1].strip() == (f"FAIL MACs grew from {BASE_MACS:,} to 497,664 (+80.00%), over the "
                                f"baseline baseline.json (tolerance 0%)")
    assert lines[2].strip() == "modules that added the most MACs:"
    assert lines[3].strip() == "conv1: 147,456 -> 294,912 (+147,456, +100.00%)"
    assert lines[4].strip() == "conv2: 73,728 -> 147,456 (+73,728, +100.00%)"
    assert out.rstrip().endswith("flopscope check: 1 model over budget")


def test_a_lighter_model_is_an_improvement_and_fails_only_under_strict(net, capsys):
    conv_net(net, (8, 4, 4))
    code, out, _ = cli(capsys, "check", net, "--baseline", "baseline.json")
    assert code == 0
    assert "within budget, lighter than the baseline" in out and "MACs fell from" in out
    assert "update the baseline: flopscope baseline models/net.onnx -o baseline.json" in out
    code, out, _ = cli(capsys, "check", net, "--baseline", "baseline.json", "--strict")
    assert code == 1
    assert "lighter than the baseline (--strict)" in out
    assert "update the baseline: flopscope baseline models/net.onnx -o baseline.json" in out


def test_update_command_repeats_shapes_dims_and_convention(net, capsys):
    assert main(["baseline", net, "--input-shape", "x=1x3x16x16", "--convention", "2mac",
                 "-o", "two mac.json"]) == 0
    conv_net(net, (8, 4, 4))
    code, out, _ = cli(capsys, "check", net, "--input-shape", "x=1x3x16x16", "--baseline", "two mac.json")
    assert code == 0
    assert ("update the baseline: flopscope baseline models/net.onnx --input-shape x=1x3x16x16 "
            "--convention 2mac -o 'two mac.json'") in out


def test_tolerance(net, capsys):
    with open("baseline.json", encoding="utf-8") as f:
        data = json.load(f)
    data["totals"]["macs"] = round(BASE_MACS / 1.004)     # now 0.4% heavier than the baseline
    with open("near.json", "w", encoding="utf-8") as f:
        json.dump(data, f)
    assert cli(capsys, "check", net, "--baseline", "near.json")[0] == 1
    for tolerance in ("1%", "0.5%", "0.01"):
        code, out, _ = cli(capsys, "check", net, "--baseline", "near.json", "--tolerance", tolerance)
        assert code == 0, tolerance
    assert "within the baseline's tolerance 1%" in out
    assert cli(capsys, "check", net, "--baseline", "near.json", "--tolerance", "0.3%")[0] == 1
    code, _, err = cli(capsys, "check", net, "--baseline", "near.json", "--tolerance", "5")
    assert code == 2 and "--tolerance: '5' is more than 1 as a fraction" in err


def test_missing_baseline_is_exit_2_with_the_command_to_make_one(net, capsys):
    code, out, err = cli(capsys, "check", net, "--baseline", "nowhere.json")
    assert code == 2
    assert "nowhere.json: no such baseline; create it with: flopscope baseline MODEL -o nowhere.json" in err
    assert out.startswith("ERROR models/net.onnx")


@pytest.mark.parametrize("content, words", [
    ("{not json", "the baseline is not valid JSON"),
    ('{"schema": "something/else"}', "not a flopscope JSON report"),
    ('{"schema": "flopscope.report/1"}', "not a flopscope JSON report"),
])
def test_malformed_baseline_is_exit_2(net, capsys, content, words):
    with open("bad.json", "w", encoding="utf-8") as f:
        f.write(content)
    code, _, err = cli(capsys, "check", net, "--baseline", "bad.json")
    assert code == 2 and words in err


def test_baseline_from_a_different_model_is_exit_2(net, capsys):
    other = conv_net("models/other.onnx")
    code, out, err = cli(capsys, "check", other, "--baseline", "baseline.json")
    assert code == 2
    assert "the baseline baseline.json is of a different model (model 'other', baseline 'net')" in err
    assert "--allow-model-change" in err and "grew" not in out
    code, out, _ = cli(capsys, "check", other, "--baseline", "baseline.json", "--allow-model-change")
    assert code == 0 and "note: model changed since the baseline" in out


def test_baseline_at_other_input_shapes_is_exit_2(net, capsys):
    code, _, err = cli(capsys, "check", net, "--input-shape", "x=1x3x32x32", "--baseline", "baseline.json")
    assert code == 2 and "inputs x 1x3x32x32, baseline x 1x3x16x16" in err


def test_baseline_in_another_convention_is_exit_2(net, capsys):
    code, _, err = cli(capsys, "check", net, "--convention", "2mac", "--baseline", "baseline.json")
    assert code == 2 and "counts with the flopscope convention, this report with 2mac" in err


# ----------------------------------------------------------------------- unusable input


def test_corrupt_model_is_exit_2(net, capsys):
    with open(net, "wb") as f:
        f.write(b"\x08\x07garbage that is not protobuf")
    code, out, err = cli(capsys, "check", net, "--baseline", "baseline.json")
    assert code == 2
    assert err.startswith("flopscope: error: models/net.onnx: not a valid ONNX file")
    budget("[models.net]\nmodel = 'models/net.onnx'\nmax_macs = 1_000_000\n")
    code, out, err = cli(capsys, "check", "--budget", "flopscope.toml")
    assert code == 2 and "not a valid ONNX file" in err and out.startswith("ERROR net")


def test_unsupported_ops_fail_closed_unless_allowed(net, capsys):
    custom = conv_net("models/custom.onnx", custom_op="FancyOp")
    budget(f"[models.custom]\nmodel = '{custom}'\nmax_macs = 1_000_000\n")
    code, _, err = cli(capsys, "check", "--budget", "flopscope.toml")
    assert code == 2
    assert "unsupported ops, so the counts are incomplete: com.example.FancyOp x1" in err
    code, out, _ = cli(capsys, "check", "--budget", "flopscope.toml", "--allow-unsupported")
    assert code == 0
    assert "note: unsupported ops not counted (--allow-unsupported): com.example.FancyOp x1" in out
    budget(f"[models.custom]\nmodel = '{custom}'\nmax_macs = 1_000_000\nallow_unsupported = true\n")
    assert cli(capsys, "check", "--budget", "flopscope.toml")[0] == 0


def test_malformed_toml_is_exit_2(net, capsys):
    budget("[models.net\nmax_macs = 1\n")
    code, out, err = cli(capsys, "check", "--budget", "flopscope.toml")
    assert code == 2 and out == ""
    assert err.startswith("flopscope: error: flopscope.toml: not valid TOML (")


def test_budget_naming_an_unknown_metric_is_exit_2(net, capsys):
    budget("[models.net]\nmodel = 'models/net.onnx'\nmax_gmacs = 1\n")
    code, _, err = cli(capsys, "check", "--budget", "flopscope.toml")
    assert code == 2
    assert "[models.net]: unknown metric 'gmacs' (max_gmacs); metrics: macs, flops" in err


@pytest.mark.parametrize("argv, words", [
    (["check", "models/net.onnx"], "check needs --budget FILE or --baseline FILE"),
    (["check", "--baseline", "baseline.json"], "--baseline compares one model: give MODEL"),
    (["check", "--budget", "missing.toml"], "missing.toml: no such budget file"),
    (["check", "--budget", "flopscope.toml", "--mode", "train"], "--mode, --optimizer, --precision"),
    (["check", "--budget", "flopscope.toml", "--frozen", "stem.*"], "do not go with --budget"),
    (["check", "--budget", "flopscope.toml", "--input-shape", "1x3x8x8"],
     "--input-shape, --dim, --convention, --mode, --optimizer, --precision and --frozen do not go "
     "with --budget"),
    (["check", "resnet999", "--budget", "flopscope.toml"], "no entry for 'resnet999'"),
    (["check", "--budget", "flopscope.toml", "--format", "yaml"], "invalid choice: 'yaml'"),
])
def test_usage_errors_are_exit_2(net, capsys, argv, words):
    budget("[models.net]\nmodel = 'models/net.onnx'\nmax_macs = 1\n")
    code, _, err = cli(capsys, *argv)
    assert code == 2 and words in err and err.count("\n") == 1


# ----------------------------------------------------------------------- budgets


def test_budget_within_and_over(net, capsys):
    budget(f"[models.net]\nmodel = 'models/net.onnx'\nmax_macs = {BASE_MACS}\nmax_params = '1.1k'\n")
    code, out, _ = cli(capsys, "check", "--budget", "flopscope.toml")
    assert code == 0
    assert f"ok   MACs {BASE_MACS:,} is within the limit of {BASE_MACS:,} (100.0% of it)" in out
    budget(f"[models.net]\nmodel = 'models/net.onnx'\nmax_macs = {BASE_MACS - 1}\n")
    code, out, _ = cli(capsys, "check", "--budget", "flopscope.toml")
    assert code == 1
    assert f"FAIL MACs {BASE_MACS:,} is over the limit of {BASE_MACS - 1:,} (+0.00036%)" in out
    assert "heaviest modules by MACs:\n           conv1: 147,456 (53.3% of the model)" in out


def test_one_file_several_models_and_selecting_one(net, capsys):
    big = conv_net("models/big.onnx", WIDENED)
    budget(f"""
[models.net]
model = "models/net.onnx"
max_macs = "300k"

[models.big]
model = "{big}"
input_shape = {{ x = "1x3x16x16" }}
max_macs = "300k"
""")
    code, out, _ = cli(capsys, "check", "--budget", "flopscope.toml")
    assert code == 1
    assert "PASS net (net, x 1x3x16x16)" in out and "FAIL big (big, x 1x3x16x16)" in out
    assert out.rstrip().endswith("1 of 2 models over budget")
    assert cli(capsys, "check", "net", "--budget", "flopscope.toml")[0] == 0
    assert cli(capsys, "check", "models/net.onnx", "--budget", "flopscope.toml")[0] == 0
    assert cli(capsys, "check", big, "--budget", "flopscope.toml")[0] == 1


def test_budget_entry_with_a_baseline_and_a_tolerance(net, capsys):
    os.mkdir("ci")
    os.replace("baseline.json", "ci/net.json")
    budget("[models.net]\nmodel = '../models/net.onnx'\nbaseline = 'net.json'\ntolerance = '100%'\n",
           "ci/flopscope.toml")
    conv_net(net, WIDENED)   # +80% MACs: within 100%
    code, out, _ = cli(capsys, "check", "--budget", "ci/flopscope.toml")
    assert code == 0 and "within the baseline's tolerance 100%" in out
    code, out, _ = cli(capsys, "check", "--budget", "ci/flopscope.toml", "--tolerance", "0")
    assert code == 1 and "conv1: 147,456 -> 294,912" in out


def test_baseline_flag_with_a_budget_entry(net, capsys):
    budget(f"""
[models.net]
model = "models/net.onnx"
max_macs = {BASE_MACS}
[models.net_again]
model = "models/net.onnx"
max_params = 1
""")
    conv_net(net, WIDENED)
    code, out, _ = cli(capsys, "check", "net", "--budget", "flopscope.toml", "--baseline", "baseline.json")
    assert code == 1 and "MACs grew from" in out and "is over the limit of" in out
    code, _, err = cli(capsys, "check", net, "--budget", "flopscope.toml", "--baseline", "baseline.json")
    assert code == 2 and "2 budget entries match: name one of net, net_again" in err


def test_torch_factory_baseline_and_budget(tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    spec = torch_factory("nets.py")
    assert main(["baseline", spec, "--input-shape", "1x3x8x8", "-o", "torch.json"]) == 0
    torch_factory("nets.py", body_width=16)
    code, out, err = cli(capsys, "check", spec, "--input-shape", "1x3x8x8", "--baseline", "torch.json")
    assert code == 1, err
    lines = out.splitlines()
    assert "MACs grew from" in lines[1]
    assert lines[3].strip().startswith("body: ")
    budget("[models.net]\nmodel = 'nets.py:make'\ninput_shape = '1x3x8x8'\nmax_params = 100_000\n")
    assert cli(capsys, "check", "--budget", "flopscope.toml")[0] == 0


# ----------------------------------------------------------------------- training

# conv_net(BASE), a training step with adamw in fp32, by hand: weights, gradients and two
# optimizer states of 1,100 fp32 parameters, and every forward output kept for backward
# (ONNX): 4 x 8,192 bytes (conv0, relu0, conv1, relu1) + 3 x 4,096 (conv2, relu2, y)
OPTIMIZER_STATE = 2 * BASE_PARAMS * 4
PEAK_TRAINING = BASE_PARAMS * 4 + BASE_PARAMS * 4 + OPTIMIZER_STATE + 4 * 8_192 + 3 * 4_096


def train_budget(limit: int, extra: str = "") -> str:
    return budget(f"[models.net]\nmodel = 'models/net.onnx'\nmode = 'train'\n{extra}"
                  f"max_optimizer_state_bytes = {OPTIMIZER_STATE}\nmax_peak_training_bytes = {limit}\n")


def test_a_train_budget_passes_at_the_exact_byte_and_fails_one_under(net, capsys):
    assert (OPTIMIZER_STATE, PEAK_TRAINING) == (8_800, 62_656)
    train_budget(PEAK_TRAINING)
    code, out, err = cli(capsys, "check", "--budget", "flopscope.toml")
    assert code == 0, err
    assert out.startswith("PASS net (net, x 1x3x16x16, train adamw fp32): within budget")
    assert f"ok   optimizer state bytes {OPTIMIZER_STATE:,} is within the limit" in out
    assert f"ok   peak training bytes {PEAK_TRAINING:,} is within the limit of {PEAK_TRAINING:,}" in out
    train_budget(PEAK_TRAINING - 1)
    code, out, err = cli(capsys, "check", "--budget", "flopscope.toml")
    assert code == 1 and err == ""
    assert f"FAIL peak training bytes {PEAK_TRAINING:,} is over the limit of {PEAK_TRAINING - 1:,}" in out


def test_a_training_limit_without_a_mode_is_checked_on_a_training_step(net, capsys):
    """The budget of the issue: it ended with 'peak training bytes has a limit but was not
    measured' (exit 2)."""
    budget(f"[models.net]\nmodel = 'models/net.onnx'\nmax_peak_training_bytes = {PEAK_TRAINING}\n")
    code, out, err = cli(capsys, "check", "--budget", "flopscope.toml")
    assert code == 0, err
    assert out.startswith("PASS net (net, x 1x3x16x16, train adamw fp32)")
    assert "note: every limit is a training metric: analysed as a training step (train adamw fp32)" in out
    # with an inference limit beside it, MACs are inference's (a training step has 774,144)
    budget(f"[models.net]\nmodel = 'models/net.onnx'\nmax_macs = {BASE_MACS}\n"
           f"max_peak_training_bytes = {PEAK_TRAINING - 1}\n")
    code, out, err = cli(capsys, "check", "--budget", "flopscope.toml")
    assert code == 1, err
    assert out.startswith("FAIL net (net, x 1x3x16x16, inference + train adamw fp32): over budget")
    assert f"ok   MACs {BASE_MACS:,} is within the limit of {BASE_MACS:,}" in out
    assert f"FAIL peak training bytes {PEAK_TRAINING:,} is over" in out
    assert "note: peak training bytes checked on a second analysis, of a training step" in out


@pytest.mark.parametrize("entry, words", [
    ("optimizer = 'lamb'\n", "[models.net] optimizer is 'lamb'; choose one of sgd, momentum, adam, adamw"),
    ("precision = 'int8'\n", "[models.net] precision is 'int8'; choose one of fp32, bf16-mixed, fp16-mixed"),
    ("frozen = 7\n", "[models.net] frozen must be a glob of parameter names or a list of them"),
])
def test_an_invalid_training_setup_is_one_line_exit_2(net, capsys, entry, words):
    train_budget(PEAK_TRAINING, entry)
    code, out, err = cli(capsys, "check", "--budget", "flopscope.toml")
    assert code == 2 and out == ""
    assert err.startswith(f"flopscope: error: flopscope.toml: {words}") and err.count("\n") == 1


def test_frozen_parameters_have_no_gradients(tmp_path, capsys, monkeypatch):
    """stem 3x8x3x3 + 8 = 224, body 8x8x3x3 + 8 = 584, head 8x4 + 4 = 36 parameters: frozen
    ones keep their weights but have no gradient and no optimizer state."""
    pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    torch_factory("nets.py")
    entry = ("[models.net]\nmodel = 'nets.py:make'\ninput_shape = '1x3x16x16'\nmode = 'train'\n"
             "optimizer = 'adam'\n{frozen}max_gradient_bytes = {grads}\n"
             "max_optimizer_state_bytes = {state}\n")
    trainable = 584 + 36
    budget(entry.format(frozen="frozen = 'stem.*'\n", grads=trainable * 4, state=2 * trainable * 4))
    code, out, err = cli(capsys, "check", "--budget", "flopscope.toml")
    assert code == 0, err
    assert out.startswith("PASS net (make, x 1x3x16x16, train adam fp32 frozen stem.*)")
    assert f"gradient bytes {trainable * 4:,} is within the limit of {trainable * 4:,}" in out
    budget(entry.format(frozen="frozen = ['stem.*', 'body.*']\n", grads=36 * 4, state=2 * 36 * 4))
    assert cli(capsys, "check", "--budget", "flopscope.toml")[0] == 0
    budget(entry.format(frozen="", grads=trainable * 4, state=2 * 844 * 4))
    code, out, _ = cli(capsys, "check", "--budget", "flopscope.toml")
    assert code == 1 and f"FAIL gradient bytes {844 * 4:,} is over the limit of {trainable * 4:,}" in out


def test_the_ci_outputs_name_the_mode(net, capsys):
    train_budget(PEAK_TRAINING - 1)
    code, out, _ = cli(capsys, "check", "--budget", "flopscope.toml", "--format", "json",
                       "--junit", "junit.xml")
    result = json.loads(out)["results"][0]
    assert code == 1 and result["mode"] == "train adamw fp32"
    assert {c["metric"]: c["new"] for c in result["checks"]} == {
        "optimizer_state_bytes": OPTIMIZER_STATE, "peak_training_bytes": PEAK_TRAINING}
    suite = ET.parse("junit.xml").getroot().find("testsuite")
    assert suite.find("properties/property[@name='mode']").get("value") == "train adamw fp32"
    assert suite.find("testcase[@name='peak_training_bytes (budget)']/failure") is not None
    code, out, _ = cli(capsys, "check", "--budget", "flopscope.toml", "--format", "markdown")
    assert code == 1 and "net · inputs x 1x3x16x16 · train adamw fp32" in out
    budget(f"[models.net]\nmodel = 'models/net.onnx'\nmax_macs = {BASE_MACS}\n")
    code, out, _ = cli(capsys, "check", "--budget", "flopscope.toml", "--format", "json")
    assert code == 0 and json.loads(out)["results"][0]["mode"] == "inference"


# ----------------------------------------------------------------------- latency


def fake_latency(monkeypatch, p90_ms: float | None) -> list:
    """Install a stand-in ``flopscope.latency`` whose bench returns ``p90_ms`` (records calls);
    ``None`` installs a module without bench (the harness not there yet)."""
    calls = []
    module = types.ModuleType("flopscope.latency")
    module.__path__ = flopscope.latency.__path__   # its submodules (the presets) still load
    if p90_ms is not None:
        def bench(model, inputs=None, *, preset="cpu", iterations=None, **options):
            calls.append((model, inputs, preset, iterations, options))
            return Latency(preset, "CPUExecutionProvider", 1, 1, iterations or 10, p90_ms / 2, p90_ms,
                           p90_ms, p90_ms / 2, 0.1)
        module.bench = bench
    monkeypatch.setitem(sys.modules, "flopscope.latency", module)
    return calls


LATENCY_BUDGET = """
[models.net]
model = "models/net.onnx"
input_shape = "1x3x16x16"
max_macs = "1M"
[models.net.latency]
preset = "mobile"
max_p90_ms = 20
iterations = 7
"""


def test_latency_limit_calls_the_harness(net, capsys, monkeypatch):
    calls = fake_latency(monkeypatch, 12.0)
    budget(LATENCY_BUDGET)
    code, out, _ = cli(capsys, "check", "--budget", "flopscope.toml")
    assert code == 0 and "latency p90 12.000 ms is within the limit of 20.000 ms" in out
    assert calls == [("models/net.onnx", None, "mobile", 7, {"input_shapes": {"": (1, 3, 16, 16)}})]
    fake_latency(monkeypatch, 25.0)
    code, out, _ = cli(capsys, "check", "--budget", "flopscope.toml")
    assert code == 1 and "latency p90 25.000 ms is over the limit of 20.000 ms" in out


def test_latency_without_the_harness_is_exit_2_unless_skipped(net, capsys, monkeypatch):
    fake_latency(monkeypatch, None)
    budget(LATENCY_BUDGET)
    code, _, err = cli(capsys, "check", "--budget", "flopscope.toml")
    assert code == 2 and "a latency limit needs the latency harness" in err
    code, out, _ = cli(capsys, "check", "--budget", "flopscope.toml", "--no-latency")
    assert code == 0 and "not measured (--no-latency)" in out


# ----------------------------------------------------------------------- outputs


def test_github_step_summary_gets_the_markdown(net, capsys, monkeypatch, tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    conv_net(net, WIDENED)
    code, out, _ = cli(capsys, "check", net, "--baseline", "baseline.json")
    assert code == 1 and out.startswith("FAIL")   # stdout stays text
    text = summary.read_text()
    assert text.startswith("earlier step\n## ❌ flopscope check: 1 model over budget")
    assert "| metric | old | new | Δ% | limit | result |" in text
    assert f"| MACs | {BASE_MACS:,} | 497,664 | +80.00% | – | ❌ over the baseline |" in text
    assert "| `conv1` | 147,456 | 294,912 | +147,456 | +100.00% |" in text


def test_unwritable_step_summary_warns(net, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "no" / "such" / "dir.md"))
    code, _, err = cli(capsys, "check", net, "--baseline", "baseline.json")
    assert code == 0 and "warning: cannot write $GITHUB_STEP_SUMMARY" in err


def test_junit_file_is_valid_junit_xml(net, capsys):
    conv_net(net, WIDENED)
    code, _, _ = cli(capsys, "check", net, "--baseline", "baseline.json", "--junit", "reports/junit.xml")
    assert code == 2   # the folder does not exist: cannot write
    os.mkdir("reports")
    code, _, _ = cli(capsys, "check", net, "--baseline", "baseline.json", "--junit", "reports/junit.xml")
    assert code == 1
    root = ET.parse("reports/junit.xml").getroot()
    assert root.tag == "testsuites" and root.get("tests") == "5" and root.get("errors") == "0"
    suite = root.find("testsuite")
    assert suite.get("name") == "models/net.onnx" and suite.get("failures") == root.get("failures")
    failure = suite.find("testcase[@name='macs (baseline)']/failure")
    assert failure.get("message").startswith(f"MACs grew from {BASE_MACS:,} to 497,664 (+80.00%)")
    assert "conv1: 147,456 -> 294,912" in failure.text


def test_format_markdown_and_json(net, capsys):
    conv_net(net, WIDENED)
    code, out, _ = cli(capsys, "check", net, "--baseline", "baseline.json", "--format", "markdown")
    assert code == 1 and "| metric | old | new | Δ% | limit | result |" in out
    code, out, _ = cli(capsys, "check", net, "--baseline", "baseline.json", "--format", "json",
                       "-o", "r.json")
    assert code == 1 and out == ""
    with open("r.json", encoding="utf-8") as f:
        data = json.load(f)
    assert data["exit_code"] == 1 and data["results"][0]["model"] == "models/net.onnx"
    macs = data["results"][0]["checks"][0]
    assert (macs["metric"], macs["old"], macs["new"], macs["status"]) == ("macs", BASE_MACS, 497_664, "over")
    assert macs["layers"][0]["module"] == "conv1"


# ----------------------------------------------------------------------- as CI runs it


def run_cli(*argv: str, cwd, env=None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "flopscope", *argv], cwd=cwd, capture_output=True,
                          text=True, env=environ, timeout=120)


def test_subprocess_exit_codes(net, tmp_path):
    budget(f"[models.net]\nmodel = 'models/net.onnx'\nmax_macs = {BASE_MACS}\n")
    assert run_cli("check", "--budget", "flopscope.toml", cwd=tmp_path).returncode == 0
    conv_net(net, WIDENED)
    summary = tmp_path / "summary.md"
    over = run_cli("check", "--budget", "flopscope.toml", cwd=tmp_path,
                   env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert over.returncode == 1 and "conv1: 294,912" in over.stdout and over.stderr == ""
    assert "| MACs |" in summary.read_text()
    budget("[models.net\n")
    broken = run_cli("check", "--budget", "flopscope.toml", cwd=tmp_path)
    assert broken.returncode == 2 and broken.stdout == ""
    assert broken.stderr.startswith("flopscope: error: flopscope.toml: not valid TOML")
    assert "Traceback" not in broken.stderr


def test_base_widths_are_what_the_numbers_above_assume():
    assert BASE == (8, 8, 4) and WIDENED == (8, 16, 4)
    assert BASE_PARAMS == 1100


# ----------------------------------------------------------------------- issue 14 defects


def test_a_new_module_says_new_once(net, capsys):
    """Defect 6: a module that appears is "(+n, new)", never "(+n, new) (new)"."""
    conv_net(net, (8, 8, 4, 4))                   # conv3 is new: 4 x 4 x 9 x 16 x 16 MACs
    code, out, _ = cli(capsys, "check", net, "--baseline", "baseline.json")
    assert code == 1
    assert "conv3: 0 -> 36,864 (+36,864, new)" in out
    assert "new) (new)" not in out


def test_strict_lighter_model_is_not_called_over_budget(net, capsys):
    """Defect 7: failing under --strict for being lighter is not "over budget"."""
    conv_net(net, (8, 4, 4))
    code, out, _ = cli(capsys, "check", net, "--baseline", "baseline.json", "--strict")
    assert code == 1
    last = out.rstrip().splitlines()[-1]
    assert last == "flopscope check: 1 model lighter than the baseline beyond the tolerance (--strict)"
    assert "over budget" not in out


def test_errors_are_printed_once(net, capsys):
    """Defect 8: an error goes to stderr once; stdout gives the verdict without repeating it
    (a file written with -o keeps it, as nothing else records it there)."""
    code, out, err = cli(capsys, "check", net, "--baseline", "nowhere.json")
    assert code == 2
    assert err.count("no such baseline") == 1 and "no such baseline" not in out
    assert out.startswith("ERROR models/net.onnx") and "cannot check" in out
    code, out, err = cli(capsys, "check", net, "--baseline", "nowhere.json", "-o", "verdict.txt")
    assert code == 2 and out == "" and err.count("no such baseline") == 1
    with open("verdict.txt", encoding="utf-8") as f:
        assert "no such baseline" in f.read()
