"""reviewer-panel: four reviewer personas, backed by self-hosted models, judge a software tool.

from panel import run_panel, compare_tools
result = run_panel("examples/tools/pgvector.toml")
print(result.transcript.aggregate.ship_pct, result.path)
"""

from __future__ import annotations

import importlib
from typing import Any

# Public name -> the module that defines it. Imported on first use, so that `panel --version`
# and `import panel.errors` do not load LangGraph and the backends (about a second).
PUBLIC_NAMES = {
    "diagnose": "panel.backends.doctor",
    "BatchOptions": "panel.batch.run",
    "BatchSummary": "panel.batch.run",
    "run_batch": "panel.batch.run",
    "run_batch_async": "panel.batch.run",
    "edit_verdict": "panel.editor.changes",
    "rerun_persona": "panel.editor.changes",
    "rerun_persona_async": "panel.editor.changes",
    "review_panel_async": "panel.editor.review_mode",
    "ComparisonResult": "panel.engine.runner",
    "PanelResult": "panel.engine.runner",
    "compare_tools": "panel.engine.runner",
    "compare_tools_async": "panel.engine.runner",
    "run_panel": "panel.engine.runner",
    "run_panel_async": "panel.engine.runner",
    "save_comparison": "panel.engine.runner",
    "BackendUnavailable": "panel.errors",
    "CardError": "panel.errors",
    "ConfigError": "panel.errors",
    "ModelNotFound": "panel.errors",
    "PanelError": "panel.errors",
    "PersonaError": "panel.errors",
    "TranscriptError": "panel.errors",
    "EvalOptions": "panel.measure.evaluation",
    "run_eval": "panel.measure.evaluation",
    "run_eval_async": "panel.measure.evaluation",
    "EvalReport": "panel.measure.report",
    "sample_stability_async": "panel.measure.stability",
    "stability_of_folder": "panel.measure.stability",
    "diff_transcripts": "panel.publish.diff",
    "diff_paths": "panel.publish.diff_folders",
    "load_for_render": "panel.publish.render",
    "render_page": "panel.publish.render",
    "Aggregate": "panel.records.aggregate",
    "Comparison": "panel.records.aggregate",
    "compare_aggregates": "panel.records.aggregate",
    "tally_reviews": "panel.records.aggregate",
    "ToolCard": "panel.records.cards",
    "load_card": "panel.records.cards",
    "Persona": "panel.records.personas",
    "load_personas": "panel.records.personas",
    "verdict_schema": "panel.records.personas",
    "ProgressEvent": "panel.records.progress",
    "progress_text": "panel.records.progress",
    "ComparisonTranscript": "panel.records.transcript",
    "PanelTranscript": "panel.records.transcript",
    "PersonaReview": "panel.records.verdicts",
    "Verdict": "panel.records.verdicts",
    "QualityGates": "panel.settings",
    "Settings": "panel.settings",
    "resolve_settings": "panel.settings",
    "RevisionConflict": "panel.store.revisions",
    "change_verdict": "panel.store.revisions",
    "history": "panel.store.revisions",
    "is_locked": "panel.store.revisions",
    "verdict_from_values": "panel.store.revisions",
    "load_transcript": "panel.store.transcripts",
}

__all__ = sorted(PUBLIC_NAMES)


def __getattr__(name: str) -> Any:
    module = PUBLIC_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'panel' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup skips this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *PUBLIC_NAMES})
