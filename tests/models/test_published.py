"""flopscope's counts of the reference architectures against their published figures
(224x224 input; parameters exact, GMACs to 3 decimals)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from flopscope.analysis import analyze  # noqa: E402
from flopscope.models import catalog  # noqa: E402

#: the issue's table, written out so a catalog edit cannot move the goalposts
PUBLISHED = {
    "resnet18": (11_689_512, 1.814),
    "resnet50": (25_557_032, 4.089),
    "vgg16": (138_357_544, 15.47),
    "vgg19": (143_667_240, 19.632),
    "mobilenet_v2": (3_504_872, 0.301),
    "shufflenet_v2_x1_0": (2_278_604, 0.145),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_figures(name):
    params, gmacs = PUBLISHED[name]
    report = analyze(name)
    assert report.model.inputs[0].shape == [1, 3, 224, 224]
    assert report.totals.params == params
    assert round(report.totals.macs / 1e9, 3) == gmacs
    assert report.coverage.percent == 100.0


@pytest.mark.parametrize("name", [n for n in catalog.names() if catalog.spec(n).published_params])
def test_catalog_figures(name):
    spec = catalog.spec(name)
    report = analyze(name)
    assert report.totals.params == spec.published_params
    if spec.published_gmacs is not None:
        assert round(report.totals.macs / 1e9, 3) == round(spec.published_gmacs, 3)


def test_shufflenet_v1_against_the_paper():
    # the paper's 140 MFLOPs (its comparison tables) against our exact count; the
    # catalog description states both
    report = analyze("shufflenet_v1_g3")
    assert report.totals.macs == 137_460_672
    assert catalog.spec("shufflenet_v1_g3").published_gmacs == 0.140
