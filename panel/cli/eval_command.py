"""`panel eval`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any, Literal

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


def threshold_option(flag: str, when: str) -> Any:
    """A repeatable METRIC=VALUE threshold option: exit 1 when the metric is `when`."""
    return Annotated[
        list[str] | None,
        typer.Option(flag, metavar="METRIC=VALUE", help=f"METRIC=VALUE: exit 1 when the metric is {when}."),
    ]


@app.command(name="eval")
@settings_flags(
    "backend", "hosts", "model", "persona_model", "seed", "temperature", "timeout", "personas", "out", "gguf"
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
    output_format: Annotated[
        Literal["table", "md", "json"], typer.Option("--format", help="table, md (Markdown) or json.")
    ] = "table",
    as_json: JsonOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines.")] = False,
) -> None:
    """Run the panel over a labelled suite and report how good its verdicts are.

    Measures agreement with the labels (and Cohen's kappa), discrimination between ship and skip
    cards, echo, degenerate and grounding rates, persona distinctness, validity and (with
    --samples 2+) stability. Each figure shows what it rests on ("0% (0 of 1)"); † marks one
    resting on fewer than 5 cards. Resumable and cached like `panel batch`. Exit 1 when a
    --fail-under or --fail-over threshold is missed (each is shown with ✓ or ✗).
    """
    from panel.cli.batch_display import BatchProgressView
    from panel.cli.eval_display import eval_markdown, print_eval
    from panel.measure.baseline import check_thresholds, compare_reports, load_report, parse_threshold
    from panel.measure.evaluation import EvalOptions, run_eval_async

    with reporting_errors():
        settings = flags.settings()
        thresholds = [parse_threshold(text, under=True) for text in fail_under or []]
        thresholds += [parse_threshold(text, under=False) for text in fail_over or []]
        earlier = load_report(baseline) if baseline else None
        options = EvalOptions(
            samples=samples, hosts=flags.hosts or [], slots=slots, cache_path=cache, use_cache=not no_cache
        )
        with BatchProgressView(stderr, quiet=quiet) as view:
            report, path = asyncio.run(
                run_eval_async(
                    suite, settings, options, progress=view.update, notice=None if quiet else notice
                )
            )
    changes = compare_reports(earlier, report) if earlier else None
    checks = check_thresholds(report, thresholds)
    failures = [check.failure for check in checks if not check.passed]
    if as_json or output_format == "json":
        data = report.model_dump(mode="json")
        if changes is not None:
            data["baseline"] = {"path": str(baseline), "changes": [change.model_dump() for change in changes]}
        data["thresholds"] = [check.model_dump() for check in checks]
        data["failures"] = failures
        print_json(data)
    elif output_format == "md":
        typer.echo(eval_markdown(report, changes, checks), nl=False)
    else:
        print_eval(stdout, report, changes, str(path), checks)
    for failure in failures:
        stderr.print(f"Threshold missed: {failure}", highlight=False)
    raise typer.Exit(EXIT_INCOMPLETE if failures else EXIT_OK)
