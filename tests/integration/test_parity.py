"""The PyTorch path and the ONNX path of the same exported model agree on MACs exactly.

Every reference architecture is exported structure-only (dynamo exporter, weights as
graph inputs, traced on the meta device) and analysed again from the ONNX file. FLOP and
parameter differences come from what the exporters write, and each one is explained
here by formula: a bias-free convolution is exported with an expanded zero bias, which
ONNX's Conv adds (one FLOP per output); the TorchScript exporter folds BatchNorm into the
convolutions.
"""

from __future__ import annotations

import warnings
from math import prod

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from flopscope.analysis import analyze  # noqa: E402
from flopscope.export import export_onnx  # noqa: E402
from flopscope.models import catalog  # noqa: E402


def bias_free_conv_outputs(report) -> int:
    """Output elements of convolutions costed without a bias: (2n-1) FLOPs per output."""
    total = 0
    for layer in report.layers:
        if layer.op == "Conv":
            outputs = prod(layer.output_shapes[0])
            n = layer.macs // outputs
            if layer.flops == (2 * n - 1) * outputs:
                total += outputs
    return total


@pytest.mark.parametrize("name", catalog.names())
def test_reference_architecture_paths_agree(name, tmp_path):
    path = export_onnx(name, None, tmp_path / f"{name}.onnx", weights=False)
    torch_report, onnx_report = analyze(name), analyze(path)
    assert onnx_report.coverage.percent == torch_report.coverage.percent == 100.0
    assert onnx_report.totals.macs == torch_report.totals.macs
    # the only FLOP difference: the zero bias the exporter adds to bias-free convolutions
    assert onnx_report.totals.flops - torch_report.totals.flops == bias_free_conv_outputs(torch_report)
    # structure-only export: the weights are graph inputs, one per PyTorch parameter/buffer
    weight_inputs = {i.name for i in onnx_report.model.inputs[1:]}
    assert set(dict(_meta(name).named_parameters())) <= weight_inputs


def _meta(name: str):
    with torch.device("meta"):
        return catalog.build(name)


def test_full_export_folds_batchnorm(tmp_path):
    """With weights, the TorchScript exporter folds BatchNorm into the convolutions."""
    path = export_onnx("resnet18", None, tmp_path / "r18.onnx")
    torch_report, onnx_report = analyze("resnet18"), analyze(path)
    assert onnx_report.totals.macs == torch_report.totals.macs
    assert "BatchNormalization" not in {layer.op for layer in onnx_report.layers}
    model = _meta("resnet18")
    bn = sum(p.numel() for m in model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters())
    conv_biases = sum(m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d))
    folded = torch_report.totals.params - bn + conv_biases
    # untrained BatchNorm folds into equal zero biases, which the exporter stores once per
    # size: 5 convolutions of each width (64, 128, 256, 512) share one bias
    shared = sum(4 * c for c in (64, 128, 256, 512))
    assert onnx_report.totals.params == folded - shared
    # FLOPs: BatchNorm's 2 per element go, each convolution gains its bias add
    bn_flops = sum(layer.flops for layer in torch_report.layers if layer.op == "BatchNormalization")
    assert onnx_report.totals.flops == torch_report.totals.flops - bn_flops + bias_free_conv_outputs(
        torch_report)


class TransformerBlock(nn.Module):
    def __init__(self, d: int = 32, heads: int = 4) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        self.heads = heads

    def forward(self, x):
        b, s, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(b, s, 3, self.heads, d // self.heads).permute(
            2, 0, 3, 1, 4)
        a = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(a.transpose(1, 2).reshape(b, s, d))
        return x + self.mlp(self.norm2(x))


class Recurrent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(16, 32, batch_first=True)
        self.head = nn.Linear(32, 4)

    def forward(self, x):
        return self.head(self.lstm(x)[0][:, -1])


class Twice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())

    def forward(self, x):
        return self.block(self.block(x))


