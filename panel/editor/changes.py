"""The editor's workflow on a saved panel: rerun one persona, hand-edit or lock a verdict.
Every change is a new revision in the same transcript (review before the tally: panel.editor.review_mode),
saved through the guarded save of panel.store.revisions, so that a change never overwrites one it
did not read. The CLI and the studio both call these functions.

A revision is saved by rewriting the transcript file atomically (write_atomic): the path stays
the panel's identity for show, diff, render and comparisons, and nothing is lost, since every
revision keeps the reviews it produced. Terminal I/O (the editor, the prompts) comes in as
callables, so a script can drive all of it.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import click
import tomlkit

from panel.backends import Backend
from panel.backends.registry import opened_backend
from panel.engine.graph import ReviewTask, review_task
from panel.engine.prompt_sets import refuse_another_prompt_set
from panel.engine.runner import Notice, panel_context, sampling_options
from panel.errors import PanelError, PersonaError
from panel.records.personas import (
    COMMON_VERDICT_FIELDS,
    Persona,
    load_persona_file,
    persona_from_record,
    recorded_persona,
    verdict_model,
)
from panel.records.progress import ProgressCallback
from panel.records.transcript import PanelTranscript, PersonaRecord
from panel.records.verdicts import PersonaReview, Verdict
from panel.settings import Settings, resolve_seed
from panel.store.revisions import (
    InvalidVerdict,
    RevisionResult,
    change_verdict,
    find_review,
    guarded_update,
    is_locked,
    revision_number,
    verdict_from_values,
    with_revision,
)
from panel.store.transcripts import load_panel_transcript

Choice = Literal["accept", "lock", "rerun", "edit"]
OpenEditor = Callable[[Path], None]
ERROR_MARK = "# !! "


class LockedReview(PanelError):
    """A locked verdict that a rerun would replace without --force."""


class InvalidEdit(PanelError):
    """A hand-edited verdict that does not validate, in a run with no one to fix it."""


# -- rerun ----------------------------------------------------------------------------------


def persona_for_rerun(
    transcript: PanelTranscript, persona_id: str, personas_dir: Path | None
) -> tuple[Persona, PersonaRecord]:
    """The recorded persona by default (the panel as it was); with `personas_dir`, that folder's
    current file, which then replaces the record so the transcript stays true."""
    if personas_dir is None:
        record = recorded_persona(transcript, persona_id)
        return persona_from_record(record), record
    path = Path(personas_dir) / f"{persona_id}.toml"
    if not path.is_file():
        raise PersonaError(f"{path}: no such persona file in {personas_dir}.")
    loaded = load_persona_file(path)
    record = PersonaRecord(id=persona_id, path=loaded.path, sha256=loaded.sha256, text=loaded.text)
    return loaded.persona, record


async def rerun_persona_async(
    path: str | Path,
    persona_id: str,
    settings: Settings,
    *,
    model: str | None = None,
    seed: int | None = None,
    force: bool = False,
    personas_dir: Path | None = None,
    note: str | None = None,
    backend: Backend | None = None,
    notice: Notice | None = None,
    on_progress: ProgressCallback | None = None,
) -> RevisionResult:
    """Sample one persona's verdict again (a fresh seed unless given), keep the other reviews
    as they are, tally again and save the new revision in the same transcript; `on_progress`
    is told of the reviewer's steps (panel.records.progress)."""
    path = Path(path)
    transcript = load_panel_transcript(path, "rerun and edit")
    base = revision_number(transcript)
    current = find_review(transcript, persona_id)
    if is_locked(current) and not force:
        raise LockedReview(
            f"The verdict of {persona_id} in {path} is locked ({current.author}); rerun leaves it alone.",
            hint="Add {force} to replace it anyway, or unlock it with {unlock_edit}.",
        )
    persona, record = persona_for_rerun(transcript, persona_id, personas_dir)
    refuse_another_prompt_set(transcript.prompt_set, settings.prompts_dir, path)
    if model is None:
        recorded_model = transcript.models.get(persona_id)
        model = recorded_model.name if recorded_model else persona.model
    seed = resolve_seed(seed)
    recorded = transcript.options.get(persona_id)
    options = {**recorded, "seed": seed} if recorded else sampling_options(persona, settings, seed)
    async with opened_backend(settings, notice, backend) as backend:
        info = (await backend.prepare([model]))[model]
        task = ReviewTask(persona=persona, model=info.name, options=options)
        review = await review_task(
            transcript.card, task, panel_context(backend, settings, on_progress=on_progress)
        )

    def add_rerun(latest: PanelTranscript) -> PanelTranscript:
        personas = [record if item.id == persona_id else item for item in latest.personas]
        updated = with_revision(
            latest,
            [review],
            by=f"model:{info.name}",
            action="rerun",
            persona=persona_id,
            note=note,
            seed=seed,
            models={**latest.models, persona_id: info},
            options={**latest.options, persona_id: options},
            personas=personas,
        )
        if review.status != "ok" and current.status == "ok":
            # Keep the verdict that worked; the failed sample stays on record in the new revision.
            failed = updated.revisions[-1].model_copy(
                update={
                    "aggregate": latest.aggregate,
                    "kept_earlier": True,
                    "note": "; ".join(filter(None, [note, "rerun failed, the earlier verdict is kept"])),
                }
            )
            updated = latest.model_copy(update={"revisions": [*updated.revisions[:-1], failed]})
        return updated

    # In a thread: waiting for another writer's lock must not stall the caller's event loop (the studio).
    updated = await asyncio.to_thread(guarded_update, path, persona_id, base, add_rerun)
    return RevisionResult(transcript=updated, path=path, review=review)


