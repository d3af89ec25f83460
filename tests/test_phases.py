"""LLM phases (``flopscope/phases.py``): a prefill and a decode step of a decoder model
against the analytic formula; KV-cache bytes ``2·layers·tokens·kv_heads·head_dim·bytes``."""

from __future__ import annotations

import json

import pytest

from flopscope.errors import FlopscopeError
from flopscope.phases import analyze_phase, kv_cache_bytes

pytest.importorskip("torch")
pytest.importorskip("transformers")

LLAMA = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64,
         "intermediate_size": 96, "num_attention_heads": 8, "num_key_value_heads": 2,
         "num_hidden_layers": 3, "vocab_size": 60, "max_position_embeddings": 256,
         "tie_word_embeddings": False, "torch_dtype": "bfloat16"}


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(LLAMA))
    return f"hf:{tmp_path}"


def llama_macs(s: int, b: int, context: int) -> int:
    c = LLAMA
    d, ff, heads, kv = (c["hidden_size"], c["intermediate_size"], c["num_attention_heads"],
                        c["num_key_value_heads"])
    head_dim = d // heads
    attention = 2 * s * d * d + 2 * s * d * kv * head_dim + 2 * s * (context + s) * d
    return b * (c["num_hidden_layers"] * (attention + 3 * s * d * ff) + s * d * c["vocab_size"])


def test_decode_step_against_a_127_token_cache(folder):
    report, cost = analyze_phase(folder, "decode", context=127, batch=2)
    assert cost.macs == llama_macs(1, 2, 127) == report.totals.macs
    assert cost.tokens == 2 and cost.macs_per_token == llama_macs(1, 2, 127) / 2
    c = LLAMA
    per_token = 2 * c["num_hidden_layers"] * c["num_key_value_heads"] * 8 * 2   # bf16: 2 bytes
    assert cost.kv_bytes_per_token == per_token
    assert cost.kv_cache_bytes == 2 * 128 * per_token
    assert cost.kv_read_bytes == 2 * 127 * per_token and cost.kv_dtype == "bfloat16"
    assert cost.weight_bytes == report.totals.params * 2
    moved = cost.weight_bytes + cost.kv_read_bytes + cost.kv_written_bytes
    assert cost.arithmetic_intensity == cost.flops / moved


def test_prefill(folder):
    _, cost = analyze_phase(folder, "prefill", seq=16)
    assert cost.macs == llama_macs(16, 1, 0)
    assert cost.kv_cache_bytes == kv_cache_bytes(3, 16, 2, 8, 2)
    assert cost.kv_read_bytes == 0
    _, decode = analyze_phase(folder, "decode", context=15)
    assert decode.arithmetic_intensity < cost.arithmetic_intensity   # decode is memory-bound


def test_phase_refusals(folder):
    with pytest.raises(FlopscopeError, match="one token"):
        analyze_phase(folder, "decode", seq=4)
    with pytest.raises(FlopscopeError, match="must be one of"):
        analyze_phase(folder, "generate")
    with pytest.raises(FlopscopeError, match="decoder model"):
        analyze_phase("resnet18", "prefill")


