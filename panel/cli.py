"""The `panel` command: parse flags, call the library, show the result. Errors end here."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from panel import diff_display, display
from panel.aggregate import compare_aggregates
from panel.config import Settings, resolve_settings
from panel.diff import FAIL_ON_CHOICES, diff_paths, diff_to_json, should_fail
from panel.editing import (
    Choice,
    RevisionResult,
    edit_verdict,
    history,
    rerun_persona_async,
)
from panel.errors import ConfigError, PanelError
from panel.personas import load_personas
from panel.render import load_for_render, load_votes, render_diff, render_page
from panel.review import review_panel_async
from panel.runner import PanelResult, compare_tools_async, panel_version, run_panel_async
from panel.stability import sample_stability_async, stability_of_folder
from panel.transcripts import (
    ComparisonTranscript,
    PanelTranscript,
    load_transcript,
    resolve_side,
    summarize_comparison,
    summarize_panel,
    write_atomic,
)
from panel.verdicts import PersonaReview

EXIT_OK, EXIT_INCOMPLETE, EXIT_BAD_INPUT, EXIT_BACKEND = 0, 1, 2, 3

app = typer.Typer(
    name="panel",
    help="A panel of reviewer personas, backed by self-hosted models, judges a software or AI tool.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # help text shows [env: ...] literally
)
stdout = Console(soft_wrap=False)
stderr = Console(stderr=True)
state = {"debug": False}


@contextmanager
def reporting_errors() -> Iterator[None]:
    """The one place a PanelError becomes a message and an exit code (`--debug` re-raises)."""
    try:
        yield
    except PanelError as error:
        if state["debug"]:
            raise
        display.print_error(stderr, str(error))
        raise typer.Exit(error.exit_code) from None
    except KeyboardInterrupt:
        stderr.print("Interrupted; finished transcripts are kept.")
        raise typer.Exit(130) from None


def notice(message: str) -> None:
    stderr.print(message, style="dim", highlight=False, soft_wrap=True)  # one line, greppable


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def parse_persona_models(pairs: list[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    models = {}
    for pair in pairs:
        persona_id, sep, model = pair.partition("=")
        if not sep or not persona_id.strip() or not model.strip():
            raise ConfigError(f"--persona-model {pair!r} must look like ID=MODEL, e.g. dx=qwen3:8b.")
        models[persona_id.strip()] = model.strip()
    return models


BackendOption = Annotated[
    str | None,
    typer.Option("--backend", help="auto (Ollama if it answers, else embedded), ollama or embedded."),
]
HostOption = Annotated[str | None, typer.Option("--host", help="Ollama server URL [env: OLLAMA_HOST].")]
ModelOption = Annotated[
    str | None, typer.Option("--model", help="One model for every persona [env: PANEL_MODEL].")
]
PersonaModelOption = Annotated[
    list[str] | None, typer.Option("--persona-model", help="ID=MODEL for one persona; repeatable.")
]
SeedOption = Annotated[
    int | None, typer.Option("--seed", help="Sampling seed (random and recorded if unset).")
]
TemperatureOption = Annotated[
    float | None, typer.Option("--temperature", help="Override every persona's temperature.")
]
TimeoutOption = Annotated[float | None, typer.Option("--timeout", help="Seconds one model call may take.")]
PersonasOption = Annotated[Path | None, typer.Option("--personas", help="Folder of persona .toml files.")]
OutOption = Annotated[
    Path | None, typer.Option("--out", help="Folder for transcripts [default: transcripts].")
]
GgufOption = Annotated[
    Path | None,
    typer.Option("--gguf", help="GGUF file for the embedded backend [env: PANEL_GGUF]."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]


def settings_from_flags(**flags: Any) -> Settings:
    flags["persona_models"] = parse_persona_models(flags.pop("persona_model"))
    flags["personas_dir"] = flags.pop("personas")
    flags["out_dir"] = flags.pop("out")
    return resolve_settings({key: value for key, value in flags.items() if value is not None})


@app.callback(invoke_without_command=True)
def main_options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks instead of short messages.")
    ] = False,
    show_version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    state["debug"] = debug
    if show_version:
        typer.echo(f"reviewer-panel {panel_version()}")
        raise typer.Exit(EXIT_OK)


@app.command()
def run(
    card: Annotated[Path, typer.Argument(help="Tool card: .toml, .yaml or .json.")],
    backend: BackendOption = None,
    host: HostOption = None,
    model: ModelOption = None,
    persona_model: PersonaModelOption = None,
    seed: SeedOption = None,
    temperature: TemperatureOption = None,
    timeout: TimeoutOption = None,
    personas: PersonasOption = None,
    out: OutOption = None,
    gguf: GgufOption = None,
    as_json: JsonOption = False,
    review: Annotated[
        bool,
        typer.Option("--review", help="Pause before the tally to accept, lock, rerun or edit each verdict."),
    ] = False,
    by: ByOption = None,
) -> None:
    """Run the panel on one tool card and write its transcript."""
    with reporting_errors():
        settings = settings_from_flags(
            backend=backend,
            host=host,
            model=model,
            persona_model=persona_model,
            seed=seed,
            temperature=temperature,
            timeout=timeout,
            personas=personas,
            out=out,
            gguf=gguf,
        )
        if review:
            result = asyncio.run(review_in_terminal(card, settings, by))
        else:
            with (
                stderr.status("The panel is reviewing…", spinner="dots")
                if stderr.is_terminal
                else nullstatus()
            ):
                result = asyncio.run(run_panel_async(card, settings, notice=notice))
    if as_json:
        print_json(summarize_panel(result.transcript, result.path))
    else:
        display.print_panel(stdout, result.transcript, result.path)
    raise typer.Exit(EXIT_INCOMPLETE if result.transcript.aggregate.incomplete else EXIT_OK)


@app.command()
def compare(
    card_a: Annotated[Path, typer.Argument(help="First tool card.")],
    card_b: Annotated[Path, typer.Argument(help="Second tool card.")],
    backend: BackendOption = None,
    host: HostOption = None,
    model: ModelOption = None,
    persona_model: PersonaModelOption = None,
    seed: SeedOption = None,
    temperature: TemperatureOption = None,
    timeout: TimeoutOption = None,
    personas: PersonasOption = None,
    out: OutOption = None,
    gguf: GgufOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run the panel on two tools and say which one to ship with."""
    with reporting_errors():
        settings = settings_from_flags(
            backend=backend,
            host=host,
            model=model,
            persona_model=persona_model,
            seed=seed,
            temperature=temperature,
            timeout=timeout,
            personas=personas,
            out=out,
            gguf=gguf,
        )
        with (
            stderr.status("The panel is reviewing both tools…", spinner="dots")
            if stderr.is_terminal
            else nullstatus()
        ):
            result = asyncio.run(compare_tools_async(card_a, card_b, settings, notice=notice))
    if as_json:
        a = summarize_panel(result.a.transcript, result.a.path)
        b = summarize_panel(result.b.transcript, result.b.path)
        print_json(summarize_comparison(result.transcript, a, b, result.path))
    else:
        display.print_panel(stdout, result.a.transcript, result.a.path)
        display.print_panel(stdout, result.b.transcript, result.b.path)
        display.print_comparison(stdout, result.transcript, result.path)
    incomplete = result.a.transcript.aggregate.incomplete or result.b.transcript.aggregate.incomplete
    raise typer.Exit(EXIT_INCOMPLETE if incomplete else EXIT_OK)


