"""tools/ship_checkpoint.py --card-only: the card re-rendered from saved scores equals the card rendered from the scores
in memory, says what was tried under the settings it loses, and refuses scores of another checkpoint and mixed options."""
import importlib.util
from pathlib import Path

import pytest

from test_inference import smoke_checkpoint

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def tool(tmp_path, monkeypatch):
    "tools/ship_checkpoint.py with the shipped file, card, scores and notes moved into tmp_path (the real ones untouched)."
    spec = importlib.util.spec_from_file_location("ship_checkpoint", ROOT / "tools" / "ship_checkpoint.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    checkpoint = smoke_checkpoint(tmp_path / "csa_cpu.pt")
    for name, path in (("DEFAULT_CHECKPOINT", checkpoint), ("CARD", tmp_path / "csa_cpu.md"),
                       ("SCORES", tmp_path / "csa_cpu_scores.csv"), ("TRIED", tmp_path / "csa_cpu_tried.md")):
        monkeypatch.setattr(module, name, path)
    return module


def test_card_only_renders_the_saved_scores_and_refuses_others(tool, tmp_path, capsys):
    from csa_nb.model_card import card_scores, model_card, save_card_scores
    with pytest.raises(SystemExit) as exit_:
        tool.main(["--card-only"])  # nothing saved yet
    assert exit_.value.code == 1 and "no saved card scores" in capsys.readouterr().err
    scores = card_scores(tool.DEFAULT_CHECKPOINT, limit=1, masks_per_bin=1, baselines=("telea",))
    save_card_scores(scores, tool.SCORES)
    tool.TRIED.write_text("- a longer run: no change\n", encoding="utf-8")
    for argv in (["--card-only", str(tool.DEFAULT_CHECKPOINT)], ["--card-only", "--corpus", str(tmp_path)],
                 ["--card-only", "--masks-per-bin", "4"], []):
        with pytest.raises(SystemExit) as exit_:
            tool.main(argv)
        assert exit_.value.code == 2
    with pytest.raises(SystemExit):
        tool.main(["--card-only", "--tried", str(tmp_path / "missing.md")])
    assert "no such file" in capsys.readouterr().err
    assert not tool.CARD.exists()  # nothing written by a refused call

    tool.main(["--card-only"])
    card = tool.CARD.read_text(encoding="utf-8")
    assert card == model_card(tool.DEFAULT_CHECKPOINT, scores=scores, tried="- a longer run: no change\n")  # nothing lost in the files
    assert "### Where it does not" in card and "What was tried for them:\n\n- a longer run: no change\n" in card

    from csa_nb.train import load_checkpoint, save_checkpoint
    save_checkpoint({**load_checkpoint(tool.DEFAULT_CHECKPOINT), "step": 1}, tool.DEFAULT_CHECKPOINT)  # shipped file changed
    with pytest.raises(SystemExit) as exit_:
        tool.main(["--card-only"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 1 and len(err) == 1 and "measured on another checkpoint" in err[0]
