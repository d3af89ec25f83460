"""A dense-prediction network with the dilated-convolution context module.

Yu & Koltun, "Multi-Scale Context Aggregation by Dilated Convolutions", ICLR 2016
(arXiv:1511.07122). The **context module** is the paper's basic one (Table 1): seven 3x3
convolutions with dilation 1, 1, 2, 4, 8, 16, 1, each followed by a ReLU, then a 1x1
convolution; C channels in and out of every layer, so it has 64·C² weights (plus 8·C
biases) and its receptive field grows exponentially while the parameters grow linearly:
3, 5, 9, 17, 33, 65, 67, 67 feature-map pixels. As in the paper the 3x3 layers start as
identities.

**Front-end (our choice).** The paper's front-end is VGG-16 with its last two pooling
layers removed and the convolutions after them dilated by 2 and 4, giving C = 21 class
score maps (Pascal VOC) at 1/8 of the input resolution. To keep the model small we use a
compact VGG-style front-end with the same shape of computation: three 3x3 conv -> ReLU
-> 2x2 max pool stages (32, 64, 128 channels; stride 8 in all), then two 3x3 convolutions
dilated by 2 and 4 instead of further pooling, and a 1x1 convolution to ``num_classes``
score maps. The context module refines those maps and a bilinear upsampling by 8 returns
them to the input resolution.

Padding: every convolution pads by its dilation, so feature maps keep their size (the
paper instead pads the input image once and uses unpadded convolutions; the cost differs
only at the borders).

Input (N, 3, H, W) with H and W multiples of 8; the catalog uses 1x3x256x256 (a 32x32 map
for the context module, inside its 67x67 receptive field). Output (N, num_classes, H, W).
"""

from __future__ import annotations

import torch
from torch import nn

#: dilations of the context module's 3x3 layers (the paper's Table 1, layers 1-7)
CONTEXT_DILATIONS = (1, 1, 2, 4, 8, 16, 1)


def receptive_field(dilations: tuple[int, ...] = CONTEXT_DILATIONS, kernel_size: int = 3) -> int:
    """Receptive field (in pixels) of a stack of stride-1 convolutions with these dilations."""
    return 1 + sum((kernel_size - 1) * d for d in dilations)


def conv3x3(in_channels: int, out_channels: int, dilation: int = 1) -> nn.Conv2d:
    """3x3 convolution with bias, padded by its dilation so the size is kept."""
    return nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation)


class ContextModule(nn.Module):
    """The basic context module: C -> C throughout, identity-initialised."""

    def __init__(self, channels: int, dilations: tuple[int, ...] = CONTEXT_DILATIONS) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for d in dilations:
            layers += [conv3x3(channels, channels, d), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(channels, channels, 1))  # layer 8: 1x1, no ReLU
        self.layers = nn.Sequential(*layers)
        for m in self.layers:
            if isinstance(m, nn.Conv2d):
                nn.init.dirac_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def front_end(num_classes: int, widths: tuple[int, int, int] = (32, 64, 128)) -> nn.Sequential:
    """Compact VGG-style front-end: 1/8-resolution class score maps (see the module docstring)."""
    layers: list[nn.Module] = []
    in_channels = 3
    for width in widths:
        layers += [conv3x3(in_channels, width), nn.ReLU(inplace=True), nn.MaxPool2d(2, 2)]
        in_channels = width
    for dilation in (2, 4):
        layers += [conv3x3(in_channels, in_channels, dilation), nn.ReLU(inplace=True)]
    layers.append(nn.Conv2d(in_channels, num_classes, 1))
    return nn.Sequential(*layers)


class DilatedContextNet(nn.Module):
    """Front-end (stride 8) -> context module (C = num_classes) -> bilinear upsampling x8."""

    def __init__(self, num_classes: int = 21) -> None:
        super().__init__()
        self.front_end = front_end(num_classes)
        self.context = ContextModule(num_classes)
        self.upsample = nn.Upsample(scale_factor=8, mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.upsample(self.context(self.front_end(x)))


def dilated_context(num_classes: int = 21) -> DilatedContextNet:
    """The dilated context network with C = 21 classes (Pascal VOC, as in the paper)."""
    return DilatedContextNet(num_classes)
