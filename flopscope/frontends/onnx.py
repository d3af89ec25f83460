"""ONNX frontend: an ``.onnx`` file or a ``ModelProto`` -> :class:`LayerGraph`.

Weights are never read: the file is loaded with ``load_external_data=False`` and shape
inference runs on a payload-stripped copy, in which every large constant becomes a typed
graph input. Small constants (shapes, axes, scales) keep their values so that inference
and the rules can use them. Symbolic input dims are bound from the caller or to 1, and
the report says so.

Files nobody reviewed are expected: whatever is wrong with one (not protobuf, past the
2 GiB protobuf limit, names that are not UTF-8, external data pointing outside the
model's folder, negative or out-of-range sizes, a graph the checker refuses) becomes one
:class:`FlopscopeError` line; sizes that inference cannot give stay unknown, never guessed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from math import prod
from pathlib import Path
from typing import Any

from flopscope.errors import FlopscopeError, dim_hint, one_line, option
from flopscope.frontends import onnxcore, ortops, protoscan, quantised
from flopscope.frontends.external import check_external_data
from flopscope.frontends.onnxcore import AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto
from flopscope.graph import FLOAT_DTYPES, LayerGraph, Node, Tensor
from flopscope.sources import name_unnamed

#: files larger than this are read without their large tensor payloads (protoscan)
SCAN_SIZE = 16 * 2**20
#: constants with at most this many elements keep their payload in the stripped copy
SMALL_CONSTANT = 1024
#: and at most this many are handed to rules as values
VALUE_LIMIT = 64
#: a Loop trip count this large is an exporter's "no limit" (INT32_MAX / INT64_MAX), not a count
UNBOUNDED_TRIPS = 2**31 - 1
#: ONNX sizes are int64
INT64_MAX = 2**63 - 1
#: protobuf cannot parse a message of 2 GiB or more: larger models keep weights outside
PROTOBUF_LIMIT = 2**31

_DTYPE_NAMES = {"FLOAT": "float32", "DOUBLE": "float64"}
_DTYPE_ALIASES = {"float": "float32", "double": "float64", "half": "float16", "long": "int64",
                  "int": "int32"}

#: input name -> shape, or (shape, dtype name)
InputShapes = Mapping[str, Any]


@lru_cache(maxsize=64)
def dtype_name(elem_type: int) -> str:
    """IR dtype name of an ONNX element type (``1`` -> ``"float32"``)."""
    try:
        name = TensorProto.DataType.Name(elem_type)
    except ValueError:
        return "unknown"
    return _DTYPE_NAMES.get(name, name.lower())


# --------------------------------------------------------------------------- reading


def read_model(path: str | os.PathLike[str]) -> ModelProto:
    """Load an ONNX file's graph without its external data, or raise FlopscopeError."""
    p = Path(path)
    if not p.exists():
        raise FlopscopeError(f"{p}: no such file")
    if p.is_dir():
        raise FlopscopeError(f"{p}: is a directory, not an ONNX file")
    if not p.is_file():                 # a FIFO or a device would block or never end
        raise FlopscopeError(f"{p}: is not a regular file")
    if p.suffix.lower() in (".pt", ".pth", ".pkl", ".ckpt", ".bin"):
        raise FlopscopeError(
            f"{p}: looks like a pickled PyTorch checkpoint, which flopscope never unpickles; "
            "export it to ONNX or pass the model as path/to/file.py:factory")
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise FlopscopeError(f"{p}: cannot read ({exc.strerror})") from None
    if size == 0:
        raise FlopscopeError(f"{p}: is empty, not an ONNX model")
    if size >= PROTOBUF_LIMIT:
        raise FlopscopeError(
            f"{p}: {size:,} bytes is past protobuf's 2 GiB limit, so no ONNX reader can parse it; "
            "save the weights as external data (onnx.save_model(..., save_as_external_data=True)) "
            "and analyse the small .onnx file that remains")
    try:
        data = None
        if size > SCAN_SIZE:   # mostly weights: read the graph around them, never the payloads
            try:
                data, _ = protoscan.read_without_payloads(p)
            except protoscan.NotWorthIt:   # many small tensors: protobuf's parser is faster
                data = None
        if data is None:
            data = p.read_bytes()
        model = onnxcore.parse_model(data)
    except OSError as exc:
        raise FlopscopeError(f"{p}: cannot read ({exc.strerror or exc})") from None
    except Exception as exc:  # protobuf's DecodeError, protoscan's WireError and friends
        raise FlopscopeError(f"{p}: not a valid ONNX file (protobuf parse failed: "
                             f"{one_line(exc)})") from None
    _check_is_model(model, str(p))
    return model


def _check_is_model(model: ModelProto, where: str) -> None:
    if not model.HasField("graph") or model.ir_version <= 0:
        raise FlopscopeError(f"{where}: not an ONNX model (no graph or IR version)")
    if not model.graph.node:
        raise FlopscopeError(f"{where}: the ONNX graph has no nodes")
    _check_text(model, where)


def _check_text(model: ModelProto, where: str) -> None:
    """Refuse a model whose names are not UTF-8: protobuf hands such fields over as bytes,
    which every later step would trip over. One pass, a few field reads per node."""
    texts: list[Any] = [o.domain for o in model.opset_import]
    graphs = [model.graph]
    bodies = [f.node for f in model.functions]
    for f in model.functions:
        texts += (f.name, f.domain)
        texts += f.input
        texts += f.output
    while graphs or bodies:
        if graphs:
            g = graphs.pop()
            texts.append(g.name)
            for vi in (*g.input, *g.output, *g.value_info):
                texts.append(vi.name)
                texts += [d.dim_param for d in vi.type.tensor_type.shape.dim]
            for t in g.initializer:
                texts.append(t.name)
                texts += [e.value for e in t.external_data]
            texts += [sp.values.name for sp in g.sparse_initializer]
            nodes = g.node
        else:
            nodes = bodies.pop()
        for node in nodes:
            texts += (node.name, node.op_type, node.domain)
            texts += node.input
            texts += node.output
            for a in node.attribute:
                texts.append(a.name)
                if a.type == AttributeProto.GRAPH:
                    graphs.append(a.g)
                elif a.type == AttributeProto.GRAPHS:
                    graphs.extend(a.graphs)
            for prop in node.metadata_props:
                texts += (prop.key, prop.value)
        if set(map(type, texts)) - {str}:
            raise FlopscopeError(f"{where}: not a valid ONNX file (a name or string field is not UTF-8)")
        texts.clear()


