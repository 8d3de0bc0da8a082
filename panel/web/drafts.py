"""Post/redirect/get for forms the studio shows again (an invalid card, an invalid edit, a
conflict): the POST keeps what the form showed under a short id and redirects to a GET that
shows it, so a reload asks for the page again instead of sending the form twice."""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from panel.web.security import CURRENT_SESSION

MAX_DRAFTS = 500  # the oldest go first; a draft is needed for one reload or two


@dataclass
class Drafts:
    """Forms kept for their redirect, each readable only by the browser session that sent it."""

    kept: OrderedDict[str, tuple[str, dict[str, Any]]] = field(default_factory=OrderedDict)

    def keep(self, shown: dict[str, Any]) -> str:
        draft_id = secrets.token_urlsafe(12)
        self.kept[draft_id] = (CURRENT_SESSION.get(), shown)
        while len(self.kept) > MAX_DRAFTS:
            self.kept.popitem(last=False)
        return draft_id

    def find(self, draft_id: str | None) -> dict[str, Any]:
        """What the form showed, or {} (no such draft, or another browser's)."""
        session, shown = self.kept.get(draft_id or "", ("", {}))
        return shown if session and session == CURRENT_SESSION.get() else {}
