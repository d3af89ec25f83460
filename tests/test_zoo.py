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
def small_zoo(tmp_path_factory):
    # myconv: the notes' grouped/shuffled block; one cheap latency preset, a short budget;
    # the host's peaks come from a seeded cache (1 GFLOP/s, 1 GB/s), not measured
    from flopscope.latency import peaks
    from flopscope.latency.predict import Calibration
    from flopscope.latency.presets import get_preset

    folder = tmp_path_factory.mktemp("cache")
    preset = get_preset("cpu")
    key = peaks.host_key(preset, preset.resolve_threads(None))
    host = peaks.HostProfile(key, {"fp32": 1.0}, 1.0, Calibration({"*/compute": 1.0, "*/memory": 1.0}))
    peaks.write_cache(folder / peaks.CACHE_FILE, {key: host.to_dict()})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(peaks.CACHE_ENV, str(folder))
        yield zoo.run_zoo(["myconv", "resnet18"], presets=["cpu"], time_budget_s=0.2, warmup_budget_s=0.2)


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
    assert names == {"README.md", "zoo.json", "zoo.csv", "latency_vs_flops.png", "params_vs_macs.png",
                     "predicted_vs_measured.png"}
    readme = (tmp_path / "reports" / "README.md").read_text()
    assert "| resnet18" in readme and "11,689,512 ✓" in readme and "Machine:" in readme
    assert "![latency_vs_flops.png](latency_vs_flops.png)" in readme
    data = json.loads((tmp_path / "reports" / "zoo.json").read_text())
    assert data["schema"] == "flopscope.zoo/1"
    assert [m["name"] for m in data["models"]] == ["myconv", "resnet18"]
    assert isinstance(data["models"][1]["macs"], int)
    # at 1 GFLOP/s every FLOP costs 1 ns: resnet18's prediction is above its FLOPs in ns
    assert data["models"][1]["predicted_ms"]["cpu"] > data["models"][1]["flops"] / 1e6 * 0.5
    assert data["prediction"]["cpu"]["models"]["n"] == 2 and data["prediction"]["cpu"]["layers"]["n"] > 10
    assert "## Predicted latency" in readme and "- cpu: over 2 models MAPE" in readme
    rows = list(csv.DictReader(io.StringIO((tmp_path / "reports" / "zoo.csv").read_text())))
    assert rows[1]["macs"] == "1814073344" and float(rows[1]["cpu_p50_ms"]) > 0
    for png in ("latency_vs_flops.png", "params_vs_macs.png"):
        assert (tmp_path / "reports" / png).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_unknown_architecture_is_refused():
    with pytest.raises(FlopscopeError, match="unknown reference architecture"):
        zoo.run_zoo(["resnet9000"], presets=[])
    with pytest.raises(FlopscopeError, match="did you mean 'vgg19' or 'vgg16'"):
        zoo.run_zoo(["vgg61"], presets=[])


def test_cli_static_only(tmp_path, capsys):
    assert main(["zoo", "--models", "myconv", "--presets", "none", "--out", str(tmp_path), "--quiet"]) == 0
    assert (tmp_path / "README.md").exists() and not (tmp_path / "latency_vs_flops.png").exists()
    assert "README.md" in capsys.readouterr().out


