"""Check a dataset folder before a long run: which layout it is, how many images each split has,
and (with --decode) which files cannot be read.

    python data/check_dataset.py /data/celeba
    python data/check_dataset.py /data/places2 --categories butte canyon --decode
    python data/check_dataset.py /data/paris --dataset paris --image-size 256

Training never stops on a corrupt image (it is skipped with a warning and counted), but a full
scan up front tells you how many there are. Exit status: 0 when every split loads and, with
--decode, every file decodes; 1 otherwise.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from csa_nb.config import DataConfig
from csa_nb.data import DATASETS, SPLITS, DatasetError, build_dataset, detect_dataset, load_image


def check(root: Path, dataset: str | None, categories: list[str] | None, image_size: int, decode: bool) -> int:
    "Print a report on the dataset at `root`; the number of problems found."
    dataset = dataset or detect_dataset(root)
    print(f"{root}: {dataset} layout")
    problems = 0
    for split in SPLITS:
        config = DataConfig(dataset=dataset, root=str(root), image_size=image_size, categories=categories)
        try:
            part = build_dataset(config, split)
        except DatasetError as error:
            print(f"  {split:5s}: not available: {error}")
            problems += 1
            continue
        print(f"  {split:5s}: {len(part)} images in {getattr(part, 'root', '')}")
        if decode and hasattr(part, "files"):
            bad = []
            for index in range(len(part)):
                try:
                    load_image(part.path(index))
                except Exception as error:  # report every kind of failure, keep scanning
                    bad.append(f"{part.files[index]} ({type(error).__name__}: {error})")
            for line in bad[:20]:
                print(f"    unreadable: {line}")
            if len(bad) > 20:
                print(f"    ... and {len(bad) - 20} more")
            print(f"    {len(bad)} of {len(part)} files unreadable")
            problems += len(bad)
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="dataset folder")
    parser.add_argument("--dataset", choices=[d for d in DATASETS if d != "builtin"], help="layout (default: detected)")
    parser.add_argument("--categories", nargs="+", help="Places2 scene categories, e.g. butte canyon")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--decode", action="store_true", help="decode every image to find unreadable files")
    args = parser.parse_args(argv)
    try:
        problems = check(args.root, args.dataset, args.categories, args.image_size, args.decode)
    except DatasetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
