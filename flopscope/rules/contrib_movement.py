"""ONNX Runtime's copies between devices: MemcpyFromHost and MemcpyToHost, which a session
optimised for a GPU provider writes into its dump (default domain). Memory traffic only."""

from __future__ import annotations

from flopscope.graph import Node
from flopscope.rules.registry import Cost, rule


@rule("MemcpyFromHost", "MemcpyToHost")
def memcpy(node: Node) -> Cost:
    """A copy between host and device memory: no arithmetic."""
    return Cost()
