"""Text and Markdown views of a measured latency (JSON is the report's own contract)."""

from __future__ import annotations

from typing import Any

from tabulate import tabulate

from flopscope.report import Latency, Report
from flopscope.units import binary_bytes, exact, si

#: a coefficient of variation above this marks a latency as noisy (5%)
NOISY_CV = 0.05


def noise(cv: float) -> str:
    """The noise of a latency, shown beside every p50: its coefficient of variation, with a
    visible flag above :data:`NOISY_CV`.

    >>> noise(0.012)
    'cv 1.2%'
    >>> noise(0.073)
    'cv 7.3% ⚠ noisy'
    """
    return f"cv {100 * cv:.1f}%" + (" ⚠ noisy" if cv > NOISY_CV else "")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def summary_rows(lat: Latency) -> list[list[str]]:
    """The protocol's figures, one per row."""
    rows = [
        ["session creation", f"{lat.session_ms:.1f} ms"],
        ["first run", f"{lat.first_run_ms:.3f} ms"],
        ["warm-up runs", str(lat.warmup_runs)],
        ["timed runs", str(lat.iterations)],
        ["min", f"{lat.min_ms:.3f} ms"],
        ["p50", f"{lat.p50_ms:.3f} ms ({noise(lat.cv)})"],
        ["p90", f"{lat.p90_ms:.3f} ms"],
        ["p99", f"{lat.p99_ms:.3f} ms"],
        ["mean ± std", f"{lat.mean_ms:.3f} ± {lat.std_ms:.3f} ms"],
        ["coefficient of variation", noise(lat.cv).removeprefix("cv ")],
        ["throughput (at p50)", f"{lat.throughput_per_s:.1f} samples/s (batch {lat.batch})"],
    ]
    if lat.gflops_per_s is not None:
        rows.append(["achieved", f"{lat.gflops_per_s:.2f} GFLOP/s ({si(lat.flops)}FLOPs per run)"])
    return rows


def settings_line(lat: Latency) -> str:
    s = lat.settings
    parts = [lat.device, lat.provider, f"{lat.threads} intra-op thread(s)"]
    if s.get("affinity") is not None:
        parts.append(f"pinned to core(s) {','.join(map(str, s['affinity']))}")
    if s.get("graph_optimization_level"):
        parts.append(s["graph_optimization_level"])
    if s.get("execution_mode"):
        parts.append(s["execution_mode"].replace("ORT_", "").lower())
    if s.get("intra_op_allow_spinning") == "0":
        parts.append("spinning off")
    if s.get("free_dimension_overrides"):
        parts.append("fixed dims " + ", ".join(f"{k}={v}" for k, v in s["free_dimension_overrides"].items()))
    if s.get("io_binding"):
        parts.append("inputs and outputs bound on the device")
    return " · ".join(str(p) for p in parts)


def layer_rows(per_layer: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Measured layers (with the layers fused into them) and unmatched ORT nodes."""
    headers = ["layer", "op", "ORT kernels", "FLOPs (with fused)", "time ms", "time %", "GFLOP/s",
               "fused into it"]
    rows = []
    for row in per_layer["layers"]:
        if row["status"] != "measured":
            continue
        share = row["share"]
        rows.append([row["name"], row["op"], ", ".join(dict.fromkeys(row["ort_ops"])),
                     exact(row["group_flops"] if row["group_flops"] is not None else row["flops"]),
                     _ms(row["time_ms"]), "-" if share is None else f"{100 * share:.1f}%",
                     _num(row["gflops_per_s"], ".2f"),
                     ", ".join(row["absorbed"])])
    total = per_layer["total_ms"]
    for other in per_layer["other"]:
        share = other["time_ms"] / total if total and other["counted"] else None
        rows.append([other["name"], "(no layer)", other["op"], "-", _ms(other["time_ms"]),
                     "-" if share is None else f"{100 * share:.1f}%", "-", ""])
    return headers, rows


def roofline_rows(roof: dict[str, Any], measured_only: bool) -> tuple[list[str], list[list[str]]]:
    headers = ["layer", "op", "FLOPs", "traffic", "FLOPs/B", "bound", "attainable GFLOP/s",
               "achieved GFLOP/s", "of attainable"]
    rows = []
    for row in roof["layers"]:
        if not row["flops"] or (measured_only and row["time_ms"] is None):
            continue
        frac = row["fraction_of_attainable"]
        rows.append([row["name"], row["op"], exact(row["flops"]), binary_bytes(row["traffic_bytes"]),
                     _num(row["intensity"], ".2f"), row["bound"] or "-",
                     _num(row["attainable_gflops_per_s"], ".1f"), _num(row["achieved_gflops_per_s"], ".2f"),
                     "-" if frac is None else f"{100 * frac:.1f}%"])
    return headers, rows


def roofline_summary(roof: dict[str, Any]) -> list[list[str]]:
    rows = [["peak compute (measured)", f"{roof['peak_gflops_per_s']:.1f} GFLOP/s"],
            ["memory bandwidth (measured)", f"{roof['bandwidth_gb_per_s']:.1f} GB/s"],
            ["ridge point", f"{roof['ridge_flops_per_byte']:.2f} FLOPs/B"]]
    if roof["intensity"] is not None:
        rows.append(["model intensity", f"{roof['intensity']:.2f} FLOPs/B ({roof['bound']}-bound)"])
    if roof["fraction_of_peak"] is not None:
        rows.append(["achieved / peak", f"{roof['achieved_gflops_per_s']:.2f} GFLOP/s = "
                                        f"{100 * roof['fraction_of_peak']:.1f}% of peak"])
    return rows


def render_latency(report: Report, fmt: str = "text") -> str:
    """The latency of ``report`` (with per-layer and roofline sections when measured) as
    ``"text"`` or ``"markdown"``."""
    lat = report.latency
    if lat is None:
        raise ValueError("the report has no latency")
    table = "simple" if fmt == "text" else "github"
    title = f"{report.model.name}: latency, preset {lat.preset} ({lat.label})"
    parts = [title if fmt == "text" else f"## {title}", "", settings_line(lat), ""]

    def section(name: str, headers: list[str], rows: list[list[str]]) -> None:
        parts.extend([name if fmt == "text" else f"### {name}", "",
                      tabulate(rows, headers, tablefmt=table, disable_numparse=True), ""])

    section("Measurement", ["figure", "value"], summary_rows(lat))
    notes = list(lat.notes)
    if lat.per_layer is not None:
        headers, rows = layer_rows(lat.per_layer)
        section("Per layer (ONNX Runtime profiler)", headers, rows)
        folded = sum(1 for r in lat.per_layer["layers"] if r["status"] == "folded")
        if folded:
            notes.append(f"{folded} layer(s) ran no kernel of their own (constant-folded or removed)")
        notes += lat.per_layer["notes"]
    if lat.roofline is not None:
        section("Roofline", ["figure", "value"], roofline_summary(lat.roofline))
        headers, rows = roofline_rows(lat.roofline, measured_only=lat.per_layer is not None)
        section("Roofline per layer", headers, rows)
        notes += lat.roofline["notes"]
    if notes:
        parts += ["Notes:" if fmt == "text" else "### Notes", ""]
        parts += [f"- {n}" for n in notes]
        parts.append("")
    return "\n".join(parts)
