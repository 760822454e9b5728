"""csa-inpaint and `inpaint` on bad and unusual input: each case of issues 7 and 31 is a test.

The console script runs in a subprocess where no model is needed (the input is rejected before one
loads); everything else runs `main(argv)` in-process with a stand-in generator in place of a
checkpoint, plus an end-to-end check with a real (smoke-size, untrained) CSA checkpoint.
"""
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

import csa_nb.inference as inference
from csa_nb.inference import InputError, inpaint, inpaint_details, main

ROOT = Path(__file__).resolve().parents[1]


class MeanFill(torch.nn.Module):
    "Stand-in generator: fills the hole with the mean colour of the known pixels."

    def __init__(self, image_size=32):
        super().__init__()
        self.image_size = image_size
        self.calls = 0
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, image, mask):
        self.calls += 1
        known = 1 - mask
        mean = (image * known).sum((2, 3), keepdim=True) / known.sum((2, 3), keepdim=True)
        refined = (mean * self.scale).expand_as(image)
        return SimpleNamespace(rough=refined, refined=refined, composited=image * known + refined * mask, attention=None)


@pytest.fixture
def stand_in(monkeypatch):
    "Every checkpoint loads as the stand-in generator."
    model = MeanFill()
    monkeypatch.setattr(inference, "load_inpainting_model", lambda checkpoint=None, device=None, image_size=None: (model, 32))
    return model


@pytest.fixture
def files(tmp_path):
    "A photo-like image, its mask (white = hole) and a few bad files."
    rng = np.random.default_rng(0)
    photo = (rng.random((40, 60, 3)) * 255).astype(np.uint8)
    hole = np.zeros((40, 60), np.uint8)
    hole[10:25, 20:40] = 255
    Image.fromarray(photo).save(tmp_path / "photo.png")
    Image.fromarray(hole).save(tmp_path / "mask.png")
    Image.fromarray(np.full((40, 60), 255, np.uint8)).save(tmp_path / "all_hole.png")
    Image.fromarray(np.zeros((40, 60), np.uint8)).save(tmp_path / "no_hole.png")
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (tmp_path / "empty.jpg").write_bytes(b"")
    return SimpleNamespace(root=tmp_path, photo=photo, hole=hole)


def run_console(*args, cwd=None):
    "The console script `csa-inpaint` (via its entry point) in a fresh interpreter."
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    code = "import sys; from csa_nb.inference import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


def run_main(argv, capsys):
    status = main([str(a) for a in argv])
    return status, capsys.readouterr().err.strip().splitlines()


# --- the console script: non-zero exit and one line, no traceback -----------------------------------

@pytest.mark.parametrize("image, mask, expected", [
    ("missing.png", "mask.png", "image not found"),
    ("photo.png", "all_hole.png", "covers the whole image"),
])
def test_console_bad_input_one_line(files, image, mask, expected):
    "The installed entry point in a fresh interpreter (slow to start, so only two cases; the rest run in-process)."
    result = run_console(files.root / image, files.root / mask, "-o", files.root / "out.png")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1 and lines[0].startswith("csa-inpaint: error: ") and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not (files.root / "out.png").exists()


@pytest.mark.parametrize("image, mask, expected", [
    ("corrupt.png", "mask.png", "not a valid image file"),
    ("empty.jpg", "mask.png", "not a valid image file"),
    ("photo.png", "missing.png", "file not found"),
    ("photo.png", "corrupt.png", "not a valid image file"),
    ("photo.png", "all_hole.png", "covers the whole image"),
])
def test_bad_input_one_line(files, capsys, image, mask, expected):
    status, lines = run_main([files.root / image, files.root / mask, "-o", files.root / "out.png"], capsys)
    assert status == 1 and len(lines) == 1
    assert lines[0].startswith("csa-inpaint: error: ") and expected in lines[0], lines
    assert not (files.root / "out.png").exists()


def test_missing_checkpoint(files, capsys):
    status, lines = run_main([files.root / "photo.png", files.root / "mask.png", "-o", files.root / "out.png",
                              "--checkpoint", files.root / "nope.pt"], capsys)
    assert (status, lines) == (1, [f"csa-inpaint: error: checkpoint not found: {files.root / 'nope.pt'}"])


def test_no_hole_is_said(files, capsys):
    "An all-black mask has no hole: the command says so (exit 1, nothing written) instead of copying the input silently."
    status, lines = run_main([files.root / "photo.png", files.root / "no_hole.png", "-o", files.root / "same.png"], capsys)
    assert status == 1 and len(lines) == 1, lines
    assert lines[0].startswith("csa-inpaint: error: the mask has no hole") and "all black (white = hole)" in lines[0], lines
    assert not (files.root / "same.png").exists()
    Image.fromarray((files.hole > 0).astype(np.uint8)).save(files.root / "zero_one.png")  # 0/1 values saved as 8 bit
    status, lines = run_main([files.root / "photo.png", files.root / "zero_one.png", "-o", files.root / "same.png"], capsys)
    assert status == 1 and "brightest pixel is 1 of 255" in lines[0] and "0 and 255" in lines[0], lines


# --- issue 18: what is checked before the model runs ----------------------------------------------------

