"""``hf:ID_OR_FOLDER``: a Hugging Face config built on the meta device
(``flopscope/frontends/hf.py``), its inputs from the model type, the ``hf`` source kind and
the CLI's ``--seq`` / ``--trust-remote-code``."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from flopscope.errors import FlopscopeError
from flopscope.frontends import hf
from flopscope.sources import HF, resolve, with_options

LLAMA_7B = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
            "intermediate_size": 11008, "num_attention_heads": 32, "num_key_value_heads": 32,
            "num_hidden_layers": 32, "vocab_size": 32000, "max_position_embeddings": 4096,
            "rms_norm_eps": 1e-5, "tie_word_embeddings": False, "torch_dtype": "float16"}

TINY_LLAMA = {**LLAMA_7B, "hidden_size": 32, "intermediate_size": 48, "num_attention_heads": 4,
              "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 40,
              "torch_dtype": "float32"}


def _folder(tmp_path, config: dict, name: str = "model"):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _llama_macs(c: dict, s: int) -> int:
    d, ff, heads, kv = (c["hidden_size"], c["intermediate_size"], c["num_attention_heads"],
                        c["num_key_value_heads"])
    head_dim = d // heads
    layer = 2 * s * d * d + 2 * s * d * kv * head_dim + 2 * s * s * d + 3 * s * d * ff
    return c["num_hidden_layers"] * layer + s * d * c["vocab_size"]


# ------------------------------------------------------------------- sources


def test_hf_names_a_source_kind_without_reading_anything():
    source = resolve("hf:meta-llama/Llama-2-7b-hf")
    assert (source.kind, source.name, source.is_onnx) == (HF, "Llama-2-7b-hf", False)
    assert resolve("hf:./models/tiny/").name == "tiny"


def test_empty_hf_spec_is_refused():
    with pytest.raises(FlopscopeError, match="Hub id or a folder"):
        resolve("hf:")


def test_options_apply_to_hf_sources_only():
    assert with_options(resolve("hf:x"), seq=8, trust_remote_code=False).options == (("seq", 8),)
    assert with_options(resolve("resnet18")) == resolve("resnet18")
    with pytest.raises(FlopscopeError, match="apply to hf"):
        with_options(resolve("resnet18"), seq=8)


# ------------------------------------------------------------------- configs


def test_config_with_custom_code_is_refused_in_one_line(tmp_path):
    folder = _folder(tmp_path, {**TINY_LLAMA, "auto_map": {"AutoModel": "modeling_x.XModel"}})
    with pytest.raises(FlopscopeError, match="trust-remote-code") as info:
        hf.read_config(str(folder))
    assert "\n" not in str(info.value)
    assert hf.read_config(str(folder), trust_remote_code=True)["auto_map"]


def test_missing_config_is_a_user_error(tmp_path):
    with pytest.raises(FlopscopeError, match="no config.json"):
        hf.read_config(str(tmp_path))


def test_seq_is_bounded_by_the_positions():
    assert hf.example_inputs({"n_positions": 16}, "input_ids")["input_ids"] == ((1, 16), "int64")
    with pytest.raises(FlopscopeError, match="longer than the model's 16 positions"):
        hf.example_inputs({"n_positions": 16}, "input_ids", seq=17)
    whisper = {"max_source_positions": 20, "max_target_positions": 6}
    assert hf.example_inputs(whisper, "input_features", seq=10, encoder_decoder=True)[
        "decoder_input_ids"] == ((1, 6), "int64")


def test_inputs_follow_the_model_type():
    assert hf.example_inputs({}, "input_ids", seq=7, batch=2) == {
        "input_ids": ((2, 7), "int64"), "attention_mask": ((2, 7), "int64")}
    assert hf.example_inputs({}, "input_ids", encoder_decoder=True)["decoder_input_ids"] == (
        (1, hf.DEFAULT_SEQ), "int64")
    assert hf.example_inputs({"image_size": [24, 32], "num_channels": 1}, "pixel_values") == {
        "pixel_values": ((1, 1, 24, 32), "float32")}
    assert hf.example_inputs({"vision_config": {"image_size": 16}}, "pixel_values") == {
        "pixel_values": ((1, 3, 16, 16), "float32")}
    assert hf.example_inputs({"num_mel_bins": 16, "max_source_positions": 20}, "input_features") == {
        "input_features": ((1, 16, 40), "float32")}


# ------------------------------------------------------------------- building

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")


def test_folder_builds_on_meta_with_text_inputs(tmp_path):
    from flopscope.analysis import analyze

    folder = _folder(tmp_path, TINY_LLAMA)
    source = with_options(resolve(f"hf:{folder}"), seq=9)
    model, inputs = hf.build_source(source)
    assert all(p.device.type == "meta" for p in model.parameters())
    assert inputs == {"input_ids": ((1, 9), "int64"), "attention_mask": ((1, 9), "int64")}
    report = analyze(source)
    assert report.model.name == "model"
    assert report.totals.macs == _llama_macs(TINY_LLAMA, 9)
    assert report.totals.params == sum(p.numel() for p in model.parameters())


def test_config_dtype_sets_the_weights_dtype(tmp_path):
    model, _ = hf.build(str(_folder(tmp_path, {**TINY_LLAMA, "torch_dtype": "bfloat16"})))
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}


@pytest.mark.parametrize("quantization, said", [
    ({"quant_method": "awq", "bits": 4, "group_size": 128}, "awq, 4-bit"),
    ({"quant_method": "bitsandbytes", "load_in_8bit": True}, "bitsandbytes, 8-bit"),
    ({"quant_method": "fp8", "activation_scheme": "dynamic"}, "(fp8)"),
])
def test_a_quantisation_config_not_applied_is_said(tmp_path, quantization, said):
    """A checkpoint's quantization_config is applied by transformers only while loading
    weights: built from the config, the weights are floats, and the report says so rather
    than passing float bytes off as the checkpoint's."""
    from flopscope.analysis import analyze

    folder = _folder(tmp_path, {**TINY_LLAMA, "quantization_config": quantization})
    report = analyze(f"hf:{folder}")
    (note,) = [n for n in report.notes if "quantization_config" in n]
    assert said in note and "not applied" in note and "float32" in note
    plain = analyze(f"hf:{_folder(tmp_path, TINY_LLAMA, 'plain')}")
    assert not [n for n in plain.notes if "quantization_config" in n]
    assert report.totals.param_bytes == plain.totals.param_bytes


