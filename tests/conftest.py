import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout's csa_nb, also from a git worktree
os.environ.setdefault("MPLBACKEND", "Agg")