def test_progress_is_reported_per_step_and_shown_as_k_of_n(tmp_path, capsys):
    calls = []
    zoo.run_zoo(["myconv"], presets=["cpu"], time_budget_s=0.1, warmup_budget_s=0.1,
                progress=lambda *a: calls.append(a))
    assert calls == [("zoo", 0.0, "1/1"), ("zoo", 0.5, "1/1"), ("zoo", 1.0, "1/1")]
    assert main(["zoo", "--models", "myconv,resnet18", "--no-latency", "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "flopscope zoo [1/2, estimating the time left]: myconv: analysing"
    assert lines[1].startswith("flopscope zoo [2/2, about ")
    assert lines[1].endswith(" left]: resnet18: analysing")
    assert not (tmp_path / "latency_vs_flops.png").exists()                  # --no-latency: no timing


def test_unavailable_preset_is_skipped_with_its_reason(tmp_path):
    result = zoo.run_zoo(["myconv"], presets=["gpu"], time_budget_s=0.1)
    assert result.presets == [] and "onnxruntime-gpu" in result.skipped_presets["gpu"]
    assert "Preset `gpu` not measured" in zoo.to_markdown(result)


# --------------------------------------------------------------------------- output shape


def fake_zoo():
    """Two architectures from hand-made reports; the first timed under ``cpu``."""
    from tests.fake_reports import latency, synthetic

    reports = [synthetic(10, "a"), synthetic(20, "b")]
    reports[1].coverage.unsupported, reports[1].coverage.unresolved = {}, {}
    rows = [zoo.ZooRow(r.model.name, "desc", [1, 3, 224, 224], r, r.totals.macs, r.totals.params - 1,
                       r.totals.params, None, "src", notes=["a note"]) for r in reports]
    rows[0].latency["cpu"] = latency(2.0, gflops_per_s=12.5)
    machine = {"cpu": "cpu", "physical_cores": "1", "logical_cpus": "2", "platform": "p", "python": "3",
               "onnxruntime": "1", "torch": "2", "date": "today"}
    return zoo.Zoo(rows, ["cpu"], machine)


def test_the_zoo_is_a_comparison_of_its_reports():
    z = fake_zoo()
    static = z.comparison()
    assert static.names == ["a", "b"] and static.metrics == zoo.STATIC_METRICS
    assert static["b"] is z.rows[1].report
    assert static.value("b", "macs") == z.rows[1].macs == z.rows[1].report.totals.macs
    timed = z.comparison("cpu")
    assert timed.names == ["a"] and timed.value("a", "p50_ms") == 2.0
    assert z.rows[0].report.latency is None                   # the preset's latency is on a copy


def test_output_shape_is_pinned():
    z = fake_zoo()
    headers, rows = zoo.table(z)
    assert headers == ["model", "input", "params", "GMACs", "GFLOPs", "weights MiB", "peak act. MiB",
                       "cpu p50 ms", "cpu cv", "cpu GFLOP/s"]
    a, b = z.rows
    assert rows[0] == ["a", "1x3x224x224", f"{a.params:,} ✓", f"{a.macs / 1e9:.3f}",
                       f"{a.report.totals.flops / 1e9:.3f}", "0.0", "0.0", "2.00", "0.0%", "12.5"]
    assert rows[1][-3:] == ["-", "-", "-"]                     # b was not timed
    markdown = zoo.to_markdown(z, ["params_vs_macs.png"])
    header = next(line for line in markdown.splitlines() if line.startswith("| model ") and "GMACs" in line)
    assert [cell.strip() for cell in header.strip("|").split("|")] == headers
    assert "![params_vs_macs.png](params_vs_macs.png)" in markdown
    assert "- a: a note" in markdown
    assert "- a: coverage 80.0% (8 of 10 nodes costed); unsupported: com.example.Fancy x1" in markdown
    assert "- b: coverage" not in markdown                     # b is fully costed
    data = zoo.to_dict(z)
    assert list(data) == ["schema", "machine", "presets", "skipped_presets", "models", "prediction"]
    assert [list(m) for m in data["models"]] == [list(zoo.JSON_KEYS)] * 2
    assert list(zoo.JSON_KEYS) == [
        "name", "description", "input_shape", "params", "macs", "flops", "param_bytes",
        "peak_activation_bytes", "onnx_macs", "onnx_params", "published_params", "published_gmacs",
        "source", "coverage", "latency", "predicted_ms", "notes", "params_match", "gmacs_match"]
    first = data["models"][0]
    assert (first["macs"], first["params_match"], first["coverage"]) == (a.macs, True, 80.0)
    assert first["latency"]["cpu"]["p50_ms"] == 2.0 and data["models"][1]["latency"] == {}
    lines = zoo.to_csv(z).splitlines()
    assert lines[0] == ("model,input_shape,params,macs,flops,param_bytes,peak_activation_bytes,onnx_macs,"
                        "published_params,published_gmacs,cpu_p50_ms,cpu_p90_ms,cpu_gflops_per_s,cpu_cv,"
                        "cpu_predicted_ms")
    assert lines[2].endswith(",,,,,") and lines[1].split(",")[3] == str(a.macs)
    z.rows[0].latency["cpu"].predicted_ms = 2.25
    assert zoo.to_csv(z).splitlines()[1].endswith(",2.25")


def test_latency_noise_is_shown_beside_p50_and_flagged():
    z = fake_zoo()
    z.rows[0].latency["cpu"].cv = 0.08
    headers, rows = zoo.table(z)
    assert rows[0][headers.index("cpu cv")] == "8.0% ⚠ noisy"
    assert zoo.to_csv(z).splitlines()[1].split(",")[-2] == "0.08"


def test_charts_are_drawn_by_the_shared_plot_module(tmp_path, monkeypatch):
    import flopscope.plot

    drawn = []
    real = flopscope.plot.metrics_chart
    monkeypatch.setattr(flopscope.plot, "metrics_chart",
                        lambda series, x, y, **kw: drawn.append((x, y)) or real(series, x, y, **kw))
    assert zoo.plot(fake_zoo(), tmp_path) == ["latency_vs_flops.png", "params_vs_macs.png"]
    assert drawn == [("flops", "p50_ms"), ("macs", "params")]
    assert (tmp_path / "params_vs_macs.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_prediction_section_and_mobile_proxy():
    from tests.fake_reports import latency

    z = fake_zoo()
    a, b = z.rows
    a.latency["cpu"] = latency(10.0, predicted_ms=12.0, cv=0.05, prediction={"layer_pairs": [[1.0, 2.0]]})
    b.latency["cpu"] = latency(40.0, predicted_ms=30.0, cv=0.1, prediction={})
    a.latency["mobile"], b.latency["mobile"] = latency(30.0), latency(90.0)
    z.presets = ["cpu", "mobile"]
    summary = zoo.prediction_summary(z)
    assert summary["cpu"]["models"] == {"n": 2, "mape": pytest.approx(0.225), "spearman": 1.0}
    assert summary["cpu"]["layers"] == {"n": 1, "mape": 0.5, "spearman": None}
    assert "mobile" not in summary and summary["mobile_rank_vs_cpu"] == 1.0
    markdown = zoo.to_markdown(z)
    assert "| a       | cpu      | 10.00    | 12.00    | 5.0    | 12.00          | +20%    |" in markdown
    assert "- cpu: over 2 models MAPE 22.5%, Spearman 1.000; over 1 layers MAPE 50.0%, Spearman -" in markdown
    assert "Spearman 1.000 against the cpu preset's" in markdown
    assert zoo.to_dict(z)["models"][0]["predicted_ms"] == {"cpu": 12.0, "mobile": None}
