"""Cost formulas (flopscope/formulas.py): exact polynomials in free dims, checked against
hand-derived polynomials and against a direct analysis at a size the fit never used."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
from onnx import TensorProto, helper

from flopscope.analysis import analyze
from flopscope.errors import FlopscopeError
from flopscope.formulas import Free, Polynomial, fit, interpolate, parse_free, solve, with_formulas
from flopscope.render import render
from flopscope.report import Report
from tests.builders import model_of, weight

F32 = TensorProto.FLOAT


def _eval(text: str, **dims: int) -> int:
    value = eval(text, {"__builtins__": {}}, dims)     # the contract: Python syntax, exact ints
    assert type(value) is int
    return value


def _agrees(report_kwargs: dict, formulas, model, **dims: int) -> None:
    """The formulas at ``dims`` equal a direct analysis there."""
    direct = analyze(model, **report_kwargs).totals
    assert _eval(formulas.macs, **dims) == direct.macs
    assert _eval(formulas.flops, **dims) == direct.flops
    assert _eval(formulas.activation_bytes, **dims) == direct.activation_bytes


# ----------------------------------------------------------------- polynomials


def test_polynomial_text_is_python_with_exact_division():
    p = Polynomial(("S",), {(2,): Fraction(12), (1,): Fraction(3456), (0,): Fraction(7)})
    assert str(p) == "12*S**2 + 3456*S + 7"
    half = Polynomial(("n",), {(2,): Fraction(1, 2), (1,): Fraction(1, 2)})    # n(n+1)/2
    assert str(half) == "(n**2 + n) // 2"
    assert all(_eval(str(half), n=n) == n * (n + 1) // 2 for n in range(0, 50))
    neg = Polynomial(("B", "S"), {(1, 1): Fraction(15), (1, 0): Fraction(-8)})
    assert str(neg) == "15*B*S - 8*B"
    assert str(Polynomial(("N",), {})) == "0"


def test_interpolate_recovers_a_two_dim_polynomial_exactly():
    def f(b: int, s: int) -> int:
        return 7 * b * s**2 - 3 * b * s + 11 * s + 5

    grids = [[2, 3], [2, 3, 4]]
    values = {(b, s): f(b, s) for b in grids[0] for s in grids[1]}
    p = interpolate(["B", "S"], grids, values)
    assert str(p) == "7*B*S**2 - 3*B*S + 11*S + 5"
    assert p(B=9, S=31) == f(9, 31)


def test_parse_free_forms_and_errors():
    assert parse_free("N,seq") == [Free("N"), Free("seq")]
    assert parse_free(["x:0=batch", "x:1=seq"]) == [Free("batch", "x", 0), Free("seq", "x", 1)]
    assert parse_free("") == [] and parse_free(None) == []
    assert parse_free("image_size=16*P, x:2=2*H") == [Free("P", config="image_size", step=16),
                                                      Free("H", "x", 2, step=2)]
    assert [f.spelled() for f in parse_free("image_size=16*P,x:2=H,N")] == ["image_size=16*P", "x:2=H", "N"]
    for bad in ("x:a=seq", "1x", "x:1=", "N,N", "image_size=0*P", "image_size=a*P", "x:2=2*",
                "8*N", "a b=P"):
        with pytest.raises(FlopscopeError):
            parse_free(bad)


# ----------------------------------------------------------------- ONNX graphs


def _matmul_chain():
    """x (N, 16) @ w1 (16, 32) -> Relu -> @ w2 (32, 8)."""
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("MatMul", ["r", "w2"], ["y"])]
    return model_of(nodes, {"x": (["N", 16], F32), "w1": weight(16, 32), "w2": weight(32, 8)}, ["y"])


def test_matmul_chain_is_linear_in_n():
    f = fit(_matmul_chain())
    assert f.dims == ["N"]
    # MACs: N·16·32 + N·32·8; FLOPs: (2·16−1)·32N + 32N (Relu) + (2·32−1)·8N;
    # activation bytes: 4 bytes × (32N + 32N + 8N)
    assert f.macs == "768*N"
    assert f.flops == "1528*N"
    assert f.activation_bytes == "288*N"
    assert f.complete and f.checked_at["N"] not in range(2, 6)
    _agrees({"dims": {"N": 37}}, f, _matmul_chain(), N=37)


def _attention():
    """Single-head self-attention over x (S, 8): Q, K, V projections, softmax(Q Kᵀ) V."""
    nodes = [helper.make_node("MatMul", ["x", "wq"], ["q"]),
             helper.make_node("MatMul", ["x", "wk"], ["k"]),
             helper.make_node("MatMul", ["x", "wv"], ["v"]),
             helper.make_node("Transpose", ["k"], ["kt"], perm=[1, 0]),
             helper.make_node("MatMul", ["q", "kt"], ["scores"]),
             helper.make_node("Softmax", ["scores"], ["p"], axis=-1),
             helper.make_node("MatMul", ["p", "v"], ["y"])]
    return model_of(nodes, {"x": (["S", 8], F32), "wq": weight(8, 8), "wk": weight(8, 8),
                            "wv": weight(8, 8)}, ["y"])


def test_self_attention_is_quadratic_in_s():
    f = fit(_attention(), "S")
    # MACs: 3·S·8·8 (projections) + S·S·8 (Q Kᵀ) + S·S·8 (P V)
    assert f.macs == "16*S**2 + 192*S"
    # FLOPs: 3·15·8S + 15·S² + S·(5S−2) (softmax) + (2S−1)·8S
    assert f.flops == "36*S**2 + 350*S"
    # bytes: 4 × (3·8S + 8S (Kᵀ) + S² + S² + 8S)
    assert f.activation_bytes == "8*S**2 + 160*S"
    _agrees({"dims": {"S": 100}}, f, _attention(), S=100)


def _transformerish():
    """x (batch, seq, 8): Q, K, V projections, attention, a 16-wide ReLU MLP, a residual."""
    nodes = [helper.make_node("MatMul", ["x", "wq"], ["q"]),
             helper.make_node("MatMul", ["x", "wk"], ["k"]),
             helper.make_node("MatMul", ["x", "wv"], ["v"]),
             helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
             helper.make_node("MatMul", ["q", "kt"], ["scores"]),
             helper.make_node("Softmax", ["scores"], ["p"], axis=-1),
             helper.make_node("MatMul", ["p", "v"], ["a"]),
             helper.make_node("Add", ["a", "x"], ["h"]),
             helper.make_node("MatMul", ["h", "w1"], ["u"]),
             helper.make_node("Relu", ["u"], ["r"]),
             helper.make_node("MatMul", ["r", "w2"], ["y"])]
    return model_of(nodes, {"x": (["batch", "seq", 8], F32), "wq": weight(8, 8), "wk": weight(8, 8),
                            "wv": weight(8, 8), "w1": weight(8, 16), "w2": weight(16, 8)}, ["y"])


def test_transformerish_onnx_in_batch_and_seq():
    f = fit(_transformerish())                          # every dim param is free by default
    assert f.dims == ["batch", "seq"]
    # MACs: 3·64·B·S (projections) + 2·8·B·S² (attention) + (8·16 + 16·8)·B·S (MLP)
    assert f.macs == "16*batch*seq**2 + 448*batch*seq"
    _agrees({"dims": {"batch": 3, "seq": 50}}, f, _transformerish(), batch=3, seq=50)
    _agrees({"dims": {"batch": 1, "seq": 1}}, f, _transformerish(), batch=1, seq=1)


def test_one_dim_free_the_other_bound():
    f = fit(_transformerish(), "seq", dims={"batch": 4})
    assert f.macs == "64*seq**2 + 1792*seq"


def test_strided_conv_over_a_free_size_is_refused():
    node = helper.make_node("Conv", ["x", "w"], ["y"], strides=[2, 2], pads=[1, 1, 1, 1],
                            kernel_shape=[3, 3])
    model = model_of([node], {"x": ([1, 2, "H", "H"], F32), "w": weight(4, 2, 3, 3)}, ["y"])
    with pytest.raises(FlopscopeError, match="not a polynomial.*bind it instead"):
        fit(model)


def test_strided_conv_over_a_stepped_size_is_a_polynomial():
    """Conv k3 s2 p1 over 2·H rows gives H output rows: 4 out channels × H × 4 columns ×
    2 in channels × 9 taps = 288·H MACs; without the step the floor is refused."""
    node = helper.make_node("Conv", ["x", "w"], ["y"], strides=[2, 2], pads=[1, 1, 1, 1],
                            kernel_shape=[3, 3])
    model = model_of([node], {"x": ([1, 2, 6, 8], F32), "w": weight(4, 2, 3, 3)}, ["y"])
    f = fit(model, "x:2=2*H")
    assert f.macs == "288*H" and f.definitions == {"H": "x axis 2 = 2*H"}
    _agrees({"input_shapes": {"x": (1, 2, 2 * 11, 8)}}, f, model, H=11)
    with pytest.raises(FlopscopeError, match="not a polynomial"):
        fit(model, "x:2=H")
    with pytest.raises(FlopscopeError, match="'x:2=4\\*H'.*cannot give the model's size 6"):
        fit(model, "x:2=4*H")


def test_config_dims_need_an_hf_model():
    with pytest.raises(FlopscopeError, match="'N=8\\*K': KEY=NAME sets a config value of an hf: model"):
        fit(_matmul_chain(), "N=8*K")


def test_unknown_free_dim_is_refused():
    with pytest.raises(FlopscopeError, match="'T' is no symbolic dim.*'N'"):
        fit(_matmul_chain(), "T")


def test_input_axis_of_a_fixed_onnx_input():
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"])]
    model = model_of(nodes, {"x": ([2, 16], F32), "w": weight(16, 4)}, ["y"])
    f = fit(model, "x:0=rows")
    assert f.macs == "64*rows"


# ----------------------------------------------------------------- PyTorch


torch = pytest.importorskip("torch")


class Block(torch.nn.Module):
    """One pre-norm transformer block, d = 16, two heads, MLP 16 -> 32 -> 16."""

    def __init__(self, d: int = 16, heads: int = 2, ff: int = 32) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = torch.nn.LayerNorm(d)
        self.qkv = torch.nn.Linear(d, 3 * d)
        self.proj = torch.nn.Linear(d, d)
        self.norm2 = torch.nn.LayerNorm(d)
        self.fc1 = torch.nn.Linear(d, ff)
        self.fc2 = torch.nn.Linear(ff, d)

    def forward(self, x):
        b, s, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(b, s, 3, self.heads, d // self.heads).permute(
            2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-2, -1) / (d // self.heads) ** 0.5, dim=-1)
        x = x + self.proj((att @ v).transpose(1, 2).reshape(b, s, d))
        return x + self.fc2(torch.relu(self.fc1(self.norm2(x))))


def test_pytorch_transformer_block_in_batch_and_seq():
    block = Block()
    f = fit(block, "batch,seq", (1, 10, 16))
    assert f.dims == ["batch", "seq"]
    # MACs: qkv 16·48 + proj 16·16 + MLP 2·16·32 per token; attention 2 heads × 2·S·8 per token
    assert f.macs == "32*batch*seq**2 + 2048*batch*seq"
    direct = analyze(block, (3, 23, 16)).totals
    assert _eval(f.macs, batch=3, seq=23) == direct.macs
    assert _eval(f.flops, batch=3, seq=23) == direct.flops
    assert _eval(f.activation_bytes, batch=3, seq=23) == direct.activation_bytes


def test_pytorch_transformer_encoder_layer_in_seq():
    layer = torch.nn.TransformerEncoderLayer(16, 2, 32, batch_first=True, dropout=0.0)
    f = fit(layer, "src:1=seq", input_shapes={"src": (2, 9, 16)})
    direct = analyze(layer, input_shapes={"src": (2, 30, 16)}).totals
    assert _eval(f.macs, seq=30) == direct.macs
    assert _eval(f.flops, seq=30) == direct.flops
    assert _eval(f.activation_bytes, seq=30) == direct.activation_bytes


class Tokens(torch.nn.Module):
    """Token ids and an additive mask, both (batch, seq), by name: attention over embeddings."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(100, 16)
        self.lin = torch.nn.Linear(16, 16)

    def forward(self, ids, mask):
        h = self.lin(self.emb(ids))
        return torch.softmax(h @ h.transpose(1, 2) + mask[:, None, :], -1) @ h


