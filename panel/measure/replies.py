"""What the model wrote: every reply of every attempt, read from the transcript and judged
again by the eval, whatever the gates did with it.

The gates decide what is published, so rates over published verdicts only say that the gates
ran. These flags are over all replies: a reply that could not be read as a verdict is
`unreadable`; echo and contradiction are checked on every reply (on the raw text of an
unreadable one), degenerate on the readable ones. A reply the gates refused keeps the gate's
kind, read from the attempt's error, so a gate added later is counted without a change here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from panel.engine.card_claims import contradiction_problem
from panel.engine.quality import References, copied_run, degenerate_problem, echo_problem, text_fields
from panel.engine.verdict_loop import InvalidOutput, parse_verdict, verdict_shape
from panel.records.chat import ChatReply
from panel.records.personas import LoadedPersona
from panel.records.verdicts import Attempt, PersonaReview
from panel.settings import QualityGates

# How panel.engine.verdict_loop records a reply a gate refused: "quality gate: PROBLEM".
GATE_PREFIX = "quality gate:"
# A gate may name its kind first: "quality gate: [junk] ..." (else the kind is read from the text).
NAMED_KIND = re.compile(r"\[([\w-]+)\]")
# The parts of a gate's problem that are about this reply, not about the kind of fault: the field
# named, the copied words quoted, the text in brackets.
DANGLING = re.compile(r"\s+(?:on|of|to|at|in|from|with)$")
# Where the kind ends and the advice to the model begins.
KIND_END = re.compile(r"[;:.](?:\s|$)")
PARTICULARS = re.compile(r"\"[^\"]*\"|“[^”]*”|\([^)]*\)|'[^']*'")


@dataclass(frozen=True)
class ReplyFlags:
    """One reply of the model, judged."""

    readable: bool
    echo: bool
    degenerate: bool
    contradiction: bool
    accepted: bool
    gate: str | None  # the kind of gate that refused it, if one did


def gate_kind(error: str | None) -> str | None:
    """The kind of quality gate an attempt's error names ("copies the tool card word for word"),
    or None when no gate refused it. Particulars (the field, the quoted words) are dropped so that
    replies refused for the same fault count together."""
    if not error or not error.startswith(GATE_PREFIX):
        return None
    problem = error[len(GATE_PREFIX) :].strip()
    named = NAMED_KIND.match(problem)
    if named:
        return named.group(1)
    head = KIND_END.split(PARTICULARS.sub("", problem))[0]
    head = re.sub(r"\d+", "N", " ".join(head.split()).strip(" ,.:"))
    # A word left hanging where a particular was taken out ('ends mid-phrase on "the"').
    return DANGLING.sub("", head) or "other"


def contradicts_card(texts: dict[str, str], references: References) -> bool:
    """Whether a text states what the card rules out (panel.engine.card_claims)."""
    return references.facts is not None and contradiction_problem(texts, references.facts) is not None


def judge_reply(
    attempt: Attempt, loaded: LoadedPersona, references: References, gates: QualityGates
) -> ReplyFlags | None:
    """The flags of one attempt's reply; None for an attempt that got no reply (transport error)."""
    if attempt.raw is None or attempt.outcome == "transport_error":
        return None
    shape, _ = verdict_shape(loaded.persona.model_dump_json())
    try:
        verdict = parse_verdict(ChatReply(content=attempt.raw), shape, loaded.persona.id)
    except InvalidOutput:
        verdict = None
    if verdict is None:
        echo = any(
            copied_run(attempt.raw, reference, size)
            for reference, size in (
                (references.instructions, gates.instruction_words),
                (references.card, gates.card_words),
            )
        )
        texts = {"reply": attempt.raw}
    else:
        echo = echo_problem(verdict, references, gates) is not None
        texts = text_fields(verdict)
    return ReplyFlags(
        readable=verdict is not None,
        echo=echo,
        degenerate=verdict is not None
        and degenerate_problem(verdict, references.persona_name, gates) is not None,
        contradiction=contradicts_card(texts, references),
        accepted=attempt.outcome == "valid",
        gate=gate_kind(attempt.error),
    )


def judge_replies(
    review: PersonaReview, loaded: LoadedPersona, references: References, gates: QualityGates
) -> list[ReplyFlags]:
    """Every reply of the review, judged."""
    judged = [judge_reply(attempt, loaded, references, gates) for attempt in review.attempts]
    return [flags for flags in judged if flags is not None]
