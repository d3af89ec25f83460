"""VGG-11/13/16/19, with and without batch normalisation.

Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition",
ICLR 2015 (arXiv:1409.1556), configurations A, B, D and E of its Table 1. The layer
structure is the one the course notes show and torchvision uses: 3x3 convolutions with
padding 1 (and bias, also in the BatchNorm variants), 2x2 max pooling, an adaptive 7x7
average pool, and a 25088 -> 4096 -> 4096 -> classes classifier with ReLU and dropout.
Input 3x224x224; output (N, num_classes).
"""

from __future__ import annotations

import torch
from torch import nn

from flopscope.models.init import init_classifier_weights

#: conv output widths per configuration; "M" is a 2x2 max pool with stride 2
CONFIGS: dict[str, list[int | str]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}


def make_features(config: list[int | str], batch_norm: bool = False) -> nn.Sequential:
    """The convolutional trunk: conv3x3 [-> BN] -> ReLU per width, max pool per "M"."""
    layers: list[nn.Module] = []
    in_channels = 3
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        assert isinstance(item, int)
        layers.append(nn.Conv2d(in_channels, item, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(item))
        layers.append(nn.ReLU(inplace=True))
        in_channels = item
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """A VGG network: ``features`` -> 7x7 adaptive average pool -> three-layer classifier."""

    def __init__(self, features: nn.Module, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        init_classifier_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def _vgg(config: str, batch_norm: bool, num_classes: int) -> VGG:
    return VGG(make_features(CONFIGS[config], batch_norm), num_classes=num_classes)


def vgg11(num_classes: int = 1000) -> VGG:
    """VGG-11 (configuration A)."""
    return _vgg("A", False, num_classes)


def vgg11_bn(num_classes: int = 1000) -> VGG:
    """VGG-11 (configuration A) with BatchNorm after each convolution."""
    return _vgg("A", True, num_classes)


def vgg13(num_classes: int = 1000) -> VGG:
    """VGG-13 (configuration B)."""
    return _vgg("B", False, num_classes)


def vgg13_bn(num_classes: int = 1000) -> VGG:
    """VGG-13 (configuration B) with BatchNorm after each convolution."""
    return _vgg("B", True, num_classes)


def vgg16(num_classes: int = 1000) -> VGG:
    """VGG-16 (configuration D)."""
    return _vgg("D", False, num_classes)


def vgg16_bn(num_classes: int = 1000) -> VGG:
    """VGG-16 (configuration D) with BatchNorm after each convolution."""
    return _vgg("D", True, num_classes)


def vgg19(num_classes: int = 1000) -> VGG:
    """VGG-19 (configuration E)."""
    return _vgg("E", False, num_classes)


def vgg19_bn(num_classes: int = 1000) -> VGG:
    """VGG-19 (configuration E) with BatchNorm after each convolution."""
    return _vgg("E", True, num_classes)