def test_pytorch_named_token_inputs_in_batch_and_seq():
    model = Tokens()
    f = fit(model, "batch,seq", input_shapes={"ids": ((2, 7), "int64"), "mask": (2, 7)})
    # MACs: Linear 16·16 per token; h hᵀ and P h: 2·S·16 per token
    assert f.macs == "32*batch*seq**2 + 256*batch*seq"
    direct = analyze(model, input_shapes={"ids": ((3, 40), "int64"), "mask": (3, 40)}).totals
    assert _eval(f.flops, batch=3, seq=40) == direct.flops
    assert _eval(f.activation_bytes, batch=3, seq=40) == direct.activation_bytes


def _cnn():
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3, stride=2, padding=1),
                         nn.Flatten(), nn.Linear(4 * 8 * 8, 10))


def test_pytorch_cnn_in_batch():
    cnn = _cnn()
    f = fit(cnn, None, (1, 3, 16, 16))                  # batch is the PyTorch default
    assert f.dims == ["batch"]
    # MACs per image: 8·16·16·27 + 4·8·8·72 + 256·10
    assert f.macs == "76288*batch"
    direct = analyze(cnn, (13, 3, 16, 16)).totals
    assert _eval(f.flops, batch=13) == direct.flops
    assert _eval(f.activation_bytes, batch=13) == direct.activation_bytes