def test_unwritable_output_fails_before_inference(files, stand_in, capsys):
    "`-o /proc/nope/o.png`: one line, and the model never ran."
    status, lines = run_main([files.root / "photo.png", files.root / "mask.png", "-o", "/proc/nope/o.png"], capsys)
    assert status == 1 and len(lines) == 1, lines
    assert lines[0].startswith("csa-inpaint: error: cannot write /proc/nope/o.png"), lines
    assert stand_in.calls == 0
    (files.root / "read_only").mkdir(mode=0o555)
    if os.geteuid() != 0:  # root writes anywhere
        status, lines = run_main([files.root / "photo.png", files.root / "mask.png", "-o", files.root / "read_only" / "o.png"], capsys)
        assert status == 1 and "is not writable" in lines[0], lines


def test_cuda_without_gpu_says_so(files, capsys, monkeypatch):
    "`--device cuda` on a machine without CUDA names the device, not the checkpoint."
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    status, lines = run_main([files.root / "photo.png", files.root / "mask.png", "-o", files.root / "o.png", "--device", "cuda"], capsys)
    assert status == 1 and len(lines) == 1, lines
    assert "no CUDA device" in lines[0] and "--device cpu" in lines[0] and "checkpoint" not in lines[0], lines
    status, lines = run_main([files.root / "photo.png", files.root / "mask.png", "-o", files.root / "o.png", "--device", "gpu"], capsys)
    assert status == 1 and "unknown device 'gpu'" in lines[0], lines


def test_mask_of_another_aspect_ratio_is_refused(files, stand_in, capsys):
    "Stretching a 1:1 mask over a 3:2 picture would move the hole: refused, with what to do."
    Image.fromarray(np.full((40, 40), 255, np.uint8)).save(files.root / "square.png")
    status, lines = run_main([files.root / "photo.png", files.root / "square.png", "-o", files.root / "o.png"], capsys)
    assert status == 1 and len(lines) == 1, lines
    assert "mask is 40x40 but the image is 40x60" in lines[0] and "another aspect ratio" in lines[0], lines
    assert "crop or pad it to 40x60" in lines[0] and stand_in.calls == 0
    assert not (files.root / "o.png").exists()


def test_folder_run_needs_an_output_folder(files, stand_in, capsys):
    "A folder of images with `-o out.png` is refused instead of making a folder called out.png."
    images = files.root / "images"
    images.mkdir()
    Image.fromarray(files.photo).save(images / "x.png")
    status, lines = run_main([images, files.root / "mask.png", "-o", files.root / "out.png", "--quiet"], capsys)
    assert status == 1 and len(lines) == 1, lines
    assert "-o must be a folder" in lines[0] and f"-o {files.root / 'out'}" in lines[0], lines
    assert not (files.root / "out.png").exists() and stand_in.calls == 0


