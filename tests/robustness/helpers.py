"""Running the CLI in-process under a time limit, judging its outcome, tiny models to
break, and snapshots of a model's folder (to show that nothing was written there)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from flopscope.cli import main

F32, I64, BOOL = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL

#: seconds one command may take on one small file before it counts as a hang
PER_FILE_S = 10.0


class Hang(BaseException):
    """Raised by the timer; a BaseException, so the CLI's own handlers cannot swallow it."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def on_alarm(signum, frame):  # noqa: ANN001
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    seconds: float

    @property
    def line(self) -> str:
        return self.err.strip()


def run_cli(*argv: object, limit: float = PER_FILE_S) -> Outcome:
    """``flopscope ARGV`` in this process, stdout and stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    start = perf_counter()
    with time_limit(limit), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return Outcome(code, out.getvalue(), err.getvalue(), perf_counter() - start)


def problem(outcome: Outcome) -> str | None:
    """Why ``outcome`` is not a report or a clean refusal, or None.

    Clean: exit 0, or exit 2 with exactly one ``flopscope: error:`` line on stderr. An
    exception the CLI only caught in its last-resort handler ("rerun with --debug") is a
    bug that input should not reach, so it counts as a problem too.
    """
    if "Traceback" in outcome.err:
        return f"traceback on stderr: {outcome.err[-500:]}"
    if outcome.code not in (0, 2):
        return f"exit code {outcome.code}: {outcome.err[-500:]}"
    if outcome.code == 2:
        lines = outcome.err.strip().splitlines()
        if len(lines) != 1 or not lines[0].startswith("flopscope: error: "):
            return f"not one error line: {outcome.err[-500:]!r}"
        if "rerun with --debug" in lines[0]:
            return f"an unforeseen exception: {lines[0]}"
    return None


def assert_clean(outcome: Outcome) -> None:
    why = problem(outcome)
    assert why is None, why


def assert_refused(outcome: Outcome, *needles: str) -> None:
    """Exit 2, nothing on stdout, one error line naming each of ``needles``."""
    assert_clean(outcome)
    assert outcome.code == 2 and outcome.out == "", (outcome.code, outcome.err)
    for needle in needles:
        assert needle in outcome.line, outcome.line


# --------------------------------------------------------------------------- models


def vi(name: str, shape, elem: int = F32) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def weight(name: str, *shape: int) -> TensorProto:
    return numpy_helper.from_array(np.full(shape, 0.5, np.float32), name)


def model(nodes, inputs, outputs, inits=(), opset: int = 17) -> onnx.ModelProto:
    graph = helper.make_graph(list(nodes), "g", list(inputs), list(outputs), initializer=list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


#: conv_relu_gemm's counts, by hand: Conv 8x3x3x3 on 1x3x8x8 -> 1x8x6x6, Gemm 288 -> 10
CRG_MACS = 8 * 6 * 6 * 3 * 3 * 3 + 288 * 10


def conv_relu_gemm(batch: int | str = 1) -> onnx.ModelProto:
    """x 1x3x8x8 -> Conv 8x3x3x3 (+bias) -> Relu -> Flatten -> Gemm 10x288 (+bias) -> y."""
    nodes = [helper.make_node("Conv", ["x", "cw", "cb"], ["c"], name="conv", kernel_shape=[3, 3]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Flatten", ["r"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="fc", transB=1)]
    inits = [weight("cw", 8, 3, 3, 3), weight("cb", 8), weight("fw", 10, 288), weight("fb", 10)]
    return model(nodes, [vi("x", [batch, 3, 8, 8])], [vi("y", [batch, 10])], inits)


def control_flow() -> onnx.ModelProto:
    """A Loop of 3 MatMul+Add steps over a 1x4 state, then an If on a graph input."""
    body = helper.make_graph(
        [helper.make_node("MatMul", ["h_in", "lw"], ["m"], name="step_mm"),
         helper.make_node("Add", ["m", "h_in"], ["h_out"], name="step_add"),
         helper.make_node("Identity", ["cond_in"], ["cond_out"], name="step_cond")],
        "body", [vi("i", [], I64), vi("cond_in", [], BOOL), vi("h_in", [1, 4])],
        [vi("cond_out", [], BOOL), vi("h_out", [1, 4])])
    branch = lambda op: helper.make_graph(  # noqa: E731
        [helper.make_node(op, ["h"], [f"{op.lower()}_out"], name=op.lower())], op.lower(), [],
        [vi(f"{op.lower()}_out", [1, 4])])
    nodes = [helper.make_node("Constant", [], ["trips"], name="trips",
                              value=numpy_helper.from_array(np.array(3, np.int64))),
             helper.make_node("Constant", [], ["go"], name="go",
                              value=numpy_helper.from_array(np.array(True))),
             helper.make_node("Loop", ["trips", "go", "x"], ["h"], name="loop", body=body),
             helper.make_node("If", ["flag"], ["y"], name="choose", then_branch=branch("Relu"),
                              else_branch=branch("Sigmoid"))]
    return model(nodes, [vi("x", [1, 4]), vi("flag", [], BOOL)], [vi("y", [1, 4])], [weight("lw", 4, 4)])


def save_with_external_data(m: onnx.ModelProto, folder: Path, name: str = "ext.onnx",
                            location: str = "weights.bin") -> Path:
    """``m`` saved in ``folder`` with every initializer in the file ``location``."""
    path = Path(folder) / name
    onnx.save_model(m, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=location, size_threshold=0)
    return path


def external_tensor(name: str, dims: list[int], location: str, elem: int = F32) -> TensorProto:
    """A tensor whose payload lives at ``location`` (which need not exist)."""
    t = TensorProto(name=name, dims=dims, data_type=elem, data_location=TensorProto.EXTERNAL)
    nbytes = int(np.prod(dims, dtype=object)) * np.dtype(helper.tensor_dtype_to_np_dtype(elem)).itemsize
    for key, value in (("location", location), ("offset", "0"), ("length", str(nbytes))):
        entry = t.external_data.add()
        entry.key, entry.value = key, value
    return t


# --------------------------------------------------------------------------- snapshots


def snapshot(folder: Path) -> dict[str, tuple[int, int, str]]:
    """Every entry under ``folder``: relative path -> (size, mtime in ns, sha256 of a file)."""
    found = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            p = Path(root) / name
            st = p.lstat()
            digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() and not p.is_symlink() \
                and st.st_size < 2**24 else ""
            found[str(p.relative_to(folder))] = (st.st_size, st.st_mtime_ns, digest)
    return found
