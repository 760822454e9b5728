"""Round-trip notebooks and percent-format scripts, for authoring notebooks in a text editor.

    python tools/nbpy.py to-py nbs/02_csa.ipynb  > .drafts/02_csa.py
    python tools/nbpy.py to-nb .drafts/02_csa.py nbs/02_csa.ipynb

Cells start with `# %%` (code) or `# %% [markdown]` (markdown, each line prefixed by `# `).
Cell tags ride on the marker: `# %% tags=["parameters"]`. The notebook stays the source of
truth; the script form is a scratch copy (keep it under the git-ignored `.drafts/`).
`to-nb` keeps the cell ids of the notebook it overwrites for cells that are unchanged or edited in
place, so the `# %% ... #id` markers nbdev_export writes into csa_nb/ change only where cells do.
"""
import difflib, json, re, sys
from pathlib import Path

import nbformat

MARKER = re.compile(r"^# %%(?P<md> \[markdown\])?(?: tags=(?P<tags>\[.*\]))?\s*$")


def notebook_to_script(nb_path: str) -> str:
    """The percent-format text of the notebook at `nb_path`."""
    nb = nbformat.read(nb_path, as_version=4)
    parts = []
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags")
        tag_text = f" tags={json.dumps(tags)}" if tags else ""
        if cell.cell_type == "markdown":
            body = "\n".join(("# " + line) if line else "#" for line in cell.source.splitlines())
            parts.append(f"# %% [markdown]{tag_text}\n{body}")
        else:
            parts.append(f"# %%{tag_text}\n{cell.source}")
    return "\n\n".join(parts) + "\n"


def script_to_notebook(text: str) -> nbformat.NotebookNode:
    """A notebook made of the percent-format cells in `text`."""
    cells, current = [], None
    for line in text.splitlines():
        match = MARKER.match(line)
        if match:
            current = {"md": bool(match["md"]), "tags": json.loads(match["tags"]) if match["tags"] else None, "lines": []}
            cells.append(current)
        elif current is not None:
            current["lines"].append(line)
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"display_name": "python3", "language": "python", "name": "python3"}}
    for cell in cells:
        lines = cell["lines"]
        while lines and not lines[-1].strip():
            lines.pop()
        if cell["md"]:
            source = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in lines)
            new = nbformat.v4.new_markdown_cell(source)
        else:
            new = nbformat.v4.new_code_cell("\n".join(lines))
        if cell["tags"]:
            new.metadata["tags"] = cell["tags"]
        cells_out = nb.cells
        cells_out.append(new)
    return nb


def keep_cell_ids(new: nbformat.NotebookNode, old: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """`new` with the ids of `old`'s cells where they line up (same source, or edited in place)."""
    key = lambda cell: (cell.cell_type, cell.source)
    matcher = difflib.SequenceMatcher(None, [key(c) for c in old.cells], [key(c) for c in new.cells], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
            for old_cell, new_cell in zip(old.cells[i1:i2], new.cells[j1:j2]):
                if "id" in old_cell:
                    new_cell["id"] = old_cell["id"]
    return new


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) >= 2 and argv[0] == "to-py":
        sys.stdout.write(notebook_to_script(argv[1]))
    elif len(argv) == 3 and argv[0] == "to-nb":
        nb = script_to_notebook(Path(argv[1]).read_text(encoding="utf-8"))
        if Path(argv[2]).is_file():
            nb = keep_cell_ids(nb, nbformat.read(argv[2], as_version=4))
        nbformat.write(nb, argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
