"""The parts of the ``onnx`` package that the ONNX path uses, without ``import onnx``.

``import onnx`` costs about 120 ms (numpy, protobuf's json_format, the Python helpers):
more than reading and analysing ResNet-50. The ONNX path needs only the generated
protobuf classes and the C++ checker, shape inference, operator schemas and inliner,
which load in about 40 ms. They are loaded from the installed package's own files under
their own module names (``onnx.onnx_ml_pb2``, ``onnx.onnx_cpp2py_export``), so a later
``import onnx`` in the same process (a notebook, :mod:`flopscope.frontends.fold`) finds
them in ``sys.modules`` and reuses them: one ``ModelProto`` class per process.

When onnx is imported already, or its files are not laid out as expected, this module
takes the same objects from the package itself (``import onnx``): slower, never wrong.

>>> from flopscope.frontends import onnxcore
>>> vi = onnxcore.value_info("x", onnxcore.TensorProto.FLOAT, (1, 3))
>>> [d.dim_value for d in vi.type.tensor_type.shape.dim]
[1, 3]
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import struct
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

_PROTO = "onnx.onnx_ml_pb2"
_NATIVE = "onnx.onnx_cpp2py_export"


def _module(name: str, path: Path, loader: Any) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    if spec is None:
        raise ImportError(f"no module spec for {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _load_parts() -> tuple[ModuleType, ModuleType]:
    """The protobuf module and the C++ extension, from the installed package's files."""
    spec = importlib.util.find_spec("onnx")       # finds the package, does not run it
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("onnx is not installed")
    folder = Path(next(iter(spec.submodule_search_locations)))
    native = sys.modules.get(_NATIVE)
    if native is None:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = folder / f"onnx_cpp2py_export{suffix}"
            if path.is_file():
                native = _module(_NATIVE, path, importlib.machinery.ExtensionFileLoader(_NATIVE, str(path)))
                break
        else:
            raise ImportError(f"no onnx_cpp2py_export extension in {folder}")
    proto = sys.modules.get(_PROTO)
    if proto is None:
        path = folder / "onnx_ml_pb2.py"
        proto = _module(_PROTO, path, importlib.machinery.SourceFileLoader(_PROTO, str(path)))
    for part in ("checker", "shape_inference", "defs", "inliner"):
        if not hasattr(native, part):
            raise ImportError(f"onnx's extension has no '{part}'")
    return proto, native


def _load() -> tuple[ModuleType, ModuleType]:
    if "onnx" not in sys.modules:
        try:
            return _load_parts()
        except Exception:       # a layout this module does not know: the package's own import
            pass
    import onnx

    return onnx.onnx_ml_pb2, onnx.onnx_cpp2py_export


_proto, _native = _load()

ModelProto = _proto.ModelProto
GraphProto = _proto.GraphProto
NodeProto = _proto.NodeProto
TensorProto = _proto.TensorProto
AttributeProto = _proto.AttributeProto
ValueInfoProto = _proto.ValueInfoProto
OperatorSetIdProto = _proto.OperatorSetIdProto

ValidationError = _native.checker.ValidationError
InferenceError = _native.shape_inference.InferenceError
SchemaError = _native.defs.SchemaError


def parse_model(data: bytes) -> ModelProto:
    """A ``ModelProto`` from its serialized bytes (``onnx.load_model_from_string``)."""
    model = ModelProto()
    consumed = model.ParseFromString(data)
    if consumed is not None and consumed != len(data):
        from google.protobuf.message import DecodeError

        raise DecodeError(f"Protobuf decoding consumed too few bytes: {consumed} out of {len(data)}")
    return model


def check_model(model: ModelProto) -> None:
    """``onnx.checker.check_model(model)``: raises :data:`ValidationError`."""
    _native.checker.check_model(model.SerializeToString(), False, False, False)


def infer_shapes(model: ModelProto, *, strict: bool, data_prop: bool = True) -> ModelProto:
    """``onnx.shape_inference.infer_shapes`` without type checks: raises :data:`InferenceError`."""
    return parse_model(_native.shape_inference.infer_shapes(model.SerializeToString(), False,
                                                            strict, data_prop))


def inline_local_functions(model: ModelProto) -> ModelProto:
    """``onnx.inliner.inline_local_functions(model)``."""
    return parse_model(_native.inliner.inline_local_functions(model.SerializeToString(), False))


def newest_opset() -> int:
    """The newest default-domain opset this onnx knows (``onnx.defs.onnx_opset_version()``)."""
    return int(_native.defs.schema_version_map()[""][1])


