"""The parts of the ``onnx`` package that the ONNX path uses, without ``import onnx``.

``import onnx`` costs about 120 ms (numpy, protobuf's json_format, the Python helpers):
more than reading and analysing ResNet-50. The ONNX path needs only the generated
protobuf classes and the C++ checker, shape inference, operator schemas and inliner,
which load in about 40 ms. They are loaded from the installed package's own files under
their own module names (``onnx.onnx_ml_pb2``, ``onnx.onnx_cpp2py_export``), so a later
``import onnx`` in the same process (a notebook, :mod:`flopscope.frontends.fold`) finds
them in ``sys.modules`` and reuses them: one ``ModelProto`` class per process.

That private path leans on the package's file layout, the C++ binding's names and their
positional signatures, none of them promised by onnx. Each call into the binding is
therefore an :class:`Entry`: it answers through the private form while that works, and
from the first failure that is not the model's own error (a missing name, a changed
signature, a result of another type) it answers through onnx's public function, for the
rest of the process. A layout this module does not know, or an onnx already imported,
gives the public API throughout. Slower, never wrong: every path gives the same report.

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
from collections.abc import Callable, Sequence
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
    return proto, native


_CLASSES = ("ModelProto", "GraphProto", "NodeProto", "TensorProto", "AttributeProto",
            "ValueInfoProto", "OperatorSetIdProto")


def _load() -> tuple[ModuleType | None, dict[str, Any]]:
    """The C++ extension (None: public API only), the protobuf classes and onnx's errors."""
    if "onnx" not in sys.modules:
        try:
            proto, native = _load_parts()
            names = {name: getattr(proto, name) for name in _CLASSES}
            names.update(ValidationError=native.checker.ValidationError,
                         InferenceError=native.shape_inference.InferenceError,
                         SchemaError=native.defs.SchemaError)
            if all(isinstance(names[name], type) for name in names):
                return native, names
        except Exception:       # a layout this module does not know: the package's own import
            pass
    import onnx
    import onnx.checker
    import onnx.defs
    import onnx.shape_inference

    names = {name: getattr(onnx, name) for name in _CLASSES}
    names.update(ValidationError=onnx.checker.ValidationError,
                 InferenceError=onnx.shape_inference.InferenceError, SchemaError=onnx.defs.SchemaError)
    return None, names


_native, _names = _load()

ModelProto = _names["ModelProto"]
GraphProto = _names["GraphProto"]
NodeProto = _names["NodeProto"]
TensorProto = _names["TensorProto"]
AttributeProto = _names["AttributeProto"]
ValueInfoProto = _names["ValueInfoProto"]
OperatorSetIdProto = _names["OperatorSetIdProto"]

ValidationError = _names["ValidationError"]
InferenceError = _names["InferenceError"]
SchemaError = _names["SchemaError"]


class Entry:
    """One call into onnx, with a private form (the C++ binding, no ``import onnx``) and
    the public function it mirrors. The private form answers while it works; an exception
    other than the model's own errors (``expected``), or a result that ``valid`` refuses,
    switches this entry to the public function for the rest of the process, and that call
    is answered by it. Both forms give the same result, so the switch is never seen.

    >>> length = Entry(lambda n: n.no_such_method(), lambda n: n.bit_length(), (), lambda r: True)
    >>> length(255), length.private is None, length(256)
    (8, True, 9)
    """

    def __init__(self, private: Callable[..., Any], public: Callable[..., Any],
                 expected: tuple[type[BaseException], ...], valid: Callable[[Any], bool]) -> None:
        self.private: Callable[..., Any] | None = private if _native is not None else None
        self.public = public
        self.expected = expected
        self.valid = valid

    def __call__(self, *args: Any) -> Any:
        private = self.private
        if private is not None:
            try:
                result = private(*args)
            except self.expected:
                raise
            except Exception:           # a name, signature or behaviour this module does not know
                self.private = None
            else:
                if self.valid(result):
                    return result
                self.private = None
        return self.public(*args)


def _own(model: Any) -> ModelProto:
    """``model`` as this module's ``ModelProto`` (the public API may return the package's)."""
    return model if type(model) is ModelProto else parse_model(model.SerializeToString())


