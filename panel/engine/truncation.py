"""The truncation gate: a text field cut off mid-sentence (at the decoder's cap, on a word
fragment, a dangling word, an open bracket or quote) is re-asked, never published."""

from __future__ import annotations

import re

from panel.backends.decoding import STRING_CAP, STRING_CAPS

# Words no sentence or phrase ends on: articles, conjunctions, possessives, and the question words
# and prepositions a cut leaves hanging ("...cannot compromise on what").
DANGLING_WORDS = frozenset(
    {"a", "an", "the", "its", "their", "your", "our", "my"}
    | {"and", "or", "but", "nor", "than", "because", "whether"}
    | {"of", "to", "what", "which", "whose"}
)
# Marks a cut leaves at the end: a comma, colon, dash or opening mark before the rest of it.
MID_PHRASE_ENDS = (",", ";", ":", "-", "–", "—", "&", "‘", "“", "(", "[", "{")
BRACKETS = (("(", ")"), ("[", "]"), ("{", "}"), ("“", "”"))
# A word cut inside its contraction: "what’" of "what’s" (a plural's "users’" is whole).
CUT_CONTRACTION = re.compile(r"[A-Za-z]*[A-RT-Za-rt-z]['’]$")
LAST_WORD = re.compile(r"[A-Za-z0-9]+$")
WHOLE_ADVICE = "say it in fewer words and end it where a sentence or phrase ends"


def cut_reason(text: str, cap: int) -> str | None:
    """How the text shows it was cut off mid-sentence, or None. A grammar-constrained decoder
    closes a string at its cap (panel.backends.decoding): a text of exactly that length that does
    not end a sentence was cut there. Shorter texts are cut when they end on a mark, a word or an
    open bracket that something must follow."""
    body = text.rstrip()
    if not body:
        return None
    if len(text) == cap and not body.endswith((".", "!", "?", "…")):
        return f"stops at the {cap}-character limit, cut off mid-sentence"
    tail = f"…{body[-30:]}" if len(body) > 30 else body
    if body.endswith(MID_PHRASE_ENDS):
        return f'ends mid-phrase ("{tail}")'
    for opening, closing in BRACKETS:
        if body.count(opening) > body.count(closing):
            return f'leaves a "{opening}" open ("{tail}")'
    if body.count('"') % 2:
        return f'leaves a quotation open ("{tail}")'
    if CUT_CONTRACTION.search(body) and not closes_a_quote(body):
        return f'ends in a word fragment ("{tail}")'
    last = LAST_WORD.search(body)
    if last and last.group(0).lower() in DANGLING_WORDS:
        return f'ends mid-phrase on "{last.group(0).lower()}" ("{tail}")'
    return None


def closes_a_quote(body: str) -> bool:
    """Whether the apostrophe that ends the text closes a single quotation ("‘magic’")."""
    curly, straight = body.rfind("‘", 0, -1), body.rfind(" '", 0, -1)
    if curly == straight == -1:
        return False
    start = max(curly + 1, straight + 2 if straight != -1 else 0)
    return not any(mark in body[start:-1] for mark in "’'")


def cut_field_problem(texts: dict[str, str]) -> str | None:
    """Why one of the text fields reads as cut off, each judged against its own cap, or None."""
    for name, text in texts.items():
        reason = cut_reason(text, STRING_CAPS.get(name, STRING_CAP))
        if reason:
            return f'"{name}" {reason}; {WHOLE_ADVICE}'
    return None
