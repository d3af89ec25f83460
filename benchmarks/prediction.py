"""How well flopscope predicts latency on this machine (issue 17's acceptance figures).

Measures the reference architectures (``models/catalog.py``) under the cpu preset (and
``--presets cpu mobile`` for the mobile proxy), as ``flopscope zoo`` does, and prints
predicted beside measured p50, then MAPE and Spearman over the models and over their
layers, the mobile preset's rank agreement with the cpu preset, and the load average
(a busy machine inflates the measured side). Acceptance: cpu preset, over the models,
Spearman >= 0.9 and MAPE <= 25%.

    .venv/bin/python benchmarks/prediction.py                      # cpu preset, all models
    .venv/bin/python benchmarks/prediction.py --presets cpu mobile --refresh

``--refresh`` measures the host's peaks and calibration again (otherwise the cached ones,
see ``flopscope.latency.peaks``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", help="reference architectures (default: all)")
    parser.add_argument("--presets", nargs="*", default=["cpu"], help="latency presets (default: cpu)")
    parser.add_argument("--time-budget", type=float, default=3.0, help="seconds timed per model and preset")
    parser.add_argument("--refresh", action="store_true", help="measure the host peaks and calibration again")
    args = parser.parse_args(argv)

    from flopscope import zoo
    from flopscope.latency.peaks import host_profile
    from flopscope.latency.presets import get_preset

    load_before = os.getloadavg()
    started = time.time()
    for preset in args.presets:
        if get_preset(preset).device == "cpu":
            host = host_profile(preset, refresh=args.refresh)
            print(f"{preset}: {host.key}: fp32 {host.peak('fp32'):.1f} GFLOP/s, "
                  f"{host.bandwidth_gb_per_s:.1f} GB/s, "
                  f"overhead {host.calibration.overhead_ms * 1e3:.1f} us, "
                  f"{host.calibration.samples} calibration layers ({host.measured})")
    result = zoo.run_zoo(args.models or None, presets=args.presets, time_budget_s=args.time_budget,
                         log=lambda message: print(message, file=sys.stderr))
    summary = zoo.prediction_summary(result)
    print(f"\n{'model':<22}{'preset':<8}{'p50 ms':>10}{'predicted':>11}{'error':>8}{'cv':>7}")
    for preset in result.presets:
        for row in result.rows:
            lat = row.latency.get(preset)
            if lat is None or lat.predicted_ms is None:
                continue
            print(f"{row.name:<22}{preset:<8}{lat.p50_ms:>10.2f}{lat.predicted_ms:>11.2f}"
                  f"{100 * (lat.predicted_ms / lat.p50_ms - 1):>+7.0f}%{100 * lat.cv:>6.1f}%")
    print()
    for preset in result.presets:
        if preset not in summary:
            continue
        m, layers = summary[preset]["models"], summary[preset]["layers"]
        verdict = ""
        if preset == "cpu" and m["mape"] is not None and m["spearman"] is not None:
            ok = m["spearman"] >= 0.9 and m["mape"] <= 0.25
            verdict = "  -> acceptance (Spearman >= 0.9, MAPE <= 25%) " + ("MET" if ok else "NOT MET")
        print(f"{preset}: models n={m['n']} MAPE {_pct(m['mape'])} Spearman {_num(m['spearman'])}; "
              f"layers n={layers['n']} MAPE {_pct(layers['mape'])} Spearman {_num(layers['spearman'])}"
              + verdict)
    if summary.get("mobile_rank_vs_cpu") is not None:
        print(f"mobile vs cpu rank agreement (Spearman of p50s): {summary['mobile_rank_vs_cpu']:.3f}")
    load_after = os.getloadavg()
    print(f"load average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
          f"after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}; "
          f"{os.cpu_count()} logical CPUs; {time.time() - started:.0f} s")
    return 0


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    sys.exit(main())
