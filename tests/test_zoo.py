"""The reference comparison report (flopscope zoo) on small architectures."""

from __future__ import annotations

import csv
import io
import json

import pytest

pytest.importorskip("torch")

from flopscope import zoo  # noqa: E402
from flopscope.cli import main  # noqa: E402
from flopscope.errors import FlopscopeError  # noqa: E402


@pytest.fixture(scope="module")
def small_zoo():
    # myconv: the notes' grouped/shuffled block; one cheap latency preset, a short budget
    return zoo.run_zoo(["myconv", "resnet18"], presets=["cpu"], time_budget_s=0.2, warmup_budget_s=0.2)


def test_rows_carry_static_counts_and_cross_checks(small_zoo):
    rows = {r.name: r for r in small_zoo.rows}
    r18 = rows["resnet18"]
    assert r18.params == 11_689_512 and r18.params_match
    assert r18.macs == 1_814_073_344 and r18.gmacs_match
    assert r18.onnx_macs == r18.macs                       # PyTorch path == ONNX path
    assert any("folding BatchNorm" in note for note in r18.notes)
    myconv = rows["myconv"]
    # g_conv1 32->64 g=8, g_conv2 64->64 g=8, two 1x1 64->64, all 3x3 padded on 56x56
    hw = 56 * 56
    assert myconv.macs == hw * 64 * (32 // 8) * 9 + hw * 64 * (64 // 8) * 9 + 2 * hw * 64 * 64
    assert myconv.published_params is None and myconv.params_match is None
    assert set(r18.latency) == {"cpu"} and r18.latency["cpu"].p50_ms > 0


def test_outputs_written(small_zoo, tmp_path):
    paths = zoo.write(small_zoo, tmp_path / "reports")
    names = {p.name for p in paths}
    assert names == {"README.md", "zoo.json", "zoo.csv", "latency_vs_flops.png", "params_vs_macs.png"}
    readme = (tmp_path / "reports" / "README.md").read_text()
    assert "| resnet18" in readme and "11,689,512 ✓" in readme and "Machine:" in readme
    assert "![latency_vs_flops.png](latency_vs_flops.png)" in readme
    data = json.loads((tmp_path / "reports" / "zoo.json").read_text())
    assert data["schema"] == "flopscope.zoo/1"
    assert [m["name"] for m in data["models"]] == ["myconv", "resnet18"]
    assert isinstance(data["models"][1]["macs"], int)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "reports" / "zoo.csv").read_text())))
    assert rows[1]["macs"] == "1814073344" and float(rows[1]["cpu_p50_ms"]) > 0
    for png in ("latency_vs_flops.png", "params_vs_macs.png"):
        assert (tmp_path / "reports" / png).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_unknown_architecture_is_refused():
    with pytest.raises(FlopscopeError, match="unknown reference architecture"):
        zoo.run_zoo(["resnet9000"], presets=[])


def test_cli_static_only(tmp_path, capsys):
    assert main(["zoo", "--models", "myconv", "--presets", "none", "--out", str(tmp_path), "--quiet"]) == 0
    assert (tmp_path / "README.md").exists() and not (tmp_path / "latency_vs_flops.png").exists()
    assert "README.md" in capsys.readouterr().out


def test_unavailable_preset_is_skipped_with_its_reason(tmp_path):
    result = zoo.run_zoo(["myconv"], presets=["gpu"], time_budget_s=0.1)
    assert result.presets == [] and "onnxruntime-gpu" in result.skipped_presets["gpu"]
    assert "Preset `gpu` not measured" in zoo.to_markdown(result)
