"""ONNX frontend: an ``.onnx`` file or a ``ModelProto`` -> :class:`LayerGraph`.

Weights are never read: the file is loaded with ``load_external_data=False`` and shape
inference runs on a payload-stripped copy, in which every large constant becomes a typed
graph input. Small constants (shapes, axes, scales) keep their values so that inference
and the rules can use them. Symbolic input dims are bound from the caller or to 1, and
the report says so.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from math import prod
from pathlib import Path
from typing import Any

import onnx
from onnx import AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, helper

from flopscope.errors import FlopscopeError
from flopscope.graph import FLOAT_DTYPES, LayerGraph, Node, Param, Tensor

#: constants with at most this many elements keep their payload in the stripped copy
SMALL_CONSTANT = 1024
#: and at most this many are handed to rules as values
VALUE_LIMIT = 64

_DTYPE_NAMES = {"FLOAT": "float32", "DOUBLE": "float64"}

InputShapes = Mapping[str, Sequence[int]]


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
    try:
        model = onnx.load_model(str(p), load_external_data=False)
    except OSError as exc:
        raise FlopscopeError(f"{p}: cannot read ({exc.strerror or exc})") from None
    except Exception as exc:  # protobuf's DecodeError and friends
        raise FlopscopeError(f"{p}: not a valid ONNX file (protobuf parse failed: "
                             f"{_one_line(exc) or type(exc).__name__})") from None
    _check_is_model(model, str(p))
    return model


def _check_is_model(model: ModelProto, where: str) -> None:
    if not model.HasField("graph") or model.ir_version <= 0:
        raise FlopscopeError(f"{where}: not an ONNX model (no graph or IR version)")
    if not model.graph.node:
        raise FlopscopeError(f"{where}: the ONNX graph has no nodes")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."


# --------------------------------------------------------------------------- opsets


def _opsets(model: ModelProto, where: str) -> dict[str, int]:
    opsets: dict[str, int] = {}
    for entry in model.opset_import:
        opsets["" if entry.domain == "ai.onnx" else entry.domain] = entry.version
    newest = onnx.defs.onnx_opset_version()
    default = opsets.get("")
    if default is not None and not 1 <= default <= newest:
        raise FlopscopeError(f"{where}: opset {default} is not one this onnx "
                             f"({onnx.__version__}) knows (1..{newest}); upgrade onnx")
    return opsets


@lru_cache(maxsize=4096)
def _schema_defaults(op: str, domain: str, version: int) -> tuple[tuple[str, Any], ...]:
    try:
        schema = onnx.defs.get_schema(op, version, domain)
    except onnx.defs.SchemaError:
        return ()
    defaults = []
    for name, attr in schema.attributes.items():
        if attr.default_value.type:
            defaults.append((name, _plain(helper.get_attribute_value(attr.default_value))))
    return tuple(defaults)


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


def _tensor_meta(t: TensorProto) -> tuple[tuple[int, ...], str]:
    return tuple(int(d) for d in t.dims), dtype_name(t.data_type)


def _has_payload(t: TensorProto) -> bool:
    return t.data_location != TensorProto.EXTERNAL and (
        bool(t.raw_data) or any(len(getattr(t, f)) for f in (
            "float_data", "int32_data", "string_data", "int64_data", "double_data",
            "uint64_data")))


def _small_value(t: TensorProto) -> tuple[Any, ...] | None:
    if prod(t.dims) > VALUE_LIMIT or not _has_payload(t):
        return None
    try:
        return tuple(onnx.numpy_helper.to_array(t).ravel().tolist())
    except Exception:
        return None


def _stripped_copy(model: ModelProto, consts: _Constants) -> ModelProto:
    """A copy of ``model`` for checking and shape inference, without large payloads.

    Large or external initializers and large Constant nodes become typed graph inputs
    (subgraph initializers too: outer-scope names are visible inside subgraphs).
    """
    src = model.graph
    out = ModelProto()
    out.ir_version = model.ir_version
    out.opset_import.extend(model.opset_import)
    g = out.graph
    g.name = src.name
    g.input.extend(src.input)
    g.output.extend(src.output)
    declared = {vi.name for vi in src.input}
    moved: list[tuple[str, tuple[int, ...], int]] = []
    for t in src.initializer:
        consts.meta[t.name] = _tensor_meta(t)
        value = _small_value(t)
        if value is not None:
            consts.values[t.name] = value
        if prod(t.dims) <= SMALL_CONSTANT and _has_payload(t):
            g.initializer.append(t)
        else:
            moved.append((t.name, tuple(t.dims), t.data_type))
    for node in src.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx") and node.output:
            value_tensor = _constant_tensor(node)
            if value_tensor is not None and prod(value_tensor[0]) > SMALL_CONSTANT:
                shape, elem = value_tensor
                moved.append((node.output[0], shape, elem))
                continue
        g.node.append(node)
        if any(a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS) for a in node.attribute):
            _strip_subgraphs(g.node[-1], moved, consts)
    for name, shape, elem in moved:
        if name not in declared:
            g.input.append(helper.make_tensor_value_info(name, elem, shape))
            declared.add(name)
    for vi in src.value_info:
        g.value_info.append(vi)
    return out


def _constant_tensor(node: NodeProto) -> tuple[tuple[int, ...], int] | None:
    for a in node.attribute:
        if a.name == "value" and a.type == AttributeProto.TENSOR:
            return tuple(a.t.dims), a.t.data_type
    return None


def _strip_subgraphs(node: NodeProto, moved: list, consts: _Constants) -> None:
    for a in node.attribute:
        graphs = [a.g] if a.type == AttributeProto.GRAPH else list(a.graphs)
        for sub in graphs:
            keep = []
            for t in sub.initializer:
                consts.meta[t.name] = _tensor_meta(t)
                value = _small_value(t)
                if value is not None:
                    consts.values[t.name] = value
                if prod(t.dims) <= SMALL_CONSTANT and _has_payload(t):
                    keep.append(t)
                else:
                    moved.append((t.name, tuple(t.dims), t.data_type))
            if len(keep) != len(sub.initializer):
                del sub.initializer[:]
                sub.initializer.extend(keep)
            for inner in sub.node:
                if any(x.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS) for x in inner.attribute):
                    _strip_subgraphs(inner, moved, consts)


# --------------------------------------------------------------------------- binding


def _dims_of(vi: onnx.ValueInfoProto) -> list[int | str | None] | None:
    tt = vi.type.tensor_type
    if not vi.type.HasField("tensor_type") or not tt.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
            for d in tt.shape.dim]


def _bind_inputs(graph: GraphProto, real_inputs: list[str], input_shapes: InputShapes,
                 dims: Mapping[str, int], notes: list[str]) -> bool:
    """Write concrete dims into the stripped graph's inputs; True if any declared size changed."""
    by_name = {vi.name: vi for vi in graph.input}
    unknown = sorted(set(input_shapes) - set(real_inputs))
    if unknown:
        raise FlopscopeError(f"--input-shape names {', '.join(map(repr, unknown))}, but the "
                             f"model's inputs are {', '.join(map(repr, real_inputs)) or 'none'}")
    changed = False
    defaulted: dict[str, list[str]] = {}
    for name in real_inputs:
        vi = by_name[name]
        declared = _dims_of(vi)
        given = input_shapes.get(name)
        if given is not None:
            given = tuple(given)
            if declared is not None and len(declared) != len(given):
                raise FlopscopeError(
                    f"input shape {name}={'x'.join(map(str, given))} does not fit the model: "
                    f"'{name}' has rank {len(declared)} "
                    f"({'x'.join(str(d) if d is not None else '?' for d in declared)})")
            changed |= declared is None or any(
                isinstance(d, int) and d != g for d, g in zip(declared, given))
            resolved = list(given)
        else:
            if declared is None:
                raise FlopscopeError(
                    f"input '{name}' has no declared shape; pass --input-shape {name}=...")
            resolved = []
            for axis, d in enumerate(declared):
                if isinstance(d, int):
                    resolved.append(d)
                elif d is not None and d in dims:
                    resolved.append(dims[d])
                    changed = True
                elif d is not None:
                    resolved.append(1)
                    defaulted.setdefault(d, []).append(name)
                    changed = True
                else:
                    raise FlopscopeError(
                        f"input '{name}' dim {axis} has no size or name; pass "
                        f"--input-shape {name}=" + "x".join(
                            str(x) if isinstance(x, int) else "?" for x in declared))
        for n in resolved:
            if type(n) is not int or n < 0:
                raise FlopscopeError(f"input '{name}': dimension {n!r} is not a size")
        shape = vi.type.tensor_type.shape
        shape.ClearField("dim")
        for n in resolved:
            shape.dim.add().dim_value = n
    for sym, names in defaulted.items():
        notes.append(f"symbolic dim '{sym}' (input {', '.join(names)}) bound to 1; "
                     f"use --dim {sym}=N to choose")
    return changed


