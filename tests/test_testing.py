"""``flopscope.testing.assert_within_budget``: the gate as a pytest assertion."""

from __future__ import annotations

import sys
import types

import pytest

import flopscope.latency
from flopscope.analysis import analyze
from flopscope.errors import FlopscopeError
from flopscope.report import Latency
from flopscope.testing import assert_within_budget
from tests.commands.nets import WIDENED, conv_net

BASE_MACS = 276_480   # conv_net's base chain at 1x3x16x16


@pytest.fixture
def net(tmp_path) -> str:
    return conv_net(tmp_path / "net.onnx")


def test_within_limits_returns_the_result(net):
    result = assert_within_budget(net, max_macs=BASE_MACS, max_params="1.1k", max_flops="1M")
    assert result.exit_code == 0 and {c.metric for c in result.checks} == {"macs", "params", "flops"}


def test_over_a_limit_raises_assertion_error_naming_metric_and_module(net):
    with pytest.raises(AssertionError) as info:
        assert_within_budget(net, max_macs="200k")
    message = str(info.value)
    assert f"MACs {BASE_MACS:,} is over the limit of 200,000 (+38.24%)" in message
    assert message.index("conv1: 147,456") < message.index("conv2: 73,728")


def test_baseline_growth_names_the_widened_conv_first(net, tmp_path):
    baseline = analyze(net)
    conv_net(net, WIDENED)
    with pytest.raises(AssertionError) as info:
        assert_within_budget(net, baseline=baseline)
    lines = str(info.value).splitlines()
    assert "MACs grew from 276,480 to 497,664 (+80.00%)" in lines[1]
    assert lines[3].strip().startswith("conv1: 147,456 -> 294,912")
    assert assert_within_budget(net, baseline=baseline, tolerance="100%").exit_code == 0
    assert assert_within_budget(net, baseline=baseline.to_dict(), tolerance=1).exit_code == 0


def test_baseline_file_and_strict(net, tmp_path):
    path = tmp_path / "baseline.json"
    path.write_text(analyze(net).to_json())
    assert_within_budget(net, baseline=str(path))
    conv_net(net, (8, 4, 4))
    result = assert_within_budget(net, baseline=path)
    assert result.improvements and result.exit_code == 0
    with pytest.raises(AssertionError, match=f"update the baseline: flopscope baseline MODEL -o {path}"):
        assert_within_budget(net, baseline=str(path), strict=True)


def test_a_report_is_checked_as_it_is(net):
    report = analyze(net)
    assert assert_within_budget(report, max_macs=BASE_MACS).model == "net"
    with pytest.raises(AssertionError, match="MACs 276,480 is over the limit of 276,479"):
        assert_within_budget(report, max_macs=BASE_MACS - 1)


def test_unusable_input_raises_flopscope_error(tmp_path):
    with pytest.raises(FlopscopeError, match="no such file"):
        assert_within_budget(str(tmp_path / "missing.onnx"), max_macs=1)
    custom = conv_net(tmp_path / "custom.onnx", custom_op="FancyOp")
    with pytest.raises(FlopscopeError, match="unsupported ops.*com.example.FancyOp x1"):
        assert_within_budget(custom, max_macs="1G")
    assert assert_within_budget(custom, max_macs="1G", allow_unsupported=True).exit_code == 0
    with pytest.raises(FlopscopeError, match="no such baseline"):
        assert_within_budget(custom, baseline=str(tmp_path / "none.json"))


def test_bad_arguments_raise_flopscope_error(net):
    with pytest.raises(FlopscopeError, match="needs a limit"):
        assert_within_budget(net)
    with pytest.raises(FlopscopeError, match="max_macs: cannot read"):
        assert_within_budget(net, max_macs="many")
    with pytest.raises(FlopscopeError, match="max_p90_ms"):
        assert_within_budget(net, max_p90_ms=-1)
    with pytest.raises(FlopscopeError, match="tolerance"):
        assert_within_budget(net, baseline=analyze(net), tolerance="lots")


def test_latency_limit_uses_the_harness(net, monkeypatch):
    calls = []

    def bench(model, inputs=None, *, preset="cpu", iterations=None, **options):
        calls.append((preset, iterations))
        return Latency(preset, "CPUExecutionProvider", 1, 1, 5, 3.0, 4.0, 5.0, 3.0, 0.2)

    fake = types.ModuleType("flopscope.latency")   # the harness's bench; its presets still load
    fake.__path__, fake.bench = flopscope.latency.__path__, bench
    monkeypatch.setitem(sys.modules, "flopscope.latency", fake)
    assert assert_within_budget(net, max_p90_ms=5, preset="gpu", iterations=5).exit_code == 0
    with pytest.raises(AssertionError, match=r"latency p90 4.000 ms is over the limit of 3.500 ms"):
        assert_within_budget(net, max_p90_ms=3.5)
    assert calls == [("gpu", 5), ("cpu", None)]
