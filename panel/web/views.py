"""The studio's pages on saved panels: the list, one panel with its verdicts and history, a
verdict's rerun / lock / edit, a diff of two revisions, the preview, and publishing."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from panel.editor.changes import rerun_persona_async
from panel.editor.revert import revert_panel_async
from panel.publish.diff import diff_transcripts
from panel.publish.page_facts import panel_size, verdict_sentence
from panel.publish.render import render_diff
from panel.records.personas import Persona, persona_from_record, recorded_persona, verdict_model
from panel.records.transcript import PARTIAL_SUFFIX, PanelTranscript
from panel.settings import backend_names
from panel.store.revisions import (
    InvalidVerdict,
    RevisionConflict,
    at_revision,
    change_verdict,
    find_review,
    history,
    newer_change,
    revision_number,
    verdict_from_values,
)
from panel.web import choices
from panel.web.folder import load_panel
from panel.web.security import PAGE_CSP
from panel.web.studio import Studio, studio_of

COMMON_FIELDS = ("decision", "confidence", "headline", "quote")
PAGE_PARTIAL = re.compile(r"\..+\.(html|md)\.[A-Za-z0-9_]+" + re.escape(PARTIAL_SUFFIX))
EDITOR_COOKIE = "panel_studio_editor"
DEFAULT_EDITOR = "studio editor"


def editor_of(request: Request) -> str:
    """The name this browser last saved a change under (a cookie), for the next change's "who"."""
    return unquote(request.cookies.get(EDITOR_COOKIE, "")).strip()[:80] or DEFAULT_EDITOR


def remember_editor(response: Response, by: str) -> Response:
    response.set_cookie(EDITOR_COOKIE, quote(by), max_age=365 * 86400, httponly=True, samesite="strict")
    return response


def verdict_rows(transcript: PanelTranscript) -> list[dict[str, Any]]:
    """Each persona's review with the field names its persona asks for, for the panel page."""
    rows = []
    for review in transcript.reviews:
        persona = persona_from_record(recorded_persona(transcript, review.persona))
        verdict = review.verdict
        values = {**verdict.fields, **verdict.model_dump(include=set(COMMON_FIELDS))} if verdict else {}
        rows.append(
            {
                "review": review,
                "persona": persona,
                "fields": list(persona.fields),
                "values": values,
                "descriptions": field_descriptions(persona),
            }
        )
    return rows


def field_descriptions(persona: Persona) -> dict[str, str]:
    """Each verdict field's description from the persona's schema, to show beside the field."""
    return {name: info.description or "" for name, info in verdict_model(persona).model_fields.items()}


def panel_view(request: Request, name: str, status: int = 200, **extra: Any) -> HTMLResponse:
    studio = studio_of(request)
    transcript, _ = load_panel(studio.folder, name)
    context: dict[str, Any] = {"errors": {}, "editing": None, "submitted": {}, "conflict": None, **extra}
    names = {record.id: persona_from_record(record).name for record in transcript.personas}
    return studio.page(
        "panel.html.j2",
        status=status,
        name=name,
        transcript=transcript,
        sentence=verdict_sentence(transcript.card.name, transcript.aggregate),
        size=panel_size(transcript.aggregate),
        rows=verdict_rows(transcript),
        revisions=history(transcript),
        base=revision_number(transcript),
        editor=editor_of(request),
        names=names,
        run=rerun_choices(studio),
        published=studio.published.pages_of(name),
        **context,
    )


def rerun_choices(studio: Studio) -> dict[str, Any]:
    """The rerun form's choices: backends, prompt and persona sets (defaults preselected)."""
    return {
        "backends": backend_names(),
        "prompt_sets": choices.prompt_sets(studio.settings),
        "persona_sets": choices.persona_sets(studio.settings),
        "chosen": choices.choice_values(studio.settings),
        "max_seed": choices.MAX_SEED,
    }


async def panel_page(request: Request) -> Response:
    """A panel; after a refused edit or a conflict, as the redirect's draft left it."""
    shown = studio_of(request).drafts.find(request.query_params.get("draft"))
    return panel_view(request, request.path_params["name"], **shown)


def show_panel_again(request: Request, name: str, persona_id: str, shown: dict[str, Any]) -> Response:
    """Post/redirect/get: the panel page with the refused form, reloadable without re-posting."""
    draft = studio_of(request).drafts.keep(shown)
    return RedirectResponse(f"/panels/{quote(name)}?draft={draft}#reviewer-{persona_id}", 303)


