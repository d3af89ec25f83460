"""The PyTorch frontend: fake-tensor tracing, ATen mapping, parameters, module paths."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from flopscope.analysis import analyze  # noqa: E402
from flopscope.errors import FlopscopeError  # noqa: E402


def by_op(report, op):
    return [layer for layer in report.layers if layer.op == op]


class ConvBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        x = F.max_pool2d(x, 2)
        return self.fc(x.mean((2, 3)))


def test_conv_block_by_hand():
    report = analyze(ConvBlock(), (2, 3, 16, 16))
    conv_macs = 2 * 8 * 16 * 16 * (3 * 3 * 3)            # N·Cout·H·W·Cin·k·k
    fc_macs = 2 * 8 * 10
    assert report.totals.macs == conv_macs + fc_macs
    (conv,) = by_op(report, "Conv")
    assert conv.macs == conv_macs
    assert conv.flops == (2 * 27 - 1) * 2 * 8 * 16 * 16   # no bias
    assert conv.module == "conv" and conv.params == 8 * 3 * 3 * 3
    (bn,) = by_op(report, "BatchNormalization")
    assert bn.flops == 2 * (2 * 8 * 16 * 16) and bn.params == 16
    (relu,) = by_op(report, "Relu")
    assert relu.flops == 2 * 8 * 16 * 16
    (pool,) = by_op(report, "MaxPool")
    assert pool.flops == (4 - 1) * 2 * 8 * 8 * 8
    (mean,) = by_op(report, "ReduceMean")
    assert mean.flops == 64 * 2 * 8                       # 63 adds + 1 divide per output
    (gemm,) = by_op(report, "Gemm")
    assert gemm.flops == (2 * 8 - 1) * 20 + 20            # with bias
    assert report.totals.params == 8 * 27 + 16 + 8 * 10 + 10
    assert report.totals.buffers == 8 + 8 + 1             # running mean, var, batch count
    assert report.totals.trainable_params == report.totals.params
    assert report.coverage.percent == 100.0


def test_shared_module_runs_twice_but_counts_params_once():
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.block = nn.Linear(16, 16)

        def forward(self, x):
            return self.block(torch.relu(self.block(x)))

    report = analyze(Twice(), (4, 16))
    assert report.totals.macs == 2 * 4 * 16 * 16
    assert report.totals.params == 16 * 16 + 16
    assert sum(layer.params for layer in report.layers) == 16 * 16 + 16


def test_tied_weights_counted_once():
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(100, 32)
            self.head = nn.Linear(32, 100, bias=False)
            self.head.weight = self.embed.weight

        def forward(self, ids):
            return self.head(self.embed(ids))

    report = analyze(Tied(), [((2, 5), torch.int64)])
    assert report.totals.params == 100 * 32
    assert report.totals.macs == 2 * 5 * 32 * 100
    assert report.model.inputs[0].dtype == "int64"


def test_functional_calls_are_costed_like_modules():
    class Functional(nn.Module):
        def forward(self, q, k):
            s = q @ k.transpose(-1, -2)                        # (2, 4, 6, 6)
            e = torch.einsum("bhqk,bhkd->bhqd", F.softmax(s, dim=-1), k)
            return F.scaled_dot_product_attention(q, k, e, is_causal=True)

    b, h, n, d = 2, 4, 6, 8
    report = analyze(Functional(), [(b, h, n, d), (b, h, n, d)])
    matmul_macs = b * h * n * n * d * 2                         # q@kᵀ and the einsum
    attention_macs = b * h * n * n * (d + d)
    assert report.totals.macs == matmul_macs + attention_macs
    (attn,) = by_op(report, "Attention")
    scores, rows = b * h * n * n, b * h * n
    assert attn.flops == scores * ((2 * d - 1) + 1 + 1) + rows * (5 * n - 2) + b * h * n * d * (2 * n - 1)
    (softmax,) = by_op(report, "Softmax")
    assert softmax.flops == rows * (5 * n - 2)


def test_multihead_attention_fast_path_matches_slow_path():
    mha = nn.MultiheadAttention(32, 4, batch_first=True)

    class Fast(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mha = mha

        def forward(self, x):
            return self.mha(x, x, x, need_weights=False)[0]

    class Slow(Fast):
        def forward(self, x):
            return self.mha(x, x, x, need_weights=True)[0]

    fast, slow = analyze(Fast(), (2, 10, 32)), analyze(Slow(), (2, 10, 32))
    b, s, e = 2, 10, 32
    expected = 4 * b * s * e * e + b * s * s * e * 2                # 4 projections + QKᵀ + PV
    assert fast.totals.macs == slow.totals.macs == expected
    assert fast.totals.params == slow.totals.params == 4 * e * e + 4 * e


class FusedAttention(nn.Module):
    """Calls the fused kernel that nn.MultiheadAttention's eval fast path uses. (Under the
    tracer that fast path is not taken: flopscope's torch-function mode makes
    nn.MultiheadAttention see a torch function and take the unfused path, with the same
    MACs. The kernel itself must still be costed when a model calls it.) The CPU tensor
    made in forward() sends the trace to fake tensors, where the kernel runs."""

    def __init__(self) -> None:
        super().__init__()
        self.mha = nn.MultiheadAttention(32, 4, batch_first=True)

    def forward(self, x):
        x = x + torch.zeros(x.shape[-1])
        m = self.mha
        return torch._native_multi_head_attention(
            x, x, x, m.embed_dim, m.num_heads, m.in_proj_weight, m.in_proj_bias,
            m.out_proj.weight, m.out_proj.bias, None, False)[0]


def test_fused_multihead_attention_kernel_is_expanded():
    report = analyze(FusedAttention(), (2, 10, 32))
    ops = [layer.op for layer in report.layers]
    assert "Attention" in ops and ops.count("MatMul") == 4     # q, k, v and out projections
    b, s, e = 2, 10, 32
    assert report.totals.macs == 4 * b * s * e * e + b * s * s * e * 2
    assert report.totals.params == 4 * e * e + 4 * e


def test_fused_encoder_layer_kernel_is_expanded():
    class FusedLayer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)

        def forward(self, x):
            x = x + torch.zeros(x.shape[-1])
            l, a = self.layer, self.layer.self_attn
            return torch._transformer_encoder_layer_fwd(
                x, a.embed_dim, a.num_heads, a.in_proj_weight, a.in_proj_bias, a.out_proj.weight,
                a.out_proj.bias, False, False, l.norm1.eps, l.norm1.weight, l.norm1.bias,
                l.norm2.weight, l.norm2.bias, l.linear1.weight, l.linear1.bias, l.linear2.weight,
                l.linear2.bias, None)

    fused = analyze(FusedLayer(), (2, 10, 32))
    assert {"Attention", "LayerNormalization", "MatMul", "Relu"} <= {l.op for l in fused.layers}
    plain = analyze(nn.TransformerEncoderLayer(32, 4, 64, batch_first=True), (2, 10, 32))
    assert fused.totals.macs == plain.totals.macs
    assert fused.totals.params == plain.totals.params


def test_transformer_encoder_layer_fused_path():
    layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)
    report = analyze(layer, (2, 10, 32))
    b, s, e, f = 2, 10, 32, 64
    assert report.totals.macs == 4 * b * s * e * e + 2 * b * s * s * e + 2 * b * s * e * f
    assert report.totals.params == sum(p.numel() for p in layer.parameters())
    assert {"LayerNormalization", "MatMul", "Relu"} <= {l.op for l in report.layers}


def test_lstm_by_hand():
    lstm = nn.LSTM(8, 16, num_layers=2, bidirectional=True, batch_first=True)
    report = analyze(lstm, (3, 5, 8))
    b, t, h = 3, 5, 16
    layer0 = 2 * t * b * 4 * h * (8 + h)          # two directions, input 8
    layer1 = 2 * t * b * 4 * h * (2 * h + h)      # input is both directions' outputs
    assert report.totals.macs == layer0 + layer1
    assert report.totals.params == sum(p.numel() for p in lstm.parameters())
    assert sum(layer.params for layer in report.layers) == report.totals.params


def test_unknown_aten_op_is_reported_not_zero():
    class Bessel(nn.Module):
        def forward(self, x):
            return torch.special.bessel_j0(x).relu()

    report = analyze(Bessel(), (4, 8))
    (op,) = report.coverage.unsupported
    assert op.startswith("aten.special_bessel_j0")
    assert report.coverage.percent < 100.0
    assert not any("unsupported" in note for note in report.notes)     # coverage says it
    from flopscope.render import render

    assert f"unsupported: {op} x1" in render(report)


def test_user_model_is_not_modified():
    model = ConvBlock().train()
    model.fc.weight.requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    attrs = set(vars(model))
    report = analyze(model, (1, 3, 8, 8))
    assert model.training and model.conv.training
    assert set(vars(model)) == attrs
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert not model._forward_hooks and not model._forward_pre_hooks
    assert not torch.nn.modules.module._global_forward_hooks
    assert not torch.nn.modules.module._global_forward_pre_hooks
    assert report.totals.frozen_params == 8 * 10
    assert report.totals.trainable_params == report.totals.params - 80


def test_meta_device_model_is_analysed_without_weights():
    with torch.device("meta"):
        big = nn.Sequential(*[nn.Linear(8192, 8192) for _ in range(100)])   # 6.7 G params
    report = analyze(big, (1, 8192))
    assert report.totals.params == 100 * (8192 * 8192 + 8192)
    assert report.totals.macs == 100 * 8192 * 8192
    assert any("meta" in note for note in report.notes)


def test_data_dependent_model_fails_cleanly():
    class DataDependent(nn.Module):
        def forward(self, x):
            return x * 2 if x.sum().item() > 0 else x

    with pytest.raises(FlopscopeError, match="data-dependent"):
        analyze(DataDependent(), (4,))


def test_module_rollup_by_depth():
    class Outer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stage = nn.Sequential(ConvBlock(), nn.Identity())

        def forward(self, x):
            return self.stage(x)

    report = analyze(Outer(), (1, 3, 8, 8))
    rows = {row.module: row for row in report.by_module(3)}
    assert rows[""].macs == report.totals.macs
    assert rows["stage"].macs == rows["stage.0"].macs == report.totals.macs
    assert rows["stage.0.conv"].macs == 8 * 8 * 8 * 27


def test_input_errors():
    with pytest.raises(FlopscopeError, match="needs example inputs"):
        analyze(ConvBlock())
    with pytest.raises(FlopscopeError, match="forward"):
        analyze(ConvBlock(), (1, 4, 8, 8))          # wrong channel count
    with pytest.raises(FlopscopeError, match="not arguments"):
        analyze(ConvBlock(), {"y": (1, 3, 8, 8)})


class DecoderLayer(nn.Module):
    """A LLaMA-shaped decoder layer: RMSNorm, causal attention, SwiGLU MLP."""

    def __init__(self, d: int, heads: int, ffn: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.RMSNorm(d), nn.RMSNorm(d)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d, bias=False) for _ in range(4))
        self.gate, self.up = nn.Linear(d, ffn, bias=False), nn.Linear(d, ffn, bias=False)
        self.down = nn.Linear(ffn, d, bias=False)

    def forward(self, x):
        b, s, d = x.shape
        h = self.norm1(x)
        q, k, v = (t(h).view(b, s, self.heads, -1).transpose(1, 2) for t in (self.q, self.k, self.v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, s, d)
        x = x + self.o(a)
        h = self.norm2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Decoder(nn.Module):
    def __init__(self, layers=32, d=4096, heads=32, ffn=11008, vocab=32000) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.layers = nn.ModuleList(DecoderLayer(d, heads, ffn) for _ in range(layers))
        self.norm = nn.RMSNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)

    def forward(self, ids):
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x)
        return self.head(self.norm(x))


def test_7b_decoder_on_meta_is_analysed_without_its_weights():
    import resource

    with torch.device("meta"):
        model = Decoder()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = analyze(model, [((1, 128), torch.int64)])
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    d, ffn, vocab, s = 4096, 11008, 32000, 128
    per_layer = 4 * d * d + 3 * d * ffn + 2 * d
    assert report.totals.params == 32 * per_layer + 2 * vocab * d + d == 6_738_415_616
    attention = 32 * (s * s * d * 2)                          # QKᵀ and PV over 32 heads
    assert report.totals.macs == s * (32 * (4 * d * d + 3 * d * ffn) + d * vocab) + attention
    assert grown_kib < 200 * 1024                              # 13.5 GB of weights never allocated
    assert report.coverage.complete


def test_weightless_model_with_a_captured_cpu_tensor():
    """No parameters does not mean "on the meta device": the model's own CPU constant
    sends the trace to fake tensors instead of failing on a device mismatch."""
    scale = torch.arange(1.0, 5.0)

    class Scale(nn.Module):
        def forward(self, x):
            return x * scale + torch.ones(4)

    report = analyze(Scale(), (2, 4))
    assert report.coverage.complete
    assert [(layer.op, layer.flops) for layer in report.layers] == [("Mul", 8), ("Add", 8)]


class _MaskReader(nn.Module):
    """Reads its mask's values: a branch on .all() and a data-dependent gather."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 4)

    def forward(self, x, mask):
        if bool(mask.all()):                     # no padding: every row
            return self.proj(x)
        keep = mask[0].nonzero().squeeze(1)      # only the unpadded rows
        return self.proj(x[:, keep])


def test_mask_reads_are_answered_from_an_all_ones_example():
    report = analyze(_MaskReader(), {"x": (1, 6, 4), "mask": ((1, 6), torch.int64)})
    assert report.totals.macs == 6 * 4 * 4


def test_mask_given_by_value_is_read_as_given():
    mask = torch.tensor([[1, 1, 1, 0, 0, 0]])
    report = analyze(_MaskReader(), {"x": (1, 6, 4), "mask": mask})
    assert report.totals.macs == 3 * 4 * 4


def test_values_of_floating_inputs_stay_unknown():
    class ReadsFloat(nn.Module):
        def forward(self, x):
            return x[: int(x.max().item())]

    with pytest.raises(FlopscopeError, match="data-dependent"):
        analyze(ReadsFloat(), (4,))