def test_vision_config_takes_pixel_values(tmp_path):
    config = {"architectures": ["ViTModel"], "model_type": "vit", "hidden_size": 16,
              "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
              "image_size": 16, "patch_size": 8}
    _, inputs = hf.build(str(_folder(tmp_path, config)))
    assert inputs == {"pixel_values": ((1, 3, 16, 16), "float32")}


def test_unknown_model_type_is_a_user_error(tmp_path):
    with pytest.raises(FlopscopeError, match="does not know model_type"):
        hf.build(str(_folder(tmp_path, {"model_type": "no-such-model"})))


def test_cli_report_with_seq(tmp_path, capsys):
    from flopscope.cli import main

    folder = _folder(tmp_path, TINY_LLAMA)
    assert main(["report", f"hf:{folder}", "--seq", "5", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["totals"]["macs"] == _llama_macs(TINY_LLAMA, 5)


def test_cli_refuses_custom_code(tmp_path, capsys):
    from flopscope.cli import main

    folder = _folder(tmp_path, {**TINY_LLAMA, "auto_map": {"AutoModel": "x.Y"}})
    assert main(["report", f"hf:{folder}"]) == 2
    assert "--trust-remote-code" in capsys.readouterr().err


_RSS_PROBE = """
import json, resource, sys
import torch
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
from flopscope.analysis import analyze
report = analyze("hf:" + sys.argv[1])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"params": report.totals.params, "macs": report.totals.macs,
                  "growth_kib": after - before}))
"""


def test_7b_config_is_analysed_without_allocating_weights(tmp_path):
    folder = _folder(tmp_path, LLAMA_7B, "llama-7b")
    done = subprocess.run([sys.executable, "-c", _RSS_PROBE, str(folder)], capture_output=True,
                          text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    c = LLAMA_7B
    d, layers, vocab = c["hidden_size"], c["num_hidden_layers"], c["vocab_size"]
    layer_params = 4 * d * d + 3 * d * c["intermediate_size"] + 2 * d
    assert result["params"] == layers * layer_params + 2 * vocab * d + d    # 6.74 G
    assert result["macs"] == _llama_macs(c, hf.DEFAULT_SEQ)
    assert result["growth_kib"] < 1024 * 1024     # < 1 GiB, against 13.5 GB of fp16 weights


# ----------------------------------------------------------------------- by Hub id


def _fake_hub(monkeypatch, tmp_path, config: dict | None, asked: list):
    """``huggingface_hub.hf_hub_download`` answered from ``tmp_path`` (no network): it
    records what was asked for and serves ``config`` as the repo's config.json (None: the
    Hub cannot be reached)."""
    huggingface_hub = pytest.importorskip("huggingface_hub")

    def download(repo_id, filename, **kwargs):
        asked.append((repo_id, filename, kwargs))
        if config is None:
            # the Hub client warns between its retries: flopscope keeps that quiet
            asked.append(logging.getLogger("huggingface_hub.utils._http").isEnabledFor(logging.WARNING))
            raise huggingface_hub.errors.LocalEntryNotFoundError(
                "An error happened while trying to locate the file on the Hub and we cannot find "
                "the requested files in the local cache.\nPlease check your connection.")
        path = tmp_path / "hub" / repo_id / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config))
        return str(path)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)


