"""Running a check: the analysis, the latency measurement and the baseline file around the
pure checks of the gate."""

from __future__ import annotations

import json
import sys
import types

import pytest

import flopscope.latency
from flopscope.checking import load_baseline, measure_latency, run_check
from flopscope.errors import FlopscopeError
from flopscope.report import Latency
from tests.test_gate import OLD, make_report


def fake_harness(monkeypatch, bench) -> None:
    """Stand in for ``flopscope.latency``'s bench; its submodules (the presets) still load."""
    fake = types.ModuleType("flopscope.latency")
    fake.__path__, fake.bench = flopscope.latency.__path__, bench
    monkeypatch.setitem(sys.modules, "flopscope.latency", fake)


def test_run_check_turns_unusable_input_into_errors(tmp_path):
    result = run_check(str(tmp_path / "missing.onnx"), limits={"macs": 1})
    assert result.exit_code == 2 and "no such file" in result.errors[0]
    given = run_check(None, report=make_report(OLD), baseline=str(tmp_path / "nope.json"))
    assert given.exit_code == 2 and "flopscope baseline MODEL" in given.errors[0]


def test_run_check_takes_the_baseline_convention_and_a_dict_baseline():
    report = make_report(OLD)
    result = run_check(None, report=report, baseline=report.to_dict(),
                       update_command=lambda new: f"cmd --convention {new.convention}")
    assert result.exit_code == 0 and result.update_command == "cmd --convention flopscope"


def test_run_check_rejects_a_baseline_that_is_no_report():
    assert "not a flopscope report" in run_check(None, report=make_report(OLD), baseline={"x": 1}).errors[0]
    assert "not int" in run_check(None, report=make_report(OLD), baseline=3).errors[0]


@pytest.mark.parametrize("content, words", [
    (None, "no such baseline; create it with: flopscope baseline MODEL -o"),
    ("{not json", "the baseline is not valid JSON"),
    (b"\xff\xfe", "the baseline is not valid JSON"),
    ('{"schema": "flopscope.report/1"}', "not a flopscope JSON report"),
])
def test_load_baseline_names_the_problem(tmp_path, content, words):
    path = tmp_path / "base.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(FlopscopeError, match=words):
        load_baseline(str(path))


def test_load_baseline_reads_a_saved_report(tmp_path):
    path = tmp_path / "base.json"
    path.write_text(json.dumps(make_report(OLD).to_dict()))
    assert load_baseline(str(path)).totals.macs == 3500


def test_measure_latency_passes_the_bindings_and_turns_failures_into_one_line(monkeypatch):
    calls = []

    def bench(model, inputs=None, **options):
        calls.append((model, inputs, options))
        if model == "broken":
            raise RuntimeError("provider\n  exploded")
        return Latency("cpu", "CPUExecutionProvider", 1, 1, 3, 1.0, 2.0, 3.0, 1.0, 0.1)

    fake_harness(monkeypatch, bench)
    latency = measure_latency("m.onnx", None, preset="cpu", iterations=3, dims={"N": 1})
    assert latency.p90_ms == 2.0
    assert calls == [("m.onnx", None, {"preset": "cpu", "iterations": 3, "dims": {"N": 1}})]
    with pytest.raises(FlopscopeError, match=r"^latency measurement \(cpu\) failed: RuntimeError: "
                                             r"provider exploded$"):
        measure_latency("broken", None, preset="cpu")


def test_a_latency_limit_is_measured_unless_told_not_to(monkeypatch):
    from flopscope.budget import LatencyLimit

    fake_harness(monkeypatch, lambda *a, **k: Latency("cpu", "CPUExecutionProvider", 1, 1, 3, 1.0, 25.0,
                                                      30.0, 1.0, 0.1))
    limit = LatencyLimit("cpu", 20.0)
    over = run_check("m.onnx", report=make_report(OLD), latency=limit)
    assert over.exit_code == 1 and [c.metric for c in over.checks] == ["p90_ms"]
    skipped = run_check("m.onnx", report=make_report(OLD), latency=limit, measure=False)
    assert skipped.exit_code == 0 and "not measured (--no-latency)" in skipped.notes[0]
