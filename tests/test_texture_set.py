"""The texture set script (data/prepare_textures.py) on a tiny fake package: screening, review, duplicates, split, manifest."""
import csv
import hashlib
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def load_script(name):
    "Import data/<name>.py (the optional scripts are not part of the package)."
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "data" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


textures = load_script("prepare_textures")
photos = load_script("prepare_photos")  # the module prepare_textures imports its helpers from
needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs Debian's dpkg-deb")
FOLDER = "usr/share/games/fake/textures"


def texture(seed, size=(320, 288)):
    "A distinct textured picture: a smooth random colour field (its own hash) plus fine grain (gradient energy ~0.1)."
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)).resize(size, Image.BICUBIC)
    grain = rng.normal(0, 18, (size[1], size[0], 1))
    return Image.fromarray(np.clip(np.asarray(coarse, dtype=np.float64) + grain, 0, 255).astype(np.uint8))


def tiled(seed, tile=64, repeats=5):
    "A 64 px random tile repeated: textured, but a tile repeat."
    cell = np.random.default_rng(seed).integers(0, 256, (tile, tile, 3), dtype=np.uint8)
    return Image.fromarray(np.tile(cell, (repeats, repeats, 1)))


def flat(size=(320, 288)):
    "A near-flat picture (sky-like): a faint gradient."
    ramp = np.linspace(120, 135, size[0])[None, :, None] * np.ones((size[1], 1, 3))
    return Image.fromarray(ramp.astype(np.uint8))


def cutout(seed):
    "A textured picture with transparent pixels (a cut-out)."
    image = texture(seed).convert("RGBA")
    alpha = np.full(image.size[::-1], 255, dtype=np.uint8)
    alpha[:40] = 0
    image.putalpha(Image.fromarray(alpha))
    return image


COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: fake

Files: *
Copyright: 2020 The Fakers
License: GPL-2+

