"""`panel batch`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

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
    quiet_notice,
    reporting_errors,
    stderr,
    stdout,
)
from panel.cli.settings_flags import NO_FLAGS, SettingsFlags, settings_flags

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
) -> None:
    """Run the panel on every card of a file or folder.

    Resumable, cached, spread over several hosts.

    Exit 0 when every valid row has a complete panel; 1 when a row was skipped or a panel is incomplete.
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
            summary = asyncio.run(
                run_batch_async(
                    input_path,
                    settings,
                    options,
                    progress=view.update,
                    notice=quiet_notice if quiet else notice,
                )
            )
    if as_json:
        print_json({**summary.model_dump(mode="json"), "ok": summary.ok})
    elif not quiet:
        print_batch_summary(stdout, summary)
    raise typer.Exit(EXIT_OK if summary.ok else EXIT_INCOMPLETE)
