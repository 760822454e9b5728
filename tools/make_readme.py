"""Write README.md from nbs/index.ipynb (quarto, which nbdev_readme needs, is not installable here).

Markdown cells are copied; code cells are shown with their printed output unless they carry `#| hide`.
The notebook is executed first with nbdev's runner, so the output shown is current.
"""
import sys
from pathlib import Path

from execnb.nbio import read_nb
from execnb.shell import CaptureShell

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # document the checkout's csa_nb


def _text_outputs(cell) -> str:
    texts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            texts.append("".join(out.get("text", "")))
        elif "data" in out and "text/plain" in out["data"]:
            texts.append("".join(out["data"]["text/plain"]))
    return "".join(texts).rstrip()


def render(nb_path: Path) -> str:
    nb = read_nb(nb_path)
    CaptureShell(str(nb_path)).run_all(nb, exc_stop=True)
    parts = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            parts.append(cell.source.strip())
        elif cell.cell_type == "code" and not cell.source.lstrip().startswith("#| hide"):
            parts.append(f"```python\n{cell.source.strip()}\n```")
            output = _text_outputs(cell)
            if output:
                parts.append(f"```\n{output}\n```")
    body = "\n\n".join(parts)
    return "<!-- Generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file. -->\n\n" + body + "\n"


if __name__ == "__main__":
    target = ROOT / "README.md"
    target.write_text(render(ROOT / "nbs" / "index.ipynb"), encoding="utf-8")
    print(f"wrote {target}", file=sys.stderr)
