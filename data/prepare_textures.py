"""Build the texture set: photographs of surfaces (rock, sand, grass, brick, wood, ...) from Debian game-data packages.

    python data/prepare_textures.py --out /data/textures                       # downloads the five .deb files if needed
    python data/prepare_textures.py --out /data/textures --photos /data/photos --contact-sheet /data/textures_contact.png

Sources, and nothing else: the terrain and wall textures of five Debian bookworm packages (`SOURCES`), pinned by version
and sha256, fetched with `apt-get download` and unpacked with `dpkg-deb -x` into a temporary folder (nothing installed,
no root needed) by the helpers of `data/prepare_photos.py`. None of them is a source of the photo corpus.

Selection, in two steps, so that it is reproducible and reviewable:
  1. automatic screening of every image file in the package's texture folder (symbolic links aside): left out are
     unreadable files, a short side under 256 px, transparent pixels (cut-outs: trees, fences), near-flat pictures
     (gradient energy under `--min-energy`: sky, fog, plain snow) and tile repeats (the picture equal to itself shifted
     by 16 to 128 px);
  2. a reviewed list, `data/texture_set/reviewed.csv` (package, path, decision, name, reason): every file that passes
     step 1 has a line, kept (reason: the surface) or dropped with the reason (drawn, logo, building facade, sky,
     track markings, tinted copy of another file, ...). A file that passes step 1 and is not in the list stops the build.
The kept pictures are brought to a short side of at most `--short-side` px (never enlarged) and written as quality-95
JPEGs. Near-duplicates (64-bit DCT perceptual hash of `prepare_photos`, at most `--max-distance` bits apart) are left
out but for the first by name, and so is any picture that close to a photograph of `--photos` (the photo corpus).
The split is by picture, seeded (`--seed`), about 60/20/20 into DIR/train, DIR/val, DIR/test; DIR/manifest.csv has the
photo corpus's columns (file, package, version, path, licence, copyright, split, width, height, sha256), the licence
being what the package's debian/copyright states for that file.
"""
from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prepare_photos import (MIN_SHORT_SIDE, SPLITS, CorpusError, DebianPackage, Review, _replaceable,  # noqa: E402
                            assign_splits, candidate_files, duplicate_groups, fetch_deb, find_deb, fit_short_side,
                            hash_distance, jpeg_bytes, licence_of, near_duplicates, perceptual_hash, read_copyright,
                            publish_corpus, read_reviewed, unpack)

from csa_nb.data import list_images  # noqa: E402

HERE = Path(__file__).resolve().parent
REVIEWED = HERE / "texture_set" / "reviewed.csv"
FRACTIONS = (0.6, 0.2, 0.2)
MIN_ENERGY = 0.025  # mean |dx| + |dy| of the gray picture (0-1) at its written size; plain sand is ~0.03, sky ~0.01
REPEAT_PERIODS = (16, 32, 64, 128)  # a picture equal to itself shifted by one of these is a tile repeat
REPEAT_TOLERANCE = 2.0  # mean absolute gray difference (0-255) under which a shift counts as equal


@dataclass(frozen=True)
class TextureSource:
    "One pinned package, the folder of its candidate images (`package.images`) and how debian/copyright names its files."
    package: DebianPackage
    installed: str  # prefix of the installed paths ...
    upstream: str  # ... that debian/copyright writes as this (its Files: patterns are upstream paths)

    def licence_path(self, path: str) -> str:
        "`path` (inside the package) as debian/copyright names it."
        return self.upstream + path.removeprefix(self.installed) if path.startswith(self.installed) else path


