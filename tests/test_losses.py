"""Invariants and independent oracles for csa_nb.vgg, csa_nb.losses and csa_nb.discriminators (beyond the notebooks' examples)."""
import pytest
import torch
import torch.nn.functional as F

from csa_nb.config import LossConfig
from csa_nb.discriminators import FeaturePatchDiscriminator, PatchDiscriminator, SRFeatDiscriminator, build_discriminators
from csa_nb.losses import (LossContext, consistency_loss, loss_weights, match_feature_shape, ralsgan_discriminator_loss,
                           ralsgan_generator_loss, reconstruction_loss, weighted_objective)
from csa_nb.vgg import VGG16_LAYERS, VGG16Features, load_vgg16, vgg16_layer_shape

torch.set_num_threads(1)


def test_vgg_matches_torchvision_vgg16():
    "Our features equal torchvision's own vgg16().features run layer by layer, with the same weights."
    import torchvision

    torch.manual_seed(0)
    reference = torchvision.models.vgg16(weights=None).features.eval()
    ours = VGG16Features(reference.state_dict(), layers=("relu3_3", "pool3", "relu4_3"), imagenet_normalise=False)
    image = torch.rand(2, 3, 48, 48) * 2 - 1
    expected, x = {}, image
    with torch.no_grad():
        for index, module in enumerate(reference[:23]):
            x = module(x.clone())
            expected[VGG16_LAYERS[index]] = x
        got = ours(image)
    for name in ("relu3_3", "pool3", "relu4_3"):
        torch.testing.assert_close(got[name], expected[name])


def test_vgg_batch_independent_and_shapes():
    vgg = VGG16Features(layers=("pool3", "relu4_3", "relu5_3"))
    image = torch.rand(3, 3, 64, 64) * 2 - 1
    both, single = vgg(image), vgg(image[1:2])
    for name, value in both.items():
        torch.testing.assert_close(value[1:2], single[name], rtol=1e-4, atol=1e-5)
        channels, side = vgg16_layer_shape(name, 64)
        assert value.shape == (3, channels, side, side)


def test_load_vgg16_rejects_non_state_dict(tmp_path):
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(ValueError, match="not a state dict"):
        load_vgg16(str(tmp_path / "list.pth"))
    (tmp_path / "garbage.pth").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="could not read"):
        load_vgg16(str(tmp_path / "garbage.pth"))


def test_ralsgan_generator_is_discriminator_with_roles_swapped():
    "D_R(real, fake) = D_F(fake, real): the generator's loss is the discriminator's with the two roles exchanged."
    torch.manual_seed(0)
    real, fake = torch.randn(4, 1, 6, 6), torch.randn(4, 1, 6, 6)
    torch.testing.assert_close(ralsgan_generator_loss(real, fake), ralsgan_discriminator_loss(fake, real))


def test_ralsgan_invariant_to_common_shift():
    "Relativistic scores only compare real with fake: adding one constant to both changes nothing."
    torch.manual_seed(1)
    real, fake = torch.randn(2, 64, 3, 3), torch.randn(2, 64, 3, 3)
    for loss in (ralsgan_discriminator_loss, ralsgan_generator_loss):
        torch.testing.assert_close(loss(real + 3.7, fake + 3.7), loss(real, fake))


def test_ralsgan_descent_separates_real_from_fake():
    "A few gradient steps on the discriminator's loss put real scores 1 above the fake ones (relativistic targets +-1)."
    real = torch.zeros(8, requires_grad=True)
    fake = torch.zeros(8, requires_grad=True)
    optimizer = torch.optim.SGD([real, fake], lr=0.5)
    for _ in range(200):
        optimizer.zero_grad()
        ralsgan_discriminator_loss(real, fake).backward()
        optimizer.step()
    assert abs((real.mean() - fake.mean()).item() - 1.0) < 1e-3  # real - mean(fake) = 1 and fake - mean(real) = -1
    assert ralsgan_discriminator_loss(real, fake).item() < 1e-6


def test_reconstruction_loss_is_mean_absolute_error():
    torch.manual_seed(2)
    rough, refined, target = torch.randn(3, 3, 8, 8), torch.randn(3, 3, 8, 8), torch.randn(3, 3, 8, 8)
    expected = F.l1_loss(rough, target) + F.l1_loss(refined, target)
    torch.testing.assert_close(reconstruction_loss(rough, refined, target), expected)


def test_consistency_zero_when_features_equal_target_and_batch_order_free():
    torch.manual_seed(3)
    vgg = torch.rand(4, 512, 8, 8)
    target = match_feature_shape(vgg, 64, (8, 8))
    mask = (torch.rand(4, 1, 8, 8) > 0.3).float()
    assert consistency_loss(target.clone(), target.clone(), vgg, mask).item() == 0.0
    middle, decoder = torch.randn(4, 64, 8, 8), torch.randn(4, 64, 8, 8)
    order = torch.tensor([2, 0, 3, 1])
    for reduction in ("mean", "hole", "sum"):
        torch.testing.assert_close(consistency_loss(middle, decoder, vgg, mask, reduction),
                                   consistency_loss(middle[order], decoder[order], vgg[order], mask[order], reduction))


