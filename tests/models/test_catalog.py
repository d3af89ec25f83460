"""The reference architectures: catalog, published parameter counts, shapes, and the notes' blocks.

Models are built and run on the meta device (no weight memory, no compute), so the whole
catalog, VGG-19 included, is checked in a few seconds.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from flopscope.models import catalog  # noqa: E402
from flopscope.models.dilated import ContextModule, receptive_field  # noqa: E402
from flopscope.models.myconv import MyConv  # noqa: E402
from flopscope.models.shufflenet import channel_shuffle  # noqa: E402

NAMES = ["vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
         "resnet18", "resnet34", "resnet50", "resnet101", "mobilenet_v2", "shufflenet_v1_g3",
         "shufflenet_v2_x1_0", "dilated_context", "myconv"]

OUTPUT_SHAPES = {name: (1, 1000) for name in NAMES}
OUTPUT_SHAPES["dilated_context"] = (1, 21, 256, 256)
OUTPUT_SHAPES["myconv"] = (1, 64, 56, 56)

WITH_PARAMS = [n for n in NAMES if catalog.spec(n).published_params is not None]


def meta_build(name: str) -> nn.Module:
    with torch.device("meta"):
        return catalog.build(name)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------- catalog


def test_names():
    assert catalog.names() == NAMES
    assert all(catalog.spec(n).name == n for n in NAMES)


def test_unknown_name_lists_the_choices():
    with pytest.raises(KeyError) as info:
        catalog.spec("resnet5")
    message = info.value.args[0]
    assert "resnet5" in message and "resnet50" in message and "myconv" in message


def test_spec_is_frozen():
    with pytest.raises(AttributeError):
        catalog.spec("resnet18").published_params = 0  # type: ignore[misc]


def test_catalog_import_does_not_import_torch():
    code = ("import sys; from flopscope.models.catalog import names; import flopscope.models; "
            "names(); assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_published_figures_are_where_the_brief_puts_them():
    assert catalog.spec("resnet50").published_gmacs == 4.089
    assert catalog.spec("vgg16_bn").published_params == 138_365_992
    assert catalog.spec("shufflenet_v1_g3").published_params is None   # the paper gives ~1.9M
    assert catalog.spec("shufflenet_v1_g3").published_gmacs == 0.140
    assert all(catalog.spec(n).source for n in NAMES)


# --------------------------------------------------------------------------- every model


@pytest.mark.parametrize("name", WITH_PARAMS)
def test_parameter_count_matches_published(name):
    assert n_params(meta_build(name)) == catalog.spec(name).published_params


@pytest.mark.parametrize("name", NAMES)
def test_forward_shape_on_meta(name):
    model = meta_build(name)
    assert not model.training
    with torch.no_grad():
        out = model(torch.empty(catalog.spec(name).input_shape, device="meta"))
    assert tuple(out.shape) == OUTPUT_SHAPES[name]


def test_own_counts_without_published_figures():
    assert n_params(meta_build("shufflenet_v1_g3")) == 1_865_728
    assert n_params(meta_build("myconv")) == 15_360
    assert n_params(meta_build("dilated_context")) == 419_517


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "shufflenet_v2_x1_0"])
def test_fvcore_macs_match_published(name):
    fvcore = pytest.importorskip("fvcore.nn")
    spec = catalog.spec(name)
    analysis = fvcore.FlopCountAnalysis(catalog.build(name), torch.zeros(spec.input_shape))
    by_op = analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).by_operator()
    macs = by_op["conv"] + by_op["linear"]           # fvcore counts one "flop" per MAC
    assert round(macs / 1e9, 3) == spec.published_gmacs


# --------------------------------------------------------------------------- structure


def test_resnet_bottleneck_strides_in_the_3x3():
    model = meta_build("resnet50")
    first = model.layer2[0]
    assert first.conv1.stride == (1, 1) and first.conv2.stride == (2, 2)
    assert first.downsample[0].kernel_size == (1, 1) and first.downsample[0].stride == (2, 2)
    assert model.layer1[0].downsample is not None and model.layer1[1].downsample is None


def test_shufflenet_v1_grouping():
    model = meta_build("shufflenet_v1_g3")
    assert [s[-1].gconv2.out_channels for s in (model.stage2, model.stage3, model.stage4)] == [240, 480, 960]
    assert [len(s) for s in (model.stage2, model.stage3, model.stage4)] == [4, 8, 4]
    assert model.stage2[0].gconv1.groups == 1                       # 24 input channels: not grouped
    assert model.stage2[0].gconv2.groups == 3 and model.stage2[1].gconv1.groups == 3
    assert model.stage3[0].gconv1.groups == 3
    assert model.stage2[0].gconv2.out_channels == 240 - 24          # concatenated with the pooled input
    assert model.stage2[1].dwconv.groups == 60                      # depthwise, bottleneck = out / 4


def test_mobilenet_v2_depthwise_and_relu6():
    model = meta_build("mobilenet_v2")
    depthwise = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
    assert len(depthwise) == 17 and all(m.groups == m.in_channels == m.out_channels for m in depthwise)
    assert any(isinstance(m, nn.ReLU6) for m in model.modules())
    assert model.classifier[0].p == 0.2 and model.classifier[1].in_features == 1280


# --------------------------------------------------------------------------- channel shuffle


def test_channel_shuffle_by_hand():
    x = torch.arange(6.0).view(1, 6, 1, 1)
    # two groups [0 1 2] [3 4 5] -> take one from each in turn
    assert channel_shuffle(x, 2).flatten().tolist() == [0, 3, 1, 4, 2, 5]
    # three groups [0 1] [2 3] [4 5]
    assert channel_shuffle(x, 3).flatten().tolist() == [0, 2, 4, 1, 3, 5]


def test_channel_shuffle_moves_whole_maps():
    x = torch.arange(2 * 4 * 2 * 3.0).view(2, 4, 2, 3)
    out = channel_shuffle(x, 2)
    assert out.shape == x.shape and out.is_contiguous()
    for source, target in enumerate([0, 2, 1, 3]):   # channel g*2 + j -> j*2 + g
        assert torch.equal(out[:, target], x[:, source])


# --------------------------------------------------------------------------- the notes' blocks


class NotesMyConv(nn.Module):
    """The notes' MyConv, as printed there (the reference for ours)."""

    def __init__(self):
        super().__init__()
        self.g_conv1 = nn.Conv2d(32, 64, 3, 1, 1, groups=8)
        self.g_conv2 = nn.Conv2d(64, 64, 3, 1, 1, groups=8)
        self.conv3 = nn.Conv2d(64, 64, 1, 1)
        self.conv4 = nn.Conv2d(64, 64, 1, 1)

    def channel_shuffle(self, x, groups):
        batch_size, num_channels, height, width = x.size()
        channels_per_group = num_channels // groups
        x = x.view(batch_size, groups, channels_per_group, height, width)
        x = torch.transpose(x, 1, 2).contiguous()
        x = x.view(batch_size, -1, height, width)
        return x

    def forward(self, x):
        x = self.g_conv1(x)
        x = self.channel_shuffle(x, 8)
        x = self.g_conv2(x)
        x = self.conv3(x)
        x = F.relu(x)
        x = self.conv4(x)
        return x


def test_myconv_matches_the_notes():
    torch.manual_seed(0)
    ours, notes = MyConv(), NotesMyConv()
    notes.load_state_dict(ours.state_dict())             # same names and shapes, strict
    x = torch.randn(2, 32, 8, 8)
    assert torch.allclose(ours(x), notes(x))
    # grouped conv divides the parameters by the groups: 3·3·32·64/8 weights + 64 biases
    assert ours.g_conv1.weight.numel() + ours.g_conv1.bias.numel() == 3 * 3 * 32 * 64 // 8 + 64


def test_context_module_follows_the_paper():
    module = ContextModule(21)
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    assert [c.dilation[0] for c in convs] == [1, 1, 2, 4, 8, 16, 1, 1]
    assert [c.kernel_size[0] for c in convs] == [3] * 7 + [1]
    assert n_params(module) == 64 * 21 ** 2 + 8 * 21                 # 64·C² weights, 8·C biases
    assert receptive_field() == 67
    x = torch.randn(1, 21, 16, 16).relu()                            # identity init keeps x >= 0
    assert torch.allclose(module(x), x)
