"""The studio's pages on saved panels: the list, one panel with its verdicts and history, a
verdict's rerun / lock / edit, a diff of two revisions, the preview, and publishing."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from pathlib import Path
from stat import S_ISREG
from typing import Any
from urllib.parse import quote, unquote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from panel.editor.changes import rerun_persona_async
from panel.publish.diff import diff_transcripts
from panel.publish.page_facts import IncompletePanel, check_complete, panel_size, verdict_sentence
from panel.publish.render import render_diff, render_page
from panel.records.personas import persona_from_record, recorded_persona
from panel.records.transcript import PARTIAL_SUFFIX, STALE_PARTIAL_SECONDS, PanelTranscript
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
from panel.store.transcripts import safe_slug, write_atomic
from panel.web.folder import folder_votes, list_folder, load_panel, panels_for
from panel.web.security import PAGE_CSP
from panel.web.studio import Studio, studio_of

COMMON_FIELDS = ("decision", "confidence", "headline", "quote")
PAGE_PARTIAL = re.compile(r"\..+\.(html|md)\.[A-Za-z0-9_]+" + re.escape(PARTIAL_SUFFIX))
SEED_DIGITS = re.compile(r"[0-9]{1,10}")
MAX_SEED = 2**31 - 1  # what every backend takes (the seeds a run draws are below it)
EDITOR_COOKIE = "panel_studio_editor"
DEFAULT_EDITOR = "studio editor"


def editor_of(request: Request) -> str:
    """The name this browser last saved a change under (a cookie), for the next change's "who"."""
    return unquote(request.cookies.get(EDITOR_COOKIE, "")).strip()[:80] or DEFAULT_EDITOR


def remember_editor(response: Response, by: str) -> Response:
    response.set_cookie(EDITOR_COOKIE, quote(by), max_age=365 * 86400, httponly=True, samesite="strict")
    return response


async def list_panels(request: Request) -> Response:
    studio = studio_of(request)
    query = request.query_params.get("q", "")[:200]
    return studio.page("list.html.j2", entries=list_folder(studio.folder, query), query=query)


def verdict_rows(transcript: PanelTranscript) -> list[dict[str, Any]]:
    """Each persona's review with the field names its persona asks for, for the panel page."""
    rows = []
    for review in transcript.reviews:
        persona = persona_from_record(recorded_persona(transcript, review.persona))
        verdict = review.verdict
        values = {**verdict.fields, **verdict.model_dump(include=set(COMMON_FIELDS))} if verdict else {}
        rows.append({"review": review, "persona": persona, "fields": list(persona.fields), "values": values})
    return rows


def panel_view(request: Request, name: str, status: int = 200, **extra: Any) -> HTMLResponse:
    studio = studio_of(request)
    transcript, _ = load_panel(studio.folder, name)
    context: dict[str, Any] = {"errors": {}, "editing": None, "submitted": {}, "conflict": None, **extra}
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
        **context,
    )


async def panel_page(request: Request) -> Response:
    return panel_view(request, request.path_params["name"])


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
    seed_text, model = str(form.get("seed") or "").strip(), str(form.get("model") or "").strip()
    # ASCII digits only: "²".isdigit() is true, and int() of 5,000 digits raises.
    if seed_text and not (SEED_DIGITS.fullmatch(seed_text) and int(seed_text) <= MAX_SEED):
        shown = seed_text if len(seed_text) <= 40 else seed_text[:40] + "…"
        return studio.problem(
            f"The seed must be a whole number from 0 to {MAX_SEED} (digits 0-9 only), or empty "
            f"for a random one; got {shown!r}. Nothing was rerun."
        )
    await rerun_persona_async(
        path,
        persona_id,
        studio.settings,
        seed=int(seed_text) if seed_text else None,
        model=model or None,
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
                return panel_view(
                    request, name, 422, errors=error.problems, editing=persona_id, submitted=submitted
                )
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
        return panel_view(
            request, name, 409, conflict={"message": str(conflict), "review": newer, "persona": persona_id}
        )
    return remember_editor(RedirectResponse(f"/panels/{name}#reviewer-{persona_id}", 303), by)


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


def chosen_panels(request: Request, names: list[str]) -> list[PanelTranscript]:
    studio = studio_of(request)
    panels = [panel for name in names for panel in panels_for(studio.folder, name)]
    if len(panels) not in (1, 2):
        raise ValueError("Choose one panel, or two to put side by side (a comparison counts as two).")
    return panels


async def preview(request: Request) -> Response:
    """Exactly the page `panel render` writes for these transcripts (and the votes file)."""
    studio = studio_of(request)
    try:
        panels = chosen_panels(request, request.query_params.getlist("name"))
    except ValueError as error:
        return studio.problem(str(error))
    html = render_page(
        panels,
        "html",
        folder_votes(studio.folder),
        draft_mark=request.query_params.get("draft_mark", "on") == "on",
        draft_models=studio.settings.draft_models,
    )
    return HTMLResponse(html, headers={"content-security-policy": f"{PAGE_CSP}; frame-ancestors 'self'"})


def remove_stale_pages(folder: Path) -> int:
    """remove_stale_partials for a publish folder: write_atomic's leftovers of pages
    (`.NAME.html.XXXX.tmp`, `.NAME.md.XXXX.tmp`), under the same rules (plain files, an hour old)."""
    removed = 0
    cutoff = time.time() - STALE_PARTIAL_SECONDS
    for entry in folder.glob(".*" + PARTIAL_SUFFIX) if folder.is_dir() else []:
        with contextlib.suppress(OSError):
            stat = entry.lstat()
            if PAGE_PARTIAL.fullmatch(entry.name) and S_ISREG(stat.st_mode) and stat.st_mtime < cutoff:
                entry.unlink()
                removed += 1
    return removed


async def publish(request: Request) -> Response:
    """Write the HTML and Markdown page to a folder under the publish folder."""
    studio = studio_of(request)
    form = await studio.form(request)
    try:
        panels = chosen_panels(request, [str(name) for name in form.getlist("name")])
    except ValueError as error:
        return studio.problem(str(error))
    if form.get("allow_incomplete") != "on":
        try:
            check_complete(panels)
        except IncompletePanel as error:
            return studio.problem(
                f"{error} Rerun the missing reviewer on the panel's page, or tick “publish an "
                "incomplete panel” to publish it with the incomplete notice. Nothing was written.",
                409,
                "Not published",
            )
    slug = "-vs-".join(safe_slug(panel.card.name) for panel in panels)
    target = studio.publish_dir / safe_slug(str(form.get("folder") or "site"))
    remove_stale_pages(target)  # left by a publish killed mid-write
    options = {"draft_mark": form.get("no_draft_mark") != "on", "draft_models": studio.settings.draft_models}
    votes = folder_votes(studio.folder)
    written = []
    for kind in ("html", "md"):
        path = target / f"{slug}.{kind}"
        try:
            write_atomic(path, render_page(panels, kind, votes, **options))  # type: ignore[arg-type]
        except OSError as error:
            done = f" ({' and '.join(written)} was written)" if written else ""
            return studio.problem(
                f"Cannot write {path} ({error.strerror}){done}. Check the publish folder, "
                f"{studio.publish_dir}, or pick another folder name.",
                500,
                "Not published",
            )
        written.append(str(path))
    return studio.page("message.html.j2", title="Published", message="Wrote " + " and ".join(written) + ".")
