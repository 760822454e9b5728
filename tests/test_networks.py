"""Checks of csa_nb.networks against the paper's tables (Tab. 3, Tab. 12) and against the released code's hook points.

The expected layer lists below are typed in from the tables, layer by layer, and the parameter counts are computed from
them independently of the code under test.
"""
import os

import pytest
import torch
from torch import nn

from csa_nb.config import make_config
from csa_nb.networks import (CSAGenerator, RefinementNet, RoughNet, MIDDLE_LAYERS, count_parameters,
                             network_depth)

torch.set_num_threads(1)
slow = pytest.mark.skipif(not os.environ.get("CSA_SLOW"), reason="slow: set CSA_SLOW=1 to run")

# (kind, kernel, stride, dilation, padding, in, out); kind: C = Conv2d, T = ConvTranspose2d. Tab. 3, 3-channel input.
TABLE_3 = (
    [("C", 4, 2, 1, 1, 3, 64), ("C", 4, 2, 1, 1, 64, 128), ("C", 4, 2, 1, 1, 128, 256), ("C", 4, 2, 1, 1, 256, 512)]
    + [("C", 4, 2, 1, 1, 512, 512)] * 4  # Layers 5-8
    + [("T", 4, 2, 1, 1, 512, 512)]  # Layer 9
    + [("T", 4, 2, 1, 1, 1024, 512)] * 3  # Layers 10-12
    + [("T", 4, 2, 1, 1, 1024, 256), ("T", 4, 2, 1, 1, 512, 128), ("T", 4, 2, 1, 1, 256, 64), ("T", 4, 2, 1, 1, 128, 3)]
)
TABLE_3_NORMS = [128, 256, 512, 512, 512, 512] + [512, 512, 512, 512, 256, 128, 64]  # IN after Layers 2-7 and 9-15

# Tab. 12 (Layer 1 .. Layer 18), input 6 channels, the middle layer left out.
TABLE_12 = (
    [("C", 3, 1, 1, 1, 6, 64)]  # Layer 1
    + [("C", 4, 2, 2, 3, 64, 64), ("C", 3, 1, 1, 1, 64, 128)]  # Layer 2
    + [("C", 4, 2, 2, 3, 128, 128), ("C", 3, 1, 1, 1, 128, 256)]  # Layer 3
    + [("C", 4, 2, 2, 3, 256, 256), ("C", 3, 1, 1, 1, 256, 512)]  # Layer 4 (CSA after the 3x3 conv)
    + [("C", 4, 2, 2, 3, 512, 512), ("C", 3, 1, 1, 1, 512, 512)] * 4  # Layers 5-8
    + [("C", 4, 2, 1, 1, 512, 512)]  # Layer 9
    + [("T", 4, 2, 1, 1, 512, 512)]  # Layer 10
    + [("T", 3, 1, 1, 1, 1024, 512), ("T", 4, 2, 1, 1, 512, 512)] * 4  # Layers 11-14
    + [("T", 3, 1, 1, 1, 1024, 256), ("T", 4, 2, 1, 1, 256, 256)]  # Layer 15
    + [("T", 3, 1, 1, 1, 512, 128), ("T", 4, 2, 1, 1, 128, 128)]  # Layer 16
    + [("T", 3, 1, 1, 1, 256, 64), ("T", 4, 2, 1, 1, 64, 64)]  # Layer 17
    + [("T", 3, 1, 1, 1, 128, 3)]  # Layer 18
)
TABLE_12_NORMS = ([64, 128, 128, 256, 256, 512] + [512, 512] * 4  # encoder, Layers 2-8 (two INs each)
                  + [512] + [512, 512] * 4 + [256, 256, 128, 128, 64, 64])  # decoder, Layers 10-17


def conv_specs(module):
    "The convolutions of `module` in registration order, as table rows."
    rows = []
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            rows.append(("T" if isinstance(layer, nn.ConvTranspose2d) else "C", layer.kernel_size[0], layer.stride[0],
                         layer.dilation[0], layer.padding[0], layer.in_channels, layer.out_channels))
    return rows


def norm_channels(module):
    return [layer.num_features for layer in module.modules() if isinstance(layer, nn.InstanceNorm2d)]


def table_parameter_count(rows, norms):
    "Weights + biases of every conv row, plus scale and shift of every affine InstanceNorm."
    return sum(k * k * cin * cout + cout for _, k, _, _, _, cin, cout in rows) + sum(2 * c for c in norms)


