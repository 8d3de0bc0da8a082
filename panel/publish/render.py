"""Render the published page (one tool, or two side by side) and diffs, as HTML or Markdown.

Jinja2 templates live in panel/templates. HTML is autoescaped; in Markdown every value goes
through `escape_markdown`, so a tool's name can never become markup in either.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from pydantic import BaseModel, Field, ValidationError

from panel.errors import PanelError, PersonaError, TranscriptError, describe_validation_error
from panel.publish.diff import Diff, diff_to_json
from panel.publish.page_facts import EditNote, draft_models_used, edit_notes, panel_size, verdict_sentence
from panel.records.aggregate import Comparison, compare_aggregates, percent, percent_text
from panel.records.personas import persona_from_record
from panel.records.transcript import PanelTranscript
from panel.regular_files import FileKind, read_regular_text
from panel.store.transcripts import load_transcript, resolve_side, safe_slug

Format = Literal["html", "md"]
TEMPLATES = Path(__file__).parent / "templates"
# CommonMark's inline markup characters; `&`, `<`, `>` become entities so raw HTML stays text.
MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]{}#|~!])")
# List markers, and runs of - or = that would make a rule or a heading underline of a line.
MARKDOWN_LINE_START = re.compile(r"^([-+=]+|\d+[.)])(?=\s|$)")


class VotesError(PanelError):
    """A --votes file that cannot be read."""


class Vote(BaseModel):
    """Community up/down votes for one tool."""

    # Bounded: a count with thousands of digits is an error, not a page that cannot print it.
    up: int = Field(ge=0, le=10**12)
    down: int = Field(ge=0, le=10**12)

    @property
    def total(self) -> int:
        return self.up + self.down

    def share(self) -> str:
        return f"{percent(self.up, self.total)}% up" if self.total else "—"

    def count(self) -> str:
        return f"{self.total:,} vote{'s' if self.total != 1 else ''}" if self.total else ""

    def describe(self) -> str:
        return f"{self.share()} · {self.count()}" if self.total else "—"


def parse_votes(text: str, source: str) -> dict[str, Vote]:
    """CSV with a `tool,up,down` header, or JSON: {"tool": {"up": 1, "down": 0}} or a list of
    {"tool": ..., "up": ..., "down": ...}. `tool` is a tool's name or slug."""
    rows: list[Any]
    if source.lower().endswith(".json") or text.lstrip().startswith(("{", "[")):
        try:
            data = json.loads(text)
        except RecursionError:
            raise VotesError(f"{source} is not valid votes JSON: it is nested too deeply.") from None
        except ValueError as error:  # bad JSON, or an integer past Python's digit limit
            raise VotesError(f"{source} is not valid JSON: {str(error)[:300]}.") from None
        if isinstance(data, dict):
            rows = [
                {"tool": name, **(value if isinstance(value, dict) else {})} for name, value in data.items()
            ]
        elif isinstance(data, list):
            rows = data
        else:
            raise VotesError(f"{source}: votes JSON must be an object or a list of rows.")
    else:
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or not {"tool", "up", "down"} <= {n.strip() for n in reader.fieldnames}:
            raise VotesError(f"{source}: a votes CSV needs a header row `tool,up,down`.")
        rows = [{key.strip(): value for key, value in row.items() if key} for row in reader]
    votes: dict[str, Vote] = {}
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict) or not str(row.get("tool") or "").strip():
            raise VotesError(f"{source}, row {number}: each row needs a tool name or slug.")
        try:
            votes[str(row["tool"]).strip()] = Vote.model_validate(
                {"up": row.get("up"), "down": row.get("down")}
            )
        except ValidationError as error:
            raise VotesError(
                f"{source}, row {number} ({row['tool']}): {describe_validation_error(error)}; "
                "up and down are whole numbers, 0 or more."
            ) from None
    return votes


def load_votes(path: str | Path) -> dict[str, Vote]:
    path = Path(path)
    text = read_regular_text(
        path, FileKind(noun="votes file", expected="a votes file (.csv or .json)", error=VotesError)
    )
    return parse_votes(text, str(path))


