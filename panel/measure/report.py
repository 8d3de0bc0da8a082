"""Score a labelled suite's panels: the report `panel eval` prints. Pure: transcripts in, report
out (panel.measure.evaluation runs the panels; panel.measure.baseline holds the baseline diff and thresholds)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from panel.engine.prompts import default_prompts_dir
from panel.engine.quality import (
    References,
    build_references,
    degenerate_problem,
    echo_problem,
    persona_texts,
    template_texts,
    words,
)
from panel.engine.verdict_loop import InvalidOutput, parse_verdict, verdict_shape
from panel.measure.metrics import (
    DISTINCTNESS_METHOD,
    GROUNDING_METHOD,
    Quote,
    card_terms,
    cohen_kappa,
    discrimination,
    is_grounded,
)
from panel.measure.suite import LabelledCard, Suite
from panel.measure.tally import (
    Count,
    Scored,
    count_of,
    distinctness_metrics,
    flip_stability,
    persona_metrics,
    share,
)
from panel.records.chat import ChatReply
from panel.records.personas import LoadedPersona
from panel.records.transcript import Document, PanelTranscript
from panel.records.verdicts import PersonaReview, Verdict
from panel.settings import QualityGates

# Higher is better for every metric but these.
LOWER_IS_BETTER = ("echo_rate", "degenerate_rate", "reply_echo_rate", "reply_degenerate_rate")
PERSONA_METRICS = (
    "agreement",
    "kappa",
    "discrimination",
    "echo_rate",
    "degenerate_rate",
    "grounding",
    "distinctness",
    "validity",
    "first_try_validity",
    "reply_echo_rate",
    "reply_degenerate_rate",
    "stability",
)
PANEL_METRICS = ("panel_agreement", "panel_kappa", "panel_discrimination")
METHODS = {
    "agreement": "share of verdicts whose decision matches the card's persona label (cards without "
    "one for that persona are not counted); kappa is Cohen's kappa over the same pairs",
    "panel_agreement": "the panel ships when more than half of its valid verdicts ship (ship % > 50)",
    "discrimination": "mean ship rate on cards labelled ship minus on cards labelled skip",
    "echo_rate": "share of valid verdicts with a text copying a run of the prompts/persona file or "
    "of the card (thresholds under gates)",
    "degenerate_rate": "share of valid verdicts with a placeholder, the persona's name as headline, "
    "a short quote or one text in two fields",
    "reply_echo_rate": "the same, over every reply that parsed, accepted or re-asked",
    "grounding": GROUNDING_METHOD,
    "distinctness": DISTINCTNESS_METHOD,
    "validity": "share of persona reviews that ended with a valid verdict",
    "stability": "1 - mean flip rate (panel.measure.stability) over cards, with --samples 2 or more",
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
    methods: dict[str, str] = Field(default_factory=lambda: dict(METHODS))
    model_calls: int | None = None
    cache_hits: int | None = None
    wall_seconds: float | None = None


def parsed_replies(review: PersonaReview, loaded: LoadedPersona) -> list[Verdict]:
    """Every reply of the review that parsed as a verdict, re-asked or not."""
    shape, _ = verdict_shape(loaded.persona.model_dump_json())
    verdicts = []
    for attempt in review.attempts:
        if attempt.raw is None:
            continue
        try:
            verdicts.append(parse_verdict(ChatReply(content=attempt.raw), shape, review.persona))
        except InvalidOutput:
            continue
    return verdicts


def score_review(
    scored: Scored, loaded: LoadedPersona, refs: References, terms: set[str], gates: QualityGates
) -> None:
    def flags(verdict: Verdict) -> tuple[bool, bool]:
        return (
            echo_problem(verdict, refs, gates) is not None,
            degenerate_problem(verdict, refs.persona_name, gates) is not None,
        )

    scored.replies = [flags(verdict) for verdict in parsed_replies(scored.review, loaded)]
    if scored.verdict is not None:
        scored.echo, scored.degenerate = flags(scored.verdict)
        scored.grounded = is_grounded(scored.verdict, terms)


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
    common = {
        word for text in template_texts(str(prompts_dir or default_prompts_dir())) for word in words(text)
    }
    for loaded in personas:
        common.update(word for text in persona_texts(loaded.persona) for word in words(text))
    scored: list[Scored] = []
    rows, missing = [], []
    for entry in suite.cards:
        found = samples.get(entry.card.name) or []
        if not found:
            missing.append(entry.card.name)
            continue
        transcript, path = found[0]
        terms = card_terms(entry.card, common)
        items = []
        for review in transcript.reviews:
            loaded = by_id.get(review.persona)
            if loaded is None:
                continue
            item = Scored(
                entry.card.name,
                review.persona,
                entry.labels.panel,
                entry.labels.personas.get(review.persona),
                review,
            )
            score_review(
                item, loaded, build_references(loaded.persona, entry.card, gates, prompts_dir), terms, gates
            )
            items.append(item)
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
    labelled_rows = [row for row in rows if row.call is not None]
    overall["panel_agreement"], overall_counts["panel_agreement"] = share(
        [(row.name, row.call == row.label) for row in labelled_rows]
    )
    overall["panel_kappa"] = cohen_kappa(
        [row.call or "" for row in labelled_rows], [row.label for row in labelled_rows]
    )
    overall_counts["panel_kappa"] = count_of(row.name for row in labelled_rows)
    measured = [row for row in rows if row.ship_pct is not None]
    overall["panel_discrimination"] = discrimination(
        [(row.label, (row.ship_pct or 0) / 100) for row in measured]
    )
    overall_counts["panel_discrimination"] = count_of(row.name for row in measured)
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
    )
