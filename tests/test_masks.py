"""Tests of csa_nb.masks beyond the notebook's examples: the mask-set command, resumable sampling, App. A against
independent oracles, external files in several formats, and (with CSA_SLOW=1) the 1,000-masks-per-bin check at 256 px."""
import json
import os
import time

import numpy as np
import pytest
import torch
from PIL import Image

from csa_nb.config import MaskConfig, make_config
from csa_nb.masks import (
    RATIO_BINS, MaskFolder, MaskSampler, bin_masks, bin_name, center_mask, check_mask, feature_hole_mask,
    hole_ratio, irregular_mask, load_mask, masks_cli, write_mask_set,
)

torch.set_num_threads(1)
slow = pytest.mark.skipif(not os.environ.get("CSA_SLOW"), reason="slow: set CSA_SLOW=1 to run")


def files_of(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --- the evaluation mask set and its command ---------------------------------------------------------------------

def test_cli_same_seed_same_bytes(tmp_path, capsys):
    for name in ("first", "second"):
        assert masks_cli(["--size", "64", "--per-bin", "4", "--seed", "11", "--out", str(tmp_path / name)]) == 0
    assert "wrote 4 masks x 6 bins" in capsys.readouterr().out
    first, second = files_of(tmp_path / "first"), files_of(tmp_path / "second")
    assert len(first) == 6 * 4 + 1 and first == second
    masks_cli(["--size", "64", "--per-bin", "4", "--seed", "12", "--out", str(tmp_path / "other")])
    other = files_of(tmp_path / "other")
    assert sum(first[k] != other[k] for k in first if k.endswith(".png")) == 24  # a new seed changes every mask


def test_mask_set_contents(tmp_path):
    out = write_mask_set(tmp_path / "set", 64, 5, seed=3)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["size"] == 64 and manifest["seed"] == 3 and manifest["border"] is False
    for index, ratio_bin in enumerate(RATIO_BINS):
        entry = manifest["bins"][bin_name(ratio_bin)]
        assert entry["files"] == [f"{j:05d}.png" for j in range(5)]
        for j, name in enumerate(entry["files"]):
            png = Image.open(out / bin_name(ratio_bin) / name)
            assert png.mode == "L" and png.size == (64, 64)
            mask = load_mask(out / bin_name(ratio_bin) / name, 64, invert=False)
            np.testing.assert_array_equal(mask, irregular_mask(64, ratio_bin, seed=(3, index, j)))
            assert ratio_bin[0] < hole_ratio(mask) < ratio_bin[1]
            assert entry["hole_ratios"][j] == pytest.approx(hole_ratio(mask), abs=1e-6)


def test_mask_set_grows_by_prefix(tmp_path):
    small, large = files_of(write_mask_set(tmp_path / "s", 64, 2, 0)), files_of(write_mask_set(tmp_path / "l", 64, 4, 0))
    assert all(small[k] == large[k] for k in small if k.endswith(".png"))


def test_cli_border_flag(tmp_path):
    masks_cli(["--size", "64", "--per-bin", "3", "--seed", "0", "--border", "--out", str(tmp_path / "b")])
    masks_cli(["--size", "64", "--per-bin", "3", "--seed", "0", "--no-border", "--out", str(tmp_path / "n")])
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["border"] is True
    for path in (tmp_path / "n").rglob("*.png"):
        mask = load_mask(path, None, invert=False)
        assert mask[:2].sum() + mask[-2:].sum() + mask[:, :2].sum() + mask[:, -2:].sum() == 0


def test_cli_bad_arguments(tmp_path):
    with pytest.raises(SystemExit) as error:
        masks_cli(["--size", "4", "--per-bin", "1", "--out", str(tmp_path / "x")])
    assert error.value.code == 2
    masks_cli(["--size", "32", "--per-bin", "1", "--out", str(tmp_path / "y")])
    with pytest.raises(SystemExit):  # refuses to overwrite without --overwrite
        masks_cli(["--size", "32", "--per-bin", "1", "--out", str(tmp_path / "y")])
    assert masks_cli(["--size", "32", "--per-bin", "1", "--overwrite", "--out", str(tmp_path / "y")]) == 0


def test_console_script_declared():
    settings = (__import__("pathlib").Path(__file__).resolve().parents[1] / "settings.ini").read_text()
    assert "csa-masks=csa_nb.masks:masks_cli" in settings


# --- App. A feature mask against independent oracles ---------------------------------------------------------------

def loop_oracle(mask: np.ndarray, layers: int) -> np.ndarray:
    "Slow obvious App. A: each layer sums the 4x4 window at rows/cols 2i-1 .. 2i+2 (zeros outside), times 1/16."
    values = mask.astype(np.float64)
    for _ in range(layers):
        n = values.shape[0] // 2
        out = np.zeros((n, n))
        for i in range(n):
            for j in range(n):
                total = 0.0
                for r in range(2 * i - 1, 2 * i + 3):
                    for c in range(2 * j - 1, 2 * j + 3):
                        if 0 <= r < values.shape[0] and 0 <= c < values.shape[1]:
                            total += values[r, c]
                out[i, j] = total / 16
        values = out
    return (values > 5 / 16).astype(np.float32)


@pytest.mark.parametrize("image_size,feature_size", [(32, 16), (32, 8), (32, 4), (64, 8)])
def test_feature_mask_matches_loop(image_size, feature_size):
    rng = np.random.default_rng(image_size + feature_size)
    masks = [irregular_mask(image_size, RATIO_BINS[i], seed=i, border=True) for i in range(3)]
    masks.append((rng.random((image_size, image_size)) < 0.4).astype(np.float32))  # salt-and-pepper
    layers = int(np.log2(image_size // feature_size))
    got = feature_hole_mask(torch.from_numpy(np.stack(masks))[:, None], feature_size)
    for k, mask in enumerate(masks):
        np.testing.assert_array_equal(got[k, 0].numpy(), loop_oracle(mask, layers))


def test_feature_mask_input_forms():
    mask = irregular_mask(64, (0.2, 0.3), seed=0)
    reference = feature_hole_mask(torch.from_numpy(mask)[None, None], 16)
    assert torch.equal(feature_hole_mask(mask, 16), reference)  # (H, W) numpy
    assert torch.equal(feature_hole_mask(torch.from_numpy(mask), 16), reference)  # (H, W) tensor
    assert torch.equal(feature_hole_mask(torch.from_numpy(mask).bool()[None, None], 16), reference)  # bool
    assert feature_hole_mask(torch.from_numpy(mask)[None, None].half(), 16).dtype == torch.float16
    assert not feature_hole_mask(torch.zeros(2, 1, 64, 64), 16).any()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_feature_mask_cuda_matches_cpu():
    batch = torch.from_numpy(np.stack([irregular_mask(256, b, seed=5) for b in RATIO_BINS]))[:, None]
    for size in (64, 32, 16, 8):
        got = feature_hole_mask(batch.cuda(), size)
        assert got.device.type == "cuda"
        assert torch.equal(got.cpu(), feature_hole_mask(batch, size))


# --- the training sampler ------------------------------------------------------------------------------------------

def test_sampler_resume_bit_exact_through_torch_save(tmp_path):
    config = make_config("smoke", {"masks": {"kind": "mixed", "ratio_bin": [0.1, 0.5]}}).masks
    uninterrupted = MaskSampler(config, 64, seed=7)
    expected = [uninterrupted.sample(3) for _ in range(4)]
    first = MaskSampler(config, 64, seed=7)
    got = [first.sample(3) for _ in range(2)]
    torch.save({"masks": first.state_dict()}, tmp_path / "ckpt.pt")
    resumed = MaskSampler(config, 64, seed=999)
    resumed.load_state_dict(torch.load(tmp_path / "ckpt.pt")["masks"])
    got += [resumed.sample(3) for _ in range(2)]
    for a, b in zip(expected, got):
        assert torch.equal(a, b)


def test_sampler_kinds_and_weights():
    size = 64
    center = torch.from_numpy(center_mask(size))
    config = MaskConfig(kind="mixed", weights={"center": 3.0, "freeform": 1.0, "irregular": 0.0})
    batch = MaskSampler(config, size, seed=0).sample(200)
    is_center = torch.tensor([torch.equal(m[0], center) for m in batch])
    assert 0.65 < is_center.float().mean() < 0.85  # 3 / 4 expected
    assert ((batch == 0) | (batch == 1)).all()
    irregular = MaskSampler(MaskConfig(kind="irregular", ratio_bin=(0.3, 0.4), border=False), size, seed=0).sample(8)
    assert all(0.3 < r <= 0.4 for r in hole_ratio(irregular).tolist())
    assert irregular[..., :2, :].sum() == 0
    freeform = MaskSampler(MaskConfig(kind="freeform"), size, seed=0).sample(4)
    assert ((freeform == 0) | (freeform == 1)).all() and freeform.sum() > 0
    assert len({m.numpy().tobytes() for m in freeform}) == 4  # four different masks
    with pytest.raises(ValueError, match="positive sum"):
        MaskSampler(MaskConfig(kind="mixed", weights={"center": 0.0}), size, 0)
    with pytest.raises(ValueError, match="0 <= lo < hi <= 1"):
        MaskSampler(MaskConfig(kind="irregular", ratio_bin=(0.5, 0.1)), size, 0)


def test_sampler_folder_kind(tmp_path):
    write_mask_set(tmp_path / "set", 64, 2, seed=1)
    sampler = MaskSampler(MaskConfig(kind="folder", folder=str(tmp_path / "set"), invert=False), 32, seed=0)
    batch = sampler.sample(5)
    assert batch.shape == (5, 1, 32, 32)
    folder = MaskFolder(tmp_path / "set", 32, invert=False)
    stored = [torch.from_numpy(folder[i]) for i in range(len(folder))]
    assert all(any(torch.equal(m[0], s) for s in stored) for m in batch)
    assert MaskFolder(tmp_path / "set", 32).invert is False  # the set's own polarity is detected


# --- external files in several formats -----------------------------------------------------------------------------

def test_load_mask_file_formats(tmp_path):
    mask = irregular_mask(64, (0.1, 0.2), seed=4)
    white = (mask * 255).astype(np.uint8)
    Image.fromarray(mask.astype(bool)).save(tmp_path / "one_bit.png")
    Image.fromarray(white).convert("P").save(tmp_path / "palette.png")
    Image.fromarray((mask * 65535).astype(np.uint16)).save(tmp_path / "sixteen.png")
    Image.fromarray(white).convert("RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(255 - white).save(tmp_path / "black_hole.bmp")
    for name in ("one_bit.png", "palette.png", "sixteen.png", "rgba.png", "black_hole.bmp"):
        np.testing.assert_array_equal(load_mask(tmp_path / name, 64), mask, err_msg=name)
    np.testing.assert_array_equal(load_mask(tmp_path / "rgba.png", 128), check_mask(mask, 128))
    with pytest.raises(ValueError, match="disagree"):
        bin_masks(tmp_path)
    (tmp_path / "black_hole.bmp").unlink()
    groups = bin_masks(tmp_path)
    assert len(groups[(0.1, 0.2)]) == 4


def test_bin_masks_warns_outside(tmp_path):
    Image.fromarray((irregular_mask(64, (0.2, 0.3), seed=0) * 255).astype(np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / "empty.png")
    with pytest.warns(UserWarning, match="1 of 2 masks"):
        groups = bin_masks(tmp_path, invert=False)
    assert [p.name for p in groups[(0.2, 0.3)]] == ["a.png"]


# --- the acceptance check at the paper's size ----------------------------------------------------------------------

@slow
def test_thousand_masks_per_bin_at_256():
    start = time.perf_counter()
    for index, ratio_bin in enumerate(RATIO_BINS):
        first = [irregular_mask(256, ratio_bin, seed=(0, index, j)) for j in range(1000)]
        ratios = np.array([hole_ratio(m) for m in first])
        assert ((ratios > ratio_bin[0]) & (ratios < ratio_bin[1])).all(), ratio_bin
        second = [irregular_mask(256, ratio_bin, seed=(0, index, j)) for j in range(1000)]
        assert all(np.array_equal(a, b) for a, b in zip(first, second))
    print(f"2 x 6,000 masks at 256 px: {time.perf_counter() - start:.1f} s")
