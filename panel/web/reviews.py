"""Review mode in the browser: the pause before the tally, answered by a form, by id."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from panel.editor.changes import Choice
from panel.store.revisions import InvalidVerdict
from panel.web.studio import studio_of
from panel.web.views import field_descriptions

CHOICES: tuple[Choice, ...] = ("accept", "lock", "rerun", "edit")
COMMON_FIELDS = ("decision", "confidence", "headline", "quote")


def review_view(request: Request, status: int = 200, errors: dict[str, str] | None = None) -> Response:
    studio = studio_of(request)
    state = studio.desk.state(request.path_params["review_id"])
    personas = studio.desk.personas[state.id]
    rows = []
    for review in state.reviews:
        if review.persona not in state.open_ids:
            continue
        verdict = review.verdict
        values = {**verdict.fields, **verdict.model_dump(include=set(COMMON_FIELDS))} if verdict else {}
        persona = personas[review.persona]
        fields = [*COMMON_FIELDS, *persona.fields]
        rows.append(
            {
                "review": review,
                "values": values,
                "fields": fields,
                "name": persona.name,
                "descriptions": field_descriptions(persona),
            }
        )
    return studio.page("review.html.j2", status, state=state, rows=rows, errors=errors or {}, choices=CHOICES)


async def review_page(request: Request) -> Response:
    """The review; after refused edit values, as the redirect's draft left it."""
    shown = studio_of(request).drafts.find(request.query_params.get("draft"))
    return review_view(request, errors=shown.get("errors"))


async def answer_review(request: Request) -> Response:
    studio = studio_of(request)
    form = await studio.form(request)
    state = studio.desk.state(request.path_params["review_id"])
    choices: dict[str, Choice] = {}
    edits: dict[str, dict[str, Any]] = {}
    for persona_id in state.open_ids:
        choice = str(form.get(f"choice-{persona_id}") or "accept")
        choices[persona_id] = choice if choice in CHOICES else "accept"  # type: ignore[assignment]
        if choice == "edit":
            prefix = f"{persona_id}-"
            edits[persona_id] = {
                key.removeprefix(prefix): str(value) for key, value in form.items() if key.startswith(prefix)
            }
    try:
        studio.desk.resume(state.id, choices, edits)
    except InvalidVerdict as error:  # post/redirect/get: a reload does not send the answers again
        draft = studio.drafts.keep({"errors": error.problems})
        return RedirectResponse(f"/reviews/{state.id}?draft={draft}", 303)
    return RedirectResponse(f"/reviews/{state.id}", 303)
