"""Renderers for gate results (``flopscope check``): text, Markdown, JSON and JUnit XML.

Each takes a list of :class:`~flopscope.gate.GateResult` (one per model checked) and
returns a string; only the CLI prints or writes files. They present what the results say
(each result's status and outcome, each check's status and whether it fails) and take the
metric words and units from :mod:`flopscope.metrics`. The Markdown stays under
:data:`MARKDOWN_LIMIT` bytes however many layers or models there are (GitHub caps a step
summary at 1 MiB and a pull-request comment at 65,536 characters).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from flopscope.gate import (
    BASELINE,
    BUDGET,
    ERROR,
    IMPROVED,
    OVER,
    PASS,
    STRICT,
    Check,
    GateResult,
    ModuleDelta,
    exit_code,
    status,
)
from flopscope.metrics import LAYER_FIELDS, METRICS, MS

FORMATS = ("text", "markdown", "json")

#: the Markdown summary's size limit in bytes (under GitHub's 64 KiB comment limit)
MARKDOWN_LIMIT = 60_000
#: longest module path shown before it is shortened with "..."
NAME_WIDTH = 100

#: the verdict on one model, by its outcome
_VERDICTS = {ERROR: "cannot check", OVER: "over budget", STRICT: "lighter than the baseline (--strict)",
             IMPROVED: "within budget, lighter than the baseline", PASS: "within budget"}


def render_gate(results: Sequence[GateResult], fmt: str = "text", errors: bool = True) -> str:
    """Render ``results`` as ``text``, ``markdown`` or ``json`` (``errors=False``: the text
    without the error lines, printed apart by the caller)."""
    if fmt == "text":
        return render_text(results, errors)
    if fmt == "markdown":
        return render_markdown(results)
    if fmt == "json":
        return render_json(results)
    raise ValueError(f"unknown format '{fmt}'; choose one of {', '.join(FORMATS)}")


# ----------------------------------------------------------------------- words and numbers


def number(metric: str, value: float) -> str:
    """``1234567`` -> ``'1,234,567'``; latency in ms with three decimals."""
    if METRICS[metric].unit == MS:
        return f"{value:,.3f} ms" if value >= 1 else f"{value:.3g} ms"
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.3f}"


def pct(p: float | None) -> str:
    """A signed percentage; ``'new'`` for growth from 0; growth past 10× as a factor.

    >>> pct(3.14159), pct(-0.004), pct(900.0), pct(950.0), pct(20108402.33), pct(None)
    ('+3.14%', '-0.004%', '+900.00%', '×10.5', '×201,085', 'new')
    """
    if p is None:
        return "new"
    if p >= 900.0 + 1e-9:
        factor = 1 + p / 100
        return f"×{factor:.1f}" if factor < 100 else f"×{factor:,.0f}"
    if p != 0 and abs(p) < 0.01:
        return f"{p:+.2g}%"
    return f"{p:+.2f}%"


def share(part: float, whole: float) -> str:
    """``part`` as a percentage of ``whole`` (``'-'`` when there is no whole)."""
    if not whole:
        return "-"
    p = 100.0 * part / whole
    return f"{p:.1f}%" if p >= 1 or p == 0 else f"{p:.2g}%"


def tolerance_text(t: float) -> str:
    return f"{t * 100:g}%"


def short(name: str, width: int = NAME_WIDTH) -> str:
    return name if len(name) <= width else name[: width - 3] + "..."


def describe(check: Check, result: GateResult | None = None) -> str:
    """One sentence naming the metric, the old (or limit) and new values and the change."""
    ref, new, change = number(check.metric, check.reference), number(check.metric, check.new), \
        pct(check.change_pct)
    if check.kind == BUDGET:
        if check.status == OVER:
            by = f" ({change})" if check.change_pct is not None else ""
            return f"{check.label} {new} is over the limit of {ref}{by}"
        return f"{check.label} {new} is within the limit of {ref} ({share(check.new, check.reference)} of it)"
    where = f" {result.baseline}" if result is not None and result.baseline else ""
    tol = tolerance_text(check.tolerance)
    if check.status == OVER:
        return (f"{check.label} grew from {ref} to {new} ({change}), over the baseline{where} "
                f"(tolerance {tol})")
    if check.status == IMPROVED:
        return f"{check.label} fell from {ref} to {new} ({change}), lighter than the baseline{where} " \
               f"beyond the tolerance {tol}"
    return f"{check.label} {ref} -> {new} ({change}), within the baseline's tolerance {tol}"


def contributors_title(check: Check) -> str:
    what = LAYER_FIELDS.get(check.layer_field or "", check.layer_field or "")
    if check.kind == BUDGET:
        return f"heaviest modules by {what}"
    return f"modules that {'added' if check.status == OVER else 'removed'} the most {what}"


def contributor(check: Check, row: ModuleDelta, total: float | None = None) -> str:
    f = check.layer_field or ""
    if check.kind == BUDGET:
        part = f" ({share(row.new[f], total)} of the model)" if total else ""
        return f"{short(row.module)}: {row.new[f]:,}{part}"
    change = pct(row.change_pct(f))
    tag = " (new)" if row.added == row.layers else " (removed)" if row.removed == row.layers else ""
    if change == "new":              # growth from 0 already says "new": never "(+n, new) (new)"
        tag = ""
    return f"{short(row.module)}: {row.old[f]:,} -> {row.new[f]:,} ({row.delta(f):+,}, {change}){tag}"


def explanations(result: GateResult) -> dict[int, list[ModuleDelta] | str]:
    """The modules to show under each check that moved, by ``id(check)``: its own list, or
    a pointer to an earlier check that lists the same modules. A budget check whose metric
    also has a baseline check that moved shows nothing: the baseline's diff says more."""
    moved_baseline = {c.metric for c in result.checks if c.kind == BASELINE and c.status != PASS and c.layers}
    out: dict[int, list[ModuleDelta] | str] = {}
    shown: dict[tuple, str] = {}
    for check in result.checks:
        if check.status == PASS or not check.layers:
            continue
        if check.kind == BUDGET and check.metric in moved_baseline:
            continue
        f = check.layer_field
        assert f is not None            # a check lists layers only for a metric that has a layer field
        key = (check.kind, f, tuple((r.module, r.old[f], r.new[f]) for r in check.layers))
        if key in shown:
            out[id(check)] = f"the same modules as for {shown[key]}"
        else:
            shown[key] = check.label
            out[id(check)] = check.layers
    return out


