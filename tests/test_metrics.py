"""Metrics and evaluator against independent oracles: NumPy / scikit-image, hand-computed values, invariants."""
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from csa_nb.metrics import (
    DEEP_LAYERS, METRIC_DIRECTIONS, RATIO_BINS, deep_distance, deep_metrics_status, evaluate, evaluate_images,
    frechet_distance, gradient_energy_ratio, hed_vgg, kernel_distance, kid_features, l1_percent, l2_percent,
    model_inpaint_fn, perceptual_metrics_status, psnr, ratio_bin, save_table, ssim, summarize, to_markdown,
)
from csa_nb.vgg import load_vgg16


def to_project(x):
    "[0, 1] -> [-1, 1]"
    return x * 2 - 1


@pytest.fixture
def pair():
    generator = torch.Generator().manual_seed(1)
    target = torch.rand(4, 3, 24, 20, generator=generator, dtype=torch.float64)
    output = (target + 0.1 * torch.randn(4, 3, 24, 20, generator=generator, dtype=torch.float64)).clamp(0, 1)
    return output, target


def test_metrics_match_numpy_and_skimage(pair):
    output, target = pair
    o, t = to_project(output), to_project(target)
    for i in range(len(output)):
        x, y = output[i].numpy(), target[i].numpy()
        assert l1_percent(o, t)[i].item() == pytest.approx(100 * np.abs(x - y).mean(), rel=1e-12)
        assert l2_percent(o, t)[i].item() == pytest.approx(100 * np.mean((x - y) ** 2), rel=1e-12)
        assert psnr(o, t)[i].item() == pytest.approx(peak_signal_noise_ratio(y, x, data_range=1.0), rel=1e-12)
        reference = structural_similarity(np.moveaxis(x, 0, -1), np.moveaxis(y, 0, -1), gaussian_weights=True, sigma=1.5,
                                          use_sample_covariance=False, data_range=1.0, channel_axis=-1)
        assert ssim(o, t)[i].item() == pytest.approx(reference, rel=1e-12)


def test_ssim_is_not_the_default_skimage_setting():
    "The Wang et al. settings matter: the default 7x7 uniform window with sample covariance gives another number."
    from scipy.ndimage import uniform_filter
    from skimage import data
    x = data.camera()[100:164, 200:264] / 255.0  # a real photograph and a blurred copy
    y = uniform_filter(x, 3)
    default = structural_similarity(x, y, data_range=1.0)
    ours = ssim(to_project(torch.from_numpy(x)[None, None]), to_project(torch.from_numpy(y)[None, None])).item()
    assert abs(ours - default) > 5e-3


def test_ssim_averages_channels():
    "SSIM of an image whose channels differ in quality is the mean of the per-channel SSIMs."
    rng = np.random.default_rng(3)
    target = rng.random((16, 16, 3))
    output = target.copy()
    output[..., 1] = np.clip(output[..., 1] + rng.normal(0, 0.2, (16, 16)), 0, 1)
    per_channel = [structural_similarity(output[..., c], target[..., c], gaussian_weights=True, sigma=1.5,
                                         use_sample_covariance=False, data_range=1.0) for c in range(3)]
    tensor = lambda a: to_project(torch.from_numpy(a).permute(2, 0, 1))
    assert ssim(tensor(output), tensor(target)).item() == pytest.approx(np.mean(per_channel), rel=1e-12)
    assert per_channel[0] == pytest.approx(1.0) and per_channel[1] < 0.9


def test_psnr_is_averaged_per_image_not_pooled():
    target = torch.zeros(2, 1, 16, 16, dtype=torch.float64)
    output = target.clone()
    output[0] += 0.01  # MSE 1e-4 -> 40 dB
    output[1] += 0.1  # MSE 1e-2 -> 20 dB
    values = psnr(to_project(output), to_project(target))
    assert values.tolist() == pytest.approx([40.0, 20.0])
    pooled = 10 * math.log10(1 / ((1e-4 + 1e-2) / 2))  # what averaging the MSE first would give: 22.97 dB
    assert values.mean().item() == pytest.approx(30.0) and abs(pooled - 30.0) > 5


