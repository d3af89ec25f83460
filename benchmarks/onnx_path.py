"""ONNX path: process time and peak memory of `flopscope report` against onnx-tool and a
bare `onnx.load`, in-process analysis time, and scale from 1k to 100k nodes and to a
7-billion-parameter decoder whose weights are never written.

All timings of one table come from one run of this script, each the best of ``--repeats``
fresh processes (wall-clock seconds and peak RSS from /usr/bin/time). Models are written
to ``benchmarks/.cache/`` (git-ignored) on first use. Writes
``benchmarks/results/onnx_path.json``.

``--private-vs-public`` times only ResNet-50's ``flopscope report`` through
:mod:`flopscope.frontends.onnxcore`'s private path (no ``import onnx``) against onnx's
public API (the same command with ``import onnx`` first, which makes onnxcore use the
package's public functions throughout) and onnx-tool, interleaved round by round so that
a loaded machine slows all three alike, plus the import time of each (``-X importtime``).
Writes ``benchmarks/results/onnx_private_path.json``.

    python benchmarks/onnx_path.py [--repeats 3] [--skip-vgg] [--private-vs-public]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
PY = sys.executable


def run(cmd: list[str], repeats: int) -> tuple[float, int]:
    """Best wall time (s) and the peak RSS (KiB) of that run, over fresh processes."""
    best = (float("inf"), 0)
    for _ in range(repeats):
        out = subprocess.run(["/usr/bin/time", "-f", "%e %M", *cmd], capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"failed: {' '.join(cmd)}\n{out.stderr[-2000:]}")
        seconds, rss = out.stderr.strip().splitlines()[-1].split()
        best = min(best, (float(seconds), int(rss)))
    return best


def ensure_models(skip_vgg: bool) -> dict[str, Path]:
    CACHE.mkdir(exist_ok=True)
    paths = {}
    from flopscope.export import export_onnx
    for name in ("resnet50",) + (() if skip_vgg else ("vgg16",)):
        path = CACHE / f"{name}.onnx"
        if not path.exists():
            print(f"exporting {name} with weights...", file=sys.stderr)
            export_onnx(name, None, path)
        paths[name] = path
    sys.path.insert(0, str(HERE))
    import onnx
    import synthetic
    for n in (1_000, 10_000, 100_000):
        path = CACHE / f"chain{n // 1000}k.onnx"
        if not path.exists():
            onnx.save_model(synthetic.chain(n), path)
        paths[f"chain{n // 1000}k"] = path
    decoder = CACHE / "decoder7b" / "model.onnx"
    if not decoder.exists():
        decoder.parent.mkdir(exist_ok=True)
        onnx.save_model(synthetic.decoder(), decoder)   # weights.bin is never written
    paths["decoder7b"] = decoder
    return paths


def in_process(path: Path, repeats: int) -> float:
    """Analysis of an already loaded graph (ModelProto in memory), best of ``repeats``."""
    code = (
        "import time, onnx, flopscope\n"
        f"m = onnx.load({str(path)!r})\n"
        "flopscope.analyze(m)\n"
        f"best = min((lambda t: (flopscope.analyze(m), time.perf_counter() - t)[1])(time.perf_counter())"
        f" for _ in range({repeats}))\n"
        "print(best)\n")
    return float(subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True).stdout)


#: ``flopscope report`` from one launcher; ``import onnx`` first forces onnx's public API
_REPORT = "import sys\n{}from flopscope.cli import main\nsys.exit(main(sys.argv[1:]))"
PATHS = {"private": _REPORT.format(""), "public": _REPORT.format("import onnx\n")}


def import_ms(code: str, args: list[str]) -> float:
    """Milliseconds spent importing modules in one run (``-X importtime``: the sum of the
    top-level imports' cumulative times)."""
    out = subprocess.run([PY, "-X", "importtime", "-c", code, *args], capture_output=True, text=True,
                         check=True)
    total = 0
    for line in out.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = line.split("|")
            if cumulative.strip().isdigit() and not name.startswith("  "):
                total += int(cumulative)
    return total / 1e3


def private_vs_public(path: Path, repeats: int) -> dict:
    """ResNet-50's report through the private path, the public API and onnx-tool, one
    fresh process each per round, rounds interleaved; best and median of ``repeats``."""
    report = [str(path), "--format", "json", "-o", "/dev/null"]
    commands = {name: [PY, "-c", code, "report", *report] for name, code in PATHS.items()}
    commands["onnx_tool"] = [PY, "-c", "import onnx_tool, contextlib, io\n"
                             "with contextlib.redirect_stdout(io.StringIO()): "
                             f"onnx_tool.model_profile({str(path)!r})"]
    times: dict[str, list[float]] = {name: [] for name in commands}
    imports: dict[str, list[float]] = {name: [] for name in PATHS}
    for _ in range(repeats):
        for name, command in commands.items():
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            times[name].append(time.perf_counter() - start)
        for name, code in PATHS.items():
            imports[name].append(import_ms(code, ["report", *report]))
    best = {name: min(ts) for name, ts in times.items()}
    median = {name: sorted(ts)[len(ts) // 2] for name, ts in times.items()}
    return {"repeats": repeats, "best_s": best, "median_s": median,
            "import_ms_best": {name: min(ms) for name, ms in imports.items()},
            "public_vs_private": best["public"] / best["private"],
            "onnx_tool_vs_private": best["onnx_tool"] / best["private"],
            "onnx_tool_vs_public": best["onnx_tool"] / best["public"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-vgg", action="store_true")
    parser.add_argument("--private-vs-public", action="store_true")
    args = parser.parse_args()
    if args.private_vs_public:
        path = CACHE / "resnet50.onnx"
        if not path.exists():
            from flopscope.export import export_onnx
            CACHE.mkdir(exist_ok=True)
            export_onnx("resnet50", None, path)
        compare = private_vs_public(path, args.repeats)
        print(json.dumps(compare, indent=2))
        (HERE / "results" / "onnx_private_path.json").write_text(json.dumps(compare, indent=2) + "\n")
        return
    paths = ensure_models(args.skip_vgg)
    # byte-compile flopscope as a regular (non-editable) pip install does, so that each
    # fresh process does not recompile it (the peers are installed compiled)
    root = HERE.parent
    subprocess.run([PY, "-m", "compileall", "-q", str(root / "flopscope"), str(root / "models")], check=True)
    flopscope_cli = shutil.which("flopscope", path=str(Path(PY).parent)) or "flopscope"
    rows = []
    for name in ("resnet50", "vgg16"):
        if name not in paths:
            continue
        path = str(paths[name])
        size = os.path.getsize(path) / 2**20
        load = run([PY, "-c", f"import onnx; onnx.load({path!r})"], args.repeats)
        ours = run([flopscope_cli, "report", path, "--format", "json", "-o", "/dev/null"], args.repeats)
        tool = run([PY, "-c", "import onnx_tool, contextlib, io\n"
                    f"with contextlib.redirect_stdout(io.StringIO()): onnx_tool.model_profile({path!r})"],
                   args.repeats)
        rows.append({"model": name, "file_mib": round(size, 1), "onnx_load_s": load[0],
                     "flopscope_s": ours[0], "onnx_tool_s": tool[0],
                     "flopscope_rss_mib": ours[1] / 1024, "onnx_tool_rss_mib": tool[1] / 1024,
                     "flopscope_vs_load": ours[0] / load[0], "onnx_tool_vs_flopscope": tool[0] / ours[0]})
    analysis_ms = in_process(paths["resnet50"], 10) * 1e3
    scale = []
    for name in ("chain1k", "chain10k", "chain100k", "decoder7b"):
        command = [flopscope_cli, "report", str(paths[name]), "--format", "json", "-o", "/dev/null"]
        seconds, rss = run(command, args.repeats)
        scale.append({"model": name, "seconds": seconds, "rss_mib": rss / 1024})
    help_s = run([flopscope_cli, "--help"], args.repeats)[0]
    machine = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
               "python": platform.python_version(), "date": time.strftime("%Y-%m-%d")}
    print(f"machine: {machine}\n")
    print("| model | file | onnx.load | flopscope report | onnx-tool | flopscope / load "
          "| onnx-tool / flopscope | RSS flopscope | RSS onnx-tool |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['file_mib']} MiB | {r['onnx_load_s']:.2f} s | {r['flopscope_s']:.2f} s | "
              f"{r['onnx_tool_s']:.2f} s | {r['flopscope_vs_load']:.2f} | "
              f"{r['onnx_tool_vs_flopscope']:.2f} | {r['flopscope_rss_mib']:.0f} MiB | "
              f"{r['onnx_tool_rss_mib']:.0f} MiB |")
    print(f"\nin-process analysis of a loaded ResNet-50 graph: {analysis_ms:.1f} ms")
    print(f"`flopscope --help`: {help_s:.2f} s\n")
    print("| graph | time | peak RSS |")
    print("|---|---:|---:|")
    for r in scale:
        print(f"| {r['model']} | {r['seconds']:.2f} s | {r['rss_mib']:.0f} MiB |")
    out = HERE / "results" / "onnx_path.json"
    out.parent.mkdir(exist_ok=True)
    results = {"machine": machine, "files": rows, "in_process_resnet50_ms": analysis_ms,
               "help_s": help_s, "scale": scale}
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
