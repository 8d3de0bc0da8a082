"""Each metric of `panel eval` with what it rests on: the value, and the count behind it (how
many verdicts, replies or cards it was computed over, how many of them hit, from how many cards).

A metric resting on fewer than MIN_CARDS cards is shown with a mark: one card more or less moves
it by 20 points or more.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel

from panel.measure.metrics import Quote, cohen_kappa, discrimination, distinctness_counts, rate
from panel.measure.replies import ReplyFlags
from panel.measure.stability import assess_stability
from panel.records.transcript import PanelTranscript
from panel.records.verdicts import PersonaReview, Verdict

MIN_CARDS = 5


class Count(BaseModel):
    """What one metric rests on. `n`: the verdicts (replies, quotes, cards) it was computed
    over; `hits`: how many of them count for it, for a share (a tie shared between personas
    counts a fraction; None for kappa, discrimination and stability, which are not shares);
    `cards`: how many cards they come from; `total`: the numerator of a ratio that is not a
    share (the model calls of calls per valid review, `n` being the valid reviews)."""

    n: int
    hits: int | float | None = None
    cards: int
    total: int | None = None


def share(items: Sequence[tuple[Hashable, bool]]) -> tuple[float | None, Count]:
    """A rate over (card, hit) pairs, with its count."""
    hits = [hit for _, hit in items]
    return rate(hits), Count(n=len(items), hits=sum(hits), cards=len({card for card, _ in items}))


def count_of(cards: Iterable[Hashable]) -> Count:
    """The count of a metric that is not a share: one item per element of `cards`."""
    items = list(cards)
    return Count(n=len(items), cards=len(set(items)))


@dataclass
class Scored:
    """One persona's review of one card, measured."""

    card: str
    persona: str
    panel_label: str
    persona_label: str | None
    review: PersonaReview
    echo: bool | None = None
    degenerate: bool | None = None
    contradiction: bool | None = None
    grounded: bool | None = None
    replies: list[ReplyFlags] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict | None:
        return self.review.verdict if self.review.status == "ok" else None


Flips = dict[str, list[tuple[str, float]]]


def persona_metrics(
    items: Sequence[Scored], flips: Sequence[tuple[str, float]]
) -> tuple[dict[str, float | None], dict[str, Count]]:
    """Every per-persona metric but distinctness (see `distinctness_metrics`), and its count;
    `flips` are (card, flip rate) for the cards sampled twice or more."""
    valid = [(item, item.verdict) for item in items if item.verdict is not None]
    labelled = [(item, verdict) for item, verdict in valid if item.persona_label]
    decisions = [verdict.decision for _, verdict in labelled]
    expected = [item.persona_label or "" for item, _ in labelled]
    values: dict[str, float | None] = {}
    counts: dict[str, Count] = {}
    values["agreement"], counts["agreement"] = share(
        [(item.card, verdict.decision == item.persona_label) for item, verdict in labelled]
    )
    values["kappa"], counts["kappa"] = (
        cohen_kappa(decisions, expected),
        count_of(item.card for item, _ in labelled),
    )
    values["discrimination"] = discrimination(
        [(item.panel_label, float(verdict.decision == "ship")) for item, verdict in valid]
    )
    counts["discrimination"] = count_of(item.card for item, _ in valid)
    published = {
        "echo_rate": [(item.card, bool(item.echo)) for item, _ in valid],
        "degenerate_rate": [(item.card, bool(item.degenerate)) for item, _ in valid],
        "contradiction_rate": [(item.card, bool(item.contradiction)) for item, _ in valid],
        "grounding": [(item.card, bool(item.grounded)) for item, _ in valid],
        "validity": [(item.card, item.verdict is not None) for item in items],
        "first_try_validity": [
            (item.card, bool(item.review.attempts) and item.review.attempts[0].outcome == "valid")
            for item in items
        ],
    }
    for metric, pairs in {**published, **reply_shares(items)}.items():
        values[metric], counts[metric] = share(pairs)
    values["distinctness"], counts["distinctness"] = None, Count(n=0, cards=0)
    values["calls_per_valid"], counts["calls_per_valid"] = calls_per_valid(items)
    values["stability"] = mean_stability([value for _, value in flips])
    counts["stability"] = count_of(card for card, _ in flips)
    return values, counts


def reply_shares(items: Sequence[Scored]) -> dict[str, list[tuple[Hashable, bool]]]:
    """The rates over every reply the model wrote (see panel.measure.replies); the gates' catch
    rate is over the readable ones."""
    replies = [(item.card, reply) for item in items for reply in item.replies]
    return {
        "reply_echo_rate": [(card, reply.echo) for card, reply in replies],
        "reply_degenerate_rate": [(card, reply.degenerate) for card, reply in replies],
        "reply_contradiction_rate": [(card, reply.contradiction) for card, reply in replies],
        "reply_unreadable_rate": [(card, not reply.readable) for card, reply in replies],
        "gate_catch_rate": [(card, reply.gate is not None) for card, reply in replies if reply.readable],
    }


def calls_per_valid(items: Sequence[Scored]) -> tuple[float | None, Count]:
    """Model calls (every attempt, transport failures included) per valid review."""
    calls = sum(len(item.review.attempts) for item in items)
    valid = [item.card for item in items if item.verdict is not None]
    value = round(calls / len(valid), 2) if valid else None
    return value, Count(n=len(valid), cards=len(set(valid)), total=calls)


def gate_kinds(items: Iterable[Scored]) -> dict[str, int]:
    """How many replies each kind of gate refused, most first."""
    kinds: dict[str, int] = {}
    for item in items:
        for reply in item.replies:
            if reply.gate is not None:
                kinds[reply.gate] = kinds.get(reply.gate, 0) + 1
    return dict(sorted(kinds.items(), key=lambda pair: (-pair[1], pair[0])))


def distinctness_metrics(
    quotes: Sequence[Quote],
) -> tuple[tuple[float | None, Count], dict[str, tuple[float | None, Count]]]:
    """Distinctness overall and per persona, each with its count (hits may be fractional: ties)."""
    counted = distinctness_counts(quotes)
    cards_of: dict[str, set[Hashable]] = {}
    for quote in quotes:
        cards_of.setdefault(quote.persona, set()).add(quote.card)
    all_cards = {quote.card for quote in quotes}
    if counted is None:
        empty = Count(n=len(quotes), cards=len(all_cards))
        return (None, empty), {
            persona: (None, Count(n=0, cards=len(cards))) for persona, cards in cards_of.items()
        }
    per_persona = {
        persona: (
            round(credit / n, 4) if n else None,
            Count(n=n, hits=round(credit, 4), cards=len(cards_of[persona])),
        )
        for persona, (credit, n) in counted.items()
    }
    total = sum(n for _, n in counted.values())
    credit = sum(credit for credit, _ in counted.values())
    overall = Count(n=total, hits=round(credit, 4), cards=len(all_cards))
    return (round(credit / total, 4) if total else None, overall), per_persona


def flip_stability(samples: dict[str, list[PanelTranscript]]) -> Flips:
    """Per persona, (card, flip rate) of each card that has two or more samples."""
    flips: Flips = {}
    for card, transcripts in samples.items():
        if len(transcripts) < 2:
            continue
        for persona in assess_stability(transcripts).personas:
            if persona.flip_rate is not None:
                flips.setdefault(persona.persona, []).append((card, persona.flip_rate))
    return flips


def mean_stability(values: Sequence[float]) -> float | None:
    return round(1 - sum(values) / len(values), 4) if values else None