def vote_for(votes: dict[str, Vote], name: str, slug: str) -> Vote | None:
    """Match by exact name, then by name ignoring case, then by slug."""
    if name in votes:
        return votes[name]
    for key, vote in votes.items():
        if key.casefold() == name.casefold() or key == slug or safe_slug(key) == slug:
            return vote
    return None


@dataclass
class ReviewerCard:
    persona: str
    name: str
    lens: str
    decision: str | None
    confidence: float | None
    headline: str
    quote: str


@dataclass
class ToolPage:
    """What the page shows about one tool."""

    name: str
    slug: str
    tagline: str
    category: str
    maker: str
    license: str
    pricing: str
    paragraphs: list[str]
    links: list[dict[str, str]]
    ship_pct: int | None
    ships: list[str]
    skips: list[str]
    failed: list[str]
    consensus: str
    vote: str
    vote_share: str
    vote_count: str
    reviewers: dict[str, ReviewerCard]
    models: list[str]
    backend: str
    seed: int
    created_at: datetime
    facts: list[str]
    counted: int
    panel_size: int
    sentence: str
    edits: list[EditNote]
    draft_models: list[str]
    winner: bool = False


def persona_labels(transcript: PanelTranscript) -> dict[str, tuple[str, str]]:
    """Display name and lens of each persona, from the persona file as it was used."""
    labels = {}
    for record in transcript.personas:
        try:
            persona = persona_from_record(record)
        except PersonaError:
            labels[record.id] = (record.id, "")
            continue
        labels[record.id] = (persona.name, " ".join(persona.lens.split()))
    return labels


def tool_page(
    transcript: PanelTranscript, votes: dict[str, Vote] | None, draft_models: list[str] | None = None
) -> ToolPage:
    """The page's view of one panel; `draft_models` None leaves the draft mark off."""
    card, aggregate = transcript.card, transcript.aggregate
    counted, size = panel_size(aggregate)
    labels = persona_labels(transcript)
    reviewers = {}
    for review in transcript.reviews:
        name, lens = labels.get(review.persona, (review.persona, ""))
        verdict = review.verdict if review.status == "ok" else None
        reviewers[review.persona] = ReviewerCard(
            persona=review.persona,
            name=name,
            lens=lens,
            decision=verdict.decision if verdict else None,
            confidence=verdict.confidence if verdict else None,
            headline=verdict.headline if verdict else "",
            quote=verdict.quote if verdict else "",
        )
    vote = vote_for(votes, card.name, transcript.tool_slug) if votes else None
    name_of = {persona: reviewer.name for persona, reviewer in reviewers.items()}
    return ToolPage(
        name=card.name,
        slug=transcript.tool_slug,
        tagline=card.tagline,
        category=card.category,
        maker=card.maker,
        license=card.license,
        pricing=card.pricing,
        paragraphs=[" ".join(p.split()) for p in re.split(r"\n\s*\n", card.description) if p.strip()],
        # Only web links: a card is data, and a javascript: URL in it must not become a link.
        links=[
            {"label": link.label, "url": link.url}
            for link in card.links
            if link.url.lower().startswith(("https://", "http://"))
        ],
        ship_pct=aggregate.ship_pct,
        ships=[name_of.get(p, p) for p in aggregate.split.get("ship", [])],
        skips=[name_of.get(p, p) for p in aggregate.split.get("skip", [])],
        failed=[name_of.get(p, p) for p in aggregate.failed],
        consensus=aggregate.consensus,
        vote=vote.describe() if vote else "—",
        vote_share=vote.share() if vote else "—",
        vote_count=vote.count() if vote else "",
        reviewers=reviewers,
        models=sorted({info.name for info in transcript.models.values()}),
        backend=str(transcript.backend.get("name", "")),
        seed=transcript.seed,
        created_at=transcript.created_at,
        facts=list(card.facts),
        counted=counted,
        panel_size=size,
        sentence=verdict_sentence(card.name, aggregate),
        edits=edit_notes(transcript),
        draft_models=[] if draft_models is None else draft_models_used(transcript, draft_models),
    )


