"""`panel batch`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from panel.cli.common import (
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    CacheOption,
    JsonOption,
    NoCacheOption,
    app,
    notice,
    print_error,
    print_json,
    quiet_notice,
    reporting_errors,
    resume_command,
    stderr,
    stdout,
)
from panel.cli.settings_flags import NO_FLAGS, SettingsFlags, settings_flags

if TYPE_CHECKING:
    from panel.batch.run import BatchSummary

BatchOutOption = Annotated[
    Path | None,
    typer.Option(
        "--out",
        metavar="DIR",
        help="Folder for transcripts and manifest.jsonl [default: batches/INPUT-NAME] [env: PANEL_OUT].",
    ),
]


@app.command()
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
    "gguf",
)
def batch(
    input_path: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT",
            help="A .jsonl or .csv file of tool cards (one per line or row), or a folder of card files.",
        ),
    ],
    flags: SettingsFlags = NO_FLAGS,
    out: BatchOutOption = None,
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", min=1, metavar="N", help="Panels in flight [default: slots × hosts]."),
    ] = None,
    slots: Annotated[
        int,
        typer.Option(
            "--slots", min=1, metavar="N", help="Model calls in flight per host; match OLLAMA_NUM_PARALLEL."
        ),
    ] = 4,
    cache: CacheOption = None,
    no_cache: NoCacheOption = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress and no summary table (--json still prints).")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Redo panels an editor has rerun, edited or locked.")
    ] = False,
    as_json: JsonOption = False,
    results_csv: Annotated[
        Path | None,
        typer.Option(
            "--results-csv",
            metavar="FILE",
            help="Also write one row per tool (ship %, complete, failed, transcript) as CSV.",
        ),
    ] = None,
) -> None:
    """Run the panel on every card of a file or folder.

    Resumable, cached, spread over several hosts.

    Exit 0 when every valid row has a complete panel; 1 when a row was skipped or a panel is incomplete.
    Interrupted (Ctrl-C) or not, it ends by saying how many rows are done and the command that resumes.
    """
    from panel.batch.run import BatchOptions, run_batch_async
    from panel.cli.batch_display import BatchProgressView, print_batch_summary

    with reporting_errors():
        settings = flags.settings(out=out)
        options = BatchOptions(
            hosts=flags.hosts or [],
            slots=slots,
            concurrency=concurrency,
            cache_path=cache,
            use_cache=not no_cache,
            force=force,
        )
        with BatchProgressView(stderr, quiet=quiet) as view:
            try:
                summary = asyncio.run(
                    run_batch_async(
                        input_path,
                        settings,
                        options,
                        progress=view.update,
                        notice=quiet_notice if quiet else notice,
                    )
                )
            except KeyboardInterrupt:
                report_interrupted(view.latest)
        if results_csv is not None:
            from panel.batch.results import results_csv as csv_text
            from panel.store.transcripts import write_file

            write_file(results_csv, csv_text(summary.results), f"Cannot write {results_csv}")
            notice(f"Wrote {results_csv}")
    if as_json:
        print_json({**summary.model_dump(mode="json"), "ok": summary.ok, "resume": resume_command()})
    elif not quiet:
        print_batch_summary(stdout, summary, resume_command())
    raise typer.Exit(EXIT_OK if summary.ok else EXIT_INCOMPLETE)


def report_interrupted(summary: BatchSummary | None) -> None:
    """Ctrl-C: how far the batch got and the command that goes on from there (exit 130)."""
    done = f"{summary.done} of {summary.total} rows done" if summary and summary.total else "no row done yet"
    print_error(
        f"Interrupted ({done}); finished panels are kept. Resume with: {resume_command()}",
        "Interrupted",
        EXIT_INTERRUPTED,
    )
    raise typer.Exit(EXIT_INTERRUPTED)