@pytest.fixture(scope="module")
def paper_generator():
    model_cfg = make_config("paper", {"model": {"middle": "conv", "rough_mask_channel": False}}).model
    return CSAGenerator(model_cfg, image_size=256)


def test_rough_net_is_table_3(paper_generator):
    rough = paper_generator.rough
    assert conv_specs(rough) == TABLE_3
    assert norm_channels(rough) == TABLE_3_NORMS
    assert count_parameters(rough) == table_parameter_count(TABLE_3, TABLE_3_NORMS)
    assert all(layer.affine for layer in rough.modules() if isinstance(layer, nn.InstanceNorm2d))
    assert isinstance(rough.head[-1], nn.Tanh)


def test_rough_mask_channel_adds_one_input_channel():
    with_mask, without = RoughNet(64, 8, in_channels=4), RoughNet(64, 8, in_channels=3)
    assert count_parameters(with_mask) - count_parameters(without) == 4 * 4 * 8


def test_refinement_net_is_table_12(paper_generator):
    refinement = paper_generator.refinement
    middle = refinement.middle
    rows = conv_specs(refinement)[: len(conv_specs(refinement)) - len(conv_specs(middle))]  # the middle layer is registered last
    assert rows == TABLE_12
    assert norm_channels(refinement) == TABLE_12_NORMS
    expected = table_parameter_count(TABLE_12, TABLE_12_NORMS)
    assert count_parameters(refinement) - count_parameters(middle) == expected
    assert count_parameters(middle) == 512 * 512 * 9 + 512  # Tab. 6 "With Conv": one 3x3 conv
    assert not isinstance(refinement.head[-1], nn.Tanh)  # Tab. 12 ends without tanh, and so does the paper profile
    assert refinement.middle_size == 32


def test_paper_parameter_totals(paper_generator):
    "The totals the notebook prints, from the tables alone (3-channel rough input, no middle layer)."
    rough = table_parameter_count(TABLE_3, TABLE_3_NORMS)
    refinement = table_parameter_count(TABLE_12, TABLE_12_NORMS)
    assert (rough, refinement) == (count_parameters(paper_generator.rough),
                                   count_parameters(paper_generator.refinement) - 512 * 512 * 9 - 512)
    print(f"Tab. 3: {rough:,} parameters; Tab. 12: {refinement:,}")


@slow
def test_full_width_forward_backward_at_256(paper_generator):
    paper_generator.zero_grad()
    mask = torch.zeros(1, 1, 256, 256)
    mask[..., 64:192, 64:192] = 1
    out = paper_generator(torch.rand(1, 3, 256, 256) * 2 - 1, mask)
    assert out.composited.shape == out.rough.shape == (1, 3, 256, 256)
    assert out.middle_features.shape == out.decoder_features.shape == (1, 512, 32, 32)
    assert out.feature_mask.sum().item() == 16 * 16
    assert out.feature_mask[0, 0, 8:24, 8:24].sum().item() == 16 * 16
    out.decoder_features.pow(2).mean().backward()
    # Layer 2's 3x3 conv sits before the middle layer; the loss on decoder features reaches it
    assert paper_generator.refinement.encoder[0].widen[1].weight.grad.abs().sum() > 0


class Recorder(nn.Module):
    "A stand-in middle layer that records its input and output and reports a fake attention map."

    def forward(self, features, mask, return_attention=False):
        self.received = features.detach().clone()
        self.mask = mask
        out = features * (1 + mask)
        self.returned = out.detach().clone()
        return (out, mask.flatten(1)) if return_attention else out


@pytest.mark.parametrize("level", [2, 3, 4])
def test_hook_points_match_the_released_code(level):
    """middle_features = the middle layer's output (before its norm); decoder_features = the first c_L channels of the
    decoder input at the middle resolution (where the released code's innerCos2 narrows), the rest being the skip."""
    torch.manual_seed(level)
    size, width = 64, 8
    net = RefinementNet(Recorder(), image_size=size, width=width, csa_level=level)
    depth, channels = network_depth(size), width * min(2 ** level, 8)
    seen = {}
    widen = net.encoder[level - 1].widen
    widen.register_forward_hook(lambda module, args, output: seen.__setitem__("widen", output.detach()))
    consumer = net.decoder[depth - level]  # the decoder block that takes the middle resolution up
    consumer.register_forward_hook(lambda module, args, output: seen.__setitem__("consumer_input", args[0].detach()))
    side = size // 2 ** level
    feature_mask = (torch.rand(2, 1, side, side) > 0.5).float()
    with torch.no_grad():
        out = net(torch.randn(2, 6, size, size), feature_mask, return_attention=True)
        skip = net.encoder[level - 1].norm(out.middle_features)
    assert torch.equal(net.middle.received, seen["widen"])  # the middle layer sees the 3x3 conv's output
    assert torch.equal(out.middle_features, net.middle.returned)
    assert net.middle.mask is feature_mask
    assert torch.equal(out.decoder_features, seen["consumer_input"][:, :channels])
    assert torch.equal(seen["consumer_input"][:, channels:], skip)
    assert torch.equal(out.attention, feature_mask.flatten(1))


