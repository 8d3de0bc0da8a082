"""The studio's drafting side: a card from the form or an uploaded file, a panel run with live
progress (server-sent events), a comparison of two panels, and the votes file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from panel.engine.runner import PanelResult, run_panel_async, save_comparison
from panel.errors import PanelError
from panel.publish.page_facts import panel_size
from panel.publish.render import parse_votes
from panel.records.aggregate import compare_aggregates
from panel.records.personas import load_personas
from panel.regular_files import MAX_CARD_BYTES
from panel.store.transcripts import write_atomic
from panel.web.card_form import card_and_settings, card_values, read_upload, show_again
from panel.web.folder import VOTES_FILES, load_panel, panel_files_for
from panel.web.jobs import Job, sse
from panel.web.studio import Studio, studio_of
from panel.web.views import editor_of


async def start_panel(request: Request) -> Response:
    """Upload: fill the form from the card file. Run: validate the form's card and run choices and
    start the run. A refused form comes back through a redirect (post/redirect/get)."""
    studio = studio_of(request)
    form = await studio.form(request)
    upload = form.get("card_file")
    compare_with = str(form.get("compare_with") or "")
    if isinstance(upload, UploadFile) and upload.filename:
        try:
            card = await read_upload(upload)
        except PanelError as error:
            return show_again(studio, {"upload_error": str(error), "compare_with": compare_with})
        return show_again(studio, {"values": card_values(card), "compare_with": compare_with})
    checked = card_and_settings(studio, form)
    if isinstance(checked, dict):
        return show_again(studio, checked)
    card, settings = checked
    if compare_with:
        load_panel(studio.folder, compare_with)  # refuse a name outside the folder before the run
    if form.get("review") == "on":
        if compare_with:
            return studio.problem(
                "A reviewed run saves its panel when the review ends: run it without “Compare it "
                "with”, then tick both panels in the list to compare them."
            )
        review_id = studio.desk.start(
            card, settings, by=str(form.get("by") or "").strip()[:80] or editor_of(request)
        )
        return RedirectResponse(f"/reviews/{review_id}", 303)
    loaded = load_personas(settings.personas_dir)
    personas = [item.persona.id for item in loaded]

    async def run(job: Job, on_review_for: Any) -> str:
        result = await run_panel_async(
            card, settings, on_review=on_review_for(card.name), on_progress=job.on_progress
        )
        assert result.path is not None
        await refuse_empty_panel(result, studio.run_names.get(job.id, {}))
        if compare_with:
            job.link = compare_with_saved(studio, result, compare_with)
        return result.path.name

    job = studio.jobs.start([card.name], personas, run)
    studio.run_names[job.id] = {item.persona.id: item.persona.name for item in loaded}
    return RedirectResponse(f"/jobs/{job.id}", 303)


async def refuse_empty_panel(result: PanelResult, names: dict[str, str]) -> None:
    """A run where every reviewer failed ends as a failed run that says so (its transcript, kept
    for the raw outputs, holds no verdict), never as "the panel is saved"."""
    if panel_size(result.transcript.aggregate)[0] > 0:
        return
    assert result.path is not None
    reasons = "; ".join(
        f"{names.get(review.persona, review.persona)}: {review.error or 'no valid verdict'}"
        for review in result.transcript.reviews
    )
    await asyncio.sleep(0)  # let the reviewers' own events land first
    raise PanelError(
        f"Every reviewer failed ({reasons}), so there is no panel to read. The transcript is kept "
        f"as {result.path.name} with their raw outputs: open it from the list, or change the "
        "backend or model and run again."
    )


def compare_with_saved(studio: Studio, result: PanelResult, other: str) -> str:
    """Save the comparison of a panel just run with a saved one (as it stands now); its page."""
    try:
        saved = save_comparison(result, PanelResult(*load_panel(studio.folder, other)), studio.folder)
    except PanelError as error:
        assert result.path is not None
        raise PanelError(
            f"The panel is saved as {result.path.name}, but not the comparison with {other}: {error}"
        ) from None
    assert saved.path is not None
    return f"/compare?name={quote(saved.path.name)}"


def job_of(request: Request) -> Job | None:
    return studio_of(request).jobs.jobs.get(request.path_params["job_id"])


async def job_page(request: Request) -> Response:
    job = job_of(request)
    if job is None:
        return studio_of(request).problem("No such run on this server (runs are kept until it stops).", 404)
    return studio_of(request).page("job.html.j2", job=job, names=studio_of(request).run_names.get(job.id, {}))


async def job_events(request: Request) -> Response:
    job = job_of(request)
    if job is None:
        return Response("No such run.", 404)

    async def events() -> AsyncIterator[str]:
        async for event in job.stream():
            yield sse(event)

    return StreamingResponse(events(), media_type="text/event-stream", headers={"x-accel-buffering": "no"})


async def compare_page(request: Request) -> Response:
    """Two panels side by side: the call, and the page as `panel render A B` writes it."""
    studio = studio_of(request)
    names = request.query_params.getlist("name")
    found = [panel_file for name in names for panel_file in panel_files_for(studio.folder, name)]
    if len(found) != 2:
        return studio.problem("Tick two panels in the list to compare them.")
    (a, a_path), (b, b_path) = found
    comparison = compare_aggregates(
        a.aggregate, b.aggregate, a.card.name, b.card.name, prices=(a.card.pricing, b.card.pricing)
    )
    return studio.page(
        "compare.html.j2",
        names=names,
        panels=[a, b],
        sides={"a": (a, a_path.name), "b": (b, b_path.name)},
        comparison=comparison,
        saved=len(names) == 1,
    )


async def save_compared(request: Request) -> Response:
    """Save the comparison of two ticked panels as a comparison transcript, as `panel compare` does."""
    studio = studio_of(request)
    form = await studio.form(request)
    names = [str(name) for name in form.getlist("name")]
    panels = [found for name in names for found in panel_files_for(studio.folder, name)]
    if len(names) != 2 or len(panels) != 2:
        return studio.problem("Tick two panels in the list to compare them.")
    (a, a_path), (b, b_path) = panels
    result = save_comparison(PanelResult(a, a_path), PanelResult(b, b_path), studio.folder)
    assert result.path is not None
    return RedirectResponse(f"/compare?name={quote(result.path.name)}", 303)


async def upload_votes(request: Request) -> Response:
    """Keep a community votes file (CSV or JSON) beside the transcripts for previews and pages."""
    studio = studio_of(request)
    form = await studio.form(request)
    upload = form.get("votes_file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return studio.problem("Choose a votes file (CSV `tool,up,down`, or JSON).")
    kind = "json" if upload.filename.lower().endswith(".json") else "csv"
    data = await upload.read(MAX_CARD_BYTES + 1)
    if len(data) > MAX_CARD_BYTES:  # never parse a cut file: it could drop rows silently
        return studio.problem(
            f"The votes file is over {MAX_CARD_BYTES // 1024} KiB; nothing was changed.", 413
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return studio.problem("The votes file is not UTF-8 text; save it as UTF-8 and upload it again.")
    parse_votes(text, upload.filename)  # refuse a bad file before it replaces a good one
    kept = studio.folder / f"votes.{kind}"
    try:
        write_atomic(kept, text)  # the new file first: a failed write leaves the old votes in place
    except OSError as error:
        return studio.problem(f"Cannot write {kept} ({error.strerror}); the votes file was not changed.", 500)
    for name in VOTES_FILES:
        if name != kept.name:
            (studio.folder / name).unlink(missing_ok=True)
    return RedirectResponse("/", 303)
