"""Budget files: parsing, validation, numbers, tolerances, paths and entry selection."""

from __future__ import annotations

import os
import re
import tomllib

import pytest

from flopscope import budget as budget_module
from flopscope.budget import (
    LatencyLimit,
    load_budget,
    parse_budget,
    parse_count,
    parse_tolerance,
)
from flopscope.errors import FlopscopeError
from flopscope.report import Training

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "ci.md")


def parse(text: str, base_dir: str = ""):
    return parse_budget(tomllib.loads(text), path="flopscope.toml", base_dir=base_dir)


def error(text: str) -> str:
    with pytest.raises(FlopscopeError) as info:
        parse(text)
    return str(info.value)


# ----------------------------------------------------------------------- the documented format


def test_the_module_docstring_example_parses():
    example = budget_module.__doc__.split("::\n", 1)[1].split("\nThe metrics are", 1)[0]
    entry = parse(example).models[0]
    assert entry.name == "resnet18" and entry.model == "resnet18"
    assert entry.input_shapes == {"": (1, 3, 224, 224)} and entry.dims == {"N": 1}
    assert entry.limits == {"macs": 1_900_000_000, "flops": 3_700_000_000, "params": 11_700_000,
                            "param_bytes": 45 * 2**20, "peak_activation_bytes": 12_845_056}
    assert entry.latency == LatencyLimit("cpu", 20.0, 50)
    assert entry.baseline == "baselines/resnet18.json" and entry.tolerance == 0.01


def test_the_docs_example_parses(tmp_path):
    with open(DOCS, encoding="utf-8") as f:
        example = re.search(r"```toml\n(.*?)```", f.read(), re.S).group(1)
    path = tmp_path / "flopscope.toml"
    path.write_text(example)
    budget = load_budget(path)
    classifier, detector = budget.models
    assert classifier.model == str(tmp_path / "models" / "classifier.onnx")
    assert classifier.input_shapes == {"input": (1, 3, 224, 224)}
    assert classifier.limits["flops"] == 3_900_000_000 and classifier.latency.max_p90_ms == 20
    assert detector.model == f"{tmp_path / 'src' / 'detector.py'}:build"
    assert detector.baseline == str(tmp_path / "baselines" / "detector.json")
    assert detector.tolerance == 0.01 and detector.latency is None


def test_several_models_and_defaults():
    budget = parse("""
        [models.resnet18]
        max_macs = 1
        [models.small]
        model = "small.onnx"
        max_params = 2
    """)
    first, second = budget.models
    assert (first.name, first.model, first.spec) == ("resnet18", "resnet18", "resnet18")
    assert first.convention == "flopscope" and first.input_shapes == {} and first.latency is None
    assert first.tolerance is None and first.allow_unsupported is False
    assert (second.model, second.limits) == ("small.onnx", {"params": 2})


# ----------------------------------------------------------------------- validation


def test_unknown_key_names_it_and_the_valid_keys():
    message = error("[models.a]\nmax_macs = 1\nmax_maccs_typo = 3\ninput_shapes = '1x3'\n")
    assert "unknown metric 'maccs_typo'" in message
    message = error("[models.a]\nmax_macs = 1\ninput_shapes = '1x3'\n")
    assert "unknown key 'input_shapes' in [models.a]" in message
    assert "valid keys: model, input_shape" in message


def test_unknown_metric_names_the_metrics():
    message = error("[models.a]\nmax_gflops = 4\n")
    assert message.startswith("flopscope.toml: [models.a]: unknown metric 'gflops' (max_gflops)")
    assert "macs, flops, params, param_bytes" in message
    assert "max_p90_ms" in error("[models.a]\nmax_p90_ms = 4\n")


