"""`panel eval`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from panel.cli.common import (
    EXIT_INCOMPLETE,
    EXIT_OK,
    CacheOption,
    JsonOption,
    NoCacheOption,
    app,
    notice,
    print_json,
    reporting_errors,
    stderr,
    stdout,
)
from panel.cli.settings_flags import NO_FLAGS, SettingsFlags, settings_flags
from panel.errors import ConfigError

if TYPE_CHECKING:
    from panel.measure.baseline import Change, ThresholdCheck
    from panel.measure.matrix import MatrixReport, Variant
    from panel.measure.report import EvalReport


def threshold_option(flag: str, when: str) -> Any:
    """A repeatable METRIC=VALUE threshold option: exit 1 when the metric is `when`."""
    return Annotated[
        list[str] | None,
        typer.Option(flag, metavar="METRIC=VALUE", help=f"METRIC=VALUE: exit 1 when the metric is {when}."),
    ]


@app.command(name="eval")
@settings_flags(
    "backend",
    "hosts",
    "model",
    "persona_model",
    "seed",
    "temperature",
    "timeout",
    "personas",
    "prompts",
    "out",
    "gguf",
)
def eval_suite(
    suite: Annotated[
        Path,
        typer.Argument(
            metavar="SUITE", help="A folder of labelled card files, or a .jsonl file of labelled cards."
        ),
    ],
    flags: SettingsFlags = NO_FLAGS,
    samples: Annotated[
        int,
        typer.Option(
            "--samples", metavar="N", min=1, max=20, help="Panels per card; 2 or more measure stability."
        ),
    ] = 1,
    slots: Annotated[
        int, typer.Option("--slots", metavar="N", min=1, help="Model calls in flight per host.")
    ] = 4,
    cache: CacheOption = None,
    no_cache: NoCacheOption = False,
    baseline: Annotated[
        Path | None,
        typer.Option(
            "--baseline", metavar="REPORT.json", help="An earlier eval report (JSON) to compare with."
        ),
    ] = None,
    fail_under: threshold_option("--fail-under", "below VALUE; repeatable") = None,
    fail_over: threshold_option("--fail-over", "above VALUE (echo_rate...)") = None,
    variant: Annotated[
        list[str] | None,
        typer.Option(
            "--variant",
            metavar="NAME:key=value,...",
            help="Run the suite under this variant of the settings too, side by side (repeatable); "
            "keys: backend, host, model, gguf, prompts, personas, seed, temperature, attempts, num_ctx.",
        ),
    ] = None,
    models: Annotated[
        str | None,
        typer.Option("--models", metavar="A,B", help="One variant per model, side by side."),
    ] = None,
    prompt_sets: Annotated[
        str | None,
        typer.Option(
            "--prompt-sets", metavar="DIR,DIR", help="One variant per prompt set folder, side by side."
        ),
    ] = None,
    rescore: Annotated[
        bool,
        typer.Option(
            "--rescore",
            help="Score the transcripts an earlier eval left in the output folder again, with no "
            "model call (after a change to the metrics, or to set earlier runs side by side).",
        ),
    ] = False,
    output_format: Annotated[
        Literal["table", "md", "json"], typer.Option("--format", help="table, md (Markdown) or json.")
    ] = "table",
    as_json: JsonOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines.")] = False,
) -> None:
    """Run the panel over a labelled suite and report how good its verdicts are.

    Leads with what the model wrote, over every reply (echo, degenerate, contradicting the card,
    unreadable, valid at first try, calls per valid review), then what the gates refused, then
    what was published (validity, complete panels, grounding checked against the card's facts,
    persona distinctness) and the calls (agreement and kappa, discrimination, with --samples 2+
    stability). Each figure shows what it rests on ("0% (0 of 1)"); † marks one resting on fewer
    than 5 cards. With --variant, --models or --prompt-sets, each variant is a whole eval in
    OUT/NAME/ and the variants print side by side. Resumable and cached like `panel batch`. Exit 1
    when a --fail-under or --fail-over threshold is missed (each is shown with ✓ or ✗).
    """
    from panel.cli.batch_display import BatchProgressView
    from panel.measure.baseline import check_thresholds, compare_reports, load_report, parse_threshold
    from panel.measure.evaluation import EvalOptions, run_eval_async
    from panel.measure.matrix import run_matrix_async

    with reporting_errors():
        settings = flags.settings()
        thresholds = [parse_threshold(text, under=True) for text in fail_under or []]
        thresholds += [parse_threshold(text, under=False) for text in fail_over or []]
        variants = matrix_variants(variant or [], models, prompt_sets)
        if variants and baseline is not None:
            raise ConfigError(
                "--baseline compares one eval with an earlier one; run it without --variant, "
                "--models or --prompt-sets."
            )
        earlier = load_report(baseline) if baseline else None
        options = EvalOptions(
            samples=samples,
            hosts=flags.hosts or [],
            slots=slots,
            cache_path=cache,
            use_cache=not no_cache,
            rescore=rescore,
        )
        with BatchProgressView(stderr, quiet=quiet) as view:
            if variants:
                matrix, path = asyncio.run(
                    run_matrix_async(
                        suite,
                        settings,
                        variants,
                        options,
                        progress=view.update,
                        notice=None if quiet else notice,
                    )
                )
            else:
                report, path = asyncio.run(
                    run_eval_async(
                        suite, settings, options, progress=view.update, notice=None if quiet else notice
                    )
                )
    output = "json" if as_json else output_format
    if variants:
        checks = {result.name: check_thresholds(result.report, thresholds) for result in matrix.variants}
        failures = [
            f"{name}: {check.failure}"
            for name, found in checks.items()
            for check in found
            if not check.passed
        ]
        show_matrix(matrix, str(path), checks, failures, output)
    else:
        changes = compare_reports(earlier, report) if earlier else None
        found = check_thresholds(report, thresholds)
        failures = [check.failure for check in found if not check.passed]
        show_report(report, str(path), changes, found, failures, output, baseline)
    for failure in failures:
        stderr.print(f"Threshold missed: {failure}", highlight=False)
    raise typer.Exit(EXIT_INCOMPLETE if failures else EXIT_OK)


def matrix_variants(texts: list[str], models: str | None, prompt_sets: str | None) -> list[Variant]:
    """The variants the options name, in order: --variant, then --models, then --prompt-sets."""
    from panel.measure.matrix import Variant, model_variants, parse_variant
    from panel.store.transcripts import safe_slug

    variants = [parse_variant(text) for text in texts]
    variants += model_variants([name.strip() for name in (models or "").split(",") if name.strip()])
    folders = [folder.strip() for folder in (prompt_sets or "").split(",") if folder.strip()]
    variants += [
        Variant(name=safe_slug(Path(folder).name), changes={"prompts": folder}) for folder in folders
    ]
    return variants


def show_report(
    report: EvalReport,
    path: str,
    changes: list[Change] | None,
    checks: list[ThresholdCheck],
    failures: list[str],
    output: str,
    baseline: Path | None,
) -> None:
    from panel.cli.eval_display import eval_markdown, print_eval

    if output == "json":
        data = report.model_dump(mode="json")
        if changes is not None:
            data["baseline"] = {"path": str(baseline), "changes": [change.model_dump() for change in changes]}
        data["thresholds"] = [check.model_dump() for check in checks]
        data["failures"] = failures
        print_json(data)
    elif output == "md":
        typer.echo(eval_markdown(report, changes, checks), nl=False)
    else:
        print_eval(stdout, report, changes, path, checks)


def show_matrix(
    matrix: MatrixReport,
    path: str,
    checks: dict[str, list[ThresholdCheck]],
    failures: list[str],
    output: str,
) -> None:
    from panel.cli.eval_matrix import matrix_markdown, print_matrix

    if output == "json":
        data = matrix.model_dump(mode="json")
        data["thresholds"] = {name: [check.model_dump() for check in found] for name, found in checks.items()}
        data["failures"] = failures
        print_json(data)
    elif output == "md":
        typer.echo(matrix_markdown(matrix, checks), nl=False)
    else:
        print_matrix(stdout, matrix, path, checks)
