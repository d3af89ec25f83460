"""The backward ATen mappings (frontends/aten_backward.py): each gradient op a training
step runs becomes its ai.flopscope node, and nothing is left unsupported."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from flopscope.analysis import build_report  # noqa: E402
from flopscope.frontends.torch_train import load_train  # noqa: E402


class Activations(nn.Module):
    """One of each pointwise activation, a log-softmax and a slice, between linears."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(8, 8)
        self.b = nn.Linear(8, 8)

    def forward(self, x):
        x = self.a(x)
        x = F.hardtanh(x) + F.leaky_relu(x) + torch.sigmoid(x) + torch.tanh(x) + F.silu(x)
        x = self.b(x)[:, 1:5]
        return F.log_softmax(x, dim=-1)


def grad_ops(model, shape):
    trace = load_train(model, shape)
    report = build_report(trace.graph)
    assert report.coverage.complete, (report.coverage.unsupported, report.coverage.unresolved)
    return {layer.op for layer, phase in zip(report.layers, trace.phases) if phase == "backward"}


def test_pointwise_gradients_map_onto_their_grad_ops():
    ops = grad_ops(Activations(), (3, 8))
    assert {"ai.flopscope.HardtanhGrad", "ai.flopscope.LeakyReluGrad", "ai.flopscope.SigmoidGrad",
            "ai.flopscope.TanhGrad", "ai.flopscope.SiluGrad",
            "ai.flopscope.LogSoftmaxGrad"} <= ops


class Blocks(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(20, 8)
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.ln = nn.LayerNorm(8)
        self.drop = nn.Dropout(0.5)

    def forward(self, idx):
        x = self.drop(self.ln(self.emb(idx)))                       # (2, 8, 8)
        y = F.relu(self.bn(self.conv(x.unsqueeze(1))))
        y = F.max_pool2d(y, 2) + F.avg_pool2d(y, 2)
        return F.gelu(F.adaptive_avg_pool2d(y, 1).flatten(1)).softmax(-1)[:, 0]


def test_layer_gradients_map_onto_their_grad_ops():
    """(Dropout on the CPU is a mask multiply, so its gradient is a Mul; the fused
    native_dropout_backward that DropoutGrad maps is what other devices run.)"""
    ops = grad_ops(Blocks(), ((2, 8), torch.long))
    assert {"ai.flopscope.EmbeddingGrad", "ai.flopscope.ConvGrad", "ai.flopscope.BatchNormGrad",
            "ai.flopscope.LayerNormGrad", "ai.flopscope.ReluGrad",
            "ai.flopscope.MaxPoolGrad", "ai.flopscope.AvgPoolGrad", "ai.flopscope.GeluGrad",
            "ai.flopscope.SoftmaxGrad"} <= ops
