"""Print one of the three commands README.md promises: `install`, `main` or `test`.

.ci/run takes its install and test commands from here, so CI always runs what a newcomer reads.
They are the single line inside each ```bash block under the headings Install, Run the main job, Test.
"""
import re, sys
from pathlib import Path

HEADINGS = {"install": "Install", "main": "Run the main job", "test": "Test"}


def readme_command(which: str, readme: str) -> str:
    heading = HEADINGS[which]
    section = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", readme, re.S | re.M)
    if not section:
        raise SystemExit(f"README.md has no '## {heading}' section")
    blocks = re.findall(r"```bash\n(.*?)\n```", section.group(1), re.S)
    if len(blocks) != 1 or "\n" in blocks[0].strip():
        raise SystemExit(f"README.md section '{heading}' must hold exactly one one-line ```bash block, found {len(blocks)}")
    return blocks[0].strip()


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    print(readme_command(sys.argv[1], (root / "README.md").read_text(encoding="utf-8")))