def test_hub_id_fetches_the_config_only(tmp_path, monkeypatch, capsys):
    pytest.importorskip("transformers")
    from flopscope.cli import main

    asked: list = []
    _fake_hub(monkeypatch, tmp_path, TINY_LLAMA, asked)
    assert main(["report", "hf:someone/tiny-llama", "--seq", "5", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["totals"]["macs"] == _llama_macs(TINY_LLAMA, 5)
    assert [(repo, name) for repo, name, _ in asked] == [("someone/tiny-llama", "config.json")]


def test_hub_id_offline_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    from flopscope.cli import main

    asked: list = []
    _fake_hub(monkeypatch, tmp_path, None, asked)
    level = logging.getLogger("huggingface_hub").level
    assert main(["report", "hf:someone/tiny-llama"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "hf:someone/tiny-llama: not a folder, and its config.json could not be fetched" in err
    assert "LocalEntryNotFoundError" in err
    assert asked[1] is False                        # no retry warnings on the way
    assert logging.getLogger("huggingface_hub").level == level      # and restored


def test_hub_config_with_custom_code_is_refused_before_any_build(tmp_path, monkeypatch, capsys):
    from flopscope.cli import main

    asked: list = []
    _fake_hub(monkeypatch, tmp_path, {**TINY_LLAMA, "auto_map": {"AutoModel": "modeling.Evil"}}, asked)
    assert main(["report", "hf:someone/custom"]) == 2
    assert "--trust-remote-code" in capsys.readouterr().err
    assert [name for _, name, _ in asked] == ["config.json"]     # no modeling file fetched


# ----------------------------------------------------------------------- other uses of hf:


def test_training_step_of_an_hf_model(tmp_path):
    """``--mode train`` builds the hf: model like every other path (it was refused): the
    forward of the training step is the inference count, AdamW holds 2 fp32 copies."""
    pytest.importorskip("transformers")
    from flopscope.analysis import analyze

    model = f"hf:{_folder(tmp_path, TINY_LLAMA)}"
    inference = analyze(model)
    train = analyze(model, mode="train", optimizer="adamw")
    assert train.coverage.complete
    assert train.totals.forward_macs == inference.totals.macs == _llama_macs(TINY_LLAMA, hf.DEFAULT_SEQ)
    assert train.totals.optimizer_state_bytes == 2 * 4 * inference.totals.params


def test_export_of_an_hf_model_counts_as_its_trace(tmp_path):
    """``bench hf:...`` exports the model with random weights (nothing downloaded): the
    exported file's MACs equal the meta trace's."""
    pytest.importorskip("transformers")
    import flopscope
    from flopscope.analysis import analyze

    model = f"hf:{_folder(tmp_path, TINY_LLAMA)}"
    path = flopscope.export_onnx(model, None, tmp_path / "llama.onnx")
    assert analyze(str(path)).totals.macs == analyze(model).totals.macs == _llama_macs(TINY_LLAMA, 128)
