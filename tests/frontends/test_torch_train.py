"""The training-step trace (frontends/torch_train.py): forward and backward on meta tensors,
checked against a real CPU backward (FlopCounterMode, saved_tensors_hooks)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from torch.utils.checkpoint import checkpoint  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from flopscope.analysis import analyze, build_report  # noqa: E402
from flopscope.errors import FlopscopeError  # noqa: E402
from flopscope.frontends import torch_train  # noqa: E402
from flopscope.frontends.torch_train import load_train  # noqa: E402
from flopscope.sources import resolve  # noqa: E402
from tests.frontends.train_models import GPT2, ViT  # noqa: E402


def phase_macs(model, shape, **kwargs):
    """(forward MACs, backward MACs, per-layer rows with phases) of flopscope's trace."""
    trace = load_train(model, shape, **kwargs)
    report = build_report(trace.graph)
    assert report.coverage.complete, (report.coverage.unsupported, report.coverage.unresolved)
    rows = list(zip(report.layers, trace.phases))
    forward = sum(layer.macs for layer, phase in rows if phase == "forward")
    backward = sum(layer.macs for layer, phase in rows if phase != "forward")
    return forward, backward, rows


def flop_counter(model, x):
    """FlopCounterMode's MACs (its FLOPs / 2) of a real CPU forward, then of the backward of
    the outputs' sum, with its per-op counts of each."""
    model.train()
    with FlopCounterMode(display=False) as fwd:
        out = model(x)
    loss = out.sum()
    with FlopCounterMode(display=False) as bwd:
        loss.backward()
    ops = [{str(op): n // 2 for op, n in mode.get_flop_counts()["Global"].items()} for mode in (fwd, bwd)]
    return fwd.get_total_flops() // 2, bwd.get_total_flops() // 2, ops


def test_resnet50_backward_macs_equal_flop_counter_on_a_real_cpu_backward():
    """No known difference: convolution_backward and mm are counted alike. Training is
    3x forward less the grad-input of conv1, whose input (the image) needs no gradient."""
    shape = (2, 3, 64, 64)
    forward, backward, rows = phase_macs("resnet50", shape)
    model, _ = resolve("resnet50").build(weights=True)
    fc_forward, fc_backward, (_, fc_ops) = flop_counter(model, torch.randn(shape))
    assert (forward, backward) == (fc_forward, fc_backward)
    assert set(fc_ops) == {"aten.convolution_backward", "aten.mm"}
    conv1 = 2 * 64 * 32 * 32 * 3 * 7 * 7            # N·Cout·out_spatial·Cin·k²
    assert forward + backward == 3 * forward - conv1
    grads = [layer for layer, phase in rows if phase == "backward" and layer.module == "conv1"
             and layer.macs]
    assert [layer.macs for layer in grads] == [conv1]   # its grad-weight only


def test_vit_backward_macs_equal_flop_counter():
    """ViT-B/16's structure; the patch-embedding conv is the first layer: no grad-input."""
    model = ViT()
    forward, backward, _ = phase_macs(model, (2, 3, 32, 32))
    fc_forward, fc_backward, _ = flop_counter(model, torch.randn(2, 3, 32, 32))
    assert (forward, backward) == (fc_forward, fc_backward)
    patches = 2 * 64 * 2 * 2 * 3 * 16 * 16
    assert backward == 2 * forward - patches


def test_gpt2_backward_macs_equal_flop_counter_after_the_attention_kernel():
    """GPT-2 small's structure. Known difference, op by op: on the CPU,
    F.scaled_dot_product_attention runs aten._scaled_dot_product_flash_attention_for_cpu
    and its _backward (flopscope traces on fake CPU tensors to take the same kernel), for
    which FlopCounterMode has no formula (it counts 0). flopscope counts the attention's
    products: Q·Kᵀ and P·V forward (2·B·H·T·T·d MACs per layer); backward, Q·Kᵀ again
    (the flash kernel recomputes the probabilities) and the grads of V, P, Q and K:
    5·B·H·T·T·d, 2.5x the forward's. Every other op (addmm, mm) agrees."""
    b, t, heads, dim, depth = 2, 16, 4, 64, 2
    model = GPT2(dim=dim, depth=depth, heads=heads)
    forward, backward, _ = phase_macs(model, ((b, t), torch.long))
    fc_forward, fc_backward, (fc_fwd_ops, fc_bwd_ops) = flop_counter(
        model, torch.randint(0, 100, (b, t)))
    attention = depth * 2 * b * heads * t * t * (dim // heads)
    counted = any("scaled_dot_product" in op for op in fc_fwd_ops)
    known = 0 if counted else attention
    assert forward - fc_forward == known
    assert 2 * (backward - fc_backward) == 5 * known
    assert set(fc_bwd_ops) == {"aten.mm"} or counted


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2)
        x = F.gelu(self.conv2(x))
        return self.fc(F.avg_pool2d(x, 2).flatten(1))


def real_saved_bytes(model, x):
    """Bytes of the distinct storages autograd saves on a real CPU forward, model state
    (parameters, buffers) excluded, seen by saved_tensors_hooks."""
    state = {t.untyped_storage()._cdata for t in [*model.parameters(), *model.buffers()]}
    seen = {}

    def pack(t):
        if t.untyped_storage()._cdata not in state:
            seen[t.untyped_storage()._cdata] = t.untyped_storage().nbytes()
        return t

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return sum(seen.values())


@pytest.mark.parametrize(("make", "shape"), [(SmallCNN, (2, 3, 16, 16)), (ViT, (2, 3, 32, 32)),
                                             (lambda: resolve("resnet18").build()[0], (2, 3, 32, 32))])
def test_saved_activation_bytes_equal_what_a_real_cpu_run_saves(make, shape):
    model = make()
    assert load_train(model, shape).saved_bytes == real_saved_bytes(model, torch.randn(shape))


@pytest.mark.parametrize(("precision", "dtype"), [("bf16-mixed", torch.bfloat16),
                                                  ("fp16-mixed", torch.float16)])
def test_mixed_precision_saves_what_a_real_autocast_run_saves(precision, dtype):
    model = SmallCNN()
    x = torch.randn(2, 3, 16, 16)
    with torch.autocast("cpu", dtype=dtype):
        real = real_saved_bytes(model, x)
    traced = load_train(model, x.shape, precision=precision).saved_bytes
    # known difference: the CPU batch-norm kernel keeps its batch mean and inverse std in
    # fp32 for a half-precision input, PyTorch's meta kernel says half: 2 x 8 channels x 2 B
    assert traced + 2 * 8 * 2 == real
    assert traced < load_train(model, x.shape).saved_bytes


def test_attention_saves_what_the_cpu_kernel_saves():
    """The CPU's flash kernel keeps a log-sum-exp per row, not the T×T probabilities the
    math kernel of meta tensors would: the trace takes the CPU's kernel."""
    model = GPT2()
    trace = load_train(model, ((2, 16), torch.long))
    assert trace.saved_bytes == real_saved_bytes(model, torch.randint(0, 100, (2, 16)))
    ops = {n.qualified_op for n in trace.graph.nodes}
    assert "ai.flopscope.AttentionGrad" in ops and "Attention" in ops


def test_saved_bytes_are_attributed_to_the_layers_that_wrote_them():
    report = analyze(SmallCNN(), (2, 3, 16, 16), mode="train")
    x = 2 * 3 * 16 * 16 * 4                              # the image, saved by conv (grad-weight)
    rows = sum(layer.saved_bytes or 0 for layer in report.layers)
    assert rows + x == report.totals.saved_activation_bytes
    relu = [layer for layer in report.layers if layer.op == "Relu"]
    assert relu[0].saved_bytes == 2 * 8 * 16 * 16 * 4    # ReLU's output: its grad and max-pool's
    pool = [layer for layer in report.layers if layer.op == "MaxPool"]
    # the int64 indices of the maxima, and its output (conv2's input, for conv2's grad-weight)
    assert pool[0].saved_bytes == 2 * 8 * 8 * 8 * 8 + 2 * 8 * 8 * 8 * 4


def backward_by_module(rows):
    macs = {}
    for layer, phase in rows:
        if phase == "backward" and layer.macs:
            macs[layer.module] = macs.get(layer.module, 0) + layer.macs
    return macs


def test_first_layer_and_frozen_parameters_get_no_gradient_products():
    model = SmallCNN()
    _, _, rows = phase_macs(model, (2, 3, 16, 16))
    conv = 2 * 8 * 16 * 16 * 3 * 9
    conv2 = 2 * 8 * 8 * 8 * 8 * 9
    fc = 2 * 128 * 10
    assert backward_by_module(rows) == {"fc": 2 * fc, "conv2": 2 * conv2, "conv": conv}
    # a frozen backbone: only the head's grad-weight; its input needs no grad-input
    _, _, rows = phase_macs(model, (2, 3, 16, 16), frozen=["conv*", "bn.*"])
    assert backward_by_module(rows) == {"fc": fc}
    assert all(p.requires_grad for p in model.parameters())     # the module was not changed


def test_backward_ops_are_attributed_to_their_module():
    _, _, rows = phase_macs(SmallCNN(), (2, 3, 16, 16))
    ops = {(layer.module, layer.op) for layer, phase in rows if phase == "backward"}
    assert {("conv", "ai.flopscope.ConvGrad"), ("bn", "ai.flopscope.BatchNormGrad"),
            ("fc", "MatMul"), ("conv2", "ai.flopscope.ConvGrad")} <= ops
    assert ("", "ai.flopscope.ReluGrad") in ops        # F.relu is called at the top level


class Checkpointed(nn.Module):
    def __init__(self, use: bool) -> None:
        super().__init__()
        self.use = use
        self.body = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU())
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        h = checkpoint(self.body, x, use_reentrant=False) if self.use else self.body(x)
        return self.head(h)


def test_activation_checkpointing_recomputes_its_forward_and_saves_its_inputs():
    plain, kept = load_train(Checkpointed(False), (4, 8)), load_train(Checkpointed(True), (4, 8))
    body = 4 * 8 * 16 + 4 * 16 * 16
    recomputed = [n for n, p in zip(kept.graph.nodes, kept.phases) if p == "recompute"]
    assert {n.module for n in recomputed} == {"body.0", "body.1", "body.2", "body.3"}
    report = build_report(kept.graph)
    assert sum(layer.macs for layer, p in zip(report.layers, kept.phases) if p == "recompute") == body
    # without: x, ReLU 1's output, ReLU 2's output (4x16 floats each); with: x and body's output
    assert plain.saved_bytes == 4 * 8 * 4 + 2 * (4 * 16 * 4)
    assert kept.saved_bytes == 4 * 8 * 4 + 4 * 16 * 4


def test_nothing_to_train_and_unmatched_patterns_are_one_line_errors():
    with pytest.raises(FlopscopeError, match="no parameter name matches"):
        load_train(SmallCNN(), (2, 3, 16, 16), frozen=["backbone.*"])
    with pytest.raises(FlopscopeError, match="nothing to train"):
        load_train(SmallCNN(), (2, 3, 16, 16), frozen=["*"])


def test_the_module_is_left_as_it_was():
    model = SmallCNN().eval()
    model.conv.weight.requires_grad_(False)
    load_train(model, (2, 3, 16, 16))
    assert not model.training and not model.conv.weight.requires_grad
    assert all(p.grad is None for p in model.parameters())
    assert model.conv.weight.device.type == "cpu"


def test_frozen_names_match_globs():
    assert torch_train.frozen_names(["a.w", "b.w"], ["a.*"]) == {"a.w"}


class Reentrant(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Linear(8, 8)
        self.body = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16))
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        return self.head(checkpoint(self.body, self.stem(x), use_reentrant=True))


def test_reentrant_checkpointing_is_recomputed_and_its_backward_attributed():
    trace = load_train(Reentrant(), (4, 8))
    report = build_report(trace.graph)
    rows = [(layer.module, phase, layer.macs) for layer, phase in zip(report.layers, trace.phases)
            if layer.macs]
    assert [r for r in rows if r[1] == "recompute"] == [("body.0", "recompute", 4 * 8 * 16),
                                                        ("body.2", "recompute", 4 * 16 * 16)]
    backward = {}
    for module, phase, macs in rows:
        if phase == "backward":
            backward[module] = backward.get(module, 0) + macs
    # every layer: grad-weight and grad-input, except the stem's grad-input (x needs none)
    assert backward == {"head": 2 * 4 * 16 * 4, "body.2": 2 * 4 * 16 * 16, "body.0": 2 * 4 * 8 * 16,
                        "stem": 4 * 8 * 8}
