"""Build the held-out check set: photographs from a Debian package that no training corpus of csa-nb uses.

    python data/prepare_heldout.py --out DIR [--debs DIR] [--short-side 512]

The photo corpus (`data/prepare_photos.py`) trains on opencv-doc, plasma-workspace-wallpapers, ukui-wallpapers,
lomiri-wallpapers-20.04 and the builtin photographs. This set comes from none of them: the twelve photographs under
`nature/` of Debian's `mate-backgrounds` 1.26.0-1 (the package's `abstract/` and `desktop/` folders hold drawings and
renders, left out). Each is written once to `DIR/test/` as a JPEG with its shorter side brought down to 512 px, with a
`manifest.csv` of the same columns as the photo corpus. The shipped model's card (`csa_nb.model_card`) scores the
model against Telea and biharmonic on these photographs.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from PIL import Image

from csa_nb.data import sha256_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prepare_photos import (CorpusError, DebianPackage, fetch_deb, fit_short_side, jpeg_bytes,  # noqa: E402
                            licence_of, read_copyright, unpack, write_manifest)

PACKAGE = DebianPackage("mate-backgrounds", "1.26.0-1",
                        "7bf4c2209f34b4f61ba6d24c8b58c28b361e82e4b943aae6d42c030169af9e04", "usr/share/backgrounds/mate")
PHOTOGRAPHS = ("Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow", "LadyBird", "RainDrops", "Storm",
               "TwoWings", "Wood", "YellowFlower")  # nature/NAME.jpg, each looked at: all photographs


def build(out: Path, debs: Path, short_side: int = 512, log=print) -> list[dict]:
    "Write the held-out photographs and their manifest into `out`; the manifest rows."
    deb = fetch_deb(PACKAGE, debs)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tree = unpack(deb, Path(tmp))
        paragraphs = read_copyright((tree / "usr/share/doc" / PACKAGE.name / "copyright").read_text(encoding="utf-8"))
        (out / "test").mkdir(parents=True, exist_ok=True)
        for name in PHOTOGRAPHS:
            inside = f"nature/{name}.jpg"
            source = tree / PACKAGE.images / inside
            if not source.is_file():
                raise CorpusError(f"{PACKAGE.name} {PACKAGE.version} has no {inside}: is the .deb the pinned one?")
            with Image.open(source) as image:
                picture = fit_short_side(image, short_side)
            target = out / "test" / f"mate-{name.lower()}.jpg"
            target.write_bytes(jpeg_bytes(picture))
            licence, copyright_ = licence_of(paragraphs, inside)
            rows.append({"file": f"test/{target.name}", "package": PACKAGE.name, "version": PACKAGE.version,
                         "path": f"{PACKAGE.images}/{inside}", "licence": licence, "copyright": copyright_, "split": "test",
                         "width": picture.width, "height": picture.height, "sha256": sha256_file(target)})
    write_manifest(rows, out / "manifest.csv")
    log(f"wrote {len(rows)} photographs from {PACKAGE.name} {PACKAGE.version} to {out / 'test'}")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="folder to write (test/ and manifest.csv)")
    parser.add_argument("--debs", type=Path, default=Path.home() / ".cache" / "csa_nb" / "debs",
                        help="folder holding (or receiving) the .deb file")
    parser.add_argument("--short-side", type=int, default=512, help="shorter side of the written photographs (px)")
    args = parser.parse_args(argv)
    try:
        build(args.out, args.debs, args.short_side)
    except CorpusError as error:
        print(f"prepare_heldout.py: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
