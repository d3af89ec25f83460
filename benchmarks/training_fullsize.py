"""Full-size check of issue 16's acceptance: backward MACs of ViT-B/16 (batch 1, 224x224)
and GPT-2 small (batch 1, 64 tokens) from flopscope's static train trace against
``torch.utils.flop_counter.FlopCounterMode`` around a real CPU forward + backward.

The test suite runs the same comparison on narrow models of the same structure
(tests/frontends/test_torch_train.py); this script runs it at the published widths and
depths, which takes about 15 s per model on 2 cores. Writes
``benchmarks/results/training_fullsize.json``.

    python benchmarks/training_fullsize.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # the repo root: tests' models
from tests.frontends.test_torch_train import flop_counter, phase_macs  # noqa: E402
from tests.frontends.train_models import GPT2, ViT  # noqa: E402


def main() -> None:
    rows = []
    t0 = time.perf_counter()
    vit = ViT(image=224, patch=16, dim=768, depth=12, heads=12, mlp=3072, classes=1000)
    forward, backward, _ = phase_macs(vit, (1, 3, 224, 224))
    fc_forward, fc_backward, _ = flop_counter(vit, torch.randn(1, 3, 224, 224))
    patches = 768 * 14 * 14 * 3 * 16 * 16           # the first layer: no grad-input product
    rows.append({"model": "ViT-B/16", "input": "1x3x224x224", "forward_macs": forward,
                 "backward_macs": backward, "flop_counter_forward_macs": fc_forward,
                 "flop_counter_backward_macs": fc_backward, "known_difference": 0,
                 "backward_is_2x_forward_less_first_layer": backward == 2 * forward - patches,
                 "seconds": round(time.perf_counter() - t0, 1)})
    t0 = time.perf_counter()
    tokens = 64
    gpt2 = GPT2(vocab=50257, positions=1024, dim=768, depth=12, heads=12)
    forward, backward, _ = phase_macs(gpt2, ((1, tokens), torch.long))
    fc_forward, fc_backward, _ = flop_counter(gpt2, torch.randint(0, 50257, (1, tokens)))
    attention = 12 * 2 * 1 * 12 * tokens * tokens * 64   # FlopCounterMode counts the CPU flash kernel as 0
    rows.append({"model": "GPT-2 small", "input": f"1x{tokens} tokens", "forward_macs": forward,
                 "backward_macs": backward, "flop_counter_forward_macs": fc_forward,
                 "flop_counter_backward_macs": fc_backward, "known_difference": attention,
                 "forward_gap_is_attention": forward - fc_forward == attention,
                 "backward_gap_is_2.5x_attention": 2 * (backward - fc_backward) == 5 * attention,
                 "seconds": round(time.perf_counter() - t0, 1)})
    for row in rows:
        print(json.dumps(row))
    out = Path(__file__).parent / "results" / "training_fullsize.json"
    out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
