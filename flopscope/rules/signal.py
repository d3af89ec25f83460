"""Signal processing: DFT, STFT, the Hann, Hamming and Blackman window generators and
MelWeightMatrix.

Fourier transforms follow FFTW's published FLOP convention: a complex transform of
length n costs 5·n·log2(n) FLOPs (exact for radix-2 Cooley-Tukey; FFTW reports this same
"mflops" measure for every n) and a transform of real input, or to real output, half of
that, 2.5·n·log2(n). The integer rule: exact where n is a power of two (n·log2 n is then
an integer and 2.5·n·log2 n too, n being even), and the ceiling of the product otherwise
(log2 n is then irrational, so the product is never an integer; it is evaluated in
decimal arithmetic at a precision raised until its ceiling is certain). Length 1 costs 0.
The ceiling applies to one transform, which is then multiplied by the number of
transforms (every other axis). An FFT is not a dot product: MACs are 0.

Window generators evaluate w[n] = a0 − a1·cos(2πn/N) + a2·cos(4πn/N) (ONNX's own function
body), counted exactly per output element from one-FLOP primitives (cos is one FLOP).
"""

from __future__ import annotations

from math import prod
from typing import NoReturn

from flopscope.graph import Node, RuleError, ShapeUnknown, ValueUnknown
from flopscope.rules.registry import Cost, rule


def _transform(n: int, real: bool) -> int:
    """FLOPs of one length-n FFT: ceil(5·n·log2 n), or ceil(2.5·n·log2 n) when ``real``.

    >>> _transform(8, real=False), _transform(8, real=True), _transform(10, real=False)
    (120, 60, 167)
    """
    num, den = (5, 2) if real else (5, 1)
    if n <= 1:
        return 0
    k = n.bit_length() - 1
    if n == 1 << k:                          # power of two: num·n·k/den is an integer
        return num * n * k // den
    from decimal import ROUND_CEILING, Decimal, localcontext  # rarely needed: imported here

    prec = 40
    while True:  # log2 n is irrational: refine until the ceiling is certain (one pass in practice)
        with localcontext() as ctx:
            ctx.prec = prec
            x = Decimal(num * n) * Decimal(n).ln() / (Decimal(den) * Decimal(2).ln())
            top = int(x.to_integral_value(rounding=ROUND_CEILING))
            err = x * Decimal(10) ** (5 - prec)   # far above the few ulps of ln, ln, ×, ÷
            if top - x > err and x - (top - 1) > err:
                return top
        prec *= 2


def _scalar(node: Node, i: int) -> int:
    """The integer in constant input ``i`` (a scalar or a one-element tensor)."""
    value = node.value(i)
    if len(value) != 1:
        raise RuleError(f"{node.op} '{node.name}': input {i} must be a scalar, got {len(value)} values")
    return int(value[0])


