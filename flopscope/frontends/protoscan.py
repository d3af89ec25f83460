"""Read an ONNX file's graph without its weights, at the protobuf wire level.

An ONNX file is a serialised ``ModelProto``; nearly all its bytes are the payloads of
large tensors (initializers, Constant nodes). :func:`read_without_payloads` walks the
wire format over a memory map of the file and copies every field except the data
fields of tensors larger than :data:`PAYLOAD_LIMIT` bytes, which it skips without
reading them. The result parses into a ``ModelProto`` whose large tensors keep their
name, dims and type but no values — all the analysis needs — in time and memory
proportional to the graph, not the weights.

Only messages that are large are descended into (a graph's initializers, a node that
carries a tensor or a subgraph); everything else is copied byte for byte.
"""

from __future__ import annotations

import mmap
import os

#: tensor data fields longer than this many bytes are dropped
PAYLOAD_LIMIT = 16 * 1024

# wire types
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5

# field numbers (onnx.proto3)
_MODEL_GRAPH, _MODEL_FUNCTIONS = 7, 25
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_SPARSE_INITIALIZER = 1, 5, 15
_FUNCTION_NODE = 7
_NODE_ATTRIBUTE = 5
_ATTR_T, _ATTR_G, _ATTR_TENSORS, _ATTR_GRAPHS, _ATTR_SPARSE = 5, 6, 10, 11, 22
_SPARSE_VALUES, _SPARSE_INDICES = 1, 2
#: TensorProto's data fields: float, int32, string, int64, raw, double, uint64
_TENSOR_DATA = frozenset({4, 5, 6, 7, 9, 10, 11})


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


class NotWorthIt(Exception):  # noqa: N818 (a signal, not an error)
    """The file is many small tensors, not a few large ones: walking it field by field in
    Python would be slower than protobuf's own parser reading everything."""


#: after this many fields of one graph, give up unless most bytes seen were skipped
_PATIENCE = 20_000


def _varint(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise WireError("truncated or malformed varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _fields(buf: memoryview, start: int, end: int):
    """(field number, wire type, field start, key end, payload start, payload end) of
    each field of the message ``buf[start:end]``."""
    pos = start
    while pos < end:
        field_start = pos
        key, pos = _varint(buf, pos, end)
        key_end = pos
        number, wire = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        if wire == _VARINT:
            _, pos = _varint(buf, pos, end)
            yield number, wire, field_start, key_end, pos, pos
            continue
        if wire == _I64:
            payload, pos = pos, pos + 8
        elif wire == _I32:
            payload, pos = pos, pos + 4
        elif wire == _LEN:
            length, payload = _varint(buf, pos, end)
            pos = payload + length
        else:
            raise WireError(f"unsupported wire type {wire}")
        if pos > end:
            raise WireError("field runs past the end of its message")
        yield number, wire, field_start, key_end, payload, pos


#: per message kind: field number -> kind of the embedded message to descend into
_SCHEMA: dict[str, dict[int, str]] = {
    "model": {_MODEL_GRAPH: "graph", _MODEL_FUNCTIONS: "function"},
    "graph": {_GRAPH_NODE: "node", _GRAPH_INITIALIZER: "tensor",
              _GRAPH_SPARSE_INITIALIZER: "sparse"},
    "function": {_FUNCTION_NODE: "node"},
    "node": {_NODE_ATTRIBUTE: "attribute"},
    "attribute": {_ATTR_T: "tensor", _ATTR_G: "graph", _ATTR_TENSORS: "tensor",
                  _ATTR_GRAPHS: "graph", _ATTR_SPARSE: "sparse"},
    "sparse": {_SPARSE_VALUES: "tensor", _SPARSE_INDICES: "tensor"},
}


def _strip(buf: memoryview, start: int, end: int, kind: str, out: bytearray) -> int:
    """Append message ``buf[start:end]`` of ``kind`` to ``out`` without large payloads;
    return the number of payload bytes dropped."""
    dropped = 0
    embedded = _SCHEMA.get(kind, {})
    for count, (number, wire, field_start, key_end, payload, field_end) in enumerate(
            _fields(buf, start, end)):
        if count == _PATIENCE and kind == "graph" and 2 * dropped < field_start - start:
            raise NotWorthIt
        if wire == _LEN and kind == "tensor" and number in _TENSOR_DATA \
                and field_end - payload > PAYLOAD_LIMIT:
            dropped += field_end - payload
            continue
        child = embedded.get(number) if wire == _LEN else None
        if child is None or field_end - payload <= PAYLOAD_LIMIT:
            out += buf[field_start:field_end]
            continue
        inner = bytearray()
        dropped += _strip(buf, payload, field_end, child, inner)
        out += buf[field_start:key_end]
        out += _encode_varint(len(inner))
        out += inner
    return dropped


def read_without_payloads(path: str | os.PathLike[str]) -> tuple[bytes, int]:
    """The serialised model at ``path`` without tensor payloads over :data:`PAYLOAD_LIMIT`
    bytes, and how many payload bytes were skipped. Raises :class:`WireError` on bytes
    that are not a well-formed protobuf message."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return b"", 0
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)
            try:
                out = bytearray()
                dropped = _strip(view, 0, size, "model", out)
                return bytes(out), dropped
            finally:
                view.release()
