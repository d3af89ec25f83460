"""Per-layer time: profiler events, the mapping of ORT's rewritten graph back onto layers
(synthetic graphs spelled by hand), and real ORT profiles of a Conv + BN + ReLU model."""

from __future__ import annotations

import os

import pytest

from flopscope.analysis import build_report, load_graph
from flopscope.frontends.onnx import read_model
from flopscope.latency.presets import CPU_PROVIDER, Preset
from flopscope.latency.profile import (
    FOLDED,
    FUSED,
    MEASURED,
    GraphNode,
    NodeTimes,
    layer_names,
    map_layers,
    node_times,
    op_family,
    profile_layers,
)
from flopscope.latency.session import random_inputs
from tests.latency.nets import BN_FLOPS, CONV_FLOPS, RELU_FLOPS, conv_bn_relu

# --------------------------------------------------------------------------- events


def _run(ts, dur):
    return {"cat": "Session", "name": "model_run", "ts": ts, "dur": dur}


def _node(name, ts, dur, op="Conv"):
    return {"cat": "Node", "name": f"{name}_kernel_time", "ts": ts, "dur": dur,
            "args": {"op_name": op, "provider": "CPUExecutionProvider"}}


def test_node_times_skip_warm_up_runs_and_average_the_rest():
    events = [
        _run(0, 100), _node("conv", 10, 90), _node("relu", 95, 4, "Relu"),        # warm-up run
        _run(200, 100), _node("conv", 210, 30), _node("relu", 250, 2, "Relu"),
        _run(400, 100), _node("conv", 410, 50), _node("relu", 470, 4, "Relu"),
        {"cat": "Node", "name": "conv_fence_before", "ts": 405, "dur": 1},
        {"cat": "Session", "name": "session_initialization", "ts": 0, "dur": 5},
    ]
    t = node_times(events, skip_runs=1)
    assert t.runs == 2
    assert t.ms == pytest.approx({"conv": 0.040, "relu": 0.003})        # µs -> ms, mean of 2 runs
    assert t.ops == {"conv": "Conv", "relu": "Relu"}
    assert t.providers["conv"] == "CPUExecutionProvider"
    assert node_times(events, skip_runs=0).ms["conv"] == pytest.approx(170 / 3 / 1000)


def test_op_family():
    assert op_family("FusedConv") == "Conv"
    assert op_family("FusedMatMul") == "MatMul"
    assert op_family("Conv") == "Conv"


# --------------------------------------------------------------------------- mapping by hand

ORIGINAL = [
    GraphNode("conv", "Conv", ("x", "w", "b"), ("c",)),
    GraphNode("bn", "BatchNormalization", ("c", "s", "sh", "m", "v"), ("n",)),
    GraphNode("relu", "Relu", ("n",), ("y",)),
]
CONSTANTS = {"w", "b", "s", "sh", "m", "v"}
FLOPS = {"conv": CONV_FLOPS, "bn": BN_FLOPS, "relu": RELU_FLOPS}


def _tensors(nodes, extra=()):
    names = set(extra)
    for n in nodes:
        names.update(n.inputs)
        names.update(n.outputs)
    return names


def _map(optimized, ms, extra=("x", "y")):
    times = NodeTimes(ms=ms, ops={n.name: n.op for n in optimized}, runs=3)
    return map_layers(ORIGINAL, optimized, _tensors(optimized, extra), times,
                      constants=CONSTANTS, flops=FLOPS)


def _by_name(profile):
    return {row.name: row for row in profile.layers}


def test_extended_level_fused_conv_keeps_the_conv_name():
    opt = [GraphNode("conv", "FusedConv", ("x", "w_bn", "b_bn"), ("y",))]
    rows = _by_name(_map(opt, {"conv": 2.0}))
    assert rows["conv"].status == MEASURED
    assert rows["conv"].time_ms == 2.0 and rows["conv"].share == 1.0
    assert rows["conv"].absorbed == ["bn", "relu"]
    assert rows["conv"].group_flops == CONV_FLOPS + BN_FLOPS + RELU_FLOPS
    assert rows["conv"].gflops_per_s == pytest.approx(rows["conv"].group_flops / 2e-3 / 1e9)
    assert (rows["bn"].status, rows["bn"].fused_into) == (FUSED, "conv")
    assert (rows["relu"].status, rows["relu"].fused_into) == (FUSED, "conv")
    assert rows["bn"].time_ms is None