def version() -> str:
    """The installed onnx's version (for messages only: importlib.metadata is slow to import)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    for dist in ("onnx", "onnx-weekly"):
        try:
            return dist_version(dist)
        except PackageNotFoundError:
            continue
    return "unknown version"


def schema_defaults(op: str, version: int, domain: str) -> list[tuple[str, AttributeProto]]:
    """(name, default AttributeProto) of every attribute of an operator's schema that has
    a default; raises :data:`SchemaError` for an operator onnx does not know."""
    schema = _native.defs.get_schema(op, version, domain)
    out = []
    for name, attr in schema.attributes.items():
        raw = getattr(attr, "_default_value", None)
        if raw is None:                       # an onnx whose binding parses it (package imported)
            default = attr.default_value
        else:
            default = AttributeProto()
            default.ParseFromString(raw)
        if default.type:
            out.append((name, default))
    return out


def attribute_value(a: AttributeProto) -> Any:
    """The Python value of an attribute, as ``onnx.helper.get_attribute_value`` gives it."""
    if a.ref_attr_name:
        raise ValueError(f"attribute '{a.name}' refers to a function attribute ({a.ref_attr_name})")
    field = _ATTRIBUTE_FIELDS.get(a.type)
    if field is None:
        if a.type == AttributeProto.UNDEFINED:
            return None
        raise ValueError(f"unsupported ONNX attribute type {a.type} ('{a.name}')")
    value = getattr(a, field)
    return list(value) if field.endswith("s") and field != "s" else value


_ATTRIBUTE_FIELDS = {
    AttributeProto.FLOAT: "f", AttributeProto.INT: "i", AttributeProto.STRING: "s",
    AttributeProto.TENSOR: "t", AttributeProto.SPARSE_TENSOR: "sparse_tensor",
    AttributeProto.GRAPH: "g", AttributeProto.TYPE_PROTO: "tp",
    AttributeProto.FLOATS: "floats", AttributeProto.INTS: "ints", AttributeProto.STRINGS: "strings",
    AttributeProto.TENSORS: "tensors", AttributeProto.SPARSE_TENSORS: "sparse_tensors",
    AttributeProto.GRAPHS: "graphs", AttributeProto.TYPE_PROTOS: "type_protos",
}


def value_info(name: str, elem_type: int, shape: Sequence[int | str | None]) -> ValueInfoProto:
    """A tensor's ValueInfoProto (``onnx.helper.make_tensor_value_info``); a scalar keeps
    an empty shape, not an absent one."""
    vi = ValueInfoProto(name=name)
    tensor = vi.type.tensor_type
    tensor.elem_type = elem_type
    tensor.shape.SetInParent()
    for d in shape:
        dim = tensor.shape.dim.add()
        if isinstance(d, int):
            dim.dim_value = d
        elif isinstance(d, str):
            dim.dim_param = d
    return vi


def opset(domain: str, version: int) -> OperatorSetIdProto:
    """An opset import (``onnx.helper.make_opsetid``)."""
    return OperatorSetIdProto(domain=domain, version=version)


# element type -> (struct code of raw_data, typed field that may hold the values instead)
_T = TensorProto
_PLAIN_TYPES: dict[int, tuple[str, str]] = {
    _T.FLOAT: ("f", "float_data"), _T.DOUBLE: ("d", "double_data"),
    _T.INT64: ("q", "int64_data"), _T.INT32: ("i", "int32_data"),
    _T.INT16: ("h", "int32_data"), _T.INT8: ("b", "int32_data"),
    _T.UINT16: ("H", "int32_data"), _T.UINT8: ("B", "int32_data"), _T.BOOL: ("?", "int32_data"),
    _T.UINT32: ("I", "uint64_data"), _T.UINT64: ("Q", "uint64_data"),
}


def tensor_values(t: TensorProto, count: int) -> tuple[Any, ...]:
    """The ``count`` values of a small tensor with its data in the file, flattened, as
    ``onnx.numpy_helper.to_array(t).ravel().tolist()`` gives them (numbers, bools).
    Types without a plain Python form (float16, bfloat16, float8, 4-bit, strings) go
    through ``onnx.numpy_helper``; a payload of the wrong size raises ValueError."""
    plain = _PLAIN_TYPES.get(t.data_type)
    if plain is None:
        from onnx import numpy_helper

        return tuple(numpy_helper.to_array(t).ravel().tolist())
    code, field = plain
    if t.raw_data:
        size = struct.calcsize(code)
        if len(t.raw_data) != count * size:
            raise ValueError(f"tensor '{t.name}' holds {len(t.raw_data)} bytes, not {count} x {size}")
        return struct.unpack(f"<{count}{code}", t.raw_data)
    values = getattr(t, field)
    if len(values) != count:
        raise ValueError(f"tensor '{t.name}' holds {len(values)} values, not {count}")
    if t.data_type == _T.BOOL:
        return tuple(bool(v) for v in values)
    return tuple(values)
