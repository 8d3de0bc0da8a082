"""What every studio route shares: the folder, the settings for runs, where pages are
published, the templates and the CSRF-checked form."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse

from panel.editor.review_desk import ReviewDesk
from panel.records.aggregate import percent_text
from panel.settings import Settings
from panel.web.choices import ModelLists
from panel.web.drafts import Drafts
from panel.web.jobs import JobBoard
from panel.web.published import PublishedPages
from panel.web.security import (
    Guard,
)

HERE = Path(__file__).parent
MAX_FORM_FIELDS = 200


@dataclass
class Studio:
    """What every route needs: the folder, the settings for runs, where pages are published."""

    folder: Path
    settings: Settings
    publish_dir: Path
    guard: Guard
    jobs: JobBoard = field(default_factory=JobBoard)
    desk: ReviewDesk = field(default_factory=ReviewDesk)
    drafts: Drafts = field(default_factory=Drafts)
    model_lists: ModelLists = field(default_factory=ModelLists)
    # Persona id -> display name, by run id: a run's page names its reviewers as its personas do.
    run_names: dict[str, dict[str, str]] = field(default_factory=dict)
    templates: Environment = field(init=False)

    def __post_init__(self) -> None:
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"), autoescape=True, undefined=StrictUndefined
        )
        self.templates.filters["pct"] = percent_text
        self.templates.trim_blocks = self.templates.lstrip_blocks = True

    @property
    def published(self) -> PublishedPages:
        return PublishedPages(self.publish_dir)

    def page(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        page = self.templates.get_template(template).render(csrf=self.guard.csrf_token, **context)
        return HTMLResponse(page, status_code=status)

    def problem(self, message: str, status: int = 400, title: str = "That did not work") -> HTMLResponse:
        return self.page("message.html.j2", status=status, title=title, message=message)

    async def form(self, request: Request) -> FormData:
        """The request's form, after the CSRF check; uploads are capped by the body limit."""
        form = await request.form(max_files=2, max_fields=MAX_FORM_FIELDS)
        self.guard.check_form(form, request)
        return form


def studio_of(request: Request) -> Studio:
    return request.app.state.studio
