"""Table contents shared by the renderers, and the one row selection they all honour.

:func:`select` turns ``depth``, ``top`` and ``all_layers`` into the rows a report shows
(the module tree, rolled up to a depth, or the heaviest rows), whatever the format: text,
Markdown, CSV, JSON and HTML call it, so a flag means the same everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from flopscope.report import CONVENTIONS, OK, UNRESOLVED, UNSUPPORTED, Coverage, Layer, Report
from flopscope.units import binary_bytes, exact, percent_down, shape, si

#: zero-cost shape plumbing, folded out of the module tree unless ``all_layers`` is asked
#: for (still counted: the rows above them hold their traffic and the totals their bytes)
PLUMBING = frozenset({
    "Identity", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Shape", "Size",
    "Constant", "ConstantOfShape", "Gather", "Concat", "Split", "Slice", "Cast", "CastLike",
    "Expand", "Range", "Dropout", "Unflatten",
})

MODULE, LAYER = "module", "layer"


def folded(layer: Layer) -> bool:
    """True for a costed, parameter-free layer of zero-cost plumbing (``Reshape``...).

    >>> folded(Layer("r", "Reshape", "", [[1, 8]], 0, 0, 0, 32, 64))
    True
    >>> folded(Layer("c", "Conv", "", [[1, 8]], 9, 17, 9, 32, 64))
    False
    """
    return (layer.op in PLUMBING and layer.status == OK and not layer.macs and not layer.flops
            and not layer.params)


def _share(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "-"


# ----------------------------------------------------------------------- row selection


@dataclass(frozen=True)
class Row:
    """One row of a report's layer view: a module (rolled up) or a single layer.

    ``path`` is the module path (``layer1.0``) or, for a layer, its name; ``depth`` the
    indentation level; ``cls`` the module class (``Bottleneck``) where known; ``op`` the
    op type of a single layer (also for a module holding one layer); ``uncosted`` how many
    of its layers could not be costed (their MACs and FLOPs are missing from the sums).
    """

    path: str
    depth: int
    kind: str
    cls: str = ""
    op: str = ""
    inputs: tuple[Any, ...] = ()
    outputs: tuple[Any, ...] = ()
    attrs: dict[str, Any] = field(default_factory=dict)
    layers: int = 1
    params: int = 0
    macs: int = 0
    flops: int = 0
    uncosted: int = 0
    status: str = OK

    def to_dict(self) -> dict[str, Any]:
        """Plain data for CSV and JSON (exact integers)."""
        return {"name": self.path, "kind": self.kind, "depth": self.depth, "module_class": self.cls,
                "op": self.op, "input_shapes": [None if s is None else list(s) for s in self.inputs],
                "output_shapes": [None if s is None else list(s) for s in self.outputs],
                "attrs": dict(self.attrs), "layers": self.layers, "params": self.params,
                "macs": self.macs, "flops": self.flops, "uncosted": self.uncosted,
                "status": self.status}


@dataclass(frozen=True)
class Selection:
    """The rows a report shows, their title, and how many plumbing layers were folded."""

    title: str
    rows: list[Row]
    folded: int = 0
    flat: bool = False


class _Module:
    __slots__ = ("path", "depth", "children", "layers")

    def __init__(self, path: str, depth: int) -> None:
        self.path, self.depth = path, depth
        self.children: list[_Module | Layer] = []
        self.layers: list[Layer] = []      # every layer under it, nested ones too


def _tree(layers: Iterable[Layer]) -> _Module:
    """Modules as they ran: consecutive layers of one module path share a node, and a
    module called again later (a ReLU module reused in a block) gets a node per call, so
    the tree reads in execution order."""
    root = _Module("", 0)
    stack = [root]
    for layer in layers:
        parts = layer.module.split(".") if layer.module else []
        keep = 1
        while keep < len(stack) and keep <= len(parts) and \
                stack[keep].path == ".".join(parts[:keep]):
            keep += 1
        del stack[keep:]
        for k in range(len(stack), len(parts) + 1):
            child = _Module(".".join(parts[:k]), k)
            stack[-1].children.append(child)
            stack.append(child)
        for node in stack:
            node.layers.append(layer)
        stack[-1].children.append(layer)
    return root


def _module_row(report: Report, node: _Module, single: Layer | None) -> Row:
    layers = node.layers
    first, last = layers[0], layers[-1]
    uncosted = sum(1 for l in layers if l.status in (UNSUPPORTED, UNRESOLVED))
    return Row(path=node.path, depth=node.depth - 1, kind=MODULE, cls=report.modules.get(node.path, ""),
               op=single.op if single is not None else "",
               inputs=tuple((single or first).input_shapes),
               outputs=tuple((single or last).output_shapes),
               attrs=dict(single.attrs) if single is not None else {},
               layers=len(layers), params=sum(l.params for l in layers),
               macs=sum(l.macs or 0 for l in layers), flops=sum(l.flops or 0 for l in layers),
               uncosted=uncosted, status=single.status if single is not None else OK)


def layer_row(layer: Layer, depth: int = 0) -> Row:
    """A row for one layer, at indentation ``depth``."""
    return Row(path=layer.name, depth=depth, kind=LAYER, op=layer.op,
               inputs=tuple(layer.input_shapes), outputs=tuple(layer.output_shapes),
               attrs=dict(layer.attrs), params=layer.params, macs=layer.macs or 0,
               flops=layer.flops or 0, uncosted=int(layer.status in (UNSUPPORTED, UNRESOLVED)),
               status=layer.status)


def tree_rows(report: Report, depth: int | None = None,
              all_layers: bool = False) -> tuple[list[Row], list[bool]]:
    """The module tree as rows in execution order, parents before children, with whether
    each row is a leaf of what is shown. Modules deeper than ``depth`` are rolled into their
    parent at that depth; zero-cost plumbing (:func:`folded`) is left out unless
    ``all_layers``; a module holding one layer is one row (its class and the layer's op)."""
    rows: list[Row] = []
    leaves: list[bool] = []

    def shown(item: _Module | Layer) -> bool:
        if isinstance(item, Layer):
            return all_layers or not folded(item)
        return all_layers or any(not folded(l) for l in item.layers)

    def visit(node: _Module) -> None:
        for child in node.children:
            if not shown(child):
                continue
            if isinstance(child, Layer):
                rows.append(layer_row(child, node.depth))
                leaves.append(True)
                continue
            inside = [c for c in child.children if shown(c)]
            single = inside[0] if len(inside) == 1 and isinstance(inside[0], Layer) else None
            stop = single is not None or (depth is not None and child.depth >= depth)
            rows.append(_module_row(report, child, single))
            leaves.append(stop)
            if not stop:
                visit(child)

    root = _tree(report.layers)
    if depth == 0 and root.layers:            # the whole model, one row
        whole = _module_row(report, root, None)
        return [replace(whole, path="(model)", depth=0)], [True]
    visit(root)
    return rows, leaves


def select(report: Report, depth: int | None = None, top: int | None = None,
           all_layers: bool = False) -> Selection:
    """The rows every format shows for ``depth``, ``top`` and ``all_layers``.

    No option: the module tree, plumbing folded. ``depth=K``: the tree rolled up to K
    levels of module path. ``top=K``: the K heaviest rows by FLOPs (then MACs) among the
    tree's leaves (single layers, or the modules at ``depth``), flat, with full paths.

    >>> [r.path for r in select(report, depth=2, top=3).rows]
    ['layer1.0', 'layer1.1', 'layer2.1']
    """
    rows, leaves = tree_rows(report, depth, all_layers)
    hidden = 0 if all_layers else sum(1 for l in report.layers if folded(l))
    deep = f" (to depth {depth})" if depth is not None else ""
    if top is not None:
        chosen = sorted((r for r, leaf in zip(rows, leaves) if leaf),
                        key=lambda r: (-r.flops, -r.macs, -r.params))[:top]
        flat = [replace(r, depth=0) for r in chosen]
        what = "modules" if depth is not None else "layers"
        return Selection(f"top {top} {what} by FLOPs{deep}", flat, hidden, flat=True)
    return Selection(f"module tree{deep}", rows, hidden)


def layout_text(attrs: dict[str, Any]) -> str:
    """Kernel, and strides, dilations and groups where they are not 1.

    >>> layout_text({"kernel_shape": [3, 3], "strides": [2, 2], "dilations": [1, 1], "group": 32})
    'k3x3 s2 g32'
    """
    if not attrs:
        return ""
    parts = []
    if "kernel_shape" in attrs:
        parts.append("k" + "x".join(str(k) for k in attrs["kernel_shape"]))
    for key, mark in (("strides", "s"), ("dilations", "d")):
        values = attrs.get(key) or []
        if any(v != 1 for v in values):
            parts.append(mark + (str(values[0]) if len(set(values)) == 1 else "x".join(map(str, values))))
    if attrs.get("group", 1) != 1:
        parts.append(f"g{attrs['group']}")
    return " ".join(parts)


def shapes_text(row: Row) -> str:
    """``1x3x224x224 -> 1x64x112x112`` (distinct inputs joined by ``, ``)."""
    ins = list(dict.fromkeys(shape(s) for s in row.inputs))
    outs = [shape(s) for s in row.outputs]
    return f"{', '.join(ins) or '-'} -> {', '.join(outs) or '-'}"


def rows_table(report: Report, selection: Selection, indent: str = "  ",
               ) -> tuple[list[str], list[list[str]]]:
    """The selection as a table: name (indented), class, op, shapes, layout, params, MACs,
    FLOPs and their share of the total. The class and layout columns appear when any row
    has one."""
    rows = selection.rows
    with_cls = any(r.cls for r in rows)
    with_layout = any(r.attrs for r in rows)
    headers = (["module" if report.modules or any(r.kind == MODULE for r in rows) else "layer"]
               + (["class"] if with_cls else []) + ["op", "input -> output"]
               + (["kernel"] if with_layout else []) + ["params", "MACs", "FLOPs", "FLOPs %"])
    total = report.totals.flops
    out = []
    for r in rows:
        op = r.op + ("" if r.status == OK else f" [{r.status}]")
        if r.kind == MODULE and not r.op and r.uncosted:
            op = f"[{r.uncosted} not costed]"
        out.append([indent * r.depth + r.path] + ([r.cls] if with_cls else []) + [op, shapes_text(r)]
                   + ([layout_text(r.attrs)] if with_layout else [])
                   + [si(r.params), si(r.macs), si(r.flops), _share(r.flops, total)])
    return headers, out


def tree_title(selection: Selection) -> str:
    """The selection's title, saying how many plumbing layers were folded away."""
    if not selection.folded:
        return selection.title
    return (f"{selection.title} ({selection.folded:,} zero-cost plumbing layer(s) folded; "
            "--all-layers shows them)")


# ----------------------------------------------------------------------- other tables


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
    """Per-module rollup to ``depth``, each module by its full path (``layer1.0``, never a
    bare ``0``), indented under its parent."""
    headers = ["module", "layers", "params", "MACs", "FLOPs", "FLOPs %"]
    total = report.totals.flops
    rows = [[(indent * max(r.depth - 1, 0)) + (r.module or "(model)"),
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
        from flopscope.latency.render import noise
        rows.append([f"latency p50 ({lat.preset})", f"{lat.p50_ms:.3f} ms",
                     f"p90 {lat.p90_ms:.3f} ms, {noise(lat.cv)}"])
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
            line += f"; {label}: " + _counts(counts, max_ops)
    return line


def _counts(counts: dict[str, int], max_ops: int | None) -> str:
    named = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = named if max_ops is None else named[:max_ops]
    text = ", ".join(f"{op} x{n}" for op, n in shown)
    if len(named) > len(shown):
        text += f", … {len(named) - len(shown)} more"
    return text


def lower_bound_warning(coverage: Coverage, max_ops: int | None = 8) -> str | None:
    """A warning when anything went uncounted (the totals are then a lower bound), naming
    the dot-product ops whose MACs are missing; None when every node was costed.

    >>> lower_bound_warning(Coverage(nodes=3, costed=2, unresolved={"MatMul": 1},
    ...                              uncosted_dot_products={"MatMul": 1}))[:60]
    'warning: the totals are a lower bound: 1 node(s) not costed,'
    >>> lower_bound_warning(Coverage(nodes=3, costed=3)) is None
    True
    """
    c = coverage
    missing = sum(c.unsupported.values()) + sum(c.unresolved.values())
    if not missing:
        return None
    text = f"warning: the totals are a lower bound: {missing:,} node(s) not costed"
    if c.uncosted_dot_products:
        text += (f", among them dot products ({_counts(c.uncosted_dot_products, max_ops)}) "
                 "whose MACs are missing")
    return text


def inputs_text(report: Report) -> str:
    """The model's inputs as ``x 1x3x224x224 float32, ...`` (empty when it has none)."""
    return ", ".join(f"{i.name} {shape(i.shape)} {i.dtype}" for i in report.model.inputs)


def heading(report: Report) -> str:
    inputs = inputs_text(report)
    cls = report.modules.get("")
    what = f"{report.model.source}, {cls}" if cls and cls != report.model.name else report.model.source
    return f"{report.model.name} ({what}) — inputs: {inputs or 'none'}"


def convention_line(report: Report) -> str:
    return f"convention: {report.convention} — {CONVENTIONS.get(report.convention, '')}"


NUMERIC = {"MACs", "FLOPs", "params", "output", "traffic", "layers", "count", "FLOPs %"}


def head_lines(report: Report) -> list[str]:
    """Coverage, and the lower-bound warning when anything went uncounted: what a reader
    must know before the numbers below."""
    warning = lower_bound_warning(report.coverage)
    return [f"coverage: {coverage_text(report.coverage)}"] + ([warning] if warning else [])


def sections(report: Report, depth: int | None = None, top: int | None = None,
             all_layers: bool = False, indent: str = "  ",
             ) -> list[tuple[str, list[str], list[list[str]]]]:
    """The report's tables in order, as (title, headers, rows): totals first, then the
    module tree (see :func:`select`), then the op types."""
    selection = select(report, depth, top, all_layers)
    out: list[tuple[str, list[str], list[list[str]]]] = [("totals", [], totals_table(report))]
    out.append((tree_title(selection), *rows_table(report, selection, indent)))
    out.append(("by op type", *op_table(report)))
    return out


def footer(report: Report) -> list[str]:
    """The convention, then the notes, one line each."""
    return [convention_line(report)] + [f"note: {n}" for n in report.notes]


def align(headers: list[str], rows: list[list[str]]) -> tuple[str, ...]:
    """Right-align numeric columns (for a headerless table: all but the first)."""
    if not headers:
        width = len(rows[0]) if rows else 0
        return ("left",) + ("right",) * (width - 1)
    return tuple("right" if h in NUMERIC else "left" for h in headers)