# --------------------------------------------------------------------------- opsets


def _opsets(model: ModelProto, where: str) -> dict[str, int]:
    opsets: dict[str, int] = {}
    for entry in model.opset_import:
        opsets["" if entry.domain == "ai.onnx" else entry.domain] = entry.version
    newest = onnxcore.newest_opset()
    default = opsets.get("")
    if default is not None and not 1 <= default <= newest:
        raise FlopscopeError(f"{where}: opset {default} is not one this onnx "
                             f"({onnxcore.version()}) knows (1..{newest}); upgrade onnx")
    return opsets


@lru_cache(maxsize=4096)
def _schema_defaults(op: str, domain: str, version: int) -> tuple[tuple[str, Any], ...]:
    try:
        defaults = onnxcore.schema_defaults(op, version, domain)
    except onnxcore.SchemaError:
        return ()
    return tuple((name, _plain(onnxcore.attribute_value(a))) for name, a in defaults)


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return tuple(_plain(v) for v in value)
    return value


# --------------------------------------------------------------------------- stripping


@dataclass
class _Constants:
    """Every constant tensor of the model: shapes, dtypes and small values."""

    meta: dict[str, tuple[tuple[int, ...], str]] = field(default_factory=dict)
    values: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    #: outputs of Constant nodes that the stripped copy turned into graph inputs
    moved: set[str] = field(default_factory=set)
    #: Identity outputs of constants -> the constant they pass on
    aliases: dict[str, str] = field(default_factory=dict)
    #: constant tensors' ONNX element types (for the ONNX Runtime operators' stand-ins)
    elems: dict[str, int] = field(default_factory=dict)
    #: first outputs of ONNX Runtime operators that standard stand-ins replace in the copy
    replaced: set[str] = field(default_factory=set)
    #: what the stand-ins add to the copy
    rewrite: ortops.Rewrite = field(default_factory=ortops.Rewrite)
    #: the default domain's opset
    opset: int = 0
    #: the inference copy has nodes of its own, named with ``ortops.MARK`` (walks skip them)
    marked: bool = False


def _dims(dims: Any, name: str) -> tuple[int, ...]:
    """A constant tensor's dims, refused when one is negative (its size would be a lie)."""
    shape = tuple(int(d) for d in dims)
    if any(d < 0 for d in shape):
        raise FlopscopeError(f"invalid ONNX graph (tensor '{name}' has a negative dimension: {shape})")
    return shape


def _tensor_meta(t: TensorProto) -> tuple[tuple[int, ...], str]:
    return _dims(t.dims, t.name), dtype_name(t.data_type)


def _has_payload(t: TensorProto) -> bool:
    if prod(t.dims) == 0:   # an empty tensor (Resize's unused roi/scales) is complete as it is
        return t.data_location != TensorProto.EXTERNAL
    return t.data_location != TensorProto.EXTERNAL and (
        bool(t.raw_data) or any(len(getattr(t, f)) for f in (
            "float_data", "int32_data", "string_data", "int64_data", "double_data",
            "uint64_data")))


def _small_value(t: TensorProto) -> tuple[Any, ...] | None:
    if prod(t.dims) > VALUE_LIMIT or not _has_payload(t):
        return None
    try:
        return onnxcore.tensor_values(t, prod(t.dims))
    except Exception:
        return None


def _stripped_copy(model: ModelProto, consts: _Constants) -> ModelProto:
    """A copy of ``model`` for checking and shape inference, without large payloads.

    Large or external initializers and large Constant nodes become typed graph inputs
    (subgraph ones too: outer-scope names are visible inside subgraphs). Custom domains
    that the model uses without importing them get an opset import, as runtimes allow.
    """
    src = model.graph
    out = ModelProto()
    out.ir_version = model.ir_version
    out.opset_import.extend(model.opset_import)
    g = out.graph
    g.name = src.name
    g.input.extend(src.input)
    g.output.extend(src.output)
    moved: list[tuple[str, tuple[int, ...], int]] = []
    domains: set[str] = set()
    _strip_graph(src, g, moved, consts, domains)
    declared = {vi.name for vi in src.input}
    for name, shape, elem in moved:
        if name not in declared:
            g.input.append(onnxcore.value_info(name, elem, shape))
            declared.add(name)
    if consts.replaced:
        inits, fakes = ortops.constant_infos(consts.rewrite)
        g.initializer.extend(inits)
        g.input.extend(fakes)
        # an output a stand-in could not give (a kernel's rarely used extra output) stays
        # unknown rather than failing the checker
        made = {o for node in g.node for o in node.output} | {vi.name for vi in g.input} \
            | {t.name for t in g.initializer}
        if any(vi.name not in made for vi in g.output):
            kept = [vi for vi in g.output if vi.name in made]
            del g.output[:]
            g.output.extend(kept)
    g.value_info.extend(src.value_info)
    imported = {"" if o.domain == "ai.onnx" else o.domain for o in model.opset_import}
    for domain in sorted(domains - imported - {"ai.onnx"}):
        out.opset_import.append(onnxcore.opset(domain, 1))
    return out


def _strip_graph(src: GraphProto, dst: GraphProto, moved: list, consts: _Constants,
                 domains: set[str]) -> None:
    """Copy ``src``'s initializers and nodes into ``dst``, moving large constants out."""
    for t in src.initializer:
        consts.meta[t.name] = _tensor_meta(t)
        consts.elems[t.name] = t.data_type
        value = _small_value(t)
        if value is not None:
            consts.values[t.name] = value
        if prod(t.dims) <= SMALL_CONSTANT and _has_payload(t):
            dst.initializer.append(t)
        else:
            moved.append((t.name, tuple(t.dims), t.data_type))
    for sparse in src.sparse_initializer:   # counted at their dense shape
        name, elem = sparse.values.name, sparse.values.data_type
        consts.meta[name] = (_dims(sparse.dims, name), dtype_name(elem))
        consts.elems[name] = elem
        moved.append((name, tuple(sparse.dims), elem))
    for node in src.node:
        domains.add(node.domain)
        large = _large_constant(node)
        if large is not None:
            consts.moved.add(node.output[0])
            consts.elems[node.output[0]] = large[1]
            moved.append((node.output[0], *large))
            continue
        if node.domain not in ("", "ai.onnx") or node.op_type in ortops.ORT_DEFAULT_DOMAIN:
            standing = _stand_ins(node, consts)
            if standing is not None:
                consts.replaced.add(node.output[0])
                consts.marked = True
                dst.node.extend(standing)
                continue
        dst.node.append(node)
        if any(a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS) for a in node.attribute):
            for a in dst.node[-1].attribute:
                if a.type == AttributeProto.GRAPH:
                    _strip_subgraph(a.g, moved, consts, domains)
                elif a.type == AttributeProto.GRAPHS:
                    for sub in a.graphs:
                        _strip_subgraph(sub, moved, consts, domains)