def test_basic_level_folds_bn_into_conv_and_keeps_relu():
    opt = [GraphNode("conv", "Conv", ("x", "w_bn", "b_bn"), ("n",)),
           GraphNode("relu", "Relu", ("n",), ("y",))]
    profile = _map(opt, {"conv": 3.0, "relu": 1.0})
    rows = _by_name(profile)
    assert rows["conv"].absorbed == ["bn"] and rows["conv"].time_ms == 3.0
    assert rows["bn"].fused_into == "conv"
    assert rows["relu"].status == MEASURED and rows["relu"].absorbed == []
    assert rows["relu"].share == pytest.approx(0.25)
    assert profile.total_ms == 4.0 and profile.other == []


def test_nchwc_node_named_after_its_output_and_reorders_join_the_conv():
    opt = [GraphNode("ReorderInput", "ReorderInput", ("x",), ("t0",)),
           GraphNode("y_nchwc", "Conv", ("t0", "t_w", "b_bn"), ("t1",)),
           GraphNode("ReorderOutput", "ReorderOutput", ("t1",), ("y",))]
    rows = _by_name(_map(opt, {"ReorderInput": 0.5, "y_nchwc": 2.0, "ReorderOutput": 0.25}))
    conv = rows["conv"]
    assert conv.status == MEASURED
    assert conv.time_ms == pytest.approx(2.75)
    assert conv.ort_nodes == ["y_nchwc", "ReorderInput", "ReorderOutput"]
    assert conv.absorbed == ["bn", "relu"]
    assert rows["relu"].fused_into == "conv"     # anchored on relu's output, moved back to the Conv


def test_unknown_node_is_listed_apart():
    opt = [GraphNode("conv", "FusedConv", ("x", "w", "b"), ("y",)),
           GraphNode("", "Identity", ("y",), ("z",))]
    profile = _map(opt, {"conv": 1.0, "Identity_7": 0.5}, extra=("x", "y", "z"))
    assert [(o.name, o.time_ms) for o in profile.other] == [("", 0.0), ("Identity_7", 0.5)]
    assert profile.total_ms == 1.5


def test_constants_are_folded_not_fused():
    original = [GraphNode("make_w", "ConstantOfShape", ("shape",), ("w",)), *ORIGINAL]
    opt = [GraphNode("conv", "FusedConv", ("x", "w_bn", "b_bn"), ("y",))]
    times = NodeTimes(ms={"conv": 1.0}, ops={"conv": "FusedConv"}, runs=1)
    profile = map_layers(original, opt, _tensors(opt, ("x", "y")), times,
                         constants=CONSTANTS - {"w"} | {"shape"})
    rows = _by_name(profile)
    assert rows["make_w"].status == FOLDED and rows["make_w"].fused_into == ""
    assert rows["conv"].absorbed == ["bn", "relu"]


def test_residual_add_follows_its_own_conv_not_the_shortcut():
    # a -> conv1 -> r1 ; r1 -> conv2 -> bn2 -> add(+ r1) -> relu2 -> y ; ORT (NCHWc) names the
    # fused conv2 after relu2's output and connects both convs through reorder tokens
    original = [
        GraphNode("conv1", "Conv", ("a", "w1"), ("c1",)),
        GraphNode("relu1", "Relu", ("c1",), ("r1",)),
        GraphNode("conv2", "Conv", ("r1", "w2"), ("c2",)),
        GraphNode("bn2", "BatchNormalization", ("c2", "s", "sh", "m", "v"), ("n2",)),
        GraphNode("add", "Add", ("n2", "r1"), ("s2",)),
        GraphNode("relu2", "Relu", ("s2",), ("y",)),
    ]
    opt = [GraphNode("r1_nchwc", "Conv", ("t_a", "t_w1"), ("t1",)),
           GraphNode("y_nchwc", "Conv", ("t1", "t_w2", "b2", "t1"), ("t2",)),
           GraphNode("ReorderOutput", "ReorderOutput", ("t2",), ("y",))]
    times = NodeTimes(ms={"r1_nchwc": 1.0, "y_nchwc": 2.0, "ReorderOutput": 0.5}, runs=1)
    rows = _by_name(map_layers(original, opt, _tensors(opt, ("a", "y")), times,
                               constants={"w1", "w2", "s", "sh", "m", "v"}))
    assert rows["conv1"].absorbed == ["relu1"] and rows["conv1"].time_ms == 1.0
    assert rows["conv2"].absorbed == ["bn2", "add", "relu2"]
    assert rows["conv2"].time_ms == pytest.approx(2.5)


