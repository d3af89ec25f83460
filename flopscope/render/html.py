"""Notebook display: the compact HTML of a Report.

The HTML is what a notebook shows for a bare ``report`` at the end of a cell: heading,
totals, coverage, the heaviest layers, the module rollup at depth 1, op types and notes.
Every section is cut to a fixed number of rows and every cell to a fixed length, so the
display stays a few tens of kilobytes whether the model has 10 layers or 100,000
(``flopscope.to_dataframe(report)`` has them all). Every piece of text is escaped.
``import flopscope`` inside IPython registers :func:`to_html` as the notebook display of a
Report, by name, so the Report itself imports no presenter.

In a notebook (needs IPython, not run as a test):

>>> from IPython.display import HTML             # doctest: +SKIP
>>> HTML(to_html(report))                        # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape

from flopscope.render.tables import (
    align,
    coverage_text,
    folded,
    inputs_text,
    layer_table,
    module_table,
    op_table,
    rows_table,
    select,
    totals_table,
    tree_title,
)
from flopscope.report import CONVENTIONS, Latency, Layer, Report
from flopscope.units import binary_bytes, exact, shape, si

#: rows shown per section, and characters per cell, in the HTML display
TOP_LAYERS = 10
MAX_MODULES = 20
MAX_OPS = 12
MAX_NOTES = 8
MAX_CELL = 80
#: unsupported / unresolved op types named in a coverage line
MAX_OP_NAMES = 8

_STYLE = ("<style>.flopscope-report table{border-collapse:collapse;margin:0.3em 0}"
          ".flopscope-report td,.flopscope-report th{padding:1px 8px}"
          ".flopscope-report td.n,.flopscope-report th.n{text-align:right;"
          "font-variant-numeric:tabular-nums}</style>")


def to_html(report: Report, *, top: int = TOP_LAYERS) -> str:
    """The report as a self-contained HTML fragment of bounded size (what a notebook shows).

    >>> html = to_html(report)
    >>> html.startswith('<style>.flopscope-report')
    True

    Shown in a notebook (needs IPython, not run as a test):

    >>> from IPython.display import HTML; HTML(html)   # doctest: +SKIP
    """
    t = report.totals
    parts = [f"<p><b>{_cut(report.model.name)}</b> ({escape(report.model.source)}) — inputs: "
             f"{_cut(inputs_text(report)) or 'none'}</p>",
             table([], totals_table(report)),
             f"<p>coverage {escape(coverage_text(report.coverage, MAX_OP_NAMES))}</p>"]
    if report.layers:
        heaviest = report.top(top)
        headers, rows = layer_table(heaviest)
        headers.append("FLOPs %")
        for layer, row in zip(heaviest, rows):
            row.append(_share(layer.flops or 0, t.flops))
        parts += [f"<p><b>top {len(heaviest)} of {len(report.layers):,} layers by FLOPs</b></p>",
                  table(headers, rows)]
        headers, rows = module_table(report, 1)
        parts.append(_details(f"by module (depth 1, {len(rows) - 1:,} modules)", headers, rows,
                              MAX_MODULES))
        headers, rows = op_table(report)
        parts.append(_details(f"by op type ({len(rows):,} types)", headers, rows, MAX_OPS))
    convention = CONVENTIONS.get(report.convention, "")
    parts.append(f'<p title="{escape(convention)}">convention: {escape(report.convention)}</p>')
    if report.notes:
        items = "".join(f"<li>{_cut(n, 300)}</li>" for n in report.notes[:MAX_NOTES])
        more = len(report.notes) - MAX_NOTES
        if more > 0:
            items += f"<li>… {more:,} more note(s)</li>"
        parts.append(f"<ul>{items}</ul>")
    return fragment(*parts)


# --------------------------------------------------------------------------- pieces


def _share(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "-"


def _cut(text: str, limit: int = MAX_CELL) -> str:
    """``text`` escaped, shortened to ``limit`` characters with an ellipsis."""
    return escape(text if len(text) <= limit else text[:limit - 1] + "…")


def table(headers: list[str], rows: list[list[str]], sides: Sequence[str] | None = None) -> str:
    """An HTML table of cells already formatted, each escaped and cut to ``MAX_CELL``
    characters; ``sides`` aligns the columns (default: numeric columns right).

    >>> table(["model", "MACs"], [["a<b", "1.81 G"]]).split("</tr>")[1]
    '<tr><td>a&lt;b</td><td class="n">1.81 G</td>'
    """
    css = ['' if side == "left" else ' class="n"' for side in (sides or align(headers, rows))]
    out = ["<table>"]
    if headers:
        out.append("<tr>" + "".join(f"<th{c}>{escape(h)}</th>" for h, c in zip(headers, css)) + "</tr>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td{c}>{_cut(cell)}</td>" for cell, c in zip(row, css)) + "</tr>")
    out.append("</table>")
    return "".join(out)


def fragment(*parts: str) -> str:
    """HTML parts in flopscope's styled block (what a notebook shows).

    >>> fragment("<p>hi</p>").count('<div class="flopscope-report">')
    1
    """
    return "\n".join([_STYLE, '<div class="flopscope-report">', *parts, "</div>"])


def _details(title: str, headers: list[str], rows: list[list[str]], limit: int) -> str:
    shown = rows[:limit]
    if len(rows) > limit:
        shown = shown + [[f"… {len(rows) - limit:,} more"] + [""] * (len(headers) - 1)]
    return f"<details><summary>{escape(title)}</summary>{table(headers, shown)}</details>"


def render_html(report: Report, *, depth: int | None = None, top: int | None = None,
                all_layers: bool = False) -> str:
    """One self-contained HTML page of the report (``flopscope report --format html``).

    No network: CSS, the sorting/filtering script and the charts (inline SVG) are in the
    page. It has the totals, a coverage banner (a lower-bound warning when anything went
    uncounted), the latency when measured, the layer table (sortable by clicking a header,
    filterable by text; ``top`` keeps the ``top`` heaviest, plumbing rows of zero cost are
    folded unless ``all_layers``), the module tree as nested ``<details>`` (to ``depth``
    levels when given) and the charts. The script marks ``<body data-flopscope-ready>``
    when it has run, and records any script error in ``data-flopscope-errors``. A URL
    fragment such as ``#filter=Conv&sort=FLOPs`` filters and sorts on load.

    >>> page = render_html(report, top=20)
    >>> _ = Path("report.html").write_text(page)
    """
    layers = page_layers(report, top=top, all_layers=all_layers)
    hidden = len(report.layers) - len(layers)
    what = (f"top {len(layers):,} of {len(report.layers):,} layers by FLOPs" if top
            else f"{len(layers):,} layers" + (f" ({hidden:,} zero-cost plumbing layers folded; "
                                              "--all-layers shows them)" if hidden else ""))
    sections = [f"<h1>{escape(report.model.name)}</h1>",
                f"<p class=\"sub\">{escape(report.model.source)} — inputs: "
                f"{escape(inputs_text(report)) or 'none'}</p>",
                coverage_banner(report),
                "<h2>Totals</h2>", table([], totals_table(report))]
    if report.latency is not None:
        sections += ["<h2>Latency</h2>", _latency(report.latency)]
    selection = select(report, depth, top, all_layers)      # the rows every format shows
    headers, rows = rows_table(report, selection, indent="\u00a0\u00a0")
    sections += [f"<h2>{escape(tree_title(selection))}</h2>{table(headers, rows)}"]
    sections += [f"<h2>Layers</h2><p><input id=\"filter\" type=\"search\" placeholder=\"filter layers\" "
                 f"aria-label=\"filter layers\"> <span id=\"shown\"></span> {escape(what)}; "
                 "click a header to sort</p>", layer_page_table(layers, report.totals.flops),
                 f"<h2>Modules</h2>{module_tree(report, depth)}"]
    sections += ["<h2>Charts</h2>", *charts(report)]
    sections.append(f"<p title=\"{escape(CONVENTIONS.get(report.convention, ''))}\">convention: "
                    f"{escape(report.convention)}</p>")
    if report.notes:
        sections.append("<h2>Notes</h2><ul>" + "".join(f"<li>{escape(n)}</li>" for n in report.notes)
                        + "</ul>")
    title = escape(report.model.name)
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width\"><title>flopscope: {title}</title>"
            f"<style>{PAGE_STYLE}</style></head>\n<body>\n<main class=\"flopscope-report\">\n"
            + "\n".join(sections) + f"\n</main>\n<script>{PAGE_SCRIPT}</script>\n</body></html>\n")


def page_layers(report: Report, *, top: int | None = None, all_layers: bool = False) -> list[Layer]:
    """The layers the page's table lists, in execution order: the ``top`` heaviest by FLOPs
    when given; without ``all_layers``, zero-cost plumbing
    (:func:`flopscope.render.tables.folded`) is left out.

    >>> [l.op for l in page_layers(report)][:4]
    ['Conv', 'BatchNormalization', 'Relu', 'MaxPool']
    >>> [l.name for l in page_layers(report, top=2)]
    ['conv1/Conv', 'layer4.0.conv2/Conv']
    """
    layers = report.layers
    if not all_layers:
        layers = [l for l in layers if not folded(l)]
    if top:
        keep = {id(l) for l in sorted(layers, key=lambda l: -(l.flops or 0))[:top]}
        layers = [l for l in layers if id(l) in keep]
    return layers


def coverage_banner(report: Report) -> str:
    """A paragraph on what was counted: a warning that the totals are a lower bound when
    any node went uncounted (naming dot-product ops whose MACs are missing), else a note.

    >>> coverage_banner(report)
    '<p class="banner ok" id="coverage">coverage 100.0% (69 of 69 nodes costed)</p>'
    """
    c = report.coverage
    text = f"coverage {coverage_text(c, MAX_OP_NAMES)}"
    if c.complete and not c.uncosted_dot_products:
        return f"<p class=\"banner ok\" id=\"coverage\">{escape(text)}</p>"
    warn = "The totals are a lower bound: some nodes were not counted."
    if c.uncosted_dot_products:
        ops = ", ".join(f"{op} x{n}" for op, n in sorted(c.uncosted_dot_products.items()))
        warn += f" Dot products left out (their MACs are missing): {ops}."
    return (f"<p class=\"banner warn\" id=\"coverage\" role=\"alert\"><b>{escape(warn)}</b><br>"
            f"{escape(text)}</p>")


def layer_page_table(layers: list[Layer], total_flops: int) -> str:
    """Every layer given, one row each, numbers sortable (``data-v`` holds the exact value)."""
    headers = ["#", "layer", "op", "module", "output shape", "MACs", "FLOPs", "FLOPs %", "params",
               "output", "traffic", "status"]
    numeric = {"#", "MACs", "FLOPs", "FLOPs %", "params", "output", "traffic"}
    head = "".join(f"<th{_N if h in numeric else ''} data-col=\"{k}\" "
                   f"title=\"sort by {escape(h)}\">{escape(h)}</th>" for k, h in enumerate(headers))
    out = [f"<table id=\"layers\" class=\"sortable\"><thead><tr>{head}</tr></thead><tbody>"]
    for k, l in enumerate(layers):
        shapes = ", ".join(shape(s) for s in l.output_shapes) or "-"
        share = 100.0 * (l.flops or 0) / total_flops if total_flops else 0.0
        cells = [_num(k, str(k)), _text(l.name), _text(l.op), _text(l.module), _text(shapes),
                 _num(l.macs, exact(l.macs)), _num(l.flops, exact(l.flops)), _num(share, f"{share:.1f}%"),
                 _num(l.params, exact(l.params)), _num(l.output_bytes, binary_bytes(l.output_bytes)),
                 _num(l.traffic_bytes, binary_bytes(l.traffic_bytes)),
                 _text(l.status + (f": {l.reason}" if l.reason else ""))]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


_N = ' class="n"'


def _num(value: float | None, text: str) -> str:
    v = "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
    return f"<td class=\"n\" data-v=\"{v}\">{escape(text)}</td>"


def _text(text: str) -> str:
    return f"<td>{escape(text)}</td>"


def module_tree(report: Report, depth: int | None = None) -> str:
    """The module rollup as nested ``<details>`` (open to depth 1), to ``depth`` levels
    (every level when None).

    >>> module_tree(report, 2).count("<details")
    5
    """
    rows = report.by_module(depth if depth is not None else 1 << 30)
    total = report.totals.flops
    out: list[str] = []
    open_depths: list[int] = []
    for k, row in enumerate(rows):
        while open_depths and open_depths[-1] >= row.depth:
            out.append("</details>")
            open_depths.pop()
        name = row.module.rpartition(".")[2] if row.depth > 1 else row.module or "(model)"
        has_children = k + 1 < len(rows) and rows[k + 1].depth > row.depth
        figures = (f"<span class=\"fig\">{row.layers:,} layers · params {si(row.params)} · MACs "
                   f"{si(row.macs)} · FLOPs {si(row.flops)} ({_share(row.flops, total)})</span>")
        label = f"<b title=\"{escape(row.module)}\">{escape(name)}</b> {figures}"
        if has_children:
            attr = " open" if row.depth < 1 else ""
            out.append(f"<details class=\"mod\"{attr}><summary>{label}</summary>")
            open_depths.append(row.depth)
        else:
            out.append(f"<div class=\"mod leaf\">{label}</div>")
    out += ["</details>"] * len(open_depths)
    return "<div id=\"modules\">" + "".join(out) + "</div>"


def _latency(lat: Latency) -> str:
    from flopscope.latency.render import settings_line, summary_rows
    return f"<p>{escape(settings_line(lat))}</p>" + table(["figure", "value"], summary_rows(lat),
                                                          ("left", "right"))


def charts(report: Report) -> list[str]:
    """The report's charts as inline SVG (``<figure>`` each); a paragraph saying why when
    matplotlib is missing or there is nothing to draw."""
    if not report.layers:
        return ["<p>no layers to draw</p>"]
    try:
        from flopscope.plot import cumulative_chart, layers_chart, to_svg
    except ImportError as exc:                         # pragma: no cover - matplotlib is optional
        return [f"<p>charts need matplotlib (pip install flopscope[notebook]): {escape(str(exc))}</p>"]
    drawn = [("heaviest layers", layers_chart(report)),
             ("cumulative FLOPs and parameters", cumulative_chart(report))]
    if report.latency is not None and report.latency.per_layer:
        from flopscope.plot import latency_chart
        drawn.append(("measured time per layer against FLOPs", latency_chart(report)))
    return [f"<figure>{scoped_ids(to_svg(fig), f'chart{k}-')}<figcaption>{escape(caption)}"
            "</figcaption></figure>" for k, (caption, fig) in enumerate(drawn)]


def scoped_ids(svg: str, prefix: str) -> str:
    """``svg`` with every ``id`` and every reference to one (``href="#..."``,
    ``url(#...)``) prefixed, so that several SVGs inlined in one page keep their ids unique
    (matplotlib names glyphs and clip paths the same way in every figure).

    >>> scoped_ids('<path id="g1"/><use xlink:href="#g1"/><g clip-path="url(#c)"/>', "a-")
    '<path id="a-g1"/><use xlink:href="#a-g1"/><g clip-path="url(#a-c)"/>'
    """
    svg = re.sub(r'\bid="', f'id="{prefix}', svg)
    svg = re.sub(r'href="#', f'href="#{prefix}', svg)
    return svg.replace("url(#", f"url(#{prefix}")


PAGE_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}
h1{font-size:1.5em;margin:0}h2{font-size:1.15em;margin:1.2em 0 .3em;border-bottom:1px solid #ddd}
.sub{color:#555;margin:.2em 0 .8em}
.banner{padding:.5em .8em;border-radius:4px}.banner.ok{background:#e8f5e9}
.banner.warn{background:#fff3cd;border:1px solid #e0b000}
table{border-collapse:collapse;margin:.3em 0}td,th{padding:2px 8px;border-bottom:1px solid #eee}
th{background:#f4f4f4;text-align:left;position:sticky;top:0}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
table.sortable th{cursor:pointer}th.asc:after{content:" \\25B2"}th.desc:after{content:" \\25BC"}
#layers td{font-size:12px;max-width:28em;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
details.mod{margin-left:1.2em}div.mod.leaf{margin-left:2.4em}.fig{color:#555;font-size:12px}
figure{margin:.5em 0}figure svg{max-width:100%;height:auto}
"""

#: sorts the layer table by a clicked header, filters it by the search box (and by a URL
#: fragment ``#filter=TEXT&sort=HEADER&desc``), then marks the body as ready
PAGE_SCRIPT = """
window.addEventListener("error", function (e) {
  var b = document.body, prev = b.getAttribute("data-flopscope-errors") || "";
  b.setAttribute("data-flopscope-errors", prev + (e.message || "error") + ";");
});
(function () {
  var table = document.getElementById("layers");
  var body = table.tBodies[0], heads = table.tHead.rows[0].cells;
  var rows = Array.prototype.slice.call(body.rows);
  var box = document.getElementById("filter"), shown = document.getElementById("shown");
  function key(row, col) {
    var cell = row.cells[col], v = cell.getAttribute("data-v");
    if (v !== null) { return v === "" ? -Infinity : parseFloat(v); }
    return cell.textContent.toLowerCase();
  }
  function sort(col, desc) {
    rows.sort(function (a, b) {
      var x = key(a, col), y = key(b, col), c = x < y ? -1 : x > y ? 1 : 0;
      return desc ? -c : c;
    });
    for (var i = 0; i < heads.length; i++) {
      heads[i].className = heads[i].className.replace(/ ?(asc|desc)/, "");
    }
    heads[col].className += desc ? " desc" : " asc";
    rows.forEach(function (r) { body.appendChild(r); });
  }
  function filter(text) {
    var q = text.toLowerCase(), n = 0;
    rows.forEach(function (r) {
      var hit = !q || r.textContent.toLowerCase().indexOf(q) >= 0;
      r.style.display = hit ? "" : "none"; n += hit ? 1 : 0;
    });
    shown.textContent = n + " of " + rows.length + " rows shown;";
    table.setAttribute("data-shown", String(n));
  }
  Array.prototype.forEach.call(heads, function (th, col) {
    th.addEventListener("click", function () { sort(col, / asc/.test(th.className)); });
  });
  box.addEventListener("input", function () { filter(box.value); });
  var params = {};
  location.hash.replace(/^#/, "").split("&").forEach(function (kv) {
    var p = kv.split("="); if (p[0]) { params[decodeURIComponent(p[0])] = decodeURIComponent(p[1] || ""); }
  });
  if (params.sort) {
    for (var i = 0; i < heads.length; i++) {
      if (heads[i].textContent === params.sort) { sort(i, "desc" in params); }
    }
  }
  if (params.filter) { box.value = params.filter; }
  filter(box.value);
  document.body.setAttribute("data-flopscope-ready", "1");
})();
"""
