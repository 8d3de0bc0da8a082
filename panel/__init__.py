"""reviewer-panel: four reviewer personas, backed by self-hosted models, judge a software tool.

from panel import run_panel, compare_tools
result = run_panel("examples/tools/pgvector.toml")
print(result.transcript.aggregate.ship_pct, result.path)
"""

from panel.backends.doctor import diagnose
from panel.batch.run import BatchOptions, BatchSummary, run_batch, run_batch_async
from panel.editor.changes import edit_verdict, rerun_persona, rerun_persona_async
from panel.editor.review_mode import review_panel_async
from panel.engine.runner import (
    ComparisonResult,
    PanelResult,
    compare_tools,
    compare_tools_async,
    run_panel,
    run_panel_async,
    save_comparison,
)
from panel.errors import (
    BackendUnavailable,
    CardError,
    ConfigError,
    ModelNotFound,
    PanelError,
    PersonaError,
    TranscriptError,
)
from panel.measure.evaluation import EvalOptions, run_eval, run_eval_async
from panel.measure.report import EvalReport
from panel.measure.stability import sample_stability_async, stability_of_folder
from panel.publish.diff import diff_transcripts
from panel.publish.diff_folders import diff_paths
from panel.publish.render import load_for_render, render_page
from panel.records.aggregate import Aggregate, Comparison, compare_aggregates, tally_reviews
from panel.records.cards import ToolCard, load_card
from panel.records.personas import Persona, load_personas, verdict_schema
from panel.records.transcript import ComparisonTranscript, PanelTranscript
from panel.records.verdicts import PersonaReview, Verdict
from panel.settings import QualityGates, Settings, resolve_settings
from panel.store.revisions import RevisionConflict, change_verdict, history, is_locked, verdict_from_values
from panel.store.transcripts import load_transcript

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