def parse_model(data: bytes) -> ModelProto:
    """A ``ModelProto`` from its serialized bytes (``onnx.load_model_from_string``)."""
    model = ModelProto()
    consumed = model.ParseFromString(data)
    if consumed is not None and consumed != len(data):
        from google.protobuf.message import DecodeError

        raise DecodeError(f"Protobuf decoding consumed too few bytes: {consumed} out of {len(data)}")
    return model


def _check_private(model: ModelProto) -> None:
    return _native.checker.check_model(model.SerializeToString(), False, False, False)


def _check_public(model: ModelProto) -> None:
    import onnx.checker

    onnx.checker.check_model(model)


def _infer_private(model: ModelProto, strict: bool, data_prop: bool) -> ModelProto:
    return parse_model(_native.shape_inference.infer_shapes(model.SerializeToString(), False,
                                                            strict, data_prop))


def _infer_public(model: ModelProto, strict: bool, data_prop: bool) -> ModelProto:
    import onnx.shape_inference

    return _own(onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=strict,
                                                  data_prop=data_prop))


def _inline_private(model: ModelProto) -> ModelProto:
    return parse_model(_native.inliner.inline_local_functions(model.SerializeToString(), False))


def _inline_public(model: ModelProto) -> ModelProto:
    import onnx.inliner

    return _own(onnx.inliner.inline_local_functions(model))


def _newest_private() -> int:
    return int(_native.defs.schema_version_map()[""][1])


def _newest_public() -> int:
    import onnx.defs

    return int(onnx.defs.onnx_opset_version())


def _defaults_private(op: str, version: int, domain: str) -> list[tuple[str, AttributeProto]]:
    out = []
    for name, attr in _native.defs.get_schema(op, version, domain).attributes.items():
        default = AttributeProto()
        default.ParseFromString(attr._default_value)       # the binding's serialized default
        out.append((name, default))                          # type 0: no default
    return out


def _defaults_public(op: str, version: int, domain: str) -> list[tuple[str, AttributeProto]]:
    import onnx.defs

    schema = onnx.defs.get_schema(op, version, domain)
    return [(name, attr.default_value) for name, attr in schema.attributes.items()]


def _is_model(result: Any) -> bool:
    return type(result) is ModelProto


#: every call into onnx's C++ binding, by the public function it mirrors
ENTRIES: dict[str, Entry] = {
    "check_model": Entry(_check_private, _check_public, (ValidationError, UnicodeDecodeError),
                          lambda result: result is None),
    "infer_shapes": Entry(_infer_private, _infer_public, (InferenceError, UnicodeDecodeError), _is_model),
    "inline_local_functions": Entry(_inline_private, _inline_public, (), _is_model),
    "onnx_opset_version": Entry(_newest_private, _newest_public, (), lambda result: result > 0),
    "get_schema": Entry(_defaults_private, _defaults_public, (SchemaError,),
                         lambda result: isinstance(result, list)),
}


def check_model(model: ModelProto) -> None:
    """``onnx.checker.check_model(model)``: raises :data:`ValidationError`."""
    ENTRIES["check_model"](model)


def infer_shapes(model: ModelProto, *, strict: bool, data_prop: bool = True) -> ModelProto:
    """``onnx.shape_inference.infer_shapes`` without type checks: raises :data:`InferenceError`."""
    return ENTRIES["infer_shapes"](model, strict, data_prop)


def inline_local_functions(model: ModelProto) -> ModelProto:
    """``onnx.inliner.inline_local_functions(model)``."""
    return ENTRIES["inline_local_functions"](model)


def newest_opset() -> int:
    """The newest default-domain opset this onnx knows (``onnx.defs.onnx_opset_version()``)."""
    return ENTRIES["onnx_opset_version"]()


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
    a default (``onnx.defs.get_schema``); raises :data:`SchemaError` for an operator onnx
    does not know."""
    return [(name, a) for name, a in ENTRIES["get_schema"](op, version, domain) if a.type]


def schema_attributes(op: str, version: int, domain: str = "") -> frozenset[str]:
    """The names of every attribute an operator's schema defines at ``version``, with or
    without a default; raises :data:`SchemaError` for an operator onnx does not know."""
    return frozenset(name for name, _ in ENTRIES["get_schema"](op, version, domain))


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