@app.command()
def show(
    transcript: Annotated[Path, typer.Argument(help="A transcript written by run or compare.")],
    as_json: JsonOption = False,
) -> None:
    """Show a saved panel (or comparison): the verdict table, then the quotes."""
    with reporting_errors():
        loaded = load_transcript(transcript)
        if isinstance(loaded, PanelTranscript):
            if as_json:
                print_json(summarize_panel(loaded, transcript))
            else:
                display.print_panel(stdout, loaded, transcript)
            return
        show_comparison(loaded, transcript, as_json)


def show_comparison(loaded: ComparisonTranscript, path: Path, as_json: bool) -> None:
    """Both panels as they are now (an editor may have changed one since), and the call again."""
    sides = [resolve_side(side, path) for side in (loaded.a_transcript, loaded.b_transcript)]
    panels = []
    for side in sides:
        side_transcript = load_transcript(side)
        if not isinstance(side_transcript, PanelTranscript):
            raise PanelError(f"{side} should be a panel transcript, but it is a {side_transcript.kind}.")
        panels.append(side_transcript)
    a_panel, b_panel = panels
    loaded = loaded.model_copy(
        update={
            "a_aggregate": a_panel.aggregate,
            "b_aggregate": b_panel.aggregate,
            "comparison": compare_aggregates(
                a_panel.aggregate, b_panel.aggregate, a_panel.card.name, b_panel.card.name
            ),
        }
    )
    if as_json:
        a, b = (summarize_panel(panel, side) for panel, side in zip(panels, sides, strict=True))
        print_json(summarize_comparison(loaded, a, b, path))
        return
    for panel, side in zip(panels, sides, strict=True):
        display.print_panel(stdout, panel, side)
    display.print_comparison(stdout, loaded, path)


