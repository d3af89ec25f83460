"""Reports spelled out by hand for the notebook-API tests (DataFrame, HTML, plots, compare).

``synthetic(n)`` is an ``n``-layer conv/relu chain in 8 top-level modules, with one
unsupported and one unresolved layer, so every column can be checked by hand and a large
``n`` stands in for a big model without building one.
"""

from __future__ import annotations

from flopscope.report import (
    OK,
    UNRESOLVED,
    UNSUPPORTED,
    Coverage,
    InputInfo,
    Latency,
    Layer,
    ModelInfo,
    Report,
    Totals,
)


def layer(i: int, status: str = OK) -> Layer:
    """Layer ``i``: a Conv (even) or a Relu (odd) of block ``i % 8``; MACs ``1000 + i``."""
    conv = i % 2 == 0
    costed = status == OK
    return Layer(name=f"block{i % 8}.layer{i}/{'Conv' if conv else 'Relu'}",
                 op="Conv" if conv else "Relu", module=f"block{i % 8}.layer{i}",
                 output_shapes=[[1, 16, 8, 8]],
                 macs=(1000 + i if conv else 0) if costed else None,
                 flops=(2000 + 2 * i if conv else 1024) if costed else None,
                 params=144 if conv else 0, output_bytes=4096, traffic_bytes=8192 + (576 if conv else 0),
                 status=status, reason="" if costed else "why not")


def synthetic(n: int = 10, name: str = "synthetic") -> Report:
    """An ``n``-layer report whose layer 1 is unsupported and layer 3 unresolved (n >= 4)."""
    layers = [layer(i, UNSUPPORTED if i == 1 else UNRESOLVED if i == 3 else OK) for i in range(n)]
    layers[1].op = "com.example.Fancy"
    totals = Totals(macs=sum(l.macs or 0 for l in layers), flops=sum(l.flops or 0 for l in layers),
                    params=sum(l.params for l in layers), param_bytes=4 * sum(l.params for l in layers),
                    activation_bytes=4096 * n, peak_activation_bytes=8192,
                    traffic_bytes=sum(l.traffic_bytes or 0 for l in layers))
    coverage = Coverage(nodes=n, costed=n - 2, unsupported={"com.example.Fancy": 1}, unresolved={"Relu": 1})
    return Report(model=ModelInfo(name, "onnx", [InputInfo("x", ["N", 16, 8, 8], "float32")]),
                  convention="flopscope", totals=totals, coverage=coverage, layers=layers,
                  notes=["symbolic dim N bound to 1"])


def latency(p50_ms: float = 2.0, **extra) -> Latency:
    """A measured latency, as ``flopscope.bench`` would attach it."""
    return Latency(preset="cpu", provider="CPUExecutionProvider", threads=2, batch=1, iterations=50,
                   p50_ms=p50_ms, p90_ms=p50_ms * 1.2, p99_ms=p50_ms * 1.5, mean_ms=p50_ms * 1.05,
                   std_ms=0.1, **extra)