def summary(results: Sequence[GateResult]) -> str:
    """The closing line: how many models could not be checked, went over budget, or fail
    only for being lighter than the baseline under ``--strict`` (never "over budget").

    >>> summary([GateResult("a.onnx", checks=[Check("macs", BASELINE, new=8, reference=10,
    ...                                            status=IMPROVED)], strict=True)])
    '1 model lighter than the baseline beyond the tolerance (--strict)'
    """
    n = len(results)
    errors = sum(1 for r in results if r.status == "error")
    over = sum(1 for r in results if r.outcome == OVER)
    lighter = sum(1 for r in results if r.outcome == STRICT)
    of = f" of {n}" if n > 1 else ""
    failed = [f"{over} over budget"] * bool(over) + [f"{lighter} lighter than the baseline "
                                                      "(--strict)"] * bool(lighter)
    if errors:
        return f"{errors}{of} model{'s' * (errors > 1)} could not be checked" + \
            (f", {', '.join(failed)}" if failed else "")
    if over or lighter:
        parts = [f"{over}{of} model{'s' * (over > 1 or n > 1)} over budget"] * bool(over)
        parts += [f"{lighter}{of} model{'s' * (lighter > 1 or n > 1)} lighter than the baseline "
                  "beyond the tolerance (--strict)"] * bool(lighter)
        return ", ".join(parts)
    return f"{'all ' if n > 1 else ''}{n} model{'s' * (n != 1)} within budget"


# ----------------------------------------------------------------------- text