SOURCES = (  # Debian 12 (bookworm), main, all
    TextureSource(DebianPackage("lugaru-data", "1.2-6",
                                "6a25e8d2d7c2d94b7873669d1f52137b2ba56e86ba5c2f08fefeacd65e526023",
                                "usr/share/games/lugaru/Textures"), "usr/share/games/lugaru/", "Data/"),
    TextureSource(DebianPackage("extremetuxracer-data", "0.8.2-1",
                                "8ce6c82e6fb89549d284f43f6c4b0a9d82e6c0e5da753bee0ef419276a21470c",
                                "usr/share/games/etr/terrains"), "usr/share/games/etr/", "data/"),
    TextureSource(DebianPackage("scorched3d-data", "44+dfsg-8",
                                "b0be0a6d561966a62b1f135e0e6f5681c85f12e34ecad5777cb1af9fbcb7f1da",
                                "usr/share/games/scorched3d/data/globalmods/none/data/textures/landscape"),
                  "usr/share/games/scorched3d/", ""),
    TextureSource(DebianPackage("foobillardplus-data", "3.43~svn170+dfsg-7",
                                "48adfd599afdbcbc008fffdf982c5bb18ac62286dc012ac88e9b8abc556a28f4",
                                "usr/share/games/foobillardplus/data"), "usr/share/games/foobillardplus/", ""),
    TextureSource(DebianPackage("torcs-data", "1.3.7+dfsg-5",
                                "33a170ec9db8bdf7e33cb07b96b9854d5ef9e47b1f82705e4c24d6caaf13fb99",
                                "usr/share/games/torcs/tracks"), "usr/share/games/torcs/", "data/"),
)


# ---- automatic screening ------------------------------------------------------------------------------------------

def has_transparency(image: Image.Image) -> bool:
    "Whether `image` has a pixel that is not fully opaque."
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        return image.convert("RGBA").getchannel("A").getextrema()[0] < 255
    return False


def gradient_energy(image: Image.Image) -> float:
    "Mean absolute difference of neighbouring gray values (0-1), down plus across: ~0.01 for sky, ~0.2 for gravel."
    gray = np.asarray(image.convert("L"), dtype=np.float32) / 255
    return float(np.abs(np.diff(gray, axis=0)).mean() + np.abs(np.diff(gray, axis=1)).mean())


def repeat_period(image: Image.Image, periods=REPEAT_PERIODS, tolerance: float = REPEAT_TOLERANCE) -> int | None:
    "The smallest shift (px) along either axis under which `image` equals itself: a repeated tile; None if none."
    gray = np.asarray(image.convert("L"), dtype=np.float32)
    for p in periods:
        if 2 * p > min(gray.shape):
            break
        if (np.abs(gray[p:] - gray[:-p]).mean() < tolerance or np.abs(gray[:, p:] - gray[:, :-p]).mean() < tolerance):
            return p
    return None


def screen(image: Image.Image, short_side: int = 512, min_energy: float = MIN_ENERGY) -> tuple[Image.Image | None, str]:
    "(the picture as it will be written, '') if `image` may be a surface photograph, else (None, why it is left out)."
    width, height = image.size
    if min(width, height) < MIN_SHORT_SIDE:
        return None, f"{width}x{height}, short side under {MIN_SHORT_SIDE} px"
    if has_transparency(image):
        return None, "transparent pixels (a cut-out)"
    fitted = fit_short_side(image, short_side)
    if (energy := gradient_energy(fitted)) < min_energy:
        return None, f"near-flat (gradient energy {energy:.3f} < {min_energy})"
    if period := repeat_period(image):  # at the file's own size: resampling blurs an exact repeat
        return None, f"a tile repeated every {period} px"
    return fitted, ""


# ---- the build ----------------------------------------------------------------------------------------------------

@dataclass
class Texture:
    name: str
    source: TextureSource
    path: str
    licence: str
    copyright: str
    image: Image.Image


def check_texture_reviews(reviews: list[Review], package: str, passed: list[str], candidates: list[str]) -> list[Review]:
    "The kept reviews of `package`; stops when a file that passed screening was never reviewed or a listed file is gone."
    mine = {r.path: r for r in reviews if r.package == package}
    unknown = [p for p in passed if p not in mine]
    if unknown:
        raise CorpusError(f"{len(unknown)} image file(s) of {package} pass screening but are not in the reviewed list, "
                          f"e.g. {unknown[0]}: look at them and add a keep/drop line for each to {REVIEWED.name}")
    missing = [path for path in mine if path not in candidates]
    if missing:
        raise CorpusError(f"listed file {missing[0]} is not in package {package}: wrong version unpacked?")
    return [r for r in mine.values() if r.decision == "keep"]


