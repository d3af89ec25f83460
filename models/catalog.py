"""The catalog of reference architectures: name -> factory, input shape, published figures.

Importing this module does not import torch; :func:`build` imports the model module it
needs. Published figures are for a 1x3x224x224 input. Parameter counts are exact; GMACs
are torchvision's documented "GFLOPS" column (``_ops`` in its weights metadata), which
counts one multiply-accumulate of the convolutions and linear layers as one operation.

>>> names()[:3]
['vgg11', 'vgg11_bn', 'vgg13']
>>> spec("resnet50").published_params
25557032
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

#: torchvision's classification model table (num_params and GFLOPS of each weights entry)
TORCHVISION_DOCS = "https://pytorch.org/vision/stable/models.html"


@dataclass(frozen=True)
class ModelSpec:
    """One reference architecture.

    ``factory`` is ``"module:function"`` inside ``flopscope.models``; ``input_shape`` is the
    example input (batch 1); ``published_params`` (exact) and ``published_gmacs`` (3
    decimals) are the figures in ``source``, None where there is none to compare with.
    """

    name: str
    factory: str
    input_shape: tuple[int, ...]
    description: str
    published_params: int | None
    published_gmacs: float | None
    source: str


_IMAGE = (1, 3, 224, 224)


def _vgg(depth: int, config: str, params: int, gmacs: float, bn: bool) -> ModelSpec:
    name = f"vgg{depth}_bn" if bn else f"vgg{depth}"
    weights = f"VGG{depth}_BN_Weights" if bn else f"VGG{depth}_Weights"
    return ModelSpec(
        name=name, factory=f"vgg:{name}", input_shape=_IMAGE,
        description=f"VGG-{depth} (configuration {config})"
                    + (" with BatchNorm after each convolution" if bn else "")
                    + "; 3x3 convolutions, 7x7 adaptive pool, 4096-4096 classifier",
        published_params=params, published_gmacs=gmacs,
        source=f"torchvision model docs, {weights}.IMAGENET1K_V1 ({TORCHVISION_DOCS}); "
               "Simonyan & Zisserman, ICLR 2015, arXiv:1409.1556",
    )


def _resnet(depth: int, block: str, params: int, gmacs: float) -> ModelSpec:
    return ModelSpec(
        name=f"resnet{depth}", factory=f"resnet:resnet{depth}", input_shape=_IMAGE,
        description=f"ResNet-{depth} ({block} blocks, projection shortcuts, stride in the 3x3 conv)",
        published_params=params, published_gmacs=gmacs,
        source=f"torchvision model docs, ResNet{depth}_Weights.IMAGENET1K_V1 ({TORCHVISION_DOCS}); "
               "He et al., CVPR 2016, arXiv:1512.03385",
    )


_SPECS = [
    _vgg(11, "A", 132_863_336, 7.609, bn=False),
    _vgg(11, "A", 132_868_840, 7.609, bn=True),
    _vgg(13, "B", 133_047_848, 11.308, bn=False),
    _vgg(13, "B", 133_053_736, 11.308, bn=True),
    _vgg(16, "D", 138_357_544, 15.470, bn=False),
    _vgg(16, "D", 138_365_992, 15.470, bn=True),
    _vgg(19, "E", 143_667_240, 19.632, bn=False),
    _vgg(19, "E", 143_678_248, 19.632, bn=True),
    _resnet(18, "BasicBlock", 11_689_512, 1.814),
    _resnet(34, "BasicBlock", 21_797_672, 3.664),
    _resnet(50, "Bottleneck", 25_557_032, 4.089),
    _resnet(101, "Bottleneck", 44_549_160, 7.801),
    ModelSpec(
        name="mobilenet_v2", factory="mobilenet:mobilenet_v2", input_shape=_IMAGE,
        description="MobileNetV2 1.0 (inverted residuals, depthwise 3x3, ReLU6, 1280-channel head)",
        published_params=3_504_872, published_gmacs=0.301,
        source=f"torchvision model docs, MobileNet_V2_Weights.IMAGENET1K_V1 ({TORCHVISION_DOCS}); "
               "Sandler et al., CVPR 2018, arXiv:1801.04381",
    ),
    ModelSpec(
        name="shufflenet_v1_g3", factory="shufflenet:shufflenet_v1_g3", input_shape=_IMAGE,
        description="ShuffleNet 1x, g = 3 (grouped 1x1 convs + channel shuffle, stages 240/480/960). "
                    "Ours: 1,865,728 params, 137,460,672 MACs. The paper gives 140 MFLOPs (MACs) and "
                    "no exact parameter count; the authors' ShuffleNet-Series README gives ~1.9M "
                    "params and 138M FLOPs",
        published_params=None, published_gmacs=0.140,
        source="Zhang et al., \"ShuffleNet: An Extremely Efficient Convolutional Neural Network for "
               "Mobile Devices\", CVPR 2018, arXiv:1707.01083 (ShuffleNet 1x (g = 3): 140 MFLOPs); "
               "github.com/megvii-model/ShuffleNet-Series (1.9M params)",
    ),
    ModelSpec(
        name="shufflenet_v2_x1_0", factory="shufflenet:shufflenet_v2_x1_0", input_shape=_IMAGE,
        description="ShuffleNet v2 1.0x (channel split, depthwise 3x3, shuffle; stages [4, 8, 4])",
        published_params=2_278_604, published_gmacs=0.145,
        source=f"torchvision model docs, ShuffleNet_V2_X1_0_Weights.IMAGENET1K_V1 ({TORCHVISION_DOCS}); "
               "Ma et al., ECCV 2018, arXiv:1807.11164",
    ),
    ModelSpec(
        name="dilated_context", factory="dilated:dilated_context", input_shape=(1, 3, 256, 256),
        description="Basic context module (3x3 dilations 1,1,2,4,8,16,1 + 1x1, C = 21; receptive "
                    "field 67 feature-map pixels) on a compact VGG-style stride-8 front-end; "
                    "bilinear x8 to a 21x256x256 dense prediction",
        published_params=None, published_gmacs=None,
        source="Yu & Koltun, \"Multi-Scale Context Aggregation by Dilated Convolutions\", ICLR 2016, "
               "arXiv:1511.07122 (context module); the front-end is ours",
    ),
    ModelSpec(
        name="myconv", factory="myconv:myconv", input_shape=(1, 32, 56, 56),
        description="The course notes' MyConv: grouped 3x3 (32->64, g = 8), channel shuffle, grouped "
                    "3x3 (64->64, g = 8), 1x1, ReLU, 1x1",
        published_params=None, published_gmacs=None,
        source="course notes, section \"Shuffled Grouped Convolution\"",
    ),
]

CATALOG: dict[str, ModelSpec] = {s.name: s for s in _SPECS}


def names() -> list[str]:
    """The catalog's architecture names, in catalog order."""
    return list(CATALOG)


def spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` called ``name``; KeyError naming the choices otherwise."""
    try:
        return CATALOG[name]
    except KeyError:
        raise KeyError(f"unknown reference architecture '{name}'; choose from "
                       f"{', '.join(names())}") from None


def build(name: str) -> nn.Module:
    """Construct the architecture ``name`` in eval mode.

    Inside ``with torch.device("meta"):`` it is built without memory for its weights.
    """
    module_name, _, function = spec(name).factory.partition(":")
    module = importlib.import_module(f"{__package__}.{module_name}")
    return getattr(module, function)().eval()