# --------------------------------------------------------------------------- inference


def _infer(stripped: ModelProto, where: str, shapes_given: bool, notes: list[str]) -> ModelProto:
    try:
        onnx.checker.check_model(stripped)
    except onnx.checker.ValidationError as exc:
        raise FlopscopeError(f"{where}: invalid ONNX graph ({_one_line(exc)})") from None
    try:
        return onnx.shape_inference.infer_shapes(stripped, check_type=False, strict_mode=True,
                                                 data_prop=True)
    except onnx.shape_inference.InferenceError as exc:
        if shapes_given:
            raise FlopscopeError(f"{where}: the input shapes given do not fit the model "
                                 f"({_one_line(exc)})") from None
        notes.append(f"shape inference stopped early ({_one_line(exc)}); "
                     "nodes after that point may be marked shape-unknown")
    try:
        return onnx.shape_inference.infer_shapes(stripped, check_type=False, strict_mode=False,
                                                 data_prop=True)
    except Exception as exc:
        raise FlopscopeError(f"{where}: shape inference failed ({_one_line(exc)})") from None


def _value_infos(graph: GraphProto) -> dict[str, Tensor]:
    table: dict[str, Tensor] = {}
    for vi in (*graph.input, *graph.value_info, *graph.output):
        t = vi.type
        if t.HasField("tensor_type"):
            dims = _dims_of(vi)
            shape = None if dims is None else tuple(
                d if d is not None else "?" for d in dims)
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
    path = ""
    for part in parts[:-1]:
        if path and part.startswith(path + "."):
            path = part
        elif path:
            path = f"{path}.{part}"
        else:
            path = part
    return path


