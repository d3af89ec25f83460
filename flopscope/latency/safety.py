"""Checks before ONNX Runtime reads a model's external data.

ONNX Runtime loads external weights itself, from the ``location`` each tensor names
relative to the model's folder. A model file may name any path there, so before a
session is created every location must stay inside that folder: no absolute paths, no
``..``, and no symbolic link that leads out of it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath

from onnx import AttributeProto, GraphProto, ModelProto, TensorProto

from flopscope.errors import FlopscopeError


def _graph_tensors(graph: GraphProto) -> Iterator[TensorProto]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        yield from _attribute_tensors(node.attribute)


def _attribute_tensors(attributes) -> Iterator[TensorProto]:
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
    """The distinct external-data locations the model's tensors name, in first-seen order."""
    tensors = list(_graph_tensors(model.graph))
    for function in model.functions:
        for node in function.node:
            tensors.extend(_attribute_tensors(node.attribute))
    seen: dict[str, None] = {}
    for t in tensors:
        if t.data_location != TensorProto.EXTERNAL:
            continue
        entries = {e.key: e.value for e in t.external_data}
        seen.setdefault(entries.get("location", ""), None)
    return list(seen)


def _escapes(location: str) -> str | None:
    """Why ``location`` is not a plain relative path, or None."""
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


def check_external_data(model: ModelProto, model_path: str | os.PathLike[str]) -> list[Path]:
    """Raise FlopscopeError unless every external-data location of ``model`` (read from
    ``model_path``) is an existing file inside the model's folder; return the files.

    >>> check_external_data(onnx.load("m.onnx", load_external_data=False), "m.onnx")  # doctest: +SKIP
    [PosixPath('/models/m.onnx.data')]
    """
    folder = Path(model_path).resolve().parent
    files: list[Path] = []
    for location in external_locations(model):
        why = _escapes(location)
        if why is None:
            target = (folder / location).resolve()
            if not target.is_relative_to(folder):
                why = "leads out of the model's folder (through a symbolic link)"
            elif not target.is_file():
                why = "is not a file in the model's folder"
            else:
                files.append(target)
                continue
        raise FlopscopeError(f"{model_path}: external data location {location!r} {why}; "
                             "flopscope only lets ONNX Runtime read weights stored beside the model")
    return files
