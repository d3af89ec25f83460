#!/usr/bin/env bash
# The gpu preset on a machine with an NVIDIA GPU: ResNet-50 through `flopscope bench
# --preset gpu` and, beside it, a minimal hand-written ONNX Runtime loop on CUDA with the
# same session options and IO binding. Prints the GPU's name and both p50s.
#
# Run from the repository root on the GPU machine (Python 3.12, with numpy, onnx and
# tabulate importable; torch too for the reference-architecture ResNet-50):
#   bash benchmarks/gpu_check.sh
# onnxruntime-gpu comes from the wheel that ../shared/tools/ort-gpu-wheel.sh splits into
# four parts: gathered in /tmp/parts (part.00 .. part.03), or still in .g1/ .. .g4/ of this
# checkout. It is installed with pip --target into /tmp/site, nothing system-wide.
# Environment: ORT_GPU_VERSION (default 1.31.1), PYTHON (default python3), ITERATIONS (100).
set -euo pipefail

ver=${ORT_GPU_VERSION:-1.31.1}
py=${PYTHON:-python3}
iterations=${ITERATIONS:-100}
repo=$(pwd)

"$py" -c 'import sys; assert sys.version_info[:2] == (3, 12), "the onnxruntime-gpu wheel is for CPython 3.12, not " + sys.version'
"$py" -c 'import numpy, onnx, tabulate' || { echo "numpy, onnx and tabulate must be importable by $py" >&2; exit 2; }

echo "== GPU"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

echo "== onnxruntime-gpu $ver"
if [ ! -d /tmp/site/onnxruntime ]; then
  mkdir -p /tmp/parts
  if ! ls /tmp/parts/part.* >/dev/null 2>&1; then
    cp .g1/part.* .g2/part.* .g3/part.* .g4/part.* /tmp/parts/
  fi
  wheel=/tmp/onnxruntime_gpu-$ver-cp312-cp312-manylinux_2_28_x86_64.whl
  cat /tmp/parts/part.* > "$wheel"
  "$py" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$wheel"
fi
export PYTHONPATH=/tmp/site:$repo${PYTHONPATH:+:$PYTHONPATH}
"$py" - <<'EOF'
import onnxruntime as ort
ort.preload_dlls()
print("onnxruntime", ort.__version__, "from", ort.__file__)
print("providers:", ort.get_available_providers())
EOF

echo "== model"
model=/tmp/flopscope-gpu-resnet50.onnx
"$py" - "$model" <<'EOF'
import shutil, sys
from pathlib import Path
import onnx
out = sys.argv[1]
try:
    import flopscope
    from flopscope.models import catalog
    flopscope.export_onnx(catalog.build("resnet50"), (1, 3, 224, 224), out)
    print("resnet50 from flopscope.models.catalog, exported to", out)
except Exception as exc:  # no catalog or no torch here: the model zoo's ResNet-50
    light = Path(onnx.__file__).parent / "backend/test/data/light/light_resnet50.onnx"
    shutil.copy(light, out)
    print(f"resnet50: light_resnet50.onnx from the onnx wheel ({type(exc).__name__}: {exc})")
EOF

echo "== flopscope bench --preset gpu"
"$py" -m flopscope bench "$model" --preset gpu --iterations "$iterations" --no-progress
"$py" -m flopscope bench "$model" --preset gpu --iterations "$iterations" --no-progress --format json \
  > /tmp/flopscope-gpu-bench.json

echo "== minimal CUDA loop (same session options, IO binding) beside the harness"
"$py" - "$model" "$iterations" <<'EOF'
import json, statistics, sys, time
import numpy as np
import onnxruntime as ort
from flopscope.latency import PRESETS
from flopscope.latency.presets import physical_cores

ort.preload_dlls()
path, iterations = sys.argv[1], int(sys.argv[2])
preset = PRESETS["gpu"]
session = ort.InferenceSession(path, preset.session_options(physical_cores()),
                               providers=["CUDAExecutionProvider"])
assert session.get_providers()[0] == "CUDAExecutionProvider", session.get_providers()
x = session.get_inputs()[0]
shape = [d if isinstance(d, int) else 1 for d in x.shape]
value = ort.OrtValue.ortvalue_from_numpy(np.random.default_rng(0).standard_normal(shape).astype(np.float32),
                                         "cuda", 0)
binding = session.io_binding()
binding.bind_ortvalue_input(x.name, value)
for out in session.get_outputs():
    binding.bind_output(out.name, "cuda", 0)
for _ in range(20):
    session.run_with_iobinding(binding)
times = []
for _ in range(iterations):
    t0 = time.perf_counter()
    session.run_with_iobinding(binding)
    times.append(time.perf_counter() - t0)
minimal = statistics.median(times) * 1e3
lat = json.load(open("/tmp/flopscope-gpu-bench.json"))["latency"]
print(f"provider {lat['provider']}, device {lat['device']}")
print(f"harness p50 {lat['p50_ms']:.3f} ms, minimal loop p50 {minimal:.3f} ms, "
      f"ratio {lat['p50_ms'] / minimal:.3f}")
EOF
