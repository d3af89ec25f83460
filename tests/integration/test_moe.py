"""Mixture-of-Experts models against the analytic formula: Mixtral and Qwen2-MoE whole,
the experts of Qwen3-MoE, OLMoE, GPT-OSS, Phi-MoE, Granite-MoE, DeepSeek-V2 and -V3.

transformers runs a MoE layer's experts with ``torch._grouped_mm`` by default: the router
picks ``k`` of ``E`` experts per token, the token-expert pairs are sorted by expert and
each expert's matrices multiply its own rows. Every pair goes to exactly one expert, so
the MACs do not depend on the routing (nor on the weights' values, which are never
allocated):

* per MoE layer: the router ``s·d·E``, the experts ``s·k·(d·2·ff + ff·d)`` (gate and up
  fused, then down), plus a shared expert ``3·s·d·ff_shared`` and its gate ``s·d``
  (Qwen2-MoE);
* attention as in ``test_transformers``; the LM head ``s·d·vocab``.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from flopscope.analysis import analyze  # noqa: E402
from tests.integration.test_transformers import (  # noqa: E402
    ATTENTION,
    _build,
    _check,
    _params,
    _text_inputs,
)

B, S = 2, 12

MIXTRAL = {"architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "hidden_size": 64,
           "intermediate_size": 96, "num_attention_heads": 8, "num_key_value_heads": 2,
           "num_hidden_layers": 2, "vocab_size": 60, "max_position_embeddings": 128,
           "num_local_experts": 4, "num_experts_per_tok": 2, "tie_word_embeddings": False}

QWEN2_MOE = {"architectures": ["Qwen2MoeForCausalLM"], "model_type": "qwen2_moe", "hidden_size": 64,
             "intermediate_size": 96, "moe_intermediate_size": 32,
             "shared_expert_intermediate_size": 48, "num_attention_heads": 8,
             "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 60,
             "max_position_embeddings": 128, "num_experts": 6, "num_experts_per_tok": 2,
             "decoder_sparse_step": 1, "mlp_only_layers": [], "tie_word_embeddings": False}


def _attention(c: dict, s: int, context: int = 0) -> int:
    d, heads, kv = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
    head_dim = c.get("head_dim") or d // heads
    q = heads * head_dim
    return s * d * q * 2 + 2 * s * d * kv * head_dim + 2 * s * (context + s) * q


def mixtral_macs(c: dict, s: int, b: int, context: int = 0) -> int:
    d, ff = c["hidden_size"], c["intermediate_size"]
    experts, k = c["num_local_experts"], c["num_experts_per_tok"]
    moe = s * d * experts + s * k * 3 * d * ff
    return b * (c["num_hidden_layers"] * (_attention(c, s, context) + moe) + s * d * c["vocab_size"])


def qwen2_moe_macs(c: dict, s: int, b: int) -> int:
    d, ff, shared = c["hidden_size"], c["moe_intermediate_size"], c["shared_expert_intermediate_size"]
    experts, k = c["num_experts"], c["num_experts_per_tok"]
    moe = s * d * experts + s * k * 3 * d * ff + 3 * s * d * shared + s * d
    return b * (c["num_hidden_layers"] * (_attention(c, s) + moe) + s * d * c["vocab_size"])


@pytest.mark.parametrize("attention", ATTENTION)
def test_mixtral(attention):
    model = _build(MIXTRAL, attention)
    _check(model, _text_inputs(S, B), mixtral_macs(MIXTRAL, S, B))


@pytest.mark.parametrize("attention", ATTENTION)
def test_qwen2_moe_with_a_shared_expert(attention):
    model = _build(QWEN2_MOE, attention)
    _check(model, _text_inputs(S, B), qwen2_moe_macs(QWEN2_MOE, S, B))


def _expert_bytes(c: dict) -> int:
    """float32 bytes of one layer's experts: E·3·d·ff."""
    return 4 * c["num_local_experts"] * 3 * c["hidden_size"] * c["intermediate_size"]


