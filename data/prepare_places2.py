"""Extract a few Places365 scene categories from the official archives, without unpacking the rest.

The paper's Places2 experiments use only the *butte* and *canyon* categories, but the official
training archive holds 1.8 million images (365 categories). This script streams the archives once
and writes just the chosen categories, in the layout `csa_nb.data.places2_dataset` reads:

    python data/prepare_places2.py --out /data/places2 --categories butte canyon \\
        --train-tar train_256_places365standard.tar \\
        --val-tar val_256.tar --filelist filelist_places365-standard.tar

    /data/places2/data_256/b/butte/00000001.jpg ...      (from the training archive)
    /data/places2/val_256/Places365_val_00000055.jpg ... (validation images of the categories)
    /data/places2/categories_places365.txt, places365_val.txt

`--filelist` is the official `filelist_places365-standard.tar` or a folder holding its text files;
it is needed for the validation images, whose category is only in `places365_val.txt`.
The large-image archives (`train_large_places365standard.tar`, `val_large.tar`) work the same way.
Nothing is downloaded: get the archives from http://places2.csail.mit.edu/download.html.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tarfile
from pathlib import Path, PurePosixPath

from csa_nb.data import _category_key as category_key  # '/b/butte' -> 'butte', the rule places2_dataset uses

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
META_FILES = ("categories_places365.txt", "places365_val.txt")


def read_meta(filelist: Path, out: Path) -> dict[str, Path]:
    "Copy the category and validation lists from `filelist` (tar or folder) into `out`; their new paths."
    out.mkdir(parents=True, exist_ok=True)
    found = {}
    if filelist.is_dir():
        for name in META_FILES:
            source = next(iter(sorted(filelist.rglob(name))), None)
            if source is not None:
                found[name] = Path(shutil.copy(source, out / name))
    else:
        with tarfile.open(filelist) as archive:
            for member in archive:
                name = PurePosixPath(member.name).name
                if member.isfile() and name in META_FILES:
                    (out / name).write_bytes(archive.extractfile(member).read())
                    found[name] = out / name
    missing = [n for n in META_FILES if n not in found]
    if missing:
        raise SystemExit(f"error: {', '.join(missing)} not found in '{filelist}' (expected the official "
                         "filelist_places365-standard.tar or a folder holding its text files)")
    return found


def category_indices(categories_file: Path, categories: list[str]) -> dict[str, int]:
    "Index of each wanted category in categories_places365.txt ('/b/butte 48')."
    known = {}
    for line in categories_file.read_text(encoding="utf-8").splitlines():
        if line.strip():
            name, index = line.split()
            known[category_key(name)] = int(index)
    unknown = [c for c in categories if category_key(c) not in known]
    if unknown:
        raise SystemExit(f"error: unknown categories {', '.join(unknown)} (not in '{categories_file}')")
    return {category_key(c): known[category_key(c)] for c in categories}


def extract_train(train_tar: Path, categories: list[str], out: Path) -> int:
    "Write the training images of `categories` from `train_tar` under `out`; how many were written."
    keys = [category_key(c) for c in categories]
    written = 0
    with tarfile.open(train_tar) as archive:
        for member in archive:
            path = PurePosixPath(member.name)
            if not member.isfile() or path.suffix.lower() not in IMAGE_SUFFIXES or len(path.parts) < 3:
                continue
            folder = "/".join(path.parts[1:-1])  # e.g. 'b/butte' below the archive's top folder
            if category_key(folder) in keys:
                target = out.joinpath(*path.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.extractfile(member).read())
                written += 1
    return written


def extract_val(val_tar: Path, val_list: Path, indices: dict[str, int], out: Path) -> int:
    "Write the validation images whose label is one of `indices` from `val_tar` under `out`."
    wanted_labels = set(indices.values())
    wanted = set()
    for line in val_list.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if len(fields) >= 2 and int(fields[1]) in wanted_labels:
            wanted.add(PurePosixPath(fields[0]).name)
    written = 0
    with tarfile.open(val_tar) as archive:
        for member in archive:
            path = PurePosixPath(member.name)
            if member.isfile() and path.name in wanted:
                top = path.parts[0] if len(path.parts) > 1 else "val_256"
                target = out / top / path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.extractfile(member).read())
                written += 1
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="folder to write (given later as data.root)")
    parser.add_argument("--categories", nargs="+", default=["butte", "canyon"], help="scene categories (default: butte canyon)")
    parser.add_argument("--train-tar", type=Path, help="train_256_places365standard.tar (or the large / challenge one)")
    parser.add_argument("--val-tar", type=Path, help="val_256.tar or val_large.tar")
    parser.add_argument("--filelist", type=Path, help="filelist_places365-standard.tar, or a folder with its text files")
    args = parser.parse_args(argv)
    for given in (args.train_tar, args.val_tar, args.filelist):
        if given is not None and not given.exists():
            raise SystemExit(f"error: '{given}' does not exist")
    if args.train_tar is None and args.val_tar is None:
        raise SystemExit("error: give --train-tar and/or --val-tar")
    if args.val_tar is not None and args.filelist is None:
        raise SystemExit("error: --val-tar needs --filelist (the validation labels are in places365_val.txt)")
    if args.train_tar is not None:
        count = extract_train(args.train_tar, args.categories, args.out)
        print(f"train: {count} images of {', '.join(args.categories)} written under {args.out}")
        if count == 0:
            print("warning: no training image matched; check the category names", file=sys.stderr)
    if args.filelist is not None:
        meta = read_meta(args.filelist, args.out)
        indices = category_indices(meta["categories_places365.txt"], args.categories)
        if args.val_tar is not None:
            count = extract_val(args.val_tar, meta["places365_val.txt"], indices, args.out)
            print(f"val: {count} images of {', '.join(args.categories)} written under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