def _module_of(node: NodeProto) -> str:
    for prop in node.metadata_props:
        if prop.key == "namespace":
            # torch.onnx (dynamo): ": Net/layer1.0: BasicBlock/layer1.0.conv1: Conv2d/..."
            scopes = [s.split(":")[0].strip() for s in prop.value.split("/")]
            scopes = [s for s in scopes if s]
            return scopes[-1] if scopes else ""
    return module_from_name(node.name)


@dataclass
class _Walk:
    opsets: dict[str, int]
    consts: _Constants
    nodes: list[Node] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    consumed: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    alternatives: dict[str, tuple[str, ...]] = field(default_factory=dict)
    constant_outputs: dict[str, tuple[tuple[int, ...] | None, str]] = field(default_factory=dict)

    def unique(self, name: str) -> str:
        base, k = name, 1
        while name in self.names:
            k += 1
            name = f"{base}#{k}"
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
        elif a.type in (AttributeProto.TENSOR, AttributeProto.SPARSE_TENSOR):
            t = a.t if a.type == AttributeProto.TENSOR else a.sparse_tensor.values
            values[a.name] = ("tensor", tuple(t.dims), dtype_name(t.data_type))
        elif a.type == AttributeProto.TENSORS:
            values[a.name] = tuple(("tensor", tuple(t.dims), dtype_name(t.data_type))
                                   for t in a.tensors)
        else:
            values[a.name] = _plain(helper.get_attribute_value(a))
    return values, graphs


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
            return tuple(a.t.dims), dtype_name(a.t.data_type), _small_value(a.t)
        if a.name == "sparse_value":
            return tuple(a.sparse_tensor.dims), dtype_name(a.sparse_tensor.values.data_type), None
    return None, "unknown", None


