"""Write the checkpoint shipped inside the package, and its model card, from a finished csa-train run.

    python tools/ship_checkpoint.py runs/cpu/csa-HASH/last.pt

writes csa_nb/assets/csa_cpu.pt (generator only, float16 weights) and csa_nb/assets/csa_cpu.md (what it was trained on,
metrics measured now on the test split of its dataset, limits).
"""
import sys

from csa_nb.inference import DEFAULT_CHECKPOINT, shipping_checkpoint
from csa_nb.model_card import model_card


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.exit(__doc__)
    DEFAULT_CHECKPOINT.parent.mkdir(parents=True, exist_ok=True)
    path = shipping_checkpoint(argv[0], DEFAULT_CHECKPOINT, half=True)
    card = DEFAULT_CHECKPOINT.with_suffix(".md")
    card.write_text(model_card(path), encoding="utf-8")
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) and {card}")


if __name__ == "__main__":
    main()
