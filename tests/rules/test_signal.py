"""Signal ops: FFTW's 5·n·log2 n per complex transform (half for real), window generators,
the mel filterbank; MACs are always 0."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from flopscope.analysis import analyze
from flopscope.rules.signal import _transform
from tests.builders import I64, cost, layer, run, weight


def scalar(value: int) -> np.ndarray:
    """A 0-d int64 initializer (size, frame_step, dft_length...)."""
    return np.array(value, dtype=np.int64)


def declared(op, inputs, out_shape, attrs=None, opset=20):
    """A one-node model whose output shape is declared (as the onnx test corpus does) and
    whose inputs are graph inputs given as (shape, elem_type)."""
    node = helper.make_node(op, [n if s is not None else "" for n, s in inputs.items()], ["y"],
                            name=op, **(attrs or {}))
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(n, t, list(s)) for n, (s, t) in
         ((n, s) for n, s in inputs.items() if s is not None)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(out_shape))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    return layer(analyze(model), op)


F = TensorProto.FLOAT


# --- the integer rule for one transform ------------------------------------------------

def test_transform_is_exact_for_powers_of_two():
    assert _transform(1024, real=False) == 5 * 1024 * 10     # 5·n·log2 n, log2 1024 = 10
    assert _transform(1024, real=True) == 5 * 1024 * 10 // 2   # half for real data
    assert _transform(2, real=True) == 5                    # 2.5·2·1
    assert _transform(1, real=False) == 0                   # log2 1 = 0


def test_transform_takes_the_ceiling_otherwise():
    # 5·10·log2 10 = 50·3.3219... = 166.096... -> 167
    assert _transform(10, real=False) == 167
    # 2.5·10·log2 10 = 83.048... -> 84
    assert _transform(10, real=True) == 84
    # 5·1000·log2 1000 = 5000·9.96578... = 49828.9... -> 49829
    assert _transform(1000, real=False) == 49829
    # 2.5·3·log2 3 = 7.5·1.58496... = 11.887... -> 12
    assert _transform(3, real=True) == 12


# --- DFT ---------------------------------------------------------------------------------

def test_dft_complex_input_opset17_axis_attribute():
    row = cost("DFT", {"x": (2, 8, 3, 2)}, attrs={"axis": 1}, opset=17)
    assert row.output_shapes[0] == [2, 8, 3, 2]
    # 2·3 transforms of N = 8: 5·8·3 = 120 each
    assert (row.macs, row.flops) == (0, 2 * 3 * 120)


def test_dft_real_input_full_spectrum_mirrors_the_conjugate_half():
    row = cost("DFT", {"x": (2, 8, 3, 1)}, attrs={"axis": 1}, opset=17)
    assert row.output_shapes[0] == [2, 8, 3, 2]
    # real transform 2.5·8·3 = 60, plus bins 5..7 negated: 8 - (8//2 + 1) = 3
    assert row.flops == 2 * 3 * (60 + 3)


def test_dft_rfft_onesided():
    row = cost("DFT", {"x": (2, 8, 3, 1)}, attrs={"axis": 1, "onesided": 1}, opset=17)
    assert row.output_shapes[0] == [2, 5, 3, 2]
    assert row.flops == 2 * 3 * 60                         # 2.5·8·3, no mirror


def test_dft_inverse_scales_every_output_value():
    row = cost("DFT", {"x": (2, 8, 3, 2)}, attrs={"axis": 1, "inverse": 1}, opset=17)
    # complex transform 120 + 1/N multiply on 8 complex outputs (16 real values)
    assert row.flops == 2 * 3 * (120 + 2 * 8)


def test_dft_irfft_default_length_and_real_output_scale():
    row = cost("DFT", {"x": (2, 5, 3, 2)}, attrs={"axis": 1, "inverse": 1, "onesided": 1}, opset=17)
    assert row.output_shapes[0] == [2, 8, 3, 1]           # N = 2·(5 - 1) = 8
    # real-output transform 2.5·8·3 = 60, plus 8 scale multiplies
    assert row.flops == 2 * 3 * (60 + 8)


def test_dft_length_pads_and_truncates():
    padded = cost("DFT", {"x": (1, 10, 2), "n": scalar(16)}, attrs={"axis": 1}, opset=17)
    assert padded.output_shapes[0] == [1, 16, 2]
    assert padded.flops == 5 * 16 * 4                      # N = 16: 320
    cut = cost("DFT", {"x": (1, 10, 2), "n": scalar(4)}, attrs={"axis": 1}, opset=17)
    assert cut.flops == 5 * 4 * 2                          # N = 4: 40


def test_dft_non_power_of_two_uses_the_ceiling():
    row = cost("DFT", {"x": (3, 10, 2)}, attrs={"axis": 1}, opset=17)
    assert row.flops == 3 * 167                            # ceil(50·log2 10) = 167


def test_dft_opset20_default_axis_is_minus_two():
    row = cost("DFT", {"x": (4, 3, 16, 2)}, opset=20)
    # axis -2 = the 16-long dim, 4·3 transforms of 5·16·4 = 320
    assert row.flops == 4 * 3 * 320


def test_dft_opset20_constant_axis_input():
    row = cost("DFT", {"x": (4, 16, 3, 2), "n": None, "axis": scalar(1)}, opset=20)
    assert row.flops == 4 * 3 * 320


def test_dft_opset20_negative_constant_axis():
    row = cost("DFT", {"x": (4, 16, 3, 2), "n": None, "axis": scalar(-3)}, opset=20)
    assert row.flops == 4 * 3 * 320                        # -3 of rank 4 = dim 1


def test_dft_axis_input_read_back_from_declared_output():
    # rfft: only axis 1 turns [1, 10, 10, 1] into [1, 6, 10, 2]
    row = declared("DFT", {"x": ((1, 10, 10, 1), F), "n": None, "axis": ((), I64)},
                   (1, 6, 10, 2), attrs={"onesided": 1})
    assert row.status == "ok"
    assert row.flops == 10 * 84                            # ceil(2.5·10·log2 10) = 84


def test_dft_axis_input_ambiguous_output_is_unresolved():
    # axes 0 (length 1), 1 and 2 all fit [1, 10, 10, 2]: different costs
    row = declared("DFT", {"x": ((1, 10, 10, 1), F), "n": None, "axis": ((), I64)},
                   (1, 10, 10, 2))
    assert row.status == "unresolved" and row.flops is None
    assert "axis is not a constant" in row.reason


def test_dft_length_input_read_back_from_declared_output():
    row = declared("DFT", {"x": ((2, 10, 2), F), "n": ((), I64)}, (2, 16, 2),
                   attrs={"axis": 1}, opset=17)
    assert row.status == "ok" and row.flops == 2 * 5 * 16 * 4


def test_dft_onesided_complex_forward_is_refused():
    row = layer(run("DFT", {"x": (2, 8, 2)}, attrs={"axis": 1, "onesided": 1}, opset=17), "DFT")
    assert row.status != "ok" and row.flops is None
    assert "needs real input" in row.reason


def test_dft_irfft_of_real_input_is_refused():
    row = layer(run("DFT", {"x": (2, 8, 1)}, attrs={"axis": 1, "onesided": 1, "inverse": 1},
                    opset=17), "DFT")
    assert row.status != "ok" and row.flops is None


def test_dft_last_axis_is_refused():
    row = layer(run("DFT", {"x": (2, 8, 2), "n": None, "axis": scalar(-1)}, opset=20), "DFT")
    assert row.status != "ok" and row.flops is None


# --- STFT --------------------------------------------------------------------------------

def test_stft_frames_and_onesided_real_transform():
    row = cost("STFT", {"x": (2, 128, 1), "step": scalar(8), "w": None, "len": scalar(16)},
               attrs={"onesided": 1}, opset=17)
    assert row.output_shapes[0] == [2, 15, 9, 2]           # (128 - 16) // 8 + 1 = 15 frames
    # per frame 2.5·16·4 = 160, no window multiply (rectangular default)
    assert (row.macs, row.flops) == (0, 2 * 15 * 160)


def test_stft_window_multiplies_each_frame_sample():
    # onesided left at the schema's default, 1 (onnx 1.23's shape inference reads it as 0
    # and declares 16 bins; the reference implementation returns 9): the rule follows the spec
    row = cost("STFT", {"x": (2, 128, 1), "step": scalar(8), "w": weight(16)}, opset=17)
    assert row.output_shapes[0][:2] == [2, 15]            # frame_length from the window
    assert row.flops == 2 * 15 * (160 + 16)


def test_stft_two_sided_real_signal_mirrors():
    row = cost("STFT", {"x": (1, 64, 1), "step": scalar(16), "w": weight(16)},
               attrs={"onesided": 0}, opset=17)
    # (64 - 16) // 16 + 1 = 4 frames; 160 + (16 - 9 = 7 negations) + 16 window
    assert row.flops == 4 * (160 + 7 + 16)


def test_stft_complex_signal():
    row = cost("STFT", {"x": (1, 64, 2), "step": scalar(16), "w": weight(16)},
               attrs={"onesided": 0}, opset=17)
    # 4 frames; complex 5·16·4 = 320, window on real and imaginary parts: 2·16
    assert row.flops == 4 * (320 + 2 * 16)


def test_stft_default_frame_length_is_the_signal():
    row = cost("STFT", {"x": (3, 32, 1), "step": scalar(4)}, opset=17)
    assert row.flops == 3 * 1 * (5 * 32 * 5 // 2)           # one frame, 2.5·32·5 = 400


def test_stft_frame_length_read_back_from_declared_output():
    # bins 9 -> T = 16 or 17; 15 frames from 128 samples: T = 17 fits no integer step
    row = declared("STFT", {"x": ((1, 128, 1), F), "step": ((), I64), "w": None,
                            "len": ((), I64)}, (1, 15, 9, 2), opset=17)
    assert row.status == "ok" and row.flops == 15 * 160


def test_stft_complex_signal_onesided_is_refused():
    row = layer(run("STFT", {"x": (1, 64, 2), "step": scalar(16), "w": weight(16)}, opset=17),
                "STFT")
    assert row.status != "ok" and row.flops is None


def test_stft_window_and_frame_length_must_agree():
    row = layer(run("STFT", {"x": (1, 64, 1), "step": scalar(16), "w": weight(16),
                             "len": scalar(8)}, opset=17), "STFT")
    assert row.status != "ok" and row.flops is None


# --- windows -----------------------------------------------------------------------------

@pytest.mark.parametrize("op", ["HannWindow", "HammingWindow"])
@pytest.mark.parametrize("periodic", [1, 0])
def test_cosine_windows(op, periodic):
    row = cost(op, {"size": scalar(10)}, attrs={"periodic": periodic}, opset=17)
    assert row.output_shapes[0] == [10]
    # per element n·(2π/N'), cos, ×a1, a0 − : 4; once 2π/N' (1) and N' = size − 1 if symmetric
    assert (row.macs, row.flops) == (0, 4 * 10 + 1 + (periodic == 0))


@pytest.mark.parametrize("periodic", [1, 0])
def test_blackman_window(periodic):
    row = cost("BlackmanWindow", {"size": scalar(12)}, attrs={"periodic": periodic}, opset=17)
    # per element: n·Δ, ×2, 2 cos, 2 coefficient multiplies, subtract, add = 8
    assert row.flops == 8 * 12 + 1 + (periodic == 0)


def test_window_of_unknown_size_is_unresolved():
    row = layer(run("HannWindow", {"size": ((), I64)}, opset=17), "HannWindow")
    assert row.status == "unresolved" and row.flops is None


# --- MelWeightMatrix ---------------------------------------------------------------------

def test_mel_weight_matrix():
    row = cost("MelWeightMatrix", {"bins": scalar(8), "n": scalar(16), "rate": scalar(8192),
                                   "lo": np.array(0.0, np.float32),
                                   "hi": np.array(4096.0, np.float32)}, opset=17)
    assert row.output_shapes[0] == [9, 8]                  # 16 // 2 + 1 = 9 bins, 8 mel bins
    # 2 edges to mel (4 each) + step (2) + 10 points (9 each) + 8 filters (2 each)
    # + 9·8 elements (6 each)
    assert (row.macs, row.flops) == (0, 8 + 2 + 9 * 10 + 2 * 8 + 6 * 9 * 8)


def test_mel_weight_matrix_of_unknown_size_is_unresolved():
    row = layer(run("MelWeightMatrix", {"bins": ((), I64), "n": scalar(16), "rate": scalar(8192),
                                        "lo": np.array(0.0, np.float32),
                                        "hi": np.array(4096.0, np.float32)}, opset=17),
                "MelWeightMatrix")
    assert row.status == "unresolved" and row.flops is None