def source_textures(source: TextureSource, tree: Path, reviews: list[Review], short_side: int, min_energy: float,
                    log) -> list[Texture]:
    "The kept textures of one unpacked package: screened, then as the reviewed list says."
    package = source.package
    candidates = candidate_files(tree, package.images)
    passed, fitted, left_out = [], {}, 0
    for path in candidates:
        try:
            with Image.open(tree / path) as image:
                image.load()
                picture, why = screen(image, short_side, min_energy)
        except (OSError, ValueError) as error:  # not an image Pillow reads
            picture, why = None, f"unreadable ({error})"
        if picture is None:
            left_out += 1
            if any(r.package == package.name and r.path == path and r.decision == "keep" for r in reviews):
                log(f"  left out kept {path}: {why}")
            continue
        passed.append(path)
        fitted[path] = picture
    kept = check_texture_reviews(reviews, package.name, passed, candidates)
    copyright_file = tree / "usr/share/doc" / package.name / "copyright"
    paragraphs = read_copyright(copyright_file.read_text(encoding="utf-8")) if copyright_file.is_file() else []
    textures = []
    for review in sorted(kept, key=lambda r: r.path):
        if review.path in fitted:
            licence, holder = licence_of(paragraphs, source.licence_path(review.path))
            textures.append(Texture(review.name, source, review.path, licence, holder, fitted[review.path]))
    log(f"{package.name} {package.version}: {len(candidates)} image files, {left_out} left out by screening, "
        f"{len(passed)} reviewed, {len(textures)} kept")
    return textures


def photo_hashes(folder: Path) -> dict[str, int]:
    "Perceptual hashes of every image under `folder` (the photo corpus), by file."
    hashes = {}
    for name in list_images(folder):
        with Image.open(folder / name) as image:
            hashes[name] = perceptual_hash(image)
    return hashes


def drop_duplicates(hashes: dict[str, int], max_distance: int, others: dict[str, int] | None = None,
                    log=print) -> list[str]:
    "The names to keep: of each near-duplicate group the first by name, and none close to a hash of `others`."
    keep = [group[0] for group in duplicate_groups(sorted(hashes), near_duplicates(hashes, max_distance))]
    for name in sorted(set(hashes) - set(keep)):
        log(f"  left out {name}: near-duplicate of another picture of the set")
    kept = []
    for name in keep:
        close = next((o for o, h in sorted((others or {}).items()) if hash_distance(hashes[name], h) <= max_distance), None)
        if close is None:
            kept.append(name)
        else:
            log(f"  left out {name}: near-duplicate of {close} of the photo corpus")
    return kept