def rerun_persona(path: str | Path, persona_id: str, settings: Settings, **kwargs: Any) -> RevisionResult:
    """Regenerate one persona's verdict in a saved panel; see rerun_persona_async."""
    return asyncio.run(rerun_persona_async(path, persona_id, settings, **kwargs))


# -- hand edits -----------------------------------------------------------------------------


def person_name(by: str | None = None) -> str:
    """--by, else `git config user.name`, else the OS user."""
    if by and by.strip():
        return by.strip()
    try:
        found = subprocess.run(
            ["git", "config", "user.name"], capture_output=True, text=True, timeout=5, check=False
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        found = ""
    return found or getpass.getuser()


def toml_value(value: Any) -> Any:
    """A number as is; text as a TOML string, multi-line when long or broken into lines, for editing."""
    if isinstance(value, float):
        return value
    text = str(value)
    # A multi-line TOML string keeps a raw CR, which parsers turn into LF: escape it on one line.
    return tomlkit.string(text, multiline=("\n" in text or len(text) > 70) and "\r" not in text)


def add_comment(document: tomlkit.TOMLDocument, text: str) -> None:
    for line in text.splitlines() or [""]:
        document.add(tomlkit.comment(line))


def verdict_document(persona: Persona, review: PersonaReview, tool: str) -> str:
    """The verdict as a TOML file to edit: each field with its description as a comment
    (written with tomlkit, which quotes and escapes any text correctly)."""
    shape = verdict_model(persona)
    verdict = review.verdict
    values: dict[str, Any] = (
        {**verdict.fields, **{name: getattr(verdict, name) for name in COMMON_VERDICT_FIELDS}}
        if verdict
        else {}
    )
    document = tomlkit.document()
    add_comment(
        document,
        f"Verdict of {persona.id} ({persona.name}) on {tool}, written by {review.author}.\n"
        "Edit the values, save, and close the editor. Every field is required; lines that start\n"
        "with # are comments. Leave the file as it is, or empty it, to change nothing.",
    )
    if review.status != "ok":
        add_comment(document, f"This persona failed in the run ({review.error}); write its verdict.")
    for name in ("decision", "confidence", "headline", "quote", *persona.fields):
        document.add(tomlkit.nl())
        add_comment(document, shape.model_fields[name].description or "")
        document.add(name, toml_value(values.get(name, 0.5 if name == "confidence" else "")))
    return tomlkit.dumps(document)


def parse_verdict_document(text: str, persona: Persona) -> Verdict:
    """Read an edited verdict file back; raise InvalidEdit saying what is wrong."""
    try:
        data = tomllib.loads(text)
    except (ValueError, RecursionError) as error:  # bad TOML, or an integer past the digit limit
        raise InvalidEdit(f"the file is not valid TOML ({str(error)[:300]})") from None
    try:
        return verdict_from_values(persona, data)
    except InvalidVerdict as error:
        raise InvalidEdit(str(error)) from None


def without_error_header(text: str) -> str:
    lines = text.splitlines(keepends=True)
    while lines and lines[0].startswith(ERROR_MARK):
        lines.pop(0)
    return "".join(lines)


def open_in_editor(path: Path) -> None:
    """$VISUAL, else $EDITOR (a command, arguments allowed), on the file, through click.edit;
    with neither set, click's own pick (sensible-editor, vim, nano, vi, notepad), only at a terminal."""
    if not (os.environ.get("VISUAL") or os.environ.get("EDITOR")) and not (
        sys.stdin.isatty() and sys.stdout.isatty()
    ):
        raise InvalidEdit("No editor to open: set $EDITOR (or $VISUAL) to edit a verdict without a terminal.")
    try:
        click.edit(filename=str(path))
    except (click.ClickException, ValueError) as error:  # ValueError: an $EDITOR shlex cannot split
        message = error.format_message() if isinstance(error, click.ClickException) else str(error)
        raise InvalidEdit(
            f"The editor did not finish ({message}); nothing was saved. Set $EDITOR (or $VISUAL) to an "
            "editor command that exits 0 when the file is saved."
        ) from None


def edit_review(
    persona: Persona,
    review: PersonaReview,
    tool: str,
    *,
    author: str,
    interactive: bool,
    open_editor: OpenEditor = open_in_editor,
) -> PersonaReview | None:
    """Open the verdict in an editor until it validates; None when the person changed nothing.
    Invalid content reopens the editor with the error on top, or raises InvalidEdit when no one
    is at a terminal to fix it."""
    original = verdict_document(persona, review, tool)
    with tempfile.TemporaryDirectory(prefix="panel-edit-") as folder:
        document = Path(folder) / f"{persona.id}-verdict.toml"
        document.write_text(original, encoding="utf-8")
        while True:
            open_editor(document)
            try:
                text = without_error_header(document.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as error:
                raise InvalidEdit(
                    f"Cannot read the edited verdict of {persona.id} back ({error}); the editor must "
                    "save the file in place as UTF-8 text. Nothing was saved."
                ) from None
            if not text.strip() or text == original:
                return None
            try:
                verdict = parse_verdict_document(text, persona)
            except InvalidEdit as error:
                if not interactive:
                    raise InvalidEdit(
                        f"The edited verdict of {persona.id} is not valid: {error}. Nothing was saved."
                    ) from None
                header = f"{ERROR_MARK}Not saved: {error}\n{ERROR_MARK}Fix it, save and close; empty the file to give up.\n"
                document.write_text(header + text, encoding="utf-8")
                continue
            if review.verdict is not None and verdict == review.verdict:
                return None
            return PersonaReview(
                persona=persona.id,
                model=review.model,
                status="ok",
                verdict=verdict,
                written_by=f"person:{author}",
                locked=review.locked,
            )


def edit_verdict(
    path: str | Path,
    persona_id: str,
    *,
    lock: bool = False,
    unlock: bool = False,
    by: str | None = None,
    note: str | None = None,
    interactive: bool | None = None,
    open_editor: OpenEditor = open_in_editor,
) -> RevisionResult:
    """Hand-edit (and optionally lock or unlock) one persona's verdict in a saved panel, tally
    again and save the revision; a no-op edit that changes no lock saves nothing."""
    if lock and unlock:
        raise PanelError(
            "A verdict cannot be locked and unlocked at once.", hint="Choose {lock} or {unlock}."
        )
    path = Path(path)
    transcript = load_panel_transcript(path, "rerun and edit")
    base = revision_number(transcript)
    current = find_review(transcript, persona_id)
    persona = persona_from_record(recorded_persona(transcript, persona_id))
    author = person_name(by)
    if interactive is None:
        interactive = sys.stdin.isatty()
    edited = edit_review(
        persona,
        current,
        transcript.card.name,
        author=author,
        interactive=interactive,
        open_editor=open_editor,
    )
    return change_verdict(
        path,
        persona_id,
        base=base,
        verdict=edited.verdict if edited else None,
        locked=True if lock else False if unlock else None,
        by=author,
        note=note,
    )
