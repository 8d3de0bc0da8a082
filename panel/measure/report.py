"""Score a labelled suite's panels: the report `panel eval` prints. Pure: transcripts in, report
out (panel.measure.evaluation runs the panels; panel.measure.baseline holds the baseline diff and thresholds)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from panel.engine.quality import References, build_references, degenerate_problem, echo_problem, text_fields
from panel.measure.claims import (
    CONTRADICTION_METHOD,
    GROUNDING_METHOD,
    Facts,
    card_facts,
    check_claims,
    is_grounded,
)
from panel.measure.metrics import DISTINCTNESS_METHOD, Quote, cohen_kappa, discrimination
from panel.measure.replies import contradicts_card, judge_replies
from panel.measure.suite import LabelledCard, Suite
from panel.measure.tally import (
    Count,
    Scored,
    count_of,
    distinctness_metrics,
    flip_stability,
    gate_kinds,
    persona_metrics,
    share,
)
from panel.records.personas import LoadedPersona
from panel.records.transcript import Document, PanelTranscript
from panel.settings import QualityGates

# The metrics in the order they are shown, by what they measure: what the model wrote comes
# first (every reply, whatever the gates made of it), then what the gates refused, then what was
# published and the calls the panel made. Panel-level metrics have no per-persona value.
SECTIONS = {
    "what the model wrote (all replies)": (
        "reply_echo_rate",
        "reply_degenerate_rate",
        "reply_contradiction_rate",
        "reply_unreadable_rate",
        "first_try_validity",
        "calls_per_valid",
    ),
    "what the gates refused": ("gate_catch_rate",),
    "what was published": (
        "validity",
        "complete_panels",
        "echo_rate",
        "degenerate_rate",
        "contradiction_rate",
        "grounding",
        "distinctness",
    ),
    "the calls": (
        "agreement",
        "kappa",
        "discrimination",
        "stability",
        "panel_agreement",
        "panel_kappa",
        "panel_discrimination",
    ),
}
PANEL_METRICS = ("complete_panels", "panel_agreement", "panel_kappa", "panel_discrimination")
PERSONA_METRICS = tuple(
    metric for metrics in SECTIONS.values() for metric in metrics if metric not in PANEL_METRICS
)
# Higher is better for every metric but these (and the gates' catch rate, which is neither).
LOWER_IS_BETTER = (
    "echo_rate",
    "degenerate_rate",
    "contradiction_rate",
    "reply_echo_rate",
    "reply_degenerate_rate",
    "reply_contradiction_rate",
    "reply_unreadable_rate",
    "calls_per_valid",
)
NEITHER_BETTER = ("gate_catch_rate",)
METHODS = {
    "reply_echo_rate": "share of all the model's replies (every attempt, accepted, re-asked or "
    "unreadable) with a text copying a run of the prompts/persona file or of the card (thresholds "
    "under gates; an unreadable reply is checked on its raw text)",
    "reply_degenerate_rate": "share of all replies that read as a verdict with a placeholder, the "
    "persona's name as headline, a short quote or one text in two fields",
    "reply_contradiction_rate": CONTRADICTION_METHOD + "; over all replies",
    "reply_unreadable_rate": "share of all replies that are not a verdict of the persona's schema",
    "first_try_validity": "share of persona reviews whose first reply was accepted",
    "calls_per_valid": "model calls (every attempt, transport failures included) per valid review",
    "gate_catch_rate": "share of the readable replies that a quality gate refused (by kind: gate_kinds)",
    "validity": "share of persona reviews that ended with a valid verdict",
    "complete_panels": "share of cards whose panel has a valid verdict from every persona",
    "echo_rate": "the reply echo rate over published verdicts only (the gates chose them: near 0 "
    "by construction)",
    "degenerate_rate": "the reply degenerate rate over published verdicts only",
    "contradiction_rate": "the reply contradiction rate over published verdicts only",
    "grounding": GROUNDING_METHOD,
    "distinctness": DISTINCTNESS_METHOD,
    "agreement": "share of verdicts whose decision matches the card's persona label (cards without "
    "one for that persona are not counted); kappa is Cohen's kappa over the same pairs",
    "discrimination": "mean ship rate on cards labelled ship minus on cards labelled skip",
    "stability": "1 - mean flip rate (panel.measure.stability) over cards, with --samples 2 or more",
    "panel_agreement": "the panel ships when more than half of its valid verdicts ship (ship % > 50)",
}


class CardRow(BaseModel):
    name: str
    source: str
    label: str
    ship_pct: int | None
    call: str | None
    decisions: dict[str, str]
    expected: dict[str, str]
    problems: list[str] = Field(default_factory=list)
    transcript: str | None = None


class EvalReport(Document):
    kind: Literal["eval"] = "eval"
    suite: str
    suite_path: str
    out_dir: str
    backend: dict[str, Any] = Field(default_factory=dict)
    models: dict[str, str] = Field(default_factory=dict)
    samples: int = 1
    seeds: list[int | None] = Field(default_factory=list)
    gates: QualityGates
    cards: int
    verdicts: int
    overall: dict[str, float | None]
    personas: dict[str, dict[str, float | None]]
    # What each metric rests on (see panel.measure.tally.Count); empty in reports written
    # before the counts were kept, which still load as a baseline.
    overall_counts: dict[str, Count] = Field(default_factory=dict)
    persona_counts: dict[str, dict[str, Count]] = Field(default_factory=dict)
    rows: list[CardRow]
    missing: list[str] = Field(default_factory=list)
    # Replies each kind of quality gate refused (the kind as the gate named it).
    gate_kinds: dict[str, int] = Field(default_factory=dict)
    prompts: str | None = None
    methods: dict[str, str] = Field(default_factory=lambda: dict(METHODS))
    model_calls: int | None = None
    cache_hits: int | None = None
    wall_seconds: float | None = None
    # The panels' own durations added up (first sample of each card): unlike wall_seconds, it
    # holds across a resumed eval, which only times what it ran.
    panel_seconds: float | None = None


def score_review(
    scored: Scored, loaded: LoadedPersona, refs: References, facts: Facts, gates: QualityGates
) -> None:
    """Judge every reply of the review, and its published verdict."""
    scored.replies = judge_replies(scored.review, loaded, refs, gates)
    verdict = scored.verdict
    if verdict is not None:
        texts = text_fields(verdict)
        scored.echo = echo_problem(verdict, refs, gates) is not None
        scored.degenerate = degenerate_problem(verdict, refs.persona_name, gates) is not None
        scored.contradiction = contradicts_card(texts, refs)
        scored.grounded = is_grounded(check_claims(texts.values(), facts), scored.contradiction)


def panel_call(transcript: PanelTranscript) -> str | None:
    ship_pct = transcript.aggregate.ship_pct
    return None if ship_pct is None else "ship" if ship_pct > 50 else "skip"


def card_row(
    entry: LabelledCard, transcript: PanelTranscript, items: list[Scored], path: str | None
) -> CardRow:
    problems = [
        f"{item.persona}: {kind}"
        for item in items
        for kind, flag in (
            ("echo", item.echo),
            ("degenerate", item.degenerate),
            ("contradicts the card", item.contradiction),
            ("ungrounded", item.grounded is False),
        )
        if flag
    ] + [f"{item.persona}: failed" for item in items if item.verdict is None]
    return CardRow(
        name=entry.card.name,
        source=entry.source,
        label=entry.labels.panel,
        ship_pct=transcript.aggregate.ship_pct,
        call=panel_call(transcript),
        decisions={item.persona: item.verdict.decision if item.verdict else "failed" for item in items},
        expected=dict(entry.labels.personas),
        problems=problems,
        transcript=path,
    )


def score_card(
    entry: LabelledCard,
    transcript: PanelTranscript,
    personas: dict[str, LoadedPersona],
    gates: QualityGates,
    prompts_dir: Path | None,
) -> list[Scored]:
    """Each review of the card's panel, its replies and its verdict judged."""
    facts = card_facts(entry.card)
    items = []
    for review in transcript.reviews:
        loaded = personas.get(review.persona)
        if loaded is None:
            continue
        item = Scored(
            entry.card.name,
            review.persona,
            entry.labels.panel,
            entry.labels.personas.get(review.persona),
            review,
        )
        references = build_references(loaded.persona, entry.card, gates, prompts_dir)
        score_review(item, loaded, references, facts, gates)
        items.append(item)
    return items