def test_consistency_reductions_are_one_sum_scaled():
    torch.manual_seed(4)
    middle, decoder, vgg = torch.randn(2, 128, 16, 16), torch.randn(2, 128, 16, 16), torch.rand(2, 512, 8, 8)
    mask = (torch.rand(2, 1, 16, 16) > 0.5).float()
    total = consistency_loss(middle, decoder, vgg, mask, "sum") * 2  # 'sum' averages over the batch
    torch.testing.assert_close(consistency_loss(middle, decoder, vgg, mask, "mean"), total / middle.numel())
    torch.testing.assert_close(consistency_loss(middle, decoder, vgg, mask, "hole"), total / (mask.sum() * 128))


def test_consistency_full_width_uses_relu4_3_unchanged():
    "At 256 px, full width, CSA at 32x32: the target is relu4_3 itself (no resizing, no pooling)."
    torch.manual_seed(5)
    vgg = torch.rand(1, 512, 32, 32)
    middle = torch.randn(1, 512, 32, 32)
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    expected = (((middle - vgg) ** 2) * mask).sum() / middle.numel()
    torch.testing.assert_close(consistency_loss(middle, None, vgg, mask), expected)


def test_loss_weights_ratios_equal_under_official_scaling():
    paper, official = loss_weights(LossConfig()), loss_weights(LossConfig(official_scaling=True))
    for key in ("consistency", "adversarial"):
        assert official[key] / official["reconstruction"] == pytest.approx(paper[key] / paper["reconstruction"])
    context = LossContext(torch.zeros(1, 3, 4, 4), torch.zeros(1, 1, 4, 4), None)
    terms = {"reconstruction": lambda c: torch.tensor(1.0), "consistency": lambda c: torch.tensor(0.0),
             "adversarial": lambda c: {}}
    assert weighted_objective(terms, official, context)[0].item() == pytest.approx(100.0)


@pytest.mark.parametrize("make", [lambda: PatchDiscriminator(width=4), lambda: FeaturePatchDiscriminator("pool3", width=4)])
def test_instance_norm_discriminators_score_each_sample_alone(make):
    "With instance norm, a sample's scores do not depend on the other samples in the batch."
    torch.manual_seed(6)
    discriminator = make()
    inputs = torch.randn(3, 3, 64, 64) if discriminator.input_layer == "image" else torch.randn(3, 256, 16, 16)
    torch.testing.assert_close(discriminator(inputs)[2:3], discriminator(inputs[2:3]), rtol=1e-4, atol=1e-5)


def test_discriminators_widths_scale():
    small = build_discriminators(["patch", "feature_patch", "srfeat"], width=8, image_size=64)
    large = build_discriminators(["patch", "feature_patch", "srfeat"], width=16, image_size=64)
    for name in small:
        assert sum(p.numel() for p in large[name].parameters()) > 2 * sum(p.numel() for p in small[name].parameters())
    assert SRFeatDiscriminator(image_size=128, width=8).feature_side == 8


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_losses_and_discriminators_on_cuda():
    device = torch.device("cuda")
    vgg = load_vgg16("random", layers=("pool3", "relu4_3")).to(device)
    discriminators = build_discriminators(["patch", "feature_patch"], width=8, image_size=64).to(device)
    real = torch.rand(2, 3, 64, 64, device=device) * 2 - 1
    fake = (torch.rand(2, 3, 64, 64, device=device) * 2 - 1).requires_grad_(True)
    real_features, fake_features = vgg(real), vgg(fake)
    loss = ralsgan_generator_loss(discriminators["patch"](real), discriminators["patch"](fake))
    loss = loss + ralsgan_generator_loss(discriminators["feature_patch"](real_features["pool3"]),
                                         discriminators["feature_patch"](fake_features["pool3"]))
    loss.backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0


def test_imagenet_spec_reads_the_torch_hub_cache_and_checks_the_hash(tmp_path, monkeypatch):
    "'imagenet' loads torch.hub.get_dir()/checkpoints/vgg16-397923af.pth, records it, and warns when its sha256 is not torchvision's."
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    source = VGG16Features(layers=("relu3_3",), seed=4)
    (tmp_path / "checkpoints").mkdir()
    path = tmp_path / "checkpoints" / "vgg16-397923af.pth"
    torch.save({f"features.{k}": v for k, v in source.features.state_dict().items()}, path)
    with pytest.warns(UserWarning, match="not torchvision's 397923af"):
        loaded = load_vgg16("imagenet", layers=("relu3_3",))
    assert loaded.weights_description.startswith(f"imagenet:{path} sha256:")
    probe = torch.rand(1, 3, 32, 32) * 2 - 1
    torch.testing.assert_close(loaded(probe)["relu3_3"], source(probe)["relu3_3"])
