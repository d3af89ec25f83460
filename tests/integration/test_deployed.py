"""The files people deploy are counted in full, with the MACs of the clean export.

Small BERT-, GPT-2-, LLaMA- (grouped-query attention) and ViT-like models are built from
transformers configs with random weights (nothing is downloaded), plus a small CNN,
exported with the TorchScript exporter, and turned into what ONNX Runtime's own tools
write: the transformer optimizer (fp32, and fp16 with keep_io_types), session-optimised
dumps (extended and all: FusedConv, FusedMatMul, nchwc.*), dynamic quantisation
(MatMulInteger, uint8 embedding tables), 4-bit MatMulNBits, fp16 conversion, and static
quantisation of the CNN, QOperator (QLinearConv, QGemm...) and QDQ.

For every variant: exit 0, 100% coverage, the clean export's MACs, and the model's
logical parameter count (PyTorch's, ``sum(p.numel())``): quantised weights at their
logical size, scales and zero points apart (buffers), literal scalars the exporter writes
(Gelu's 0.5, the attention scale) not weights of the model.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers", reason="transformers is not installed (pip install -e .[test])")
ort = pytest.importorskip("onnxruntime")

import onnx  # noqa: E402

from flopscope.analysis import analyze  # noqa: E402
from flopscope.frontends import onnx as onnx_frontend  # noqa: E402
from tests.robustness.helpers import run_cli  # noqa: E402

DIMS = {"batch": 1, "seq": 8}
LENGTH = 8


class _Wrap(torch.nn.Module):
    """A transformers model as a plain (tensors in, tuple out) module for tracing."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.m = model

    def forward(self, x, attention_mask=None):  # noqa: ANN001, ANN201
        if x.dtype != torch.long:
            return self.m(pixel_values=x, return_dict=False)[0]
        return self.m(input_ids=x, attention_mask=attention_mask, return_dict=False, use_cache=False)[0]


def _transformers_models() -> dict[str, tuple[torch.nn.Module, str]]:
    """name -> (model with random weights, optimizer model type)."""
    import transformers as tf

    tiny = {"num_hidden_layers": 2, "num_attention_heads": 4, "hidden_size": 32, "intermediate_size": 64}
    return {
        # eager attention: the pattern ORT's optimizer fuses into Attention and
        # EmbedLayerNormalization (its SDPA export keeps MatMul and Softmax)
        "bert": (tf.BertModel(tf.BertConfig(vocab_size=96, max_position_embeddings=32, type_vocab_size=2,
                                            attn_implementation="eager", **tiny),
                              add_pooling_layer=False), "bert"),
        "gpt2": (tf.GPT2Model(tf.GPT2Config(vocab_size=96, n_embd=32, n_layer=2, n_head=4,
                                            n_positions=32)), "gpt2"),
        "llama": (tf.LlamaModel(tf.LlamaConfig(vocab_size=96, num_key_value_heads=2,
                                               max_position_embeddings=32, **tiny)), "gpt2"),
        "vit": (tf.ViTModel(tf.ViTConfig(image_size=16, patch_size=8, **tiny), add_pooling_layer=False),
                "vit"),
    }


def _cnn() -> torch.nn.Module:
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 1), nn.Sigmoid(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))


