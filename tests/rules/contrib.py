"""One-node models of ONNX Runtime's operators for the rule tests (see tests/builders.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flopscope.analysis import analyze
from flopscope.report import Layer, Report
from tests.builders import InputSpec, layer, single_node

MS = "com.microsoft"
NCHWC = "com.microsoft.nchwc"


def run_op(op: str, inputs: Mapping[str, InputSpec], outputs: Sequence[str] = ("y",),
           attrs: Mapping[str, Any] | None = None, domain: str = MS, opset: int = 17) -> Report:
    """Analyse a one-node model of ``domain``'s ``op``."""
    return analyze(single_node(op, inputs, outputs, attrs, opset, domain=domain))


def cost_op(op: str, inputs: Mapping[str, InputSpec], outputs: Sequence[str] = ("y",),
            attrs: Mapping[str, Any] | None = None, domain: str = MS, opset: int = 17) -> Layer:
    """The costed layer of a one-node model of ``domain``'s ``op`` (asserts it was costed)."""
    qualified = f"{domain}.{op}" if domain else op
    row = layer(run_op(op, inputs, outputs, attrs, domain, opset), qualified)
    assert row.status == "ok", f"{qualified}: {row.status} ({row.reason})"
    return row
