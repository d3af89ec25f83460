"""ONNX Runtime's Mixture-of-Experts kernels (rules/contrib_moe.py), counted by hand.

Each model here is also run by ONNX Runtime's CPU kernel (the layouts are the ones it
takes): 4 tokens, hidden 8, E = 4 experts, k = 2, so 8 token-expert pairs; the router's
softmax costs 5E−2 = 18 and its top 2 E·⌈log2 3⌉ = 8 per token; the weighted sum of the two
expert outputs 2k−1 = 3 per hidden element.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto

from tests.builders import single_node, weight
from tests.rules.contrib import MS, cost_op, run_op

ROWS, H, E, K = 4, 8, 4, 2
PAIRS = ROWS * K
ROUTER = ROWS * (5 * E - 2 + E * 2) + ROWS * H * (2 * K - 1)      # softmax, top 2, weighted sum


def _runs_in_ort(op: str, inputs: dict, attrs: dict) -> tuple[int, ...]:
    """ONNX Runtime's CPU kernel runs the one-node model; the output's shape."""
    ort = pytest.importorskip("onnxruntime")
    model = single_node(op, inputs, ("y",), attrs, 17, domain=MS)
    model.graph.output[0].type.tensor_type.elem_type = TensorProto.FLOAT
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {name: np.random.rand(*spec).astype(np.float32) for name, spec in inputs.items()
             if isinstance(spec, tuple)}
    return session.run(None, feeds)[0].shape


def test_relu_experts():
    inter = 6
    inputs = {"x": (ROWS, H), "router": (ROWS, E), "fc1": weight(E, inter, H), "fc1_b": None,
              "fc2": weight(E, H, inter)}
    attrs = {"k": K, "activation_type": "relu"}
    row = cost_op("MoE", inputs, attrs=attrs)
    assert row.macs == PAIRS * (H * inter + inter * H) == 768
    assert row.flops == PAIRS * ((2 * H - 1) * inter + (2 * inter - 1) * H) + PAIRS * inter + ROUTER
    assert row.params == 2 * E * inter * H
    assert row.output_shapes == [[ROWS, H]]                       # ortops' stand-in: input's shape
    assert _runs_in_ort("MoE", inputs, attrs) == (ROWS, H)


def test_the_older_transposed_layout_counts_the_same():
    inter = 6
    attrs = {"k": K, "activation_type": "relu"}
    new = cost_op("MoE", {"x": (ROWS, H), "router": (ROWS, E), "fc1": weight(E, inter, H),
                          "fc1_b": None, "fc2": weight(E, H, inter)}, attrs=attrs)
    old = cost_op("MoE", {"x": (ROWS, H), "router": (ROWS, E), "fc1": weight(E, H, inter),
                          "fc1_b": None, "fc2": weight(E, inter, H)}, attrs=attrs)
    assert (old.macs, old.flops) == (new.macs, new.flops)


def test_fused_swiglu_with_biases_a_limit_and_normalised_routing():
    """GPT-OSS style: gate and up interleaved in FC1 (2·inter outputs), 3-D input."""
    inter = 6
    inputs = {"x": (2, 2, H), "router": (ROWS, E), "fc1": weight(E, 2 * inter, H),
              "fc1_b": weight(E, 2 * inter), "fc2": weight(E, H, inter), "fc2_b": weight(E, H)}
    attrs = {"k": K, "activation_type": "swiglu", "swiglu_fusion": 1, "swiglu_limit": 7.0,
             "normalize_routing_weights": 1}
    row = cost_op("MoE", inputs, attrs=attrs)
    assert row.macs == PAIRS * (H * 2 * inter + inter * H) == 1152
    projections = ((2 * H - 1) * 2 * inter + 2 * inter) + ((2 * inter - 1) * H + H)
    assert row.flops == PAIRS * projections + PAIRS * inter * (8 + 3) + ROWS * (2 * K - 1) + ROUTER
    assert _runs_in_ort("MoE", inputs, attrs) == (2, 2, H)


def test_silu_with_a_separate_up_projection():
    """Mixtral as older builders wrote it: silu(FC1·x) · FC3·x, then FC2 (CPU lacks FC3)."""
    inter = 6
    row = cost_op("MoE", {"x": (ROWS, H), "router": (ROWS, E), "fc1": weight(E, inter, H),
                          "fc1_b": None, "fc2": weight(E, H, inter), "fc2_b": None,
                          "fc3": weight(E, inter, H)}, attrs={"k": K, "activation_type": "silu"})
    assert row.macs == PAIRS * 3 * H * inter == 1152
    projections = 2 * (2 * H - 1) * inter + (2 * inter - 1) * H
    assert row.flops == PAIRS * projections + PAIRS * inter * (5 + 1) + ROUTER


@pytest.mark.parametrize("bits", [4, 8])
def test_quantised_experts_dequantise_each_reachable_expert_once(bits):
    hidden, inter = 16, 8
    per_byte = 8 // bits
    inputs = {"x": (ROWS, hidden), "router": (ROWS, E),
              "fc1": np.zeros((E, 2 * inter, hidden // per_byte), np.uint8), "s1": weight(E, 2 * inter),
              "fc1_b": None, "fc2": np.zeros((E, hidden, inter // per_byte), np.uint8),
              "s2": weight(E, hidden)}
    attrs = {"k": K, "activation_type": "swiglu", "swiglu_fusion": 1, "expert_weight_bits": bits}
    row = cost_op("QMoE", inputs, attrs=attrs)
    weights = hidden * 2 * inter + inter * hidden
    assert row.macs == PAIRS * weights == 3072
    router = ROWS * (5 * E - 2 + E * 2) + ROWS * hidden * (2 * K - 1)
    projections = (2 * hidden - 1) * 2 * inter + (2 * inter - 1) * hidden
    dequantised = min(E, PAIRS) * weights * 2                  # DequantizeLinear: 2 per element
    assert row.flops == PAIRS * projections + PAIRS * inter * 8 + router + dequantised
    assert _runs_in_ort("QMoE", inputs, attrs) == (ROWS, hidden)


def test_a_decode_token_dequantises_only_its_k_experts():
    """One token reaches k = 2 of the 4 experts: only their weights are dequantised."""
    hidden, inter = 16, 8
    inputs = {"x": (1, hidden), "router": (1, E),
              "fc1": np.zeros((E, inter, hidden // 2), np.uint8), "s1": weight(E, inter),
              "fc1_b": None, "fc2": np.zeros((E, hidden, inter // 2), np.uint8), "s2": weight(E, hidden)}
    row = cost_op("QMoE", inputs, attrs={"k": K, "activation_type": "relu"})
    per_expert = hidden * inter + inter * hidden
    assert row.macs == K * per_expert
    projections = (2 * hidden - 1) * inter + (2 * inter - 1) * hidden
    router = (5 * E - 2 + E * 2) + hidden * (2 * K - 1)
    assert row.flops == K * (projections + inter) + router + K * per_expert * 2


@pytest.mark.parametrize("inputs, attrs, reason", [
    ({"x": (ROWS, H), "router": (ROWS, E), "fc1": weight(E, 6, 5), "fc1_b": None,
      "fc2": weight(E, H, 6)}, {"k": K}, "do not take 8 inputs"),
    ({"x": (ROWS, H), "router": (ROWS, E), "fc1": weight(E, 6, H), "fc1_b": None,
      "fc2": weight(E, H, 5)}, {"k": K}, "do not take 6 inputs"),
    ({"x": (ROWS, H), "router": (ROWS, E), "fc1": weight(E, 6, H), "fc1_b": None,
      "fc2": weight(E, H, 6)}, {"k": 5}, "k=5 of 4 experts"),
    ({"x": (ROWS, H), "router": (3, E), "fc1": weight(E, 6, H), "fc1_b": None,
      "fc2": weight(E, H, 6)}, {"k": K}, "no row per token"),
])
def test_inconsistent_nodes_are_refused_not_guessed(inputs, attrs, reason):
    (row,) = [r for r in run_op("MoE", inputs, attrs=attrs).layers if r.op == "com.microsoft.MoE"]
    assert row.status != "ok" and row.macs is None and reason in row.reason