def test_attention_is_none_without_request_or_support():
    net = RefinementNet(Recorder(), image_size=32, width=4, csa_level=2)
    with torch.no_grad():
        assert net(torch.randn(1, 6, 32, 32), torch.zeros(1, 1, 8, 8)).attention is None
    model_cfg = make_config("smoke", {"model": {"middle": "conv"}}).model
    with torch.no_grad():
        out = CSAGenerator(model_cfg, 64)(torch.zeros(1, 3, 64, 64), torch.ones(1, 1, 64, 64), return_attention=True)
    assert out.attention is None


def smoke_masks(batch, size):
    masks = torch.zeros(batch, 1, size, size)
    for i in range(batch):
        top, left = (7 * i) % (size // 2), (11 * i) % (size // 2)
        masks[i, :, top: top + size // 3, left: left + size // 2] = 1
    return masks


@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("middle", ["conv", "local-stand-in"])
def test_smoke_generator_batches(batch, middle, monkeypatch):
    if middle == "local-stand-in":
        monkeypatch.setitem(MIDDLE_LAYERS, middle, lambda channels, cfg: Recorder())
    model_cfg = make_config("smoke", {"model": {"middle": middle}}).model
    torch.manual_seed(0)
    generator = CSAGenerator(model_cfg, 64)
    image, masks = torch.rand(batch, 3, 64, 64) * 2 - 1, smoke_masks(batch, 64)
    out = generator(image, masks)
    assert out.composited.shape == (batch, 3, 64, 64)
    assert out.feature_mask.shape == (batch, 1, 8, 8)
    assert torch.equal(out.composited * (1 - masks), image * (1 - masks))
    # erasing makes the result independent of whatever sits under the hole
    with torch.no_grad():
        other = generator(torch.where(masks > 0, -image, image), masks)
    torch.testing.assert_close(other.composited, out.composited.detach())
    (out.composited - image).abs().mean().backward()
    before_middle = generator.refinement.encoder[model_cfg.csa_level - 1].widen[1].weight.grad
    assert before_middle is not None and before_middle.abs().sum() > 0
    assert generator.rough.encoder[0].weight.grad.abs().sum() > 0


def test_official_switches():
    "refine_tanh off gives unbounded outputs; hole_fill and rough_mask_channel change the input as documented."
    model_cfg = make_config("smoke", {"model": {"middle": "conv", "refine_tanh": False, "rough_mask_channel": False,
                                                "hole_fill": "official"}}).model
    generator = CSAGenerator(model_cfg, 64)
    assert not isinstance(generator.refinement.head[-1], nn.Tanh)
    assert generator.rough.encoder[0].in_channels == 3
    with pytest.raises(ValueError, match="hole_fill"):
        CSAGenerator(make_config("smoke", {"model": {"hole_fill": "black"}}).model, 64)
    with pytest.raises(ValueError, match="unknown middle layer 'nope'"):
        CSAGenerator(make_config("smoke", {"model": {"middle": "nope"}}).model, 64)
    with pytest.raises(ValueError, match="csa_level must be between 1 and 5"):
        CSAGenerator(make_config("smoke", {"model": {"middle": "conv", "csa_level": 6}}).model, 64)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_forward():
    model_cfg = make_config("smoke", {"model": {"middle": "conv"}}).model
    generator = CSAGenerator(model_cfg, 64).cuda()
    masks = smoke_masks(2, 64).cuda()
    out = generator(torch.rand(2, 3, 64, 64, device="cuda") * 2 - 1, masks)
    assert out.composited.is_cuda and out.feature_mask.is_cuda


@pytest.mark.parametrize("name", ["csa", "ca", "shift"])
def test_registered_attention_layers(name):
    "The real middle layers: shape kept, gradient reaches the encoder before them."
    model_cfg = make_config("smoke", {"model": {"middle": name}}).model
    torch.manual_seed(0)
    generator = CSAGenerator(model_cfg, 64)
    image, masks = torch.rand(2, 3, 64, 64) * 2 - 1, smoke_masks(2, 64)
    out = generator(image, masks)
    assert out.middle_features.shape == out.decoder_features.shape == (2, 64, 8, 8)
    out.middle_features.pow(2).mean().backward()
    grad = generator.refinement.encoder[model_cfg.csa_level - 1].widen[1].weight.grad
    assert grad is not None and grad.abs().sum() > 0


# ---------------------------------------------------------------------------------------------------------------------
# Oracle: the same networks written the way pix2pix and the released code write them, as recursively nested skip blocks
# (`cat([block(x), x])` at every level), with the table's layers. Parameters are registered in the same order, so the
# weights can be copied across and the outputs must agree exactly: this checks the wiring (skip order, which encoder
# output meets which decoder output, where the middle layer and its mask go) independently of the loop-based code.
# ---------------------------------------------------------------------------------------------------------------------
class NestedRoughBlock(nn.Module):
    def __init__(self, outer, inner, input_channels=None, submodule=None, outermost=False, innermost=False):
        super().__init__()
        self.outermost = outermost
        input_channels = input_channels or outer
        down = nn.Conv2d(input_channels, inner, 4, 2, 1)
        if outermost:
            layers = [down, submodule, nn.ReLU(), nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1), nn.Tanh()]
        elif innermost:
            layers = [nn.LeakyReLU(0.2), down, nn.ReLU(), nn.ConvTranspose2d(inner, outer, 4, 2, 1), nn.InstanceNorm2d(outer, affine=True)]
        else:
            layers = [nn.LeakyReLU(0.2), down, nn.InstanceNorm2d(inner, affine=True), submodule,
                      nn.ReLU(), nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1), nn.InstanceNorm2d(outer, affine=True)]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x) if self.outermost else torch.cat([self.model(x), x], 1)


