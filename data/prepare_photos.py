"""Build the photo corpus: real photographs from four Debian packages and the builtin set, as a `folder` dataset.

    python data/prepare_photos.py --out /data/photos            # downloads the four .deb files if needed
    python data/prepare_photos.py --out /data/photos --debs /tmp/fetch   # .deb files already at hand

Sources, and nothing else (so the corpus is fixed and documented):
  - Debian bookworm packages, at pinned versions and sha256 (`PACKAGES`): `opencv-doc` (the images of its examples,
    `usr/share/doc/opencv-doc/examples/`, not the figures of its HTML manual), `plasma-workspace-wallpapers`,
    `ukui-wallpapers` and `lomiri-wallpapers-20.04`; fetched with `apt-get download` and unpacked with
    `dpkg-deb -x` into a temporary folder (nothing is installed, no root needed);
  - the builtin photographs of csa-nb (`csa_nb.data.BUILTIN_SOURCES`, shipped by scikit-image and matplotlib).

Which files are photographs is decided by a reviewed list, `data/photo_corpus/reviewed.csv` (package, path, decision,
name, reason): every image file of the packages is in it, kept or dropped with the reason (drawing, render, logo,
chessboard, text, smaller copy of the same wallpaper, second view of a stereo pair, ...). A file the list does not
know stops the build. Each kept photograph is brought to a short side of `--short-side` px (never enlarged; photos
with a short side under 256 px are left out) and written as a quality-95 JPEG into DIR/train, DIR/val or DIR/test.
The split is by picture, seeded and deterministic (about 70/15/15); the builtin photographs keep their parts (their
test photographs go to `test`). A perceptual hash (64-bit DCT hash) keeps near-duplicates in one split, and the build
fails if two files in different splits are still within `--max-distance` bits of each other.
DIR/manifest.csv lists every file: file, package, version, path in the package, licence and copyright as the
package's debian/copyright states them, split, width, height, sha256.
"""
from __future__ import annotations

import argparse
import csv
import fnmatch
import hashlib
import importlib.metadata
import io
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, ImageOps

from csa_nb.data import sha256_file  # the package's one file hash

HERE = Path(__file__).resolve().parent
REVIEWED = HERE / "photo_corpus" / "reviewed.csv"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
SPLITS = ("train", "val", "test")
MIN_SHORT_SIDE = 256
MANIFEST_FIELDS = ("file", "package", "version", "path", "licence", "copyright", "split", "width", "height", "sha256")
REVIEWED_FIELDS = ("package", "path", "decision", "name", "reason")
BUILTIN_PACKAGES = ("scikit-image", "matplotlib")


class CorpusError(RuntimeError):
    "A build that cannot go on; its message is the one line the command prints."


@dataclass(frozen=True)
class DebianPackage:
    "One pinned Debian package and the folder of its image files."
    name: str
    version: str
    sha256: str  # of the .deb file
    images: str  # folder, inside the package, whose image files are candidates


PACKAGES = (  # Debian 12 (bookworm), main, all
    DebianPackage("opencv-doc", "4.6.0+dfsg-12",
                  "4b12681df35878207ac7097dc66184b2ae552e4bf4ddd2af04a0f03ed0b8682a", "usr/share/doc/opencv-doc/examples"),
    DebianPackage("plasma-workspace-wallpapers", "4:5.27.5-2",
                  "32cd18b71c8c938a18b3b351f217c02ac590e323caa3cf322fbb875ce8892f8b", "usr/share/wallpapers"),
    DebianPackage("ukui-wallpapers", "20.04.3-1.1",
                  "6d49be70152e6d603163458e177e501deb0be8f2916389ccbfcf59b0d7fc0262", "usr/share/backgrounds"),
    DebianPackage("lomiri-wallpapers-20.04", "20.04.0-2",
                  "d44e89b8473aafe64a5b678f014862dc31335aaaf18665c544d985d854f1a709", "usr/share/backgrounds"),
)


# ---- fetching and unpacking --------------------------------------------------------------------------------------

def require_tool(name: str):
    "Stop with one line when a Debian tool is missing."
    if shutil.which(name) is None:
        raise CorpusError(f"{name} not found: prepare_photos.py needs Debian's apt-get and dpkg-deb "
                          "(run it on Debian or Ubuntu, or pass --debs with the .deb files and have dpkg-deb)")