# --------------------------------------------------------------------------- real ORT profiles


def _profile(path, level):
    preset = Preset(f"test-{level}", CPU_PROVIDER, level, threads=1, optimization=level)
    proto = read_model(path)
    graph = load_graph(path)
    report = build_report(graph)
    feeds = random_inputs(report.model.inputs)
    return profile_layers(path, proto, graph, report, preset, 1, feeds, {}, runs=3)


@pytest.mark.parametrize("level, relu_status", [("disable", MEASURED), ("basic", MEASURED),
                                                ("extended", FUSED), ("all", FUSED)])
def test_real_ort_profile_of_conv_bn_relu(tmp_path, level, relu_status):
    path = conv_bn_relu(tmp_path, batch=1)
    before = sorted(os.listdir(tmp_path))
    profile = _profile(path, level)
    rows = _by_name(profile)
    assert profile.runs == 3
    assert rows["conv"].status == MEASURED and rows["conv"].time_ms > 0
    assert rows["conv"].flops == CONV_FLOPS
    assert rows["bn"].status == (MEASURED if level == "disable" else FUSED)
    assert rows["relu"].status == relu_status
    if relu_status == FUSED:
        assert rows["relu"].fused_into == "conv"
        assert rows["conv"].group_flops == CONV_FLOPS + BN_FLOPS + RELU_FLOPS
    assert profile.other == []
    measured = sum(r.time_ms for r in profile.layers if r.time_ms is not None)
    assert measured == pytest.approx(profile.total_ms)
    assert sorted(os.listdir(tmp_path)) == before            # nothing written beside the model


def test_unnamed_nodes_are_profiled_under_their_layer_names(tmp_path):
    path = conv_bn_relu(tmp_path, batch=1, names=False)
    graph = load_graph(path)
    assert layer_names(read_model(path), graph) == ["Conv_0", "BatchNormalization_1", "Relu_2"]
    rows = _by_name(_profile(path, "extended"))
    assert rows["Conv_0"].status == MEASURED
    assert rows["Conv_0"].absorbed == ["BatchNormalization_1", "Relu_2"]


def test_converted_batchnorm_keeps_its_own_row():
    # NCHWc turns a standalone BatchNormalization into a depthwise Conv named "<out>_bn_nchwc"
    original = [GraphNode("bn", "BatchNormalization", ("x", "s", "sh", "m", "v"), ("n",)),
                GraphNode("relu", "Relu", ("n",), ("y",))]
    opt = [GraphNode("ReorderInput", "ReorderInput", ("x",), ("t0",)),
           GraphNode("n_bn_nchwc", "Conv", ("t0", "t_s", "t_b"), ("t1",)),
           GraphNode("ReorderOutput", "ReorderOutput", ("t1",), ("y",))]
    times = NodeTimes(ms={"ReorderInput": 0.1, "n_bn_nchwc": 0.2, "ReorderOutput": 0.1}, runs=1)
    rows = _by_name(map_layers(original, opt, _tensors(opt, ("x", "y")), times,
                               constants={"s", "sh", "m", "v"}))
    assert rows["bn"].status == MEASURED and rows["bn"].ort_ops[0] == "Conv"
    assert rows["bn"].time_ms == pytest.approx(0.4)
    assert rows["relu"].fused_into == "bn"
