"""Deployed files: MACs and coverage of what ONNX Runtime's tools write, against the clean
export of the same model.

Builds the variants of ``tests/integration/test_deployed.py`` (tiny BERT, GPT-2, LLaMA,
ViT with random weights, a small CNN; ORT's transformer optimizer, session dumps,
quantisers, fp16 conversion) into ``benchmarks/.cache/deployed/``, analyses each with the
flopscope on ``sys.path`` and writes ``benchmarks/results/deployed[-LABEL].json``; with
two such files, prints the before/after table.

    python benchmarks/deployed.py [--label after]
    python benchmarks/deployed.py --table results/deployed-before.json results/deployed-after.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache" / "deployed"


def measure(label: str) -> Path:
    sys.path.append(str(HERE.parent))      # tests/; flopscope as installed or on PYTHONPATH
    from flopscope.analysis import analyze
    from flopscope.errors import FlopscopeError
    from tests.integration.test_deployed import build

    index = CACHE / "index.json"
    if not index.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        families = build(CACHE)
        index.write_text(json.dumps({name: {v: str(p) for v, p in paths.items()}
                                     for name, (paths, _) in families.items()}))
    rows = {}
    for family, paths in json.loads(index.read_text()).items():
        dims = {"batch": 1, "seq": 8} if family in ("bert", "gpt2", "llama") else {"batch": 1}
        for variant, path in paths.items():
            try:
                r = analyze(path, dims=dims)
                rows[f"{family}|{variant}"] = {"macs": r.totals.macs, "coverage": r.coverage.percent,
                                               "params": r.totals.params}
            except FlopscopeError as exc:
                rows[f"{family}|{variant}"] = {"refused": str(exc).split(": ", 1)[-1][:100]}
    out = HERE / "results" / f"deployed-{label}.json"
    out.write_text(json.dumps(rows, indent=1))
    return out


def table(before: Path, after: Path) -> str:
    b, a = json.loads(before.read_text()), json.loads(after.read_text())
    lines = ["| model | variant | clean MACs | before: MACs found | before: coverage | after: MACs found "
             "| after: coverage |", "|---|---|---|---|---|---|---|"]
    for key, row in a.items():
        family, variant = key.split("|")
        clean = a[f"{family}|clean"]["macs"]
        lines.append(f"| {family} | {variant} | {clean:,} | {_cells(b[key], clean)} | {_cells(row, clean)} |")
    return "\n".join(lines)


def _cells(r: dict, clean: int) -> str:
    if "refused" in r:
        return "refused (exit 2) | –"
    return f"{r['macs']:,} ({100 * r['macs'] / clean:.0f}%) | {r['coverage']:.1f}%"


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="after")
    parser.add_argument("--table", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args(argv)
    if args.table:
        print(table(*args.table))
    else:
        print(measure(args.label))


if __name__ == "__main__":
    main(sys.argv[1:])
