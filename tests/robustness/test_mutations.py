"""Property: whatever a valid model is mutated into -- truncated, bit-flipped, dims made
zero, negative or huge, attributes rewritten, inputs removed, edges renamed into dangling
or cyclic ones, outputs duplicated, external-data locations pointed elsewhere --
``flopscope report`` answers with a report (exit 0) or one clean error line (exit 2),
in bounded time, and leaves the model's folder as it was."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import AttributeProto, GraphProto, ModelProto, TensorProto

from tests.robustness.helpers import (
    assert_clean,
    control_flow,
    conv_relu_gemm,
    run_cli,
    save_with_external_data,
    snapshot,
)

SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

#: sizes a hostile or broken file may declare
DIMS = st.one_of(st.sampled_from([0, 1, -1, -7, 2**31, 2**62, 2**63 - 1]), st.integers(-3, 300))
TEXT = st.text(alphabet="abxyN/._-\\:\n\x00é", max_size=12)
LOCATIONS = st.sampled_from(["../w.bin", "/etc/passwd", "sub/../../w.bin", "C:\\w.bin", "", "weights.bin",
                             "missing.bin", ".", "w\x00.bin", "a" * 300])
OPS = st.sampled_from(["Relu", "Conv", "Gemm", "MatMul", "Loop", "If", "Reshape", "LRN", "RNN", "Foo",
                       "Constant", "Concat", "Slice", "Resize", "Einsum", "TopK", "Identity"])
FLAGS = st.sampled_from([(), ("--dim", "N=3"), ("--input-shape", "x=2x3x8x8"), ("--input-shape", "x=1x4"),
                         ("--input-shape", "x=1x3x4611686018427387904x8"), ("--convention", "2mac"),
                         ("--format", "text"), ("--format", "csv"), ("--format", "markdown"),
                         ("--depth", "1"), ("--top", "2")])


def _graphs(graph: GraphProto) -> list[GraphProto]:
    """``graph`` and every subgraph inside it."""
    found = [graph]
    for node in graph.node:
        for a in node.attribute:
            for sub in [a.g] if a.type == AttributeProto.GRAPH else a.graphs:
                found += _graphs(sub)
    return found


def _value_infos(graph: GraphProto) -> list[onnx.ValueInfoProto]:
    return [*graph.input, *graph.output, *graph.value_info]


def _pick(seq, i):
    return seq[i % len(seq)] if len(seq) else None


@st.composite
def edits(draw):
    """One proto-level edit: (kind, graph index, item index, sub index, value)."""
    kind = draw(st.sampled_from(["dim", "dim_param", "init_dim", "attr_int", "attr_ints", "attr_float",
                                 "attr_text", "attr_drop", "drop_input", "rename_input", "dup_output",
                                 "op_type", "opset", "drop_graph_input", "drop_node", "location",
                                 "swap_nodes"]))
    value = {"dim": DIMS, "init_dim": DIMS, "attr_int": DIMS, "attr_ints": st.lists(DIMS, max_size=5),
             "attr_float": st.floats(allow_nan=True, allow_infinity=True, width=32),
             "attr_text": TEXT, "dim_param": TEXT, "rename_input": TEXT, "op_type": OPS,
             "opset": st.sampled_from([-1, 0, 1, 6, 9, 13, 17, 23, 28, 29, 1000]),
             "location": LOCATIONS}.get(kind, st.none())
    return kind, draw(st.integers(0, 50)), draw(st.integers(0, 50)), draw(st.integers(0, 8)), draw(value)


def apply(model: ModelProto, edit) -> None:
    kind, gi, i, j, value = edit
    graph = _pick(_graphs(model.graph), gi)
    node = _pick(graph.node, i)
    if kind in ("dim", "dim_param"):
        vi = _pick(_value_infos(graph), i)
        dims = vi.type.tensor_type.shape.dim if vi is not None else []
        if len(dims):
            if kind == "dim":
                dims[j % len(dims)].dim_value = value
            else:
                dims[j % len(dims)].dim_param = value
    elif kind == "init_dim":
        t = _pick(graph.initializer, i)
        if t is not None and len(t.dims):
            t.dims[j % len(t.dims)] = value
    elif kind.startswith("attr_") and node is not None and len(node.attribute):
        a = node.attribute[j % len(node.attribute)]
        if kind == "attr_drop":
            node.attribute.remove(a)
        elif kind == "attr_int":
            a.type, a.i = AttributeProto.INT, value
        elif kind == "attr_ints":
            a.type = AttributeProto.INTS
            a.ints[:] = value
        elif kind == "attr_float":
            a.type, a.f = AttributeProto.FLOAT, value
        else:
            a.type, a.s = AttributeProto.STRING, value.encode("utf-8")
    elif kind == "drop_input" and node is not None and len(node.input):
        del node.input[j % len(node.input)]
    elif kind == "rename_input" and node is not None and len(node.input):
        names = [o for n in graph.node for o in n.output] + [value]
        node.input[j % len(node.input)] = names[(i + j) % len(names)]   # later ones make cycles
    elif kind == "dup_output" and node is not None and len(node.output):
        other = _pick(graph.node, i + j + 1)
        node.output[0] = other.output[0] if len(other.output) else node.output[0]
    elif kind == "op_type" and node is not None:
        node.op_type = value
    elif kind == "opset":
        model.opset_import[0].version = value
    elif kind == "drop_graph_input" and len(graph.input):
        del graph.input[i % len(graph.input)]
    elif kind == "drop_node" and node is not None:
        graph.node.remove(node)
    elif kind == "swap_nodes" and len(graph.node) > 1:
        a, b = i % len(graph.node), j % len(graph.node)
        first, second = onnx.NodeProto(), onnx.NodeProto()
        first.CopyFrom(graph.node[a])
        second.CopyFrom(graph.node[b])
        graph.node[a].CopyFrom(second)
        graph.node[b].CopyFrom(first)
    elif kind == "location":
        external = [t for g in _graphs(model.graph) for t in g.initializer
                    if t.data_location == TensorProto.EXTERNAL]
        t = _pick(external, i)
        if t is not None:
            t.external_data[0].value = value


class Bases(dict):
    """name -> (path, pristine bytes), with a short repr for Hypothesis' failure reports."""

    def __repr__(self) -> str:
        return f"Bases({', '.join(self)})"


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    """Three valid models, each in its own folder: Conv/Relu/Gemm, Loop and If, and one
    with its weights in an external file."""
    found = Bases()
    for name, make in (("crg", conv_relu_gemm), ("flow", control_flow)):
        folder = tmp_path_factory.mktemp(name)
        path = folder / "model.onnx"
        onnx.save_model(make(), str(path))
        found[name] = (path, path.read_bytes())
    folder = tmp_path_factory.mktemp("ext")
    path = save_with_external_data(conv_relu_gemm("N"), folder, "model.onnx")
    found["ext"] = (path, path.read_bytes())
    for path, _ in found.values():
        assert run_cli("report", path).code == 0
    return found