def _export(model: torch.nn.Module, path: Path) -> None:
    model.eval()
    torch.manual_seed(0)
    for p in model.parameters():              # no two equal tensors for the exporter to share
        torch.nn.init.normal_(p, std=0.02)
    if isinstance(model, _Wrap) and "ViT" not in type(model.m).__name__:
        ids = torch.ones(1, LENGTH, dtype=torch.long)
        args, names = (ids, torch.ones(1, LENGTH, dtype=torch.long)), ["input_ids", "attention_mask"]
        axes = {n: {0: "batch", 1: "seq"} for n in names}
    else:
        args, names, axes = (torch.randn(1, 3, 16, 16),), ["x"], {"x": {0: "batch"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, args, str(path), input_names=names, dynamic_axes=axes,
                          opset_version=17, dynamo=False)


def _session_dump(src: Path, dst: Path, level: ort.GraphOptimizationLevel) -> None:
    options = ort.SessionOptions()
    options.graph_optimization_level = level
    options.optimized_model_filepath = str(dst)
    options.log_severity_level = 3
    ort.InferenceSession(str(src), options, providers=["CPUExecutionProvider"])


def _static(src: Path, dst: Path, qoperator: bool) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            rng = np.random.default_rng(0)
            self.batches = iter([{"x": rng.standard_normal((1, 3, 16, 16), np.float32)} for _ in range(2)])

        def get_next(self):  # noqa: ANN201
            return next(self.batches, None)

    quantize_static(str(src), str(dst), Reader(),
                    quant_format=QuantFormat.QOperator if qoperator else QuantFormat.QDQ)


def build(folder: Path) -> dict[str, tuple[dict[str, Path], int]]:
    """Write every family's clean export and variants into ``folder``:
    family -> ({variant: path}, the model's parameter count in PyTorch)."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    from onnxruntime.transformers import optimizer
    from onnxruntime.transformers.float16 import convert_float_to_float16

    logging.getLogger("onnxruntime").setLevel(logging.ERROR)
    families: dict[str, tuple[dict[str, Path], int]] = {}
    models = {name: (_Wrap(m), kind) for name, (m, kind) in _transformers_models().items()}
    models["cnn"] = (_cnn(), "")
    for name, (model, kind) in models.items():
        clean = folder / f"{name}.onnx"
        _export(model, clean)
        paths = {"clean": clean}
        levels = {"ext": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                  "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
        for tag, level in levels.items():
            paths[tag] = folder / f"{name}_{tag}.onnx"
            _session_dump(clean, paths[tag], level)
        fp16 = convert_float_to_float16(onnx.load(str(clean)), keep_io_types=True)
        paths["fp16"] = folder / f"{name}_fp16.onnx"
        onnx.save(fp16, str(paths["fp16"]))
        if kind:
            opt = optimizer.optimize_model(str(clean), model_type=kind, num_heads=4, hidden_size=32,
                                           opt_level=1)
            paths["optimizer"] = folder / f"{name}_opt.onnx"
            opt.save_model_to_file(str(paths["optimizer"]))
            opt.convert_float_to_float16(keep_io_types=True)
            paths["optimizer fp16"] = folder / f"{name}_opt16.onnx"
            opt.save_model_to_file(str(paths["optimizer fp16"]))
            paths["dynamic int8"] = folder / f"{name}_dyn.onnx"
            quantize_dynamic(str(clean), str(paths["dynamic int8"]), weight_type=QuantType.QInt8)
            quantizer = MatMulNBitsQuantizer(onnx.load(str(clean)), block_size=16, is_symmetric=True)
            quantizer.process()
            paths["4-bit MatMulNBits"] = folder / f"{name}_nbits.onnx"
            quantizer.model.save_model_to_file(str(paths["4-bit MatMulNBits"]))
        else:
            for tag, qoperator in (("static QOperator", True), ("static QDQ", False)):
                paths[tag] = folder / f"{name}_{tag.split()[1].lower()}.onnx"
                _static(clean, paths[tag], qoperator)
            paths["static QDQ, all"] = folder / f"{name}_qdq_all.onnx"     # NHWC QLinearConv
            _session_dump(paths["static QDQ"], paths["static QDQ, all"], levels["all"])
        families[name] = (paths, sum(p.numel() for p in model.parameters()))
    return families


@pytest.fixture(scope="module")
def deployed(tmp_path_factory) -> dict[str, tuple[dict[str, Path], int]]:
    """:func:`build` once per module."""
    return build(tmp_path_factory.mktemp("deployed"))


VARIANTS = ["ext", "all", "fp16", "optimizer", "optimizer fp16", "dynamic int8", "4-bit MatMulNBits",
            "static QOperator", "static QDQ", "static QDQ, all"]
FAMILIES = ["bert", "gpt2", "llama", "vit", "cnn"]


def _dims(path: Path) -> dict[str, int]:
    return DIMS if path.name.split("_")[0].split(".")[0] in ("bert", "gpt2", "llama") else {"batch": 1}


def _logical_params(path: Path, dims: dict[str, int] | None = None) -> int:
    """Parameters of the file without the exporter's literal scalars, and without buffers."""
    graph = onnx_frontend.load(path, dims=dims or _dims(path))
    distinct = {p.name: p for p in graph.params.values()}.values()
    return sum(p.numel for p in distinct if not p.buffer and p.numel > 1)


@pytest.mark.parametrize("family", FAMILIES)
def test_clean_export_is_the_reference(deployed, family):
    paths, torch_params = deployed[family]
    report = analyze(paths["clean"], dims=_dims(paths["clean"]))
    assert report.coverage.complete and report.totals.macs > 0
    expected = torch_params
    if family == "cnn":       # the exporter folds BatchNorm's scale and shift into the conv
        expected -= 2 * 16
    if family == "llama":     # the rotary frequencies, a buffer in PyTorch: head size / 2
        expected += (32 // 4) // 2
    assert _logical_params(paths["clean"]) == expected


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("family", FAMILIES)
def test_deployed_variant_counts_as_the_clean_export(deployed, family, variant):
    paths, _ = deployed[family]
    if variant not in paths:
        pytest.skip(f"{variant} is not made for {family}")
    path = paths[variant]
    args = ["report", path, "--format", "json"] + [f"--dim={k}={v}" for k, v in _dims(path).items()]
    outcome = run_cli(*args, limit=60)
    assert outcome.code == 0, outcome.err
    clean = analyze(paths["clean"], dims=_dims(path))
    report = analyze(path, dims=_dims(path))
    assert report.coverage.complete, (report.coverage.unsupported, report.coverage.unresolved)
    assert report.coverage.percent == 100
    assert report.totals.macs == clean.totals.macs
    assert _logical_params(path) == _logical_params(paths["clean"])


def test_quantised_weights_are_stored_smaller_but_counted_whole(deployed):
    paths, _ = deployed["bert"]
    clean = analyze(paths["clean"], dims=DIMS)
    for variant in ("dynamic int8", "4-bit MatMulNBits"):
        report = analyze(paths[variant], dims=DIMS)
        assert report.totals.buffers > 0                   # scales and zero points, apart
        assert report.totals.param_bytes < clean.totals.param_bytes
    nbits = onnx_frontend.load(paths["4-bit MatMulNBits"], dims=DIMS)
    packed = [p for p in nbits.params.values() if p.dtype == "uint4"]
    assert packed and all(p.nbytes * 2 == p.numel for p in packed)   # two weights a byte


def _legacy_dynamic_batch(model: torch.nn.Module, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (torch.randn(1, 3, 224, 224),), str(path), input_names=["x"],
                          dynamic_axes={"x": {0: "N"}}, opset_version=17, dynamo=False)
    return path


def test_shufflenet_v2_legacy_export_with_dynamic_batch_is_costed_in_full(tmp_path):
    # every unit reshapes for its channel shuffle from sizes read at run time: 16 rounds of
    # folding and inference (the paper's 146 M; our count of the same network 144.9 M)
    from flopscope.models.shufflenet import shufflenet_v2_x1_0

    path = _legacy_dynamic_batch(shufflenet_v2_x1_0(), tmp_path / "shufflenet_v2.onnx")
    report = analyze(path)
    assert report.coverage.complete
    assert report.totals.macs == analyze("shufflenet_v2_x1_0").totals.macs == 144_907_992


def test_swin_t_legacy_export_with_dynamic_batch_is_costed_in_full(tmp_path):
    # window partition and reverse reshape from run-time sizes; published: 4.5 GMACs
    import transformers as tf

    swin = tf.SwinModel(tf.SwinConfig(image_size=224, patch_size=4, embed_dim=96, depths=[2, 2, 6, 2],
                                      num_heads=[3, 6, 12, 24], window_size=7))
    path = _legacy_dynamic_batch(_Wrap(swin), tmp_path / "swin_t.onnx")
    report = analyze(path)
    assert report.coverage.complete
    assert report.totals.macs == analyze(_Wrap(swin).eval(), (1, 3, 224, 224)).totals.macs
    assert round(report.totals.macs / 1e9, 1) == 4.5


def _genai_build(llm, folder: Path, precision: str) -> Path:
    """``llm`` through onnxruntime-genai's LLM builder (saved with a word-level tokenizer of
    96 tokens beside it, once per folder): the output folder, model.onnx and genai_config.json."""
    import subprocess
    import sys

    import transformers as tf
    from tokenizers import Tokenizer, models, pre_tokenizers

    if not (folder / "hf").exists():
        llm.save_pretrained(folder / "hf")
        words = Tokenizer(models.WordLevel({f"t{i}": i for i in range(96)}, unk_token="t0"))
        words.pre_tokenizer = pre_tokenizers.Whitespace()
        tf.PreTrainedTokenizerFast(tokenizer_object=words, unk_token="t0", bos_token="t1",
                                   eos_token="t2").save_pretrained(folder / "hf")
    out = folder / precision
    subprocess.run([sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", folder / "hf",
                    "-o", out, "-p", precision, "-e", "cpu", "-c", folder / "cache"],
                   check=True, capture_output=True)
    return out


@pytest.mark.parametrize("precision", ["fp32", "int4"])
def test_onnxruntime_genai_builder_files(tmp_path, precision):
    # the LLM builder writes GroupQueryAttention with packed QKV and a KV cache,
    # SkipSimplifiedLayerNormalization, SimplifiedLayerNormalization in the default
    # domain, and with int4 MatMulNBits everywhere, the LM head included
    pytest.importorskip("onnxruntime_genai", reason="onnxruntime-genai is not installed")
    import transformers as tf

    config = tf.LlamaConfig(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32,
                            tie_word_embeddings=False)
    llm = tf.LlamaForCausalLM(config)
    clean = tmp_path / "clean.onnx"
    _export(_Wrap(llm), clean)                      # random weights, as every model here
    out = _genai_build(llm, tmp_path, precision)
    # a prompt of 8 tokens, no past: the clean export's forward pass
    dims = {"batch_size": 1, "sequence_length": LENGTH, "total_sequence_length": LENGTH,
            "past_sequence_length": 0, "kv_cache_dim": 32 // 4}
    report = analyze(out / "model.onnx", dims=dims)
    assert report.coverage.complete
    assert report.totals.macs == analyze(clean, dims=DIMS).totals.macs
    rotary_caches = 2 * 32 * (32 // 4 // 2)         # cos and sin: positions x head size / 2
    assert _logical_params(out / "model.onnx", dims) == \
        sum(p.numel() for p in llm.parameters()) + rotary_caches


def test_onnxruntime_genai_builder_mixture_of_experts_file(tmp_path):
    """GPT-OSS through the LLM builder: com.microsoft.MoE (fused SwiGLU with a limit, biases,
    top 2 of 4 experts) and a sliding-window layer; genai_config.json beside the file gives
    the head size (the builder's symbolic kv_cache_dim) and the window. The prefill equals
    the PyTorch path to the MAC; a decode step reads 2 of the 4 experts, and the sliding
    layer's cache stops at its window."""
    pytest.importorskip("onnxruntime_genai", reason="onnxruntime-genai is not installed")
    import transformers as tf

    from flopscope.phases import analyze_phase

    config = tf.GptOssConfig(vocab_size=96, hidden_size=64, intermediate_size=64, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                             num_local_experts=4, num_experts_per_tok=2, sliding_window=8,
                             max_position_embeddings=64, tie_word_embeddings=False,
                             layer_types=["sliding_attention", "full_attention"])
    llm = tf.GptOssForCausalLM(config)
    out = _genai_build(llm, tmp_path, "fp32")
    report, prefill = analyze_phase(str(out / "model.onnx"), "prefill", seq=LENGTH)
    assert report.coverage.complete
    assert [row.op for row in report.layers].count("com.microsoft.MoE") == 2
    assert prefill.macs == analyze_phase(llm, "prefill", seq=LENGTH)[1].macs
    _, decode = analyze_phase(str(out / "model.onnx"), "decode", context=15)
    one = 2 * 2 * 16 * 4                              # K and V of one token in one layer, fp32
    assert decode.kv_bytes_per_token == 2 * one
    assert decode.kv_cache_bytes == 16 * one + 8 * one              # full layer, window of 8
    assert decode.expert_bytes_read * 2 == decode.expert_bytes > 0


def test_onnxruntime_genai_builder_int4_moe_with_short_convolutions(tmp_path):
    """LFM2-MoE through the LLM builder at int4: QMoE experts (4-bit, block 32), MatMulNBits
    projections, CausalConvWithState short convolutions carrying past.N.conv states. The
    int4 and fp32 files count the same MACs; the PyTorch path counts (k−1)·C·k more per
    convolution layer and sequence: nn.Conv1d pads both ends and slices, ORT's kernel
    computes only the kept positions."""
    pytest.importorskip("onnxruntime_genai", reason="onnxruntime-genai is not installed")
    import transformers as tf

    from flopscope.phases import analyze_phase

    config = tf.Lfm2MoeConfig(vocab_size=96, hidden_size=64, intermediate_size=128,
                              moe_intermediate_size=32, num_hidden_layers=4, num_attention_heads=4,
                              num_key_value_heads=2, num_experts=4, num_experts_per_tok=2,
                              num_dense_layers=1, max_position_embeddings=64, tie_word_embeddings=False,
                              layer_types=["conv", "full_attention", "conv", "full_attention"])
    llm = tf.Lfm2MoeForCausalLM(config)
    costs = {}
    for precision in ("fp32", "int4"):
        out = _genai_build(llm, tmp_path, precision)
        report, costs[precision] = analyze_phase(str(out / "model.onnx"), "prefill", seq=LENGTH)
        assert report.coverage.complete
    ops = [row.op for row in report.layers]
    assert ops.count("com.microsoft.QMoE") == 3 and ops.count("com.microsoft.CausalConvWithState") == 2
    assert costs["int4"].macs == costs["fp32"].macs
    padding = 2 * (3 - 1) * 64 * 3                   # 2 conv layers, 2 extra positions, 64 ch, 3 taps
    assert analyze_phase(llm, "prefill", seq=LENGTH)[1].macs == costs["fp32"].macs + padding
    _, decode = analyze_phase(str(tmp_path / "int4" / "model.onnx"), "decode", context=15)
    assert decode.state_bytes == 2 * 64 * 2 * 4       # 2 layers' (1, 64, k-1 = 2) fp32 states
    assert decode.weight_bytes < costs["fp32"].weight_bytes / 4