def _mirror(n: int) -> int:
    """Negations that complete a real signal's full spectrum from its one-sided half: bins
    N//2+1 .. N−1 are conjugates of earlier bins, one sign flip of the imaginary part each."""
    return n - (n // 2 + 1)


def _known_output(node: Node) -> tuple[int, ...] | None:
    """Output 0's static shape (inferred or declared), or None."""
    try:
        return node.out_shape(0)
    except ShapeUnknown:
        return None


def _not_constant(node: Node, i: int) -> NoReturn:
    """Raise :class:`ValueUnknown`: input ``i`` of ``node``, which the rule needs, is not a
    known constant (the caller checked)."""
    node.value(i)
    raise AssertionError(f"input {i} of '{node.name}' is a known constant")


def _dft_per_transform(n: int, real_in: bool, onesided: bool, inverse: bool) -> int:
    irfft = onesided and inverse
    per = _transform(n, real=real_in or irfft)
    if real_in and not onesided:
        per += _mirror(n)
    if inverse:
        per += n if irfft else 2 * n
    return per


@rule("DFT")
def dft(node: Node) -> Cost:
    """Per transform of length N = dft_length (default: the axis length; for the IRFFT,
    onesided=1 and inverse=1, 2·(axis length − 1)):

    * complex input, onesided=0: ceil(5·N·log2 N);
    * real input (last dim 1), forward or inverse: ceil(2.5·N·log2 N), plus, with
      onesided=0, (N−1)//2 negations that mirror the conjugate-symmetric half;
    * IRFFT (onesided=1, inverse=1, complex input, real output): ceil(2.5·N·log2 N);
    * inverse=1 adds the 1/N scale: one multiply per real output value (2N per complex
      transform, N for the IRFFT).

    Transforms = ∏ of every input dim but the axis and the last (real/imaginary) one.
    Zero-padding or truncation to dft_length is data movement; only N matters. The axis is
    the attribute (opset 17-19, default 1) or the constant input 2 (opset 20+, default −2).
    When the axis or dft_length input is not a constant, the output shape decides it if
    every reading of the axis/length that fits the output shape costs the same; otherwise
    the node is left unresolved. onesided=1 with complex input (forward) or real input
    (inverse) is refused, as in the spec. MACs = 0: an FFT is not a matmul.
    """
    x = node.shape(0)
    r = len(x)
    if r < 2 or x[-1] not in (1, 2):
        raise RuleError(f"DFT '{node.name}': input {x} must end in a real/imaginary dim of 1 or 2")
    inverse, onesided = bool(node.attr("inverse", 0)), bool(node.attr("onesided", 0))
    real_in = x[-1] == 1
    if onesided and not inverse and not real_in:
        raise RuleError(f"DFT '{node.name}': onesided=1 forward transform needs real input, "
                        f"got {x}")
    if onesided and inverse and real_in:
        raise RuleError(f"DFT '{node.name}': onesided=1 inverse transform (IRFFT) needs "
                        f"complex input, got {x}")
    irfft, rfft = onesided and inverse, onesided and not inverse

    if node.opset >= 20 or node.has_input(2):
        axis = (_scalar(node, 2) if 2 in node.values else None) if node.has_input(2) else -2
    else:
        axis = int(node.attr("axis", 1))
    if axis is not None and not -r <= axis <= r - 2 or axis == -1:
        raise RuleError(f"DFT '{node.name}': axis {axis} does not fit input {x} (the last "
                        f"dim holds real/imaginary parts)")
    length = _scalar(node, 1) if node.has_input(1) and 1 in node.values else None
    if length is not None and length < 1:
        raise RuleError(f"DFT '{node.name}': dft_length {length} must be positive")
    read_back = axis is None or (length is None and node.has_input(1))
    out = _known_output(node)
    if read_back and (out is None or len(out) != r):
        node.value(2 if axis is None else 1)        # raises: the input is not a constant
    out = out or ()                                 # read only when read_back: known then

    costs = set()
    for pos in range(r - 1) if axis is None else [axis % r]:
        if length is not None:
            lengths = [length]
        elif not node.has_input(1):
            lengths = [2 * (x[pos] - 1) if irfft else x[pos]]
        else:                                       # dft_length read back from the output
            lengths = [2 * (out[pos] - 1), 2 * out[pos] - 1] if rfft else [out[pos]]
        for n in lengths:
            if n < 1:
                continue
            if read_back and not (out[pos] == (n // 2 + 1 if rfft else n)
                                and out[-1] == (1 if irfft else 2)
                                and all(out[i] == x[i] for i in range(r - 1) if i != pos)):
                continue
            transforms = prod(x[:pos]) * prod(x[pos + 1:-1])
            costs.add(transforms * _dft_per_transform(n, real_in, onesided, inverse))
    if len(costs) > 1:
        what = "axis" if axis is None else "dft_length"
        raise ValueUnknown(f"DFT '{node.name}': {what} is not a constant and readings of "
                           f"different cost fit the output shape {list(out)}")
    if not costs:
        raise RuleError(f"DFT '{node.name}': no transform length fits input {x}"
                        + (f" and output {out}" if read_back else ""))
    return Cost(flops=costs.pop())


def _steps_exist(span: int, frames: int) -> bool:
    """True when some integer frame_step s >= 1 gives span // s + 1 == frames."""
    if frames == 1:
        return True                             # any s > span
    s = span // (frames - 1) if frames > 1 else 0   # the largest s with span // s >= frames − 1
    return s >= 1 and span // s == frames - 1


@rule("STFT")
def stft(node: Node) -> Cost:
    """Per batch item and frame: the window multiply (one per frame sample and real/imaginary
    part, when ``window`` is given; the default rectangular window multiplies by one and
    costs nothing), then a DFT of frame_length T priced as DFT's rule: ceil(2.5·T·log2 T)
    for a real signal (plus (T−1)//2 mirror negations when onesided=0), ceil(5·T·log2 T)
    for a complex one.

    frames = (signal_length − T) // frame_step + 1; T = frame_length, else the window's
    length, else signal_length. When frame_step or frame_length is not a constant, the
    output shape [batch, frames, bins, 2] supplies them: frames directly, T = bins
    (onesided=0) or one of 2·(bins − 1), 2·bins − 1 (onesided=1), kept only where some
    integer frame_step yields those frames; readings of different cost leave the node
    unresolved. A complex signal with onesided=1 (the default) is refused, as in the
    spec. MACs = 0: an FFT is not a matmul.
    """
    sig = node.shape(0)
    if len(sig) != 3 or sig[-1] not in (1, 2):
        raise RuleError(f"STFT '{node.name}': signal {sig} must be [batch, length, 1 or 2]")
    batch, length, parts = sig
    windowed = node.has_input(2)
    win = node.shape(2) if windowed else None
    if win is not None and len(win) != 1:
        raise RuleError(f"STFT '{node.name}': window {win} must be 1-D")
    onesided = bool(node.attr("onesided", 1))
    if onesided and parts == 2:
        raise RuleError(f"STFT '{node.name}': onesided=1 needs a real signal, got {sig}")
    step = _scalar(node, 1) if 1 in node.values else None
    if step is not None and step < 1:
        raise RuleError(f"STFT '{node.name}': frame_step {step} must be positive")
    out = _known_output(node)
    if out is not None and len(out) != 4:
        raise RuleError(f"STFT '{node.name}': output {out} must be [batch, frames, bins, 2]")

    if node.has_input(3) and 3 in node.values:
        lengths = [_scalar(node, 3)]
        if win is not None and win[0] != lengths[0]:
            raise RuleError(f"STFT '{node.name}': window length {win[0]} != frame_length "
                            f"{lengths[0]}")
    elif node.has_input(3) and win is None:     # frame_length not a constant: read it back
        if out is None:
            _not_constant(node, 3)
        bins = out[2]
        lengths = [2 * (bins - 1), 2 * bins - 1] if onesided else [bins]
    else:
        lengths = [win[0] if win is not None else length]
    if step is None and out is None:
        node.value(1)                           # raises: frame_step is not a constant

    costs = set()
    for t in lengths:
        if not 1 <= t <= length:
            continue
        if step is not None:
            frames = (length - t) // step + 1
        elif out is not None and _steps_exist(length - t, out[1]):
            frames = out[1]
        else:
            continue
        if out is not None and len(lengths) > 1 and out[1] != frames:
            continue
        per = _transform(t, real=parts == 1)
        if parts == 1 and not onesided:
            per += _mirror(t)
        if windowed:
            per += t * parts
        costs.add(batch * frames * per)
    if len(costs) > 1:
        raise ValueUnknown(f"STFT '{node.name}': frame_length is not a constant and readings "
                           f"of different cost fit the output shape {list(out or ())}")
    if not costs:
        raise RuleError(f"STFT '{node.name}': no frame_length in {lengths} fits signal {sig}"
                        + (f" and output {list(out)}" if out is not None else ""))
    return Cost(flops=costs.pop())


def _window(node: Node, per_element: int) -> Cost:
    n = node.out_numel(0)
    if n == 0:
        return Cost()
    scalar = 1 + (node.attr("periodic", 1) == 0)     # 2π/N' (divide), N' = size − 1 if symmetric
    return Cost(flops=per_element * n + scalar)


@rule("HannWindow", "HammingWindow")
def cosine_window(node: Node) -> Cost:
    """w[n] = a0 − a1·cos(2π·n/N′): per element 4 FLOPs (n·(2π/N′), cos, ×a1, a0 −), once
    the divide 2π/N′, and with periodic=0 the subtract N′ = size − 1 (N′ = size otherwise).
    Hann: a0 = a1 = 0.5; Hamming: a0 = 25/46. Exact; the output length is the ``size``."""
    return _window(node, 4)


@rule("BlackmanWindow")
def blackman_window(node: Node) -> Cost:
    """w[n] = 0.42 − 0.5·cos(2π·n/N′) + 0.08·cos(4π·n/N′): per element 8 FLOPs (n·(2π/N′),
    doubled, two cos, two coefficient multiplies, subtract, add), once the divide 2π/N′,
    and with periodic=0 the subtract N′ = size − 1. Exact."""
    return _window(node, 8)


@rule("MelWeightMatrix")
def mel_weight_matrix(node: Node) -> Cost:
    """A [K = dft_length//2 + 1, M = num_mel_bins] matrix of triangular filters:

    * the two band edges to mel, mel(f) = 2595·log10(1 + f/700): 4 FLOPs each (8);
    * the mel step (high − low)/(M + 2): 2;
    * M + 2 filter points: i·step + low (2), back to hertz 700·(10^(m/2595) − 1) (4), to a
      spectrogram bin (dft_length + 1)·f // sample_rate (3): 9 each;
    * per filter the widths center − left and right − center: 2·M;
    * per matrix element, the triangle evaluated densely, max(0, min((j − left)/(center −
      left), (right − j)/(right − center))): 2 subtracts, 2 divides, min, max: 6·K·M.

    Convention: every element is priced, zeros included, as a vectorised implementation
    computes them (which entries are non-zero depends on the constants' values, not on
    shapes). MACs = 0: a generator, no dot product.
    """
    out = node.out_shape(0)
    if len(out) != 2:
        raise RuleError(f"MelWeightMatrix '{node.name}': output {out} must be 2-D")
    k, m = out
    return Cost(flops=8 + 2 + 9 * (m + 2) + 2 * m + 6 * k * m)