def result_text(result: GateResult, top: int | None = None, errors: bool = True) -> str:
    """One model's verdict as plain text: failures first, with the modules behind them
    (``errors=False`` leaves out the error lines, for a caller that prints them apart)."""
    head = f"{result.status.upper()} {result.model}"
    if result.name or result.inputs or result.mode:
        head += f" ({', '.join(x for x in (result.name, result.inputs, result.mode) if x)})"
    lines = [f"{head}: {_VERDICTS[result.outcome]}"]
    lines += [f"  error: {e}" for e in result.errors] if errors else []
    shown = explanations(result)
    order = sorted(result.checks, key=lambda c: (not result.fails(c), c.status != IMPROVED))
    for check in order:
        mark = "FAIL" if result.fails(check) else "ok" if check.status == PASS else "note"
        lines.append(f"  {mark:<4} {describe(check, result)}")
        rows = shown.get(id(check))
        if isinstance(rows, str):
            lines.append(f"         {contributors_title(check)}: {rows}")
        elif rows:
            rows = rows[:top] if top is not None else rows
            lines.append(f"         {contributors_title(check)}:")
            lines += [f"           {contributor(check, r, check.layer_total)}" for r in rows]
    if result.improvements and result.update_command:
        lines.append(f"  update the baseline: {result.update_command}")
    lines += [f"  note: {n}" for n in result.notes]
    return "\n".join(lines)


def render_text(results: Sequence[GateResult], errors: bool = True) -> str:
    """Every model's verdict, then the summary line (``errors=False``: without the error
    lines, which the CLI then prints once, on stderr)."""
    parts = [result_text(r, errors=errors) for r in results]
    parts.append(f"flopscope check: {summary(results)}")
    return "\n\n".join(parts) + "\n"


# ----------------------------------------------------------------------- markdown


_ICON = {"pass": "✅", "fail": "❌", "error": "⚠️"}


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return f"`{short(text).replace('`', '')}`"


def _table(headers: list[str], align: str, rows: list[list[str]]) -> list[str]:
    marks = {"l": "---", "r": "---:"}
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join(marks[a] for a in align) + "|"]
    out += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return out


def _metric_rows(result: GateResult) -> list[list[str]]:
    """One row per metric: old (baseline), new, Δ%, limit, result."""
    by_metric: dict[str, dict[str, Check]] = {}
    for check in result.checks:
        by_metric.setdefault(check.metric, {})[check.kind] = check
    rows = []
    for metric, kinds in by_metric.items():
        base, budget = kinds.get(BASELINE), kinds.get(BUDGET)
        any_check = base or budget
        assert any_check is not None
        words = []
        for c in (base, budget):
            if c is None or c.status == PASS:
                continue
            what = "over the baseline" if c.kind == BASELINE and c.status == OVER else \
                "lighter than the baseline" if c.kind == BASELINE else "over the limit"
            words.append(("❌ " if result.fails(c) else "⬇️ ") + what)
        limit = "–"
        if budget is not None:
            used = f" ({share(budget.new, budget.reference)})" if budget.reference else ""
            limit = number(metric, budget.reference) + used
        rows.append([any_check.label,
                     number(metric, base.reference) if base else "–",
                     number(metric, any_check.new),
                     pct(base.change_pct) if base else "–",
                     limit,
                     ", ".join(words) or "✅ ok"])
    return rows


