"""RNN, GRU, LSTM unrolled over the sequence.

Per (time step, batch row, direction), G gates, input size I, hidden size H:
MACs = G·H·(I + H); FLOPs = (2I−1)·G·H + (2H−1)·G·H (the two projections) + G·H (joining
them) + 2·G·H with bias B + the cell's pointwise work per hidden unit:
RNN f; GRU 2f + g + 5; LSTM 3f + g + h + 4 (+6 with peepholes). Sigmoid 4, Tanh 5.
"""

from __future__ import annotations

import pytest

from tests.builders import cost, weight

T, B, I, H = 5, 2, 3, 4
SIGMOID, TANH = 4, 5


def _inputs(gates, dirs, bias, layout=0, peepholes=False):
    x = (B, T, I) if layout else (T, B, I)
    inputs = {"x": x, "w": weight(dirs, gates * H, I), "r": weight(dirs, gates * H, H)}
    if bias or peepholes:
        inputs["b"] = weight(dirs, 2 * gates * H) if bias else None
    if peepholes:
        inputs |= {"seq_lens": None, "h0": None, "c0": None, "p": weight(dirs, 3 * H)}
    return inputs


def _expected(gates, dirs, bias, cell_per_unit):
    """The module docstring's formula, for the parametrised cases."""
    gh = gates * H
    runs = T * B * dirs
    per_run = (2 * I - 1) * gh + (2 * H - 1) * gh + gh + (2 * gh if bias else 0) + H * cell_per_unit
    return runs * gh * (I + H), runs * per_run


# ------------------------------------------------------------------------------- RNN


def test_rnn_forward_with_bias_by_hand():
    row = cost("RNN", _inputs(1, 1, bias=True), outputs=["y", "y_h"], attrs={"hidden_size": H})
    assert row.output_shapes == [[5, 1, 2, 4], [1, 2, 4]]
    # 10 runs (5 steps x 2 rows); per run: X.W 5*4, H.R 7*4, join 4, bias 8, tanh 5*4
    assert row.macs == 10 * 4 * (3 + 4) == 280
    assert row.flops == 10 * (20 + 28 + 4 + 8 + 20) == 800
    assert row.params == 1 * 4 * 3 + 1 * 4 * 4 + 1 * 8


@pytest.mark.parametrize("direction, dirs", [("forward", 1), ("reverse", 1), ("bidirectional", 2)])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("layout", [0, 1])
def test_rnn(direction, dirs, bias, layout):
    row = cost("RNN", _inputs(1, dirs, bias, layout), outputs=["y", "y_h"],
               attrs={"hidden_size": H, "direction": direction, "layout": layout})
    assert (row.macs, row.flops) == _expected(1, dirs, bias, TANH)


def test_rnn_custom_activation_per_direction():
    row = cost("RNN", _inputs(1, 2, bias=False), outputs=["y"],
               attrs={"hidden_size": H, "direction": "bidirectional", "activations": ["Relu", "Sigmoid"]})
    macs, flops_no_act = _expected(1, 2, False, 0)
    assert row.macs == macs
    assert row.flops == flops_no_act + T * B * H * (1 + 4)     # Relu forward, Sigmoid backward


def test_rnn_clip_adds_two_compares_per_gate_input():
    row = cost("RNN", _inputs(1, 1, bias=False), outputs=["y"], attrs={"hidden_size": H, "clip": 3.0})
    macs, flops = _expected(1, 1, False, TANH)
    assert (row.macs, row.flops) == (macs, flops + T * B * 2 * (1 * H))


# ------------------------------------------------------------------------------- GRU


def test_gru_forward_without_bias_by_hand():
    row = cost("GRU", _inputs(3, 1, bias=False), outputs=["y", "y_h"], attrs={"hidden_size": H})
    # G*H = 12; per run: 5*12 + 7*12 + 12, then (2*4 + 5 + 5) * 4 per run for the cell
    assert row.macs == 10 * 12 * 7 == 840
    assert row.flops == 10 * (60 + 84 + 12 + 18 * 4) == 2280


@pytest.mark.parametrize("direction, dirs", [("forward", 1), ("bidirectional", 2)])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("layout", [0, 1])
@pytest.mark.parametrize("linear_before_reset", [0, 1])
def test_gru(direction, dirs, bias, layout, linear_before_reset):
    row = cost("GRU", _inputs(3, dirs, bias, layout), outputs=["y", "y_h"],
               attrs={"hidden_size": H, "direction": direction, "layout": layout,
                      "linear_before_reset": linear_before_reset})
    assert (row.macs, row.flops) == _expected(3, dirs, bias, 2 * SIGMOID + TANH + 5)


def test_gru_custom_activations_bidirectional():
    row = cost("GRU", _inputs(3, 2, bias=False), outputs=["y"],
               attrs={"hidden_size": H, "direction": "bidirectional",
                      "activations": ["Sigmoid", "Tanh", "HardSigmoid", "Relu"]})
    macs, flops_no_cell = _expected(3, 2, False, 0)
    forward_cell = 2 * 4 + 5 + 5          # 2 sigmoids, tanh, 5
    backward_cell = 2 * 4 + 1 + 5         # 2 hard sigmoids (4 each), relu (1), 5
    assert row.macs == macs
    assert row.flops == flops_no_cell + T * B * H * (forward_cell + backward_cell)


# ------------------------------------------------------------------------------ LSTM


def test_lstm_forward_with_bias_and_peepholes_by_hand():
    row = cost("LSTM", _inputs(4, 1, bias=True, peepholes=True), outputs=["y", "y_h", "y_c"],
               attrs={"hidden_size": H})
    # G*H = 16; per run: 5*16 + 7*16 + 16 + bias 32, cell (3*4 + 5 + 5 + 4 + 6) * 4
    assert row.macs == 10 * 16 * 7 == 1120
    assert row.flops == 10 * (80 + 112 + 16 + 32 + 32 * 4) == 3680
    assert row.params == 16 * 3 + 16 * 4 + 32 + 12


@pytest.mark.parametrize("direction, dirs", [("forward", 1), ("reverse", 1), ("bidirectional", 2)])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("peepholes", [False, True])
@pytest.mark.parametrize("layout", [0, 1])
def test_lstm(direction, dirs, bias, peepholes, layout):
    row = cost("LSTM", _inputs(4, dirs, bias, layout, peepholes), outputs=["y", "y_h", "y_c"],
               attrs={"hidden_size": H, "direction": direction, "layout": layout})
    cell = 3 * SIGMOID + TANH + TANH + 4 + (6 if peepholes else 0)
    assert (row.macs, row.flops) == _expected(4, dirs, bias, cell)


def test_lstm_layout_1_matches_layout_0():
    a = cost("LSTM", _inputs(4, 1, True, 0), outputs=["y"], attrs={"hidden_size": H})
    b = cost("LSTM", _inputs(4, 1, True, 1), outputs=["y"], attrs={"hidden_size": H, "layout": 1})
    assert a.output_shapes == [[T, 1, B, H]] and b.output_shapes == [[B, T, 1, H]]
    assert (a.macs, a.flops) == (b.macs, b.flops)