def test_metric_invariants(pair):
    output, target = map(to_project, pair)
    assert torch.allclose(l1_percent(output, target), l1_percent(target, output))
    assert torch.allclose(ssim(output, target), ssim(target, output))
    assert (l2_percent(output, target) <= l1_percent(output, target)).all()  # |d| <= 1, so d^2 <= |d|
    assert torch.equal(l1_percent(target, target), torch.zeros(4, dtype=torch.float64))
    noisier = (target + 0.5 * (output - target))  # half the error
    assert (psnr(noisier, target) - psnr(output, target)).tolist() == pytest.approx([10 * math.log10(4)] * 4)


def test_metrics_reject_wrong_range_and_shape():
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        l1_percent(torch.rand(1, 3, 8, 8) * 255, torch.rand(1, 3, 8, 8) * 255)
    with pytest.raises(ValueError, match="same shape"):
        psnr(torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 15))
    with pytest.raises(TypeError, match="torch.Tensor"):
        ssim(np.zeros((3, 16, 16)), np.zeros((3, 16, 16)))


def test_ratio_bins_cover_unit_interval():
    labels = [ratio_bin(r) for r in np.linspace(0, 1, 1001)]
    assert set(labels) == {f"{10 * i}-{10 * (i + 1)}%" for i in range(6)} | {"0%", "60-100%"}
    assert ratio_bin(0.15, bins=((0.0, 0.5), (0.5, 1.0))) == "0-50%"
    assert len(RATIO_BINS) == 6


def test_bin_masks_mapping_works_directly(tmp_path, dataset):
    "The output of csa_nb.masks.bin_masks (bins -> paths of 64 px files, some bins empty) is a valid `masks`."
    from csa_nb.masks import bin_masks
    for name, side in (("a", 20), ("b", 40)):
        Image.fromarray((square_mask(64, side) * 255).astype(np.uint8)).save(tmp_path / f"{name}.png")
    groups = bin_masks(tmp_path, invert=False)
    with pytest.warns(UserWarning):
        table = evaluate(blur_fill, dataset, groups)
    assert table["bin"].tolist() == ["all", "0-10%", "30-40%"] and table["images"].tolist() == [10, 5, 5]


class FolderLike(Sequence):
    "A MaskFolder-shaped object: a sequence of (H, W) masks."

    def __init__(self, masks):
        self.masks = masks

    def __len__(self):
        return len(self.masks)

    def __getitem__(self, index):
        return self.masks[index]


def square_mask(size, side, top=0):
    mask = np.zeros((size, size), np.float32)
    mask[top:top + side, top:top + side] = 1
    return mask


@pytest.fixture
def dataset():
    rng = np.random.default_rng(0)
    return [to_project(torch.from_numpy(rng.random((3, 32, 32))).float()) for _ in range(5)]


def blur_fill(image, mask):
    "A method with a real, image-dependent output: the 5x5 box blur of the erased image."
    return torch.nn.functional.avg_pool2d(image, 5, stride=1, padding=2)


def test_evaluator_equals_metrics_on_manual_composites(dataset):
    masks = [square_mask(32, 16, 4), square_mask(32, 8)]
    per_image = evaluate_images(blur_fill, dataset, masks, batch_size=2)
    for row in per_image.itertuples():
        image = dataset[row.image][None]
        mask = torch.from_numpy(masks[row.image % 2])[None, None]
        erased = image * (1 - mask)
        composited = image * (1 - mask) + blur_fill(erased, mask) * mask
        assert row.l1_percent == pytest.approx(l1_percent(composited, image).item(), rel=1e-6)
        assert row.ssim == pytest.approx(ssim(composited, image).item(), rel=1e-6)
        assert row.hole_ratio == pytest.approx(mask.mean().item())


def test_evaluator_never_shows_the_hole(dataset):
    seen = []
    def spy(image, mask):
        seen.append(float((image * mask).abs().max()))
        return image
    evaluate(spy, dataset, [square_mask(32, 10)])
    assert max(seen) == 0.0


def test_evaluator_accepts_mask_folders_paths_and_mappings(dataset, tmp_path):
    masks = [square_mask(32, 16), square_mask(32, 20)]
    paths = []
    for i, mask in enumerate(masks):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray((mask * 255).astype(np.uint8)).save(paths[-1])
    from_list = evaluate(blur_fill, dataset, masks)
    pd.testing.assert_frame_equal(evaluate(blur_fill, dataset, FolderLike(masks)), from_list)
    pd.testing.assert_frame_equal(evaluate(blur_fill, dataset, paths), from_list)
    pd.testing.assert_frame_equal(evaluate(blur_fill, dataset, [torch.from_numpy(m)[None] for m in masks]), from_list)
    table = evaluate(blur_fill, dataset, {"a": masks[:1], "b": masks[1:]})
    assert table["bin"].tolist() == ["all", "a", "b"] and table["images"].tolist() == [10, 5, 5]