def test_mixtral_decode_step_reads_only_the_k_experts_of_its_token():
    from flopscope.phases import analyze_phase

    model = _build(MIXTRAL, "sdpa")
    report, cost = analyze_phase(model, "decode", context=127)
    assert report.totals.macs == cost.macs == mixtral_macs(MIXTRAL, 1, 1, context=127)
    layers, experts, k = MIXTRAL["num_hidden_layers"], MIXTRAL["num_local_experts"], 2
    every = layers * _expert_bytes(MIXTRAL)
    assert cost.expert_bytes == every
    assert cost.expert_bytes_read == every * k // experts
    assert cost.weight_bytes == 4 * _params(model) - every + every * k // experts
    assert "of which experts" in cost.text()


def test_a_prefill_reaches_every_expert():
    from flopscope.phases import analyze_phase

    model = _build(MIXTRAL, "sdpa")
    _, cost = analyze_phase(model, "prefill", seq=S)
    assert cost.expert_bytes_read == cost.expert_bytes == 2 * _expert_bytes(MIXTRAL)
    assert cost.weight_bytes == 4 * _params(model)


@pytest.mark.parametrize("implementation", ["grouped_mm", "batched_mm"])
def test_the_count_is_the_same_for_either_experts_implementation(implementation):
    model = _build({**MIXTRAL, "experts_implementation": implementation}, "sdpa")
    assert model.config._experts_implementation == implementation
    _check(model, _text_inputs(S, B), mixtral_macs(MIXTRAL, S, B))


def test_the_eager_experts_loop_is_refused_with_the_way_out():
    from flopscope.errors import FlopscopeError

    model = _build({**MIXTRAL, "experts_implementation": "eager"}, "sdpa")
    with pytest.raises(FlopscopeError, match="experts_implementation='grouped_mm'"):
        analyze(model, input_shapes=_text_inputs(S, B))


@pytest.mark.parametrize("model_type, moe_layers, extra", [
    ("qwen3_moe", 2, {"num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32,
                      "head_dim": 16}),
    ("olmoe", 2, {"num_experts": 4, "num_experts_per_tok": 2, "eos_token_id": 0}),
    ("gpt_oss", 2, {"num_local_experts": 4, "num_experts_per_tok": 2, "head_dim": 16,
                    "sliding_window": 4, "layer_types": ["sliding_attention", "full_attention"]}),
    ("phimoe", 2, {"num_local_experts": 4, "num_experts_per_tok": 2}),
    ("granitemoe", 2, {"num_local_experts": 4, "num_experts_per_tok": 2}),
    # rotary embedding in complex numbers (polar, view_as_complex, complex multiply)
    ("deepseek_v2", 1, {"n_routed_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32,
                        "n_shared_experts": 1, "first_k_dense_replace": 1, "kv_lora_rank": 16,
                        "q_lora_rank": 24, "qk_rope_head_dim": 8, "qk_nope_head_dim": 8,
                        "v_head_dim": 16}),
    # multi-head latent attention, a shared expert, group-limited routing, the first layer dense
    ("deepseek_v3", 1, {"n_routed_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32,
                        "n_shared_experts": 1, "first_k_dense_replace": 1, "kv_lora_rank": 16,
                        "q_lora_rank": 24, "qk_rope_head_dim": 8, "qk_nope_head_dim": 8,
                        "v_head_dim": 16, "n_group": 2, "topk_group": 1}),
])
def test_other_moe_families_are_costed_whole(model_type, moe_layers, extra):
    config = {"model_type": model_type, "hidden_size": 64, "intermediate_size": 96,
              "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
              "vocab_size": 60, "max_position_embeddings": 128, **extra}
    from flopscope.frontends.hf import build_from_config

    model, _ = build_from_config(config)
    report = analyze(model, input_shapes=_text_inputs(S, B))
    assert report.coverage.complete, report.coverage.unsupported
    assert report.totals.params == _params(model)
    grouped = [row for row in report.layers if row.op.endswith("GroupedMatMul")]
    assert len(grouped) == 2 * moe_layers                       # gate+up, then down
    k, d = extra["num_experts_per_tok"], config["hidden_size"]
    ff = extra.get("moe_intermediate_size", config["intermediate_size"])
    assert sum(row.macs for row in grouped) == moe_layers * B * S * k * 3 * d * ff