Files: data/*
Copyright: 2020 The Artists
License: CC-BY-SA-3.0

Files: data/textures/t7.png
Copyright: 2021, Someone Special
License: CC0

License: GPL-2+
 The text of the licence.
"""


def fake_deb(folder, name="fake-data", version="1:1.0-1"):
    "A small .deb (dpkg-deb -b) of textures and things screening drops; its TextureSource and the folder holding it."
    tree = folder / "tree"
    images = tree / FOLDER
    images.mkdir(parents=True)
    for i in range(8):
        texture(i).save(images / f"t{i}.png")
    texture(0).resize((300, 270), Image.LANCZOS).save(images / "t0-copy.jpg", quality=92)  # a near-duplicate of t0
    texture(20).save(images / "drawn.png")  # passes screening, the reviewer drops it
    flat().save(images / "sky.png")
    tiled(21).save(images / "tiles.png")
    texture(22, (200, 150)).save(images / "small.png")
    cutout(23).save(images / "tree.png")
    (images / "broken.png").write_bytes(b"not a png")
    (images / "notes.txt").write_text("not an image")
    (images / "link.png").symlink_to("t1.png")
    (tree / "usr/share/doc" / name).mkdir(parents=True)
    (tree / "usr/share/doc" / name / "copyright").write_text(COPYRIGHT)
    (tree / "DEBIAN").mkdir()
    (tree / "DEBIAN/control").write_text(f"Package: {name}\nVersion: {version}\nArchitecture: all\n"
                                         "Maintainer: nobody <nobody@example.org>\nDescription: fake\n")
    debs = folder / "debs"
    debs.mkdir()
    deb = debs / f"{name}_{version.replace(':', '%3a')}_all.deb"
    subprocess.run(["dpkg-deb", "-Zgzip", "-z1", "--root-owner-group", "-b", str(tree), str(deb)], check=True, capture_output=True)
    package = textures.DebianPackage(name, version, hashlib.sha256(deb.read_bytes()).hexdigest(), FOLDER)
    return textures.TextureSource(package, "usr/share/games/fake/", "data/"), debs


def fake_reviewed(path, package, skip=()):
    "The reviewed list: keep t0-t7 and the copy of t0 (the hash drops it), drop the drawing; sky.png kept (screening drops it)."
    rows = [(package, f"{FOLDER}/t{i}.png", "keep", f"fake-{i}", "rock") for i in range(8)]
    rows += [(package, f"{FOLDER}/t0-copy.jpg", "keep", "fake-0-copy", "rock"),
             (package, f"{FOLDER}/drawn.png", "drop", "", "drawn"),
             (package, f"{FOLDER}/sky.png", "keep", "fake-sky", "sky")]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(photos.REVIEWED_FIELDS)
        writer.writerows(r for r in rows if r[1] not in skip)
    return path


@needs_dpkg
def test_build_from_a_fake_deb(tmp_path):
    source, debs = fake_deb(tmp_path)
    reviewed = fake_reviewed(tmp_path / "reviewed.csv", source.package.name)
    corpus = tmp_path / "photos" / "test"
    corpus.mkdir(parents=True)
    texture(3).save(corpus / "same-as-t3.jpg", quality=90)  # the photo corpus holds t3: it is left out
    logged = []
    out = tmp_path / "textures"
    rows = textures.build(out, debs, reviewed, short_side=256, sources=(source,), photos=tmp_path / "photos",
                          log=logged.append)
    text = "\n".join(logged)
    assert "left out kept usr/share/games/fake/textures/sky.png: near-flat" in text  # flat images are dropped
    assert "left out fake-0-copy: near-duplicate" in text  # duplicates are dropped, the first by name kept
    assert "left out fake-3: near-duplicate of test/same-as-t3.jpg of the photo corpus" in text
    assert "15 image files, 5 left out by screening, 10 reviewed, 9 kept" in text  # sky, tiles, small, tree, broken
    names = sorted(Path(r["file"]).stem for r in rows)
    assert names == ["fake-0", "fake-1", "fake-2", "fake-4", "fake-5", "fake-6", "fake-7"]
    splits = [r["split"] for r in rows]
    assert (splits.count("train"), splits.count("val"), splits.count("test")) == (5, 1, 1)  # 7 pictures: 60/20/20
    sources = {}
    for row in rows:  # split by source picture: each package file in one split, in the folder of its split
        assert sources.setdefault(row["path"], row["split"]) == row["split"]
        path = out / row["file"]
        assert path.parent.name == row["split"] and hashlib.sha256(path.read_bytes()).hexdigest() == row["sha256"]
        with Image.open(path) as image:
            assert image.format == "JPEG" and min(image.size) == 256 and image.size == (int(row["width"]), int(row["height"]))
        assert (row["package"], row["version"]) == ("fake-data", "1:1.0-1")
    assert len(sources) == len(rows)
    licences = {Path(r["file"]).stem: r["licence"] for r in rows}
    assert licences["fake-7"] == "CC0" and licences["fake-1"] == "CC-BY-SA-3.0"  # debian/copyright's upstream paths
    with open(out / "manifest.csv", newline="") as f:
        assert tuple(csv.DictReader(f).fieldnames) == ("file", "package", "version", "path", "licence", "copyright",
                                                       "split", "width", "height", "sha256")
    assert photos.check_corpus(out) == [{k: str(v) for k, v in r.items()} for r in rows]
    first = (out / "manifest.csv").read_bytes()  # a rebuild gives the same files
    textures.build(out, debs, reviewed, short_side=256, sources=(source,), photos=tmp_path / "photos", log=logged.append)
    assert (out / "manifest.csv").read_bytes() == first
    from csa_nb.data import PhotoWindows, folder_dataset, photo_corpus_counts  # the loaders read it unchanged
    assert photo_corpus_counts(out) == {"train": 5, "val": 1, "test": 1}
    assert len(folder_dataset(out, "train", 64)) == 5 and folder_dataset(out, "test", 64)[0].shape == (3, 64, 64)
    windows = PhotoWindows(out / "test", 128)
    assert len(windows) == 4 and windows[0].shape == (3, 128, 128)  # 284 x 256 px: 2 x 2 disjoint windows
    sheet = textures.contact_sheet(out, tmp_path / "sheet.png")
    with Image.open(sheet) as image:
        assert image.width == 6 * 192


@needs_dpkg
def test_the_build_refuses_unreviewed_files_and_foreign_folders(tmp_path):
    source, debs = fake_deb(tmp_path)
    reviewed = fake_reviewed(tmp_path / "reviewed.csv", source.package.name, skip=(f"{FOLDER}/drawn.png",))
    with pytest.raises(textures.CorpusError, match="pass screening but are not in the reviewed list, e.g. .*drawn.png"):
        textures.build(tmp_path / "a", debs, reviewed, sources=(source,), log=lambda _: None)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "notes.txt").write_text("mine")
    with pytest.raises(textures.CorpusError, match="not an earlier texture set"):
        textures.build(tmp_path / "c", debs, reviewed, sources=(source,), log=lambda _: None)
    assert (tmp_path / "c" / "notes.txt").read_text() == "mine"


def test_screening_drops_small_cut_out_flat_and_tiled_pictures():
    assert textures.screen(texture(1))[1] == ""
    assert textures.screen(texture(1, (300, 200)))[1] == "300x200, short side under 256 px"
    assert textures.screen(cutout(2))[1] == "transparent pixels (a cut-out)"
    assert textures.screen(flat())[1].startswith("near-flat (gradient energy 0.0")
    assert textures.screen(tiled(3))[1] == "a tile repeated every 64 px"
    assert textures.screen(tiled(3, tile=200, repeats=2))[1] == ""  # a 200 px tile is not a repeat the check looks for
    picture, why = textures.screen(texture(4, (1024, 768)), short_side=512)
    assert why == "" and picture.size == (683, 512)


def test_duplicates_are_dropped_and_the_split_is_by_picture():
    pictures = {f"p{i}": textures.perceptual_hash(texture(i)) for i in range(10)}
    pictures["p0-copy"] = textures.perceptual_hash(texture(0).resize((200, 180), Image.LANCZOS))
    corpus = {"photo.jpg": textures.perceptual_hash(texture(5).resize((300, 270)))}
    logged = []
    kept = textures.drop_duplicates(pictures, 10, corpus, logged.append)
    assert kept == [f"p{i}" for i in range(10) if i != 5]
    assert logged == ["  left out p0-copy: near-duplicate of another picture of the set",
                      "  left out p5: near-duplicate of photo.jpg of the photo corpus"]
    for seed in range(5):
        splits = textures.assign_splits(kept, {}, [], textures.FRACTIONS, seed)
        assert sorted(splits) == sorted(kept)  # each picture in exactly one split
        assert [list(splits.values()).count(s) for s in textures.SPLITS] == [5, 2, 2]
    assert textures.assign_splits(kept, {}, [], textures.FRACTIONS, 1) == textures.assign_splits(kept, {}, [], textures.FRACTIONS, 1)


def test_missing_debian_tools_and_failed_downloads_are_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert textures.main(["--out", str(tmp_path / "out"), "--debs", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "dpkg-deb not found" in error and not (tmp_path / "out").exists()

    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    failed = subprocess.CompletedProcess([], 100, "", "W: something\nE: Failed to fetch http://deb.example/x.deb  "
                                                      "Temporary failure resolving 'deb.example'\n")
    monkeypatch.setattr(subprocess, "run", lambda *args, **kwargs: failed)
    assert textures.main(["--out", str(tmp_path / "out"), "--debs", str(tmp_path / "debs")]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "apt-get download lugaru-data=1.2-6 failed (E: Failed to fetch" in error


def test_licence_paths_follow_debian_copyright():
    source = textures.SOURCES[0]
    assert source.licence_path("usr/share/games/lugaru/Textures/Rock.jpg") == "Data/Textures/Rock.jpg"
    assert source.licence_path("elsewhere/x.jpg") == "elsewhere/x.jpg"


def test_the_committed_lists_agree():
    reviews = textures.read_reviewed(textures.REVIEWED)
    assert all(r.reason for r in reviews)
    packages = {s.package.name: s.package for s in textures.SOURCES}
    assert {r.package for r in reviews} == set(packages)
    assert all(r.path.startswith(packages[r.package].images + "/") for r in reviews)
    photo_packages = {p.name for p in photos.PACKAGES}
    assert not photo_packages & set(packages)  # no source of the photo corpus
    manifest = photos.read_manifest(ROOT / "data" / "texture_set" / "manifest.csv")
    kept = {(r.package, r.path): r.name for r in reviews if r.decision == "keep"}
    assert 40 <= len(manifest) <= len(kept)
    for row in manifest:
        assert row["file"] == f"{row['split']}/{kept[row['package'], row['path']]}.jpg"
        assert row["version"] == packages[row["package"]].version and row["licence"] and len(row["sha256"]) == 64
        assert textures.MIN_SHORT_SIDE <= min(int(row["width"]), int(row["height"])) <= 512
    counts = {s: sum(row["split"] == s for row in manifest) for s in textures.SPLITS}
    assert counts["val"] >= 0.15 * len(manifest) and counts["test"] >= 0.15 * len(manifest)