@app.command("personas")
def list_personas(
    persona_id: Annotated[
        str | None, typer.Argument(metavar="[ID]", help="Show this persona in full.")
    ] = None,
    personas: PersonasOption = None,
) -> None:
    """List the reviewers, or show one in full."""
    with reporting_errors():
        loaded = load_personas(personas or resolve_settings().personas_dir)
        if persona_id is None:
            display.print_personas(stdout, loaded)
            return
        match = next((item for item in loaded if item.persona.id == persona_id), None)
        if match is None:
            raise PanelError(
                f"No persona {persona_id!r}; the panel has {', '.join(item.persona.id for item in loaded)}."
            )
        display.print_persona(stdout, match)


# --- editor workflow: rerun, edit, review, stability -----------------------------------------

PersonaIdOption = Annotated[str, typer.Option("--persona", help="The persona's id, e.g. dx.")]
ByOption = Annotated[
    str | None, typer.Option("--by", help="Who is editing [default: git user.name, else the OS user].")
]
NoteOption = Annotated[str | None, typer.Option("--note", help="Why; kept in the revision.")]
REVIEW_ANSWERS = {"a": "accept", "l": "lock", "r": "rerun", "e": "edit"}


def print_revision(result: RevisionResult, as_json: bool) -> None:
    if as_json:
        summary = summarize_panel(result.transcript, result.path)
        summary["revision"] = history(result.transcript)[-1].model_dump(mode="json", exclude={"reviews"})
        print_json(summary)
    else:
        display.print_panel(stdout, result.transcript, result.path)
    raise typer.Exit(EXIT_INCOMPLETE if result.transcript.aggregate.incomplete else EXIT_OK)


@app.command()
def rerun(
    transcript: Annotated[Path, typer.Argument(help="A panel transcript written by run.")],
    persona: PersonaIdOption,
    model: Annotated[
        str | None, typer.Option("--model", help="Model for this persona [default: the one recorded].")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Sampling seed [default: a fresh one].")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the verdict even if it is locked.")] = False,
    personas: Annotated[
        Path | None,
        typer.Option("--personas", help="Use this folder's current persona file, not the one recorded."),
    ] = None,
    note: NoteOption = None,
    backend: BackendOption = None,
    host: HostOption = None,
    timeout: TimeoutOption = None,
    gguf: GgufOption = None,
    as_json: JsonOption = False,
) -> None:
    """Sample one persona's verdict again, keep the others, tally again; saved as a new revision."""
    with reporting_errors():
        settings = settings_from_flags(
            backend=backend,
            host=host,
            model=None,
            persona_model=None,
            seed=None,
            temperature=None,
            timeout=timeout,
            personas=None,
            out=None,
            gguf=gguf,
        )
        with (
            stderr.status(f"{persona} is reviewing again…", spinner="dots")
            if stderr.is_terminal
            else nullstatus()
        ):
            result = asyncio.run(
                rerun_persona_async(
                    transcript,
                    persona,
                    settings,
                    model=model,
                    seed=seed,
                    force=force,
                    personas_dir=personas,
                    note=note,
                    notice=notice,
                )
            )
    print_revision(result, as_json)