def test_cli_phase_json(folder, capsys):
    from flopscope.cli import main

    assert main(["report", folder, "--phase", "decode", "--context", "127", "--format",
                 "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["phase"]["macs"] == llama_macs(1, 1, 127) == data["totals"]["macs"]
    assert main(["report", folder, "--phase", "prefill", "--seq", "8"]) == 0
    out = capsys.readouterr().out
    assert "arithmetic intensity" in out
    # the phase block is the answer asked for: under the title, before the totals
    assert out.index("phase ") < out.index("totals") < out.index("module tree")


def test_cli_phase_markdown_and_refused_formats(folder, capsys):
    from flopscope.cli import main

    assert main(["report", folder, "--phase", "decode", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "### phase\n\n| | |\n|---|---|\n| phase | decode (batch 1, seq 1, context 127) |" in out
    assert out.index("### phase") < out.index("### totals")
    for fmt in ("csv", "html"):
        assert main(["report", folder, "--phase", "decode", "--format", fmt]) == 2
        err = capsys.readouterr().err.strip()
        assert f"--phase reports as text, markdown or json, not {fmt}" in err


def test_cli_phase_formula_in_the_context_and_in_the_prompt(folder, capsys):
    """How a decode step grows with the cache it reads, and a prefill with its prompt:
    each polynomial, at a length it was not fitted at, equals a direct phase analysis
    there (and the formula written out by hand)."""
    from flopscope.cli import main

    assert main(["report", folder, "--phase", "decode", "--context", "40", "--batch", "2",
                 "--formula", "--format", "json"]) == 0
    f = json.loads(capsys.readouterr().out)["formulas"]
    assert f["dims"] == ["context"] and f["not_polynomial"] == {}
    lo, hi = f["sampled"]["context"]
    unseen = hi + 3
    assert unseen != f["checked_at"]["context"]
    _, step = analyze_phase(folder, "decode", context=unseen, batch=2)
    assert eval(f["macs"], {"context": unseen}) == step.macs == llama_macs(1, 2, unseen)
    assert eval(f["flops"], {"context": unseen}) == step.flops
    assert eval(f["kv_cache_bytes"], {"context": unseen}) == step.kv_cache_bytes \
        == kv_cache_bytes(3, unseen + 1, 2, 8, 2) * 2
    assert main(["report", folder, "--phase", "prefill", "--seq", "24", "--formula", "seq"]) == 0
    out = capsys.readouterr().out
    assert "exact polynomials in seq (prompt tokens of the prefill), fitted from" in out
    assert "KV cache bytes = 192*seq" in out                 # 3 layers · 2 · 2 heads · 8 · bf16


def test_cli_phase_refuses_what_it_would_ignore(folder, capsys):
    from flopscope.cli import main

    for extra, said in ((["--formula", "seq"], "is a polynomial in context"),
                        (["--mode", "train"], "leave out --mode train"),
                        (["--input-shape", "input_ids=1x8"], "leave out --input-shape")):
        assert main(["report", folder, "--phase", "decode", *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert said in err and len(err.splitlines()) == 1


def test_phase_under_the_2mac_convention(folder):
    _, cost = analyze_phase(folder, "decode", context=15, convention="2mac")
    assert cost.flops == 2 * cost.macs == 2 * llama_macs(1, 1, 15)


def test_cli_context_without_phase_is_refused(folder, capsys):
    from flopscope.cli import main

    assert main(["report", folder, "--context", "8"]) == 2
    assert "--phase" in capsys.readouterr().err


def test_decode_on_h100_is_memory_bound_at_bytes_over_bandwidth(folder):
    _, cost = analyze_phase(folder, "decode", context=127, device="H100 SXM")
    d = cost.device
    moved = cost.weight_bytes + cost.kv_read_bytes + cost.kv_written_bytes
    assert d is not None and d.name == "H100 SXM" and d.dtype == "bf16"
    assert d.peak_flops == 989.4e12 and d.bandwidth_bytes_per_s == 3.35e12
    assert d.bound == "memory" and d.bytes_moved == moved
    assert d.seconds_per_step == moved / 3.35e12 == d.seconds_per_token   # batch 1: one token
    assert d.tokens_per_s == pytest.approx(3.35e12 / moved, rel=1e-12)
    assert cost.flops / 989.4e12 < d.seconds_per_step


def test_device_per_token_divides_by_the_batch_and_compute_bound_prefill(folder):
    from flopscope.phases import on_device

    _, cost = analyze_phase(folder, "decode", context=127, batch=4)
    assert cost.device is None
    d = on_device(cost, "a100")
    assert d.seconds_per_token == d.seconds_per_step / 4
    # the same step with 10^6 times the FLOPs: compute-bound at FLOPs / peak exactly
    from dataclasses import replace

    heavy = on_device(replace(cost, flops=cost.flops * 10**6), "a100")
    assert heavy.bound == "compute" and heavy.seconds_per_step == cost.flops * 10**6 / 312e12


def test_unknown_device_is_one_line_with_a_suggestion(folder, capsys):
    from flopscope.cli import main

    with pytest.raises(FlopscopeError, match="did you mean 'h100'"):
        analyze_phase(folder, "decode", device="h10")
    assert main(["report", folder, "--phase", "decode", "--device", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown device 'nope'" in err and "H100 SXM" in err and len(err.strip().splitlines()) == 1


def test_cli_device_text_and_json(folder, capsys):
    from flopscope.cli import main

    assert main(["report", folder, "--phase", "decode", "--device", "h200", "--format",
                 "json"]) == 0
    device = json.loads(capsys.readouterr().out)["phase"]["device"]
    assert device["name"] == "H200" and device["bound"] == "memory"
    assert device["seconds_per_token"] == device["bytes_moved"] / 4.8e12
    assert device["source"].startswith("NVIDIA H200")
    assert main(["report", folder, "--phase", "prefill", "--seq", "8", "--device", "rpi5"]) == 0
    out = capsys.readouterr().out
    assert "Raspberry Pi 5" in out and "per token" in out and "tokens/s at most" in out


# ------------------------------------------------- caches that are not 2·layers·tokens·...
# The model fills its own cache in a traced prefill; what it holds is measured layer by layer.

TINY = {"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 4, "num_attention_heads": 4,
        "num_key_value_heads": 2, "vocab_size": 60, "max_position_embeddings": 256,
        "pad_token_id": 0, "bos_token_id": 0, "eos_token_id": 0, "torch_dtype": "float32"}


def _hf(tmp_path, **config):
    (tmp_path / "config.json").write_text(json.dumps({**TINY, **config}))
    return f"hf:{tmp_path}"


def test_sliding_window_layers_hold_at_most_their_window(tmp_path):
    """Gemma-2: two full layers keep all 64 tokens, two sliding ones (window 16) the last 15
    (transformers keeps window − 1; the next token makes the window)."""
    model = _hf(tmp_path, model_type="gemma2", architectures=["Gemma2ForCausalLM"], head_dim=16,
                sliding_window=16, layer_types=["sliding_attention", "full_attention"] * 2)
    _, cost = analyze_phase(model, "decode", context=63)
    per_layer = 2 * 2 * 16 * 4                          # keys and values, 2 heads of 16, fp32
    assert cost.kv_bytes_per_token == 4 * per_layer
    assert cost.kv_cache_bytes == 2 * 64 * per_layer + 2 * 15 * per_layer
    assert cost.kv_read_bytes == 2 * 63 * per_layer + 2 * 15 * per_layer
    assert cost.kv_written_bytes == 4 * per_layer and cost.state_bytes == 0


def test_latent_attention_caches_its_compressed_latent(tmp_path):
    """DeepSeek-V3's multi-head latent attention keeps kv_lora_rank + qk_rope_head_dim
    numbers per token and layer, not heads·(qk_head_dim + v_head_dim)."""
    model = _hf(tmp_path, model_type="deepseek_v3", architectures=["DeepseekV3ForCausalLM"],
                n_routed_experts=4, num_experts_per_tok=2, moe_intermediate_size=32,
                n_shared_experts=1, first_k_dense_replace=1, kv_lora_rank=16, q_lora_rank=24,
                qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=16, n_group=2, topk_group=1)
    _, cost = analyze_phase(model, "decode", context=63, batch=2)
    assert cost.kv_bytes_per_token == 4 * (16 + 8) * 4
    assert cost.kv_cache_bytes == 2 * 64 * cost.kv_bytes_per_token


def test_state_space_layers_hold_a_fixed_state_and_decode_one_token(tmp_path):
    """Mamba: per layer a convolution state d_inner·d_conv and an SSM state
    d_inner·d_state (d_inner = intermediate_size 96, d_conv 4, d_state 16); decode steps
    run on the new token alone."""
    model = _hf(tmp_path, model_type="mamba", architectures=["MambaForCausalLM"])
    report, cost = analyze_phase(model, "decode", context=63, batch=3)
    state = 3 * 4 * (96 * 4 + 96 * 16) * 4
    assert (cost.state_bytes, cost.kv_cache_bytes, cost.kv_bytes_per_token) == (state, state, 0)
    assert cost.kv_read_bytes == state and cost.kv_written_bytes == state
    assert "recurrent state" in cost.text()
    (in_proj, *_) = [row for row in report.layers if row.module.endswith("mixer.in_proj")]
    assert in_proj.input_shapes[0] == [3, 1, 64]                 # 3 sequences, one token each


def test_hybrid_attention_and_mamba_layers(tmp_path):
    """Jamba: attention layers 1 and 3 grow with the context, Mamba layers 0 and 2 (d_inner
    = mamba_expand 2 · hidden) do not."""
    model = _hf(tmp_path, model_type="jamba", architectures=["JambaForCausalLM"],
                attn_layer_offset=1, attn_layer_period=2, expert_layer_offset=1,
                expert_layer_period=2, num_experts=4)
    _, cost = analyze_phase(model, "decode", context=63)
    per_layer = 2 * 2 * 16 * 4
    state = 2 * (128 * 4 + 128 * 16) * 4
    assert cost.kv_bytes_per_token == 2 * per_layer
    assert (cost.state_bytes, cost.kv_cache_bytes) == (state, 2 * 64 * per_layer + state)


def test_a_model_without_a_cache_argument_is_refused(tmp_path):
    model = _hf(tmp_path, model_type="rwkv", architectures=["RwkvForCausalLM"])
    with pytest.raises(FlopscopeError, match="takes a KV cache"):
        analyze_phase(model, "decode", context=8)


def test_a_model_that_keeps_no_cache_is_refused_for_decode():
    """A decode step is costed against the context the model cached; a model that takes a
    cache argument but keeps nothing in it has no such step."""
    import torch
    from transformers import LlamaConfig

    class Forgetful(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.config = LlamaConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                      vocab_size=10)
            self.embed = torch.nn.Embedding(10, 8)

        def forward(self, input_ids, attention_mask=None, cache=None):
            return self.embed(input_ids)

    with pytest.raises(FlopscopeError, match="kept nothing in its cache over a prefill of 8 tokens"):
        analyze_phase(Forgetful(), "decode", context=8)
    _, prefill = analyze_phase(Forgetful(), "prefill", seq=4)      # nothing cached, nothing read
    assert prefill.kv_cache_bytes == prefill.kv_read_bytes == 0
