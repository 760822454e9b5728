"""The photo corpus script (data/prepare_photos.py) on tiny fake packages, its near-duplicate check, and the committed lists."""
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
    spec = importlib.util.spec_from_file_location(name, ROOT / "data" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


photos = load_script("prepare_photos")
needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs Debian's dpkg-deb")


def picture(seed, size=(400, 300)):
    "A distinct smooth random picture (a 4x3 colour grid upsampled), different hashes for different seeds."
    grid = np.random.default_rng(seed).integers(0, 256, (3, 4, 3), dtype=np.uint8)
    return Image.fromarray(grid).resize(size, Image.BICUBIC)


COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: fake

Files: *
Copyright: 2020 The Fakers
License: GPL-2+

Files: upstream/20.04/special.jpg
Copyright: 2021, Someone Special
License: CC-BY-SA-3.0

License: GPL-2+
 The text of the licence.
"""


def fake_deb(folder, name="fake-wallpapers", version="1:1.0-1"):
    "Build a small .deb with dpkg-deb -b: ten pictures, a small one, a drawing, a symlink; its DebianPackage."
    tree = folder / "tree"
    images = tree / "usr/share/backgrounds"
    images.mkdir(parents=True)
    for i in range(9):
        picture(i).save(images / f"photo{i}.jpg", quality=95)
    picture(9, (900, 600)).save(images / "special.jpg", quality=95)
    picture(10, (300, 200)).save(images / "tiny.jpg")  # short side 200 < 256
    Image.new("RGB", (400, 300), (0, 0, 255)).save(images / "logo.png")
    (images / "link.jpg").symlink_to("photo0.jpg")  # other sizes of one picture are often links: not candidates
    (tree / "usr/share/doc" / name).mkdir(parents=True)
    (tree / "usr/share/doc" / name / "copyright").write_text(COPYRIGHT)
    (tree / "DEBIAN").mkdir()
    (tree / "DEBIAN/control").write_text(f"Package: {name}\nVersion: {version}\nArchitecture: all\n"
                                         "Maintainer: nobody <nobody@example.org>\nDescription: fake\n")
    debs = folder / "debs"
    debs.mkdir()
    deb = debs / f"{name}_{version.replace(':', '%3a')}_all.deb"
    subprocess.run(["dpkg-deb", "-Zgzip", "-z1", "--root-owner-group", "-b", str(tree), str(deb)], check=True, capture_output=True)
    package = photos.DebianPackage(name, version, hashlib.sha256(deb.read_bytes()).hexdigest(), "usr/share/backgrounds")
    return package, debs


def fake_reviewed(path, package, skip=()):
    "A reviewed list for fake_deb: keep the pictures (tiny one too: the size rule drops it), drop the logo."
    rows = [(package, f"usr/share/backgrounds/photo{i}.jpg", "keep", f"fake-{i}", "photograph") for i in range(9)]
    rows += [(package, "usr/share/backgrounds/special.jpg", "keep", "fake-special", "photograph"),
             (package, "usr/share/backgrounds/tiny.jpg", "keep", "fake-tiny", "photograph"),
             (package, "usr/share/backgrounds/logo.png", "drop", "", "logo")]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(photos.REVIEWED_FIELDS)
        writer.writerows(r for r in rows if r[1] not in skip)
    return path


@needs_dpkg
def test_build_from_a_fake_deb(tmp_path):
    package, debs = fake_deb(tmp_path)
    reviewed = fake_reviewed(tmp_path / "reviewed.csv", package.name)
    logged = []
    out = tmp_path / "corpus"
    rows = photos.build(out, debs, reviewed, short_side=256, packages=(package,), include_builtin=False, log=logged.append)
    assert any("left out usr/share/backgrounds/tiny.jpg" in line for line in logged)
    assert [r["split"] for r in rows].count("val") == 2 and [r["split"] for r in rows].count("test") == 2  # 10: 6/2/2
    assert sorted(Path(r["file"]).stem for r in rows) == sorted([f"fake-{i}" for i in range(9)] + ["fake-special"])
    for row in rows:
        path = out / row["file"]
        assert path.parent.name == row["split"] and hashlib.sha256(path.read_bytes()).hexdigest() == row["sha256"]
        with Image.open(path) as image:
            assert image.format == "JPEG" and min(image.size) == 256 and image.size == (int(row["width"]), int(row["height"]))
        assert (row["package"], row["version"]) == (package.name, "1:1.0-1")
    licences = {Path(r["file"]).stem: (r["licence"], r["copyright"]) for r in rows}
    assert licences["fake-special"] == ("CC-BY-SA-3.0", "2021, Someone Special")  # its own paragraph, by file name
    assert licences["fake-0"] == ("GPL-2+", "2020 The Fakers")
    assert photos.read_manifest(out / "manifest.csv") == [{k: str(v) for k, v in r.items()} for r in rows]
    assert photos.check_corpus(out) == photos.read_manifest(out / "manifest.csv")
    first = (out / "manifest.csv").read_bytes()  # a rebuild replaces the corpus with the same bytes
    photos.build(out, debs, reviewed, short_side=256, packages=(package,), include_builtin=False, log=logged.append)
    assert (out / "manifest.csv").read_bytes() == first
    from csa_nb.data import folder_dataset, photo_corpus_counts
    assert photo_corpus_counts(out) == {"train": 6, "val": 2, "test": 2}
    assert len(folder_dataset(out, "train", 32)) == 6 and folder_dataset(out, "test", 32)[0].shape == (3, 32, 32)


@needs_dpkg
def test_the_build_refuses_unreviewed_files_wrong_debs_and_foreign_folders(tmp_path):
    package, debs = fake_deb(tmp_path)
    reviewed = fake_reviewed(tmp_path / "reviewed.csv", package.name, skip=("usr/share/backgrounds/logo.png",))
    with pytest.raises(photos.CorpusError, match="not in the reviewed list, e.g. usr/share/backgrounds/logo.png"):
        photos.build(tmp_path / "a", debs, reviewed, packages=(package,), include_builtin=False, log=lambda _: None)
    reviewed = fake_reviewed(tmp_path / "reviewed.csv", package.name)
    wrong = photos.DebianPackage(package.name, package.version, "0" * 64, package.images)
    with pytest.raises(photos.CorpusError, match="has sha256"):
        photos.build(tmp_path / "b", debs, reviewed, packages=(wrong,), include_builtin=False, log=lambda _: None)
    (tmp_path / "c").mkdir(); (tmp_path / "c" / "notes.txt").write_text("mine")
    with pytest.raises(photos.CorpusError, match="not an earlier corpus"):
        photos.build(tmp_path / "c", debs, reviewed, packages=(package,), include_builtin=False, log=lambda _: None)
    assert (tmp_path / "c" / "notes.txt").read_text() == "mine"


def test_missing_debian_tools_are_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(photos.shutil, "which", lambda name: None)
    assert photos.main(["--out", str(tmp_path / "out"), "--debs", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "dpkg-deb not found" in error
    assert not (tmp_path / "out").exists()


def test_near_duplicates_across_splits_fail_and_are_kept_together():
    original = picture(1, (512, 384))
    copy = original.resize((300, 225), Image.LANCZOS)  # the same picture, smaller and re-encoded
    other = picture(2, (512, 384))
    hashes = {"a": photos.perceptual_hash(original), "b": photos.perceptual_hash(copy), "c": photos.perceptual_hash(other)}
    assert photos.hash_distance(hashes["a"], hashes["b"]) <= 4  # the copy is within a few bits, another picture far off
    assert photos.hash_distance(hashes["a"], hashes["c"]) >= 20
    with pytest.raises(photos.CorpusError, match=r"a \(train\) ~ b \(test\)"):
        photos.check_no_duplicates_across_splits(hashes, {"a": "train", "b": "test", "c": "test"}, 10)
    photos.check_no_duplicates_across_splits(hashes, {"a": "test", "b": "test", "c": "train"}, 10)
    names = [f"p{i}" for i in range(20)] + ["a", "b"]
    groups = photos.duplicate_groups(names, [("a", "b", 2)])
    assert ["a", "b"] in groups and len(groups) == 21
    for seed in range(10):  # whatever the seed, a near-duplicate group lands in one split
        splits = photos.assign_splits(names, {"p0": "test"}, groups, seed=seed)
        assert splits["a"] == splits["b"] and splits["p0"] == "test"
        assert [list(splits.values()).count(s) for s in photos.SPLITS] == [16, 3, 3]
    assert photos.assign_splits(names, {}, groups, seed=1) == photos.assign_splits(names, {}, groups, seed=1)


def test_a_copied_file_across_splits_fails_the_corpus_check(tmp_path):
    rows = []
    for i, split in enumerate(["train", "train", "val", "test"]):
        (tmp_path / split).mkdir(exist_ok=True)
        data = photos.jpeg_bytes(picture(i, (300, 256)))
        (tmp_path / split / f"p{i}.jpg").write_bytes(data)
        rows.append({"file": f"{split}/p{i}.jpg", "package": "fake", "version": "1", "path": f"p{i}.jpg", "licence": "CC0",
                     "copyright": "", "split": split, "width": 300, "height": 256, "sha256": hashlib.sha256(data).hexdigest()})
    photos.write_manifest(rows, tmp_path / "manifest.csv")
    photos.check_corpus(tmp_path)
    shutil.copy(tmp_path / "train/p0.jpg", tmp_path / "test/p0-copy.jpg")
    rows.append({**rows[0], "file": "test/p0-copy.jpg", "split": "test"})
    photos.write_manifest(rows, tmp_path / "manifest.csv")
    with pytest.raises(photos.CorpusError, match="near-duplicate pictures in different splits"):
        photos.check_corpus(tmp_path)


def test_fit_short_side_never_enlarges_and_flattens_transparency():
    assert photos.fit_short_side(picture(0, (5120, 2880)), 512).size == (910, 512)
    assert photos.fit_short_side(picture(0, (300, 400)), 512).size == (300, 400)
    clear = Image.new("RGBA", (300, 300), (0, 0, 0, 0))
    assert photos.fit_short_side(clear, 256).getpixel((0, 0)) == (255, 255, 255)
    grey = photos.fit_short_side(Image.new("L", (600, 300), 80), 256)
    assert grey.mode == "RGB" and grey.size == (512, 256)


def test_licence_of_follows_debian_copyright():
    paragraphs = photos.read_copyright(COPYRIGHT)
    assert photos.licence_of(paragraphs, "usr/share/backgrounds/special.jpg") == ("CC-BY-SA-3.0", "2021, Someone Special")
    assert photos.licence_of(paragraphs, "usr/share/backgrounds/other.jpg") == ("GPL-2+", "2020 The Fakers")
    assert photos.licence_of([], "x.jpg") == ("not stated", "")
    assert photos.builtin_licence("Stefan van der Walt; CC0") == ("CC0", "Stefan van der Walt")


def test_the_committed_lists_agree():
    reviews = photos.read_reviewed(photos.REVIEWED)
    assert all(r.reason for r in reviews)
    manifest = photos.read_manifest(ROOT / "data" / "photo_corpus" / "manifest.csv")
    kept = {(r.package, r.path): r.name for r in reviews if r.decision == "keep"}
    assert {(m["package"], m["path"]) for m in manifest} == set(kept)  # every kept file is in the corpus, nothing else
    assert len(manifest) >= 50
    for row in manifest:
        assert row["file"] == f"{row['split']}/{kept[row['package'], row['path']]}.jpg"
        assert min(int(row["width"]), int(row["height"])) >= photos.MIN_SHORT_SIDE and len(row["sha256"]) == 64
        assert row["licence"]
    pins = {p.name: p.version for p in photos.PACKAGES}
    assert all(row["version"] == pins[row["package"]] for row in manifest if row["package"] in pins)
    from csa_nb.data import BUILTIN_SOURCES
    parts = {s.file: s.part for s in BUILTIN_SOURCES}
    assert all(row["split"] == parts[row["path"]] for row in manifest if row["package"] in photos.BUILTIN_PACKAGES)
    counts = {s: sum(row["split"] == s for row in manifest) for s in photos.SPLITS}
    assert counts["val"] >= 0.1 * len(manifest) and counts["test"] >= 0.1 * len(manifest)