@pytest.mark.parametrize("text, words", [
    ("title = 'x'\n[models.a]\nmax_macs = 1\n", "unknown key 'title' in the top level"),
    ("[other]\nx = 1\n", "unknown key 'other'"),
    ("", "no models"),
    ("models = 3\n", "no models"),
    ("[models]\na = 3\n", "[models.a] must be a table"),
    ("[models.a]\nmodel = 'x.onnx'\n", "sets no limit"),
    ("[models.a]\nmodel = 3\nmax_macs = 1\n", "model must be a non-empty string"),
    ("[models.a]\nmax_macs = -1\n", "max_macs must be >= 0"),
    ("[models.a]\nmax_macs = true\n", "max_macs must be a number"),
    ("[models.a]\nmax_macs = 'lots'\n", "cannot read 'lots' as a number"),
    ("[models.a]\nmax_macs = 1.5\n", "not a whole number"),
    ("[models.a]\nmax_macs = [1]\n", "max_macs must be a number"),
    ("[models.a]\nmax_macs = 1\nconvention = 'fvcore'\n", "choose one of flopscope, 2mac"),
    ("[models.a]\nmax_macs = 1\ninput_shape = '1xthree'\n", "input_shape: bad shape '1xthree'"),
    ("[models.a]\nmax_macs = 1\ninput_shape = 3\n", "input_shape must be a shape string"),
    ("[models.a]\nmax_macs = 1\ninput_shape = [[1, 'a']]\n", "is not a shape"),
    ("[models.a]\nmax_macs = 1\ndims = 3\n", "dims must be a table"),
    ("[models.a]\nmax_macs = 1\ndims = { N = 'x' }\n", "N must be an integer >= 0"),
    ("[models.a]\nmax_macs = 1\nbaseline = ''\n", "baseline must be a non-empty string"),
    ("[models.a]\nmax_macs = 1\ntolerance = '5'\n", "write \"5%\" for a percentage"),
    ("[models.a]\nmax_macs = 1\nallow_unsupported = 'yes'\n", "allow_unsupported must be true or false"),
    ("[models.a]\nlatency = 3\n", "[models.a.latency] must be a table"),
    ("[models.a.latency]\npreset = 'cpu'\n", "[models.a.latency] needs max_p90_ms"),
    ("[models.a.latency]\nmax_p90_ms = 5\npreset = 'tpu'\n",
     "preset is 'tpu'; choose one of cpu, mobile, gpu"),
    ("[models.a.latency]\nmax_p90_ms = 0\n", "max_p90_ms must be a number of milliseconds > 0"),
    ("[models.a.latency]\nmax_p90_ms = 5\niterations = 0\n", "iterations must be an integer >= 1"),
    ("[models.a.latency]\nmax_p90_ms = 5\nwarmup = 3\n",
     "unknown key 'warmup' in [models.a.latency]; valid keys: preset, max_p90_ms, iterations"),
])
def test_invalid_budgets_name_the_problem(text, words):
    assert words in error(text)


def test_latency_alone_is_a_limit_and_preset_defaults_to_cpu():
    entry = parse("[models.a.latency]\nmax_p90_ms = 7.5\n").models[0]
    assert entry.latency == LatencyLimit("cpu", 7.5, None) and entry.limits == {}


def test_baseline_alone_is_enough():
    entry = parse("[models.a]\nbaseline = 'a.json'\ntolerance = 0.02\n", base_dir="ci").models[0]
    assert entry.baseline == os.path.join("ci", "a.json") and entry.tolerance == 0.02


@pytest.mark.parametrize("value, shapes, args", [
    ("'1x3x8x8'", {"": (1, 3, 8, 8)}, ["1x3x8x8"]),
    ("[1, 3, 8, 8]", {"": (1, 3, 8, 8)}, ["1x3x8x8"]),
    ("['x=1x3x8x8', 'ids=1x16:int64']", {"x": (1, 3, 8, 8), "ids": ((1, 16), "int64")},
     ["x=1x3x8x8", "ids=1x16:int64"]),
    ("{ x = '1x3x8x8', y = [2, 4] }", {"x": (1, 3, 8, 8), "y": (2, 4)}, ["x=1x3x8x8", "y=2x4"]),
])
def test_input_shape_forms(value, shapes, args):
    entry = parse(f"[models.a]\nmax_macs = 1\ninput_shape = {value}\n").models[0]
    assert entry.input_shapes == shapes and entry.input_shape_args == args


# ----------------------------------------------------------------------- numbers


