"""A small labelled suite for `panel eval` tests: two strong tools, two weak ones, and reviewers
that agree with the editors, each in its own voice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CARD = {
    "tagline": "A tool",
    "category": "Developer tool",
    "description": "Does one thing.",
    "maker": "Someone",
    "license": "MIT",
    "pricing": "Free",
}
STRONG, WEAK = ("Solid DB", "Fast Search"), ("Pad API", "Sort Cloud")
VOICE = {
    "DxVerdict": "The primitive is a library and the weekend test fails. The moment of truth is pip install.",
    "CompetitionVerdict": "Against Elastic and Algolia it wins on price. It breaks at scale in twelve months.",
    "FuturesVerdict": "The thesis for 2028 is local inference. The trend line is early but steep.",
    "BusinessVerdict": "The buyer is the platform team and the cheque is small. The moat is thin.",
}


def write_suite(folder: Path) -> Path:
    """Four cards in `folder`, labelled for the panel and for dx."""
    folder.mkdir()
    for name in (*STRONG, *WEAK):
        label = "ship" if name in STRONG else "skip"
        data = {**CARD, "name": name, "labels": {"panel": label, "personas": {"dx": label}}}
        (folder / f"{name.replace(' ', '-').lower()}.json").write_text(json.dumps(data))
    return folder


def editors_agree(body: dict[str, Any], verdict: dict[str, Any]) -> dict[str, Any]:
    """A verdict hook: every reviewer ships the strong tools and skips the weak ones, in its voice."""
    card = body["messages"][0]["content"]
    verdict["decision"] = "skip" if any(f'"name": "{name}"' in card for name in WEAK) else "ship"
    verdict["quote"] = VOICE[body["format"]["title"]]
    return verdict