def add_panel_metrics(
    rows: list[CardRow], overall: dict[str, float | None], counts: dict[str, Count]
) -> None:
    """The metrics of whole panels (one per card), into the overall table."""
    panels = [row for row in rows if row.decisions]
    overall["complete_panels"], counts["complete_panels"] = share(
        [(row.name, "failed" not in row.decisions.values()) for row in panels]
    )
    labelled_rows = [row for row in rows if row.call is not None]
    overall["panel_agreement"], counts["panel_agreement"] = share(
        [(row.name, row.call == row.label) for row in labelled_rows]
    )
    overall["panel_kappa"] = cohen_kappa(
        [row.call or "" for row in labelled_rows], [row.label for row in labelled_rows]
    )
    counts["panel_kappa"] = count_of(row.name for row in labelled_rows)
    measured = [row for row in rows if row.ship_pct is not None]
    overall["panel_discrimination"] = discrimination(
        [(row.label, (row.ship_pct or 0) / 100) for row in measured]
    )
    counts["panel_discrimination"] = count_of(row.name for row in measured)


def score_suite(
    suite: Suite,
    personas: list[LoadedPersona],
    samples: dict[str, list[tuple[PanelTranscript, str | None]]],
    gates: QualityGates,
    created_at: datetime,
    prompts_dir: Path | None = None,
) -> EvalReport:
    """The eval report: the first sample of each card scores agreement, echo and the rest; all
    samples together score stability. Cards with no transcript are listed as missing."""
    by_id = {loaded.persona.id: loaded for loaded in personas}
    scored: list[Scored] = []
    rows, missing = [], []
    for entry in suite.cards:
        found = samples.get(entry.card.name) or []
        if not found:
            missing.append(entry.card.name)
            continue
        transcript, path = found[0]
        items = score_card(entry, transcript, by_id, gates, prompts_dir)
        scored.extend(items)
        rows.append(card_row(entry, transcript, items, path))
    flips = flip_stability({name: [t for t, _ in found] for name, found in samples.items()})
    (overall_distinct, overall_distinct_count), persona_distinct = distinctness_metrics(
        [Quote(item.card, item.persona, item.verdict.quote) for item in scored if item.verdict]
    )
    per_persona, persona_counts = {}, {}
    for persona in dict.fromkeys(item.persona for item in scored):
        metrics, counts = persona_metrics(
            [item for item in scored if item.persona == persona], flips.get(persona, [])
        )
        metrics["distinctness"], counts["distinctness"] = persona_distinct.get(
            persona, (None, Count(n=0, cards=0))
        )
        per_persona[persona], persona_counts[persona] = metrics, counts
    overall, overall_counts = persona_metrics(scored, [flip for values in flips.values() for flip in values])
    overall["distinctness"], overall_counts["distinctness"] = overall_distinct, overall_distinct_count
    add_panel_metrics(rows, overall, overall_counts)
    first = next((found[0][0] for found in samples.values() if found), None)
    return EvalReport(
        created_at=created_at,
        suite=suite.name,
        suite_path=suite.path,
        out_dir="",
        backend=first.backend if first else {},
        models={persona: info.name for persona, info in first.models.items()} if first else {},
        samples=max((len(found) for found in samples.values()), default=0),
        gates=gates,
        cards=len(rows),
        verdicts=sum(item.verdict is not None for item in scored),
        overall=overall,
        personas=per_persona,
        overall_counts=overall_counts,
        persona_counts=persona_counts,
        rows=rows,
        missing=missing,
        gate_kinds=gate_kinds(scored),
        panel_seconds=round(sum(found[0][0].seconds for found in samples.values() if found), 2),
        prompts=str(prompts_dir) if prompts_dir else None,
    )
