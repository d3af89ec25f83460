"""Tiny ONNX models for the latency tests, written with onnx.helper, and a synthetic host
profile (the tests never measure this host's peaks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from flopscope.latency import peaks
from flopscope.latency.predict import Calibration

#: FLOPs of conv_bn_relu at batch 1 (flopscope convention), by hand:
#: Conv 8x3x3x3 with bias, pad 1, on 1x3x8x8 -> 1x8x8x8 = 512 outputs, each 2*27-1 + 1 = 54 FLOPs
CONV_FLOPS = 512 * 54
#: BatchNormalization 2 per element, Relu 1 per element
BN_FLOPS, RELU_FLOPS = 2 * 512, 512
TOTAL_FLOPS = CONV_FLOPS + BN_FLOPS + RELU_FLOPS


def _weights() -> list[onnx.TensorProto]:
    rng = np.random.default_rng(0)
    arrays = {
        "w": rng.standard_normal((8, 3, 3, 3)).astype(np.float32),
        "b": rng.standard_normal(8).astype(np.float32),
        "scale": (np.abs(rng.standard_normal(8)) + 1).astype(np.float32),
        "shift": rng.standard_normal(8).astype(np.float32),
        "mean": rng.standard_normal(8).astype(np.float32),
        "var": (np.abs(rng.standard_normal(8)) + 1).astype(np.float32),
    }
    return [numpy_helper.from_array(a, n) for n, a in arrays.items()]


def conv_bn_relu_model(batch: int | str = "N", names: bool = True) -> onnx.ModelProto:
    """x -> Conv (3x3, bias) -> BatchNormalization -> Relu -> y; ONNX Runtime folds the BN
    into the Conv at every optimisation level from basic, and fuses the Relu from extended."""
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv" if names else "",
                         pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("BatchNormalization", ["c", "scale", "shift", "mean", "var"], ["n"],
                         name="bn" if names else ""),
        helper.make_node("Relu", ["n"], ["y"], name="relu" if names else ""),
    ]
    graph = helper.make_graph(
        nodes, "conv_bn_relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 8, 8, 8])],
        _weights())
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def conv_bn_relu(folder: Path, batch: int | str = "N", names: bool = True,
                 filename: str = "net.onnx") -> Path:
    """:func:`conv_bn_relu_model` saved in ``folder``."""
    path = Path(folder) / filename
    onnx.save(conv_bn_relu_model(batch, names), str(path))
    return path


def with_external_data(folder: Path, location: str = "net.data") -> Path:
    """The model with its weights in an external file ``location`` inside ``folder``."""
    path = Path(folder) / "ext.onnx"
    onnx.save(conv_bn_relu_model(), str(path), save_as_external_data=True,
              all_tensors_to_one_file=True, location=location, size_threshold=0)
    return path


def synthetic_host(key: str = "", gflops: float = 1.0, bandwidth: float = 1.0,
                   int8: float | None = None) -> peaks.HostProfile:
    """A host profile with made-up peaks (``int8``: an int8 peak too) and calibration."""
    cal = Calibration({"Conv/compute": 0.5, "*/memory": 0.25}, overhead_ms=0.01, samples=3)
    gflops_per_s = {"fp32": gflops} if int8 is None else {"fp32": gflops, "int8": int8}
    return peaks.HostProfile(key, gflops_per_s, bandwidth, cal, "today", "synthetic")


def use_synthetic_host(monkeypatch, folder: Path, gflops: float = 100.0,
                       bandwidth: float = 10.0) -> list[tuple[str, int]]:
    """Make :func:`flopscope.latency.peaks.host_profile` "measure" :func:`synthetic_host`
    into a fresh cache in ``folder``; returns the (preset, threads) it is measured for."""
    calls: list[tuple[str, int]] = []

    def measure(preset, threads):
        calls.append((preset.name, threads))
        return synthetic_host(gflops=gflops, bandwidth=bandwidth)

    monkeypatch.setenv(peaks.CACHE_ENV, str(folder))
    monkeypatch.setattr(peaks, "measure_host", measure)
    return calls