def _check(path: Path, data: bytes, flags=()) -> None:
    path.write_bytes(data)
    before = snapshot(path.parent)
    outcome = run_cli("report", path, *flags)
    assert_clean(outcome)
    assert snapshot(path.parent) == before


@settings(max_examples=300, **SETTINGS)
@given(st.sampled_from(["crg", "flow", "ext"]), st.data())
def test_truncated_and_bit_flipped_files(bases, name, data):
    path, pristine = bases[name]
    raw = bytearray(pristine)
    if data.draw(st.booleans(), label="truncate"):
        raw = raw[:data.draw(st.integers(0, len(raw) - 1), label="length")]
    for _ in range(data.draw(st.integers(0 if raw != pristine else 1, 4), label="flips")):
        if raw:
            at = data.draw(st.integers(0, len(raw) - 1), label="at")
            raw[at] ^= data.draw(st.integers(1, 255), label="mask")
    _check(path, bytes(raw))


@settings(max_examples=1000, **SETTINGS)
@given(st.sampled_from(["crg", "flow", "ext"]), st.lists(edits(), min_size=1, max_size=3), FLAGS)
def test_proto_mutations(bases, name, changes, flags):
    path, pristine = bases[name]
    model = onnx.load_model_from_string(pristine)
    for edit in changes:
        apply(model, edit)
    try:
        data = model.SerializeToString()
    except Exception:               # protobuf refuses to write it (a NaN is fine, a bad enum is not)
        return
    _check(path, data, flags)

