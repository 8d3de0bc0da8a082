"""The embedded panel, one persona at a time (before) against all four decoded together (after).

    python bench/embedded_parallel.py --panels 4

Both run in this one process on the same loaded model, panel by panel in turns (before, after,
before, after, …) so that whatever else loads the machine weighs on both alike. Prints each
panel's wall time, the totals and their ratio, how many verdicts are valid, and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from panel.backends.embedded import PARALLEL_SLOTS, EmbeddedBackend, resolve_gguf
from panel.config import Settings
from panel.runner import run_panel
from panel.transcripts import PanelTranscript

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "tools"
MODES = {"before": 1, "after": PARALLEL_SLOTS}


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--panels", type=int, default=4, help="panels per mode (default 4)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the first panel (default 1)")
    parser.add_argument("--gguf", type=Path, default=None, help="a GGUF other than the bundled one")
    return parser.parse_args()


def valid(transcript: PanelTranscript) -> int:
    return sum(review.status == "ok" for review in transcript.reviews)


def main() -> None:
    arguments = parse_arguments()
    cards = sorted(EXAMPLES.glob("*.toml"))
    out = Path(tempfile.mkdtemp(prefix="embedded-parallel-"))
    console = Console()
    gguf = resolve_gguf(arguments.gguf)
    backends = {mode: EmbeddedBackend(gguf, Settings().num_ctx, slots=slots) for mode, slots in MODES.items()}
    asyncio.run(backends["before"].prepare(["warm-up"]))  # load and hash the model outside the timing
    load_before = os.getloadavg()
    results: dict[str, list[tuple[PanelTranscript, float]]] = {mode: [] for mode in MODES}
    for index in range(arguments.panels):
        card = cards[index % len(cards)]
        settings = Settings(backend="embedded", gguf=gguf, seed=arguments.seed + index, out_dir=out)
        for mode, backend in backends.items():
            started = time.perf_counter()
            transcript = run_panel(card, settings, backend=backend).transcript
            results[mode].append((transcript, time.perf_counter() - started))
            console.print(
                f"{mode}: panel {index + 1}, {card.name}, {results[mode][-1][1]:.1f} s", style="dim"
            )
    load_after = os.getloadavg()

    table = Table(title="Embedded panel wall time: one persona at a time vs decoded together")
    for column in ("#", "tool", "seed", "before s", "after s", "before valid", "after valid"):
        table.add_column(column, justify="left" if column == "tool" else "right")
    for index, ((before, before_s), (after, after_s)) in enumerate(zip(*results.values(), strict=True), 1):
        table.add_row(
            str(index),
            before.card.name,
            str(before.seed),
            f"{before_s:.1f}",
            f"{after_s:.1f}",
            f"{valid(before)}/{len(before.reviews)}",
            f"{valid(after)}/{len(after.reviews)}",
        )
    console.print(table)
    totals = {mode: sum(wall for _, wall in runs) for mode, runs in results.items()}
    verdicts = {mode: sum(valid(transcript) for transcript, _ in runs) for mode, runs in results.items()}
    possible = sum(len(transcript.reviews) for transcript, _ in results["after"])
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    console.print(
        f"total: before {totals['before']:.1f} s, after {totals['after']:.1f} s, "
        f"speed-up {totals['before'] / totals['after']:.2f}x | valid verdicts: before "
        f"{verdicts['before']}/{possible}, after {verdicts['after']}/{possible} | {cores} cores, "
        f"load average {load_before[0]:.2f} at start, {load_after[0]:.2f} at end"
    )


if __name__ == "__main__":
    main()
