"""Personas are data: one TOML file each. Loading, validation, and each one's verdict schema."""

from __future__ import annotations

import hashlib
import keyword
import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from panel.errors import PersonaError, describe_validation_error
from panel.regular_files import MAX_SETTINGS_FILE_BYTES, FileKind, read_regular_text

if TYPE_CHECKING:
    from panel.records.transcript import PanelTranscript, PersonaRecord

LENS_WORD = re.compile(r"[a-z0-9]+")
COMMON_VERDICT_FIELDS = ("quote", "headline", "decision", "confidence")
# Options that change the llama runner make Ollama reload the model between personas; only
# sampling options may differ per persona (DESIGN.md, known pitfalls).
SAMPLING_OPTIONS = {"temperature", "top_p", "top_k", "min_p", "repeat_penalty"}
# Caps on what one verdict may hold (the quote also has the max_quote_chars setting). Checked
# after decoding, not put in the schema: a maxLength makes constrained decoding much slower.
MAX_HEADLINE_CHARS = 300
MAX_FIELD_CHARS = 2000
MAX_QUOTE_CHARS = 10_000


def at_most(limit: int) -> AfterValidator:
    def check(text: str) -> str:
        if len(text) > limit:
            raise ValueError(f"{len(text):,} characters; write at most {limit:,}")
        return text

    return AfterValidator(check)


class PersonaExample(BaseModel):
    """A worked example in the house voice: a short card and the verdict the editors would
    publish on it. Shown to the model after its brief; the shared system message is untouched."""

    model_config = ConfigDict(extra="forbid")

    card: dict[str, str] = Field(min_length=1)
    verdict: dict[str, str | float] = Field(min_length=1)


class Persona(BaseModel):
    """One reviewer: who it is, what its verdict must say, and which model speaks for it."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    name: str = Field(min_length=1)
    lens: str = Field(min_length=1)
    voice: str = Field(min_length=1)
    moves: list[str] = Field(min_length=1)
    fields: dict[str, str] = Field(min_length=1)
    ships_when: str = Field(min_length=1)
    skips_when: str = Field(min_length=1)
    model: str = Field(min_length=1)
    options: dict[str, float | int] = Field(default_factory=dict)
    examples: list[PersonaExample] = Field(default_factory=list, max_length=5)
    # Word beginnings that show a quote speaks from this lens ("pric" for price, pricing); the
    # quality gate re-asks a quote that uses none of them. Empty: no such check.
    lens_words: list[str] = Field(default_factory=list, max_length=40)

    @field_validator("voice", "lens", "ships_when", "skips_when")
    @classmethod
    def _one_line(cls, text: str) -> str:
        return " ".join(text.split())

    @field_validator("lens_words")
    @classmethod
    def _word_beginnings(cls, lens_words: list[str]) -> list[str]:
        for word in lens_words:
            if not LENS_WORD.fullmatch(word):
                raise ValueError(f"{word!r} is not one lowercase word (letters and digits only)")
        return lens_words

    @field_validator("fields")
    @classmethod
    def _field_names_are_identifiers(cls, fields: dict[str, str]) -> dict[str, str]:
        for name in fields:
            if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
                raise ValueError(f"field name {name!r} must be a lower_snake_case identifier")
            if name in COMMON_VERDICT_FIELDS or name in {"persona", "fields"}:
                raise ValueError(f"field name {name!r} is reserved for every verdict")
        return fields

    @field_validator("options")
    @classmethod
    def _only_sampling_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        unknown = set(options) - SAMPLING_OPTIONS
        if unknown:
            raise ValueError(
                f"only sampling options may be set per persona ({', '.join(sorted(SAMPLING_OPTIONS))}); "
                f"set {', '.join(sorted(unknown))} for the whole panel in panel.toml instead"
            )
        return options

    @model_validator(mode="after")
    def _examples_fit_the_schema(self) -> Persona:
        for number, example in enumerate(self.examples, 1):
            try:
                verdict_model(self).model_validate(example.verdict)
            except ValidationError as error:
                raise ValueError(
                    f"examples {number}: the verdict does not fit this persona's fields "
                    f"({describe_validation_error(error)})"
                ) from None
        return self


class LoadedPersona(BaseModel):
    """A persona with the exact file text it came from, so a transcript can reproduce it."""

    persona: Persona
    path: str
    text: str
    sha256: str


def default_personas_dir() -> Path:
    """The bundled personas: inside the wheel when installed, else the repository's folder."""
    packaged = Path(__file__).parents[1] / "_data" / "personas"
    return packaged if packaged.is_dir() else Path(__file__).parents[2] / "personas"


