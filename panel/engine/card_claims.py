"""Claims that contradict the card: a price or sum, a founding year, funding or a user count
that the tool card rules out.

The card is the reviewer's only source about the tool, and small models invent figures ("selling
at $269.00 per copy" for a free model). What counts as a contradiction is kept narrow, so that a
review that names what it knows passes:

- a sum of money (`$10`, `€5`, `$2M`, `20 dollars`) the card does not state anywhere: the card
  always gives the tool's entry price, so another figure contradicts it or cannot be checked;
- a founding, launch or release year ("founded in 2023") that differs from the one the card
  gives, or that lies before this year when the card says the tool is new ("launched last month");
- funding ("raised", "Series A", "venture-backed") when the card says there is none;
- a count of users, customers or downloads when the card says the tool is new or has no users.

Pure functions: the card's facts are read once per panel (`read_card_facts`), then each verdict is
checked against them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from panel.records.cards import ToolCard

SCALES = {"k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6}
SCALES |= {"b": 1e9, "bn": 1e9, "billion": 1e9}
SCALE = r"(?:\s*(?P<scale>k|mn|m|bn|b|thousand|million|billion)\b)?"
NUMBER = r"(?P<number>\d[\d,]*(?:\.\d+)?)"
MONEY = re.compile(
    rf"(?:[$€£]\s?{NUMBER}{SCALE})|(?:\b{NUMBER.replace('number', 'words')}\s*(?:dollars|euros|pounds|usd|eur)\b)",
    re.IGNORECASE,
)
MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
LAUNCH_YEAR = re.compile(
    r"\b(?:founded|launched|released|started|created|established|incorporated|debuted|introduced|"
    r"open-sourced)\s+(?:(?:in|back in|around|during)\s+)?(?:(?:early|mid|late)[- ])?"
    rf"(?:(?:{MONTHS})\s+)?(?P<year>(?:19|20)\d\d)\b",
    re.IGNORECASE,
)
FUNDING_CLAIM = re.compile(
    r"\b(?:raised|series [a-f]|seed round|funding round|venture[- ]backed|vc[- ]backed|"
    r"valued at|valuation of|in funding|funded by|backed by investors)\b",
    re.IGNORECASE,
)
USER_COUNT = re.compile(
    r"\b(?:\d[\d,.]*\s*(?:k|m|b|thousand|million|billion)?|(?:hundreds|tens) of thousands|"
    r"thousands|millions|billions)\s+(?:of\s+)?(?:(?:monthly|daily|weekly|active|paying|happy)\s+)*"
    r"(?:users|customers|developers|downloads|installs|subscribers|companies|teams|businesses)\b",
    re.IGNORECASE,
)
# How a card says the tool is new, and that it has no funding or no users.
NEW_TOOL = re.compile(
    r"\b(?:launched|released|founded|started|announced|opened)\s+(?:(?:last|this)\s+(?:week|month)|this\s+year)\b|"
    r"\bjust (?:launched|released)\b|\bpre-launch\b|\bnot yet (?:launched|released)\b|"
    r"\b(?:private|closed|public) beta\b|\bwaitlist\b|\bbrand[- ]new\b",
    re.IGNORECASE,
)
NO_FUNDING = re.compile(
    r"\b(?:no|without)\s+(?:outside\s+|external\s+|venture\s+|vc\s+)?(?:funding|investors|investment)\b|"
    r"\bbootstrapped\b|\bself-funded\b|\bunfunded\b",
    re.IGNORECASE,
)
NO_USERS = re.compile(r"\bno (?:users|customers) yet\b|\bno paying (?:users|customers)\b", re.IGNORECASE)

FIGURES_ADVICE = "use only the figures the card gives, or say it without a figure"


@dataclass(frozen=True)
class CardFacts:
    """What the card says about money, dates, funding and users, read once per panel."""

    sums: frozenset[float]
    price: str
    launch_years: frozenset[int]
    is_new: bool
    unfunded: bool
    no_users: bool
    this_year: int


def money_value(match: re.Match[str]) -> float:
    digits = match.group("number") or match.group("words")
    scale = (match.group("scale") or "").lower() if match.group("number") else ""
    return float(digits.replace(",", "")) * SCALES.get(scale, 1.0)


def sums_in(texts: Iterable[str]) -> set[float]:
    return {money_value(found) for text in texts for found in MONEY.finditer(text)}


def read_card_facts(card: ToolCard, this_year: int) -> CardFacts:
    """The card's figures and states that a verdict's claims are checked against."""
    texts = [card.name, card.tagline, card.category, card.description, card.maker, card.pricing]
    texts += card.facts
    sums = sums_in(texts)
    if re.search(r"\bfree\b|\bopen[- ]source\b", card.pricing, re.IGNORECASE):
        sums.add(0.0)
    whole = "\n".join(texts)
    return CardFacts(
        sums=frozenset(sums),
        price=card.pricing,
        launch_years=frozenset(int(found.group("year")) for found in LAUNCH_YEAR.finditer(whole)),
        is_new=bool(NEW_TOOL.search(whole)),
        unfunded=bool(NO_FUNDING.search(whole)),
        no_users=bool(NO_USERS.search(whole)),
        this_year=this_year,
    )


def on_the_card(value: float, sums: frozenset[float]) -> bool:
    return any(abs(value - known) <= 0.01 * max(known, 1.0) for known in sums)


def sum_reason(text: str, facts: CardFacts) -> str | None:
    for found in MONEY.finditer(text):
        if not on_the_card(money_value(found), facts.sums):
            return f'names a sum the card does not give ("{found.group(0).strip()}"; the card\'s price: {facts.price})'
    return None


def year_reason(text: str, facts: CardFacts) -> str | None:
    for found in LAUNCH_YEAR.finditer(text):
        year = int(found.group("year"))
        if facts.launch_years and year not in facts.launch_years:
            given = ", ".join(str(known) for known in sorted(facts.launch_years))
            return f'gives a year the card contradicts ("{found.group(0)}"; the card says {given})'
        if facts.is_new and year < facts.this_year:
            return f'dates the tool to {year}, but the card says it is new ("{found.group(0)}")'
    return None


def funding_reason(text: str, facts: CardFacts) -> str | None:
    found = FUNDING_CLAIM.search(text)
    if facts.unfunded and found:
        return f'claims funding the card says it does not have ("{found.group(0)}")'
    return None


def users_reason(text: str, facts: CardFacts) -> str | None:
    found = USER_COUNT.search(text)
    if (facts.is_new or facts.no_users) and found:
        return f'claims a user count the card does not support ("{found.group(0)}"; the card says it is new)'
    return None


def contradiction_problem(texts: dict[str, str], facts: CardFacts) -> str | None:
    """Why a text field makes a claim the card contradicts, phrased for the re-ask, or None."""
    for name, text in texts.items():
        for check in (sum_reason, year_reason, funding_reason, users_reason):
            if reason := check(text, facts):
                return f'"{name}" {reason}; {FIGURES_ADVICE}'
    return None
