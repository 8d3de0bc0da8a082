"""Hand-written reviews for the quality gates: ones an editor publishes, and hostile replies."""

import json
import tomllib
from pathlib import Path
from typing import Any

from panel.records.cards import ToolCard, load_card
from panel.records.verdicts import Verdict
from tests.support.paths import EXAMPLES

HERE = Path(__file__).parent
PUBLISHABLE: list[dict[str, Any]] = tomllib.loads((HERE / "publishable.toml").read_text())["review"]


def review_verdict(review: dict[str, Any]) -> Verdict:
    """The review as the verdict loop would have parsed it."""
    common = ("persona", "decision", "confidence", "headline", "quote", "fields")
    return Verdict.model_validate({key: review[key] for key in common})


def review_card(review: dict[str, Any]) -> ToolCard:
    """The card the review is about: an example tool, or one of the cards beside these reviews."""
    path = EXAMPLES / review["card"]
    return load_card(path if path.is_file() else HERE / review["card"])


HOSTILE: list[dict[str, Any]] = tomllib.loads((HERE / "hostile.toml").read_text())["reply"]


def hostile_review(reply: dict[str, Any]) -> dict[str, Any]:
    """The publishable review of the same card and persona with the hostile reply's parts in it."""
    base = next(r for r in PUBLISHABLE if (r["card"], r["persona"]) == (reply["card"], reply["persona"]))
    review = {**base, "fields": dict(base["fields"])}
    for name, value in reply["changes"].items():
        if name in review["fields"]:
            review["fields"][name] = value
        else:
            review[name] = value
    return review


def reply_json(review: dict[str, Any]) -> str:
    """The review as a model's JSON reply to its persona's schema."""
    common = {key: review[key] for key in ("quote", "headline", "decision", "confidence")}
    return json.dumps({**review["fields"], **common})
