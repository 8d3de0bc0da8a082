"""One suite under several variants of the settings (models, GGUFs, prompt sets, persona sets,
seeds), scored side by side: the promptfoo matrix in this project's terms.

A variant is a name and the settings it changes, `NAME:key=value,key=value`, e.g.
`small:backend=embedded` and `v2:prompts=examples/prompts-v2`. Each variant is a whole eval
(panel.measure.evaluation) in OUT/NAME/, resumable and cached like one; the matrix report
holds every variant's report and is written to OUT/eval-SUITE-matrix.json.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from panel.batch.run import Progress
from panel.engine.runner import Notice
from panel.errors import ConfigError, describe_validation_error
from panel.measure.evaluation import OTHER_FOLDER, EvalOptions, run_eval_async
from panel.measure.report import EvalReport
from panel.records.transcript import Document
from panel.settings import Settings
from panel.store.transcripts import now_utc, safe_slug, write_file

# What a variant may change: its key -> the setting.
VARIANT_KEYS = {
    "backend": "backend",
    "host": "host",
    "model": "model",
    "gguf": "gguf",
    "prompts": "prompts_dir",
    "personas": "personas_dir",
    "seed": "seed",
    "temperature": "temperature",
    "attempts": "attempts",
    "num_ctx": "num_ctx",
}
VARIANT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
VARIANT_FORM = "NAME:key=value,key=value (e.g. small:backend=embedded or v2:prompts=prompts-v2)"


class Variant(BaseModel):
    """One column of the matrix: a name and the settings it changes."""

    name: str
    changes: dict[str, str] = Field(default_factory=dict)


class VariantReport(BaseModel):
    name: str
    changes: dict[str, str]
    report_path: str
    report: EvalReport


class MatrixReport(Document):
    kind: Literal["eval-matrix"] = "eval-matrix"
    suite: str
    out_dir: str
    variants: list[VariantReport]


def parse_variant(text: str) -> Variant:
    """NAME:key=value,... as a Variant; a ConfigError saying the form when it is not one."""
    name, colon, rest = text.partition(":")
    name = name.strip()
    if not VARIANT_NAME.fullmatch(name):
        raise ConfigError(
            f"Variant {text!r} needs a name of letters, digits, '.', '_' or '-' (up to 40) before "
            f"the colon: {VARIANT_FORM}."
        )
    changes: dict[str, str] = {}
    for pair in filter(None, (part.strip() for part in rest.split(",") if colon)):
        key, equals, value = pair.partition("=")
        key = key.strip()
        if not equals or key not in VARIANT_KEYS or not value.strip():
            raise ConfigError(
                f"Variant {name!r}: {pair!r} must be key=value with a key among "
                f"{', '.join(VARIANT_KEYS)}: {VARIANT_FORM}."
            )
        changes[key] = value.strip()
    return Variant(name=name, changes=changes)


def model_variants(models: list[str]) -> list[Variant]:
    """One variant per model name, named after it (`llama3.1:8b` -> `llama3.1-8b`)."""
    return [Variant(name=safe_slug(model), changes={"model": model}) for model in models]


def check_variants(variants: list[Variant]) -> None:
    if len(variants) < 2:
        raise ConfigError("A matrix needs two variants or more to set side by side.")
    names = [variant.name for variant in variants]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(f"Each variant needs a name of its own; repeated: {', '.join(repeated)}.")


def variant_settings(base: Settings, variant: Variant) -> Settings:
    """The base settings with the variant's changes, writing under OUT/NAME/."""
    data: dict[str, Any] = base.model_dump()
    if "model" in variant.changes:
        data["persona_models"] = {}
    data.update({VARIANT_KEYS[key]: value for key, value in variant.changes.items()})
    data["out_dir"] = Path(base.out_dir) / variant.name
    try:
        return Settings.model_validate(data)
    except ValidationError as error:
        raise ConfigError(f"Variant {variant.name!r}: {describe_validation_error(error)}.") from None


async def run_matrix_async(
    suite_path: str | Path,
    settings: Settings,
    variants: list[Variant],
    options: EvalOptions | None = None,
    *,
    progress: Progress | None = None,
    notice: Notice | None = None,
) -> tuple[MatrixReport, Path]:
    """Run (or resume) the suite under each variant in turn; the saved matrix report and its path."""
    check_variants(variants)
    every_settings = [variant_settings(settings, variant) for variant in variants]
    started = now_utc()
    results = []
    for variant, variant_settings_ in zip(variants, every_settings, strict=True):
        if notice is not None:
            notice(f"Variant {variant.name}: {describe_changes(variant.changes)}")
        report, path = await run_eval_async(
            suite_path, variant_settings_, options, progress=progress, notice=notice
        )
        results.append(
            VariantReport(name=variant.name, changes=variant.changes, report_path=str(path), report=report)
        )
    matrix = MatrixReport(
        created_at=started, suite=results[0].report.suite, out_dir=str(settings.out_dir), variants=results
    )
    path = Path(settings.out_dir) / f"eval-{safe_slug(matrix.suite)}-matrix.json"
    write_file(
        path,
        matrix.model_dump_json(indent=2) + "\n",
        f"Cannot write the matrix report to {path}",
        hint=OTHER_FOLDER,
    )
    return matrix, path


def describe_changes(changes: dict[str, str]) -> str:
    return ", ".join(f"{key}={value}" for key, value in changes.items()) or "the settings as given"
