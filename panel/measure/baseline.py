"""Judge an eval report: its differences from a baseline report, and CI thresholds."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ValidationError

from panel.errors import ConfigError, TranscriptError, describe_validation_error
from panel.measure.report import LOWER_IS_BETTER, NEITHER_BETTER, PANEL_METRICS, PERSONA_METRICS, EvalReport
from panel.measure.suite import unreadable_json
from panel.regular_files import FileKind, read_regular_text

GIVE_A_REPORT = "Give the eval-report.json that an earlier eval wrote in its output folder."
REPORT_FILE = FileKind(noun="eval report", expected="an eval report (.json)", error=TranscriptError)


def load_report(path: str | Path) -> EvalReport:
    """An earlier eval report; a TranscriptError naming the file when it cannot be one."""
    path = Path(path)
    try:
        data = json.loads(read_regular_text(path, REPORT_FILE))
    except RecursionError:
        raise TranscriptError(
            f"{path} is nested too deeply to be an eval report.", hint=GIVE_A_REPORT
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TranscriptError(f"{path} is not a readable JSON file ({error}).", hint=GIVE_A_REPORT) from None
    except ValueError as error:
        raise TranscriptError(
            f"{path} {unreadable_json(error)}: it is not an eval report.", hint=GIVE_A_REPORT
        ) from None
    if not isinstance(data, dict) or data.get("kind") != "eval":
        raise TranscriptError(f"{path} is not an eval report.", hint=GIVE_A_REPORT)
    try:
        return EvalReport.model_validate(data)
    except ValidationError as error:
        raise TranscriptError(
            f"{path} is not an eval report this version can compare with: {describe_validation_error(error)}.",
            hint=GIVE_A_REPORT,
        ) from None


class Change(BaseModel):
    scope: str
    metric: str
    before: float | None
    after: float | None
    delta: float | None
    better: bool | None


def compare_reports(baseline: EvalReport, report: EvalReport) -> list[Change]:
    """Each metric of the overall and per-persona tables, before and after."""
    scopes = [("overall", baseline.overall, report.overall)] + [
        (persona, baseline.personas.get(persona, {}), metrics) for persona, metrics in report.personas.items()
    ]
    changes = []
    for scope, before_metrics, after_metrics in scopes:
        for metric, after in after_metrics.items():
            before = before_metrics.get(metric)
            delta = None if before is None or after is None else round(after - before, 4)
            better = (
                None if not delta or metric in NEITHER_BETTER else (delta < 0) == (metric in LOWER_IS_BETTER)
            )
            changes.append(
                Change(scope=scope, metric=metric, before=before, after=after, delta=delta, better=better)
            )
    return changes


@dataclass(frozen=True)
class Threshold:
    scope: str
    metric: str
    value: float
    under: bool


def parse_threshold(text: str, under: bool) -> Threshold:
    """METRIC=VALUE or PERSONA.METRIC=VALUE, e.g. agreement=0.7 or dx.echo_rate=0.1."""
    name, separator, value = text.partition("=")
    scope, dot, metric = name.strip().rpartition(".")
    known = (*PERSONA_METRICS, *PANEL_METRICS)
    try:
        number = float(value)
    except ValueError:
        number = None
    if not separator or number is None or metric not in known:
        raise ConfigError(
            f"{text!r} must look like METRIC=VALUE (or PERSONA.METRIC=VALUE), e.g. agreement=0.7; "
            f"metrics: {', '.join(known)}."
        )
    return Threshold(scope=scope if dot else "overall", metric=metric, value=number, under=under)


class ThresholdCheck(BaseModel):
    """One threshold against the report: `passed` is False for a miss, and for a metric that
    could not be measured."""

    name: str
    metric: str
    limit: float
    under: bool
    value: float | None
    passed: bool

    @property
    def failure(self) -> str:
        if self.value is None:
            return f"{self.name} was not measured (needs {self.limit})"
        return f"{self.name} is {self.value:.3f}, {'under' if self.under else 'over'} {self.limit}"


def check_thresholds(report: EvalReport, thresholds: Sequence[Threshold]) -> list[ThresholdCheck]:
    """Each threshold, met or missed, in the order given."""
    checks = []
    for threshold in thresholds:
        metrics = report.overall if threshold.scope == "overall" else report.personas.get(threshold.scope, {})
        value = metrics.get(threshold.metric)
        name = threshold.metric if threshold.scope == "overall" else f"{threshold.scope}.{threshold.metric}"
        passed = value is not None and (
            value >= threshold.value if threshold.under else value <= threshold.value
        )
        checks.append(
            ThresholdCheck(
                name=name,
                metric=threshold.metric,
                limit=threshold.value,
                under=threshold.under,
                value=value,
                passed=passed,
            )
        )
    return checks


def failed_thresholds(report: EvalReport, thresholds: Sequence[Threshold]) -> list[str]:
    """A line for each threshold the report misses; a metric that could not be measured misses."""
    return [check.failure for check in check_thresholds(report, thresholds) if not check.passed]