@app.command()
def edit(
    transcript: Annotated[Path, typer.Argument(help="A panel transcript written by run.")],
    persona: PersonaIdOption,
    lock: Annotated[
        bool, typer.Option("--lock", help="Lock the verdict: rerun and batch leave it alone.")
    ] = False,
    unlock: Annotated[bool, typer.Option("--unlock", help="Remove the lock.")] = False,
    by: ByOption = None,
    note: NoteOption = None,
    as_json: JsonOption = False,
) -> None:
    """Edit one verdict in $EDITOR, checked against the persona's schema; saved as a new revision."""
    with reporting_errors():
        result = edit_verdict(transcript, persona, lock=lock, unlock=unlock, by=by, note=note)
    if result.review is None:
        stderr.print(f"No change to {persona}; the transcript was not touched.", highlight=False)
        raise typer.Exit(EXIT_OK)
    print_revision(result, as_json)


def choose_in_terminal(reviews: list[PersonaReview], open_ids: list[str]) -> dict[str, Choice]:
    """Show the verdicts, then ask for each persona still open: accept, lock, rerun or edit."""
    stderr.print(display.reviews_table("Before the tally: accept, lock, rerun or edit", reviews))
    choices: dict[str, Choice] = {}
    for persona_id in open_ids:
        while True:
            try:
                answer = typer.prompt(
                    f"{persona_id}: [a]ccept, [l]ock, [r]erun, [e]dit", default="a", err=True
                )
            except typer.Abort:
                raise PanelError(
                    "The review ended before every verdict had an answer (no more input); nothing was saved."
                ) from None
            choice = REVIEW_ANSWERS.get(answer.strip().lower()[:1])
            if choice:
                choices[persona_id] = choice  # type: ignore[assignment]
                break
            stderr.print("Answer a (accept), l (accept and lock), r (rerun) or e (edit).", highlight=False)
    return choices


async def review_in_terminal(card: Path, settings: Settings, by: str | None) -> PanelResult:
    return await review_panel_async(
        card, settings, choose_in_terminal, by=by, interactive=sys.stdin.isatty(), notice=notice
    )


