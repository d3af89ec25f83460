"""LLM phases of an ONNX decoder export with past key/value inputs (``flopscope/phases.py``):
a tiny two-layer decoder built with onnx.helper, its decode and prefill MACs against the
hand formula and its KV-cache bytes ``2·layers·tokens·kv_heads·head_dim·bytes``."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from flopscope.errors import FlopscopeError
from flopscope.phases import analyze_phase

D, HEADS, FF, VOCAB, LAYERS = 16, 2, 24, 50, 2
HEAD_DIM = D // HEADS


def decoder(past_names: str = "past_key_values.{i}.{kind}", experts: int = 0) -> onnx.ModelProto:
    """input_ids [B, S] -> embedding -> LAYERS x (attention with a KV cache, ReLU MLP) -> logits.
    With ``experts``, the MLP is ONNX Runtime's com.microsoft.MoE of that many ReLU experts
    of FF, top 2, routed by a D x experts MatMul."""
    rng = np.random.default_rng(0)
    inits, nodes = [], []

    def weight(name, *shape):
        inits.append(numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name))
        return name

    inits.append(numpy_helper.from_array(np.array([0, 0, HEADS, HEAD_DIM], np.int64), "heads"))
    inits.append(numpy_helper.from_array(np.array([0, 0, D], np.int64), "merged"))
    inits.append(numpy_helper.from_array(np.array([-1, experts], np.int64), "tokens"))
    nodes.append(helper.make_node("Gather", [weight("embed", VOCAB, D), "input_ids"], ["x0"]))
    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64,
                                            ["batch_size", "sequence_length"]),
              helper.make_tensor_value_info("attention_mask", TensorProto.INT64,
                                            ["batch_size", "total_sequence_length"])]
    outputs = []
    x = "x0"
    for i in range(LAYERS):
        split = {}
        for part in ("q", "k", "v"):
            nodes += [helper.make_node("MatMul", [x, weight(f"w{part}{i}", D, D)], [f"{part}{i}f"]),
                      helper.make_node("Reshape", [f"{part}{i}f", "heads"], [f"{part}{i}r"]),
                      helper.make_node("Transpose", [f"{part}{i}r"], [f"{part}{i}"],
                                       perm=[0, 2, 1, 3])]
            split[part] = f"{part}{i}"
        for kind in ("key", "value"):
            past = past_names.format(i=i, kind=kind)
            inputs.append(helper.make_tensor_value_info(
                past, TensorProto.FLOAT, ["batch_size", HEADS, "past_sequence_length", HEAD_DIM]))
            present = f"present.{i}.{kind}"
            nodes.append(helper.make_node("Concat", [past, split[kind[0]]], [present], axis=2))
            outputs.append(helper.make_tensor_value_info(
                present, TensorProto.FLOAT, ["batch_size", HEADS, "total_sequence_length", HEAD_DIM]))
        nodes += [
            helper.make_node("Transpose", [f"present.{i}.key"], [f"kt{i}"], perm=[0, 1, 3, 2]),
            helper.make_node("MatMul", [split["q"], f"kt{i}"], [f"s{i}"]),
            helper.make_node("Softmax", [f"s{i}"], [f"p{i}"], axis=-1),
            helper.make_node("MatMul", [f"p{i}", f"present.{i}.value"], [f"a{i}"]),
            helper.make_node("Transpose", [f"a{i}"], [f"at{i}"], perm=[0, 2, 1, 3]),
            helper.make_node("Reshape", [f"at{i}", "merged"], [f"am{i}"]),
            helper.make_node("MatMul", [f"am{i}", weight(f"wo{i}", D, D)], [f"o{i}"]),
            helper.make_node("Add", [x, f"o{i}"], [f"h{i}"]),
        ]
        if experts:
            nodes += [
                helper.make_node("MatMul", [f"h{i}", weight(f"wr{i}", D, experts)], [f"g{i}"]),
                helper.make_node("Reshape", [f"g{i}", "tokens"], [f"gt{i}"]),
                helper.make_node("MoE", [f"h{i}", f"gt{i}", weight(f"fc1_{i}", experts, FF, D), "",
                                         weight(f"fc2_{i}", experts, D, FF)], [f"m{i}"],
                                 name=f"moe{i}", domain="com.microsoft", k=2, activation_type="relu"),
            ]
        else:
            nodes += [
                helper.make_node("MatMul", [f"h{i}", weight(f"w1{i}", D, FF)], [f"u{i}"]),
                helper.make_node("Relu", [f"u{i}"], [f"r{i}"]),
                helper.make_node("MatMul", [f"r{i}", weight(f"w2{i}", FF, D)], [f"m{i}"]),
            ]
        nodes.append(helper.make_node("Add", [f"h{i}", f"m{i}"], [f"x{i + 1}"]))
        x = f"x{i + 1}"
    nodes.append(helper.make_node("MatMul", [x, weight("lm", D, VOCAB)], ["logits"]))
    outputs.insert(0, helper.make_tensor_value_info("logits", TensorProto.FLOAT,
                                                    ["batch_size", "sequence_length", VOCAB]))
    graph = helper.make_graph(nodes, "tiny_decoder", inputs, outputs, inits)
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid("com.microsoft", 1)] if experts else [])
    model = helper.make_model(graph, opset_imports=opsets)
    onnx.checker.check_model(model)
    return model


def decoder_macs(s: int, b: int, context: int) -> int:
    """Q, K, V and output projections, scores and weighted values over context + s keys,
    a two-matrix MLP, the LM head."""
    layer = 4 * s * D * D + 2 * s * (context + s) * D + 2 * s * D * FF
    return b * (LAYERS * layer + s * D * VOCAB)


def kv_bytes(tokens: int) -> int:
    return 2 * LAYERS * tokens * HEADS * HEAD_DIM * 4                # float32: 4 bytes


@pytest.fixture
def path(tmp_path):
    p = tmp_path / "decoder.onnx"
    onnx.save(decoder(), p)
    return p


def test_decode_step_against_a_127_token_cache(path):
    report, cost = analyze_phase(str(path), "decode", context=127, batch=2)
    assert cost.macs == decoder_macs(1, 2, 127) == report.totals.macs
    assert cost.tokens == 2 and cost.kv_dtype == "float32" and cost.weight_dtype == "float32"
    assert cost.kv_bytes_per_token == kv_bytes(1)
    assert cost.kv_cache_bytes == 2 * kv_bytes(128) and cost.kv_read_bytes == 2 * kv_bytes(127)
    assert cost.weight_bytes == report.totals.params * 4
    assert report.totals.params == VOCAB * D + LAYERS * (4 * D * D + 2 * D * FF) + D * VOCAB


def test_moe_decoder_decode_reads_only_the_experts_its_tokens_reach():
    """One token reaches its k = 2 of 4 experts per layer; two tokens may reach all four."""
    experts = 4
    model = decoder(experts=experts)
    report, cost = analyze_phase(model, "decode", context=127)
    moe = 2 * D * FF * 2 + D * experts                   # 2 experts' FC1 and FC2, the router
    dense = decoder_macs(1, 1, 127) - LAYERS * 2 * D * FF
    assert report.coverage.complete and cost.macs == dense + LAYERS * moe
    every = LAYERS * experts * 2 * FF * D * 4
    assert (cost.expert_bytes, cost.expert_bytes_read) == (every, every // 2)
    assert cost.weight_bytes == report.totals.param_bytes - every // 2
    _, batch = analyze_phase(model, "decode", context=127, batch=2)
    assert batch.expert_bytes_read == every and batch.weight_bytes == report.totals.param_bytes


def test_prefill_and_other_past_names(tmp_path):
    model = decoder("past_{kind}_{i}")
    _, cost = analyze_phase(model, "prefill", seq=9, context=4)
    assert cost.macs == decoder_macs(9, 1, 4)
    assert cost.kv_cache_bytes == kv_bytes(13) and cost.kv_written_bytes == kv_bytes(9)


def test_onnx_decode_on_a_device_and_cli_json(path, capsys):
    from flopscope.cli import main

    _, cost = analyze_phase(path, "decode", context=127, device="h100")
    assert cost.device is not None and cost.device.bound == "memory" and cost.device.dtype == "fp32"
    assert cost.device.seconds_per_token == cost.bytes_moved / 3.35e12
    assert main(["report", str(path), "--phase", "decode", "--context", "127", "--format",
                 "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["phase"]["macs"] == decoder_macs(1, 1, 127) == data["totals"]["macs"]
    assert data["phase"]["kv_cache_bytes"] == kv_bytes(128)


def test_onnx_without_past_inputs_is_refused(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])
    model = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                                                [x], [y]))
    with pytest.raises(FlopscopeError, match="past key/value"):
        analyze_phase(model, "decode", context=3)


def test_symbolic_head_count_is_bound_with_dim(path):
    model = onnx.load(path)
    for value in model.graph.input:
        if value.name.startswith("past"):
            value.type.tensor_type.shape.dim[1].dim_param = "num_heads"
    with pytest.raises(FlopscopeError, match="'num_heads'.*--dim"):
        analyze_phase(model, "decode", context=7)
    _, cost = analyze_phase(model, "decode", context=7, dims={"num_heads": HEADS})
    assert cost.macs == decoder_macs(1, 1, 7) and cost.kv_cache_bytes == kv_bytes(8)


@pytest.mark.filterwarnings("ignore")
def test_gpt2_exported_with_past_by_the_torchscript_exporter(tmp_path):
    """A tiny transformers GPT-2 exported by torch.onnx (legacy exporter) with a KV cache:
    decode and a prefill with an empty cache against GPT-2's formula (4·d² attention
    projections, 8·d² MLP, 2·s·(context + s)·d attention, tied LM head)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    d, layers, heads, vocab = 32, 2, 4, 50
    config = transformers.GPT2Config(n_embd=d, n_layer=layers, n_head=heads, vocab_size=vocab,
                                     n_positions=64)
    model = transformers.GPT2LMHeadModel(config).eval()
    names = [f"past_key_values.{i}.{kind}" for i in range(layers) for kind in ("key", "value")]

    class WithPast(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, *past):
            cache = transformers.DynamicCache(config=config)
            for i in range(layers):
                cache.update(past[2 * i], past[2 * i + 1], i)
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              past_key_values=cache, use_cache=False).logits

    past = [torch.zeros(1, heads, 5, d // heads) for _ in names]
    axes = {"input_ids": {0: "batch_size", 1: "sequence_length"},
            "attention_mask": {0: "batch_size", 1: "total_sequence_length"},
            **{n: {0: "batch_size", 2: "past_sequence_length"} for n in names}}
    path = tmp_path / "gpt2.onnx"
    try:
        torch.onnx.export(WithPast(), (torch.zeros(1, 1, dtype=torch.long),
                                       torch.ones(1, 6, dtype=torch.long), *past), path,
                          input_names=["input_ids", "attention_mask", *names],
                          output_names=["logits"], dynamic_axes=axes, dynamo=False, opset_version=17)
    except Exception as exc:                   # exporter or transformers API drift: not ours
        pytest.skip(f"torch.onnx export failed: {exc}")

    def gpt2(s: int, context: int) -> int:
        return layers * (12 * s * d * d + 2 * s * (context + s) * d) + s * d * vocab

    report, cost = analyze_phase(path, "decode", context=127)
    assert report.coverage.costed == report.coverage.nodes
    assert cost.macs == gpt2(1, 127)
    assert cost.kv_cache_bytes == 2 * layers * 128 * heads * (d // heads) * 4
    _, prefill = analyze_phase(path, "prefill", seq=16)
    assert prefill.macs == gpt2(16, 0) and prefill.kv_read_bytes == 0