def escape_markdown(value: Any) -> str:
    """Text that renders as itself in Markdown: entities for HTML, backslashes for markup."""
    if isinstance(value, Markup):
        return str(value)
    text = "" if value is None else str(value)
    text = " ".join(text.split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = MARKDOWN_SPECIAL.sub(r"\\\1", text)
    return MARKDOWN_LINE_START.sub(r"\\\1", text)


def signed(value: float | None) -> str:
    return "—" if value is None else f"{value:+.2f}"


def split_summary(page: ToolPage) -> str:
    ships, skips = ", ".join(page.ships) or "—", ", ".join(page.skips) or "—"
    return f"{len(page.ships)} ship ({ships}) · {len(page.skips)} skip ({skips})"


def add_helpers(environment: Environment) -> Environment:
    environment.filters.update(pct=percent_text, signed=signed)
    environment.globals.update(raw=Markup, split=split_summary)
    return environment


@cache
def environment(kind: Format) -> Environment:
    loader = FileSystemLoader(TEMPLATES)
    if kind == "html":
        env = Environment(loader=loader, autoescape=True, undefined=StrictUndefined)
    else:
        env = Environment(
            loader=loader, autoescape=False, undefined=StrictUndefined, finalize=escape_markdown
        )
    env.trim_blocks = env.lstrip_blocks = True
    return add_helpers(env)


def reviewer_labels(pages: list[ToolPage]) -> dict[str, dict[str, str]]:
    """Each persona on either panel, in panel order, with its display name and lens."""
    labels: dict[str, dict[str, str]] = {}
    for page in pages:
        for persona, reviewer in page.reviewers.items():
            labels.setdefault(persona, {"name": reviewer.name, "lens": reviewer.lens})
    return labels


def render_page(
    transcripts: list[PanelTranscript],
    format: Format = "html",
    votes: dict[str, Vote] | None = None,
    *,
    draft_mark: bool = True,
    draft_models: list[str] | None = None,
) -> str:
    """The page editors publish: one tool, or two side by side with which one to ship with.
    With `draft_mark`, a page written by the bundled test model (or one of `draft_models`)
    says so at the top."""
    if len(transcripts) not in (1, 2):
        raise PanelError("render takes one transcript, or two to put side by side.")
    marked = (draft_models or []) if draft_mark else None
    pages = [tool_page(transcript, votes, marked) for transcript in transcripts]
    comparison: Comparison | None = None
    if len(pages) == 2:
        a, b = transcripts
        comparison = compare_aggregates(
            a.aggregate, b.aggregate, a.card.name, b.card.name, prices=(a.card.pricing, b.card.pricing)
        )
        if comparison.winner in ("a", "b"):
            pages[0 if comparison.winner == "a" else 1].winner = True
    template = environment(format).get_template(f"page.{format}.j2")
    labels = reviewer_labels(pages)
    drafts = sorted({model for page in pages for model in page.draft_models})
    return template.render(
        pages=pages, comparison=comparison, personas=list(labels), labels=labels, drafts=drafts
    )


def render_diff(diff: Diff, format: Format) -> str:
    """A diff of two runs (or two folders) as a Markdown or HTML report."""
    template = environment(format).get_template(f"diff.{format}.j2")
    return template.render(diff=diff, data=diff_to_json(diff))


def load_for_render(paths: list[Path]) -> list[PanelTranscript]:
    """Panel transcripts to render; a comparison transcript stands for its two panels."""
    panels: list[PanelTranscript] = []
    for path in paths:
        transcript = load_transcript(path)
        if isinstance(transcript, PanelTranscript):
            panels.append(transcript)
            continue
        for side in (transcript.a_transcript, transcript.b_transcript):
            panel = load_transcript(resolve_side(side, Path(path)))
            if not isinstance(panel, PanelTranscript):
                raise TranscriptError(f"{side}, named by {path}, is not a panel transcript.")
            panels.append(panel)
    if len(panels) > 2:
        raise PanelError(
            f"That is {len(panels)} panels (a comparison transcript counts as two); render shows "
            "one tool or two side by side."
        )
    return panels
