"""reviewer-panel: four reviewer personas, backed by self-hosted models, judge a software tool.

from panel import run_panel, compare_tools
result = run_panel("examples/tools/pgvector.toml")
print(result.transcript.aggregate.ship_pct, result.path)
"""

from panel.aggregate import Aggregate, Comparison, compare_aggregates, tally_reviews
from panel.cards import ToolCard, load_card
from panel.config import Settings, resolve_settings
from panel.errors import (
    BackendUnavailable,
    CardError,
    ConfigError,
    ModelNotFound,
    PanelError,
    PersonaError,
    TranscriptError,
)
from panel.personas import Persona, load_personas, verdict_schema
from panel.runner import (
    ComparisonResult,
    PanelResult,
    compare_tools,
    compare_tools_async,
    run_panel,
    run_panel_async,
)
from panel.transcripts import ComparisonTranscript, PanelTranscript, load_transcript
from panel.verdicts import PersonaReview, Verdict

__all__ = [
    "Aggregate",
    "BackendUnavailable",
    "CardError",
    "Comparison",
    "ComparisonResult",
    "ComparisonTranscript",
    "ConfigError",
    "ModelNotFound",
    "PanelError",
    "PanelResult",
    "PanelTranscript",
    "Persona",
    "PersonaError",
    "PersonaReview",
    "Settings",
    "ToolCard",
    "TranscriptError",
    "Verdict",
    "compare_aggregates",
    "compare_tools",
    "compare_tools_async",
    "load_card",
    "load_personas",
    "load_transcript",
    "resolve_settings",
    "run_panel",
    "run_panel_async",
    "tally_reviews",
    "verdict_schema",
]