def find_deb(package: DebianPackage, folder: Path) -> Path | None:
    "The .deb of `package` in `folder` (apt-get's file name, the epoch's ':' written '%3a'), checked; None if absent."
    version = package.version.replace(":", "%3a")
    for path in (folder / f"{package.name}_{version}_all.deb", folder / f"{package.name}_{package.version}_all.deb"):
        if path.is_file():
            found = sha256_file(path)
            if found != package.sha256:
                raise CorpusError(f"{path} has sha256 {found}, expected {package.sha256} "
                                  f"({package.name} {package.version}); delete it to download it again")
            return path
    return None


def fetch_deb(package: DebianPackage, folder: Path) -> Path:
    "The checked .deb of `package`: from `folder`, else downloaded there with `apt-get download`."
    path = find_deb(package, folder)
    if path is not None:
        return path
    require_tool("apt-get")
    folder.mkdir(parents=True, exist_ok=True)
    spec = f"{package.name}={package.version}"
    result = subprocess.run(["apt-get", "download", spec], cwd=folder, capture_output=True, text=True, check=False)
    path = find_deb(package, folder)
    if result.returncode != 0 or path is None:
        last = (result.stderr.strip().splitlines() or ["no .deb written"])[-1]
        raise CorpusError(f"apt-get download {spec} failed ({last}); the corpus needs this exact version "
                          "(Debian 12 bookworm): run apt-get update, or put the .deb in --debs")
    return path