def test_pytorch_bare_name_other_than_batch_or_seq_is_refused():
    with pytest.raises(FlopscopeError, match="name an input axis"):
        fit(_cnn(), "H", (1, 3, 16, 16))


# ----------------------------------------------------------------- report and renderers


def test_formulas_in_text_markdown_and_json(tmp_path):
    report = with_formulas(analyze(_attention(), dims={"S": 4}), fit(_attention()))
    text = render(report, "text")
    assert "formulas\n  MACs = 16*S**2 + 192*S\n" in text
    markdown = render(report, "markdown")
    assert "### formulas" in markdown and "- `FLOPs = 36*S**2 + 350*S`" in markdown
    data = json.loads(render(report, "json"))
    assert data["formulas"]["activation_bytes"] == "8*S**2 + 160*S"
    assert _eval(data["formulas"]["macs"], S=4) == data["totals"]["macs"]
    assert Report.from_dict(data).formulas == report.formulas
    assert json.loads(render(analyze(_attention()), "json"))["formulas"] is None


def test_cli_formula_flag(tmp_path, capsys):
    import onnx

    from flopscope.cli import main
    path = tmp_path / "att.onnx"
    onnx.save(_transformerish(), path)
    assert main(["report", str(path), "--formula", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["formulas"]["dims"] == ["batch", "seq"]
    assert data["formulas"]["macs"] == "16*batch*seq**2 + 448*batch*seq"
    conv = helper.make_node("Conv", ["x", "w"], ["y"], strides=[2, 2], kernel_shape=[3, 3])
    onnx.save(model_of([conv], {"x": ([1, 2, "H", "H"], F32), "w": weight(4, 2, 3, 3)}, ["y"]),
              tmp_path / "conv.onnx")
    assert main(["report", str(tmp_path / "conv.onnx"), "--formula"]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a polynomial" in err and "--dim H=" in err and len(err.splitlines()) == 1
    assert main(["report", str(path), str(tmp_path / "conv.onnx"), "--formula"]) == 2
    assert "--formula takes one model" in capsys.readouterr().err


def test_solve_degree_from_the_data_and_the_off_grid_check():
    polys, at = solve([Free("B"), Free("S")], [2, 2], lambda p: (p[0] * p[1] ** 3 + 2 * p[0], p[1] ** 2))
    assert [str(p) for p in polys] == ["B*S**3 + 2*B", "S**2"]
    assert at == {"B": 17, "S": 16}
    # floor(n/16) is 0 on every sample of the fit: only the check past the grid sees it
    with pytest.raises(FlopscopeError, match="figure 0 are not a polynomial in n: the fit gives 0 at n=17"):
        solve([Free("n")], [2], lambda p: (p[0] // 16,))
    with pytest.raises(FlopscopeError, match="degree <= 6 in n"):
        solve([Free("n")], [2], lambda p: (p[0] // 2,))


def test_budgets_at_stated_dims_gate_what_the_formula_gives(tmp_path, capsys):
    """A budget file binds the free dims per entry (``dims = { seq = 2048 }``): a limit set
    from the formula at that size passes, one less fails."""
    import onnx

    from flopscope.cli import main

    onnx.save(_transformerish(), tmp_path / "enc.onnx")
    f = fit(_transformerish())
    macs = {seq: _eval(f.macs, batch=1, seq=seq) for seq in (512, 2048)}
    entries = "".join(f'[models.enc_{seq}]\nmodel = "enc.onnx"\ndims = {{ batch = 1, seq = {seq} }}\n'
                      f"max_macs = {limit}\n\n" for seq, limit in macs.items())
    (tmp_path / "ok.toml").write_text(entries)
    assert main(["check", "--budget", str(tmp_path / "ok.toml")]) == 0
    (tmp_path / "tight.toml").write_text(entries.replace(f"max_macs = {macs[2048]}",
                                                         f"max_macs = {macs[2048] - 1}"))
    assert main(["check", "--budget", str(tmp_path / "tight.toml")]) == 1
    capsys.readouterr()


def test_formula_with_train_mode_is_refused_in_one_line(capsys):
    from flopscope.cli import main

    assert main(["report", "resnet18", "--formula", "--mode", "train"]) == 2
    assert "--formula fits the inference costs" in capsys.readouterr().err


def test_hf_config_value_as_a_free_dim(tmp_path):
    """``num_hidden_layers=L`` on a tiny LLaMA: the model rebuilt at each L, MACs linear in
    it, equal to the hand-written count; an unknown key and given input shapes refused."""
    pytest.importorskip("transformers")
    from tests.integration.test_transformers import LLAMA, llama_macs

    folder = tmp_path / "llama"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(LLAMA))
    f = fit(f"hf:{folder}", "num_hidden_layers=L")
    assert f.definitions == {"L": "config num_hidden_layers = L"}
    for layers in (1, 3, 40):
        assert _eval(f.macs, L=layers) == llama_macs({**LLAMA, "num_hidden_layers": layers}, 128, 1)
    with pytest.raises(FlopscopeError, match="the LlamaConfig has no 'num_layers'"):
        fit(f"hf:{folder}", "num_layers=L")
    with pytest.raises(FlopscopeError, match="the inputs follow the config"):
        fit(f"hf:{folder}", "num_hidden_layers=L", input_shapes={"input_ids": ((1, 8), "int64")})