def build(
    out: Path,  # folder to write (replaced if it holds an earlier texture set)
    debs: Path,  # folder of the .deb files (downloaded there when missing)
    reviewed: Path = REVIEWED,
    short_side: int = 512,
    seed: int = 0,
    max_distance: int = 10,
    min_energy: float = MIN_ENERGY,
    photos: Path | None = None,  # the photo corpus: pictures close to one of its photographs are left out
    sources: tuple[TextureSource, ...] = SOURCES,
    log=print,
) -> list[dict]:
    "Build the texture set in `out`; the manifest rows."
    if short_side < MIN_SHORT_SIDE:
        raise CorpusError(f"--short-side must be at least {MIN_SHORT_SIDE}, got {short_side}")
    if not _replaceable(out):
        raise CorpusError(f"{out} exists and is not an earlier texture set (no manifest.csv): choose an empty or new folder")
    if photos is not None and not photos.is_dir():
        raise CorpusError(f"--photos {photos} is not a folder (build the photo corpus with data/prepare_photos.py)")
    reviews = read_reviewed(reviewed)
    missing = [s.package for s in sources if find_deb(s.package, debs) is None]
    for tool in ("dpkg-deb",) + (("apt-get",) if missing else ()):
        if shutil.which(tool) is None:
            raise CorpusError(f"{tool} not found: prepare_textures.py needs Debian's apt-get and dpkg-deb (run it on "
                              f"Debian or Ubuntu, or put the .deb files in --debs and have dpkg-deb)")
    textures = []
    with tempfile.TemporaryDirectory(prefix="csa_textures_") as scratch:
        for source in sources:
            deb = fetch_deb(source.package, debs)
            tree = unpack(deb, Path(scratch) / source.package.name)
            textures += source_textures(source, tree, reviews, short_side, min_energy, log)
            shutil.rmtree(tree)
    encoded = {t.name: jpeg_bytes(t.image) for t in textures}
    hashes = {}
    for name, data in encoded.items():
        with Image.open(io.BytesIO(data)) as image:
            hashes[name] = perceptual_hash(image)
    names = drop_duplicates(hashes, max_distance, photo_hashes(photos) if photos else None, log)
    if not names:
        raise CorpusError("no picture left to write")
    splits = assign_splits(names, {}, [], FRACTIONS, seed)
    by_name = {t.name: t for t in textures}
    return publish_corpus(out, [(f"{splits[name]}/{name}.jpg", encoded[name],
                                 {"package": by_name[name].source.package.name, "version": by_name[name].source.package.version,
                                  "path": by_name[name].path, "licence": by_name[name].licence,
                                  "copyright": by_name[name].copyright, "split": splits[name],
                                  "width": by_name[name].image.width, "height": by_name[name].image.height})
                                for name in names], max_distance)


def contact_sheet(root: Path, path: Path, split: str = "test", thumb: int = 192, columns: int = 6) -> Path:
    "Write a PNG of labelled thumbnails of the pictures of `split` in the texture set `root`."
    files = sorted((root / split).glob("*.jpg"))
    if not files:
        raise CorpusError(f"no pictures in {root / split}")
    rows = -(-len(files) // columns)
    sheet = Image.new("RGB", (columns * thumb, rows * (thumb + 14)), "white")
    draw = ImageDraw.Draw(sheet)
    for index, file in enumerate(files):
        with Image.open(file) as image:
            tile = image.convert("RGB")
            tile.thumbnail((thumb, thumb), Image.LANCZOS)
        x, y = (index % columns) * thumb, (index // columns) * (thumb + 14)
        sheet.paste(tile, (x, y))
        draw.text((x + 2, y + thumb), file.stem[:30], fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def main(argv: list[str] | None = None) -> int:
    "The command line."
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="folder to write (train/ val/ test/ manifest.csv)")
    parser.add_argument("--debs", type=Path, default=Path.home() / ".cache" / "csa_nb" / "debian",
                        help="folder of the .deb files; missing ones are downloaded there (default: ~/.cache/csa_nb/debian)")
    parser.add_argument("--photos", type=Path, help="the photo corpus: pictures close to one of its photographs are left out")
    parser.add_argument("--short-side", type=int, default=512, help="largest short side of the written pictures (default 512)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")
    parser.add_argument("--max-distance", type=int, default=10, help="hash bits (of 64) within which two pictures are near-duplicates")
    parser.add_argument("--min-energy", type=float, default=MIN_ENERGY, help=f"gradient energy under which a picture is near-flat (default {MIN_ENERGY})")
    parser.add_argument("--reviewed", type=Path, default=REVIEWED, help="the reviewed list (default data/texture_set/reviewed.csv)")
    parser.add_argument("--contact-sheet", type=Path, help="also write a PNG of thumbnails of the test split here")
    args = parser.parse_args(argv)
    start = time.monotonic()
    try:
        rows = build(args.out, args.debs, args.reviewed, args.short_side, args.seed, args.max_distance, args.min_energy,
                     args.photos)
        if args.contact_sheet:
            contact_sheet(args.out, args.contact_sheet)
    except CorpusError as error:
        print(f"prepare_textures.py: error: {error}", file=sys.stderr)
        return 1
    counts = {s: sum(r["split"] == s for r in rows) for s in SPLITS}
    print(f"{len(rows)} textures in {args.out}: " + ", ".join(f"{n} {s}" for s, n in counts.items())
          + f" ({time.monotonic() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