def result_markdown(result: GateResult, top: int) -> list[str]:
    lines = [f"### {_ICON[result.status]} {_code(result.model)} — {_VERDICTS[result.outcome]}", ""]
    about = [x for x in (result.name, f"inputs {result.inputs}" if result.inputs else "", result.mode)
             if x]
    if result.baseline:
        tol = {c.tolerance for c in result.checks if c.kind == BASELINE}
        about.append(f"baseline {_code(result.baseline)}" +
                     (f", tolerance {tolerance_text(tol.pop())}" if len(tol) == 1 else ""))
    if about:
        lines += [_md(" · ".join(about)), ""]
    lines += [f"- **error:** {_md(e)}" for e in result.errors]
    if result.errors:
        lines.append("")
    if result.checks:
        lines += _table(["metric", "old", "new", "Δ%", "limit", "result"], "lrrrrl", _metric_rows(result))
        lines.append("")
    shown = explanations(result) if top > 0 else {}
    for check in result.checks:
        rows = shown.get(id(check))
        if not rows:
            continue
        if isinstance(rows, str):
            lines += [f"**{check.label}** — {contributors_title(check)}: {rows}.", ""]
            continue
        rows = rows[:top]
        f = check.layer_field or ""
        lines += [f"**{check.label}** — {contributors_title(check)} (by module path):", ""]
        if check.kind == BUDGET:
            total = check.layer_total
            lines += _table(["module", LAYER_FIELDS.get(f, f), "share"], "lrr",
                            [[_code(r.module), f"{r.new[f]:,}", share(r.new[f], total)] for r in rows])
        else:
            lines += _table(["module", "old", "new", "Δ", "Δ%"], "lrrrr",
                            [[_code(r.module), f"{r.old[f]:,}", f"{r.new[f]:,}", f"{r.delta(f):+,}",
                              pct(r.change_pct(f))] for r in rows])
        lines.append("")
    if result.improvements and result.update_command:
        lines += [f"Lighter than the baseline; update it with `{result.update_command}`", ""]
    lines += [f"- note: {_md(n)}" for n in result.notes]
    return lines


def _markdown(results: Sequence[GateResult], top: int) -> str:
    icon = _ICON[status(results)]
    lines = [f"## {icon} flopscope check: {summary(results)}", ""]
    for r in results:
        lines += result_markdown(r, top)
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def render_markdown(results: Sequence[GateResult], limit: int = MARKDOWN_LIMIT) -> str:
    """A GitHub-flavoured summary: a table per model (old, new, Δ%, limit, result) and the
    modules behind each failure; shortened to stay under ``limit`` bytes."""
    for top in (5, 3, 1, 0):
        text = _markdown(results, top)
        if len(text.encode()) <= limit:
            return text
    note = "\n\n*(summary cut to fit; run `flopscope check` for the full text)*\n"
    budget = limit - len(note.encode())
    cut = text.encode()[:budget].decode(errors="ignore")
    return cut[: cut.rfind("\n") + 1 or len(cut)] + note


# ----------------------------------------------------------------------- json, junit


def render_json(results: Sequence[GateResult]) -> str:
    code = exit_code(results)
    data = {"schema": "flopscope.check/1", "status": status(results),
            "exit_code": code, "summary": summary(results), "results": [r.to_dict() for r in results]}
    return json.dumps(data, indent=2) + "\n"


def render_junit(results: Sequence[GateResult]) -> str:
    """JUnit XML: a test suite per model, a test case per check (and one for errors)."""
    import xml.etree.ElementTree as ET

    root = ET.Element("testsuites", name="flopscope check")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for r in results:
        suite = ET.SubElement(root, "testsuite", name=r.model)
        if r.mode:
            ET.SubElement(ET.SubElement(suite, "properties"), "property", name="mode", value=r.mode)
        counts = {"tests": 0, "failures": 0, "errors": 0}
        classname = f"flopscope.check.{r.model}"
        if r.errors:
            case = ET.SubElement(suite, "testcase", classname=classname, name="analysis")
            error = ET.SubElement(case, "error", message=r.errors[0], type="FlopscopeError")
            error.text = "\n".join(r.errors)
            counts["tests"] += 1
            counts["errors"] += 1
        for check in r.checks:
            case = ET.SubElement(suite, "testcase", classname=classname,
                                 name=f"{check.metric} ({check.kind})")
            counts["tests"] += 1
            message = describe(check, r)
            detail = [message]
            if check.layers and check.status != PASS:
                detail.append(contributors_title(check) + ":")
                detail += [f"  {contributor(check, row, check.layer_total)}" for row in check.layers]
            if check.status == IMPROVED and r.update_command:
                detail.append(f"update the baseline: {r.update_command}")
            if r.fails(check):
                failure = ET.SubElement(case, "failure", message=message, type=check.status)
                failure.text = "\n".join(detail)
                counts["failures"] += 1
            elif check.status != PASS:
                ET.SubElement(case, "system-out").text = "\n".join(detail)
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
