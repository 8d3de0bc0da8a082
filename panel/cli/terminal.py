"""What reaches a terminal: the control sequences a card or a model wrote, taken out.

Rich passes ANSI and OSC escapes inside text straight to the terminal, so a card or a reply
could clear the screen, set the window title or print a link to a local file. The CLI's
consoles strip them from every piece of text they print; rich's own styling, added after,
is untouched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rich.console import Console
from rich.segment import Segment

# OSC, DCS, SOS, PM and APC strings (up to BEL or ST, or the end), CSI sequences (both in
# their 7-bit and C1 forms), two-byte escapes, then any other C0 or C1 control character except newline and tab.
CONTROL_SEQUENCE = re.compile(
    r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|\x1b[ -/]*[0-~]?"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)


def strip_control_sequences(text: str) -> str:
    """`text` without terminal escape sequences and control characters (newline and tab stay)."""
    return CONTROL_SEQUENCE.sub("", text)


class TerminalConsole(Console):
    """A rich Console that strips control sequences from all text it prints.

    Rich's own control segments (cursor moves of a live progress bar) carry `control` and are
    kept; every text segment, wherever it came from, is cleaned just before it is styled."""

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        cleaned = (
            segment if segment.control else Segment(strip_control_sequences(segment.text), segment.style)
            for segment in buffer
        )
        return super()._render_buffer(cleaned)
