"""Junk gates: a text field that is mostly numbers and punctuation, holds a piece of JSON, or makes
the reviewer's own name its subject ("The Investor is a business model that…").

Pure text checks on one verdict's text fields; quality.py runs them with its other gates, and
`panel eval` counts them as degenerate.
"""

from __future__ import annotations

import re

# A plain word as a reader sees it: letters, an apostrophe's ending, up to three hyphenated parts
# ("open-weight", "multi-file"), a name's digits at its end ("Qwen3", "GPT-4o"), with the
# punctuation around it. A number ("2018", "$10", "08:15:22") or a chain of joined parts
# ("right-sidebar-panel.british-america-2018") is not one.
PLAIN_WORD = re.compile(
    r"^[\"'“‘(\[]*[A-Za-z]+\d*(?:['’][A-Za-z]+)?(?:-[A-Za-z]+){0,3}(?:-\d+[A-Za-z]*)?[\"'”’)\].,;:!?…]*$"
)
# A version or size after a product's name: "Llama 3.1 8B", "Gemma 2 9B", "Qwen3 8B", "GPT-4o".
VERSION = re.compile(r"^v?\d+(?:\.\d+)*[A-Za-z]{0,2}[,.;:)]?$")
# Under half of its characters in plain words, a field is mostly numbers, dates or punctuation.
MIN_WORD_SHARE = 0.5
# Fields this short are judged by the other gates (a headline of "Ship: 128K context" is fine).
MIN_TOKENS_TO_JUDGE = 6

# JSON left in a text field: a quoted key, its colon and the start of a value (`"decision" : [`),
# an opening brace or bracket before a quoted string (`{"headline`), or a quoted value closing an
# array (`"]},`). Prose quotes with curly marks or in parentheses, so these are rare in it.
JSON_FRAGMENT = re.compile(r'"\s*:\s*["\[{\d-]|[\[{]\s*"|"\s*[\]}]\s*[,}\]]')
# The names of the common fields, quoted and followed by a colon: a schema leaking into prose.
SCHEMA_KEY = re.compile(r'"(?:decision|confidence|headline|quote|persona)"\s*:', re.IGNORECASE)

# What a name does when it is the subject of a sentence: "The Investor is…", "The Builder thinks…".
SUBJECT_VERBS = (
    "is|was|are|has|had|does|did|thinks|sees|says|believes|finds|likes|wants|calls|rates|gives|"
    "expects|judges|notes|recommends|ships|skips|would|will|can|could|should|must|may|might"
)

NUMBERS_ADVICE = "write sentences of words about the tool, not a run of numbers, dates or marks"
JSON_ADVICE = "write plain sentences in each text field; the JSON structure is only around the values"
OWN_NAME_ADVICE = "speak as yourself in the first person and make the tool the subject"


def word_share(text: str) -> float | None:
    """The share of the text's characters (spaces aside) that are in plain words or product
    names with their versions; None when the text is too short to judge."""
    tokens = text.split()
    if len(tokens) < MIN_TOKENS_TO_JUDGE:
        return None
    in_words, after_name = 0, False
    for token in tokens:
        if PLAIN_WORD.match(token):
            in_words += len(token)
            after_name = token.lstrip("\"'“‘([")[:1].isupper()
        elif after_name and VERSION.match(token):
            in_words += len(token)
        else:
            after_name = False
    return in_words / sum(len(token) for token in tokens)


def numbers_reason(text: str) -> str | None:
    share = word_share(text)
    if share is None or share >= MIN_WORD_SHARE:
        return None
    return f"is mostly numbers, dates or punctuation ({round(100 * share)}% of it is words)"


def json_reason(text: str) -> str | None:
    found = SCHEMA_KEY.search(text) or JSON_FRAGMENT.search(text)
    if found is None:
        return None
    start = max(found.start() - 15, 0)
    return f'holds a piece of JSON ("{text[start : found.end() + 15].strip()}")'


def own_name_pattern(persona_name: str) -> re.Pattern[str]:
    """The persona's display name as a sentence's subject. At a sentence's start the case and the
    leading "the" do not matter ("Investor is…"); elsewhere the name must be written as the
    persona file writes it ("…, and The Investor thinks"), so "an investor would ask" passes."""
    bare = re.sub(r"^the\s+", "", persona_name.strip(), flags=re.IGNORECASE)
    at_start = rf"(?:^|[.!?]\s+)(?i:(?:the\s+)?{re.escape(bare)})"
    anywhere = re.escape(persona_name.strip())
    return re.compile(rf"(?:{at_start}|\b{anywhere})\s+(?i:{SUBJECT_VERBS})\b")


def own_name_reason(text: str, persona_name: str) -> str | None:
    found = own_name_pattern(persona_name).search(text)
    if found is None:
        return None
    return f'makes your own name its subject ("{found.group(0).lstrip(".!? ")}…")'


def junk_problem(texts: dict[str, str], persona_name: str) -> str | None:
    """Why one of the verdict's text fields is junk, phrased for the re-ask, or None."""
    for name, text in texts.items():
        if reason := json_reason(text):
            return f'"{name}" {reason}; {JSON_ADVICE}'
        if reason := numbers_reason(text):
            return f'"{name}" {reason}; {NUMBERS_ADVICE}'
        if reason := own_name_reason(text, persona_name):
            return f'"{name}" {reason}; {OWN_NAME_ADVICE}'
    return None
