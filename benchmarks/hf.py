"""Hugging Face models: flopscope against torch.utils.flop_counter and fvcore.

Each model is built from a config at its published size (BERT-base, GPT-2 small, a
LLaMA-architecture model with grouped-query attention, T5-small, ViT-base, the Whisper-tiny
encoder; and a 0.6 B Mixtral-architecture Mixture-of-Experts model, small enough for the
tools that need real weights) and called as people call it: text models with ``input_ids`` and an
``attention_mask`` of ``--seq`` tokens, under the default (sdpa) attention. The analytic
MACs come from the formulas in ``tests/integration/test_transformers.py`` and
``test_moe.py``.

* flopscope: ``analyze(model, input_shapes=...)`` on the meta-device model (no weights),
  and ``hf:FOLDER`` end to end (config read, model built on meta, analysed);
* FlopCounterMode: the model with real (random) weights run under the mode on real inputs
  (on the meta device it stops at the mask's data-dependent read, as flopscope did before);
  it counts FLOPs = 2·MACs of matmuls, convolutions and SDPA; MACs shown are its FLOPs / 2;
* fvcore: ``FlopCountAnalysis`` (a JIT trace: real weights and real inputs; its "flops"
  are MACs).

Times are the best of ``--repeats`` after a warm-up, in one process. Prints a Markdown
table; writes ``benchmarks/results/hf.json``.

A 7B LLaMA config is also analysed by ``hf:FOLDER``: in this process (best of
``--repeats``), and in fresh processes, each step timed on its own: ``import torch``,
transformers' import of the model's module, the first analysis and a second one.

    python benchmarks/hf.py [--models bert,gpt2] [--seq 128] [--repeats 3] [--no-fvcore]
    python benchmarks/hf.py --only-7b
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pytorch_path import best_of  # noqa: E402  (benchmarks/ is on sys.path: the script's folder)

from flopscope.analysis import analyze  # noqa: E402
from flopscope.frontends.hf import build_from_config  # noqa: E402
from tests.integration import test_moe as moe_formulas  # noqa: E402
from tests.integration import test_transformers as formulas  # noqa: E402

SPECIAL = {"pad_token_id": 0, "bos_token_id": 0, "eos_token_id": 0, "decoder_start_token_id": 0}
MODELS = {
    "bert-base": ({"architectures": ["BertModel"], "model_type": "bert", "hidden_size": 768,
                   "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
                   "vocab_size": 30522, "max_position_embeddings": 512, "type_vocab_size": 2},
                  lambda c, s: formulas.bert_macs(c, s, 1)),
    "gpt2-small": ({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": 768,
                    "n_layer": 12, "n_head": 12, "vocab_size": 50257, "n_positions": 1024},
                   lambda c, s: formulas.gpt2_macs(c, s, 1)),
    "llama-gqa-1b": ({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
                      "hidden_size": 2048, "intermediate_size": 5632, "num_attention_heads": 32,
                      "num_key_value_heads": 4, "num_hidden_layers": 22, "vocab_size": 32000,
                      "max_position_embeddings": 2048, "tie_word_embeddings": False},
                     lambda c, s: formulas.llama_macs(c, s, 1)),
    "t5-small": ({"architectures": ["T5ForConditionalGeneration"], "model_type": "t5",
                  "d_model": 512, "d_kv": 64, "d_ff": 2048, "num_layers": 6, "num_heads": 8,
                  "vocab_size": 32128, "feed_forward_proj": "relu", "tie_word_embeddings": True},
                 lambda c, s: formulas.t5_macs(c, s, s, 1)),
    "vit-base": ({"architectures": ["ViTModel"], "model_type": "vit", "hidden_size": 768,
                  "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
                  "image_size": 224, "patch_size": 16, "num_channels": 3},
                 lambda c, s: formulas.vit_macs(c, 1)),
    "whisper-tiny-encoder": ({"architectures": ["WhisperModel"], "model_type": "whisper",
                              "d_model": 384, "encoder_layers": 4, "encoder_attention_heads": 6,
                              "encoder_ffn_dim": 1536, "decoder_layers": 4,
                              "decoder_attention_heads": 6, "decoder_ffn_dim": 1536,
                              "num_mel_bins": 80, "max_source_positions": 1500,
                              "max_target_positions": 448, "vocab_size": 51865, **SPECIAL},
                             lambda c, s: formulas.whisper_encoder_macs(c, 1)),
    # a Mixtral-architecture Mixture-of-Experts model small enough for real weights
    # (FlopCounterMode and fvcore run it): 8 experts, top 2, 0.6 B parameters
    "mixtral-moe-0.6b": ({"architectures": ["MixtralForCausalLM"], "model_type": "mixtral",
                          "hidden_size": 1024, "intermediate_size": 2816, "num_attention_heads": 16,
                          "num_key_value_heads": 4, "num_hidden_layers": 8, "vocab_size": 32000,
                          "max_position_embeddings": 4096, "num_local_experts": 8,
                          "num_experts_per_tok": 2, "tie_word_embeddings": False},
                         lambda c, s: moe_formulas.mixtral_macs(c, s, 1)),
}


def model_and_inputs(name: str, config: dict, seq: int):
    model, inputs = build_from_config({**config, "torch_dtype": "float32"}, seq=seq)
    if name == "whisper-tiny-encoder":
        model = model.get_encoder()
        inputs = {"input_features": inputs["input_features"]}
    if name == "t5-small":
        inputs["decoder_attention_mask"] = inputs["decoder_input_ids"]
    return model, inputs


def _real(name: str, model):
    """The model with real random weights on the CPU (built again from its config)."""
    import transformers

    config = model.config
    if name == "whisper-tiny-encoder":
        return transformers.WhisperModel(config).get_encoder().eval()
    return type(model)(config).eval()


def tensors(inputs: dict, device: str) -> dict:
    made = {}
    for key, (shape, dtype) in inputs.items():
        if dtype == "int64":
            made[key] = (torch.ones if "mask" in key else torch.zeros)(shape, dtype=torch.int64,
                                                                       device=device)
        else:
            made[key] = torch.randn(shape, device=device) if device == "cpu" else torch.empty(
                shape, device=device)
    return made


def flop_counter_macs(model, inputs: dict) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    values = tensors(inputs, "cpu")
    with torch.no_grad(), FlopCounterMode(display=False) as mode:
        model(**values)
    return mode.get_total_flops() // 2


def fvcore_macs(model, inputs: dict) -> int:
    from fvcore.nn import FlopCountAnalysis

    values = tensors(inputs, "cpu")
    names = list(values)

    class Positional(torch.nn.Module):     # fvcore traces positional inputs only
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, *args):
            out = self.inner(**dict(zip(names, args)), return_dict=False)
            return out[0]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analysis = FlopCountAnalysis(Positional(), tuple(values.values()))
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return int(analysis.total())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-fvcore", action="store_true", help="skip fvcore (real weights)")
    parser.add_argument("--only-7b", action="store_true", help="only the 7B LLaMA config timings")
    args = parser.parse_args()
    rows = []
    for name in [] if args.only_7b else args.models.split(","):
        config, formula = MODELS[name]
        expected = formula(config, args.seq)
        model, inputs = model_and_inputs(name, config, args.seq)
        t_fs, report = best_of(partial(analyze, model, input_shapes=inputs), args.repeats)
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "config.json").write_text(json.dumps({**config, **(
                {"torch_dtype": "float32"})}))
            t_hf, _ = best_of(partial(analyze, f"hf:{folder}"), args.repeats) \
                if name not in ("whisper-tiny-encoder", "t5-small") else (None, None)
        real = _real(name, model)
        try:
            t_fc, fc = best_of(partial(flop_counter_macs, real, inputs), args.repeats)
        except Exception as exc:  # noqa: BLE001
            t_fc, fc = None, f"failed: {type(exc).__name__}"
        fv: object = "skipped"
        t_fv = None
        if not args.no_fvcore:
            try:
                t_fv, fv = best_of(partial(fvcore_macs, real, inputs), 1)
            except Exception as exc:  # noqa: BLE001
                fv = f"failed: {type(exc).__name__}: {str(exc)[:80]}"
        del real
        rows.append({"model": name, "formula_macs": expected, "flopscope_macs": report.totals.macs,
                     "flopscope_s": t_fs, "hf_source_s": t_hf, "flop_counter_macs": fc,
                     "flop_counter_s": t_fc, "fvcore_macs": fv, "fvcore_s": t_fv,
                     "coverage": report.coverage.percent})
        print(json.dumps(rows[-1]), file=sys.stderr)

    def cell(v: object) -> str:
        if isinstance(v, float):
            return f"{v * 1000:.0f} ms"
        if isinstance(v, int):
            return f"{v:,}"
        return "—" if v is None else str(v)

    def gap(v: object, expected: int) -> str:
        return f"{100 * (v - expected) / expected:+.2f}%" if isinstance(v, int) else "—"

    if rows:
        print(f"seq {args.seq}, batch 1, sdpa attention with attention_mask; "
              f"{platform.processor() or platform.machine()}, torch {torch.__version__}\n")
        print("| model | formula MACs | flopscope | time | hf: time | FlopCounterMode | gap | time "
              "| fvcore | gap | time |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            e = r["formula_macs"]
            print(f"| {r['model']} | {cell(e)} | {cell(r['flopscope_macs'])} | {cell(r['flopscope_s'])} "
                  f"| {cell(r['hf_source_s'])} | {cell(r['flop_counter_macs'])} "
                  f"| {gap(r['flop_counter_macs'], e)} | {cell(r['flop_counter_s'])} "
                  f"| {cell(r['fvcore_macs'])} | {gap(r['fvcore_macs'], e)} | {cell(r['fvcore_s'])} |")
    seven_b = time_7b(args.seq, args.repeats)
    cold = seven_b["cold"]
    print(f"\nhf: on a folder holding a 7B LLaMA config (seq {args.seq}): "
          f"{seven_b['seconds'] * 1000:.0f} ms per analysis in a warm process, "
          f"{seven_b['params']:,} params, {seven_b['macs']:,} MACs; a fresh process (best of "
          f"{args.repeats}): import torch {cold['import_torch_s']:.2f} s, transformers' LLaMA module "
          f"{cold['import_transformers_s']:.2f} s (of which torch._dynamo, imported by transformers: "
          f"{cold['dynamo_s']:.2f} s), first analysis {cold['first_analysis_s']:.2f} s, second "
          f"{cold['second_analysis_s']:.2f} s")
    out = Path(__file__).parent / "results" / "hf.json"
    kept = json.loads(out.read_text()) if args.only_7b and out.exists() else {"rows": rows}
    out.write_text(json.dumps({**kept, "seq": args.seq, "torch": torch.__version__,
                               "llama_7b": seven_b}, indent=1))


LLAMA_7B = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
            "intermediate_size": 11008, "num_attention_heads": 32, "num_key_value_heads": 32,
            "num_hidden_layers": 32, "vocab_size": 32000, "max_position_embeddings": 4096,
            "tie_word_embeddings": False, "torch_dtype": "float16"}


def time_7b(seq: int, repeats: int) -> dict:
    """``analyze("hf:FOLDER")`` of a 7B LLaMA config: read, built on meta, traced, costed."""
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "config.json").write_text(json.dumps(LLAMA_7B))
        start = time.perf_counter()
        report = analyze(f"hf:{folder}", input_shapes=None)
        first = time.perf_counter() - start
        best, _ = best_of(partial(analyze, f"hf:{folder}"), repeats)
        colds = [_cold_7b(folder) for _ in range(repeats)]
    cold = {k: min(c[k] for c in colds) for k in colds[0]}
    return {"first_seconds": first, "seconds": best, "params": report.totals.params,
            "macs": report.totals.macs, "cold": cold}


_COLD = """
import json, sys, time
t0 = time.perf_counter()
import torch
t1 = time.perf_counter()
import torch._dynamo
t2 = time.perf_counter()
from transformers import LlamaForCausalLM
t3 = time.perf_counter()
from flopscope.analysis import analyze
analyze("hf:" + sys.argv[1])
t4 = time.perf_counter()
analyze("hf:" + sys.argv[1])
t5 = time.perf_counter()
print(json.dumps({"import_torch_s": t1 - t0, "dynamo_s": t2 - t1,
                  "import_transformers_s": t3 - t1, "first_analysis_s": t4 - t3,
                  "second_analysis_s": t5 - t4}))
"""


def _cold_7b(folder: str) -> dict:
    """One fresh process: each step's seconds (torch._dynamo timed apart, first, as the
    part of transformers' import that PyTorch's meta kernels would import anyway)."""
    done = subprocess.run([sys.executable, "-c", _COLD, folder], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