async def rerun_from_form(
    studio: Studio,
    transcript: PanelTranscript,
    path: Path,
    persona_id: str,
    base: int,
    form: FormData,
    by: str,
) -> Response | None:
    """Rerun one reviewer as the panel page asked (seed, model, force); a page to show instead
    when the rerun is refused. A stale page raises RevisionConflict before any model call."""
    newer = newer_change(transcript, persona_id, base)
    if newer is not None:
        raise RevisionConflict(
            f"The verdict of {persona_id} changed after you read it (revision {newer.number}, "
            f"{newer.action} by {newer.by.removeprefix('person:')}). Nothing was rerun.",
            newer,
            transcript,
        )
    current = find_review(transcript, persona_id)
    if current.locked and form.get("force") != "on":
        return studio.problem(
            f"The verdict of {persona_id} is locked ({current.author}), so a rerun leaves it alone. "
            "Tick “replace the locked verdict” beside Rerun to replace it anyway, or unlock it first.",
            409,
            "Not rerun",
        )
    try:
        settings = choices.run_settings(studio.settings, form, [])
    except choices.ChoiceError as error:
        return studio.problem(f"{error} Nothing was rerun.")
    await rerun_persona_async(
        path,
        persona_id,
        settings,
        seed=settings.seed,
        model=settings.model,
        personas_dir=choices.rerun_personas_dir(studio.settings, form),
        force=form.get("force") == "on",
        note=f"from the studio by {by}",
    )
    return None


async def change(request: Request) -> Response:
    """Rerun, lock, unlock or edit one verdict, each as a revision through the guarded save."""
    studio = studio_of(request)
    name, persona_id, action = (request.path_params[key] for key in ("name", "persona", "action"))
    form = await studio.form(request)
    transcript, path = load_panel(studio.folder, name)
    by = str(form.get("by") or "").strip()[:80] or editor_of(request)
    try:
        base = int(str(form.get("base", "")))
    except ValueError:
        return studio.problem("The form has no revision number; reload the page and try again.")
    find_review(transcript, persona_id)
    try:
        if action == "rerun":
            refused = await rerun_from_form(studio, transcript, path, persona_id, base, form, by)
            if refused is not None:
                return refused
        elif action in ("lock", "unlock"):
            # In a thread: the guarded save may wait for another process's lock.
            await asyncio.to_thread(
                change_verdict, path, persona_id, base=base, locked=action == "lock", by=by
            )
        elif action == "edit":
            persona = persona_from_record(recorded_persona(transcript, persona_id))
            names = [*COMMON_FIELDS, *persona.fields]
            submitted = {key: str(form.get(key, "")) for key in names}
            try:
                verdict = verdict_from_values(persona, submitted)
            except InvalidVerdict as error:
                shown = {"errors": error.problems, "editing": persona_id, "submitted": submitted}
                return show_panel_again(request, name, persona_id, shown)
            await asyncio.to_thread(
                change_verdict,
                path,
                persona_id,
                base=base,
                verdict=verdict,
                by=by,
                note=str(form.get("note") or "") or None,
            )
        else:
            return studio.problem(f"No such change: {action!r}.", 404)
    except RevisionConflict as conflict:
        newer = find_review(conflict.transcript, persona_id)
        shown = {"conflict": {"message": str(conflict), "review": newer, "persona": persona_id}}
        return show_panel_again(request, name, persona_id, shown)
    return remember_editor(RedirectResponse(f"/panels/{name}#reviewer-{persona_id}", 303), by)


async def revert(request: Request) -> Response:
    """Put the panel's verdicts back as they stood at an earlier revision, as a new revision."""
    studio = studio_of(request)
    name = request.path_params["name"]
    form = await studio.form(request)
    _, path = load_panel(studio.folder, name)
    by = str(form.get("by") or "").strip()[:80] or editor_of(request)
    try:
        base, number = (int(str(form.get(key, ""))) for key in ("base", "revision"))
    except ValueError:
        return studio.problem("Pick the revision to go back to; reload the page and try again.")
    try:
        await revert_panel_async(path, number, base=base, by=by, note=str(form.get("note") or "") or None)
    except RevisionConflict as conflict:
        return studio.problem(str(conflict), 409, "Not reverted")
    return remember_editor(RedirectResponse(f"/panels/{quote(name)}", 303), by)


async def diff_revisions(request: Request) -> Response:
    """Any two revisions of a panel, diffed by `panel diff`'s own code and template."""
    studio = studio_of(request)
    name = request.path_params["name"]
    transcript, _ = load_panel(studio.folder, name)
    try:
        before, after = (int(request.query_params.get(key, "")) for key in ("from", "to"))
    except ValueError:
        return studio.problem("Pick two revision numbers to diff.")
    diff = diff_transcripts(
        at_revision(transcript, before),
        at_revision(transcript, after),
        f"revision {before}",
        f"revision {after}",
    )
    return HTMLResponse(
        render_diff(diff, "html"), headers={"content-security-policy": f"{PAGE_CSP}; frame-ancestors 'none'"}
    )