@pytest.mark.parametrize("value, expected", [
    (1_900_000_000, 1_900_000_000),
    (0, 0),
    (10**20, 10**20),
    (1.9e9, 1_900_000_000),
    ("1.9G", 1_900_000_000),
    ("1.9 G", 1_900_000_000),
    ("11.7M", 11_700_000),
    ("512k", 512_000),
    ("2T", 2 * 10**12),
    ("45MiB", 45 * 2**20),
    ("1.5Ki", 1536),
    ("4GiB", 4 * 2**30),
    ("1_900_000", 1_900_000),
    ("1,900,000", 1_900_000),
    ("123456789012345678901234567890", 123456789012345678901234567890),
    ("1.23456789G", 1_234_567_890),
])
def test_parse_count_keeps_integers_exact(value, expected):
    result = parse_count(value)
    assert result == expected and type(result) is int


@pytest.mark.parametrize("value", ["1.5", "1.2345678901G", "-3", "1.9X", "G", "", True, None, 1.5,
                                   float("nan"), float("inf")])
def test_parse_count_rejects(value):
    with pytest.raises(FlopscopeError):
        parse_count(value, "max_macs")


@pytest.mark.parametrize("value, expected", [
    ("1%", 0.01), ("0.5%", 0.005), (" 2.5 % ", 0.025), ("0%", 0.0), ("150%", 1.5),
    ("0.01", 0.01), (0.01, 0.01), (0, 0.0), ("1", 1.0),
])
def test_parse_tolerance(value, expected):
    assert parse_tolerance(value) == pytest.approx(expected)


@pytest.mark.parametrize("value, words", [
    ("5", "write \"5%\""), ("-1%", ">= 0"), ("abc", "cannot read"), ("%", "cannot read"),
    (True, "percentage"), ([1], "percentage"), (-0.1, ">= 0"), ("nan", ">= 0"),
])
def test_parse_tolerance_rejects(value, words):
    with pytest.raises(FlopscopeError, match=re.escape(words)):
        parse_tolerance(value, "--tolerance")


# ----------------------------------------------------------------------- files and selection