def test_evaluator_is_deterministic_and_batch_size_free(dataset):
    masks = [square_mask(32, 16), square_mask(32, 6)]
    first = evaluate(blur_fill, dataset, masks, batch_size=3)
    pd.testing.assert_frame_equal(first, evaluate(blur_fill, dataset, masks, batch_size=3))
    pd.testing.assert_frame_equal(first, evaluate(blur_fill, dataset, masks, batch_size=1), check_exact=False, rtol=1e-6)
    assert first["bin"].tolist() == ["all", "0-10%", "20-30%"]
    assert first["images"].tolist() == [5, 2, 3]
    per_image = first.attrs["per_image"]
    assert per_image["image"].tolist() == [0, 1, 2, 3, 4] and per_image["mask"].tolist() == [0, 1, 0, 1, 0]  # image i, mask i mod M


def test_summary_std_is_sample_std(dataset):
    per_image = evaluate_images(blur_fill, dataset, [square_mask(32, 16)])
    table = summarize(per_image)
    assert table.loc[0, "psnr_std"] == pytest.approx(np.std(per_image["psnr"], ddof=1))
    assert table.loc[0, "ssim_mean"] == pytest.approx(np.mean(per_image["ssim"]))


def test_identical_output_warns_about_infinite_psnr(dataset):
    with pytest.warns(UserWarning, match="infinity"):
        evaluate(lambda image, mask: image, dataset, [np.zeros((32, 32), np.float32)])


def test_perceptual_metrics_skip_with_a_note(dataset, monkeypatch):
    import csa_nb.metrics as metrics
    monkeypatch.setattr(metrics.importlib.util, "find_spec", lambda name: None)
    status = perceptual_metrics_status()
    assert status == {"lpips": "skipped: the 'lpips' package is not installed",
                      "fid": "skipped: the 'pytorch_fid' package is not installed"}
    with pytest.warns(UserWarning, match="LPIPS skipped"):
        table = evaluate(blur_fill, dataset, [square_mask(32, 16)], perceptual=True)
    assert "lpips_mean" not in table.columns and "fid" not in table.columns


def test_frechet_distance_of_shifted_gaussians():
    "Same covariance, means apart by d: FID = |d|^2 (up to sampling error of the covariance square root)."
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 3))
    b = a + np.array([1.0, 2.0, 0.0])
    assert frechet_distance(a, b) == pytest.approx(5.0, abs=1e-6)


def test_model_adapter_uses_the_composited_output(dataset):
    class Generator(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(()))

        def forward(self, image, mask):
            assert not torch.is_grad_enabled() and not self.training
            composited = image * (1 - mask) + (self.weight + 0.5) * mask
            return type("Output", (), {"composited": composited})()

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.generator = Generator()

    model = Model().train()
    table = evaluate(model_inpaint_fn(model), dataset, [square_mask(32, 16)])
    reference = evaluate(lambda image, mask: torch.full_like(image, 0.5), dataset, [square_mask(32, 16)])
    pd.testing.assert_frame_equal(table, reference)
    assert model.generator.training  # mode restored


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_evaluate_on_cuda(dataset):
    table = evaluate(blur_fill, dataset, [square_mask(32, 16)], device="cuda")
    pd.testing.assert_frame_equal(table, evaluate(blur_fill, dataset, [square_mask(32, 16)]), check_exact=False, rtol=1e-5)


def test_save_table_round_trip(tmp_path, dataset):
    table = evaluate(blur_fill, dataset, [square_mask(32, 16), square_mask(32, 6)])
    csv_path, markdown_path = save_table(table, tmp_path / "out" / "table", caption="Profile smoke, seed 0.")
    pd.testing.assert_frame_equal(pd.read_csv(csv_path), table.reset_index(drop=True), check_exact=False, rtol=1e-12)
    text = markdown_path.read_text()
    assert text.startswith("| bin | images | l1_percent_mean |") and text.rstrip().endswith("Profile smoke, seed 0.")
    assert f"| all | 5 | {table.loc[0, 'l1_percent_mean']:.3f} |" in text
    assert to_markdown(pd.DataFrame({"x": [float("inf")], "y": ["a"]})).splitlines()[2] == "| inf | a |"


