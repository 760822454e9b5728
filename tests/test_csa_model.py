"""CSAModel beyond its notebook: the registry, DDP-style wrapped discriminators, batch-size invariance of the losses,
clear errors, a short overfit on one photograph, and CUDA when present."""
import dataclasses

import pytest
import torch
import torch.nn as nn

from csa_nb.config import make_config
from csa_nb.csa_model import CSAModel
from csa_nb.networks import build_model
from csa_nb.vgg import load_vgg16

torch.set_num_threads(1)


def _centre_mask(batch: int, size: int) -> torch.Tensor:
    mask = torch.zeros(batch, 1, size, size)
    mask[..., size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 1
    return mask


@pytest.fixture(scope="module")
def smoke_model():
    torch.manual_seed(0)
    return build_model(make_config("smoke"))


def test_build_model_gives_csa_model(smoke_model):
    assert type(smoke_model) is CSAModel
    assert list(smoke_model.discriminators) == ["patch", "feature_patch"]


class _Wrapper(nn.Module):
    "Stands in for DistributedDataParallel: the real discriminator under `.module`."

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, x):
        return self.module(x)


def test_losses_through_wrapped_discriminators(smoke_model):
    "The trainer swaps in DDP-wrapped discriminators; the losses must see through the wrapper and not change."
    torch.manual_seed(1)
    image, mask = torch.rand(2, 3, 64, 64) * 2 - 1, _centre_mask(2, 64)
    output = smoke_model(image, mask)
    plain_d, _ = smoke_model.discriminator_loss(image, mask, output)
    plain_g, _ = smoke_model.generator_loss(image, mask, output)
    original = smoke_model.discriminators
    smoke_model.discriminators = nn.ModuleDict({name: _Wrapper(d) for name, d in original.items()})
    try:
        wrapped_d, _ = smoke_model.discriminator_loss(image, mask, output)
        wrapped_g, _ = smoke_model.generator_loss(image, mask, output)
    finally:
        smoke_model.discriminators = original
    torch.testing.assert_close(wrapped_d, plain_d)
    torch.testing.assert_close(wrapped_g, plain_g)


@pytest.mark.parametrize("overrides", [{}, {"loss": {"official_scaling": True}}, {"loss": {"consistency": False}},
                                       {"loss": {"discriminators": ["patch", "srfeat"]}}])
def test_objective_is_eq_8_bit_for_bit(overrides):
    """The sum over named terms gives exactly the formula csa-nb computed before the terms had names:
    lambda_r L_re + lambda_c L_c + lambda_d (D_R of each discriminator, summed from 0), left to right."""
    torch.manual_seed(3)
    config = make_config("smoke", overrides)
    model = build_model(config)
    image, mask = torch.rand(2, 3, 64, 64) * 2 - 1, _centre_mask(2, 64)
    output = model(image, mask)
    total, logs = model.generator_loss(image, mask, output)
    terms = model.generator_terms(image, mask, output)
    scale = 100.0 if config.loss.official_scaling else 1.0
    adversarial = sum((terms[f"adversarial_{name}"] for name in model.discriminators), image.new_zeros(()))
    consistency = terms.get("consistency", 0.0)
    expected = (config.loss.lambda_reconstruction * scale * terms["reconstruction"]
                + (config.loss.lambda_consistency * scale if config.loss.consistency else 0.0) * consistency
                + config.loss.lambda_adversarial * scale * adversarial)
    assert torch.equal(total, expected)
    assert logs["generator"] == expected.item() and logs["adversarial"] == adversarial.item()
    assert ("consistency" in logs) == config.loss.consistency


def test_a_new_term_is_one_function_and_one_weight():
    "Register a term, give it a weight in loss.extra_terms: it is added, logged, and its weight 0 skips it."
    from csa_nb.losses import LOSS_TERMS, register_loss_term

    @register_loss_term("hole_l1")
    def hole_l1(context):
        return ((context.output.refined - context.image).abs() * context.mask).mean()

    try:
        torch.manual_seed(4)
        image, mask = torch.rand(2, 3, 64, 64) * 2 - 1, _centre_mask(2, 64)
        plain = build_model(make_config("smoke"))
        extra = build_model(make_config("smoke", {"loss": {"extra_terms": {"hole_l1": 0.5}}}))
        extra.load_state_dict(plain.state_dict())
        base, _ = plain.generator_loss(image, mask, plain(image, mask))
        total, logs = extra.generator_loss(image, mask, extra(image, mask))
        assert "hole_l1" in logs and total.item() == pytest.approx(base.item() + 0.5 * logs["hole_l1"], rel=1e-6)
        off = build_model(make_config("smoke", {"loss": {"extra_terms": {"hole_l1": 0.0}}}))
        assert "hole_l1" not in off.generator_loss(image, mask, off(image, mask))[1]
        with pytest.raises(ValueError, match="no loss term"):
            build_model(make_config("smoke", {"loss": {"extra_terms": {"not_a_term": 1.0}}}))
    finally:
        del LOSS_TERMS["hole_l1"]


