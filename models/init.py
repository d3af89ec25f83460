"""The weight initialisation the torchvision-style classifiers here share."""

from __future__ import annotations

from torch import nn


def init_classifier_weights(model: nn.Module) -> None:
    """He (fan-out, ReLU) for convolutions, unit BatchNorm, N(0, 0.01) for linear layers,
    zero biases. The counts do not depend on it; a model built on the CPU gets sensible
    values for latency runs.

    >>> init_classifier_weights(nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8)))
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
