"""ShuffleNet v1 (g = 3, 1.0x) and ShuffleNet v2 (1.0x), and the channel shuffle they share.

- v1: Zhang, Zhou, Lin & Sun, "ShuffleNet: An Extremely Efficient Convolutional Neural
  Network for Mobile Devices", CVPR 2018 (arXiv:1707.01083), Table 1 and Figure 2.
- v2: Ma, Zhang, Zheng & Sun, "ShuffleNet V2: Practical Guidelines for Efficient CNN
  Architecture Design", ECCV 2018 (arXiv:1807.11164), Table 5 and Figure 3; the layer
  structure of torchvision's ``shufflenet_v2_x1_0``.

Both take 3x224x224 input and return (N, num_classes).
"""

from __future__ import annotations

import torch
from torch import nn


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave the channels of ``groups`` groups (the course notes' channel shuffle).

    Channel ``g * k + j`` (group g, position j of k per group) moves to ``j * groups + g``,
    so each group of a following grouped convolution sees channels from every group.
    """
    batch_size, num_channels, height, width = x.size()
    channels_per_group = num_channels // groups
    # reshape
    x = x.view(batch_size, groups, channels_per_group, height, width)
    x = torch.transpose(x, 1, 2).contiguous()
    # flatten
    return x.view(batch_size, -1, height, width)


# --------------------------------------------------------------------------- ShuffleNet v1


class ShuffleV1Unit(nn.Module):
    """The ShuffleNet unit (Figure 2 b, c).

    1x1 group conv -> BN -> ReLU -> channel shuffle -> 3x3 depthwise conv (stride) -> BN
    -> 1x1 group conv -> BN, then with stride 1 the input is added, with stride 2 a 3x3
    average pool of the input is concatenated (the branch then makes ``out - in``
    channels); a ReLU follows. The bottleneck width is a quarter of the unit's output.
    ``group_first`` False makes the first 1x1 ungrouped (the first unit of stage 2, whose
    input has only 24 channels).
    """

    def __init__(self, in_channels: int, out_channels: int, groups: int, stride: int,
                 group_first: bool = True) -> None:
        super().__init__()
        self.stride = stride
        self.groups = groups
        mid = out_channels // 4
        branch_out = out_channels - in_channels if stride == 2 else out_channels
        self.gconv1 = nn.Conv2d(in_channels, mid, 1, groups=groups if group_first else 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.dwconv = nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.gconv2 = nn.Conv2d(mid, branch_out, 1, groups=groups, bias=False)
        self.bn3 = nn.BatchNorm2d(branch_out)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = nn.AvgPool2d(3, stride=2, padding=1) if stride == 2 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.gconv1(x)))
        out = channel_shuffle(out, self.groups)
        out = self.bn2(self.dwconv(out))
        out = self.bn3(self.gconv2(out))
        if self.shortcut is None:
            out = out + x
        else:
            out = torch.cat((self.shortcut(x), out), 1)
        return self.relu(out)


class ShuffleNetV1(nn.Module):
    """3x3/2 conv (24) -> 3x3/2 max pool -> stages 2-4 (first unit stride 2) -> global
    average pool -> fully connected. Stage widths for g = 3 at 1.0x: 240, 480, 960."""

    def __init__(self, groups: int = 3, stage_channels: tuple[int, int, int] = (240, 480, 960),
                 stage_repeats: tuple[int, int, int] = (4, 8, 4), num_classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(3, 24, 3, 2, 1, bias=False), nn.BatchNorm2d(24),
                                   nn.ReLU(inplace=True))
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_channels = 24
        stages = []
        for index, (channels, repeats) in enumerate(zip(stage_channels, stage_repeats)):
            units = [ShuffleV1Unit(in_channels, channels, groups, stride=2, group_first=index > 0)]
            units += [ShuffleV1Unit(channels, channels, groups, stride=1) for _ in range(repeats - 1)]
            stages.append(nn.Sequential(*units))
            in_channels = channels
        self.stage2, self.stage3, self.stage4 = stages
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.conv1(x))
        x = self.stage4(self.stage3(self.stage2(x)))
        x = x.mean([2, 3])  # global average pool
        return self.fc(x)


def shufflenet_v1_g3(num_classes: int = 1000) -> ShuffleNetV1:
    """ShuffleNet 1x with g = 3 groups (stage widths 240, 480, 960)."""
    return ShuffleNetV1(groups=3, num_classes=num_classes)


# --------------------------------------------------------------------------- ShuffleNet v2


def depthwise_conv(channels: int, stride: int) -> nn.Conv2d:
    """3x3 depthwise convolution without bias."""
    return nn.Conv2d(channels, channels, 3, stride, 1, groups=channels, bias=False)


class ShuffleV2Unit(nn.Module):
    """The ShuffleNet v2 unit (Figure 3 c, d).

    Stride 1: the channels are split in half; one half passes through, the other goes
    through 1x1 conv -> BN -> ReLU -> 3x3 depthwise -> BN -> 1x1 conv -> BN -> ReLU.
    Stride 2: no split; both branches see the whole input and the left one is 3x3
    depthwise (stride 2) -> BN -> 1x1 conv -> BN -> ReLU. The halves are concatenated and
    shuffled with 2 groups.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        branch = out_channels // 2
        if stride == 2:
            self.branch1 = nn.Sequential(
                depthwise_conv(in_channels, stride),
                nn.BatchNorm2d(in_channels),
                nn.Conv2d(in_channels, branch, 1, bias=False),
                nn.BatchNorm2d(branch),
                nn.ReLU(inplace=True),
            )
        else:
            self.branch1 = nn.Sequential()
        self.branch2 = nn.Sequential(
            nn.Conv2d(in_channels if stride == 2 else branch, branch, 1, bias=False),
            nn.BatchNorm2d(branch),
            nn.ReLU(inplace=True),
            depthwise_conv(branch, stride),
            nn.BatchNorm2d(branch),
            nn.Conv2d(branch, branch, 1, bias=False),
            nn.BatchNorm2d(branch),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    """3x3/2 conv -> 3x3/2 max pool -> stages 2-4 -> 1x1 conv -> global pool -> linear."""

    def __init__(self, stage_repeats: tuple[int, int, int] = (4, 8, 4),
                 stage_channels: tuple[int, int, int, int, int] = (24, 116, 232, 464, 1024),
                 num_classes: int = 1000) -> None:
        super().__init__()
        in_channels = stage_channels[0]
        self.conv1 = nn.Sequential(nn.Conv2d(3, in_channels, 3, 2, 1, bias=False),
                                   nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True))
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        stages = []
        for repeats, channels in zip(stage_repeats, stage_channels[1:4]):
            units = [ShuffleV2Unit(in_channels, channels, 2)]
            units += [ShuffleV2Unit(channels, channels, 1) for _ in range(repeats - 1)]
            stages.append(nn.Sequential(*units))
            in_channels = channels
        self.stage2, self.stage3, self.stage4 = stages
        last = stage_channels[-1]
        self.conv5 = nn.Sequential(nn.Conv2d(in_channels, last, 1, bias=False), nn.BatchNorm2d(last),
                                   nn.ReLU(inplace=True))
        self.fc = nn.Linear(last, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.conv1(x))
        x = self.stage4(self.stage3(self.stage2(x)))
        x = self.conv5(x)
        x = x.mean([2, 3])  # global average pool
        return self.fc(x)


def shufflenet_v2_x1_0(num_classes: int = 1000) -> ShuffleNetV2:
    """ShuffleNet v2 1.0x: stages [4, 8, 4], widths [24, 116, 232, 464, 1024]."""
    return ShuffleNetV2(num_classes=num_classes)
