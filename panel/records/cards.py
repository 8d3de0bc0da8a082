"""The tool card: what the panel judges. Read from TOML, YAML or JSON and validated."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from panel.errors import CardError, describe_validation_error
from panel.regular_files import MAX_CARD_BYTES, FileKind, read_regular_text

CARD_SUFFIXES = {".toml": "TOML", ".yaml": "YAML", ".yml": "YAML", ".json": "JSON"}


class CardYamlLoader(yaml.SafeLoader):
    """Safe YAML without anchors and aliases: cards never need them, and aliases can expand
    a small file into a huge document ("billion laughs")."""

    def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not allowed in tool cards", event.start_mark
            )
        return super().compose_node(parent, index)


# The one way to write a link as text, in a CSV cell, a studio form line, or a string in a TOML,
# YAML or JSON card's `links` list: `label=url`, or a bare url (labelled with its host).
LINK_SYNTAX = "label=url"
WEB_SCHEMES = ("http", "https")
# Validation context for a card read back from a transcript: its links were checked by the rules
# of the day it ran, and an older transcript must still open.
AS_STORED = {"card_as_stored": True}


def link_from_text(text: str) -> dict[str, str]:
    """`label=url` as a link; text with no `=` before its `://` is a bare url, labelled with its
    host (the `=` of a query string is part of the url)."""
    text = text.strip()
    label, separator, url = text.partition("=")
    if separator and "://" not in label:
        return {"label": label.strip(), "url": url.strip()}
    if "|" in text:
        raise PydanticCustomError(
            "link_syntax", "write a link as label=url; the “label | url” form is no longer read"
        )
    host = text.split("://", 1)[-1].split("/", 1)[0]
    return {"label": (host or text)[:80], "url": text}


def link_as_text(link: Link) -> str:
    return f"{link.label}={link.url}"


def url_problem(url: str) -> str | None:
    """Why the url is not a web address a page can link to, or None."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return "is not a valid web address"
    if parts.scheme.lower() not in WEB_SCHEMES:
        return f"is not a web address: a link is {LINK_SYNTAX}, the url starting with http:// or https://"
    if not host:
        return "has no host name after its http:// or https://"
    if any(char.isspace() or ord(char) < 32 or ord(char) == 127 for char in url):
        return "has a space or a control character in it"
    return None


class Link(BaseModel):
    """A web link: http or https only, so that a typo fails on input instead of vanishing from the
    page. Written as a table (label, url) or as text (`label=url`)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    label: str = Field(min_length=1, max_length=80)
    url: str = Field(min_length=1, max_length=500)

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        return link_from_text(data) if isinstance(data, str) else data

    @field_validator("url")
    @classmethod
    def _web_address(cls, url: str, info: ValidationInfo) -> str:
        if info.context and info.context.get("card_as_stored"):
            return url
        problem = url_problem(url)
        if problem:
            shown = url if len(url) <= 80 else url[:80] + "…"
            label = info.data.get("label")
            raise PydanticCustomError(
                "web_url",
                "link {label}: {url} {problem}" if label else "{url} {problem}",
                {"label": repr(label), "url": repr(shown), "problem": problem},
            )
        return url


class ToolCard(BaseModel):
    """One software or AI tool as the panel sees it. Everything here is data, never instructions."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    tagline: str = Field(min_length=1, max_length=300)
    category: str = Field(min_length=1, max_length=100)
    description: str = Field(min_length=1, max_length=8000)
    maker: str = Field(min_length=1, max_length=200)
    license: str = Field(min_length=1, max_length=100)
    pricing: str = Field(min_length=1, max_length=100, description='Entry price, e.g. "Free".')
    links: list[Link] = Field(default_factory=list, max_length=20)
    facts: list[str] = Field(default_factory=list, max_length=40)

    @field_validator("facts")
    @classmethod
    def _facts_are_short(cls, facts: list[str]) -> list[str]:
        for fact in facts:
            if not fact.strip() or len(fact) > 500:
                raise ValueError("each fact must be 1 to 500 characters")
        return [fact.strip() for fact in facts]


def parse_card(data: Any, source: str) -> ToolCard:
    """Validate already-parsed card data; `source` names the file or row in the error."""
    if not isinstance(data, dict):
        raise CardError(f"{source}: a tool card must be a table of fields, got {type(data).__name__}.")
    # A card from an eval suite carries its expected calls in `labels`; only `panel eval` reads
    # them, so `run`, `batch` and the rest take such a card as it is, labels left out.
    data = {key: value for key, value in data.items() if key != "labels"}
    try:
        return ToolCard.model_validate(data)
    except RecursionError:
        raise CardError(f"{source}: nested too deeply to be a tool card.") from None
    except ValidationError as error:
        raise CardError(
            f"{source} is not a valid tool card: {describe_validation_error(error)}. "
            "See examples/tools/ for a card that works."
        ) from None


CARD_FILE = FileKind(
    noun="file",
    expected="one tool card file (.toml, .yaml or .json)",
    error=CardError,
    too_large_advice=(
        "A tool card is a few kilobytes: trim the description and facts to what a reviewer "
        "needs, or raise the limit with PANEL_MAX_CARD_BYTES."
    ),
)


def read_card_text(path: Path, max_bytes: int = MAX_CARD_BYTES) -> str:
    """The text of a regular file of at most `max_bytes`, read with the cap (a device or a FIFO
    would read forever), a UTF-8 byte order mark dropped; CardError otherwise."""
    return read_regular_text(path, CARD_FILE, max_bytes)


def read_card_data(path: Path, max_bytes: int = MAX_CARD_BYTES) -> Any:
    """Parse a TOML, YAML or JSON file into Python data, with a clear error when it is not."""
    text = read_card_text(path, max_bytes)
    kind = CARD_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise CardError(
            f"{path}: unknown card format {path.suffix or '(no extension)'}; use .toml, .yaml, .yml or .json."
        )
    if "\x00" in text:
        raise CardError(f"{path} contains NUL bytes: it is a binary file, not a {kind} tool card.")
    try:
        if kind == "TOML":
            return tomllib.loads(text)
        if kind == "JSON":
            return json.loads(text)
        return yaml.load(text, Loader=CardYamlLoader)  # noqa: S506 - a SafeLoader subclass
    except (ValueError, yaml.YAMLError, RecursionError) as error:
        # ValueError covers TOML and JSON syntax errors and an integer past Python's digit limit.
        detail = " ".join(str(error).split())[:300]
        raise CardError(f"{path} is not valid {kind}: {detail}") from None


def load_card(path: str | Path, max_bytes: int = MAX_CARD_BYTES) -> ToolCard:
    """Read and validate one tool card file."""
    path = Path(path)
    return parse_card(read_card_data(path, max_bytes), str(path))
