"""reviewer-panel: four reviewer personas, backed by self-hosted models, judge a software tool.

from panel import run_panel, compare_tools
result = run_panel("examples/tools/pgvector.toml")
print(result.transcript.aggregate.ship_pct, result.path)
"""

from panel.aggregate import Aggregate, Comparison, compare_aggregates, tally_reviews
from panel.batch import BatchOptions, BatchSummary, run_batch, run_batch_async
from panel.cards import ToolCard, load_card
from panel.config import Settings, resolve_settings
from panel.diff import diff_paths, diff_transcripts
from panel.doctor import diagnose
from panel.editing import edit_verdict, is_locked, rerun_persona, rerun_persona_async
from panel.errors import (
    BackendUnavailable,
    CardError,
    ConfigError,
    ModelNotFound,
    PanelError,
    PersonaError,
    TranscriptError,
)
from panel.eval_report import EvalReport
from panel.evaluation import EvalOptions, run_eval, run_eval_async
from panel.personas import Persona, load_personas, verdict_schema
from panel.quality import QualityGates
from panel.render import load_for_render, render_page
from panel.review import review_panel_async
from panel.revisions import RevisionConflict, change_verdict, history, verdict_from_values
from panel.runner import (
    ComparisonResult,
    PanelResult,
    compare_tools,
    compare_tools_async,
    run_panel,
    run_panel_async,
    save_comparison,
)
from panel.stability import sample_stability_async, stability_of_folder
from panel.transcripts import ComparisonTranscript, PanelTranscript, load_transcript
from panel.verdicts import PersonaReview, Verdict

__all__ = [
    "RevisionConflict",
    "change_verdict",
    "history",
    "verdict_from_values",
    "Aggregate",
    "BackendUnavailable",
    "BatchOptions",
    "BatchSummary",
    "CardError",
    "Comparison",
    "ComparisonResult",
    "ComparisonTranscript",
    "ConfigError",
    "EvalOptions",
    "EvalReport",
    "ModelNotFound",
    "PanelError",
    "PanelResult",
    "PanelTranscript",
    "Persona",
    "PersonaError",
    "PersonaReview",
    "QualityGates",
    "Settings",
    "ToolCard",
    "TranscriptError",
    "Verdict",
    "compare_aggregates",
    "compare_tools",
    "compare_tools_async",
    "save_comparison",
    "diagnose",
    "diff_paths",
    "diff_transcripts",
    "edit_verdict",
    "is_locked",
    "load_card",
    "load_for_render",
    "load_personas",
    "load_transcript",
    "render_page",
    "rerun_persona",
    "rerun_persona_async",
    "resolve_settings",
    "review_panel_async",
    "run_batch",
    "run_batch_async",
    "run_eval",
    "run_eval_async",
    "run_panel",
    "run_panel_async",
    "sample_stability_async",
    "stability_of_folder",
    "tally_reviews",
    "verdict_schema",
]
