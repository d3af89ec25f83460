"""flopscope.memory: peak live activation bytes from a liveness walk, on graphs built by hand."""

from __future__ import annotations

from flopscope.graph import LayerGraph, Node, Tensor, nbytes
from flopscope.memory import peak_activation


def t(name, *shape, dtype="float32"):
    return Tensor(name, tuple(shape), dtype)


def node(name, inputs, outputs):
    return Node(name=name, op="Op", inputs=tuple(inputs), outputs=tuple(outputs))


def graph(inputs, outputs, nodes, constants=()):
    return LayerGraph(name="g", source="test", inputs=list(inputs), outputs=list(outputs),
                      nodes=list(nodes), constants=frozenset(constants))


X, A, B, C = t("x", 100), t("a", 200), t("b", 300), t("c", 50)   # 400, 800, 1200, 200 bytes


def test_chain_frees_each_tensor_after_its_last_reader():
    g = graph([X], [C], [node("n1", [X], [A]), node("n2", [A], [B]), node("n3", [B], [C])])
    peak = peak_activation(g)
    # n1: x+a = 1200; n2: a+b = 2000; n3: b+c = 1400
    assert (peak.bytes, peak.node, peak.unknown) == (2000, "n2", 0)


def test_a_tensor_read_later_stays_live_across_steps():
    # a is read by n1 and n3: it lives through n2, where b is written
    g = graph([X], [C], [node("n1", [X], [B]), node("n2", [X], [A]), node("n3", [A, B], [C])])
    # n1: x+b = 1600; n2: x+b+a = 2400, x freed; n3: a+b+c = 2200
    assert peak_activation(g).bytes == 2400
    assert peak_activation(g).node == "n2"


def test_graph_outputs_live_to_the_end_and_inputs_from_the_start():
    # x is also a graph output: it is never freed; a is an output of the first step
    g = graph([X], [A, X], [node("n1", [X], [A]), node("n2", [A], [B]), node("n3", [B], [C])])
    # n1: x+a = 1200; n2: x+a+b = 2400; n3: x+a+b+c = 2600 (c never read: freed after)
    assert peak_activation(g).bytes == 2600


def test_unused_graph_input_is_not_live():
    g = graph([X, t("unused", 10_000)], [A], [node("n1", [X], [A])])
    assert peak_activation(g).bytes == 1200


def test_output_nobody_reads_is_freed_after_its_step():
    g = graph([X], [B], [node("n1", [X], [A, t("mask", 1000, dtype="bool")]), node("n2", [A], [B])])
    # n1: x + a + mask(1000) = 2200; n2: a+b = 2000 (mask already gone)
    assert peak_activation(g).bytes == 2200


def test_constants_are_weights_not_activations():
    w = t("w", 10_000)
    g = graph([X], [B], [node("make_w", [], [w]), node("n1", [X, w], [A]), node("n2", [A], [B])],
              constants={"w"})
    assert peak_activation(g).bytes == 2000


def test_unknown_sizes_are_counted_apart():
    g = graph([X], [B], [node("n1", [X], [Tensor("a", ("N", 3), "float32")]),
                         node("n2", [Tensor("a", ("N", 3), "float32")], [B])])
    peak = peak_activation(g)
    assert peak.unknown == 1 and peak.bytes == 1200           # b at n2, a counted as 0, x freed


def test_value_read_but_never_produced_is_harmless():
    # a loop body's iteration variable: consumed, produced by no node in the flat list
    body_in = t("h_in", 100)
    g = graph([X], [A], [node("body", [body_in, X], [A])])
    assert peak_activation(g).bytes == 1200


def test_empty_graph():
    peak = peak_activation(graph([], [], []))
    assert (peak.bytes, peak.node, peak.unknown) == (0, "", 0)


def test_sizes_follow_dtype_bits():
    assert nbytes((10,), "float16") == 20
    assert nbytes((3,), "int4") == 2                         # 12 bits round up to 2 bytes
    assert nbytes((2, 2), "bool") == 4
    assert nbytes((2, "N"), "float32") is None and nbytes((2,), "mystery") is None
    g = graph([t("h", 8, dtype="float16")], [t("o", 8, dtype="int8")],
              [node("n", [t("h", 8, dtype="float16")], [t("o", 8, dtype="int8")])])
    assert peak_activation(g).bytes == 16 + 8