def nested_rough_net(levels, width, in_channels):
    channels = [width * min(2 ** i, 8) for i in range(levels)]
    block = NestedRoughBlock(channels[-2], channels[-1], innermost=True)
    for level in range(levels - 2, 0, -1):
        block = NestedRoughBlock(channels[level - 1], channels[level], submodule=block)
    return NestedRoughBlock(3, channels[0], input_channels=in_channels, submodule=block, outermost=True)


class MaskedScale(nn.Module):
    "A parameter-free middle layer that uses its mask: doubles the features inside the hole."

    def forward(self, features, mask):
        return features * (1 + mask)


class NestedRefinementBlock(nn.Module):
    def __init__(self, outer, inner, holder, input_channels=None, submodule=None, outermost=False, innermost=False, middle=False):
        super().__init__()
        self.outermost, self.holder, self.middle = outermost, holder, middle
        input_channels = input_channels or outer
        if outermost:
            self.down = nn.Conv2d(input_channels, inner, 3, 1, 1)
            self.submodule = submodule
            self.up = nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(inner * 2, outer, 3, 1, 1), nn.Tanh())
        elif innermost:
            self.down = nn.Sequential(nn.LeakyReLU(0.2), nn.Conv2d(input_channels, inner, 4, 2, 1))
            self.submodule = None
            self.up = nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(inner, outer, 4, 2, 1), nn.InstanceNorm2d(outer, affine=True))
        else:
            self.down = nn.Sequential(nn.LeakyReLU(0.2), nn.Conv2d(input_channels, input_channels, 4, 2, 3, dilation=2),
                                      nn.InstanceNorm2d(input_channels, affine=True), nn.ReLU(), nn.Conv2d(input_channels, inner, 3, 1, 1))
            self.norm = nn.InstanceNorm2d(inner, affine=True)
            self.submodule = submodule
            self.up = nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(inner * 2, outer, 3, 1, 1), nn.InstanceNorm2d(outer, affine=True),
                                    nn.ReLU(), nn.ConvTranspose2d(outer, outer, 4, 2, 1), nn.InstanceNorm2d(outer, affine=True))

    def forward(self, x):
        h = self.down(x)
        if self.middle:
            h = MaskedScale()(h, self.holder["mask"])
            self.holder["middle"] = h
        if hasattr(self, "norm"):
            h = self.norm(h)
        if self.submodule is not None:
            h = self.submodule(h)
            if self.middle:
                self.holder["decoder"] = h[:, : h.shape[1] // 2]  # the released code's innerCos2 narrow
        h = self.up(h)
        return h if self.outermost else torch.cat([h, x], 1)


def nested_refinement_net(levels, width, level, holder):
    channels = [width * min(2 ** i, 8) for i in range(levels)]
    block = NestedRefinementBlock(channels[-1], channels[-1], holder, innermost=True)
    for depth in range(levels - 1, 0, -1):  # the block that goes down from `depth - 1` to `depth`
        block = NestedRefinementBlock(channels[depth - 1], channels[depth], holder, submodule=block, middle=depth == level)
    return NestedRefinementBlock(3, channels[0], holder, input_channels=6, submodule=block, outermost=True)


def copy_parameters(source, target):
    source_parameters, target_parameters = list(source.parameters()), list(target.parameters())
    assert [p.shape for p in source_parameters] == [p.shape for p in target_parameters]
    with torch.no_grad():
        for s, t in zip(source_parameters, target_parameters):
            t.copy_(s + 0.05 * torch.randn_like(s))  # perturbed: norms must not sit at their identity init
            s.copy_(t)


@pytest.mark.parametrize("size,width", [(16, 4), (64, 8)])
def test_rough_net_matches_nested_reference(size, width):
    torch.manual_seed(size)
    net, reference = RoughNet(size, width, in_channels=4), nested_rough_net(network_depth(size), width, 4)
    copy_parameters(net, reference)
    x = torch.randn(3, 4, size, size)
    with torch.no_grad():
        torch.testing.assert_close(net(x), reference(x), rtol=0, atol=1e-6)


@pytest.mark.parametrize("size,width,level", [(32, 4, 2), (64, 8, 2), (64, 8, 3), (64, 8, 4)])
def test_refinement_net_matches_nested_reference(size, width, level):
    torch.manual_seed(level)
    holder = {}
    net, reference = RefinementNet(MaskedScale(), size, width, level), nested_refinement_net(network_depth(size), width, level, holder)
    copy_parameters(net, reference)
    side = size // 2 ** level
    x, holder["mask"] = torch.randn(3, 6, size, size), (torch.rand(3, 1, side, side) > 0.5).float()
    with torch.no_grad():
        out, expected = net(x, holder["mask"]), reference(x)
    torch.testing.assert_close(out.image, expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(out.middle_features, holder["middle"], rtol=0, atol=1e-6)
    torch.testing.assert_close(out.decoder_features, holder["decoder"], rtol=0, atol=1e-6)


def test_every_registered_model_keeps_the_interface():
    "Each model build_model knows (after its lazy imports) is an InpaintingModel whose generator keeps the contract."
    from csa_nb import networks
    networks._import_model_modules()
    assert networks.MODELS, "no model registered"
    image, masks = torch.rand(2, 3, 64, 64) * 2 - 1, smoke_masks(2, 64)
    for name in sorted(networks.MODELS):
        torch.manual_seed(0)
        model = networks.build_model(make_config("smoke", {"model": {"name": name}}))
        assert isinstance(model, networks.InpaintingModel) and isinstance(model.discriminators, nn.ModuleDict), name
        with torch.no_grad():
            output = model(image, masks)
        assert isinstance(output, networks.GeneratorOutput), name
        assert output.composited.shape == (2, 3, 64, 64), name
        torch.testing.assert_close(output.composited * (1 - masks), image * (1 - masks), msg=name)


def test_build_model_names_the_known_models():
    with pytest.raises(ValueError, match=r"unknown model 'nope'; known: .*pconv"):
        from csa_nb.networks import build_model
        build_model(make_config("smoke", {"model": {"name": "nope"}}))


@pytest.mark.parametrize("middle", ["csa", "ca", "shift"])
def test_hole_over_the_whole_feature_map_trains_on(middle):
    "A sample whose hole covers the middle layer's whole map (a huge hole at a small size) warns and passes through."
    model_cfg = make_config("smoke", {"model": {"middle": middle}}).model
    torch.manual_seed(0)
    generator = CSAGenerator(model_cfg, 64)
    masks = smoke_masks(2, 64)
    masks[0] = 1
    masks[0, :, :2, :2] = 0  # a few known pixels: a valid image mask, all hole at 8x8
    image = torch.rand(2, 3, 64, 64) * 2 - 1
    with pytest.warns(UserWarning, match=r"sample\(s\) \[0\] covers the whole \(8, 8\) feature map"):
        out = generator(image, masks, return_attention=True)
    assert out.feature_mask[0].sum() == 64 and torch.isfinite(out.composited).all()
    if middle == "csa":  # the passed-through sample has no attention rows; the other keeps its own
        assert out.attention[0].shape == (0, 64) and out.attention[1].shape[0] == int(out.feature_mask[1].sum())
    (out.composited - image).abs().mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in generator.parameters() if p.grad is not None)
