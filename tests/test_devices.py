"""The named-device table: lookups, datasheet figures and the roofline they give."""

from __future__ import annotations

import pytest

from flopscope import devices
from flopscope.errors import FlopscopeError

ISSUE_DEVICES = ["H100 SXM", "H200", "A100 80GB", "L4", "RTX 4090", "Apple M2", "Snapdragon 8 Gen 3 phone",
                 "Raspberry Pi 5"]


def test_the_table_holds_the_devices_the_issue_names_each_with_a_source():
    assert devices.names() == ISSUE_DEVICES
    for name in ISSUE_DEVICES:
        d = devices.get_device(name)
        assert d.peak("fp32") > 0 and d.bandwidth_bytes_per_s > 0 and d.source
        assert set(d.peak_flops) <= set(devices.DTYPES)


@pytest.mark.parametrize("alias, name", [("h100", "H100 SXM"), ("H100-SXM", "H100 SXM"),
                                         ("rpi5", "Raspberry Pi 5"), ("rtx 4090", "RTX 4090"),
                                         ("phone", "Snapdragon 8 Gen 3 phone")])
def test_aliases_ignore_case_spaces_and_dashes(alias, name):
    assert devices.get_device(alias).name == name


def test_datasheet_figures():
    h100, h200 = devices.get_device("h100"), devices.get_device("h200")
    assert h100.peak("bf16") == h200.peak("bf16") == 989.4e12       # same GH100 die
    assert (h100.bandwidth_bytes_per_s, h200.bandwidth_bytes_per_s) == (3.35e12, 4.8e12)
    assert devices.get_device("a100").bandwidth_bytes_per_s == 2.039e12
    # Raspberry Pi 5: 4 cores x 2.4 GHz x 16 fp32 FLOP/cycle
    assert devices.get_device("pi5").peak("fp32") == pytest.approx(4 * 2.4e9 * 16)


def test_roofline_time_and_ridge():
    l4 = devices.get_device("l4")                # 30.3 TFLOP/s fp32, 300 GB/s
    assert l4.ridge("fp32") == pytest.approx(30.3e12 / 300e9)
    assert l4.roofline_s(30.3e12, 1.0) == pytest.approx(1.0)       # compute-bound: 1 s
    assert l4.roofline_s(1.0, 600e9) == pytest.approx(2.0)         # memory-bound: 2 s


def test_unknown_device_and_dtype_are_user_errors():
    with pytest.raises(FlopscopeError, match="unknown device 'tpu'; choose one of H100 SXM"):
        devices.get_device("tpu")
    with pytest.raises(FlopscopeError, match="no fp8 peak for Apple M2"):
        devices.get_device("m2").peak("fp8")
