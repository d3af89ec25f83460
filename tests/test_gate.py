"""The gate's pure logic: layer diff, budget and baseline checks, and the renderers."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from flopscope.errors import FlopscopeError
from flopscope.gate import (
    BASELINE,
    BUDGET,
    ERROR,
    IMPROVED,
    OVER,
    PASS,
    STRICT,
    GateResult,
    biggest,
    check_baseline,
    check_budget,
    combine,
    exit_code,
    layer_diff,
    rollup,
    status,
)
from flopscope.render.gate import (
    MARKDOWN_LIMIT,
    render_gate,
    render_json,
    render_junit,
    render_markdown,
    render_text,
)
from flopscope.report import (
    Coverage,
    InputInfo,
    Latency,
    Layer,
    ModelInfo,
    Report,
    Totals,
)


def make_report(rows, *, name="net", shape=(1, 3, 16, 16), convention="flopscope",
                unsupported=None, unresolved=None, peak=None, latency_ms=None) -> Report:
    """A Report from ``rows``: (name, module, macs, params[, output_bytes]); FLOPs = 2 x MACs
    and totals are the sums, so every number can be checked by hand."""
    layers = []
    for row in rows:
        lname, module, macs, params = row[:4]
        out = row[4] if len(row) > 4 else 100
        layers.append(Layer(name=lname, op="Conv", module=module, output_shapes=[[1]], macs=macs,
                            flops=2 * macs, params=params, output_bytes=out, traffic_bytes=out))
    totals = Totals(macs=sum(l.macs for l in layers), flops=sum(l.flops for l in layers),
                    params=sum(l.params for l in layers), param_bytes=4 * sum(l.params for l in layers),
                    activation_bytes=sum(l.output_bytes for l in layers),
                    peak_activation_bytes=peak if peak is not None else max((l.output_bytes for l in layers),
                                                                            default=0),
                    traffic_bytes=sum(l.traffic_bytes for l in layers))
    coverage = Coverage(nodes=len(layers), costed=len(layers), unsupported=dict(unsupported or {}),
                        unresolved=dict(unresolved or {}))
    latency = None
    if latency_ms is not None:
        latency = Latency("cpu", "CPUExecutionProvider", 1, 1, 10, latency_ms, latency_ms, latency_ms,
                          latency_ms, 0.0)
    return Report(ModelInfo(name, "onnx", [InputInfo("x", list(shape), "float32")]), convention, totals,
                  coverage, layers, latency)


OLD = [("/stem/Conv", "stem", 1000, 10), ("/body/Conv", "body", 2000, 20), ("/head/Conv", "head", 500, 5)]


# ----------------------------------------------------------------------- layer diff


def test_layer_diff_matches_by_name_and_marks_added_and_removed():
    old = make_report(OLD)
    new = make_report([("/stem/Conv", "stem", 1000, 10), ("/body/Conv", "body", 4000, 40),
                       ("/extra/Conv", "extra", 300, 3)])
    diff = {d.name: d for d in layer_diff(old, new)}
    assert [d.name for d in layer_diff(old, new)] == ["/stem/Conv", "/body/Conv", "/extra/Conv", "/head/Conv"]
    assert diff["/stem/Conv"].change == "same"
    assert diff["/body/Conv"].change == "changed"
    assert (diff["/body/Conv"].old["macs"], diff["/body/Conv"].new["macs"]) == (2000, 4000)
    assert diff["/extra/Conv"].change == "added" and diff["/extra/Conv"].old is None
    assert diff["/head/Conv"].change == "removed" and diff["/head/Conv"].new is None


def test_layer_diff_keeps_repeated_and_empty_names_apart():
    old = make_report([("x", "a", 1, 0), ("x", "a", 2, 0), ("", "b", 3, 0)])
    new = make_report([("x", "a", 1, 0), ("x", "a", 5, 0), ("", "b", 3, 0)])
    diff = layer_diff(old, new)
    assert [d.name for d in diff] == ["x", "x#2", "<Conv>"]
    assert [d.change for d in diff] == ["same", "changed", "same"]


def test_rollup_sums_layers_by_module_path_and_depth():
    rows = [("a", "layer1.0.conv1", 10, 1), ("b", "layer1.0.conv2", 20, 2), ("c", "layer1.1.conv1", 30, 3),
            ("d", "", 5, 0)]
    new = make_report([(n, m, 2 * macs, p) for n, m, macs, p in rows])
    diff = layer_diff(make_report(rows), new)
    full = {r.module: r for r in rollup(diff)}
    assert list(full) == ["layer1.0.conv1", "layer1.0.conv2", "layer1.1.conv1", "d"]
    by_block = {r.module: r for r in rollup(diff, depth=2)}
    assert by_block["layer1.0"].layers == 2
    assert (by_block["layer1.0"].old["macs"], by_block["layer1.0"].new["macs"]) == (30, 60)
    assert by_block["layer1.0"].change_pct("macs") == 100.0
    assert {r.module: r.layers for r in rollup(diff, depth=1)} == {"layer1": 3, "d": 1}


def test_biggest_orders_by_absolute_change_ties_in_graph_order_and_drops_unmoved():
    old = make_report([("a", "a", 100, 0), ("b", "b", 100, 0), ("c", "c", 100, 0), ("d", "d", 100, 0)])
    new = make_report([("a", "a", 150, 0), ("b", "b", 100, 0), ("c", "c", 0, 0), ("d", "d", 150, 0)])
    top = biggest(rollup(layer_diff(old, new)), "macs")
    assert [r.module for r in top] == ["c", "a", "d"]
    assert [r.delta("macs") for r in top] == [-100, 50, 50]
    assert biggest(rollup(layer_diff(old, new)), "macs", k=1)[0].module == "c"


# ----------------------------------------------------------------------- budget


def test_budget_limit_is_inclusive():
    report = make_report(OLD)   # 3,500 MACs, 35 params
    result = check_budget(report, {"macs": 3500, "params": 35})
    assert result.exit_code == 0 and result.status == "pass"
    assert [c.status for c in result.checks] == [PASS, PASS]
    assert all(c.kind == BUDGET for c in result.checks)


def test_budget_over_names_the_metric_and_the_heaviest_modules():
    result = check_budget(make_report(OLD), {"macs": 3000, "flops": 10_000})
    assert result.exit_code == 1 and result.status == "fail"
    macs = result.checks[0]
    assert (macs.metric, macs.status, macs.new, macs.reference) == ("macs", OVER, 3500, 3000)
    assert [r.module for r in macs.layers] == ["body", "stem", "head"]
    assert result.checks[1].status == PASS and not result.checks[1].layers
    text = render_text([result])
    assert "MACs 3,500 is over the limit of 3,000 (+16.67%)" in text
    assert text.index("body: 2,000") < text.index("stem: 1,000")


def test_budget_of_zero():
    result = check_budget(make_report(OLD), {"macs": 0})
    assert result.exit_code == 1 and "MACs 3,500 is over the limit of 0\n" in render_text([result])


def test_budget_unknown_metric_is_an_error():
    with pytest.raises(FlopscopeError, match="unknown metric 'gflops'"):
        check_budget(make_report(OLD), {"gflops": 1})


def test_budget_latency_reads_the_measured_p90():
    assert check_budget(make_report(OLD, latency_ms=12.5), {"p90_ms": 20}).exit_code == 0
    over = check_budget(make_report(OLD, latency_ms=25.0), {"p90_ms": 20})
    assert over.exit_code == 1
    assert "latency p90 25.000 ms is over the limit of 20.000 ms" in render_text([over])
    missing = check_budget(make_report(OLD), {"p90_ms": 20})
    assert missing.exit_code == 2 and "not measured" in missing.errors[0]


def test_unsupported_ops_fail_closed_unless_allowed():
    report = make_report(OLD, unsupported={"com.example.Foo": 2})
    closed = check_budget(report, {"macs": 10**9})
    assert closed.exit_code == 2 and "com.example.Foo x2" in closed.errors[0]
    assert "--allow-unsupported" in closed.errors[0]
    allowed = check_budget(report, {"macs": 10**9}, allow_unsupported=True)
    assert allowed.exit_code == 0 and "com.example.Foo x2" in allowed.notes[0]


def test_unresolved_ops_fail_even_with_allow_unsupported():
    report = make_report(OLD, unresolved={"Reshape": 1})
    result = check_budget(report, {"macs": 10**9}, allow_unsupported=True)
    assert result.exit_code == 2 and "Reshape x1" in result.errors[0]


def test_the_unresolved_hint_names_the_likeliest_cause():
    upstream = make_report(OLD, unsupported={"com.example.Foo": 1}, unresolved={"MatMul": 3})
    error = check_budget(upstream, {"macs": 10**9}).errors[-1]
    assert "no rule for (com.example.Foo)" in error and "--dim" not in error
    defaulted = make_report(OLD, unresolved={"MatMul": 3})
    defaulted.notes.append("symbolic dim 'N' (input x) bound to 1; use --dim N=SIZE to choose")
    assert "--input-shape / --dim" in check_budget(defaulted, {"macs": 10**9}).errors[-1]
    bound = make_report(OLD, unresolved={"MatMul": 3})
    error = check_budget(bound, {"macs": 10**9}).errors[-1]
    assert "every input dim is bound" in error and "--dim" not in error


# ----------------------------------------------------------------------- baseline


def test_baseline_equal_passes_at_zero_tolerance():
    result = check_baseline(make_report(OLD), make_report(OLD))
    assert result.exit_code == 0
    assert {c.metric for c in result.checks} == {"macs", "flops", "params", "param_bytes",
                                                 "peak_activation_bytes"}
    assert all(c.kind == BASELINE and c.status == PASS for c in result.checks)


def test_baseline_growth_fails_and_names_the_grown_module_first():
    new = make_report([("/stem/Conv", "stem", 1000, 10), ("/body/Conv", "body", 4000, 40),
                       ("/head/Conv", "head", 700, 5)])
    result = check_baseline(new, make_report(OLD), baseline_label="base.json")
    assert result.exit_code == 1
    macs = next(c for c in result.checks if c.metric == "macs")
    assert (macs.reference, macs.new, macs.status) == (3500, 5700, OVER)
    assert [r.module for r in macs.layers] == ["body", "head"]
    text = render_text([result])
    first = text.splitlines()[1]
    assert "MACs grew from 3,500 to 5,700 (+62.86%), over the baseline base.json (tolerance 0%)" in first
    assert "modules that added the most MACs" in text
    assert text.splitlines()[3].strip().startswith("body: 2,000 -> 4,000 (+2,000, +100.00%)")


def test_baseline_tolerance_is_relative_and_two_sided():
    base = make_report([("a", "a", 10_000, 100)])
    slightly = make_report([("a", "a", 10_050, 100)])    # +0.5%
    assert check_baseline(slightly, base, tolerance=0.01).exit_code == 0
    assert check_baseline(slightly, base, tolerance=0.0).exit_code == 1
    assert check_baseline(make_report([("a", "a", 10_200, 100)]), base, tolerance=0.01).exit_code == 1
    lighter = make_report([("a", "a", 9_950, 100)])      # -0.5%
    assert check_baseline(lighter, base, tolerance=0.01, strict=True).exit_code == 0
    with pytest.raises(FlopscopeError, match="tolerance"):
        check_baseline(base, base, tolerance=-0.1)


def test_baseline_improvement_passes_unless_strict():
    new = make_report([("/stem/Conv", "stem", 1000, 10), ("/body/Conv", "body", 1000, 10),
                       ("/head/Conv", "head", 500, 5)])
    result = check_baseline(new, make_report(OLD))
    result.update_command = "flopscope baseline net.onnx -o base.json"
    assert result.exit_code == 0 and result.improvements and not result.failures
    macs = next(c for c in result.checks if c.metric == "macs")
    assert macs.status == IMPROVED and macs.layers[0].module == "body"
    text = render_text([result])
    assert "MACs fell from 3,500 to 2,500 (-28.57%)" in text
    assert "update the baseline: flopscope baseline net.onnx -o base.json" in text
    strict = check_baseline(new, make_report(OLD), strict=True)
    assert strict.exit_code == 1 and strict.failures


def test_baseline_of_a_different_model_is_an_error():
    other = make_report(OLD, name="other")
    result = check_baseline(make_report(OLD), other, baseline_label="b.json")
    assert result.exit_code == 2 and not result.checks
    assert "different model" in result.errors[0] and "'other'" in result.errors[0]
    shapes = check_baseline(make_report(OLD), make_report(OLD, shape=(8, 3, 16, 16)))
    assert shapes.exit_code == 2 and "x 8x3x16x16" in shapes.errors[0]
    allowed = check_baseline(make_report(OLD), other, allow_model_change=True)
    assert allowed.exit_code == 0 and "model changed" in allowed.notes[0]


def test_baseline_with_another_convention_is_an_error_even_when_allowed():
    result = check_baseline(make_report(OLD), make_report(OLD, convention="2mac"), allow_model_change=True)
    assert result.exit_code == 2 and "2mac" in result.errors[0]


def test_growth_from_zero_has_no_percentage():
    result = check_baseline(make_report([("a", "a", 0, 0), ("b", "b", 5, 0)]),
                            make_report([("a", "a", 0, 0)]))
    params = next(c for c in result.checks if c.metric == "macs")
    assert params.change_pct is None and "(new)" in render_text([result])


# ----------------------------------------------------------------------- results


def test_combine_and_exit_code():
    budget = check_budget(make_report(OLD), {"macs": 10})
    base = check_baseline(make_report(OLD), make_report(OLD))
    both = combine(budget, base)
    assert len(both.checks) == 1 + len(base.checks) and both.exit_code == 1
    assert exit_code([base, both]) == 1
    assert exit_code([base, GateResult("x", errors=["broken"]), both]) == 2
    assert exit_code([]) == 0
    assert (status([]), status([base, both]), status([base, GateResult("x", errors=["broken"])])) == \
        ("pass", "fail", "error")


def test_outcome_and_fails_say_what_the_verdict_rests_on():
    lighter = make_report([("/stem/Conv", "stem", 1000, 10), ("/body/Conv", "body", 1000, 10),
                           ("/head/Conv", "head", 500, 5)])          # 2,500 MACs, 25 params
    improved = check_baseline(lighter, make_report(OLD))
    strict = check_baseline(lighter, make_report(OLD), strict=True)
    macs = next(c for c in strict.checks if c.metric == "macs")
    assert macs.status == IMPROVED and strict.fails(macs) and not improved.fails(macs)
    over = combine(strict, check_budget(lighter, {"macs": 2000}))
    assert [r.outcome for r in (improved, strict, over)] == [IMPROVED, STRICT, OVER]
    assert check_baseline(make_report(OLD), make_report(OLD)).outcome == PASS
    assert GateResult("x", errors=["broken"]).outcome == ERROR


def test_modules_are_a_share_of_the_total_only_where_their_field_sums_to_it():
    report = make_report(OLD)   # 3,500 MACs, 35 params, 140 weight bytes
    checks = {c.metric: c for c in check_budget(report, {"macs": 1, "params": 1, "param_bytes": 1}).checks}
    assert (checks["macs"].layer_total, checks["params"].layer_total) == (3500.0, 35.0)
    assert checks["param_bytes"].layer_total == 0.0 and checks["param_bytes"].layer_field == "params"
    assert "body: 2,000 (57.1% of the model)" in render_text([check_budget(report, {"macs": 1})])


def test_the_gate_runs_nothing():
    """The checks are pure: importing them loads no analysis, frontend, latency or file reading."""
    code = ("import sys, flopscope.gate; "
            "print(sorted(m for m in sys.modules if m.startswith('flopscope.')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "flopscope.gate" in loaded
    for module in ("analysis", "frontends", "latency", "checking", "commands"):
        assert f"'flopscope.{module}" not in loaded


# ----------------------------------------------------------------------- renderers


def failing_pair():
    new = make_report([("/stem/Conv", "stem", 1000, 10), ("/body/Conv", "body", 4000, 40),
                       ("/head/Conv", "head", 500, 5)])
    return combine(check_budget(new, {"macs": 4000}, model="net.onnx"),
                   check_baseline(new, make_report(OLD), model="net.onnx", baseline_label="base.json"))


def test_markdown_is_a_table_of_old_new_and_change():
    text = render_markdown([failing_pair()])
    assert text.startswith("## ❌ flopscope check: 1 model over budget")
    assert "| metric | old | new | Δ% | limit | result |" in text
    assert ("| MACs | 3,500 | 5,500 | +57.14% | 4,000 (137.5%) | ❌ over the baseline, ❌ over the limit |"
            in text)
    assert "| `body` | 2,000 | 4,000 | +2,000 | +100.00% |" in text


def test_markdown_stays_under_64_kb_for_5000_layers():
    def rows(scale):
        return [(f"/blocks.{i}/very/long/path/to/a/conv/layer/of/the/network/Conv", f"blocks.{i}.conv",
                 (i + 1) * scale, i) for i in range(5000)]

    new, old = make_report(rows(3)), make_report(rows(2))
    results = [combine(check_budget(new, {"macs": 1, "params": 1}, model=f"m{k}"),
                       check_baseline(new, old, model=f"m{k}")) for k in range(3)]
    text = render_markdown(results)
    assert len(text.encode()) < 64 * 1024 and len(text.encode()) <= MARKDOWN_LIMIT
    assert "| metric | old | new | Δ% |" in text and "blocks.4999.conv" in text
    fewer = render_markdown(results, limit=2500)   # drops the module tables first
    assert len(fewer.encode()) <= 2500 and "blocks.4999.conv" not in fewer and "| MACs |" in fewer
    tiny = render_markdown(results, limit=1000)    # then cuts at a line
    assert len(tiny.encode()) <= 1000 and tiny.endswith("run `flopscope check` for the full text)*\n")


def test_markdown_escapes_pipes_in_names():
    new = make_report([("a|b", "a|b", 10, 0)])
    text = render_markdown([check_budget(new, {"macs": 1})])
    assert "`a\\|b`" in text


def test_json_rendering_is_the_result_data():
    data = json.loads(render_json([failing_pair()]))
    assert data["schema"] == "flopscope.check/1" and data["exit_code"] == 1 and data["status"] == "fail"
    checks = data["results"][0]["checks"]
    budget = next(c for c in checks if c["kind"] == "budget")
    assert (budget["metric"], budget["limit"], budget["new"]) == ("macs", 4000, 5500)
    assert budget["status"] == "over"
    base = next(c for c in checks if c["kind"] == "baseline" and c["metric"] == "macs")
    assert (base["old"], base["new"], base["change_pct"]) == (3500, 5500, pytest.approx(57.142857))
    assert base["layers"][0]["module"] == "body" and base["layers"][0]["delta"] == 2000


def test_junit_is_valid_xml_with_failures_and_errors():
    results = [failing_pair(), GateResult("broken.onnx", errors=["broken.onnx: not a valid ONNX file"]),
               check_budget(make_report(OLD), {"macs": 10**6}, model="ok.onnx")]
    root = ET.fromstring(render_junit(results))
    assert root.tag == "testsuites"
    # net.onnx: the MACs budget, and MACs, FLOPs, params, weight bytes over the baseline
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("8", "5", "1")
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["net.onnx", "broken.onnx", "ok.onnx"]
    failure = suites[0].find("testcase[@name='macs (budget)']/failure")
    assert failure is not None and "over the limit of 4,000" in failure.get("message")
    assert "body" in failure.text
    assert suites[1].find("testcase/error").get("message").endswith("not a valid ONNX file")
    assert suites[2].find("testcase/failure") is None


def test_render_gate_dispatches_and_rejects_unknown_formats():
    results = [check_budget(make_report(OLD), {"macs": 10**6})]
    assert render_gate(results, "text").endswith("flopscope check: 1 model within budget\n")
    assert render_gate(results, "markdown").startswith("## ✅")
    with pytest.raises(ValueError, match="unknown format"):
        render_gate(results, "yaml")
