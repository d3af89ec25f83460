"""The gate's metric table: one entry per checkable figure, read by every part of the gate."""

from __future__ import annotations

from dataclasses import fields

import pytest

from flopscope import metrics
from flopscope.budget import parse_budget
from flopscope.comparison import Comparison
from flopscope.gate import check_baseline, check_budget
from flopscope.metrics import BASELINE_METRICS, LAYER_FIELDS, METRICS, TOTAL_METRICS, TOTALS
from flopscope.render.gate import render_text
from flopscope.report import Layer, Totals
from flopscope.testing import assert_within_budget
from tests.test_gate import OLD, make_report

#: the ``totals`` keys of the JSON report's contract (DESIGN.md, "Public contract")
CONTRACT = ("macs", "flops", "params", "param_bytes", "activation_bytes", "peak_activation_bytes",
            "traffic_bytes")
#: the ``totals`` keys train mode adds (DESIGN.md; None in an inference report)
TRAINING = ("forward_macs", "backward_macs", "optimizer_flops", "gradient_bytes",
            "optimizer_state_bytes", "saved_activation_bytes", "peak_training_bytes")


def make_train_report(rows, **kwargs):
    """``make_report`` with the train-mode totals filled in by hand (distinct values)."""
    report = make_report(rows, **kwargs)
    for k, key in enumerate(TRAINING):
        setattr(report.totals, key, 1000 + k)
    return report


def test_the_table_names_the_contract_totals_and_the_fields_they_map_to():
    assert TOTAL_METRICS == CONTRACT + TRAINING
    totals, layer = {f.name for f in fields(Totals)}, {f.name for f in fields(Layer)}
    assert set(TOTAL_METRICS) <= totals
    assert set(LAYER_FIELDS) <= layer
    for key, m in METRICS.items():
        assert m.key == key and m.unit in (metrics.COUNT, metrics.BYTES, metrics.MS)
        assert m.layer_field is None or m.layer_field in LAYER_FIELDS
        assert (m.unit == metrics.BYTES) == key.endswith("_bytes")
        assert m.summed is False or m.layer_field == key   # a share needs the field summing to it
    assert [k for k, m in METRICS.items() if m.section != TOTALS] == ["p90_ms"]


def test_a_baseline_checks_the_static_totals():
    assert BASELINE_METRICS == ("macs", "flops", "params", "param_bytes", "peak_activation_bytes")
    checks = check_baseline(make_report(OLD), make_report(OLD)).checks
    assert [c.metric for c in checks] == list(BASELINE_METRICS)


# every consumer reads every entry: a metric added to the table is checked, limited and named everywhere


@pytest.mark.parametrize("key", TOTAL_METRICS)
def test_every_total_is_a_budget_key_an_assertion_limit_and_a_comparison_column(key):
    entry = parse_budget({"models": {"a": {f"max_{key}": 7}}}).models[0]
    assert entry.limits == {key: 7}
    report = make_train_report(OLD)
    value = getattr(report.totals, key)
    assert assert_within_budget(report, **{f"max_{key}": value}).checks[0].metric == key
    with pytest.raises(AssertionError, match=f"{METRICS[key].label} {value:,} is over the limit"):
        assert_within_budget(report, **{f"max_{key}": value - 1})
    headers, _ = Comparison([report], ["net"], (key,)).table()
    assert headers == ["model", METRICS[key].header]


@pytest.mark.parametrize("key", list(METRICS))
def test_every_metric_is_a_gate_check_labelled_from_the_table(key):
    report = make_train_report(OLD, latency_ms=2.5)
    check = check_budget(report, {key: 0}).checks[0]
    assert (check.label, check.layer_field) == (METRICS[key].label, METRICS[key].layer_field)
    text = render_text([check_budget(report, {key: 0})])
    assert f"FAIL {METRICS[key].label} " in text
    if METRICS[key].layer_field:
        assert f"heaviest modules by {LAYER_FIELDS[METRICS[key].layer_field]}:" in text


def test_an_unknown_limit_is_a_type_error_naming_the_limits():
    with pytest.raises(TypeError, match="unexpected keyword argument 'max_gflops'; limits: max_macs, "):
        assert_within_budget(make_report(OLD), max_gflops=1)
