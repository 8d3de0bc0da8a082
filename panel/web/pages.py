"""The studio's list of saved panels (filter, sort, published marker), the preview of a page
and publishing it."""

from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path
from stat import S_ISREG
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from panel.publish.page_facts import IncompletePanel, check_complete
from panel.publish.render import render_page
from panel.records.transcript import PARTIAL_SUFFIX, STALE_PARTIAL_SECONDS, PanelTranscript
from panel.store.revisions import revision_number
from panel.store.transcripts import safe_slug, write_atomic
from panel.web.folder import (
    SORT_COLUMNS,
    folder_votes,
    list_folder,
    panel_files_for,
    panels_for,
    sort_entries,
)
from panel.web.published import latest_published
from panel.web.security import PAGE_CSP
from panel.web.studio import studio_of

PAGE_PARTIAL = re.compile(r"\..+\.(html|md)\.[A-Za-z0-9_]+" + re.escape(PARTIAL_SUFFIX))


def first_order(column: str) -> str:
    """Newest and highest first; names, statuses and models from A."""
    return "desc" if column in ("when", "ship") else "asc"


def sort_link(query: str, key: str, column: str, descending: bool) -> str:
    """The list sorted by `key`: a second click on the sorted column turns its order round."""
    order = ("asc" if descending else "desc") if key == column else first_order(key)
    return "/?" + urlencode({"q": query, "sort": key, "order": order})


async def list_panels(request: Request) -> Response:
    """Every panel and comparison, filtered on tool name, tagline and description, sorted by the
    column asked for (newest first by default), each panel marked when it was published."""
    studio = studio_of(request)
    query = request.query_params.get("q", "")[:200]
    column = request.query_params.get("sort", "when")
    column = column if column in SORT_COLUMNS else "when"
    descending = request.query_params.get("order", first_order(column)) == "desc"
    entries = sort_entries(list_folder(studio.folder, query), column, descending)
    ledger = studio.published.read()
    published = {entry.name: latest_published(ledger.get(entry.name, [])) for entry in entries}
    return studio.page(
        "list.html.j2",
        entries=entries,
        query=query,
        column=column,
        descending=descending,
        sort_links={key: sort_link(query, key, column, descending) for key in SORT_COLUMNS},
        published=published,
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
    revisions = {
        name: revision_number(panel)
        for given in form.getlist("name")
        for panel, file in panel_files_for(studio.folder, str(given))
        for name in {str(given), file.name}
    }
    with contextlib.suppress(OSError):  # the pages are written; a missing marker is no failure
        studio.published.record(revisions, target / f"{slug}.html")
    return studio.page("message.html.j2", title="Published", message="Wrote " + " and ".join(written) + ".")
