"""The course notes' ``MyConv``: a shuffled grouped convolution block.

Grouped 3x3 convolution (32 -> 64 channels, 8 groups), channel shuffle over 8 groups,
grouped 3x3 convolution (64 -> 64, 8 groups), 1x1 convolution, ReLU, 1x1 convolution; all
convolutions with bias, stride 1 and "same" padding, exactly as in the notes' section
"Shuffled Grouped Convolution" (the shuffle itself is ``channel_shuffle``, written as in
the notes; Zhang et al., "ShuffleNet", CVPR 2018). The notes give no input size; the
catalog uses 1x32x56x56 (a ResNet stage-2 resolution). Output (N, 64, H, W).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .shufflenet import channel_shuffle


class MyConv(nn.Module):
    """g_conv1 -> channel_shuffle(8) -> g_conv2 -> conv3 -> ReLU -> conv4."""

    def __init__(self) -> None:
        super().__init__()
        self.g_conv1 = nn.Conv2d(32, 64, 3, 1, 1, groups=8)
        self.g_conv2 = nn.Conv2d(64, 64, 3, 1, 1, groups=8)
        self.conv3 = nn.Conv2d(64, 64, 1, 1)
        self.conv4 = nn.Conv2d(64, 64, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.g_conv1(x)
        x = channel_shuffle(x, 8)
        x = self.g_conv2(x)
        x = self.conv3(x)
        x = F.relu(x)
        return self.conv4(x)


def myconv() -> MyConv:
    """The notes' ``MyConv`` block."""
    return MyConv()
