"""Where the repository and its example cards are."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "tools"
# The second prompt set, shipped to diff prompt versions against the bundled one.
TERSE_PROMPTS = ROOT / "examples" / "prompts" / "terse"