def _strip_subgraph(sub: GraphProto, moved: list, consts: _Constants, domains: set[str]) -> None:
    """Strip a subgraph (already a copy) in place."""
    stripped = GraphProto()
    _strip_graph(sub, stripped, moved, consts, domains)
    del sub.initializer[:]
    sub.initializer.extend(stripped.initializer)
    del sub.sparse_initializer[:]
    del sub.node[:]
    sub.node.extend(stripped.node)


def _stand_ins(node: NodeProto, consts: _Constants) -> list[NodeProto] | None:
    """Standard nodes standing in for an ONNX Runtime operator in the inference copy
    (see :mod:`flopscope.frontends.ortops`), or None. A default-domain operator that the
    onnx package knows at the model's opset stays as it is."""
    if node.domain in ("", "ai.onnx") and _onnx_knows(node.op_type, consts.opset):
        return None
    if not ortops.has_stand_in(node.op_type, node.domain):
        return None
    attrs = {a.name: _simple_attribute(a) for a in node.attribute
             if a.type not in (AttributeProto.GRAPH, AttributeProto.GRAPHS, AttributeProto.TENSOR,
                               AttributeProto.TENSORS, AttributeProto.SPARSE_TENSOR)}
    meta = _ElemMeta(consts)
    return ortops.stand_ins(node, attrs, consts.opset, meta, consts.rewrite)


class _ElemMeta(Mapping[str, tuple[tuple[int, ...], int]]):
    """Constant tensors as (shape, ONNX element type), read from a :class:`_Constants`."""

    def __init__(self, consts: _Constants) -> None:
        self.consts = consts

    def __getitem__(self, name: str) -> tuple[tuple[int, ...], int]:
        return self.consts.meta[name][0], self.consts.elems[name]

    def __contains__(self, name: object) -> bool:
        return name in self.consts.meta and name in self.consts.elems

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return self[name] if name in self else default

    def __iter__(self) -> Any:
        return iter(self.consts.elems)

    def __len__(self) -> int:
        return len(self.consts.elems)


@lru_cache(maxsize=256)
def _onnx_knows(op: str, opset: int) -> bool:
    """True when the onnx package has a default-domain schema for ``op`` at ``opset``."""
    try:
        onnxcore.schema_defaults(op, opset, "")
    except onnxcore.SchemaError:
        return False
    return True


def _initializer_names(graph: GraphProto) -> list[str]:
    """Names of a graph's dense and sparse initializers."""
    return [t.name for t in graph.initializer] + [t.values.name for t in graph.sparse_initializer]


def _large_constant(node: NodeProto) -> tuple[tuple[int, ...], int] | None:
    """Shape and element type of a Constant node's output when it is too large to keep."""
    if node.op_type != "Constant" or node.domain not in ("", "ai.onnx") or not node.output:
        return None
    for a in node.attribute:
        if a.name == "value" and a.type == AttributeProto.TENSOR:
            shape, elem = _dims(a.t.dims, node.output[0]), a.t.data_type
        elif a.name == "value_floats":
            shape, elem = (len(a.floats),), TensorProto.FLOAT
        elif a.name == "value_ints":
            shape, elem = (len(a.ints),), TensorProto.INT64
        else:
            continue
        return (shape, elem) if prod(shape) > SMALL_CONSTANT else None
    return None


# --------------------------------------------------------------------------- ordering


class _Unsorted(Exception):
    """The checker found a node reading a value no earlier node produced."""


def _sorted_copy(model: ModelProto, where: str) -> tuple[ModelProto, int]:
    """A copy of ``model`` with every graph's nodes in topological order (ONNX Runtime
    sorts them itself, so files with unsorted nodes run), and how many nodes moved. Only
    called when the checker complains, so sorted files pay nothing. A cycle is an error."""
    copy = ModelProto()
    copy.CopyFrom(model)
    return copy, _sort_graph(copy.graph, where)


def _subgraphs(node: NodeProto) -> list[GraphProto]:
    out: list[GraphProto] = []
    for a in node.attribute:
        if a.type == AttributeProto.GRAPH:
            out.append(a.g)
        elif a.type == AttributeProto.GRAPHS:
            out.extend(a.graphs)
    return out


def _subgraph_reads(node: NodeProto) -> set[str]:
    """Names a node's subgraphs read from the enclosing scopes (their own excluded)."""
    reads: set[str] = set()
    for sub in _subgraphs(node):
        own = {vi.name for vi in sub.input} | set(_initializer_names(sub))
        for inner in sub.node:
            own.update(inner.output)
        for inner in sub.node:
            reads.update(n for n in inner.input if n and n not in own)
            reads.update(n for n in _subgraph_reads(inner) if n not in own)
    return reads


def _reads(node: NodeProto) -> list[str]:
    names = [n for n in node.input if n]
    if any(a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS) for a in node.attribute):
        names += sorted(_subgraph_reads(node))
    return names


