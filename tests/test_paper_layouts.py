"""csa-reproduce on the paper's dataset layouts, end to end.

Tiny stand-in trees of CelebA, Places2 (categories butte and canyon; validation flat with its label file) and Paris
StreetView, and of the partial-convolution mask set, built exactly as data/README.md documents them, run through every
table notebook at the smoke scale with `csa-reproduce --profile smoke --data DIR --masks MDIR --set train.steps=3`.
Models shared between tables are trained once (the run cache). About 3 minutes on 2 busy cores.
"""
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-c", "import sys; from csa_nb.reproduce import main; sys.exit(main())"]  # csa-reproduce, from this checkout
TABLES = ["table1", "table2", "table6", "table7", "table8", "table9", "table10", "table11"]


def photo(index: int, width: int, height: int) -> Image.Image:
    "A small crop of one of the builtin photographs: real image statistics, different for every index."
    from csa_nb.data import builtin_images
    photos = builtin_images()
    picture = photos[sorted(photos)[index % len(photos)]]
    left = (37 * index) % max(1, picture.width - 2 * width)
    top = (53 * index) % max(1, picture.height - 2 * height)
    return picture.crop((left, top, left + 2 * width, top + 2 * height)).resize((width, height))


def make_celeba(root: Path):
    "img_align_celeba/000001.jpg ... and list_eval_partition.txt (0 train, 1 val, 2 test)."
    (root / "img_align_celeba").mkdir(parents=True)
    partition = [0] * 6 + [1] * 5 + [2] * 2
    for number, part in enumerate(partition, 1):
        photo(number, 45, 55).save(root / "img_align_celeba" / f"{number:06d}.jpg")
    (root / "list_eval_partition.txt").write_text("".join(f"{n:06d}.jpg {p}\n" for n, p in enumerate(partition, 1)))


def make_places2(root: Path):
    "data_256/<letter>/<category>/ for training, a flat val_256/ with categories_places365.txt and places365_val.txt."
    for letter, category, first in (("b", "butte", 20), ("c", "canyon", 40)):
        folder = root / "data_256" / letter / category
        folder.mkdir(parents=True)
        for k in range(1, 5):
            photo(first + k, 64, 64).save(folder / f"{k:08d}.jpg")
    (root / "val_256").mkdir()
    labels = [1, 2, 0, 1, 2, 1, 0, 2]  # 0 abbey (left out), 1 butte, 2 canyon
    for number, label in enumerate(labels, 1):
        photo(60 + number, 64, 64).save(root / "val_256" / f"Places365_val_{number:08d}.jpg")
    (root / "categories_places365.txt").write_text("/a/abbey 0\n/b/butte 1\n/c/canyon 2\n")
    (root / "places365_val.txt").write_text("".join(f"Places365_val_{n:08d}.jpg {l}\n" for n, l in enumerate(labels, 1)))


def make_paris(root: Path):
    "paris_train_original/*.JPG for training, paris_eval_gt/NNN_im.png for evaluation."
    (root / "paris_train_original").mkdir(parents=True)
    (root / "paris_eval_gt").mkdir()
    for k in range(1, 5):
        photo(80 + k, 94, 54).save(root / "paris_train_original" / f"paris_{k:04d}.JPG")
    for k in range(1, 4):
        photo(90 + k, 64, 64).save(root / "paris_eval_gt" / f"{k:03d}_im.png")


def make_masks(root: Path):
    "testing_mask_dataset/00000.png ...: white holes, two per hole-ratio bin 0-10 % ... 50-60 % (the set has 2,000 per bin)."
    from csa_nb.masks import RATIO_BINS, irregular_mask
    folder = root / "testing_mask_dataset"
    folder.mkdir(parents=True)
    number = 0
    for index, ratio_bin in enumerate(RATIO_BINS):
        for k in range(2):
            mask = irregular_mask(128, ratio_bin, seed=(7, index, k))
            Image.fromarray((mask * 255).astype(np.uint8), mode="L").save(folder / f"{number:05d}.png")
            number += 1


def test_every_table_on_the_documented_layouts(tmp_path):
    data, masks = tmp_path / "data", tmp_path / "masks"
    make_celeba(data / "celeba")
    make_places2(data / "places2")
    make_paris(data / "paris")
    make_masks(masks)
    out, runs = tmp_path / "reports", tmp_path / "runs"
    run = subprocess.run(CLI + ["--profile", "smoke", "--data", str(data), "--masks", str(masks), "--out", str(out),
                                "--runs", str(runs), "--only", ",".join(TABLES), "--set", "train.steps=3"],  # --set reaches every model
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-4000:]
    captions = {name: (out / "tables" / f"{name}.md").read_text() for name in TABLES}
    for name, text in captions.items():
        assert "val split" in text and "3 training steps" in text and "Not produced" not in text, (name, text[-1500:])
    assert "celeba val split" in captions["table1"] and "4 of its 5 images, drawn at random with seed 0" in captions["table1"]
    assert "places2 [butte] val split" in captions["table6"] and "all 3 images of the split" in captions["table6"]
    assert "places2 [canyon] val split" in captions["table9"]
    assert "paris val split" in captions["table11"] and "all 3 images of the split" in captions["table11"]
    for name in ("table2", "table11"):
        assert "partial-convolution test masks" in captions[name] and "testing_mask_dataset" in captions[name], captions[name]
        assert all(f"| {label} |" in captions[name] for label in ("10-20%", "20-30%", "30-40%", "40-50%")), captions[name]
    # 20 distinct models: the CSA model of Tables 6, 8 and 10 (butte, centre) and of Tables 7 and 9 (canyon) is trained once
    assert len([p for p in runs.iterdir() if (p / "last.pt").exists()]) == 20, sorted(p.name for p in runs.iterdir())
    assert "| `model.rough_mask_channel` |" in (out / "index.md").read_text()
