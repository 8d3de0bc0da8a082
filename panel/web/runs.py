"""The studio's drafting side: a card from the form or an uploaded file, a panel run with live
progress (server-sent events), a comparison of two panels, and the votes file."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from panel.engine.runner import PanelResult, run_panel_async, save_comparison
from panel.errors import CardError, PanelError
from panel.publish.render import parse_votes
from panel.records.aggregate import compare_aggregates
from panel.records.cards import CARD_SUFFIXES, ToolCard, link_as_text, load_card
from panel.records.personas import load_personas
from panel.regular_files import MAX_CARD_BYTES
from panel.store.transcripts import write_atomic
from panel.web.folder import VOTES_FILES, list_folder, load_panel, panel_files_for, panels_for
from panel.web.jobs import Job, sse
from panel.web.studio import Studio, studio_of
from panel.web.views import editor_of

CARD_FIELDS = ("name", "tagline", "category", "description", "maker", "license", "pricing")
EMPTY_CARD = {**dict.fromkeys(CARD_FIELDS, ""), "links": "", "facts": ""}


def card_values(card: ToolCard) -> dict[str, str]:
    """A card as the form shows it: links one `label=url` a line, facts one a line."""
    values = {name: str(getattr(card, name)) for name in CARD_FIELDS}
    values["links"] = "\n".join(link_as_text(link) for link in card.links)
    values["facts"] = "\n".join(card.facts)
    return values


def card_data(values: dict[str, str]) -> dict[str, Any]:
    """The form's values as card data: each line of links is one link as text (`label=url`), which
    the card model reads and checks as it does a CSV cell's."""
    links = [line.strip() for line in values["links"].splitlines() if line.strip()]
    facts = [line.strip() for line in values["facts"].splitlines() if line.strip()]
    return {**{name: values[name] for name in CARD_FIELDS}, "links": links, "facts": facts}


def field_errors(error: ValidationError) -> dict[str, str]:
    problems: dict[str, str] = {}
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else "card"
        # links and facts are one a line in the form: name the line, not the list index
        where = ", ".join(
            f"line {part + 1}" if isinstance(part, int) else str(part) for part in item["loc"][1:]
        )
        problems.setdefault(field, f"{where}: {item['msg']}" if where else item["msg"])
    return problems


def new_form(
    request: Request,
    status: int = 200,
    *,
    values: dict[str, str] = EMPTY_CARD,
    errors: dict[str, str] | None = None,
    upload_error: str | None = None,
    compare_with: str = "",
) -> Response:
    """The new-panel form, with the saved panels a new one can be compared with."""
    studio = studio_of(request)
    panels = [entry for entry in list_folder(studio.folder) if entry.kind == "panel"]
    return studio.page(
        "new.html.j2",
        status,
        values=values,
        errors=errors or {},
        upload_error=upload_error,
        panels=panels,
        compare_with=compare_with,
        editor=editor_of(request),
    )


async def new_panel_form(request: Request) -> Response:
    return new_form(request, compare_with=request.query_params.get("compare_with", ""))


async def read_upload(upload: UploadFile) -> ToolCard:
    """A card file from the browser, read with the CLI's own loader (size cap, formats, errors)."""
    suffix = Path(upload.filename or "").suffix.lower()
    if suffix not in CARD_SUFFIXES:
        raise PanelError(f"Upload a .toml, .json, .yaml or .yml tool card (got {suffix or 'no suffix'}).")
    data = await upload.read(MAX_CARD_BYTES + 1)
    with tempfile.TemporaryDirectory(prefix="panel-card-") as folder:
        path = Path(folder) / f"uploaded-card{suffix}"
        path.write_bytes(data)
        try:
            return load_card(path)
        except CardError as error:
            # Name the file the editor chose, not where the server kept it for reading.
            shown = Path(upload.filename or "").name[:120] or f"the uploaded card{suffix}"
            raise CardError(error.message.replace(str(path), shown), hint=error.hint) from None


async def start_panel(request: Request) -> Response:
    """Upload: fill the form from the card file. Run: validate the form's card and start the run."""
    studio = studio_of(request)
    form = await studio.form(request)
    upload = form.get("card_file")
    compare_with = str(form.get("compare_with") or "")
    if isinstance(upload, UploadFile) and upload.filename:
        try:
            card = await read_upload(upload)
        except PanelError as error:
            return new_form(request, 400, upload_error=str(error), compare_with=compare_with)
        return new_form(request, values=card_values(card), compare_with=compare_with)
    values = {name: str(form.get(name) or "") for name in EMPTY_CARD}
    try:
        card = ToolCard.model_validate(card_data(values))
    except ValidationError as error:
        return new_form(request, 422, values=values, errors=field_errors(error), compare_with=compare_with)
    if compare_with:
        load_panel(studio.folder, compare_with)  # refuse a name outside the folder before the run
    settings = studio.settings.model_copy(update={"out_dir": studio.folder})
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
    personas = [loaded.persona.id for loaded in load_personas(settings.personas_dir)]

    async def run(job: Job, on_review_for: Any) -> str:
        result = await run_panel_async(
            card, settings, on_review=on_review_for(card.name), on_progress=job.on_progress
        )
        assert result.path is not None
        if compare_with:
            job.link = compare_with_saved(studio, result, compare_with)
        return result.path.name

    job = studio.jobs.start([card.name], personas, run)
    return RedirectResponse(f"/jobs/{job.id}", 303)


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
    return studio_of(request).page("job.html.j2", job=job)


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
    panels = [panel for name in names for panel in panels_for(studio.folder, name)]
    if len(panels) != 2:
        return studio.problem("Tick two panels in the list to compare them.")
    a, b = panels
    comparison = compare_aggregates(
        a.aggregate, b.aggregate, a.card.name, b.card.name, prices=(a.card.pricing, b.card.pricing)
    )
    return studio.page(
        "compare.html.j2", names=names, panels=panels, comparison=comparison, saved=len(names) == 1
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
