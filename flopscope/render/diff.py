"""Two reports side by side (``flopscope diff A B``): totals and per-module deltas.

The layers are matched and summed by the gate's own diff (:func:`flopscope.gate.layer_diff`,
:func:`flopscope.gate.rollup`, :func:`flopscope.gate.biggest`), the numbers worded by the
gate's renderers (:func:`flopscope.render.gate.number`, :func:`~flopscope.render.gate.pct`),
and the metrics are those of :mod:`flopscope.metrics`; this module only lays them out as
text, Markdown or JSON.

>>> print(render_diff(r18, r50, depth=1, top=2))
resnet18 (torch) -> resnet50 (torch)
<BLANKLINE>
total                  resnet18       resnet50           delta    change
----------------  -------------  -------------  --------------  --------
MACs              1,814,073,344  4,089,184,256  +2,275,110,912  +125.41%
FLOPs             3,635,321,856  8,206,316,544  +4,570,994,688  +125.74%
params               11,689,512     25,557,032     +13,867,520  +118.63%
weights              46,758,048    102,228,128     +55,470,080  +118.63%
activations          32,923,552    150,247,328    +117,323,776  +356.35%
peak activations      6,422,528      9,633,792      +3,211,264   +50.00%
traffic             116,954,688    426,012,224    +309,057,536  +264.25%
<BLANKLINE>
modules by change in MACs (depth 1): 2 of 5 that moved
<BLANKLINE>
module       resnet18       resnet50           delta    change  layers
--------  -----------  -------------  --------------  --------  -----------
layer3    411,041,792  1,464,336,384  +1,053,294,592  +256.25%  62 (46 new)
layer2    411,041,792  1,027,604,480    +616,562,688  +150.00%  42 (26 new)
<BLANKLINE>
coverage resnet18: 100.0% (69 of 69 nodes costed)
coverage resnet50: 100.0% (175 of 175 nodes costed)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tabulate import tabulate

from flopscope.gate import ModuleDelta, biggest, layer_diff, percent, rollup
from flopscope.metrics import LAYER_FIELDS, METRICS, TOTALS
from flopscope.render.gate import number, pct, short
from flopscope.render.tables import coverage_text
from flopscope.report import Report

FORMATS = ("text", "markdown", "json")
#: modules listed by default (those that moved most)
TOP = 10
#: module path depth rolled up to by default
DEPTH = 1


@dataclass(frozen=True)
class TotalDelta:
    """One total of both reports: ``metric`` is a key of :data:`flopscope.metrics.METRICS`."""

    metric: str
    old: int
    new: int

    @property
    def delta(self) -> int:
        return self.new - self.old

    @property
    def change_pct(self) -> float | None:
        return percent(self.old, self.new)


def total_deltas(old: Report, new: Report) -> list[TotalDelta]:
    """Every ``totals`` metric of :data:`~flopscope.metrics.METRICS` that both reports
    carry, in its order (the training figures only when both are train-mode reports).

    >>> [d.metric for d in total_deltas(a, b)][:3]
    ['macs', 'flops', 'params']
    """
    pairs = ((key, getattr(old.totals, key), getattr(new.totals, key))
             for key, m in METRICS.items() if m.section == TOTALS)
    return [TotalDelta(key, a, b) for key, a, b in pairs if a is not None and b is not None]


def module_deltas(old: Report, new: Report, *, depth: int | None = DEPTH, top: int | None = TOP,
                  field: str = "macs") -> tuple[list[ModuleDelta], int]:
    """The modules (rolled up to ``depth`` parts of the path; ``None``: full paths) whose
    ``field`` moved most, at most ``top`` (``None``: all), and how many moved in all."""
    rows = rollup(layer_diff(old, new), depth)
    moved = biggest(rows, field, k=len(rows))
    return (moved if top is None else moved[:top]), len(moved)


def render_diff(old: Report, new: Report, fmt: str = "text", *, depth: int | None = DEPTH,
                top: int | None = TOP, field: str = "macs", names: tuple[str, str] | None = None) -> str:
    """``old`` against ``new`` as ``text``, ``markdown`` or ``json``: the totals (old, new,
    delta, change) and the modules whose ``field`` (a key of
    :data:`~flopscope.metrics.LAYER_FIELDS`) moved most. ``names`` label the two sides
    (default: the models' names).

    >>> text = render_diff(r18, r50, depth=1, top=5)
    >>> text.splitlines()[0]
    'resnet18 (torch) -> resnet50 (torch)'
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format '{fmt}'; choose one of {', '.join(FORMATS)}")
    if field not in LAYER_FIELDS:
        raise ValueError(f"unknown field '{field}'; choose one of {', '.join(LAYER_FIELDS)}")
    a, b = names or (old.model.name, new.model.name)
    totals = total_deltas(old, new)
    modules, moved = module_deltas(old, new, depth=depth, top=top, field=field)
    if fmt == "json":
        return json.dumps(_json(old, new, a, b, totals, modules, moved, field), indent=2) + "\n"
    label = LAYER_FIELDS[field]
    total_rows = [[METRICS[d.metric].header, number(d.metric, d.old), number(d.metric, d.new),
                   f"{d.delta:+,}", pct(d.change_pct)] for d in totals]
    module_rows = [[short(r.module), f"{r.old[field]:,}", f"{r.new[field]:,}", f"{r.delta(field):+,}",
                    pct(r.change_pct(field)), _layers(r)] for r in modules]
    where = f"depth {depth}" if depth is not None else "full paths"
    title = (f"modules by change in {label} ({where}): {len(modules)} of {moved} that moved"
             if moved else f"no module's {label} moved")
    coverage = [f"coverage {a}: {coverage_text(old.coverage, 8)}",
                f"coverage {b}: {coverage_text(new.coverage, 8)}"]
    if fmt == "markdown":
        lines = [f"## flopscope diff: `{a}` → `{b}`", "",
                 tabulate(total_rows, ["total", a, b, "Δ", "Δ%"], tablefmt="github",
                          disable_numparse=True, colalign=("left", "right", "right", "right", "right")),
                 "", f"**{title}**", ""]
        if module_rows:
            lines += [tabulate(module_rows, ["module", a, b, "Δ", "Δ%", "layers"], tablefmt="github",
                               disable_numparse=True,
                               colalign=("left", "right", "right", "right", "right", "left")), ""]
        lines += [f"- {c}" for c in coverage]
        return "\n".join(lines) + "\n"
    lines = [f"{a} ({old.model.source}) -> {b} ({new.model.source})", "",
             tabulate(total_rows, ["total", a, b, "delta", "change"], tablefmt="simple",
                      disable_numparse=True, colalign=("left", "right", "right", "right", "right")),
             "", title]
    if module_rows:
        lines += ["", tabulate(module_rows, ["module", a, b, "delta", "change", "layers"], tablefmt="simple",
                               disable_numparse=True,
                               colalign=("left", "right", "right", "right", "right", "left"))]
    lines += [""] + coverage
    return "\n".join(lines) + "\n"


def _layers(row: ModuleDelta) -> str:
    """``12`` or ``12 (3 new, 1 gone)``: layers under the module, matched by name."""
    extra = [f"{n} {w}" for n, w in ((row.added, "new"), (row.removed, "gone")) if n]
    return f"{row.layers}" + (f" ({', '.join(extra)})" if extra else "")


def _json(old: Report, new: Report, a: str, b: str, totals: list[TotalDelta],
          modules: list[ModuleDelta], moved: int, field: str) -> dict[str, Any]:
    return {"schema": "flopscope.diff/1",
            "old": {"label": a, "name": old.model.name, "source": old.model.source,
                  "coverage_percent": old.coverage.percent},
            "new": {"label": b, "name": new.model.name, "source": new.model.source,
                  "coverage_percent": new.coverage.percent},
            "totals": [{"metric": d.metric, "old": d.old, "new": d.new, "delta": d.delta,
                        "change_pct": None if d.change_pct is None else round(d.change_pct, 6)}
                       for d in totals],
            "modules_moved": moved,
            "modules": [r.to_dict(field) for r in modules]}