def test_usage_error(files, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([str(files.root / "photo.png")])
    assert exit_info.value.code == 2 and "usage: csa-inpaint" in capsys.readouterr().err


def test_shipped_checkpoint_missing_is_clear(files, monkeypatch):
    monkeypatch.setattr(inference, "DEFAULT_CHECKPOINT", files.root / "assets" / "csa_cpu.pt")
    with pytest.raises(InputError, match="shipped checkpoint is missing"):
        inpaint(files.photo, files.hole)


# --- single images, in-process ----------------------------------------------------------------------

def test_single_file(files, stand_in, capsys):
    status, lines = run_main([files.root / "photo.png", files.root / "mask.png", "-o", files.root / "out" / "result.png"], capsys)
    assert (status, lines) == (0, [])
    out = np.asarray(Image.open(files.root / "out" / "result.png"))
    assert out.shape == files.photo.shape
    known = files.hole == 0
    assert np.array_equal(out[known], files.photo[known])
    assert np.abs(out[~known].astype(float) - files.photo[known].mean(0)).max() <= 3  # mean colour in the hole


def test_output_into_folder(files, stand_in, capsys):
    (files.root / "results").mkdir()
    status, _ = run_main([files.root / "photo.png", files.root / "mask.png", "-o", files.root / "results"], capsys)
    assert status == 0 and (files.root / "results" / "photo.png").is_file()


def test_invert_mask_flag(files, stand_in, capsys):
    Image.fromarray(255 - files.hole).save(files.root / "black_hole.png")
    run_main([files.root / "photo.png", files.root / "mask.png", "-o", files.root / "a.png"], capsys)
    run_main([files.root / "photo.png", files.root / "black_hole.png", "-o", files.root / "b.png", "--invert-mask"], capsys)
    assert np.array_equal(np.asarray(Image.open(files.root / "a.png")), np.asarray(Image.open(files.root / "b.png")))


def test_mask_of_another_size_is_refused_unless_asked(files, stand_in, capsys):
    "The README says the mask has the image's shape: another size is one line, unless --resize-mask asks for scaling."
    Image.fromarray(files.hole).resize((120, 80), Image.NEAREST).save(files.root / "big_mask.png")
    status, lines = run_main([files.root / "photo.png", files.root / "big_mask.png", "-o", files.root / "out.png"], capsys)
    assert status == 1 and len(lines) == 1 and "must have the image's shape" in lines[0] and "--resize-mask" in lines[0], lines
    assert not (files.root / "out.png").exists() and stand_in.calls == 0
    with pytest.raises(InputError, match="must have the image's shape"):
        inpaint(files.photo, np.asarray(Image.open(files.root / "big_mask.png")))
    status, lines = run_main([files.root / "photo.png", files.root / "big_mask.png", "-o", files.root / "out.png",
                              "--resize-mask"], capsys)
    assert status == 0
    assert lines == ["csa-inpaint: warning: mask is 80x120 but the image is 40x60: mask resized with nearest neighbour"]
    out = np.asarray(Image.open(files.root / "out.png"))
    assert np.array_equal(out[files.hole == 0], files.photo[files.hole == 0])


def test_rgba_keeps_alpha(files, stand_in, capsys):
    "RGBA in, RGBA out: the alpha channel comes back unchanged; a JPEG output, which cannot hold it, is one line."
    alpha = np.random.default_rng(1).integers(0, 256, (40, 60), dtype=np.uint8)
    Image.fromarray(np.dstack([files.photo, alpha])).save(files.root / "rgba.png")
    status, lines = run_main([files.root / "rgba.png", files.root / "mask.png", "-o", files.root / "out.png"], capsys)
    assert (status, lines) == (0, [])
    out = np.asarray(Image.open(files.root / "out.png"))
    assert out.shape == (40, 60, 4) and np.array_equal(out[..., 3], alpha)
    assert np.array_equal(out[..., :3][files.hole == 0], files.photo[files.hole == 0])
    status, lines = run_main([files.root / "rgba.png", files.root / "mask.png", "-o", files.root / "out.jpg"], capsys)
    assert status == 1 and "alpha channel" in lines[0] and "out.png" in lines[0] and stand_in.calls == 1, lines


def test_grayscale_stays_grayscale(files, stand_in, capsys):
    grey = files.photo[..., 1]
    Image.fromarray(grey).save(files.root / "grey.png")
    status, lines = run_main([files.root / "grey.png", files.root / "mask.png", "-o", files.root / "out.png"], capsys)
    assert (status, lines) == (0, [])
    out = Image.open(files.root / "out.png")
    assert out.mode == "L" and np.array_equal(np.asarray(out)[files.hole == 0], grey[files.hole == 0])


@pytest.mark.parametrize("channels", [1, 3])
def test_sixteen_bit_files(files, stand_in, capsys, channels):
    "16-bit grey and colour PNGs are read at full depth (not clipped or truncated) and written at 8 bits."
    deep = files.photo.astype(np.uint16) * 257  # 8-bit value v -> 16-bit 257 v, so 8-bit output must give v back
    deep[5, 7] += 3  # not a multiple of 257: 8 bits would lose it
    cv2.imwrite(str(files.root / "deep.png"), deep[..., 0] if channels == 1 else deep[..., ::-1])
    status, lines = run_main([files.root / "deep.png", files.root / "mask.png", "-o", files.root / "out.png"], capsys)
    assert (status, lines) == (0, [])
    out = cv2.imread(str(files.root / "out.png"), cv2.IMREAD_UNCHANGED)
    assert out.dtype == np.uint16  # 16 bits in, 16 bits out: every known pixel exactly
    expected = deep[..., 0] if channels == 1 else deep
    assert np.array_equal((out if channels == 1 else out[..., ::-1])[files.hole == 0], expected[files.hole == 0])
    status, lines = run_main([files.root / "deep.png", files.root / "mask.png", "-o", files.root / "out.jpg"], capsys)
    assert status == 1 and "16-bit" in lines[0] and "out.png" in lines[0], lines


def test_all_hole_and_no_hole_in_python(files, stand_in):
    with pytest.raises(InputError, match="covers the whole image"):
        inpaint(files.photo, np.ones((40, 60)))
    image = Image.fromarray(files.photo)
    same = inpaint(image, np.zeros((40, 60)))
    assert same is not image and np.array_equal(np.asarray(same), files.photo)
    assert stand_in.calls == 0  # no model run for a mask without a hole


def test_any_size_comes_back_at_input_size(stand_in):
    for height, width in [(17, 90), (200, 33), (32, 32), (5, 7)]:
        photo = np.random.default_rng(height).integers(0, 256, (height, width, 3), dtype=np.uint8)
        hole = np.zeros((height, width), np.float32)
        hole[height // 3: 2 * height // 3 + 1, width // 3: 2 * width // 3 + 1] = 1
        result = inpaint_details(photo, hole)
        assert result.image.size == (width, height)
        assert result.refined.shape == (height, width, 3)
        assert np.array_equal(np.asarray(result.image)[hole == 0], photo[hole == 0])


def test_bad_arrays_are_clear(stand_in):
    with pytest.raises(InputError, match=r"float images must be in \[0, 1\]"):
        inpaint(np.full((8, 8, 3), 255.0), np.ones((8, 8)))
    with pytest.raises(InputError, match="uint8"):
        inpaint(np.full((8, 8, 3), -5, np.int32), np.ones((8, 8)))
    with pytest.raises(InputError, match="shape"):
        inpaint(np.zeros((8, 8, 2), np.uint8), np.ones((8, 8)))
    with pytest.raises(InputError, match="NaN"):
        inpaint(np.full((8, 8, 3), np.nan, np.float32), np.ones((8, 8)))


# --- batches over folders ---------------------------------------------------------------------------

def test_batch_skips_and_reports_bad_files(files, stand_in, capsys):
    images, masks = files.root / "images", files.root / "masks"
    images.mkdir(), masks.mkdir()
    for name in ("a.png", "d.jpg"):
        Image.fromarray(files.photo).save(images / name)
    Image.fromarray(files.hole).save(masks / "a.png")
    Image.fromarray(files.hole).save(masks / "d.png")  # matched by stem across suffixes
    (images / "b.png").write_bytes(b"not an image")
    Image.fromarray(files.hole).save(masks / "b.png")
    Image.fromarray(files.photo).save(images / "c.png")  # no mask
    Image.fromarray(files.photo).save(images / "e.png")
    Image.fromarray(np.full((40, 60), 255, np.uint8)).save(masks / "e.png")  # all hole
    (images / "notes.txt").write_text("ignored: not an image suffix")
    Image.fromarray(files.photo).save(images / "a.jpg")  # same output name as a.png
    status, lines = run_main([images, masks, "-o", files.root / "out", "--quiet"], capsys)
    assert status == 1
    assert sorted(p.name for p in (files.root / "out").iterdir()) == ["a.png", "d.png"]
    assert lines[0] == f"csa-inpaint: inpainted 2 of 6 images into {files.root / 'out'}; skipped 4:"
    assert [line.split(":")[1].strip() for line in lines[1:]] == ["skipped a.png", "skipped b.png", "skipped c.png", "skipped e.png"]
    assert "already taken by a.jpg" in lines[1]
    assert "not a valid image file" in lines[2] and "no mask named c" in lines[3] and "whole image" in lines[4]


def test_batch_one_mask_for_all(files, stand_in, capsys):
    images = files.root / "images"
    images.mkdir()
    for name in ("x.png", "y.png"):
        Image.fromarray(files.photo).save(images / name)
    status, lines = run_main([images, files.root / "mask.png", "-o", files.root / "out", "--quiet"], capsys)
    assert status == 0 and lines == [f"csa-inpaint: inpainted 2 of 2 images into {files.root / 'out'}"]


def test_batch_bad_folders(files, stand_in, capsys):
    (files.root / "nothing").mkdir()
    status, lines = run_main([files.root / "nothing", files.root / "mask.png", "-o", files.root / "out"], capsys)
    assert status == 1 and lines == [f"csa-inpaint: error: no images (.png, .jpg, .jpeg, .bmp, .tif, .tiff, .webp, .gif, .ppm, .pgm) in {files.root / 'nothing'}"]
    status, lines = run_main([files.root / "photo.png", files.root, "-o", files.root / "out.png"], capsys)
    assert status == 1 and "MASK is a folder" in lines[0]


def test_batch_progress_bar(files, stand_in, capsys):
    images = files.root / "images"
    images.mkdir()
    Image.fromarray(files.photo).save(images / "x.png")
    status = main([str(images), str(files.root / "mask.png"), "-o", str(files.root / "out")])
    assert status == 0 and "csa-inpaint: 100%" in capsys.readouterr().err


# --- real generators ----------------------------------------------------------------------------------

@pytest.mark.parametrize("middle", ["conv", "csa"])
def test_real_generator_any_size(files, middle):
    "The project's CSAGenerator (smoke size, random weights) through the whole resize-pad-crop path."
    import csa_nb.networks as networks
    from csa_nb.config import make_config
    torch.manual_seed(0)
    config = make_config("smoke", {"model": {"middle": middle}})
    generator = networks.CSAGenerator(config.model, config.data.image_size)
    result = inpaint_details(files.photo, files.hole, generator, device="cpu")
    out = np.asarray(result.image)
    assert out.shape == files.photo.shape and result.rough.shape == files.photo.shape
    assert np.array_equal(out[files.hole == 0], files.photo[files.hole == 0])
    assert not np.array_equal(out[files.hole > 0], files.photo[files.hole > 0])
    assert generator.training  # mode restored
    if middle == "csa":
        from csa_nb.inference import attention_map
        heat = attention_map(result, 17, 30)  # the middle of the hole
        side = result.feature_mask.shape[-1]
        assert heat.shape == (side, side) and np.isfinite(heat).all()


def smoke_checkpoint(path, middle="csa", name="csa"):
    "A checkpoint file in the trainer's format holding an untrained smoke-size model."
    import csa_nb.train as train
    from csa_nb.config import config_to_dict, make_config
    from csa_nb.networks import build_model
    torch.manual_seed(0)
    config = make_config("smoke", {"model": {"middle": middle, "name": name}})
    model = build_model(config)
    checkpoint = {"format": train.CHECKPOINT_FORMAT, "config": config_to_dict(config), "step": 0,
                  "model": model.state_dict(), "optimizers": {}, "rng": {}, "vgg_weights": "random"}
    return train.save_checkpoint(checkpoint, path)


def test_real_checkpoint_end_to_end(files, capsys):
    "A checkpoint in the trainer's format runs through the command line."
    path = smoke_checkpoint(files.root / "smoke.pt")
    status, lines = run_main([files.root / "photo.png", files.root / "mask.png", "-o", files.root / "out.png",
                              "--checkpoint", path, "--device", "cpu"], capsys)
    assert (status, lines) == (0, [])
    out = np.asarray(Image.open(files.root / "out.png"))
    assert out.shape == files.photo.shape
    assert np.array_equal(out[files.hole == 0], files.photo[files.hole == 0])
    result = inpaint_details(files.photo, files.hole, path, device="cpu")
    assert result.attention is not None and result.feature_mask is not None


def test_corrupt_checkpoint_is_one_line(files, capsys):
    (files.root / "bad.pt").write_bytes(b"not a checkpoint")
    status, lines = run_main([files.root / "photo.png", files.root / "mask.png", "-o", files.root / "out.png",
                              "--checkpoint", files.root / "bad.pt"], capsys)
    assert status == 1 and len(lines) == 1 and lines[0].startswith("csa-inpaint: error: cannot load checkpoint")


def test_model_card_measures_the_checkpoint(tmp_path):
    "The card's numbers are those `evaluate` gives for the checkpoint (a smoke-size partial-conv model here), beside Telea's."
    from csa_nb.config import make_config
    from csa_nb.data import build_dataset
    from csa_nb.masks import center_mask
    from csa_nb.metrics import evaluate, model_inpaint_fn
    from csa_nb.inference import load_inpainting_model
    from csa_nb.model_card import model_card
    path = smoke_checkpoint(tmp_path / "pconv.pt", middle="conv", name="pconv")
    card = model_card(path, limit=2, masks_per_bin=1, baselines=("telea",))
    generator, size = load_inpainting_model(path, "cpu")
    expected = evaluate(model_inpaint_fn(generator), build_dataset(make_config("smoke").data, "test"), [center_mask(size)], limit=2)
    row = expected.iloc[0]
    assert f"| builtin test crops | centre | 2 | {row['psnr_mean']:.2f} | " in card
    for holes in ("10-20%", "20-30%", "30-40%", "40-50%"):
        assert f"| builtin test crops | {holes} | 2 |" in card
    assert "0 steps" in card and "`builtin`" in card and "## Plain colours" in card


def test_fast_generator_load_equals_trainer_load(files, tmp_path):
    "The generator-only path for CSA checkpoints gives the same weights and result as csa_nb.train.load_model."
    from csa_nb.train import load_model
    from csa_nb.inference import load_inpainting_model
    path = smoke_checkpoint(tmp_path / "csa.pt")
    fast, size = load_inpainting_model(path, "cpu")
    model, config = load_model(path, "cpu")
    assert size == config.data.image_size
    fast_state, full_state = fast.state_dict(), model.generator.state_dict()
    assert fast_state.keys() == full_state.keys()
    assert all(torch.equal(fast_state[k], full_state[k]) for k in fast_state)
    ours = np.asarray(inpaint(files.photo, files.hole, path, device="cpu"))
    theirs = np.asarray(inpaint(files.photo, files.hole, model, device="cpu"))
    assert np.array_equal(ours, theirs)


def test_checkpoint_with_wrong_weights_is_clear(tmp_path):
    import csa_nb.train as train
    from csa_nb.inference import load_inpainting_model
    path = smoke_checkpoint(tmp_path / "csa.pt")
    stored = torch.load(path, weights_only=True)
    stored["config"]["model"]["width"] = 4  # the config no longer describes the weights
    train.save_checkpoint(stored, tmp_path / "mismatch.pt")
    with pytest.raises(InputError, match="do not fit the model its config describes"):
        load_inpainting_model(tmp_path / "mismatch.pt", "cpu")


def test_demo_shows_csa_attention(files):
    "The demo (csa_nb.demo) with a real (untrained, smoke-size) CSA generator: paint, run, click a hole pixel."
    pytest.importorskip("anywidget")
    from csa_nb.config import make_config
    from csa_nb.demo import inpainting_demo
    from csa_nb.networks import CSAGenerator
    torch.manual_seed(0)
    config = make_config("smoke")
    demo = inpainting_demo(CSAGenerator(config.model, config.data.image_size), images={"photo": files.photo})
    demo.add_stroke([(25, 17), (35, 17)], size=5)
    demo.run_button.click()
    assert demo.status.value.count("done: CSA") == 1, demo.status.value
    demo.panels["CSA"].click = [17, 30, 1]
    assert "from the previous generated pixel" in demo.status.value, demo.status.value
    assert demo.attention_text.value and "best match" in demo.attention_text.value
    demo.panels["CSA"].click = [2, 2, 2]  # a known pixel: explained, not an exception
    assert "is known, not hole" in demo.status.value


@pytest.mark.parametrize("half", [False, True])
def test_shipping_checkpoint(files, tmp_path, half):
    "The generator-only copy loads through inpaint and gives the same picture (float16: within a few levels)."
    from csa_nb.inference import shipping_checkpoint
    from csa_nb.train import load_checkpoint
    full = smoke_checkpoint(tmp_path / "full.pt")
    slim = shipping_checkpoint(full, tmp_path / "slim.pt", half=half)
    stored = load_checkpoint(slim)
    assert all(name.startswith("generator.") for name in stored["model"]) and stored["optimizers"] == {}
    assert slim.stat().st_size < full.stat().st_size
    expected = np.asarray(inpaint(files.photo, files.hole, full, device="cpu")).astype(int)
    got = np.asarray(inpaint(files.photo, files.hole, slim, device="cpu")).astype(int)
    assert np.abs(got - expected).max() <= (3 if half else 0)


def test_shipping_checkpoint_of_another_model(files, tmp_path):
    "A baseline's checkpoint slims and loads like CSA's: the registry builds its generator, no model is special."
    from csa_nb.inference import shipping_checkpoint
    full = smoke_checkpoint(tmp_path / "pconv.pt", middle="conv", name="pconv")
    slim = shipping_checkpoint(full, tmp_path / "slim.pt")
    expected = np.asarray(inpaint(files.photo, files.hole, full, device="cpu")).astype(int)
    assert np.array_equal(np.asarray(inpaint(files.photo, files.hole, slim, device="cpu")).astype(int), expected)


def test_shipped_checkpoint_works_out_of_the_box(files, capsys):
    "`csa-inpaint IMAGE MASK -o OUT` with no --checkpoint uses the packaged model."
    if not inference.DEFAULT_CHECKPOINT.is_file():
        pytest.skip("this build ships no checkpoint")
    status, lines = run_main([files.root / "photo.png", files.root / "mask.png", "-o", files.root / "out.png", "--device", "cpu"], capsys)
    assert (status, lines) == (0, [])
    out = np.asarray(Image.open(files.root / "out.png"))
    assert out.shape == files.photo.shape
    assert np.array_equal(out[files.hole == 0], files.photo[files.hole == 0])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the CLI's default: the solver's sums, hence the last grey level, depend on the thread count
    try:
        result = inpaint_details(files.photo, files.hole, device="cpu")
    finally:
        torch.set_num_threads(threads)
    assert result.attention is not None and np.array_equal(np.asarray(result.image), out)


def test_threads_flag(files, stand_in, capsys):
    "`--threads` sets torch's intra-op threads for the run and main() restores them; a count below 1 is one line."
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # so that "restored" differs from the run's 1
    seen = []
    original = inference.inpaint
    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(*args, **kwargs)
    inference.inpaint = spy
    try:
        status, lines = run_main([files.root / "photo.png", files.root / "mask.png", "-o", files.root / "t.png",
                                  "--threads", "1"], capsys)
    finally:
        inference.inpaint = original
    assert (status, lines, seen, torch.get_num_threads()) == (0, [], [1], 2)
    status, lines = run_main([files.root / "photo.png", files.root / "mask.png", "-o", files.root / "t0.png",
                              "--threads", "0"], capsys)
    assert (status, lines) == (1, ["csa-inpaint: error: --threads must be at least 1, got 0"])
    assert not (files.root / "t0.png").exists() and torch.get_num_threads() == 2
    torch.set_num_threads(before)


# ---------------------------------------------------------------- precision (issue 14)
BF16_MAX_GREY_LEVELS = 8  # per pixel, of 255 (measured: 5 on the 128 px shipped model, 1 on the 256 px residual one)
BF16_MEAN_GREY_LEVELS = 0.25  # per image, whole image (measured: at most 0.13 and 0.03)
BF16_CROPS = 4  # builtin val crops checked, each with a centre and an irregular hole: 8 images (16 took 4 of CI's ~27
                # minutes on a CPU without native bf16, where every bf16 convolution is emulated)


def test_bf16_inference_is_within_tolerance_of_fp32():
    "`precision='bf16'` on the shipped model and the builtin test crops, centre and irregular holes: 8-bit results within the stated tolerance of fp32."
    if not inference.DEFAULT_CHECKPOINT.is_file():
        pytest.skip("this build ships no checkpoint")
    from csa_nb.config import DataConfig
    from csa_nb.data import build_dataset, tensor_to_image
    from csa_nb.masks import center_mask, irregular_mask
    crops = build_dataset(DataConfig(dataset="builtin", image_size=128), "val")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for index in range(BF16_CROPS):
            image = np.asarray(tensor_to_image(crops[index]))
            for mask in (center_mask(128), irregular_mask(128, (0.3, 0.4), seed=index)):
                exact = np.asarray(inpaint(image, mask, device="cpu", precision="fp32"), np.int16)
                fast = np.asarray(inpaint(image, mask, device="cpu", precision="bf16"), np.int16)
                difference = np.abs(fast - exact)
                assert difference.max() <= BF16_MAX_GREY_LEVELS and difference.mean() <= BF16_MEAN_GREY_LEVELS, \
                    f"crop {index}: bf16 differs from fp32 by up to {difference.max()} grey levels, {difference.mean():.3f} on average"
                assert np.array_equal(fast[mask == 0], image[mask == 0])  # the known pixels are the input's in any precision
        default = np.asarray(inpaint(image, mask, device="cpu"), np.int16)
        assert np.array_equal(default, exact)  # auto is fp32 for one image on a CPU
    finally:
        torch.set_num_threads(threads)


def test_precision_flag(files, stand_in, capsys):
    "`--precision` reaches `inpaint`; fp16 without CUDA is one line."
    seen = []
    original = inference.inpaint
    def spy(*args, **kwargs):
        seen.append(kwargs.get("precision"))
        return original(*args, **kwargs)
    inference.inpaint = spy
    try:
        status, lines = run_main([files.root / "photo.png", files.root / "mask.png", "-o", files.root / "p.png", "--precision", "bf16"], capsys)
    finally:
        inference.inpaint = original
    assert (status, lines, seen) == (0, [], ["bf16"])
    status, lines = run_main([files.root / "photo.png", files.root / "mask.png", "-o", files.root / "h.png",
                              "--precision", "fp16", "--device", "cpu"], capsys)
    assert status == 1 and len(lines) == 1 and "needs a CUDA device" in lines[0]


# ---------------------------------------------------------------- issue 31: what is written, inputs users have, crops
def test_outputs_lose_nothing(files, stand_in, capsys):
    "Never over the input image or mask; an existing output only with --overwrite, said; each path written printed."
    photo, mask, out = files.root / "photo.png", files.root / "mask.png", files.root / "out.png"
    for target in (photo, mask):
        status, lines = run_main([photo, mask, "-o", target], capsys)
        assert status == 1 and len(lines) == 1 and "refusing to write over the" in lines[0], lines
    assert np.array_equal(np.asarray(Image.open(photo)), files.photo) and stand_in.calls == 0
    assert main([str(photo), str(mask), "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    status, lines = run_main([photo, mask, "-o", out], capsys)
    assert status == 1 and lines == [f"csa-inpaint: error: {out} exists: add --overwrite to replace it"] and stand_in.calls == 1
    assert main([str(photo), str(mask), "-o", str(out), "--overwrite"]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out} (replaced the existing file: --overwrite)"
    images = files.root / "images"  # a batch into its own folder would write x.png over x.png: skipped, said
    images.mkdir()
    Image.fromarray(files.photo).save(images / "x.png")
    status, lines = run_main([images, mask, "-o", images, "--quiet"], capsys)
    assert status == 1 and "refusing to write over the input image" in lines[1], lines
    assert np.array_equal(np.asarray(Image.open(images / "x.png")), files.photo)


def test_exif_rotated_jpeg(files, stand_in, capsys):
    "A camera JPEG stored sideways with an EXIF orientation: read upright (as viewers show it), written upright."
    upright = np.zeros((40, 60, 3), np.uint8); upright[:, :30] = 255
    sideways = Image.fromarray(np.ascontiguousarray(np.rot90(upright, 1)))  # stored 60 x 40
    exif = Image.Exif(); exif[0x0112] = 6  # "rotate 90 CW to view"
    sideways.save(files.root / "camera.jpg", exif=exif, quality=100)
    status, lines = run_main([files.root / "camera.jpg", files.root / "mask.png", "-o", files.root / "out.png"], capsys)
    assert (status, lines) == (0, [])
    out = np.asarray(Image.open(files.root / "out.png"))
    assert out.shape == (40, 60, 3)  # upright, as the mask drawn on it
    read = np.asarray(inference.read_image(files.root / "camera.jpg"))
    assert np.array_equal(out[files.hole == 0], read[files.hole == 0]) and np.abs(read.astype(int) - upright).mean() < 4


def test_soft_mask_said_once_in_a_mixed_folder(files, stand_in, capsys):
    "A folder of pictures of mixed sizes and one soft-edged mask per picture: thresholded, said once; progress bar shown."
    images, masks = files.root / "images", files.root / "masks"
    images.mkdir(), masks.mkdir()
    for name, (height, width) in {"a": (40, 60), "b": (70, 50), "c": (33, 90)}.items():
        Image.fromarray(np.random.default_rng(height).integers(0, 256, (height, width, 3), dtype=np.uint8)).save(images / f"{name}.png")
        soft = np.zeros((height, width), np.uint8); soft[10:20, 10:30] = 255; soft[9, 10:30] = 128; soft[20, 10:30] = 100
        Image.fromarray(soft).save(masks / f"{name}.png")
    status = main([str(images), str(masks), "-o", str(files.root / "out")])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert status == 0 and "csa-inpaint: 100%" in captured.err
    soft_lines = [line for line in lines if "soft edges" in line]
    assert len(soft_lines) == 1 and "thresholded at one half" in soft_lines[0], lines
    assert captured.out.count("wrote ") == 3
    for name in "abc":
        out, photo = np.asarray(Image.open(files.root / "out" / f"{name}.png")), np.asarray(Image.open(images / f"{name}.png"))
        hole = np.asarray(Image.open(masks / f"{name}.png")) > 127
        assert out.shape == photo.shape and np.array_equal(out[~hole], photo[~hole])


def test_threads_argument_in_python(files, stand_in):
    "`inpaint(..., threads=n)` runs the call with n threads and restores torch's setting; 1 by default."
    before, seen = torch.get_num_threads(), []
    hook = stand_in.register_forward_pre_hook(lambda module, inputs: seen.append(torch.get_num_threads()))
    try:
        torch.set_num_threads(2)
        inpaint(files.photo, files.hole)
        inpaint(files.photo, files.hole, threads=2)
        assert seen == [1, 2] and torch.get_num_threads() == 2
        with pytest.raises(InputError, match="threads must be"):
            inpaint(files.photo, files.hole, threads=0)
    finally:
        hook.remove()
        torch.set_num_threads(before)


def smoke_generator(**model):
    from csa_nb.config import make_config
    from csa_nb.networks import CSAGenerator
    torch.manual_seed(0)
    config = make_config("smoke", {"model": model})
    return CSAGenerator(config.model, config.data.image_size).eval()


def test_crop_layout_through_the_model():
    "Holes at corners and borders, several holes and one larger than the cap: each window at its own resolution, pasted back."
    generator = smoke_generator()  # 64 px, runs on canvases of any multiple of 64
    rng = np.random.default_rng(3)
    photo = rng.integers(0, 256, (300, 420, 3), dtype=np.uint8)
    hole = np.zeros((300, 420), np.float32)
    hole[:12, :10] = 1; hole[-8:, -20:] = 1; hole[140:150, -6:] = 1  # two corners and a border
    hole[100:110, 100:140] = 1; hole[115:125, 150:160] = 1  # two holes close together: one window
    hole[160:290, 180:300] = 1  # 130 px: larger than a 128 cap, so scaled onto the 128 canvas
    result = inpaint_details(photo, hole, generator, device="cpu", max_side=128, margin=16, attention=False)
    out = np.asarray(result.image)
    assert np.array_equal(out[hole == 0], photo[hole == 0])  # every known pixel is the input's own
    assert (out[hole > 0] != photo[hole > 0]).any(axis=-1).mean() > 0.9  # the holes are filled
    windows = sorted((layout.origin, layout.size, layout.canvas, layout.scaled) for layout in result.crops)
    assert len(windows) == 5
    assert ((0, 0), (64, 64), 64, (64, 64)) in windows and ((236, 356), (64, 64), 64, (64, 64)) in windows
    big = [w for w in windows if w[1][0] > 128]
    assert big == [((138, 159), (162, 162), 128, (128, 128))], windows  # 130 + 2 x 16 (moved up inside), scaled onto the cap
    assert ((48, 66), (128, 128), 128, (128, 128)) in windows  # the two close holes share one window, unscaled on 128


def test_strategies_agree_on_a_small_image(files):
    "An S x S picture is one and the same canvas under crop, resize and original; a smaller one is padded, never scaled up."
    generator = smoke_generator()
    photo = np.random.default_rng(4).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    hole = np.zeros((64, 64), np.float32); hole[20:40, 24:44] = 1
    outs = [np.asarray(inpaint(photo, hole, generator, device="cpu", strategy=s)) for s in ("crop", "resize", "original")]
    assert np.array_equal(outs[0], outs[1]) and np.array_equal(outs[0], outs[2])
    crop, resize, original = (inpaint_details(files.photo, files.hole, generator, device="cpu", strategy=s)
                              for s in ("crop", "resize", "original"))
    assert crop.crops[0].scaled == (40, 60) and resize.crops[0].scaled == (43, 64)  # crop pads; resize scales up
    assert np.array_equal(np.asarray(crop.image), np.asarray(original.image))
    assert np.abs(np.asarray(crop.image, float) - np.asarray(resize.image, float))[files.hole > 0].mean() < 40
    with pytest.raises(InputError, match="unknown strategy"):
        inpaint(files.photo, files.hole, generator, strategy="tile")


def test_correction_switch_runs_the_model_once(files):
    "A model with a correction gain runs its networks twice per window; correction=False (--no-correction) once."
    generator = smoke_generator(hole_fill="blend", residual=True, correction_ring=2)
    calls = []
    hook = generator.refinement.register_forward_hook(lambda *args: calls.append(1))
    try:
        with_gain = np.asarray(inpaint(files.photo, files.hole, generator, device="cpu"))
        assert len(calls) == 2
        without = np.asarray(inpaint(files.photo, files.hole, generator, device="cpu", correction=False))
        assert len(calls) == 3 and generator.model_cfg.correction_ring == 2  # restored
    finally:
        hook.remove()
    assert np.array_equal(with_gain[files.hole == 0], without[files.hole == 0])


def test_fill_solvers_in_inference(files):
    "The inference first guess: training's iterations on the holes' box (the default) equal the whole-picture ones; direct is close."
    from csa_nb.networks import biharmonic_fill, diffusion_solver, harmonic_fill
    image = torch.from_numpy(files.photo).permute(2, 0, 1)[None].float() / 127.5 - 1
    hole = torch.from_numpy(files.hole > 0)[None, None].float()
    whole = biharmonic_fill(image, hole, 200), harmonic_fill(image, hole)
    with diffusion_solver("pyramid"):
        boxed = biharmonic_fill(image, hole, 200), harmonic_fill(image, hole)
    with diffusion_solver("direct"):
        exact = biharmonic_fill(image, hole, 200), harmonic_fill(image, hole)
    for a, b in zip(whole, boxed):
        assert (a - b).abs().max() < 1e-4
    assert (exact[1] - whole[1]).abs().max() < 0.25  # the harmonic pyramid nearly converges
    generator = smoke_generator(hole_fill="blend", residual=True)
    default = np.asarray(inpaint(files.photo, files.hole, generator, device="cpu"), int)
    direct = np.asarray(inpaint(files.photo, files.hole, generator, device="cpu", solver="direct"), int)
    assert np.array_equal(default[files.hole == 0], direct[files.hole == 0])
