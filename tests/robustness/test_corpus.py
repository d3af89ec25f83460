"""Every operator test case that ships inside the ``onnx`` package, through ``flopscope
report``: each is a report or a clean refusal that names its reason, never a traceback.

Run with ``pytest -s`` to see the figures (recorded in README.md, "Robustness").
"""

from __future__ import annotations

import json
import warnings
from collections import Counter

import onnx
import pytest

from tests.robustness.helpers import problem, run_cli


def _testcases():
    with warnings.catch_warnings():              # the generators' numpy overflows, not ours
        warnings.simplefilter("ignore")
        from onnx.backend.test.case.node import collect_testcases
        return collect_testcases()


def _op_types(model: onnx.ModelProto) -> set[str]:
    return {n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}" for n in model.graph.node}


def test_onnx_operator_corpus(tmp_path):
    cases = _testcases()
    assert len(cases) > 1000, "the onnx wheel ships fewer operator test cases than expected"
    kinds: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    statuses: dict[str, Counter[str]] = {}
    failures = []
    out = tmp_path / "report.json"
    for i, case in enumerate(cases):
        path = tmp_path / f"{i:04d}_{case.name}.onnx"
        onnx.save_model(case.model, str(path))
        outcome = run_cli("report", path, "--format", "json", "-o", out)
        why = problem(outcome)
        if why is not None:
            failures.append(f"{case.name}: {why}")
        elif outcome.code == 0:
            report = json.loads(out.read_text())
            coverage = report["coverage"]
            kinds["costed" if coverage["costed"] == coverage["nodes"] else "partially costed"] += 1
            for layer in report["layers"]:
                statuses.setdefault(layer["op"], Counter())[layer["status"]] += 1
        else:
            kinds["refused"] += 1
            reasons[outcome.line.split(": ", 3)[-1][:100]] += 1
            for op in _op_types(case.model):
                statuses.setdefault(op, Counter())["refused"] += 1
        path.unlink()

    ruled = [op for op, s in statuses.items() if not s["unsupported"]]
    everywhere = [op for op, s in statuses.items() if set(s) <= {"ok", "not taken"}]
    print(f"\nonnx {onnx.__version__} operator test cases: {len(cases)}")
    for kind in ("costed", "partially costed", "refused"):
        print(f"  {kind}: {kinds[kind]}")
    print(f"  op types seen: {len(statuses)}; with a cost rule: {len(ruled)} "
          f"({100 * len(ruled) / len(statuses):.1f}%); costed wherever they occur: {len(everywhere)}")
    print("  without a cost rule: " + ", ".join(sorted(set(statuses) - set(ruled))))
    for reason, n in reasons.most_common(10):
        print(f"  refused x{n}: {reason}")

    assert not failures, f"{len(failures)} failures, e.g.\n" + "\n".join(failures[:20])
    reported = kinds["costed"] + kinds["partially costed"]
    assert reported >= 0.95 * len(cases), (kinds, reasons.most_common(5))


@pytest.mark.parametrize("name", ["test_conv_with_strides_padding", "test_gemm_default_no_bias",
                                  "test_lrn", "test_loop11"])
def test_corpus_models_are_costed_exactly_once(tmp_path, name):
    """A few corpus models by name: a full report, every node costed."""
    (case,) = [c for c in _testcases() if c.name == name]
    onnx.save_model(case.model, str(tmp_path / "m.onnx"))
    outcome = run_cli("report", tmp_path / "m.onnx", "--format", "json")
    assert outcome.code == 0, outcome.err
    coverage = json.loads(outcome.out)["coverage"]
    assert coverage["costed"] == coverage["nodes"] > 0
