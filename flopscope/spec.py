"""How a model is named on the command line and in budget files."""

from __future__ import annotations


def factory_spec(text: str) -> tuple[str, str] | None:
    """``("path/to/file.py", "factory")`` for a ``path/to/file.py:factory`` spec, else None.

    >>> factory_spec("nets/detector.py:build")
    ('nets/detector.py', 'build')
    >>> factory_spec("resnet50") is None and factory_spec("C:/models/m.onnx") is None
    True
    """
    path, colon, factory = text.rpartition(":")
    return (path, factory) if colon and path.endswith(".py") else None
