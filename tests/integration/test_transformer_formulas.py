"""Cost formulas of the six Hugging Face models, end to end through ``flopscope report
hf:FOLDER --formula``: the polynomial, evaluated at a size the fit never sampled, equals
a direct analysis at that size, and, as a polynomial, the analytic formula written out in
``tests/integration/test_transformers.py``.

Text models free ``seq`` (axis 1 of ``input_ids``, ``attention_mask`` and, for T5, the
decoder's ids: the encoder and decoder lengths move together). ViT and Whisper fix their
sequence in the config (position embeddings), so the config value is freed and the model
rebuilt at each size: ``image_size=8*P`` (P patches per side of 8 pixels: the patch
convolution would floor any other size) and ``max_source_positions=S`` (the encoder's
positions; 2·S mel frames).
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from flopscope.cli import main  # noqa: E402
from tests.integration import test_transformers as hand  # noqa: E402

UNSEEN = 23              # above the fit's grid (2..8) and off its check point (17)


def _whisper_macs(c: dict, s: int) -> int:
    """WhisperModel: the encoder over ``s`` positions, then a decoder over its 16 target
    positions (``hf:`` gives ``min(128, max_target_positions)`` decoder ids) with
    self-attention, cross-attention onto the ``s`` encoder states, and its MLP."""
    d, heads, ff = c["d_model"], c["decoder_attention_heads"], c["decoder_ffn_dim"]
    t = min(128, c["max_target_positions"])
    decoder = (hand._attention_block(t, d, heads, heads, d // heads)
               + hand._attention_block(t, d, heads, heads, d // heads, s_kv=s) + 2 * t * d * ff)
    return hand.whisper_encoder_macs({**c, "max_source_positions": s}, 1) + c["decoder_layers"] * decoder


# name: (config, --formula, the dim, config key set directly (None: --seq), analytic MACs(n))
CASES = {
    "bert": (hand.BERT, "seq", "seq", None, lambda n: hand.bert_macs(hand.BERT, n, 1)),
    "gpt2": (hand.GPT2, "seq", "seq", None, lambda n: hand.gpt2_macs(hand.GPT2, n, 1)),
    "llama-gqa": (hand.LLAMA, "seq", "seq", None, lambda n: hand.llama_macs(hand.LLAMA, n, 1)),
    "t5": (hand.T5, "seq", "seq", None, lambda n: hand.t5_macs(hand.T5, n, n, 1)),
    "vit": (hand.VIT, "image_size=8*P", "P", "image_size",
            lambda n: hand.vit_macs({**hand.VIT, "image_size": 8 * n}, 1)),
    "whisper": (hand.WHISPER, "max_source_positions=S", "S", "max_source_positions",
                lambda n: _whisper_macs(hand.WHISPER, n)),
}


def _folder(tmp_path, config: dict, name: str) -> str:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    return f"hf:{folder}"


def _run(capsys, *argv: str) -> str:
    assert main(["report", *argv]) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def _eval(text: str, **dims: int) -> int:
    value = eval(text, {"__builtins__": {}}, dims)       # the contract: Python syntax, exact ints
    assert type(value) is int
    return value


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
@pytest.mark.parametrize("name", list(CASES))
def test_formula_equals_a_direct_analysis_and_the_analytic_count(tmp_path, capsys, name, attention):
    config, free, dim, key, analytic = CASES[name]
    config = {**config, "attn_implementation": attention}
    # the fit: text models at --seq 16 (samples from 2 up, checked at 17); ViT and Whisper
    # from their own config sizes
    size = ["--seq", "16"] if key is None else []
    data = json.loads(_run(capsys, _folder(tmp_path, config, "fit"), *size, "--formula", free,
                           "--format", "json"))
    formulas = data["formulas"]
    assert formulas["dims"] == [dim] and formulas["complete"]
    assert UNSEEN not in formulas["checked_at"].values()
    # a direct analysis at the unseen size: --seq, or a config written at that size
    if key is None:
        direct = json.loads(_run(capsys, _folder(tmp_path, config, "direct"), "--seq", str(UNSEEN),
                                 "--format", "json"))
    else:
        value = UNSEEN * (8 if key == "image_size" else 1)
        direct = json.loads(_run(capsys, _folder(tmp_path, {**config, key: value}, "direct"),
                                 "--format", "json"))
    for metric in ("macs", "flops", "activation_bytes"):
        assert _eval(formulas[metric], **{dim: UNSEEN}) == direct["totals"][metric], metric
    # the fitted MACs are the analytic polynomial: equal at more points than its degree (<= 4)
    for n in (1, 2, 3, 5, 8, UNSEEN, 100):
        assert _eval(formulas["macs"], **{dim: n}) == analytic(n)


@pytest.mark.parametrize("name", ["llama-gqa", "vit"])
def test_formula_is_shown_in_text_and_markdown(tmp_path, capsys, name):
    config, free, dim, key, _ = CASES[name]
    model = _folder(tmp_path, config, "m")
    size = ["--seq", "16"] if key is None else []
    macs = json.loads(_run(capsys, model, *size, "--formula", free, "--format", "json"))["formulas"]["macs"]
    text = _run(capsys, model, *size, "--formula", free)
    assert f"  MACs = {macs}\n" in text
    meaning = "axis 1 of every input = seq" if key is None else f"config {free.replace('=', ' = ')}"
    assert f"exact polynomials in {dim} ({meaning}), fitted from" in text
    markdown = _run(capsys, model, *size, "--formula", free, "--format", "markdown")
    assert "### formulas" in markdown and f"- `MACs = {macs}`" in markdown


def test_the_same_gpt2_has_one_macs_polynomial_on_both_paths_and_after_ort_fusion(tmp_path):
    """GPT-2 in (batch, seq): traced on the PyTorch path, exported to ONNX with dynamic
    axes, and that file fused by ONNX Runtime's transformer optimizer (Attention,
    SkipLayerNormalization, FastGelu): three graphs, one MACs polynomial, equal to the
    analytic count. (FLOPs differ with how each graph builds the mask: not compared.)"""
    import warnings

    import torch
    import transformers
    from onnxruntime.transformers import optimizer

    from flopscope.formulas import fit

    class Plain(torch.nn.Module):                 # tensors in, a tensor out: for the exporter
        def __init__(self) -> None:
            super().__init__()
            self.m = transformers.GPT2Model(transformers.GPT2Config(
                vocab_size=96, n_embd=32, n_layer=2, n_head=4, n_positions=64))

        def forward(self, input_ids, attention_mask):  # noqa: ANN001, ANN201
            return self.m(input_ids=input_ids, attention_mask=attention_mask, return_dict=False,
                          use_cache=False)[0]

    model = Plain().eval()
    names = ["input_ids", "attention_mask"]
    example = (torch.ones(1, 8, dtype=torch.long), torch.ones(1, 8, dtype=torch.long))
    clean, fused = tmp_path / "gpt2.onnx", tmp_path / "gpt2_fused.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, example, str(clean), input_names=names, opset_version=17, dynamo=False,
                          dynamic_axes={n: {0: "batch", 1: "seq"} for n in names})
    optimizer.optimize_model(str(clean), model_type="gpt2", num_heads=4, hidden_size=32).save_model_to_file(
        str(fused))
    shapes = {n: ((1, 8), "int64") for n in names}
    polys = {"pytorch": fit(model, "batch,seq", input_shapes=shapes).macs,
             "onnx": fit(str(clean), "batch,seq").macs, "fused": fit(str(fused), "batch,seq").macs}
    assert polys["pytorch"] == polys["onnx"] == polys["fused"], polys
    c = {**hand.GPT2, "vocab_size": 96}
    for b, s in ((1, 1), (3, 7), (2, 40)):
        no_head = hand.gpt2_macs(c, s, b) - b * s * c["n_embd"] * c["vocab_size"]   # GPT2Model: no LM head
        assert _eval(polys["onnx"], batch=b, seq=s) == no_head
