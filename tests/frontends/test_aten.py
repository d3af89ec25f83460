"""ATen -> ONNX mappings (``flopscope/frontends/aten.py``): one declaring door that
refuses a second handler for an ATen name, and the table mappings checked on real
PyTorch calls.

Adding an ATen mapping is one entry in one table of ``aten.py`` and one case in
:data:`MAPPED` below, with its costs worked out by hand.
"""

from __future__ import annotations

import pytest

from flopscope.frontends import aten

torch = pytest.importorskip("torch")

from flopscope.analysis import analyze  # noqa: E402


class _Op(torch.nn.Module):
    """One functional call as a module."""

    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


#: a PyTorch call on a 4x6 input -> (the ONNX op it becomes, its MACs, its FLOPs)
MAPPED = {
    "relu": (torch.relu, "Relu", 0, 24),                              # 1 per element
    "sigmoid": (torch.sigmoid, "Sigmoid", 0, 4 * 24),
    "silu": (torch.nn.functional.silu, "Swish", 0, 5 * 24),
    "sign": (torch.sign, "Sign", 0, 24),
    "sgn": (torch.sgn, "Sign", 0, 24),                                # sign, complex-aware
    "fmod": (lambda x: torch.fmod(x, x), "Mod", 0, 24),
    "maximum": (lambda x: torch.maximum(x, x), "Max", 0, 24),         # 2 inputs: one compare
    "sum": (lambda x: x.sum(1), "ReduceSum", 0, 4 * 5),               # 5 adds per row of 6
    "amax": (lambda x: torch.amax(x, 1), "ReduceMax", 0, 4 * 5),      # 5 compares per row
    "t": (lambda x: x.t(), "Transpose", 0, 0),
    "mm": (lambda x: torch.mm(x, x.t()), "MatMul", 4 * 4 * 6, (2 * 6 - 1) * 16),
    # softmax that gives 0 on fully masked rows (nn.MultiheadAttention, SDPA's math path)
    "_safe_softmax": (lambda x: torch.ops.aten._safe_softmax(x, 1), "Softmax", 0, 4 * (5 * 6 - 2)),
    # exp(x) − 1 and log(1 + x): the Exp or Log (1 per element) beside the ±1 (1 more)
    "expm1": (torch.expm1, "Exp", 0, 24),
    "log1p": (lambda x: torch.log1p(x), "Log", 0, 24),
    # a full sort: TopK of all 6 per row, 6·⌈log2 7⌉ compares per row
    "sort": (lambda x: torch.sort(x, 1, descending=True).values, "TopK", 0, 4 * 6 * 3),
    # tokens per expert: 2 compares, a subtract, a multiply and an add per element
    "histc": (lambda x: torch.histc(x, bins=5), "ai.flopscope.Histogram", 0, 5 * 24),
    # a MoE layer's experts: rows 0-1 to expert 0, 2-3 to expert 1 (M·K·N = 4·6·3)
    "_grouped_mm": (lambda x: torch._grouped_mm(x, torch.ones(2, 6, 4), offs=torch.tensor(
        [2, 4], dtype=torch.int32)), "ai.flopscope.GroupedMatMul", 4 * 6 * 4, (2 * 6 - 1) * 16),
}


@pytest.mark.parametrize("name", sorted(MAPPED))
def test_table_mapping(name):
    fn, op, macs, flops = MAPPED[name]
    report = analyze(_Op(fn), (torch.rand(4, 6),))
    assert report.coverage.complete, report.layers
    (row,) = [row for row in report.layers if row.op == op]
    assert (row.macs, row.flops) == (macs, flops)


def test_complex_arithmetic_in_real_flops():
    """A rotary embedding in complex form (LLaMA 4, DeepSeek-V2): polar is a Cos, a Sin
    and two multiplies per element; a complex multiply four multiplies and two adds; a
    complex add two adds; view_as_complex / view_as_real are views."""

    class Rotary(torch.nn.Module):
        def forward(self, x):                                  # x: (4, 6) -> 4 x 3 complexes
            z = torch.view_as_complex(x.view(4, 3, 2))
            turn = torch.polar(torch.ones(4, 3), x[:, :3])
            return torch.view_as_real(z * turn + z)

    report = analyze(Rotary(), (torch.rand(4, 6),))
    assert report.coverage.complete, [(r.op, r.reason) for r in report.layers if r.status != "ok"]
    assert report.totals.flops == 4 * 12 + 6 * 12 + 2 * 12     # polar, multiply, add
    assert report.totals.macs == 0


# ------------------------------------------------------------------- one declaring door


@pytest.fixture
def private_handlers(monkeypatch):
    """Declare into a copy of the handler table, so the real one is left as it was."""
    monkeypatch.setattr(aten, "HANDLERS", dict(aten.HANDLERS))
    return aten.HANDLERS


def test_handles_refuses_a_name_that_has_a_handler(private_handlers):
    before = private_handlers["relu"]
    with pytest.raises(RuntimeError, match="duplicate ATen handler for 'relu'"):
        aten.handles("relu")(aten.one("Sigmoid"))
    assert private_handlers["relu"] is before


def test_maps_refuses_a_name_another_table_declared(private_handlers):
    with pytest.raises(RuntimeError, match="duplicate ATen handler for 'convolution'"):
        aten.maps(aten.all_tensors, convolution="Conv")


def test_a_name_twice_in_one_declaration_is_refused(private_handlers):
    with pytest.raises(RuntimeError, match="duplicate ATen handler for 'frobnicate'"):
        aten.handles("frobnicate", "frobnicate")(aten.one("Relu"))
    assert "frobnicate" not in private_handlers


def test_a_failed_declaration_declares_nothing(private_handlers):
    with pytest.raises(RuntimeError, match="'relu'"):
        aten.maps(aten.all_tensors, brand_new="Sign", relu="Relu")
    assert "brand_new" not in private_handlers


def test_maps_declares_every_entry_and_returns_its_table(private_handlers):
    table = aten.maps(aten.all_tensors, brand_new="Sign", other_new="Abs")
    assert dict(table) == {"brand_new": "Sign", "other_new": "Abs"}
    assert {"brand_new", "other_new"} <= set(private_handlers)
    with pytest.raises(TypeError):
        table["third"] = "Neg"                              # type: ignore[index]


def test_flopscope_own_ops_are_emitted_in_their_domain():
    """Adaptive pooling whose sizes do not divide has no ONNX op: flopscope's own."""
    report = analyze(torch.nn.AdaptiveMaxPool2d((3, 3)), (torch.rand(1, 2, 5, 5),))
    assert [row.op for row in report.layers] == ["ai.flopscope.AdaptiveMaxPool"]