def test_load_errors(tmp_path):
    with pytest.raises(FlopscopeError, match="no such budget file"):
        load_budget(tmp_path / "missing.toml")
    with pytest.raises(FlopscopeError, match="is a directory"):
        load_budget(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text("[models.a\nmax_macs = 1\n")
    with pytest.raises(FlopscopeError, match=r"bad.toml: not valid TOML \(.*line 1"):
        load_budget(bad)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe[models]")
    with pytest.raises(FlopscopeError, match="not valid TOML"):
        load_budget(binary)


def test_paths_are_relative_to_the_budget_file(tmp_path):
    path = tmp_path / "ci" / "flopscope.toml"
    path.parent.mkdir()
    path.write_text("""
        [models.onnx]
        model = "../models/net.onnx"
        max_macs = 1
        [models.torch]
        model = "nets.py:make"
        max_macs = 1
        [models.absolute]
        model = "/opt/net.onnx"
        max_macs = 1
        [models.resnet18]
        max_macs = 1
    """.replace("\n        ", "\n"))
    models = {m.name: m for m in load_budget(path).models}
    assert models["onnx"].model == str(tmp_path / "models" / "net.onnx")
    assert models["torch"].model == f"{tmp_path / 'ci' / 'nets.py'}:make"
    assert models["absolute"].model == "/opt/net.onnx"
    assert models["resnet18"].model == "resnet18"


def test_select_by_section_name_model_value_or_same_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    budget = parse("""
        [models.net]
        model = "models/net.onnx"
        max_macs = 1
        [models.net_big]
        model = "models/net.onnx"
        input_shape = "4x3x16x16"
        max_macs = 1
        [models.other]
        model = "other.onnx"
        max_macs = 1
    """)
    assert [m.name for m in budget.select(None)] == ["net", "net_big", "other"]
    assert [m.name for m in budget.select("other")] == ["other"]
    assert [m.name for m in budget.select("models/net.onnx")] == ["net", "net_big"]
    assert [m.name for m in budget.select(str(tmp_path / "models" / "net.onnx"))] == ["net", "net_big"]
    assert [m.name for m in budget.select("./other.onnx")] == ["other"]
    with pytest.raises(FlopscopeError, match=r"no entry for 'resnet50'.*entries: net \(models/net.onnx\)"):
        budget.select("resnet50")


# ----------------------------------------------------------------------- training


def test_the_docstring_training_entry_parses():
    example = budget_module.__doc__.split("::\n", 1)[1].split("\nThe metrics are", 1)[0]
    entry = parse(example).models[1]
    assert (entry.name, entry.model, entry.mode) == ("resnet18-training", "resnet18", "train")
    assert entry.training == Training("adamw", "bf16-mixed", ("conv1.*", "layer1.*"))
    assert entry.limits == {"peak_training_bytes": 400 * 2**20, "optimizer_state_bytes": 90 * 2**20}


def test_a_train_entry_takes_its_setup_and_defaults_the_rest():
    train, plain = parse("""
        [models.t]
        mode = "train"
        optimizer = "sgd"
        frozen = "stem.*"
        max_macs = 1
        [models.p]
        max_macs = 1
    """).models
    assert train.mode == "train" and train.training == Training("sgd", "fp32", ("stem.*",))
    assert plain.mode == "inference" and plain.training is None


def test_a_training_limit_without_a_mode_gets_a_training_setup():
    entry = parse("[models.r18]\nmodel = 'resnet18'\nmax_peak_training_bytes = 1e9\n").models[0]
    assert entry.mode == "inference" and entry.training == Training("adamw", "fp32", ())
    assert entry.limits == {"peak_training_bytes": 1_000_000_000}
    entry = parse("[models.a]\nmax_gradient_bytes = 8\nprecision = 'fp16-mixed'\n").models[0]
    assert entry.mode == "inference" and entry.training == Training("adamw", "fp16-mixed", ())


@pytest.mark.parametrize("text, words", [
    ("[models.a]\nmax_macs = 1\nmode = 'training'\n",
     "flopscope.toml: [models.a] mode is 'training'; choose one of inference, train"),
    ("[models.a]\nmax_macs = 1\nmode = 'train'\noptimizer = 'lamb'\n",
     "[models.a] optimizer is 'lamb'; choose one of sgd, momentum, adam, adamw"),
    ("[models.a]\nmax_macs = 1\nmode = 'train'\nprecision = 'fp8'\n",
     "[models.a] precision is 'fp8'; choose one of fp32, bf16-mixed, fp16-mixed"),
    ("[models.a]\nmax_macs = 1\nmode = 'train'\nfrozen = 3\n",
     "[models.a] frozen must be a glob of parameter names or a list of them"),
    ("[models.a]\nmax_macs = 1\nmode = 'train'\nfrozen = []\n", "frozen must be a glob"),
    ("[models.a]\nmax_macs = 1\nmode = 'train'\nfrozen = ['stem.*', '']\n", "frozen must be a glob"),
    ("[models.a]\nmode = 'inference'\nmax_peak_training_bytes = 1\n",
     "[models.a]: max_peak_training_bytes needs a training analysis, but mode is 'inference'"),
    ("[models.a]\nmode = 'inference'\nmax_macs = 1\noptimizer = 'sgd'\n",
     "optimizer needs a training analysis, but mode is 'inference'"),
    ("[models.a]\nmax_macs = 1\noptimizer = 'sgd'\nprecision = 'fp32'\n",
     "[models.a]: optimizer, precision sets up a training analysis; add mode = \"train\""),
    ("[models.a]\nmax_macs = 1\ntrain = true\n", "unknown key 'train' in [models.a]; valid keys: model, "
     "input_shape, dims, convention, mode, optimizer, precision, frozen, max_macs"),
])
def test_invalid_training_entries_are_one_line_naming_the_key_and_the_values(text, words):
    message = error(text)
    assert words in message and "\n" not in message


def test_the_training_vocabularies_are_flopscope_trainings():
    from flopscope.training import MODES, OPTIMIZERS, PRECISIONS

    for option, values in (("mode", MODES), ("optimizer", OPTIMIZERS), ("precision", PRECISIONS)):
        mode = "" if option == "mode" else "mode = 'train'\n"
        message = error(f"[models.a]\nmax_macs = 1\n{mode}{option} = 'x'\n")
        assert f"choose one of {', '.join(values)}" in message


def test_the_docs_training_example_parses():
    with open(DOCS, encoding="utf-8") as f:
        example = re.findall(r"```toml\n(.*?)```", f.read(), re.S)[1]
    entry = parse(example).models[0]
    assert (entry.name, entry.mode) == ("classifier-training", "train")
    assert entry.training == Training("adamw", "bf16-mixed", ("stem.*",))
    assert entry.limits == {"macs": 5_500_000_000, "optimizer_state_bytes": 90 * 2**20,
                            "peak_training_bytes": 2 * 2**30}