def _sort_graph(graph: GraphProto, where: str) -> int:
    """Sort ``graph``'s nodes (and its subgraphs') in place, keeping the file's order where
    it is free to; return how many nodes changed place."""
    import heapq

    nodes = list(graph.node)
    moved = 0
    for node in nodes:
        for sub in _subgraphs(node):
            moved += _sort_graph(sub, where)
    producer = {o: i for i, n in enumerate(nodes) for o in n.output if o}
    waiting = [0] * len(nodes)
    users: list[list[int]] = [[] for _ in nodes]
    for i, node in enumerate(nodes):
        for j in {producer[name] for name in _reads(node) if name in producer}:
            waiting[i] += 1
            users[j].append(i)
    ready = [i for i, count in enumerate(waiting) if count == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for k in users[i]:
            waiting[k] -= 1
            if waiting[k] == 0:
                heapq.heappush(ready, k)
    if len(order) != len(nodes):
        stuck = next(nodes[i] for i, count in enumerate(waiting) if count)
        raise FlopscopeError(f"{where}: invalid ONNX graph (nodes cannot be topologically sorted: "
                             f"node '{stuck.name or stuck.op_type}' is on a cycle or waits on one)")
    moved += sum(1 for position, i in enumerate(order) if position != i)
    del graph.node[:]
    graph.node.extend(nodes[i] for i in order)
    return moved


# --------------------------------------------------------------------------- binding


def _dims_of(vi: onnxcore.ValueInfoProto) -> list[int | str | None] | None:
    tt = vi.type.tensor_type
    if not vi.type.HasField("tensor_type") or not tt.HasField("shape"):
        return None
    # dim_value is 0 when unset: only then ask which field is set (HasField is slow)
    return [d.dim_value or (0 if d.HasField("dim_value") else (d.dim_param or None))
            for d in tt.shape.dim]


@dataclass
class _Binding:
    """What binding the inputs did to the stripped copy's declared shapes."""

    #: symbolic dim -> the size it was bound to (declared shapes elsewhere use it too)
    symbols: dict[str, int] = field(default_factory=dict)
    #: a declared size was replaced, an input had no shape, or a symbol got two sizes:
    #: declared intermediate and output shapes may no longer hold
    resized: bool = False
    #: input name -> its declared shape, for the inputs given a size other than declared
    changed: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    def bind(self, symbol: str, size: int) -> None:
        if self.symbols.setdefault(symbol, size) != size:
            self.resized = True


def _given(name: str, value: Any) -> tuple[tuple[int, ...], str | None]:
    """An ``input_shapes`` entry -> (shape, dtype or None); the CLI passes ``(shape, dtype)``
    for ``--input-shape x=1x128:int64``."""
    if isinstance(value, (tuple, list)) and len(value) == 2 and isinstance(value[1], str) \
            and isinstance(value[0], (tuple, list)):
        return tuple(value[0]), value[1]
    try:
        return tuple(value), None
    except TypeError:
        raise FlopscopeError(f"input shape for '{name}' must be a sequence of sizes, "
                             f"not {value!r}") from None


def _elem_type(dtype: str) -> int | None:
    """ONNX element type of a dtype name (``"float32"``, ``"int64"``, ``"float"``...)."""
    want = _DTYPE_ALIASES.get(dtype.lower(), dtype.lower())
    for elem in TensorProto.DataType.values():
        if elem and dtype_name(elem) == want:
            return elem
    return None


def _bind_inputs(graph: GraphProto, real_inputs: list[str], input_shapes: InputShapes,
                 dims: Mapping[str, int], notes: list[str]) -> _Binding:
    """Write concrete dims (and given dtypes) into the stripped graph's inputs."""
    by_name = {vi.name: vi for vi in graph.input}
    unknown = sorted(set(input_shapes) - set(real_inputs))
    if unknown:
        raise FlopscopeError(f"{option('input_shapes', '--input-shape')} names "
                             f"{', '.join(map(repr, unknown))}, but the "
                             f"model's inputs are {', '.join(map(repr, real_inputs)) or 'none'}")
    declared_all = {name: _dims_of(by_name[name]) for name in real_inputs}
    symbols = {d for declared in declared_all.values() for d in declared or () if isinstance(d, str)}
    stray = sorted(set(dims) - symbols)
    if stray:
        have = ("symbolic dims " + ", ".join(map(repr, sorted(symbols)))) if symbols else "no symbolic dims"
        raise FlopscopeError(f"{option('dims', '--dim')} names {', '.join(map(repr, stray))}, but "
                             f"the model's inputs "
                             f"have {have}")
    binding = _Binding()
    defaulted: dict[str, list[str]] = {}
    for name in sorted(real_inputs, key=lambda n: n not in input_shapes):  # given shapes first
        vi = by_name[name]
        declared = declared_all[name]
        if name not in input_shapes and not vi.type.HasField("tensor_type"):
            continue                        # a sequence or map input: nothing to bind
        if name in input_shapes:
            given, dtype = _given(name, input_shapes[name])
            if declared is not None and len(declared) != len(given):
                raise FlopscopeError(
                    f"input shape {name}={'x'.join(map(str, given)) or 'scalar'} does not fit the "
                    f"model: '{name}' has rank {len(declared)} "
                    f"({'x'.join(str(d) if d is not None else '?' for d in declared) or 'scalar'})")
            if dtype is not None:
                _bind_dtype(vi, name, dtype)
            changed = declared is not None and any(
                isinstance(d, int) and d != g for d, g in zip(declared, given))
            binding.resized |= declared is None or changed
            if changed:
                binding.changed[name] = tuple(declared)  # type: ignore[arg-type]
            for d, g in zip(declared or (), given):
                if isinstance(d, str) and type(g) is int:
                    binding.bind(d, g)
            resolved = list(given)
        else:
            if declared is None:
                raise FlopscopeError(
                    f"input '{name}' has no declared shape; give "
                    + option(f"input_shapes={{'{name}': (...)}}", f"--input-shape {name}=..."))
            resolved = []
            for axis, d in enumerate(declared):
                if isinstance(d, int):
                    resolved.append(d)
                elif d is not None and d in dims:
                    resolved.append(dims[d])
                    binding.bind(d, dims[d])
                elif d is not None:
                    resolved.append(binding.symbols.get(d, 1))
                    if d not in binding.symbols:
                        defaulted.setdefault(d, []).append(name)
                        binding.bind(d, 1)
                else:
                    raise FlopscopeError(
                        f"input '{name}' dim {axis} has no size or name; give "
                        + option(f"input_shapes={{'{name}': (...)}}", f"--input-shape {name}=" + "x".join(
                            str(x) if isinstance(x, int) else "?" for x in declared)))
        for n in resolved:
            if type(n) is not int or n < 0:
                raise FlopscopeError(f"input '{name}': dimension {n!r} is not a size")
            if n > INT64_MAX:
                raise FlopscopeError(f"input '{name}': dimension {n} is past ONNX's 64-bit sizes")
        shape = vi.type.tensor_type.shape
        shape.ClearField("dim")
        for n in resolved:
            shape.dim.add().dim_value = n
    for sym, names in defaulted.items():
        notes.append(f"symbolic dim '{sym}' (input {', '.join(names)}) bound to 1; "
                     f"use {dim_hint(sym)} to choose")
    return binding


def _bind_dtype(vi: onnxcore.ValueInfoProto, name: str, dtype: str) -> None:
    elem = _elem_type(dtype)
    if elem is None:
        raise FlopscopeError(f"input '{name}': unknown dtype '{dtype}'")
    declared = vi.type.tensor_type.elem_type
    if declared and declared != elem:
        raise FlopscopeError(f"input '{name}' is {dtype_name(declared)} in the model, "
                             f"not {dtype_name(elem)}")
    vi.type.tensor_type.elem_type = elem


def _loosen_outputs(graph: GraphProto, resized: bool) -> None:
    """Let inference decide the stripped copy's output shapes where the declared ones cannot
    hold: outputs without a shape are dropped (the checker wants one on every graph output;
    inference still records them as values), and after a resize every output keeps only
    its rank, and so does every input and output of a subgraph (a loop body declared for
    batch 1 would otherwise keep batch 1, or clash with the new size)."""
    keep = []
    for vi in graph.output:
        tt = vi.type.tensor_type
        if vi.type.HasField("tensor_type") and not tt.HasField("shape"):
            continue
        if resized:
            _keep_rank_only(vi)
        keep.append(vi)
    if len(keep) != len(graph.output):
        del graph.output[:]
        graph.output.extend(keep)
    if resized:
        _loosen_subgraphs(graph)


def _loosen_subgraphs(graph: GraphProto) -> None:
    for node in graph.node:
        for a in node.attribute:
            for sub in [a.g] if a.type == AttributeProto.GRAPH else a.graphs:
                del sub.value_info[:]
                for vi in (*sub.input, *sub.output):
                    _keep_rank_only(vi)
                _loosen_subgraphs(sub)


def _keep_rank_only(vi: onnxcore.ValueInfoProto) -> None:
    tt = vi.type.tensor_type
    if vi.type.HasField("tensor_type") and tt.HasField("shape"):
        rank = len(tt.shape.dim)
        tt.shape.ClearField("dim")
        for _ in range(rank):
            tt.shape.dim.add()


# --------------------------------------------------------------------------- inference


def _infer(stripped: ModelProto, where: str, shapes_given: bool, notes: list[str]) -> ModelProto:
    """Check the stripped copy and infer its shapes. Declared shapes that contradict
    inference (an input edited to a new batch size, outputs left as they were) give way to
    the inferred ones; failing that, inference runs leniently and says where it stopped."""
    try:
        onnxcore.check_model(stripped)
    except UnicodeDecodeError:          # the checker quotes a name that is not UTF-8
        raise FlopscopeError(f"{where}: invalid ONNX graph (a name or string is not valid UTF-8)") from None
    except onnxcore.ValidationError as exc:
        message = one_line(exc)
        if "topologically sorted" in message:
            raise _Unsorted(message) from None
        if "in initializer but not in graph input" in message and stripped.ir_version < 4:
            # ONNX Runtime's optimizer adds initializers (fused Conv+BN weights) to an IR < 4
            # file without listing them as graph inputs, and ONNX Runtime loads the result:
            # check the copy under IR 4, where initializers need not be inputs
            stripped.ir_version = 4
            notes.append("initializers not listed as graph inputs, which IR version < 4 "
                         "requires (as ONNX Runtime's optimizer writes them): analysed as IR 4")
            return _infer(stripped, where, shapes_given, notes)
        if "is deprecated in domain_version" not in message:
            raise FlopscopeError(f"{where}: invalid ONNX graph ({message})") from None
        # runtimes still execute deprecated ops (GroupNormalization-18): analyse, and say so
        notes.append(f"the graph uses a deprecated operator version ({message})")
    try:
        return _infer_shapes(stripped, strict=True)
    except onnxcore.InferenceError as exc:
        first = one_line(exc)
    loose = ModelProto()
    loose.CopyFrom(stripped)
    del loose.graph.value_info[:]
    _loosen_outputs(loose.graph, resized=True)
    try:
        inferred = _infer_shapes(loose, strict=True)
    except onnxcore.InferenceError:
        if shapes_given:
            raise FlopscopeError(f"{where}: the input shapes given do not fit the model "
                                 f"({first})") from None
        notes.append(f"shape inference stopped early ({first}); "
                     "nodes after that point may be marked shape-unknown")
    else:
        notes.append(f"declared shapes contradict shape inference ({first}); inferred shapes used")
        return inferred
    try:
        return _infer_shapes(stripped, strict=False)
    except Exception as exc:
        raise FlopscopeError(f"{where}: shape inference failed ({one_line(exc)})") from None


def _unknown_shapes(graph: GraphProto, table: Mapping[str, Tensor]) -> bool:
    """True when a top-level node output (not of a data-dependent op) has no static shape."""
    return any(o and (o not in table or not table[o].static)
               for n in graph.node if n.op_type not in _DATA_DEPENDENT for o in n.output)


def _fold_shape_arithmetic(stripped: ModelProto, inferred: ModelProto, symbols: Mapping[str, int],
                           notes: list[str], consts: _Constants) -> tuple[ModelProto, dict[str, Tensor]]:
    """While top-level outputs lack a static shape, fold the shape arithmetic that
    inference could not follow (see :mod:`flopscope.frontends.fold`) and infer again.
    Returns the inferred model and its top-level tensor table."""
    table = _value_infos(inferred.graph, symbols)
    if not _unknown_shapes(inferred.graph, table):
        return inferred, table
    from onnx import numpy_helper

    from flopscope.frontends import fold

    values = {t.name: numpy_helper.to_array(t) for t in stripped.graph.initializer
              if prod(t.dims) <= fold.MAX_ELEMENTS and _has_payload(t)}
    for node in stripped.graph.node:
        if node.op_type == "Constant" and node.output and node.attribute \
                and node.attribute[0].name == "value" and prod(node.attribute[0].t.dims) <= fold.MAX_ELEMENTS:
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    total = 0
    # each round folds what the shapes known so far allow, and inference carries the new
    # shapes on to the next Reshape: a network of n reshaping blocks takes n rounds
    for _ in range(len(stripped.graph.node)):
        shapes = {name: t.shape for name, t in table.items() if t.static}
        count = fold.fold(stripped.graph, shapes, values, consts.opset)  # type: ignore[arg-type]
        consts.marked |= bool(count)
        if not count:
            break
        total += count
        try:
            inferred = _infer_shapes(stripped, strict=False)
        except Exception:
            break
        table = _value_infos(inferred.graph, symbols)
        if not _unknown_shapes(inferred.graph, table):
            break
    if total:
        notes.append(f"{total} shape computation(s) folded to constants so that the shapes after "
                     "them are known")
    return inferred, table


#: ops whose output shape depends on tensor values: unknown shapes there are expected
_DATA_DEPENDENT = frozenset({"NonZero", "Unique", "NonMaxSuppression", "Compress", "TopK"})


def _infer_shapes(model: ModelProto, strict: bool) -> ModelProto:
    try:
        return onnxcore.infer_shapes(model, strict=strict)
    except UnicodeDecodeError:          # an error message quoting a name that is not UTF-8
        raise onnxcore.InferenceError("a name or string is not valid UTF-8") from None


def _value_infos(graph: GraphProto, symbols: Mapping[str, int]) -> dict[str, Tensor]:
    """Tensor records of a graph's inputs, values and outputs; bound symbols resolved."""
    table: dict[str, Tensor] = {}
    for vi in (*graph.input, *graph.value_info, *graph.output):
        t = vi.type
        if t.HasField("tensor_type"):
            dims = _dims_of(vi)
            # a negative size is inference overflowing on absurd dims: unknown, not a size
            shape = None if dims is None else tuple(
                (d if d >= 0 else "?") if type(d) is int else symbols.get(d, d) if d is not None
                else "?" for d in dims)
            table[vi.name] = Tensor(vi.name, shape, dtype_name(t.tensor_type.elem_type))
        elif t.HasField("sequence_type"):
            table[vi.name] = Tensor(vi.name, None, "sequence")
        elif t.HasField("optional_type"):
            table[vi.name] = Tensor(vi.name, None, "optional")
    return table


# --------------------------------------------------------------------------- walking

_SCOPE_SPLIT = re.compile(r"/+")


def module_from_name(name: str) -> str:
    """Module path from an exporter's node name: ``/layer1/layer1.0/conv1/Conv`` -> ``layer1.0.conv1``.

    Scope components are either a module's full path (``layer1.0``) or its attribute
    name under the previous component (``conv1``); the last component is the op.
    """
    parts = [p for p in _SCOPE_SPLIT.split(name) if p]
    if len(parts) < 2 or not name.startswith("/"):
        return ""
    return _module_of_scope(tuple(parts[:-1]))


@lru_cache(maxsize=65536)
def _module_of_scope(scope: tuple[str, ...]) -> str:
    """The module path of a node name's scope components; nodes of one module share it,
    so it is worked out once per module."""
    path = ""
    for part in scope:
        if path and part.startswith(path + "."):
            path = part
        elif path:
            path = f"{path}.{part}"
        else:
            path = part
    return path


def _module_of(node: NodeProto, classes: dict[str, str] | None = None) -> str:
    """The module path of ``node``; module classes named on the way go into ``classes``.

    A Conv into which torch.onnx's optimiser folded a BatchNorm carries the BatchNorm's
    scope; it belongs to the convolution, whose module its weight is named after
    (``conv1.weight`` -> ``conv1``).
    """
    props = {prop.key: prop.value for prop in node.metadata_props}
    namespace = props.get("namespace")
    if namespace is None:
        return module_from_name(node.name)
    # torch.onnx (dynamo): ": Net/layer1.0: BasicBlock/layer1.0.conv1: Conv2d/conv2d:
    # aten.conv2d.default" -- module paths, then the op itself, which is no module
    pairs = [s.partition(":") for s in namespace.split("/")[:-1]]
    if classes is not None:
        for path, _, cls in pairs:
            if cls.strip():
                classes.setdefault(path.strip(), cls.strip().rpartition(".")[2])
    rewrites = [r.strip() for r in props.get(_REWRITE_RULE, "").split(",")]
    if _FUSED_BN in rewrites and len(node.input) > 1 and node.input[1].endswith(".weight"):
        return node.input[1].removesuffix(".weight")
    scopes = [path.strip() for path, _, _ in pairs if path.strip()]
    return scopes[-1] if scopes else ""


#: the metadata key naming the onnxscript rewrites that made a node (comma-separated), and
#: the BatchNorm fusion
_REWRITE_RULE = "pkg.onnxscript.rewriter.rule_name"
_FUSED_BN = "FuseBatchNormIntoConv"


@dataclass
class _Walk:
    opsets: dict[str, int]
    consts: _Constants
    symbols: dict[str, int]
    nodes: list[Node] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    consumed: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    alternatives: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: module path -> class name, from the class scopes of dynamo exports
    modules: dict[str, str] = field(default_factory=dict)
    #: per base name, the last suffix handed out (linear time however many nodes share it)
    suffixes: dict[str, int] = field(default_factory=dict)

    def unique(self, name: str) -> str:
        base, k = name, self.suffixes.get(name, 1)
        while name in self.names:
            k += 1
            name = f"{base}#{k}"
        self.suffixes[base] = k
        self.names.add(name)
        return name


def _attrs(node: NodeProto, opset: int) -> tuple[dict[str, Any], list[tuple[str, GraphProto]]]:
    values = dict(_schema_defaults(node.op_type, node.domain, opset))
    graphs: list[tuple[str, GraphProto]] = []
    for a in node.attribute:
        if a.type == AttributeProto.GRAPH:
            graphs.append((a.name, a.g))
            values[a.name] = a.g.name or a.name
        elif a.type == AttributeProto.GRAPHS:
            graphs.extend((f"{a.name}[{i}]", g) for i, g in enumerate(a.graphs))
            values[a.name] = tuple(g.name for g in a.graphs)
        elif a.type == AttributeProto.TENSOR:
            values[a.name] = ("tensor", tuple(a.t.dims), dtype_name(a.t.data_type))
        elif a.type == AttributeProto.SPARSE_TENSOR:    # the dense shape, not the values'
            values[a.name] = ("tensor", tuple(a.sparse_tensor.dims),
                              dtype_name(a.sparse_tensor.values.data_type))
        elif a.type == AttributeProto.TENSORS:
            values[a.name] = tuple(("tensor", tuple(t.dims), dtype_name(t.data_type))
                                   for t in a.tensors)
        else:
            values[a.name] = _simple_attribute(a)
    return values, graphs


_A = AttributeProto
#: plain attribute types -> their value as Python data (helper.get_attribute_value, faster)
_SIMPLE: dict[int, Any] = {
    _A.INT: lambda a: a.i,
    _A.FLOAT: lambda a: a.f,
    _A.STRING: lambda a: a.s.decode("utf-8", "replace"),
    _A.INTS: lambda a: tuple(a.ints),
    _A.FLOATS: lambda a: tuple(a.floats),
    _A.STRINGS: lambda a: tuple(s.decode("utf-8", "replace") for s in a.strings),
}


def _simple_attribute(a: AttributeProto) -> Any:
    convert = _SIMPLE.get(a.type)
    return convert(a) if convert is not None else _plain(onnxcore.attribute_value(a))


def _constant_node_output(node: NodeProto,
                          attrs: dict[str, Any]) -> tuple[tuple[int, ...] | None, str, tuple | None]:
    """Shape, dtype and small value of a Constant node's output."""
    for key, elem in (("value_float", "float32"), ("value_int", "int64")):
        if key in attrs:
            return (), elem, (attrs[key],)
    for key, elem in (("value_floats", "float32"), ("value_ints", "int64")):
        if key in attrs:
            v = tuple(attrs[key])
            return (len(v),), elem, v if len(v) <= VALUE_LIMIT else None
    for a in node.attribute:
        if a.name == "value":
            return _dims(a.t.dims, node.output[0]), dtype_name(a.t.data_type), _small_value(a.t)
        if a.name == "sparse_value":
            return (_dims(a.sparse_tensor.dims, node.output[0]),
                    dtype_name(a.sparse_tensor.values.data_type), None)
    return None, "unknown", None


def _walk(graph: GraphProto, inferred: GraphProto, scope: list[dict[str, Tensor]], w: _Walk,
          prefix: str, module: str, repeat: int, branch: tuple[str, ...],
          table: dict[str, Tensor] | None = None) -> dict[str, Tensor]:
    """Append ``graph``'s nodes (subgraphs first, then their node) to ``w.nodes``; return the
    graph's own table of tensors (``table``: the inferred graph's, when already made)."""
    table = _value_infos(inferred, w.symbols) if table is None else table
    for init_name in _initializer_names(graph):
        shape, dtype = w.consts.meta[init_name]
        table[init_name] = Tensor(init_name, shape, dtype)
    scope = [table, *scope]

    def lookup(name: str) -> Tensor:
        for level in scope:
            if name in level:
                return level[name]
        return Tensor(name, None, "unknown")

    inferred_nodes = iter([n for n in inferred.node if not n.name.startswith(ortops.MARK)]
                          if w.consts.marked else inferred.node)
    for proto in graph.node:
        opset = _proto_opset(w, proto)
        attrs, subgraphs = _attrs(proto, opset)
        is_default = proto.domain in ("", "ai.onnx")
        in_names, out_names = list(proto.input), list(proto.output)
        if is_default and proto.op_type == "Constant" and out_names:
            shape, dtype, value = _constant_node_output(proto, attrs)
            out = out_names[0]
            table[out] = Tensor(out, shape, dtype) if shape is not None else lookup(out)
            w.consts.meta[out] = (shape or (), dtype)
            if value is not None:
                w.consts.values[out] = value
        if out_names and (out_names[0] in w.consts.moved or out_names[0] in w.consts.replaced):
            inferred_proto = None                   # an input, or stand-ins, in the copy
        else:
            inferred_proto = next(inferred_nodes, None)
        if is_default and proto.op_type == "ConstantOfShape" and in_names \
                and in_names[0] in w.consts.meta:
            out = lookup(out_names[0])
            if out.static:
                w.consts.meta[out_names[0]] = (out.shape, out.dtype)  # type: ignore[assignment]

        meta, known = w.consts.meta, w.consts.values
        if is_default and proto.op_type == "Identity" and in_names and in_names[0] in meta \
                and out_names:   # exporters share equal weights through Identity nodes
            w.consts.aliases[out_names[0]] = w.consts.aliases.get(in_names[0], in_names[0])
            meta[out_names[0]] = meta[in_names[0]]
            if in_names[0] in known:
                known[out_names[0]] = known[in_names[0]]
        inputs = tuple(lookup(n) if n else None for n in in_names)
        outputs = tuple(lookup(n) if n else None for n in out_names)
        weights = frozenset(i for i, n in enumerate(in_names) if n in meta)
        values = {i: known[n] for i, n in enumerate(in_names) if n in known}
        w.consumed.update(in_names)
        name = w.unique(prefix + (proto.name or f"{proto.op_type}_{len(w.nodes)}"))
        node_module = module or _module_of(proto, w.modules)

        if subgraphs and inferred_proto is not None:
            inner_repeat, branches = _control_flow(proto, inputs, values, attrs, name, w)
            inferred_graphs = dict(_attrs(inferred_proto, opset)[1])
            for key, sub in subgraphs:
                if branches is not None and key not in branches:
                    continue
                sub_branch = branch + ((f"{name}:{key}",) if branches and len(branches) > 1 else ())
                _walk(sub, inferred_graphs.get(key, sub), scope, w, f"{name}/", node_module,
                      repeat * inner_repeat, sub_branch)
        w.nodes.append(Node(
            name=name, op=proto.op_type, inputs=inputs, outputs=outputs,
            attrs=attrs, domain="" if is_default else proto.domain, module=node_module,
            weights=weights, values=values, opset=opset, repeat=repeat, branch=branch))
    return table


def _control_flow(proto: NodeProto, inputs: tuple[Tensor | None, ...],
                  values: dict[int, tuple], attrs: dict[str, Any], name: str,
                  w: _Walk) -> tuple[int, tuple[str, ...] | None]:
    """How often the bodies of If / Loop / Scan run, and which If branches to walk."""
    op = proto.op_type
    if op == "If":
        cond = values.get(0)
        if cond is not None and len(cond) == 1:
            taken = "then_branch" if cond[0] else "else_branch"
            w.notes.append(f"If '{name}': condition is constant, only {taken} costed")
            return 1, (taken,)
        w.alternatives[name] = ("then_branch", "else_branch")
        return 1, ("then_branch", "else_branch")
    if op == "Loop":
        trip = values.get(0)
        if trip is not None and len(trip) == 1 and int(trip[0]) < UNBOUNDED_TRIPS:
            return max(int(trip[0]), 0), None
        w.notes.append(f"Loop '{name}': trip count unknown, body costed for one iteration")
        return 1, None
    if op == "Scan":
        n_scan = attrs.get("num_scan_inputs", 0)
        scan_inputs = inputs[len(inputs) - n_scan:] if n_scan else ()
        first = scan_inputs[0] if scan_inputs else None
        if first is not None and first.static and first.shape:
            shape: tuple[int, ...] = first.shape  # type: ignore[assignment]
            if _proto_opset(w, proto) < 9:      # Scan-8: [batch, sequence, ...], body per item
                if len(shape) >= 2:
                    return shape[0] * shape[1], None
            else:
                axis = (attrs.get("scan_input_axes") or (0,))[0]
                if -len(shape) <= axis < len(shape):
                    return shape[axis], None
        w.notes.append(f"Scan '{name}': sequence length unknown, body costed for one iteration")
        return 1, None
    return 1, None


def _proto_opset(w: _Walk, proto: NodeProto) -> int:
    """The opset version ``proto``'s domain is imported at."""
    return w.opsets.get("" if proto.domain == "ai.onnx" else proto.domain, 0)


# --------------------------------------------------------------------------- entry point


def load(source: str | os.PathLike[str] | ModelProto, *, input_shapes: InputShapes | None = None,
         dims: Mapping[str, int] | None = None, name: str | None = None) -> LayerGraph:
    """Build the :class:`LayerGraph` of an ONNX model without reading its weights.

    ``input_shapes`` binds whole inputs (``{"data": (1, 3, 224, 224)}``; the key ``""``
    means the model's only input), ``dims`` binds symbolic dims by name (``{"N": 8}``);
    any symbolic dim left is bound to 1 and noted.

    >>> graph = load("model.onnx", dims={"N": 8})
    >>> [n.op for n in graph.nodes], graph.inputs[0].shape
    (['Conv', 'Relu', 'Flatten', 'Gemm'], (8, 3, 8, 8))
    """
    if isinstance(source, ModelProto):
        where = name or source.graph.name or "model"
        _check_is_model(source, where)
        model = source
        check_external_data(model, where=where)             # no folder: the locations' form
    else:
        where = str(source)
        model = read_model(source)
        check_external_data(model, source, require_files=False)   # never opened, still checked
        name = name or Path(source).stem
    opsets = _opsets(model, where)
    if model.functions:
        try:
            model = onnxcore.inline_local_functions(model)
        except Exception as exc:
            raise FlopscopeError(f"{where}: cannot inline local functions ({one_line(exc)})") from None

    sort_notes: list[str] = []
    while True:
        notes = list(sort_notes)
        consts = _Constants(opset=opsets.get("", 0))
        try:
            stripped = _stripped_copy(model, consts)
        except FlopscopeError as exc:                   # a negative dim in a constant
            raise FlopscopeError(f"{where}: {exc}") from None
        if consts.rewrite.replaced:
            ops = ", ".join(f"{op} x{n}" for op, n in sorted(consts.rewrite.replaced.items()))
            notes.append(f"ONNX Runtime operators unknown to the onnx package ({ops}): their "
                         "output shapes inferred from standard equivalents")
        init_names = set(_initializer_names(model.graph))
        real_inputs = [vi.name for vi in model.graph.input if vi.name not in init_names]
        shapes = name_unnamed(input_shapes or {}, real_inputs)
        binding = _bind_inputs(stripped.graph, real_inputs, shapes, dims or {}, notes)
        if binding.resized:  # declared intermediate shapes may no longer hold
            del stripped.graph.value_info[:]
        _loosen_outputs(stripped.graph, binding.resized)
        try:
            inferred = _infer(stripped, where, bool(shapes), notes)
        except _Unsorted as exc:    # the checker found nodes out of order: sort once, again
            if sort_notes:
                raise FlopscopeError(f"{where}: invalid ONNX graph ({exc})") from None
            model, moved = _sorted_copy(model, where)
            if not moved:           # an input nothing produces: no order helps
                raise FlopscopeError(f"{where}: invalid ONNX graph ({exc})") from None
            sort_notes.append(f"the graph's nodes were not in topological order ({moved} moved); "
                              "analysed in a sorted order, as ONNX Runtime runs them")
            continue
        break
    inferred, table = _fold_shape_arithmetic(stripped, inferred, binding.symbols, notes, consts)

    w = _Walk(opsets=opsets, consts=consts, symbols=binding.symbols, notes=notes)
    top = _walk(model.graph, inferred.graph, [], w, "", "", 1, (), table)

    params = quantised.parameters(w.nodes, consts.meta, w.consumed, consts.aliases, FLOAT_DTYPES)
    copy_notes, copies = quantised.duplicates(model.graph.initializer, params)
    notes += copy_notes
    for copy in copies:
        params[copy] = replace(params[copy], buffer=True)
    for alias, root in consts.aliases.items():
        if root in copies:
            params[alias] = params[root]
    unused = sum(1 for n in init_names if n not in w.consumed)
    if unused:
        notes.append(f"{unused} initializer(s) not used by any node: not counted")
    return LayerGraph(
        name=name or model.graph.name or "model",
        source="onnx",
        inputs=[top[n] for n in real_inputs],
        outputs=[top.get(o.name, Tensor(o.name, None, "unknown")) for o in model.graph.output],
        nodes=w.nodes,
        params=params,
        constants=frozenset(consts.meta),
        notes=notes,
        alternatives=w.alternatives,
        modules=w.modules,
        resized_inputs=binding.changed,
    )
