"""Benchmark of `panel batch` against a local Ollama-speaking server with a set latency per call
and K parallel slots (tests/support/ollama_fake.py, run in its own process so that it does not share the
batch's interpreter lock). Prints one table, or JSON with --json. Not a test.

    python bench/batch_bench.py                 # the full run, a few minutes
    python bench/batch_bench.py --quick         # smaller sizes, about a minute
    python bench/batch_bench.py --rss-rows 1000,10000 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from panel.backends import ModelInfo  # noqa: E402
from panel.batch.run import BatchOptions, run_batch_async  # noqa: E402
from panel.records.cards import load_card  # noqa: E402
from panel.records.chat import ChatReply, ChatRequest  # noqa: E402
from panel.settings import Settings  # noqa: E402
from tests.support.ollama_fake import (  # noqa: E402
    FakeOllama,
    chat_body,
    verdict_for_schema,
)

CARD = load_card(ROOT / "examples" / "tools" / "pgvector.toml").model_dump(mode="json")
MODEL = "llama3.1:8b"


# -- the server ------------------------------------------------------------------------------


class BenchOllama(FakeOllama):
    """The test server, minus the record of every request (a 10,000-row run would keep 40,000)."""

    def chat(self, request):  # type: ignore[no-untyped-def]
        body = request.get_json()
        if self.busy:
            with self.busy:
                return self.answer(body, None)
        return self.answer(body, None)


def serve(latency: float, slots: int) -> None:
    from pytest_httpserver import HTTPServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    fake = BenchOllama(server=server, latency=latency, slots=slots).install()
    print(fake.url, flush=True)
    sys.stdin.read()  # until the parent closes the pipe
    server.stop()


class Server:
    """A server process with a set latency and slots; `with Server(...) as url:`."""

    def __init__(self, latency: float, slots: int) -> None:
        self.latency, self.slots = latency, slots

    def __enter__(self) -> str:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", "--latency", str(self.latency), "--slots", str(self.slots)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def __exit__(self, *exc: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


# -- helpers ---------------------------------------------------------------------------------


def write_rows(path: Path, count: int) -> Path:
    with path.open("w", encoding="utf-8") as stream:
        for number in range(count):
            stream.write(json.dumps({**CARD, "name": f"tool {number}"}) + "\n")
    return path


async def timed_batch(
    source: Path,
    url: str,
    out: Path,
    *,
    slots: int,
    concurrency: int | None = None,
    cache: Path | None = None,
) -> tuple[float, Any]:
    settings = Settings(backend="ollama", host=url, timeout=60, out_dir=out)
    options = BatchOptions(
        hosts=[url], slots=slots, concurrency=concurrency, cache_path=cache, use_cache=cache is not None
    )
    started = time.perf_counter()
    summary = await run_batch_async(source, settings, options)
    return time.perf_counter() - started, summary


class InstantBackend:
    """A Backend with no network at all: a valid verdict at once. Isolates orchestration cost."""

    name = "instant"

    async def prepare(self, models: list[str]) -> dict[str, ModelInfo]:
        return {model: ModelInfo(name=model, digest="sha256:00") for model in models}

    async def chat(self, request: ChatRequest) -> ChatReply:
        body = chat_body(request.model, json.dumps(verdict_for_schema(request.schema, "ship")))
        return ChatReply(content=body["message"]["content"], done_reason="stop", completion_tokens=120)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}

    async def aclose(self) -> None:
        return None


async def orchestration_overhead(work: Path, panels: int) -> float:
    """ms per panel of everything but the model: graph, prompts, validation, transcript, manifest."""
    import panel.batch as batch_module

    source = write_rows(work / "overhead.jsonl", panels)
    original = batch_module.open_batch_backend

    async def instant(settings, options, notice):  # type: ignore[no-untyped-def]
        return InstantBackend()

    batch_module.open_batch_backend = instant
    try:
        settings = Settings(backend="ollama", timeout=60, out_dir=work / "overhead")
        started = time.perf_counter()
        await run_batch_async(source, settings, BatchOptions(slots=8, use_cache=False))
        return (time.perf_counter() - started) / panels * 1000
    finally:
        batch_module.open_batch_backend = original


# -- the measurements ------------------------------------------------------------------------


async def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    results: dict[str, Any] = {"latency_s": args.latency}
    results["overhead_ms_no_http"] = round(await orchestration_overhead(work, args.overhead_panels), 2)

    with Server(0.0, 8) as url:
        source = write_rows(work / "zero.jsonl", args.overhead_panels)
        wall, _ = await timed_batch(source, url, work / "zero", slots=8)
        results["overhead_ms_with_http"] = round(wall / args.overhead_panels * 1000, 2)

    with Server(args.single_latency, 4) as url:
        source = write_rows(work / "one.jsonl", 1)
        wall, summary = await timed_batch(source, url, work / "one", slots=4)
        assert summary.complete == 1
        # The panel itself (summary.wall_seconds starts once the hosts are prepared), and the
        # whole command from a cold start: imports, two TLS contexts in httpx, /api/show...
        results["single_panel_ratio"] = round(summary.wall_seconds / args.single_latency, 3)
        results["single_panel_cold_ratio"] = round(wall / args.single_latency, 3)
        results["single_panel_latency_s"] = args.single_latency

    results["efficiency"] = {}
    for slots in (1, 4, 16):
        panels = max(1, args.rounds * slots // 4)
        with Server(args.latency, slots) as url:
            source = write_rows(work / f"k{slots}.jsonl", panels)
            wall, summary = await timed_batch(source, url, work / f"k{slots}", slots=slots, concurrency=slots)
        assert summary.complete == panels, summary
        ideal = math.ceil(4 * panels / slots) * args.latency
        results["efficiency"][str(slots)] = {
            "panels": panels,
            "ideal_s": round(ideal, 3),
            "actual_s": round(wall, 3),
            "efficiency": round(ideal / wall, 3),
        }

    with Server(args.cache_latency, 4) as url:
        source = write_rows(work / "cached.jsonl", args.cache_panels)
        cache = work / "cache.sqlite"
        first, _ = await timed_batch(source, url, work / "cold", slots=4, cache=cache)
        again, summary = await timed_batch(source, url, work / "warm", slots=4, cache=cache)
        results["cached_rerun"] = {
            "panels": args.cache_panels,
            "latency_s": args.cache_latency,
            "first_s": round(first, 3),
            "rerun_s": round(again, 3),
            "model_calls": summary.model_calls,
            "cache_hits": summary.cache_hits,
            "speedup": round(first / again, 1),
        }

    results["peak_rss_mb"] = {}
    with Server(0.0, 16) as url:
        for rows in args.rss_rows:
            out = work / f"rss{rows}"
            process = subprocess.run(
                [sys.executable, __file__, "--child-rss", str(rows), "--url", url, "--out", str(out)],
                capture_output=True,
                text=True,
                check=True,
            )
            child = json.loads(process.stdout.strip().splitlines()[-1])
            results["peak_rss_mb"][str(rows)] = child
            subprocess.run(["rm", "-rf", str(out)], check=False)
    return results


def child_rss(rows: int, url: str, out: Path) -> None:
    """Run one batch in this fresh process and print its peak RSS."""
    source = write_rows(out.parent / f"rss-{rows}.jsonl", rows)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    wall, summary = asyncio.run(
        timed_batch(source, url, out, slots=16, concurrency=16, cache=out.parent / f"rss-{rows}.sqlite")
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "peak_mb": round(peak, 1),
                "after_imports_mb": round(baseline, 1),
                "complete": summary.complete,
                "wall_s": round(wall, 1),
            }
        )
    )


def verdict(value: float, goal: str, ok: bool) -> str:
    return f"{value:g}", goal, "yes" if ok else "NO"


def table_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = [
        (
            "orchestration overhead per panel, ms (no HTTP)",
            *verdict(results["overhead_ms_no_http"], "≤ 5", results["overhead_ms_no_http"] <= 5),
        ),
        (
            "per panel incl. HTTP to a 0-latency server, ms",
            f"{results['overhead_ms_with_http']:g}",
            "(info)",
            "",
        ),
        (
            f"one panel's wall ÷ one call's latency ({results['single_panel_latency_s']:g} s)",
            *verdict(results["single_panel_ratio"], "≤ 1.15", results["single_panel_ratio"] <= 1.15),
        ),
        (
            "  the same, cold start of the whole command included",
            f"{results['single_panel_cold_ratio']:g}",
            "(info)",
            "",
        ),
    ]
    for slots, entry in results["efficiency"].items():
        rows.append(
            (
                f"batch efficiency K={slots} ({entry['panels']} panels, {results['latency_s']:g} s/call)",
                *verdict(entry["efficiency"], "≥ 0.9", entry["efficiency"] >= 0.9),
            )
        )
    cached = results["cached_rerun"]
    rows.append(
        ("cached rerun: model calls", *verdict(cached["model_calls"], "0", cached["model_calls"] == 0))
    )
    rows.append(
        (
            f"cached rerun: speed-up ({cached['panels']} panels, {cached['latency_s']:g} s/call)",
            *verdict(cached["speedup"], "≥ 100×", cached["speedup"] >= 100),
        )
    )
    peaks = results["peak_rss_mb"]
    for rows_count, entry in peaks.items():
        rows.append(
            (
                f"peak RSS, {int(rows_count):,} rows, MB",
                *verdict(entry["peak_mb"], "< 300, flat", entry["peak_mb"] < 300),
            )
        )
    return rows


def print_table(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="panel batch benchmark")
    for column in ("measure", "value", "goal", "met"):
        table.add_column(column)
    for row in table_rows(results):
        table.add_row(*row)
    Console().print(table)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (about a minute)")
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per call for the K runs")
    parser.add_argument("--rounds", type=int, default=10, help="calls per slot in each K run")
    parser.add_argument("--single-latency", type=float, default=0.5)
    parser.add_argument("--cache-latency", type=float, default=1.0)
    parser.add_argument("--cache-panels", type=int, default=16)
    parser.add_argument("--overhead-panels", type=int, default=300)
    parser.add_argument("--rss-rows", default="1000,10000", help="comma-separated row counts")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--slots", type=int, default=4, help=argparse.SUPPRESS)
    parser.add_argument("--child-rss", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.latency, args.slots)
        return
    if args.child_rss:
        child_rss(args.child_rss, args.url, args.out)
        return
    args.rss_rows = [int(value) for value in args.rss_rows.split(",") if value.strip()]
    if args.quick:
        args.rounds, args.overhead_panels, args.rss_rows, args.cache_panels = 4, 100, [200, 2000], 8
    with tempfile.TemporaryDirectory(prefix="panel-bench-") as folder:
        results = asyncio.run(measure(args, Path(folder)))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_table(results)


if __name__ == "__main__":
    main()
