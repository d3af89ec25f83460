"""Table contents shared by the text and Markdown renderers."""

from __future__ import annotations

from flopscope.report import CONVENTIONS, OK, Coverage, Layer, Report
from flopscope.units import binary_bytes, exact, percent_down, shape, si


def _share(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "-"


def layer_table(layers: list[Layer]) -> tuple[list[str], list[list[str]]]:
    with_module = any(l.module for l in layers)
    headers = ["layer", "op"] + (["module"] if with_module else []) + [
        "output shape", "MACs", "FLOPs", "params", "output", "traffic"]
    rows = []
    for l in layers:
        shapes = ", ".join(shape(s) for s in l.output_shapes) or "-"
        status = "" if l.status == OK else f" [{l.status}]"
        rows.append([l.name, l.op + status] + ([l.module] if with_module else []) + [
            shapes, exact(l.macs), exact(l.flops), exact(l.params),
            binary_bytes(l.output_bytes), binary_bytes(l.traffic_bytes)])
    return headers, rows


def module_table(report: Report, depth: int, indent: str = "  ") -> tuple[list[str], list[list[str]]]:
    headers = ["module", "layers", "params", "MACs", "FLOPs", "FLOPs %"]
    total = report.totals.flops
    rows = [[(indent * r.depth) + (r.module.rpartition(".")[2] if r.depth > 1 else r.module or "(model)"),
             str(r.layers), si(r.params), si(r.macs), si(r.flops), _share(r.flops, total)]
            for r in report.by_module(depth)]
    return headers, rows


def op_table(report: Report) -> tuple[list[str], list[list[str]]]:
    headers = ["op", "count", "params", "MACs", "FLOPs", "FLOPs %"]
    total = report.totals.flops
    rows = [[r.op + (f" ({r.unsupported} not costed)" if r.unsupported else ""), str(r.count),
             si(r.params), si(r.macs), si(r.flops), _share(r.flops, total)]
            for r in report.by_op_type()]
    return headers, rows


def totals_table(report: Report) -> list[list[str]]:
    t = report.totals
    rows = [
        ["MACs", exact(t.macs), si(t.macs)],
        ["FLOPs", exact(t.flops), si(t.flops)],
        ["params", exact(t.params), si(t.params)],
    ]
    if t.trainable_params is not None:
        rows.append(["  trainable / frozen", f"{t.trainable_params:,} / {t.frozen_params:,}", ""])
    if t.buffers:
        rows.append(["buffers", exact(t.buffers), binary_bytes(t.buffer_bytes)])
    rows += [
        ["weight memory", exact(t.param_bytes) + " B", binary_bytes(t.param_bytes)],
        ["activation memory (all outputs)", exact(t.activation_bytes) + " B",
         binary_bytes(t.activation_bytes)],
        ["peak activation memory", exact(t.peak_activation_bytes) + " B",
         binary_bytes(t.peak_activation_bytes)],
        ["memory traffic", exact(t.traffic_bytes) + " B", binary_bytes(t.traffic_bytes)],
    ]
    if t.traffic_bytes:
        rows.append(["arithmetic intensity", f"{t.flops / t.traffic_bytes:.2f} FLOPs/B", ""])
    rows += _training_rows(report)
    if report.latency is not None:
        lat = report.latency
        rows.append([f"latency p50 ({lat.preset})", f"{lat.p50_ms:.3f} ms",
                     f"p90 {lat.p90_ms:.3f} ms"])
    return rows


def _training_rows(report: Report) -> list[list[str]]:
    """Train-mode totals (see flopscope.training); none for an inference report."""
    t = report.totals
    if t.backward_macs is None:
        return []
    counts = [("  forward MACs", t.forward_macs), ("  backward MACs", t.backward_macs),
              ("  optimizer step FLOPs", t.optimizer_flops)]
    sizes = [("gradient memory", t.gradient_bytes), ("optimizer state", t.optimizer_state_bytes),
             ("master weights", t.master_weight_bytes),
             ("saved activations", t.saved_activation_bytes),
             ("peak training memory", t.peak_training_bytes)]
    return ([[label, exact(v or 0), si(v or 0)] for label, v in counts]
            + [[label, exact(v or 0) + " B", binary_bytes(v or 0)] for label, v in sizes if v])


def coverage_text(coverage: Coverage, max_ops: int | None = None) -> str:
    """What was costed, read from the Coverage itself: the share of nodes (rounded down),
    then the op types left uncosted with their counts, most frequent first (at most
    ``max_ops`` of each kind named). Every format shows this; notes do not repeat it.

    >>> coverage_text(Coverage(nodes=5000, costed=4998, unsupported={"com.example.Fancy": 1},
    ...                        unresolved={"Relu": 1}))
    '99.9% (4,998 of 5,000 nodes costed); unsupported: com.example.Fancy x1; unresolved: Relu x1'
    """
    c = coverage
    line = f"{percent_down(c.costed, c.nodes)} ({c.costed:,} of {c.nodes:,} nodes costed)"
    for label, counts in (("unsupported", c.unsupported), ("unresolved", c.unresolved)):
        if counts:
            named = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            shown = named if max_ops is None else named[:max_ops]
            line += f"; {label}: " + ", ".join(f"{op} x{n}" for op, n in shown)
            if len(named) > len(shown):
                line += f", … {len(named) - len(shown)} more"
    return line


def inputs_text(report: Report) -> str:
    """The model's inputs as ``x 1x3x224x224 float32, ...`` (empty when it has none)."""
    return ", ".join(f"{i.name} {shape(i.shape)} {i.dtype}" for i in report.model.inputs)


def heading(report: Report) -> str:
    inputs = inputs_text(report)
    return f"{report.model.name} ({report.model.source}) — inputs: {inputs or 'none'}"


def convention_line(report: Report) -> str:
    return f"convention: {report.convention} — {CONVENTIONS.get(report.convention, '')}"


NUMERIC = {"MACs", "FLOPs", "params", "output", "traffic", "layers", "count", "FLOPs %"}


def sections(report: Report, depth: int | None = None, top: int | None = None,
             layers: bool = True) -> list[tuple[str, list[str], list[list[str]]]]:
    """The report's tables in order, as (title, headers, rows)."""
    out = []
    if depth is not None:
        out.append((f"by module (depth {depth})", *module_table(report, depth)))
    elif layers:
        chosen = report.top(top) if top else report.layers
        out.append((f"top {top} layers by FLOPs" if top else "layers", *layer_table(chosen)))
    out.append(("by op type", *op_table(report)))
    out.append(("totals", [], totals_table(report)))
    return out


def footer(report: Report) -> list[str]:
    """Coverage (from the Coverage data, naming the op types not costed), convention and
    notes, one line each."""
    return ([f"coverage: {coverage_text(report.coverage)}", convention_line(report)]
            + [f"note: {n}" for n in report.notes])


def align(headers: list[str], rows: list[list[str]]) -> tuple[str, ...]:
    """Right-align numeric columns (for a headerless table: all but the first)."""
    if not headers:
        width = len(rows[0]) if rows else 0
        return ("left",) + ("right",) * (width - 1)
    return tuple("right" if h in NUMERIC else "left" for h in headers)
