"""External data: which files a model's weights name, and whether they may be looked at.

A tensor stored outside the ``.onnx`` file names a ``location`` relative to the model's
folder, and a model file may name any path there. flopscope's analysis never opens
external data (it reads dims, not weights), but a file that points elsewhere is hostile
or broken, so it is refused before anything else happens; ONNX Runtime, which does read
the weights, gets the same check before a session is created. Allowed: plain relative
paths inside the model's folder. Refused: absolute paths, ``..``, and symbolic links
that lead out of the folder. Nothing here opens a file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath

from flopscope.errors import FlopscopeError
from flopscope.frontends.onnxcore import AttributeProto, GraphProto, ModelProto, TensorProto

#: how much of a hostile location an error message quotes
_QUOTE = 120


def _graph_tensors(graph: GraphProto) -> Iterator[TensorProto]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        yield from _attribute_tensors(node.attribute)


def _attribute_tensors(attributes: Iterable[AttributeProto]) -> Iterator[TensorProto]:
    for a in attributes:
        if a.type == AttributeProto.TENSOR:
            yield a.t
        elif a.type == AttributeProto.SPARSE_TENSOR:
            yield a.sparse_tensor.values
            yield a.sparse_tensor.indices
        elif a.type == AttributeProto.TENSORS:
            yield from a.tensors
        elif a.type == AttributeProto.GRAPH:
            yield from _graph_tensors(a.g)
        elif a.type == AttributeProto.GRAPHS:
            for g in a.graphs:
                yield from _graph_tensors(g)


def external_locations(model: ModelProto) -> list[str]:
    """The distinct external-data locations the model's tensors name, in first-seen order
    (subgraphs and local functions included; ``""`` for a tensor that names none)."""
    tensors: list[Iterable[TensorProto]] = [_graph_tensors(model.graph)]
    tensors += [_attribute_tensors(node.attribute) for f in model.functions for node in f.node]
    seen: dict[str, None] = {}
    for group in tensors:
        for t in group:
            if t.data_location == TensorProto.EXTERNAL:
                entries = {e.key: e.value for e in t.external_data}
                seen.setdefault(entries.get("location", ""), None)
    return list(seen)


def _escapes(location: str) -> str | None:
    """Why ``location`` is not a plain relative path, or None."""
    if not isinstance(location, str):      # protobuf hands over text that is not UTF-8 as bytes
        return "is not UTF-8 text"
    if not location:
        return "names no location"
    if "\x00" in location:
        return "contains a NUL byte"
    for flavour in (PurePosixPath(location), PureWindowsPath(location)):
        if flavour.is_absolute() or flavour.anchor:
            return "is an absolute path"
        if ".." in flavour.parts:
            return "climbs out with '..'"
    return None


def _refuse(where: object, location: str | bytes, why: str) -> FlopscopeError:
    quoted = repr(location) if len(location) <= _QUOTE else repr(location[:_QUOTE]) + "..."
    return FlopscopeError(f"{where}: external data location {quoted} {why}; flopscope refuses "
                          "weights stored outside the model's folder")


def check_external_data(model: ModelProto, model_path: str | os.PathLike[str] | None = None, *,
                        require_files: bool = True, where: str | None = None) -> list[Path]:
    """Raise FlopscopeError unless every external-data location of ``model`` stays inside
    the folder of ``model_path`` (the path the model was read from, as given: that is the
    folder ONNX Runtime and ``onnx`` resolve locations against); return the files.

    ``require_files``: each location must also be an existing file (before ONNX Runtime
    reads them); the analysis, which never reads them, passes False. Without
    ``model_path`` (a model built in memory) only the locations' form is checked.

    >>> import onnx
    >>> onnx.save(onnx.load("model.onnx"), "m.onnx", save_as_external_data=True,
    ...           location="m.onnx.data", size_threshold=0)
    >>> [p.name for p in check_external_data(onnx.load("m.onnx", load_external_data=False), "m.onnx")]
    ['m.onnx.data']
    """
    where = where or (str(model_path) if model_path is not None else "model")
    locations = external_locations(model)
    for location in locations:
        why = _escapes(location)
        if why is not None:
            raise _refuse(where, location, why)
    if model_path is None:
        return []
    folder = Path(os.path.abspath(model_path)).parent
    real_folder = folder.resolve()
    files: list[Path] = []
    for location in locations:
        try:
            target = (folder / location).resolve()
        except (OSError, RuntimeError):         # a symbolic-link loop, a name too long
            raise _refuse(where, location, "cannot be resolved") from None
        if not target.is_relative_to(real_folder):
            raise _refuse(where, location, "leads out of the model's folder (through a symbolic link)")
        if require_files and not target.is_file():
            raise _refuse(where, location, "is not a file in the model's folder")
        files.append(target)
    return files