def test_perceptual_metrics_glue_with_stand_in_networks(dataset, tmp_path, monkeypatch):
    """LPIPS per image and FID per table row, with stand-ins for the `lpips` and `pytorch_fid` packages (not installed here):
    the stand-in LPIPS is the mean absolute difference, the stand-in Inception 'features' are the mean colours."""
    import importlib.machinery
    import sys
    import types

    class FakeLpips(torch.nn.Module):
        def __init__(self, net, verbose):
            super().__init__()

        def forward(self, a, b):
            return (a - b).abs().mean(dim=(1, 2, 3)).view(-1, 1, 1, 1)

    class FakeInception(torch.nn.Module):
        BLOCK_INDEX_BY_DIM = {2048: 3}

        def __init__(self, blocks):
            super().__init__()

        def forward(self, x):  # x in [0, 1]
            return [x.mean(dim=(2, 3))[:, :, None, None]]

    lpips = types.ModuleType("lpips")
    lpips.__spec__ = importlib.machinery.ModuleSpec("lpips", None)
    lpips.LPIPS = FakeLpips
    fid_package = types.ModuleType("pytorch_fid")
    fid_package.__spec__ = importlib.machinery.ModuleSpec("pytorch_fid", None)
    inception = types.ModuleType("pytorch_fid.inception")
    inception.InceptionV3 = FakeInception
    fid_package.inception = inception
    monkeypatch.setitem(sys.modules, "lpips", lpips)
    monkeypatch.setitem(sys.modules, "pytorch_fid", fid_package)
    monkeypatch.setitem(sys.modules, "pytorch_fid.inception", inception)
    old_hub = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path))
    try:
        (tmp_path / "checkpoints").mkdir()
        for name in ("alexnet-owt-7be5be79.pth", "pt_inception-2015-12-05-6726825d.pth"):
            (tmp_path / "checkpoints" / name).write_bytes(b"")
        assert perceptual_metrics_status() == {"lpips": "available", "fid": "available"}
        masks = [square_mask(32, 16), square_mask(32, 6)]
        table = evaluate(blur_fill, dataset, masks, perceptual=True, batch_size=2)
    finally:
        torch.hub.set_dir(old_hub)
    per_image = table.attrs["per_image"]
    np.testing.assert_allclose(per_image["lpips"], per_image["l1_percent"] / 50, rtol=1e-5)  # |a - b| in [-1, 1] = 2 x L1 in [0, 1]
    # FID of the 'all' row from the stand-in features computed here, independently
    real, fake = [], []
    for row in per_image.itertuples():
        image = dataset[row.image][None]
        mask = torch.from_numpy(masks[row.mask])[None, None]
        composited = image * (1 - mask) + blur_fill(image * (1 - mask), mask).clamp(-1, 1) * mask
        real.append(((image + 1) / 2).mean(dim=(2, 3))[0].double().numpy())
        fake.append(((composited + 1) / 2).mean(dim=(2, 3))[0].double().numpy())
    assert table.loc[0, "fid"] == pytest.approx(frechet_distance(np.stack(real), np.stack(fake)), rel=1e-6, abs=1e-9)
    assert table["bin"].tolist() == ["all", "0-10%", "20-30%"] and np.isfinite(table["fid"]).all()
    assert table.loc[0, "lpips_mean"] == pytest.approx(per_image["lpips"].mean())


# Scores beyond the paper: gradient energy ratio, deep distance and KID on HED's VGG16 (a seeded random VGG16 stands in
# where the HED weights are not cached, for the invariants and the evaluator's glue).

@pytest.fixture(scope="module")
def deep_vgg():
    return load_vgg16("hed" if deep_metrics_status() == "available" else "random:0", DEEP_LAYERS)


@pytest.fixture(scope="module")
def photos():
    from csa_nb.data import builtin_dataset
    dataset = builtin_dataset("val", 48)
    return torch.stack([dataset[i] for i in range(3)])


def energy_by_loops(image, hole):
    "Gradient energy of a (C, H, W) array over pixel pairs both inside the (H, W) hole."
    total = 0.0
    channels, height, width = image.shape
    for c in range(channels):
        for i in range(height):
            for j in range(width):
                if j + 1 < width and hole[i, j] and hole[i, j + 1]:
                    total += (image[c, i, j + 1] - image[c, i, j]) ** 2
                if i + 1 < height and hole[i, j] and hole[i + 1, j]:
                    total += (image[c, i + 1, j] - image[c, i, j]) ** 2
    return total


