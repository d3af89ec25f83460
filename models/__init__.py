"""Reference architectures (PyTorch), installed as ``flopscope.models``."""