def unpack(deb: Path, into: Path) -> Path:
    "Unpack `deb` into the folder `into` with dpkg-deb -x (no install); `into`."
    require_tool("dpkg-deb")
    into.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["dpkg-deb", "-x", str(deb), str(into)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise CorpusError(f"dpkg-deb -x {deb} failed: {result.stderr.strip()}")
    return into


def candidate_files(tree: Path, folder: str) -> list[str]:
    "Package paths (relative to the unpacked `tree`) of the image files under `folder`; links are left out."
    base = tree / folder
    if not base.is_dir():
        return []
    return sorted(p.relative_to(tree).as_posix() for p in base.rglob("*")
                  if p.is_file() and not p.is_symlink() and p.suffix.lower() in IMAGE_SUFFIXES)


# ---- licences as debian/copyright states them --------------------------------------------------------------------

def read_copyright(text: str) -> list[dict]:
    "The `Files:` paragraphs of a machine-readable debian/copyright: [{'files': [...], 'copyright', 'license'}]."
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        fields, key = {}, None
        for line in block.splitlines():
            if line.startswith("#"):
                continue
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, value = line.split(":", 1)
                key = key.strip().lower()
                fields[key] = value.strip()
        if "files" in fields:
            paragraphs.append({"files": fields["files"].split(), "copyright": " ".join(fields.get("copyright", "").split()),
                               "license": fields.get("license", "").splitlines()[0].strip() if fields.get("license") else ""})
    return paragraphs


def licence_of(paragraphs: list[dict], path: str) -> tuple[str, str]:
    "(licence, copyright) of the package file `path`: a paragraph naming the file itself, else the last matching pattern."
    name = PurePosixPath(path).name
    for paragraph in paragraphs:  # upstream paths differ from installed ones: a file named exactly wins
        if any("*" not in p and "?" not in p and PurePosixPath(p).name == name for p in paragraph["files"]):
            return paragraph["license"], paragraph["copyright"]
    found = ("not stated", "")
    for paragraph in paragraphs:  # DEP-5: the last paragraph that matches applies
        if any(fnmatch.fnmatchcase(path, p) for p in paragraph["files"]):
            found = (paragraph["license"], paragraph["copyright"])
    return found


def builtin_licence(credit: str) -> tuple[str, str]:
    "(licence, copyright) from a builtin photograph's credit 'who; licence'."
    who, _, licence = credit.rpartition("; ")
    return (licence, who) if who else ("not stated by the package", credit)


# ---- the reviewed list --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Review:
    package: str
    path: str
    decision: str  # keep | drop
    name: str  # output file stem of a kept photograph
    reason: str


def read_reviewed(path: Path) -> list[Review]:
    "The reviewed list, checked: known decisions, a unique name for each kept photograph."
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != REVIEWED_FIELDS:
            raise CorpusError(f"{path}: expected the columns {','.join(REVIEWED_FIELDS)}, got {reader.fieldnames}")
        reviews = [Review(**row) for row in reader]
    names = {}
    for review in reviews:
        if review.decision not in ("keep", "drop"):
            raise CorpusError(f"{path}: decision must be keep or drop, got {review.decision!r} for {review.path}")
        if review.decision == "keep":
            if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", review.name):
                raise CorpusError(f"{path}: kept {review.path} needs a name of a-z, 0-9 and '-', got {review.name!r}")
            if review.name in names:
                raise CorpusError(f"{path}: name {review.name} given to both {names[review.name]} and {review.path}")
            names[review.name] = review.path
    return reviews


def check_reviewed(reviews: list[Review], package: str, candidates: list[str]) -> list[Review]:
    "The kept reviews of `package`; stops when a candidate was never reviewed or a kept file is missing."
    mine = {r.path: r for r in reviews if r.package == package}
    unknown = [c for c in candidates if c not in mine]
    if unknown:
        raise CorpusError(f"{len(unknown)} image file(s) of {package} not in the reviewed list, e.g. {unknown[0]}: "
                          f"look at them and add a keep/drop line for each to {REVIEWED.relative_to(HERE.parent)}")
    missing = [r.path for r in mine.values() if r.decision == "keep" and r.path not in candidates]
    if missing:
        raise CorpusError(f"kept file {missing[0]} is not in package {package}: wrong version unpacked?")
    return [r for r in mine.values() if r.decision == "keep"]


# ---- images -------------------------------------------------------------------------------------------------------

def fit_short_side(image: Image.Image, short_side: int) -> Image.Image:
    "`image` as RGB with its shorter side brought down to `short_side` (never enlarged)."
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        canvas = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(canvas, image)
    image = image.convert("RGB")
    width, height = image.size
    scale = short_side / min(width, height)
    if scale >= 1:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if side_ratio := min(width // size[0], height // size[1]) // 2:  # a fast exact box reduction first for huge files
        image = image.reduce(side_ratio)
    return image.resize(size, Image.LANCZOS)


def jpeg_bytes(image: Image.Image) -> bytes:
    "A high-quality JPEG (quality 95, no chroma subsampling) of `image`."
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95, subsampling=0, optimize=True)
    return buffer.getvalue()


def _dct_matrix(n: int) -> np.ndarray:
    k, x = np.arange(n)[:, None], np.arange(n)[None, :]
    return np.cos(np.pi * (2 * x + 1) * k / (2 * n))


_DCT32 = _dct_matrix(32)


def perceptual_hash(image: Image.Image) -> int:
    "64-bit DCT hash: the 8x8 lowest frequencies of a 32x32 grayscale copy, each bit 'above their median'."
    pixels = np.asarray(image.convert("L").resize((32, 32), Image.BOX), dtype=np.float64)
    low = (_DCT32 @ pixels @ _DCT32.T)[:8, :8].flatten()
    bits = low > np.median(low[1:])  # the DC term (overall brightness) does not set the threshold
    return int("".join("1" if b else "0" for b in bits), 2)


def hash_distance(a: int, b: int) -> int:
    "How many of the 64 bits differ."
    return (a ^ b).bit_count()


def near_duplicates(hashes: dict[str, int], max_distance: int) -> list[tuple[str, str, int]]:
    "Pairs (a, b, distance) of names whose hashes differ in at most `max_distance` bits."
    names = sorted(hashes)
    return [(a, b, d) for i, a in enumerate(names) for b in names[i + 1:]
            if (d := hash_distance(hashes[a], hashes[b])) <= max_distance]


def duplicate_groups(names: list[str], pairs: list[tuple[str, str, int]]) -> list[list[str]]:
    "The names joined by near-duplicate pairs into groups (union-find), each group sorted, groups sorted."
    parent = {n: n for n in names}

    def root(n):
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n
    for a, b, _ in pairs:
        parent[root(a)] = root(b)
    groups = {}
    for n in sorted(names):
        groups.setdefault(root(n), []).append(n)
    return sorted(groups.values())


# ---- splits -------------------------------------------------------------------------------------------------------

def assign_splits(
    names: list[str],  # every picture
    fixed: dict[str, str],  # pictures whose split is given (builtin photographs: their part)
    groups: list[list[str]],  # near-duplicate groups: each goes to one split
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 0,
) -> dict[str, str]:
    "A deterministic split by picture: about `fractions` of all pictures, `fixed` ones kept, each group together."
    grouped = {n for g in groups for n in g}
    groups = [list(g) for g in groups] + [[n] for n in sorted(names) if n not in grouped]
    targets = {"val": round(fractions[1] * len(names)), "test": round(fractions[2] * len(names))}
    counts = dict.fromkeys(SPLITS, 0)
    splits, free = {}, []
    for group in groups:
        given = sorted({fixed[n] for n in group if n in fixed})
        if len(given) > 1:
            raise CorpusError(f"near-duplicates {', '.join(group)} have fixed splits {', '.join(given)}")
        if given:
            splits.update(dict.fromkeys(group, given[0]))
            counts[given[0]] += len(group)
        else:
            free.append(sorted(group))
    free.sort()
    for index in np.random.default_rng(seed).permutation(len(free)):
        group = free[index]
        split = next((s for s in ("test", "val") if counts[s] + len(group) <= targets[s]), "train")
        splits.update(dict.fromkeys(group, split))
        counts[split] += len(group)
    return splits


def check_no_duplicates_across_splits(hashes: dict[str, int], splits: dict[str, str], max_distance: int):
    "Raise CorpusError if two pictures in different splits are near-duplicates."
    crossing = [(a, b, d) for a, b, d in near_duplicates(hashes, max_distance) if splits[a] != splits[b]]
    if crossing:
        listed = "; ".join(f"{a} ({splits[a]}) ~ {b} ({splits[b]}): {d} bits" for a, b, d in crossing)
        raise CorpusError(f"near-duplicate pictures in different splits (hash distance <= {max_distance}): {listed}")


# ---- the manifest -------------------------------------------------------------------------------------------------

def write_manifest(rows: list[dict], path: Path):
    "Write the manifest (MANIFEST_FIELDS, one row per file, sorted by file)."
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, MANIFEST_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda r: r["file"]))