def _walk(graph: GraphProto, inferred: GraphProto, scope: list[dict[str, Tensor]], w: _Walk,
          prefix: str, module: str, repeat: int, branch: tuple[str, ...]) -> None:
    table = _value_infos(inferred)
    for t in graph.initializer:
        shape, dtype = w.consts.meta[t.name]
        table[t.name] = Tensor(t.name, shape, dtype)
    scope = [table, *scope]

    def lookup(name: str) -> Tensor:
        for level in scope:
            if name in level:
                return level[name]
        return Tensor(name, None, "unknown")

    inferred_nodes = iter(inferred.node)
    for proto in graph.node:
        opset = w.opsets.get("" if proto.domain == "ai.onnx" else proto.domain, 0)
        attrs, subgraphs = _attrs(proto, opset)
        is_default = proto.domain in ("", "ai.onnx")
        if is_default and proto.op_type == "Constant" and proto.output:
            shape, dtype, value = _constant_node_output(proto, attrs)
            out = proto.output[0]
            table[out] = Tensor(out, shape, dtype) if shape is not None else lookup(out)
            w.consts.meta[out] = (shape or (), dtype)
            if value is not None:
                w.consts.values[out] = value
            if shape is not None and prod(shape) > SMALL_CONSTANT:
                inferred_proto = None               # replaced by an input in the copy
            else:
                inferred_proto = next(inferred_nodes)
        else:
            inferred_proto = next(inferred_nodes)
        if is_default and proto.op_type == "ConstantOfShape" and proto.input \
                and proto.input[0] in w.consts.meta:
            out = lookup(proto.output[0])
            if out.static:
                w.consts.meta[proto.output[0]] = (out.shape, out.dtype)  # type: ignore[assignment]

        inputs = tuple(lookup(n) if n else None for n in proto.input)
        outputs = tuple(lookup(n) if n else None for n in proto.output)
        weights = frozenset(i for i, n in enumerate(proto.input) if n in w.consts.meta)
        values = {i: w.consts.values[n] for i, n in enumerate(proto.input) if n in w.consts.values}
        w.consumed.update(n for n in proto.input if n)
        name = w.unique(prefix + (proto.name or f"{proto.op_type}_{len(w.nodes)}"))
        node_module = module or _module_of(proto)

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
            name=name, op=proto.op_type, inputs=inputs, outputs=outputs,  # type: ignore[arg-type]
            attrs=attrs, domain="" if is_default else proto.domain, module=node_module,
            weights=weights, values=values, opset=opset, repeat=repeat, branch=branch))


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
        if trip is not None and len(trip) == 1:
            return max(int(trip[0]), 0), None
        w.notes.append(f"Loop '{name}': trip count unknown, body costed for one iteration")
        return 1, None
    if op == "Scan":
        n_scan = attrs.get("num_scan_inputs", 0)
        scan_inputs = inputs[len(inputs) - n_scan:] if n_scan else ()
        axes = attrs.get("scan_input_axes") or (0,) * n_scan
        if scan_inputs and scan_inputs[0] is not None and scan_inputs[0].static:
            shape = scan_inputs[0].shape
            axis = axes[0] + (len(shape) if axes[0] < 0 else 0)  # type: ignore[arg-type]
            return int(shape[axis]), None  # type: ignore[index]
        w.notes.append(f"Scan '{name}': sequence length unknown, body costed for one iteration")
        return 1, None
    return 1, None


# --------------------------------------------------------------------------- entry point


def load(source: str | os.PathLike[str] | ModelProto, *, input_shapes: InputShapes | None = None,
         dims: Mapping[str, int] | None = None, name: str | None = None) -> LayerGraph:
    """Build the :class:`LayerGraph` of an ONNX model without reading its weights.

    ``input_shapes`` binds whole inputs (``{"data": (1, 3, 224, 224)}``; the key ``""``
    means the model's only input), ``dims`` binds symbolic dims by name (``{"N": 8}``);
    any symbolic dim left is bound to 1 and noted.

    >>> graph = load("resnet50.onnx", dims={"N": 8})  # doctest: +SKIP
    """
    if isinstance(source, ModelProto):
        where = name or source.graph.name or "model"
        _check_is_model(source, where)
        model = source
    else:
        where = str(source)
        model = read_model(source)
        name = name or Path(source).stem
    opsets = _opsets(model, where)
    if model.functions:
        try:
            model = onnx.inliner.inline_local_functions(model)
        except Exception as exc:
            raise FlopscopeError(f"{where}: cannot inline local functions ({_one_line(exc)})") from None

    consts = _Constants()
    notes: list[str] = []
    stripped = _stripped_copy(model, consts)
    init_names = {t.name for t in model.graph.initializer}
    real_inputs = [vi.name for vi in model.graph.input if vi.name not in init_names]
    shapes = dict(input_shapes or {})
    if "" in shapes:
        if len(real_inputs) != 1:
            raise FlopscopeError(
                f"the model has {len(real_inputs)} inputs ({', '.join(real_inputs)}); "
                "name them: --input-shape NAME=1x3x224x224")
        shapes[real_inputs[0]] = shapes.pop("")
    changed = _bind_inputs(stripped.graph, real_inputs, shapes, dims or {}, notes)
    if changed:  # declared intermediate shapes may no longer hold
        del stripped.graph.value_info[:]
    inferred = _infer(stripped, where, bool(shapes), notes)

    w = _Walk(opsets=opsets, consts=consts, notes=notes)
    _walk(model.graph, inferred.graph, [], w, "", "", 1, ())

    top = _value_infos(inferred.graph)
    params: dict[str, Param] = {}
    for tensor_name, (shape, dtype) in consts.meta.items():
        if dtype in FLOAT_DTYPES and tensor_name in w.consumed:
            params[tensor_name] = Param(tensor_name, tuple(shape), dtype)
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
    )