def test_mixtral_8x7b_shaped_config_from_a_folder(tmp_path):
    """The published size (46.7 B parameters, 12.9 B active per token) from config.json alone."""
    import json

    from flopscope.phases import analyze_phase

    config = {"architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "hidden_size": 4096,
              "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
              "num_key_value_heads": 8, "num_local_experts": 8, "num_experts_per_tok": 2,
              "vocab_size": 32000, "max_position_embeddings": 32768, "tie_word_embeddings": False,
              "torch_dtype": "bfloat16"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    report, cost = analyze_phase(f"hf:{tmp_path}", "decode", context=15)
    assert report.totals.params == 46_702_792_704
    assert cost.macs == mixtral_macs(config, 1, 1, context=15)
    every = 2 * 32 * 8 * 3 * 4096 * 14336                      # bf16 bytes of all experts
    assert cost.weight_bytes == 2 * 46_702_792_704 - every * 6 // 8
    assert cost.weight_bytes // 2 == 12_879_925_248           # "12.9 B active parameters"


def test_formula_in_seq_gives_the_macs_and_says_why_not_the_flops():
    """The experts' MACs are a polynomial in the sequence; the router's sort of the s·k
    token-expert pairs costs n·⌈log2(n+1)⌉ FLOPs, which no polynomial is: that figure is
    None with its reason instead of a refusal of the whole fit."""
    from flopscope.formulas import fit

    model = _build(MIXTRAL, "sdpa")
    f = fit(model, "seq", input_shapes=_text_inputs(16, 1))
    assert f.flops is None and f.not_polynomial["flops"].startswith("not a polynomial")
    assert eval(f.macs, {"seq": 23}) == mixtral_macs(MIXTRAL, 23, 1)
    direct = analyze(model, input_shapes=_text_inputs(23, 1)).totals
    assert eval(f.activation_bytes, {"seq": 23}) == direct.activation_bytes


def test_onnx_export_goes_through_batched_experts_and_counts_the_same(tmp_path):
    """torch.onnx has no export of grouped_mm's histc and _grouped_mm: the export runs the
    experts as batched_mm (the same MACs) and gives the model its own setting back."""
    from flopscope.export import export_onnx
    from flopscope.frontends.hf import build_from_config

    model, _ = build_from_config({**MIXTRAL, "attn_implementation": "sdpa"}, weights=True)
    inputs = _text_inputs(S, 1)
    path = export_onnx(model, inputs, tmp_path / "mixtral.onnx")
    assert model.config._experts_implementation == "grouped_mm"
    exported = analyze(str(path))
    assert exported.coverage.complete
    traced = analyze(model, input_shapes=inputs).totals.macs
    assert exported.totals.macs == mixtral_macs(MIXTRAL, S, 1) == traced


def test_training_step_backpropagates_through_the_experts_at_twice_their_cost():
    """The backward of each grouped product is two more: the input's gradient (rows by
    expert again) and the weights' (the token dim cut by expert: A 2-D, B 2-D, G outputs)."""
    model = _build(MIXTRAL, "sdpa")
    report = analyze(model, input_shapes=_text_inputs(S, B), mode="train")
    assert report.coverage.complete
    experts = {"forward": 0, "backward": 0}
    for row in report.layers:
        if row.op == "ai.flopscope.GroupedMatMul":
            experts[row.phase] += row.macs
    d, ff = MIXTRAL["hidden_size"], MIXTRAL["intermediate_size"]
    assert experts["forward"] == MIXTRAL["num_hidden_layers"] * B * S * 2 * 3 * d * ff
    assert experts["backward"] == 2 * experts["forward"]
    assert report.totals.forward_macs == mixtral_macs(MIXTRAL, S, B)