def test_gradient_energy_ratio_matches_loops_per_image_masks():
    rng = np.random.default_rng(5)
    output, target = rng.random((3, 2, 7, 9)), rng.random((3, 2, 7, 9))
    holes = rng.random((3, 7, 9)) > 0.3
    ratios = gradient_energy_ratio(to_project(torch.from_numpy(output)), to_project(torch.from_numpy(target)),
                                   torch.from_numpy(holes)[:, None], floor=0.01)
    for i in range(3):
        ramp = np.broadcast_to(np.arange(7)[:, None] + np.arange(9)[None], (2, 7, 9))  # every difference is 1
        pairs = energy_by_loops(ramp, holes[i])  # so its energy counts the differences
        expected = (energy_by_loops(output[i], holes[i]) + pairs * 1e-4) / (energy_by_loops(target[i], holes[i]) + pairs * 1e-4)
        assert ratios[i].item() == pytest.approx(expected, rel=1e-12)


def test_gradient_energy_ratio_invariants():
    generator = torch.Generator().manual_seed(0)
    truth = to_project(torch.rand(2, 3, 24, 24, generator=generator, dtype=torch.float64))
    hole = np.zeros((24, 24), np.float32)
    hole[4:20, 6:18] = 1
    assert gradient_energy_ratio(truth, truth, hole).tolist() == [1.0, 1.0]
    blurred = torch.nn.functional.avg_pool2d(truth, 3, stride=1, padding=1, count_include_pad=False)
    assert (gradient_energy_ratio(blurred, truth, hole) < 1).all()
    noisy = (blurred + 0.3 * torch.randn(blurred.shape, generator=generator, dtype=torch.float64)).clamp(-1, 1)
    assert (gradient_energy_ratio(noisy, blurred, hole) > 1).all()
    outside = truth.clone()
    outside[..., :4, :] = -1  # known pixels changed: no effect
    assert gradient_energy_ratio(outside, truth, hole).tolist() == [1.0, 1.0]
    flat = torch.zeros(1, 3, 24, 24)
    assert gradient_energy_ratio(flat, flat, hole).item() == 1.0
    assert math.isnan(gradient_energy_ratio(flat, flat, hole, floor=0).item())
    with pytest.raises(ValueError, match="same shape"):
        gradient_energy_ratio(truth, truth[..., :20], hole)
    with pytest.raises(ValueError, match="masks for"):
        gradient_energy_ratio(truth, truth, np.stack([hole] * 3))


def test_kernel_distance_matches_double_loop():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 3)), rng.normal(size=(5, 3)) + 0.5
    k = lambda x, y: (x @ y / 3 + 1) ** 3
    within_a = sum(k(a[i], a[j]) for i in range(4) for j in range(4) if i != j) / 12
    within_b = sum(k(b[i], b[j]) for i in range(5) for j in range(5) if i != j) / 20
    across = sum(k(x, y) for x in a for y in b) / 20
    assert kernel_distance(a, b) == pytest.approx(within_a + within_b - 2 * across, rel=1e-12)
    c = b[:4]
    paired = sum(k(a[i], a[j]) + k(c[i], c[j]) - k(a[i], c[j]) - k(a[j], c[i])
                 for i in range(4) for j in range(4) if i != j) / 12
    assert kernel_distance(a, c, paired=True) == pytest.approx(paired, rel=1e-12)
    assert kernel_distance(a, a, paired=True) == 0.0 and kernel_distance(a, a, unbiased=False) == pytest.approx(0, abs=1e-12)
    with pytest.raises(ValueError, match="equal size"):
        kernel_distance(a, b, paired=True)