def test_generator_terms_do_not_depend_on_batch_size(smoke_model):
    "Every term averages over the batch: one sample, or the same sample three times, gives the same numbers."
    torch.manual_seed(2)
    image, mask = torch.rand(1, 3, 64, 64) * 2 - 1, _centre_mask(1, 64)
    with torch.no_grad():
        output = smoke_model(image, mask)
        tripled = dataclasses.replace(output, **{field.name: torch.cat([getattr(output, field.name)] * 3)
                                                 for field in dataclasses.fields(output)
                                                 if isinstance(getattr(output, field.name), torch.Tensor)})
        single = smoke_model.generator_terms(image, mask, output)
        triple = smoke_model.generator_terms(image.repeat(3, 1, 1, 1), mask.repeat(3, 1, 1, 1), tripled)
    assert single.keys() == triple.keys()
    for key in single:
        torch.testing.assert_close(triple[key], single[key], rtol=1e-4, atol=1e-6)


def test_consistency_needs_middle_features(smoke_model):
    image, mask = torch.rand(1, 3, 64, 64) * 2 - 1, _centre_mask(1, 64)
    with torch.no_grad():
        output = dataclasses.replace(smoke_model(image, mask), middle_features=None)
    with pytest.raises(ValueError, match="loss.consistency: false"):
        smoke_model.generator_loss(image, mask, output)


def test_injected_vgg_must_have_the_layers():
    config = make_config("smoke")
    with pytest.raises(ValueError, match="lacks layers"):
        CSAModel(config, vgg=load_vgg16("random", layers=("relu4_3",)))
    model = CSAModel(config, vgg=load_vgg16("random:5", layers=("relu4_3", "pool3"), imagenet_normalise=False))
    assert model.vgg_weights_description == "random(seed=5)" and not model.vgg.imagenet_normalise


def test_no_vgg_needed_without_consistency_and_feature_discriminators():
    model = build_model(make_config("smoke", {"loss": {"consistency": False, "discriminators": ["patch"],
                                                       "vgg_weights": "/nonexistent/vgg16.pth"}}))
    assert model.vgg is None and model.vgg_layers == ()
    image, mask = torch.rand(2, 3, 64, 64) * 2 - 1, _centre_mask(2, 64)
    output = model(image, mask)
    loss, logs = model.generator_loss(image, mask, output)
    loss.backward()
    assert set(logs) == {"reconstruction", "adversarial_patch", "adversarial", "l1_hole", "generator"}


def test_short_overfit_on_one_photograph():
    "40 steps of the full objective on one photograph at smoke size more than halve the hole's L1 error."
    from skimage import data as skimage_data

    torch.manual_seed(0)
    photo = torch.tensor(skimage_data.astronaut(), dtype=torch.float32).permute(2, 0, 1)[None] / 127.5 - 1
    photo = torch.nn.functional.interpolate(photo, size=(64, 64), mode="area")
    hole = _centre_mask(1, 64)
    model = build_model(make_config("smoke"))
    g_opt = torch.optim.Adam(model.generator.parameters(), lr=1e-3, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(model.discriminators.parameters(), lr=1e-3, betas=(0.5, 0.999))
    history = []
    for _ in range(40):
        output = model(photo, hole)
        d_loss, _ = model.discriminator_loss(photo, hole, output)
        d_opt.zero_grad()
        d_loss.backward()
        d_opt.step()
        g_loss, logs = model.generator_loss(photo, hole, output)
        g_opt.zero_grad()
        g_loss.backward()
        g_opt.step()
        history.append(logs["l1_hole"])
    assert sum(history[-5:]) / 5 < 0.5 * history[0], history


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_step_on_cuda_vgg_follows_the_images():
    model = build_model(make_config("smoke")).cuda()
    image = torch.rand(4, 3, 64, 64, device="cuda") * 2 - 1
    mask = _centre_mask(4, 64).cuda()
    output = model(image, mask)
    d_loss, _ = model.discriminator_loss(image, mask, output)
    d_loss.backward()
    g_loss, _ = model.generator_loss(image, mask, output)
    g_loss.backward()
    assert model.vgg.mean.device.type == "cuda"
    assert model.generator.refinement.stem.weight.grad.abs().sum() > 0
