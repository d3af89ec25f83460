"""Resource bounds: a model whose weights are far past protobuf's 2 GiB limit, stored as
external data, is analysed from its small ``.onnx`` file in memory proportional to the
graph; the weights file is never read. (A single-file ONNX model cannot pass 2 GiB:
``test_bad_inputs`` shows such a file refused with advice.)"""

from __future__ import annotations

import json
import subprocess
import sys

import onnx
from onnx import helper

from tests.robustness.helpers import external_tensor, model, vi

#: 4 square float32 weights of 32768^2: 4 GiB each, 16 GiB declared in all
SIDE, LAYERS = 2**15, 4

MEASURE = """
import contextlib, io, json, resource, sys
from flopscope.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = main(["report", sys.argv[1], "--format", "json"])
try:      # this image's high-water mark (ru_maxrss would count the forked parent's too)
    peak_kib = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
except OSError:
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"code": code, "peak_mib": peak_kib / 1024, "report": json.loads(out.getvalue())}))
"""


def test_16_gib_of_external_weights_analysed_in_small_memory(tmp_path):
    weights = []
    for i in range(LAYERS):
        w = external_tensor(f"w{i}", [SIDE, SIDE], "weights.bin")
        w.external_data[1].value = str(i * 4 * SIDE * SIDE)           # offset
        weights.append(w)
    nodes = [helper.make_node("MatMul", [f"h{i}", f"w{i}"], [f"h{i + 1}"], name=f"fc{i}")
             for i in range(LAYERS)]
    path = tmp_path / "big.onnx"
    onnx.save_model(model(nodes, [vi("h0", [1, SIDE])], [vi(f"h{LAYERS}", [1, SIDE])], weights), str(path))
    with open(tmp_path / "weights.bin", "wb") as f:
        f.truncate(LAYERS * 4 * SIDE * SIDE)                          # sparse: no disk, never read
    assert path.stat().st_size < 2000

    result = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    measured = json.loads(result.stdout)
    assert measured["code"] == 0
    totals = measured["report"]["totals"]
    assert totals["param_bytes"] == LAYERS * 4 * SIDE**2 == 16 * 2**30
    assert totals["macs"] == LAYERS * SIDE**2
    # the interpreter with onnx imported is ~50 MiB; the weights would be 16,384 MiB
    assert measured["peak_mib"] < 300, measured["peak_mib"]
