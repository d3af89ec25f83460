"""Hugging Face models as people call them, against the analytic transformer formula.

Each model is built from a tiny config (shipped here as a dict, weights on the meta
device) and analysed with ``input_ids`` and an ``attention_mask`` under both the default
(sdpa) and the eager attention. The expected MACs are written out from the architecture:

* per attention block: Q, K, V and output projections (``s·d·(q + 2·kv + o)`` with grouped
  K/V heads), attention ``2·s_q·s_k·d_attn`` (scores and weighted sum);
* per MLP: 2 matrices ``2·s·d·ff`` (BERT, GPT-2, T5, ViT, Whisper) or 3 (LLaMA's gated
  ``3·s·d·ff``);
* the LM head ``s·d·vocab``, BERT's and ViT's pooler ``d²`` (the first token only), ViT's
  patch embedding and Whisper's two convolutions.

Parameters equal the sum of ``numel`` over the model's unique parameters (tied weights once).
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from flopscope.analysis import analyze  # noqa: E402
from flopscope.frontends.hf import build_from_config  # noqa: E402

ATTENTION = ("sdpa", "eager")
B, S = 2, 12                     # batch and sequence of the text models


def _text_inputs(seq: int = S, batch: int = B) -> dict:
    return {"input_ids": ((batch, seq), "int64"), "attention_mask": ((batch, seq), "int64")}


def _build(config: dict, attention: str):
    model, _ = build_from_config({**config, "attn_implementation": attention})
    return model


def _params(model) -> int:
    return sum(p.numel() for p in model.parameters())        # parameters() yields tied ones once


def _attention_block(s: int, d: int, heads: int, kv_heads: int, head_dim: int,
                     s_kv: int | None = None) -> int:
    """Q and output projections on the s queries, K and V on the s_kv keys, and attention."""
    s_kv = s if s_kv is None else s_kv
    q = heads * head_dim
    return s * d * q + 2 * s_kv * d * kv_heads * head_dim + s * q * d + 2 * s * s_kv * q


def _check(model, inputs: dict, expected_macs: int) -> None:
    report = analyze(model, input_shapes=inputs)
    assert report.coverage.complete, [row.op for row in report.layers if not row.supported]
    assert report.totals.macs == expected_macs
    assert report.totals.params == _params(model)


# ----------------------------------------------------------------------- BERT

BERT = {"architectures": ["BertModel"], "model_type": "bert", "hidden_size": 32,
        "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64,
        "vocab_size": 50, "max_position_embeddings": 64, "type_vocab_size": 2}


def bert_macs(c: dict, s: int, b: int) -> int:
    d, ff = c["hidden_size"], c["intermediate_size"]
    heads = c["num_attention_heads"]
    layer = _attention_block(s, d, heads, heads, d // heads) + 2 * s * d * ff
    return b * (c["num_hidden_layers"] * layer + d * d)     # + pooler on [CLS]


@pytest.mark.parametrize("attention", ATTENTION)
def test_bert(attention):
    model = _build(BERT, attention)
    inputs = {**_text_inputs(), "token_type_ids": ((B, S), "int64")}
    _check(model, inputs, bert_macs(BERT, S, B))


def test_bert_with_a_padded_mask_given_by_value():
    model = _build(BERT, "sdpa")
    mask = torch.ones(B, S, dtype=torch.int64)
    mask[0, 7:] = 0                                           # a padded first sequence
    inputs = {"input_ids": ((B, S), "int64"), "attention_mask": mask}
    _check(model, inputs, bert_macs(BERT, S, B))


# ----------------------------------------------------------------------- GPT-2

GPT2 = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": 32, "n_layer": 2,
        "n_head": 4, "vocab_size": 50, "n_positions": 64, "tie_word_embeddings": True}


def gpt2_macs(c: dict, s: int, b: int) -> int:
    d, heads, vocab = c["n_embd"], c["n_head"], c["vocab_size"]
    ff = 4 * d
    layer = _attention_block(s, d, heads, heads, d // heads) + 2 * s * d * ff
    return b * (c["n_layer"] * layer + s * d * vocab)          # + LM head (tied to wte)


@pytest.mark.parametrize("attention", ATTENTION)
def test_gpt2(attention):
    model = _build(GPT2, attention)
    inputs = {**_text_inputs(), "position_ids": ((B, S), "int64")}
    _check(model, inputs, gpt2_macs(GPT2, S, B))
    assert model.lm_head.weight is model.transformer.wte.weight


# ----------------------------------------------------------------------- LLaMA with GQA

LLAMA = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64,
         "intermediate_size": 96, "num_attention_heads": 8, "num_key_value_heads": 2,
         "num_hidden_layers": 2, "vocab_size": 60, "max_position_embeddings": 128,
         "tie_word_embeddings": False}


def llama_macs(c: dict, s: int, b: int, context: int = 0) -> int:
    """s new tokens attending to ``context`` cached ones and themselves."""
    d, ff, heads = c["hidden_size"], c["intermediate_size"], c["num_attention_heads"]
    kv, head_dim = c["num_key_value_heads"], d // heads
    attention = (s * d * heads * head_dim * 2 + 2 * s * d * kv * head_dim
                 + 2 * s * (context + s) * heads * head_dim)
    layer = attention + 3 * s * d * ff                          # gate, up and down
    return b * (c["num_hidden_layers"] * layer + s * d * c["vocab_size"])


@pytest.mark.parametrize("attention", ATTENTION)
def test_llama_grouped_query_attention(attention):
    model = _build(LLAMA, attention)
    _check(model, _text_inputs(), llama_macs(LLAMA, S, B))


@pytest.mark.parametrize("attention", ATTENTION)
def test_llama_decode_step_against_a_kv_cache(attention):
    from transformers import DynamicCache

    model = _build(LLAMA, attention)
    c, context = LLAMA, 127
    head_dim = c["hidden_size"] // c["num_attention_heads"]
    cache = DynamicCache(config=model.config)
    for layer in range(c["num_hidden_layers"]):
        kv = torch.empty(B, c["num_key_value_heads"], context, head_dim, device="meta")
        cache.update(kv, kv.clone(), layer)
    import inspect

    # transformers 5.24 renamed the argument to ``cache`` (``past_key_values`` is deprecated)
    name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    inputs = {"input_ids": ((B, 1), "int64"), "attention_mask": ((B, context + 1), "int64"), name: cache}
    _check(model, inputs, llama_macs(LLAMA, 1, B, context))


# ----------------------------------------------------------------------- T5

T5 = {"architectures": ["T5ForConditionalGeneration"], "model_type": "t5", "d_model": 32,
      "d_kv": 8, "d_ff": 64, "num_layers": 2, "num_decoder_layers": 2, "num_heads": 4,
      "vocab_size": 50, "feed_forward_proj": "relu", "tie_word_embeddings": True}


def t5_macs(c: dict, s: int, s_dec: int, b: int) -> int:
    d, ff, heads, dkv = c["d_model"], c["d_ff"], c["num_heads"], c["d_kv"]
    encoder = _attention_block(s, d, heads, heads, dkv) + 2 * s * d * ff
    decoder = (_attention_block(s_dec, d, heads, heads, dkv)              # self-attention
               + _attention_block(s_dec, d, heads, heads, dkv, s_kv=s)    # cross-attention
               + 2 * s_dec * d * ff)
    decoders = c.get("num_decoder_layers", c["num_layers"])
    return b * (c["num_layers"] * encoder + decoders * decoder
                + s_dec * d * c["vocab_size"])                            # LM head


@pytest.mark.parametrize("attention", ATTENTION)
def test_t5(attention):
    model = _build(T5, attention)
    s_dec = 5
    inputs = {**_text_inputs(), "decoder_input_ids": ((B, s_dec), "int64"),
              "decoder_attention_mask": ((B, s_dec), "int64")}
    _check(model, inputs, t5_macs(T5, S, s_dec, B))


# ----------------------------------------------------------------------- ViT

VIT = {"architectures": ["ViTModel"], "model_type": "vit", "hidden_size": 32,
       "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64,
       "image_size": 32, "patch_size": 8, "num_channels": 3}


def vit_macs(c: dict, b: int) -> int:
    d, ff, heads, p = c["hidden_size"], c["intermediate_size"], c["num_attention_heads"], c["patch_size"]
    patches = (c["image_size"] // p) ** 2
    s = patches + 1                                             # + [CLS]
    layer = _attention_block(s, d, heads, heads, d // heads) + 2 * s * d * ff
    embed = patches * d * c["num_channels"] * p * p
    return b * (embed + c["num_hidden_layers"] * layer + d * d)  # + pooler


@pytest.mark.parametrize("attention", ATTENTION)
def test_vit(attention):
    model = _build(VIT, attention)
    _check(model, {"pixel_values": ((B, 3, 32, 32), "float32")}, vit_macs(VIT, B))


# ----------------------------------------------------------------------- Whisper encoder

WHISPER = {"architectures": ["WhisperModel"], "model_type": "whisper", "d_model": 32,
           "encoder_layers": 2, "encoder_attention_heads": 4, "encoder_ffn_dim": 64,
           "decoder_layers": 1, "decoder_attention_heads": 4, "decoder_ffn_dim": 64,
           "num_mel_bins": 16, "max_source_positions": 20, "max_target_positions": 16,
           "vocab_size": 50, "pad_token_id": 0, "bos_token_id": 0, "eos_token_id": 0,
           "decoder_start_token_id": 0}


def whisper_encoder_macs(c: dict, b: int) -> int:
    d, ff, heads, mels = c["d_model"], c["encoder_ffn_dim"], c["encoder_attention_heads"], c["num_mel_bins"]
    s = c["max_source_positions"]
    frames = 2 * s
    convs = frames * d * mels * 3 + s * d * d * 3               # conv1 (k3), conv2 (k3, stride 2)
    layer = _attention_block(s, d, heads, heads, d // heads) + 2 * s * d * ff
    return b * (convs + c["encoder_layers"] * layer)


@pytest.mark.parametrize("attention", ATTENTION)
def test_whisper_encoder(attention):
    model = _build(WHISPER, attention).get_encoder()
    inputs = {"input_features": ((B, WHISPER["num_mel_bins"], 2 * WHISPER["max_source_positions"]),
                                 "float32")}
    _check(model, inputs, whisper_encoder_macs(WHISPER, B))
