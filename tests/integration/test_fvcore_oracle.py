"""fvcore as an independent oracle: conv, linear and matmul counts agree exactly.

fvcore traces the model with TorchScript on real tensors and counts one "flop" per
multiply-accumulate of convolutions and linear/matmul ops; flopscope counts the same
MACs from its own rules on fake tensors. Inputs are 64x64 to keep the real forward
cheap (the counts scale with the input; agreement does not depend on it).
"""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")
fvcore_nn = pytest.importorskip("fvcore.nn")

from flopscope.analysis import analyze  # noqa: E402
from flopscope.models import catalog  # noqa: E402

#: fvcore operator names of dot products, and the flopscope ops they correspond to
FVCORE_DOT = {"conv", "linear", "addmm", "matmul", "bmm", "mm", "einsum"}
FLOPSCOPE_DOT = {"Conv", "Gemm", "MatMul", "Einsum"}


def small_input(name: str) -> tuple[int, ...]:
    shape = tuple(catalog.spec(name).input_shape)
    return shape if shape[1] != 3 else (1, 3, 64, 64)


@pytest.mark.parametrize("name", catalog.names())
def test_dot_product_macs_match_fvcore(name):
    shape = small_input(name)
    with torch.device("meta"):
        model = catalog.build(name)
    model = model.to_empty(device="cpu").eval()
    for t in (*model.parameters(), *model.buffers()):
        t.detach().zero_()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analysis = fvcore_nn.FlopCountAnalysis(model, torch.zeros(shape))
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        by_op = analysis.by_operator()
    fvcore_macs = sum(v for k, v in by_op.items() if k in FVCORE_DOT)
    report = analyze(name, shape)
    ours = sum(layer.macs for layer in report.layers if layer.op in FLOPSCOPE_DOT)
    assert ours == fvcore_macs, (name, dict(by_op))
    assert report.totals.macs == ours          # every MAC comes from those ops
