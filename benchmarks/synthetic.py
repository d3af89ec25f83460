"""Generators of synthetic ONNX models for the scale benchmarks.

``chain(n)``: a residual CNN-like graph of about ``n`` nodes (Conv, Relu, Add blocks)
with real initializers. ``decoder(...)``: a transformer-decoder-shaped graph with about
7 billion parameters whose weights live in an external data file that is never written
(the analysis must not need it).

    python benchmarks/synthetic.py chain 10000 /tmp/chain10k.onnx
    python benchmarks/synthetic.py decoder /tmp/llm7b.onnx
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def chain(n_nodes: int, channels: int = 16) -> onnx.ModelProto:
    """A residual chain of 3-node blocks (Conv, Relu, Add) plus small weights."""
    nodes, inits = [], []
    x = "input"
    blocks = max(1, n_nodes // 3)
    rng = np.random.default_rng(0)
    for i in range(blocks):
        w = f"w{i}"
        inits.append(numpy_helper.from_array(
            rng.standard_normal((channels, channels, 3, 3)).astype(np.float32), w))
        nodes += [
            helper.make_node("Conv", [x, w], [f"c{i}"], name=f"/blocks/blocks.{i}/conv/Conv",
                             kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", [f"c{i}"], [f"r{i}"], name=f"/blocks/blocks.{i}/act/Relu"),
            helper.make_node("Add", [f"r{i}", x], [f"y{i}"], name=f"/blocks/blocks.{i}/Add"),
        ]
        x = f"y{i}"
    graph = helper.make_graph(
        nodes, "chain",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", channels, 32, 32])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["N", channels, 32, 32])],
        inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _external(name: str, shape: tuple[int, ...], offset: int, location: str) -> TensorProto:
    """An fp16 initializer whose bytes would live at ``offset`` in ``location``."""
    t = TensorProto()
    t.name = name
    t.data_type = TensorProto.FLOAT16
    t.dims.extend(shape)
    t.data_location = TensorProto.EXTERNAL
    size = int(np.prod(shape)) * 2
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(size))):
        entry = t.external_data.add()
        entry.key, entry.value = key, value
    return t


def decoder(layers: int = 32, hidden: int = 4096, ffn: int = 11008, vocab: int = 32000,
            heads: int = 32, seq: int = 128, location: str = "weights.bin") -> onnx.ModelProto:
    """A LLaMA-7B-shaped decoder (about 6.7 G parameters) with external fp16 weights."""
    nodes, inits = [], []
    offset = 0

    def weight(name: str, shape: tuple[int, ...]) -> str:
        nonlocal offset
        inits.append(_external(name, shape, offset, location))
        offset += int(np.prod(shape)) * 2
        return name

    d = hidden // heads
    nodes.append(helper.make_node("Gather", [weight("embed", (vocab, hidden)), "ids"], ["h0"],
                                  name="/embed/Gather"))
    x = "h0"
    for i in range(layers):
        p = f"/layers/layers.{i}"
        n = f"l{i}_"
        nodes += [
            helper.make_node("RMSNormalization", [x, weight(f"{n}ln1", (hidden,))], [n + "a"],
                             name=f"{p}/ln1/RMSNorm", axis=-1),
            helper.make_node("MatMul", [n + "a", weight(f"{n}wq", (hidden, hidden))], [n + "q"],
                             name=f"{p}/attn/q_proj/MatMul"),
            helper.make_node("MatMul", [n + "a", weight(f"{n}wk", (hidden, hidden))], [n + "k"],
                             name=f"{p}/attn/k_proj/MatMul"),
            helper.make_node("MatMul", [n + "a", weight(f"{n}wv", (hidden, hidden))], [n + "v"],
                             name=f"{p}/attn/v_proj/MatMul"),
            helper.make_node("Attention", [n + "q", n + "k", n + "v"], [n + "o"],
                             name=f"{p}/attn/Attention", q_num_heads=heads, kv_num_heads=heads,
                             is_causal=1),
            helper.make_node("MatMul", [n + "o", weight(f"{n}wo", (hidden, hidden))], [n + "p"],
                             name=f"{p}/attn/o_proj/MatMul"),
            helper.make_node("Add", [x, n + "p"], [n + "r1"], name=f"{p}/Add"),
            helper.make_node("RMSNormalization", [n + "r1", weight(f"{n}ln2", (hidden,))], [n + "b"],
                             name=f"{p}/ln2/RMSNorm", axis=-1),
            helper.make_node("MatMul", [n + "b", weight(f"{n}wg", (hidden, ffn))], [n + "g"],
                             name=f"{p}/mlp/gate_proj/MatMul"),
            helper.make_node("Sigmoid", [n + "g"], [n + "gs"], name=f"{p}/mlp/act/Sigmoid"),
            helper.make_node("Mul", [n + "g", n + "gs"], [n + "silu"], name=f"{p}/mlp/act/Mul"),
            helper.make_node("MatMul", [n + "b", weight(f"{n}wu", (hidden, ffn))], [n + "u"],
                             name=f"{p}/mlp/up_proj/MatMul"),
            helper.make_node("Mul", [n + "silu", n + "u"], [n + "m"], name=f"{p}/mlp/Mul"),
            helper.make_node("MatMul", [n + "m", weight(f"{n}wd", (ffn, hidden))], [n + "dn"],
                             name=f"{p}/mlp/down_proj/MatMul"),
            helper.make_node("Add", [n + "r1", n + "dn"], [f"h{i + 1}"], name=f"{p}/Add_1"),
        ]
        x = f"h{i + 1}"
    nodes += [
        helper.make_node("RMSNormalization", [x, weight("norm", (hidden,))], ["hn"],
                         name="/norm/RMSNorm", axis=-1),
        helper.make_node("MatMul", ["hn", weight("lm_head", (hidden, vocab))], ["logits"],
                         name="/lm_head/MatMul"),
    ]
    del d
    graph = helper.make_graph(
        nodes, "decoder",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", seq])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT16, ["batch", seq, vocab])],
        inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)])


def main(argv: list[str]) -> None:
    kind, *rest = argv
    if kind == "chain":
        size, out = int(rest[0]), Path(rest[1])
        onnx.save_model(chain(size), out)
    elif kind == "decoder":
        onnx.save_model(decoder(), Path(rest[0]))
    else:
        raise SystemExit(f"unknown kind {kind}: chain N OUT | decoder OUT")


if __name__ == "__main__":
    main(sys.argv[1:])
