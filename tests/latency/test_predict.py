"""Latency prediction on synthetic layers, timings and profiles: every figure by hand."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from flopscope.latency import stats
from flopscope.latency.predict import (
    MAX_EFFICIENCY,
    Calibration,
    Sample,
    error,
    fit,
    fused_heads,
    layer_pairs,
    predict,
    rank_agreement,
    roofline_ms,
    samples,
    summary,
)


def L(name, op, flops, traffic):
    return SimpleNamespace(name=name, op=op, flops=flops, traffic_bytes=traffic)


#: peaks of the synthetic host: 100 GFLOP/s and 10 GB/s (ridge 10 FLOPs/byte)
PEAK, BW = 100.0, 10.0
NET = [L("conv", "Conv", 2e9, 1e7),           # 20 ms compute, 1 ms memory
       L("bn", "BatchNormalization", 2e6, 8e6),
       L("relu", "Relu", 1e6, 8e6),
       L("pool", "MaxPool", 1e6, 5e7),         # 5 ms memory
       L("fc", "Gemm", 1e6, 2e8)]              # 20 ms memory


def test_roofline_time_is_the_larger_term():
    assert roofline_ms(2e9, 1e7, PEAK, BW) == pytest.approx((20.0, "compute"))
    assert roofline_ms(1e6, 5e7, PEAK, BW) == pytest.approx((5.0, "memory"))


def test_fusion_follows_the_optimisation_level():
    assert fused_heads(NET, "all") == {"bn": "conv", "relu": "conv"}
    assert fused_heads(NET, "basic") == {"bn": "conv"}           # ConvBNFusion only
    assert fused_heads(NET, "disable") == {}
    chain = [L("c", "Conv", 1, 1), L("a1", "Add", 1, 1), L("a2", "Add", 1, 1), L("r", "Relu", 1, 1)]
    assert fused_heads(chain, "all") == {"a1": "c"}               # one Add, then the chain ends


def test_prediction_by_hand():
    cal = Calibration({"Conv/compute": 0.5, "MaxPool/memory": 0.25, "*/memory": 0.8}, overhead_ms=0.1)
    p = predict(NET, PEAK, BW, cal, "all")
    rows = {r.name: r for r in p.layers}
    assert rows["conv"].predicted_ms == pytest.approx(20.0 / 0.5 + 0.1)
    assert (rows["bn"].predicted_ms, rows["bn"].fused_into) == (0.0, "conv")
    assert rows["pool"].predicted_ms == pytest.approx(5.0 / 0.25 + 0.1)
    assert rows["fc"].efficiency == 0.8 and rows["fc"].bound == "memory"    # pooled efficiency
    assert rows["fc"].predicted_ms == pytest.approx(20.0 / 0.8 + 0.1)
    assert p.predicted_ms == pytest.approx(40.1 + 20.1 + 25.1)


def test_uncosted_layers_cost_the_overhead_and_say_so():
    p = predict([L("x", "Fancy", None, 10)], PEAK, BW, Calibration({}, overhead_ms=0.2))
    assert p.predicted_ms == 0.2 and "1 layer(s) without a FLOP or traffic count" in p.notes[0]


def test_unseen_ops_take_the_default_efficiency():
    assert Calibration({}).efficiency("Conv", "compute") == 0.3


def test_fit_by_hand():
    points = [Sample("Conv", "compute", 10.0, 20.1), Sample("Conv", "compute", 2.0, 4.1),
              Sample("Relu", "memory", 0.05, 0.1), Sample("Gemm", "memory", 4.0, 2.1)]
    cal = fit(points)
    assert cal.overhead_ms == 0.1 and cal.samples == 4
    assert cal.efficiencies["Conv/compute"] == pytest.approx(12.0 / 24.0)
    assert cal.efficiencies["Gemm/memory"] == pytest.approx(4.0 / 2.0)      # cached: above 1
    assert cal.efficiencies["*/memory"] == pytest.approx(4.05 / 2.0)
    assert fit([]).efficiencies == {}
    assert Calibration.from_dict(cal.to_dict()) == cal


def _profile():
    """A per-layer profile as LayerProfile.to_dict() gives it: conv carries bn and relu."""
    return {"layers": [
        {"name": "conv", "status": "measured", "time_ms": 30.0, "absorbed": ["bn", "relu"]},
        {"name": "bn", "status": "fused", "time_ms": None, "absorbed": []},
        {"name": "relu", "status": "fused", "time_ms": None, "absorbed": []},
        {"name": "pool", "status": "measured", "time_ms": 10.0, "absorbed": []},
        {"name": "fc", "status": "measured", "time_ms": 25.0, "absorbed": []},
        {"name": "gone", "status": "folded", "time_ms": None, "absorbed": []}]}


def test_samples_and_layer_pairs_from_a_synthetic_profile():
    p = predict(NET, PEAK, BW, Calibration({"*/compute": 1.0, "*/memory": 1.0}))
    assert samples(p, _profile()) == [Sample("Conv", "compute", 20.0, 30.0),
                                      Sample("MaxPool", "memory", 5.0, 10.0),
                                      Sample("Gemm", "memory", 20.0, 25.0)]
    predicted, measured = layer_pairs(p, _profile())
    assert predicted == pytest.approx([20.0, 5.0, 20.0]) and measured == [30.0, 10.0, 25.0]
    # fitted on its own profile: the shortest group (pool, 10 ms) sets the overhead, so its
    # efficiency hits the cap (5 ms / 20 + 10); the others are reproduced exactly
    cal = fit(samples(p, _profile()))
    assert cal.overhead_ms == 10.0 and cal.efficiencies["MaxPool/memory"] == MAX_EFFICIENCY == 20.0
    again = predict(NET, PEAK, BW, cal)
    assert [r.predicted_ms for r in again.layers if r.predicted_ms] == pytest.approx([30.0, 10.25, 25.0])


def test_error_figures_by_hand():
    e = error([12.0, 18.0, 40.0], [10.0, 20.0, 40.0])
    assert e.n == 3 and e.mape == pytest.approx((0.2 + 0.1 + 0.0) / 3) and e.spearman == 1.0
    assert error([1.0], [0.0]).n == 0 and error([1.0], [0.0]).mape is None
    assert error([1.0], [2.0]).spearman is None                    # one pair has no rank order


def test_spearman_and_ranks():
    assert stats.ranks([3.0, 1.0, 2.0]) == [3.0, 1.0, 2.0]
    # ranks of b are 1, 3, 2, 4 against 1..4: d² = 0+1+1+0, rho = 1 - 6*2/(4*15) = 0.8
    assert stats.spearman([1, 2, 3, 4], [10, 30, 20, 40]) == pytest.approx(0.8)
    assert stats.spearman([1, 1, 1], [1, 2, 3]) == 0.0
    with pytest.raises(ValueError):
        stats.spearman([1], [1])
    assert stats.mape([90.0, 130.0], [100.0, 100.0]) == pytest.approx(0.2)


def test_summary_over_models_and_rank_agreement():
    pairs = {"layer_pairs": [[1.0, 2.0], [4.0, 3.0]]}
    lat = {"a": SimpleNamespace(p50_ms=10.0, predicted_ms=12.0, prediction=pairs),
           "b": SimpleNamespace(p50_ms=40.0, predicted_ms=30.0, prediction={"layer_pairs": [[9.0, 10.0]]}),
           "c": SimpleNamespace(p50_ms=5.0, predicted_ms=None, prediction=None)}
    s = summary(lat)
    assert s["names"] == ["a", "b"]
    assert s["models"] == {"n": 2, "mape": pytest.approx((0.2 + 0.25) / 2), "spearman": 1.0}
    assert s["layers"]["n"] == 3 and s["layers"]["mape"] == pytest.approx((0.5 + 1 / 3 + 0.1) / 3)
    assert rank_agreement({"a": 1.0, "b": 2.0}, {"a": 5.0, "b": 3.0, "z": 1.0}) == -1.0
    assert rank_agreement({"a": 1.0}, {"a": 2.0}) is None


def test_summary_percentiles():
    s = stats.summarize(list(range(1, 1001)))
    assert s.p95 == pytest.approx(950.05) and s.p999 == pytest.approx(999.001)
    assert s.scaled(2.0).p999 == pytest.approx(1998.002)