PERSONA_FILE = FileKind(noun="persona file", expected="a persona file (.toml)", error=PersonaError)


def load_persona_file(path: Path) -> LoadedPersona:
    text = read_regular_text(path, PERSONA_FILE, MAX_SETTINGS_FILE_BYTES)
    try:
        data = tomllib.loads(text)
    except (ValueError, RecursionError) as error:  # ValueError: bad UTF-8 or TOML, huge ints
        raise PersonaError(f"{path}: cannot read this persona file ({str(error)[:300]}).") from None
    try:
        persona = Persona.model_validate(data)
    except ValidationError as error:
        raise PersonaError(f"{path} is not a valid persona: {describe_validation_error(error)}.") from None
    if persona.id != path.stem:
        raise PersonaError(f"{path}: the id {persona.id!r} must match the file name {path.stem!r}.")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return LoadedPersona(persona=persona, path=str(path), text=text, sha256=digest)


def load_personas(directory: str | Path | None = None) -> list[LoadedPersona]:
    """Every `*.toml` persona in the folder, sorted by id."""
    folder = Path(directory) if directory else default_personas_dir()
    if not folder.is_dir():
        raise PersonaError(
            f"{folder}: no such personas folder.",
            hint="Point {personas_dir} at a folder of persona .toml files.",
        )
    loaded = [load_persona_file(path) for path in sorted(folder.glob("*.toml"))]
    if not loaded:
        raise PersonaError(
            f"{folder} holds no persona files (*.toml); the panel needs at least one reviewer."
        )
    return loaded


def verdict_model(persona: Persona) -> type[BaseModel]:
    """The pydantic model of this persona's verdict: its own fields first, then the call.

    Flat on purpose: no $ref, no anyOf, no optional fields, since structured decoding in
    Ollama and llama.cpp is weakest on those.
    """
    own_fields: dict[str, Any] = {
        name: (Annotated[str, at_most(MAX_FIELD_CHARS)], Field(min_length=1, description=description))
        for name, description in persona.fields.items()
    }
    return create_model(
        f"{persona.id.title().replace('_', '')}Verdict",
        __config__=ConfigDict(extra="forbid"),
        **own_fields,
        quote=(
            Annotated[str, at_most(MAX_QUOTE_CHARS)],
            Field(min_length=1, description="One paragraph in your own voice that makes your moves."),
        ),
        headline=(
            Annotated[str, at_most(MAX_HEADLINE_CHARS)],
            Field(min_length=1, description="Your call in one line."),
        ),
        decision=(Literal["ship", "skip"], Field(description="ship or skip")),
        # strict: a JSON true must not pass as confidence 1.0
        confidence=(float, Field(ge=0, le=1, strict=True, description="How sure you are, from 0 to 1.")),
    )


def verdict_schema(persona: Persona) -> dict[str, Any]:
    """The JSON schema sent to the model as the required shape of the reply."""
    return verdict_model(persona).model_json_schema()


def recorded_persona(transcript: PanelTranscript, persona_id: str) -> PersonaRecord:
    record = next((record for record in transcript.personas if record.id == persona_id), None)
    if record is None:
        raise PersonaError(f"The transcript does not record the persona file of {persona_id!r}.")
    return record


def persona_from_record(record: PersonaRecord) -> Persona:
    """The persona exactly as the panel used it, from the file text kept in the transcript."""
    try:
        return Persona.model_validate(tomllib.loads(record.text))
    except (tomllib.TOMLDecodeError, ValidationError) as error:
        raise PersonaError(
            f"The persona {record.id!r} recorded in the transcript no longer loads: {error}."
        ) from None