def read_manifest(path: Path) -> list[dict]:
    "The rows of a manifest, checked for its columns."
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != MANIFEST_FIELDS:
            raise CorpusError(f"{path}: expected the columns {','.join(MANIFEST_FIELDS)}, got {reader.fieldnames}")
        return list(reader)


def check_corpus(root: Path, max_distance: int = 10) -> list[dict]:
    "Check a built corpus against its manifest (files, sizes, sha256, splits, no near-duplicates across splits); its rows."
    rows = read_manifest(root / "manifest.csv")
    hashes, splits = {}, {}
    for row in rows:
        path = root / row["file"]
        if row["split"] not in SPLITS or PurePosixPath(row["file"]).parts[0] != row["split"]:
            raise CorpusError(f"{row['file']}: split {row['split']!r} does not match its folder")
        if not path.is_file() or sha256_file(path) != row["sha256"]:
            raise CorpusError(f"{path} is missing or differs from the manifest (sha256)")
        with Image.open(path) as image:
            if image.size != (int(row["width"]), int(row["height"])):
                raise CorpusError(f"{path} is {image.size}, the manifest says {row['width']}x{row['height']}")
            hashes[row["file"]] = perceptual_hash(image)
        splits[row["file"]] = row["split"]
    check_no_duplicates_across_splits(hashes, splits, max_distance)
    return rows


# ---- the build ----------------------------------------------------------------------------------------------------

@dataclass
class Photo:
    name: str
    package: str
    version: str
    path: str
    licence: str
    copyright: str
    image: Image.Image
    fixed_split: str | None = None


def package_photos(package: DebianPackage, tree: Path, reviews: list[Review], short_side: int, log) -> list[Photo]:
    "The kept photographs of one unpacked package, brought to `short_side`."
    kept = check_reviewed(reviews, package.name, candidate_files(tree, package.images))
    copyright_file = tree / "usr/share/doc" / package.name / "copyright"
    paragraphs = read_copyright(copyright_file.read_text(encoding="utf-8")) if copyright_file.is_file() else []
    photos = []
    for review in sorted(kept, key=lambda r: r.path):
        with Image.open(tree / review.path) as image:
            image.draft("RGB", (short_side, short_side))  # JPEG: decode at a reduced scale, still >= short_side
            original = image.size
            if min(original) < MIN_SHORT_SIDE:
                log(f"  left out {review.path}: {original[0]}x{original[1]}, short side under {MIN_SHORT_SIDE} px")
                continue
            fitted = fit_short_side(image, short_side)
        licence, holder = licence_of(paragraphs, review.path)
        photos.append(Photo(review.name, package.name, package.version, review.path, licence, holder, fitted))
    return photos


def builtin_photos(reviews: list[Review], short_side: int) -> list[Photo]:
    "The kept builtin photographs, each with its builtin part as its split."
    from csa_nb.data import BUILTIN_SOURCES, _builtin_path
    photos = []
    for source in BUILTIN_SOURCES:
        review = next((r for r in reviews if r.package == source.package and r.path == source.file), None)
        if review is None:
            raise CorpusError(f"builtin photograph {source.package} {source.file} is not in the reviewed list")
        if review.decision != "keep":
            continue
        with Image.open(_builtin_path(source)) as image:
            fitted = fit_short_side(image, short_side)
        licence, holder = builtin_licence(source.credit)
        photos.append(Photo(review.name, source.package, importlib.metadata.version(source.package), source.file,
                            licence, holder, fitted, fixed_split="train" if source.part == "train" else "test"))
    return photos


