"""Where the benchmarks find the repository, their kept data, the redline command and the
shared corpus."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "bench" / ".data"  # generated data kept between runs (git-ignored)
REDLINE = ROOT / ".venv" / "bin" / "redline"  # the command a user runs, as installed
# The shared corpus of real samples (never copied here): beside the repository, or beside
# the folder of its worktrees.
CORPUS_PLACES = (ROOT.parent / "shared" / "corpus", ROOT.parent.parent / "shared" / "corpus")