def randomised(module: nn.Module) -> nn.Module:
    """Distinct random weights: an exporter stores identical tensors (fresh LayerNorm
    weights are all ones) once, which would make the parameter counts differ."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_()
    return module


@pytest.mark.parametrize("module, shape, exporter", [
    (TransformerBlock, (2, 10, 32), "torchscript"),
    (TransformerBlock, (2, 10, 32), "dynamo"),
    (Twice, (1, 8, 16, 16), "torchscript"),
])
def test_small_models_agree(module, shape, exporter, tmp_path):
    module = randomised(module())
    path = export_onnx(module, shape, tmp_path / "m.onnx", exporter=exporter)
    torch_report, onnx_report = analyze(module, shape), analyze(path)
    assert onnx_report.coverage.complete, onnx_report.coverage
    assert onnx_report.totals.macs == torch_report.totals.macs
    # ONNX counts every floating-point constant the graph uses: the parameters, plus the
    # literals the exporter writes as Constant nodes (a softmax scale, GELU's 0.5...)
    assert onnx_report.totals.params == torch_report.totals.params + non_weight_constants(path, module)


def non_weight_constants(path, module) -> int:
    """Elements of the floating-point constants in an ONNX file that are not weights.

    ONNX counts every floating-point constant the graph uses as a parameter; exporters
    add literals (a softmax scale, GELU's 0.5) and the dynamo exporter precomputes the
    causal mask. Weights may be renamed or stored transposed, so a constant is a weight
    when its shape, up to the order of its dims, is a parameter's shape.
    """
    import onnx

    floats = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE}
    weight_shapes = {tuple(sorted(p.shape)) for p in module.parameters()}
    model = onnx.load(str(path))
    tensors = list(model.graph.initializer)
    tensors += [a.t for n in model.graph.node if n.op_type == "Constant" for a in n.attribute
                if a.name == "value"]
    total = sum(prod(t.dims) for t in tensors
                if t.data_type in floats and tuple(sorted(t.dims)) not in weight_shapes)
    total += sum(1 for n in model.graph.node if n.op_type == "Constant" for a in n.attribute
                 if a.name == "value_float")
    return total


def test_lstm_paths_agree(tmp_path):
    module = randomised(Recurrent())
    batch, hidden = 3, 32
    path = export_onnx(module, (batch, 7, 16), tmp_path / "lstm.onnx")
    torch_report, onnx_report = analyze(module, (batch, 7, 16)), analyze(path)
    assert "LSTM" in {layer.op for layer in onnx_report.layers}
    assert onnx_report.totals.macs == torch_report.totals.macs == 7 * batch * 4 * hidden * (16 + hidden) \
        + batch * hidden * 4
    assert onnx_report.totals.flops == torch_report.totals.flops
    # the exporter feeds the LSTM zero initial states, one constant for h0 and c0
    assert onnx_report.totals.params == torch_report.totals.params + 1 * batch * hidden


def test_submodule_called_twice_is_costed_twice_and_counted_once(tmp_path):
    path = export_onnx(Twice(), (1, 8, 16, 16), tmp_path / "twice.onnx")
    onnx_report = analyze(path)
    conv_macs = 16 * 16 * 8 * 8 * 9
    assert onnx_report.totals.macs == 2 * conv_macs
    assert onnx_report.totals.params == 8 * 8 * 9 + 8      # one weight, used twice


class _Op(nn.Module):
    """One functional op as a module, its extra constant arguments kept inside."""

    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *xs):
        return self.fn(*xs)


F = nn.functional
_TARGET = torch.tensor([3, 0, 7, 9])


@pytest.mark.parametrize("fn, shapes, onnx_op", [
    (lambda x, g: F.grid_sample(x, g, align_corners=False), [(1, 3, 8, 8), (1, 5, 5, 2)], "GridSample"),
    (lambda x, g: F.grid_sample(x, g, mode="nearest", padding_mode="border", align_corners=True),
     [(1, 3, 8, 8), (1, 5, 5, 2)], "GridSample"),
    (lambda x, g: F.grid_sample(x, g, mode="bicubic", padding_mode="reflection", align_corners=False),
     [(2, 4, 6, 6), (2, 3, 7, 2)], "GridSample"),
    # 5 x 3 blocks of 2x2 for 3 channels: (4 + 2 - 2) / 1 + 1 = 5, (5 + 2 - 2) // 2 + 1 = 3
    (lambda x: F.fold(x, (4, 5), 2, padding=1, stride=(1, 2)), [(1, 12, 15)], "Col2Im"),
    (lambda x: torch.linalg.det(x), [(4, 3, 3)], "Det"),
    (lambda x: F.cross_entropy(x, _TARGET), [(4, 10)], "SoftmaxCrossEntropyLoss"),
    (lambda x: F.nll_loss(x, _TARGET, reduction="sum"), [(4, 10)], "NegativeLogLikelihoodLoss"),
], ids=["grid_sample", "grid_sample_nearest", "grid_sample_bicubic", "fold", "det", "cross_entropy",
        "nll_loss"])
def test_functional_ops_agree_with_their_onnx_export(fn, shapes, onnx_op, tmp_path):
    """The ATen calls the PyTorch path maps onto newer ONNX ops cost what the exported op
    costs (F.cross_entropy is log_softmax + nll_loss in ATen, one op in ONNX)."""
    module = _Op(fn)
    inputs = tuple(torch.rand(s) for s in shapes)
    path = tmp_path / "m.onnx"
    with warnings.catch_warnings():              # the TorchScript exporter's deprecation notices
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(module, inputs, str(path), opset_version=20, dynamo=False)
    torch_report, onnx_report = analyze(module, inputs), analyze(path)
    assert onnx_op in {layer.op for layer in onnx_report.layers}
    assert torch_report.coverage.complete and onnx_report.coverage.complete, (
        torch_report.layers, onnx_report.layers)
    assert (onnx_report.totals.macs, onnx_report.totals.flops) == (
        torch_report.totals.macs, torch_report.totals.flops)