@app.command()
def stability(
    target: Annotated[Path, typer.Argument(help="A tool card, or a folder of one tool's transcripts.")],
    samples: Annotated[int, typer.Option("--samples", help="How many panels to sample.")] = 5,
    seed: Annotated[
        int | None, typer.Option("--seed", help="First seed; samples use seed, seed+1, … [default: 1].")
    ] = None,
    backend: BackendOption = None,
    host: HostOption = None,
    model: ModelOption = None,
    persona_model: PersonaModelOption = None,
    temperature: TemperatureOption = None,
    timeout: TimeoutOption = None,
    personas: PersonasOption = None,
    out: OutOption = None,
    gguf: GgufOption = None,
    cache: Annotated[
        Path | None,
        typer.Option("--cache", help="Response cache file [default: panel-cache.sqlite beside --out]."),
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the cache.")] = False,
    as_json: JsonOption = False,
) -> None:
    """How much the panel moves between samples: ship and flip rates, ship % interval, wording."""
    with reporting_errors():
        if target.is_dir():
            report, path = stability_of_folder(target)
        else:
            from panel.batch import default_cache_path

            settings = settings_from_flags(
                backend=backend,
                host=host,
                model=model,
                persona_model=persona_model,
                seed=None,
                temperature=temperature,
                timeout=timeout,
                personas=personas,
                out=out,
                gguf=gguf,
            )
            cache_path = None if no_cache else cache or default_cache_path(settings.out_dir)

            def progress(number: int, sample: PanelTranscript) -> None:
                notice(
                    f"Sample {number}/{samples} (seed {sample.seed}): ships {display.ship_pct_text(sample.aggregate.ship_pct)}"
                )

            report, path = asyncio.run(
                sample_stability_async(
                    target,
                    settings,
                    samples,
                    base_seed=seed,
                    cache_path=cache_path,
                    notice=notice,
                    progress=progress,
                )
            )
    if as_json:
        print_json({**report.model_dump(mode="json"), "report": str(path) if path else None})
    else:
        display.print_stability(stdout, report, path)
    raise typer.Exit(EXIT_INCOMPLETE if report.incomplete_samples else EXIT_OK)


# --- diff and render -------------------------------------------------------------------------

EXIT_DIFFERENT = 1
FORMAT_BY_SUFFIX = {".json": "json", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html"}
OutputFileOption = Annotated[
    Path | None, typer.Option("-o", "--output", help="Write to this file (atomically) instead of stdout.")
]


def pick_format(
    requested: str | None, out: Path | None, choices: tuple[str, ...], default: str | None
) -> str | None:
    """--format if given, else the -o file's suffix, else the default (None: the terminal view)."""
    chosen = requested or (FORMAT_BY_SUFFIX.get(out.suffix.lower()) if out else None) or default
    if requested is not None and requested not in choices:
        raise ConfigError(f"--format {requested!r} is not one of {', '.join(choices)}.")
    if chosen not in choices and (chosen is not None or out is not None):
        raise ConfigError(
            f"Cannot tell which format to write {out} in; pass --format ({', '.join(choices)})."
        )
    return chosen


def emit(text: str, out: Path | None) -> None:
    """Print to stdout, or write the file atomically."""
    if out is None:
        typer.echo(text, nl=not text.endswith("\n"))
        return
    try:
        write_atomic(out, text)
    except OSError as error:
        raise PanelError(f"Cannot write {out}: {error}. Choose another -o path.") from None
    notice(f"Wrote {out}")


@app.command("diff")
def diff_runs(
    run_a: Annotated[Path, typer.Argument(help="Transcript, or batch output folder, of run A.")],
    run_b: Annotated[Path, typer.Argument(help="Transcript, or batch output folder, of run B.")],
    fail_on: Annotated[
        str,
        typer.Option(
            "--fail-on",
            help="none, flip (a decision flipped) or any (any verdict changed): when to exit 1.",
        ),
    ] = "flip",
    output_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="json, md or html (default: side by side in the terminal, or the -o file's suffix).",
        ),
    ] = None,
    out: OutputFileOption = None,
) -> None:
    """Diff persona outputs between two runs: decisions, confidence, fields, quotes, provenance."""
    with reporting_errors():
        if fail_on not in FAIL_ON_CHOICES:
            raise ConfigError(f"--fail-on {fail_on!r} is not one of {', '.join(FAIL_ON_CHOICES)}.")
        chosen = pick_format(output_format, out, ("json", "md", "html"), default=None)
        result = diff_paths(run_a, run_b)
        if chosen is None:
            diff_display.print_diff(stdout, result)
        elif chosen == "json":
            emit(json.dumps(diff_to_json(result), indent=2, ensure_ascii=False) + "\n", out)
        else:
            emit(render_diff(result, chosen), out)
    raise typer.Exit(EXIT_DIFFERENT if should_fail(result, fail_on) else EXIT_OK)


@app.command("render")
def render_command(
    transcript: Annotated[Path, typer.Argument(help="Panel transcript (or a comparison transcript).")],
    transcript_b: Annotated[
        Path | None, typer.Argument(help="A second panel transcript, shown side by side.")
    ] = None,
    output_format: Annotated[
        str | None, typer.Option("--format", help="html or md (default: the -o file's suffix, else html).")
    ] = None,
    out: OutputFileOption = None,
    votes: Annotated[
        Path | None,
        typer.Option("--votes", help="Community votes: CSV `tool,up,down` or JSON (see README)."),
    ] = None,
) -> None:
    """Render the page editors publish: one tool, or two side by side, as HTML or Markdown."""
    with reporting_errors():
        chosen = pick_format(output_format, out, ("html", "md"), default="html")
        panels = load_for_render([transcript] + ([transcript_b] if transcript_b else []))
        community = load_votes(votes) if votes else None
        emit(render_page(panels, chosen, community), out)