def _replaceable(out: Path) -> bool:
    return not out.exists() or (out.is_dir() and (not any(out.iterdir()) or (out / "manifest.csv").is_file()))


def build(
    out: Path,  # corpus folder to write (replaced if it holds an earlier corpus)
    debs: Path,  # folder of the .deb files (downloaded there when missing)
    reviewed: Path = REVIEWED,
    short_side: int = 512,
    seed: int = 0,
    max_distance: int = 10,
    packages: tuple[DebianPackage, ...] = PACKAGES,
    include_builtin: bool = True,
    log=print,
) -> list[dict]:
    "Build the corpus in `out`; the manifest rows."
    if short_side < MIN_SHORT_SIDE:
        raise CorpusError(f"--short-side must be at least {MIN_SHORT_SIDE}, got {short_side}")
    if not _replaceable(out):
        raise CorpusError(f"{out} exists and is not an earlier corpus (no manifest.csv): choose an empty or new folder")
    reviews = read_reviewed(reviewed)
    require_tool("dpkg-deb")
    photos = []
    with tempfile.TemporaryDirectory(prefix="csa_photos_") as scratch:
        for package in packages:
            deb = fetch_deb(package, debs)
            tree = unpack(deb, Path(scratch) / package.name)
            found = package_photos(package, tree, reviews, short_side, log)
            log(f"{package.name} {package.version}: {len(found)} photographs")
            photos += found
            shutil.rmtree(tree)
    if include_builtin:
        found = builtin_photos(reviews, short_side)
        log(f"builtin: {len(found)} photographs")
        photos += found
    by_name = {p.name: p for p in photos}
    encoded = {p.name: jpeg_bytes(p.image) for p in photos}
    hashes = {n: perceptual_hash(Image.open(io.BytesIO(data))) for n, data in encoded.items()}
    pairs = near_duplicates(hashes, max_distance)
    for a, b, d in pairs:
        log(f"  near-duplicates kept in one split: {a} ~ {b} ({d} bits)")
    splits = assign_splits(sorted(by_name), {p.name: p.fixed_split for p in photos if p.fixed_split},
                           duplicate_groups(sorted(by_name), pairs), seed=seed)
    check_no_duplicates_across_splits(hashes, splits, max_distance)
    pictures = [(f"{splits[name]}/{name}.jpg", encoded[name],
                 {"package": photo.package, "version": photo.version, "path": photo.path, "licence": photo.licence,
                  "copyright": photo.copyright, "split": splits[name], "width": photo.image.width, "height": photo.image.height})
                for name, photo in sorted(by_name.items())]
    return publish_corpus(out, pictures, max_distance)


def publish_corpus(out: Path, pictures: list[tuple[str, bytes, dict]], max_distance: int) -> list[dict]:
    "Write each (file, JPEG bytes, manifest fields) and the manifest into OUT.partial, check it, then put it in OUT's place."
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    rows = []
    for file, data, fields in pictures:
        (partial / file).parent.mkdir(parents=True, exist_ok=True)
        (partial / file).write_bytes(data)
        rows.append({"file": file, **fields, "sha256": hashlib.sha256(data).hexdigest()})
    rows.sort(key=lambda r: r["file"])
    write_manifest(rows, partial / "manifest.csv")
    check_corpus(partial, max_distance)
    if out.exists():
        shutil.rmtree(out)
    partial.rename(out)
    return rows


def main(argv: list[str] | None = None) -> int:
    "The command line."
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="corpus folder to write (train/ val/ test/ manifest.csv)")
    parser.add_argument("--debs", type=Path, default=Path.home() / ".cache" / "csa_nb" / "debian",
                        help="folder of the .deb files; missing ones are downloaded there (default: ~/.cache/csa_nb/debian)")
    parser.add_argument("--short-side", type=int, default=512, help="short side of the written photos in px (default 512)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")
    parser.add_argument("--max-distance", type=int, default=10, help="hash bits (of 64) within which two pictures are near-duplicates")
    parser.add_argument("--reviewed", type=Path, default=REVIEWED, help="the reviewed list (default data/photo_corpus/reviewed.csv)")
    args = parser.parse_args(argv)
    start = time.monotonic()
    try:
        rows = build(args.out, args.debs, args.reviewed, args.short_side, args.seed, args.max_distance)
    except CorpusError as error:
        print(f"prepare_photos.py: error: {error}", file=sys.stderr)
        return 1
    counts = {s: sum(r["split"] == s for r in rows) for s in SPLITS}
    print(f"{len(rows)} photographs in {args.out}: " + ", ".join(f"{n} {s}" for s, n in counts.items())
          + f" ({time.monotonic() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