def test_deep_distance_invariants(deep_vgg, photos):
    assert deep_distance(photos, photos, vgg=deep_vgg).tolist() == [0.0, 0.0, 0.0]
    hole = torch.zeros(1, 1, 48, 48)
    hole[..., 12:36, 12:36] = 1
    blur = lambda x, k: torch.nn.functional.avg_pool2d(x, k, stride=1, padding=k // 2, count_include_pad=False)
    light, heavy = deep_distance(blur(photos, 3), photos, hole, vgg=deep_vgg), deep_distance(blur(photos, 7), photos, hole, vgg=deep_vgg)
    assert (light > 0).all() and (heavy > light).all()
    assert deep_distance(blur(photos, 7), photos, vgg=deep_vgg).max() <= 4 * len(DEEP_LAYERS)
    one = deep_distance(blur(photos, 7)[1], photos[1], hole[0], vgg=deep_vgg)
    assert one.shape == () and one.item() == pytest.approx(heavy[1].item(), rel=1e-5)
    with pytest.raises(ValueError, match="same shape"):
        deep_distance(photos, photos[..., :32], vgg=deep_vgg)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        deep_distance(photos * 10, photos, vgg=deep_vgg)


def test_without_hed_weights_deep_scores_are_skipped_never_downloaded(dataset, tmp_path, monkeypatch):
    import csa_nb.vgg as vgg
    monkeypatch.setenv("CSA_NB_CACHE", str(tmp_path / "empty"))
    monkeypatch.setattr(vgg, "_download_hed_weights", lambda *a, **k: pytest.fail("deep scores tried to download"))
    assert deep_metrics_status().startswith("skipped") and "csa-weights hed" in deep_metrics_status()
    with pytest.warns(UserWarning, match="deep_distance and kid_hed skipped"):
        table = evaluate(blur_fill, dataset, [square_mask(32, 16)])
    assert not any(c.startswith(("deep_distance", "kid_hed")) for c in table.columns)
    assert "grad_ratio_mean" in table.columns and "deep_distance" not in table.attrs["per_image"].columns
    with pytest.raises(FileNotFoundError, match="csa-weights hed"):
        evaluate(blur_fill, dataset, [square_mask(32, 16)], deep=True)
    with pytest.raises(FileNotFoundError, match="csa-weights hed"):
        deep_distance(dataset[0], dataset[0])
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        evaluate(blur_fill, dataset, [square_mask(32, 16)], deep=False)  # no warning when not asked for


def test_deep_scores_in_the_evaluator(dataset, deep_vgg, monkeypatch):
    "The evaluator's deep_distance and kid_hed are the functions applied to the composites (HED's network or a stand-in)."
    import csa_nb.metrics as metrics
    monkeypatch.setattr(metrics, "deep_metrics_status", lambda: "available")
    monkeypatch.setattr(metrics, "hed_vgg", lambda device="cpu": deep_vgg)
    masks = [square_mask(32, 16, 4), square_mask(32, 8)]
    table = evaluate(blur_fill, dataset, masks, batch_size=2)
    per_image = table.attrs["per_image"]
    composites, truths = [], []
    for row in per_image.itertuples():
        image = dataset[row.image][None]
        mask = torch.from_numpy(masks[row.mask])[None, None]
        composited = image * (1 - mask) + blur_fill(image * (1 - mask), mask).clamp(-1, 1) * mask
        assert row.deep_distance == pytest.approx(deep_distance(composited, image, vgg=deep_vgg).item(), rel=1e-5)
        assert row.grad_ratio == pytest.approx(gradient_energy_ratio(composited, image, mask).item(), rel=1e-9)
        composites.append(composited[0]); truths.append(image[0])
    expected = kernel_distance(kid_features(composites, vgg=deep_vgg), kid_features(truths, vgg=deep_vgg), paired=True)
    assert table.loc[0, "kid_hed"] == pytest.approx(expected, rel=1e-4, abs=1e-9)
    assert {"deep_distance_mean", "deep_distance_low", "grad_ratio_high", "kid_hed"} <= set(table.columns)
    assert list(table.columns[:3]) == ["bin", "images", "l1_percent_mean"]  # the paper's columns first, as before
    perfect = evaluate(lambda image, mask: torch.stack(dataset)[: len(image)], dataset, [np.zeros((32, 32), np.float32)],
                       batch_size=5)
    assert perfect.loc[0, "deep_distance_mean"] == 0.0 and perfect.loc[0, "kid_hed"] == pytest.approx(0.0, abs=1e-9)
    assert {m.rsplit("_", 1)[0] for m in table.columns if m.endswith("_mean")} | {"kid_hed"} <= set(METRIC_DIRECTIONS)


@pytest.mark.skipif(deep_metrics_status() != "available", reason="HED's VGG16 weights are not cached (csa-weights hed)")
def test_hed_network_is_loaded_once():
    first = hed_vgg()
    assert hed_vgg() is first and first.weights_description.startswith("hed:") and first.layers == DEEP_LAYERS
