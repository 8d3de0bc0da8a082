"""The new-panel form: the card's fields, a card file to fill them from, and the run choices
(backend, models, seed, prompt and persona sets), shown again after an invalid POST through a
redirect (post/redirect/get)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from panel.errors import CardError, PanelError
from panel.records.cards import CARD_SUFFIXES, ToolCard, link_as_text, load_card
from panel.records.plain_errors import plain_problem
from panel.regular_files import MAX_CARD_BYTES
from panel.settings import Settings, backend_names
from panel.web import choices
from panel.web.folder import list_folder
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
    """Each card field's first problem in plain words; links and facts name the line."""
    problems: dict[str, str] = {}
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else "card"
        where = ", ".join(
            f"line {part + 1}" if isinstance(part, int) else str(part) for part in item["loc"][1:]
        )
        problem = plain_problem(item)
        problems.setdefault(field, f"{where}: {problem}" if where else problem)
    return problems


async def run_choices(studio: Studio, values: dict[str, str]) -> dict[str, Any]:
    """What the run-choices part of a form offers, with `values` (or the defaults) chosen."""
    settings = studio.settings
    chosen = {**choices.choice_values(settings), **values}
    names = choices.persona_names(settings)
    defaults = choices.persona_defaults(settings)
    return {
        "backends": backend_names(),
        "known_models": await studio.model_lists.known(settings),
        "prompt_sets": choices.prompt_sets(settings),
        "persona_sets": choices.persona_sets(settings),
        "reviewers": [{"id": key, "name": names.get(key, key), "model": defaults[key]} for key in defaults],
        "chosen": chosen,
        "max_seed": choices.MAX_SEED,
    }


async def new_form(request: Request, shown: dict[str, Any]) -> Response:
    """The new-panel form as `shown` left it (a draft), with the saved panels a new one can be
    compared with."""
    studio = studio_of(request)
    panels = [entry for entry in list_folder(studio.folder) if entry.kind == "panel"]
    errors = shown.get("errors", {})
    return studio.page(
        "new.html.j2",
        values=shown.get("values", EMPTY_CARD),
        errors=errors,
        upload_error=shown.get("upload_error"),
        panels=panels,
        compare_with=shown.get("compare_with", ""),
        editor=editor_of(request),
        run=await run_choices(studio, shown.get("choices", {})),
    )


async def new_panel_form(request: Request) -> Response:
    studio = studio_of(request)
    shown = studio.drafts.find(request.query_params.get("draft"))
    return await new_form(request, shown or {"compare_with": request.query_params.get("compare_with", "")})


def show_again(studio: Studio, shown: dict[str, Any]) -> Response:
    """Redirect to the form as it was sent, with its problems (a reload then sends nothing)."""
    return RedirectResponse(f"/new?draft={studio.drafts.keep(shown)}", 303)


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


def persona_ids(studio: Studio) -> list[str]:
    return list(choices.persona_defaults(studio.settings))


def card_and_settings(studio: Studio, form: Any) -> tuple[ToolCard, Settings] | dict[str, Any]:
    """The form's card and the run's settings, or what to show again when either is refused."""
    values = {name: str(form.get(name) or "") for name in EMPTY_CARD}
    chosen = {key: str(value) for key, value in form.items() if isinstance(value, str) and key != "csrf"}
    errors: dict[str, str] = {}
    card = None
    try:
        card = ToolCard.model_validate(card_data(values))
    except ValidationError as error:
        errors.update(field_errors(error))
    try:
        settings = choices.run_settings(studio.settings, form, persona_ids(studio))
    except choices.ChoiceError as error:
        errors.update(error.problems)
    if errors or card is None:
        return {
            "values": values,
            "errors": errors,
            "choices": chosen,
            "compare_with": chosen.get("compare_with", ""),
        }
    return card, settings.model_copy(update={"out_dir": studio.folder})