BatchHostOption = Annotated[
    list[str] | None,
    typer.Option(
        "--host", help="Ollama server URL; repeat it to spread calls over several hosts [env: OLLAMA_HOST]."
    ),
]


@app.command()
def batch(
    input_path: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT",
            help="A .jsonl or .csv file of tool cards (one per line or row), or a folder of card files.",
        ),
    ],
    backend: BackendOption = None,
    host: BatchHostOption = None,
    model: ModelOption = None,
    persona_model: PersonaModelOption = None,
    seed: SeedOption = None,
    temperature: TemperatureOption = None,
    timeout: TimeoutOption = None,
    personas: PersonasOption = None,
    out: OutOption = None,
    gguf: GgufOption = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", min=1, help="Panels in flight [default: slots × hosts].")
    ] = None,
    slots: Annotated[
        int, typer.Option("--slots", min=1, help="Model calls in flight per host; match OLLAMA_NUM_PARALLEL.")
    ] = 4,
    cache: Annotated[
        Path | None,
        typer.Option("--cache", help="Response cache file [default: panel-cache.sqlite beside --out]."),
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the cache.")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress and no summary table (--json still prints).")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Redo panels an editor has rerun, edited or locked.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Run the panel on every tool card of a file or folder: resumable, cached, over several hosts.

    Exit 0 when every valid row has a complete panel; 1 when a row was skipped or a panel is incomplete.
    """
    from panel.batch import BatchOptions, run_batch_async
    from panel.batch_display import BatchProgressView, print_batch_summary

    with reporting_errors():
        settings = settings_from_flags(
            backend=backend,
            host=host[0] if host else None,
            model=model,
            persona_model=persona_model,
            seed=seed,
            temperature=temperature,
            timeout=timeout,
            personas=personas,
            out=out,
            gguf=gguf,
        )
        options = BatchOptions(
            hosts=host or [],
            slots=slots,
            concurrency=concurrency,
            cache_path=cache,
            use_cache=not no_cache,
            force=force,
        )
        with BatchProgressView(stderr, quiet=quiet) as view:
            summary = asyncio.run(
                run_batch_async(
                    input_path, settings, options, progress=view.update, notice=None if quiet else notice
                )
            )
    if as_json:
        print_json({**summary.model_dump(mode="json"), "ok": summary.ok})
    elif not quiet:
        print_batch_summary(stdout, summary)
    raise typer.Exit(EXIT_OK if summary.ok else EXIT_INCOMPLETE)


@app.command()
def doctor(
    backend: BackendOption = None,
    host: HostOption = None,
    personas: PersonasOption = None,
    gguf: GgufOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check Ollama, the persona models and the embedded model; exit 0 when a panel can run."""
    from rich.markup import escape
    from rich.table import Table

    from panel.doctor import diagnose

    with reporting_errors():
        settings = resolve_settings(
            {
                key: value
                for key, value in {
                    "backend": backend,
                    "host": host,
                    "personas_dir": personas,
                    "gguf": gguf,
                }.items()
                if value is not None
            }
        )
        report = diagnose(settings)
    if as_json:
        print_json(report.model_dump(mode="json"))
    else:
        table = Table(show_header=False, box=None, pad_edge=False)
        marks = {"ok": "[green]ok[/]", "missing": "[red]missing[/]", "skipped": "[dim]skipped[/]"}
        for check in report.checks:
            fix = f"\n[bold]fix:[/] {escape(check.fix)}" if check.fix else ""
            table.add_row(marks[check.status], check.name, escape(check.detail) + fix)
        stdout.print(table)
        stdout.print(escape(report.summary), style="green" if report.ready else "red", highlight=False)
    raise typer.Exit(EXIT_OK if report.ready else EXIT_BACKEND)


@contextmanager
def nullstatus() -> Iterator[None]:
    yield


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except PanelError as error:  # raised from a callback before reporting_errors runs
        if state["debug"]:
            raise
        display.print_error(stderr, str(error))
        sys.exit(error.exit_code)
