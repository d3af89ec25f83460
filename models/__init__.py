"""Reference architectures (PyTorch), installed as ``flopscope.models``.

Importing the package does not import torch; :func:`build` does, for the model it builds.
"""

from .catalog import CATALOG, ModelSpec, build, names, spec

__all__ = ["CATALOG", "ModelSpec", "build", "names", "spec"]
