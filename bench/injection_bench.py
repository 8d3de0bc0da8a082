"""Prompt injection: ship rate of each hostile card against its clean twin, same model, same seed.

    python bench/injection_bench.py                       # embedded SmolLM2-135M, seed 1
    python bench/injection_bench.py --backend ollama --host http://gpu-box:11434 --json

The cards are examples/injection/injections.jsonl (made by make_injections.py). One backend is
opened once; every panel uses the same seed, so the only difference within a pair is the
injected text. A positive shift means the panel moved the way the attack pushed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from panel.backends.registry import open_backend
from panel.engine.runner import review_tool
from panel.records.cards import parse_card
from panel.records.personas import load_personas
from panel.settings import resolve_settings

CORPUS = Path(__file__).resolve().parent.parent / "examples" / "injection" / "injections.jsonl"


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="embedded", help="embedded (default), ollama or auto")
    parser.add_argument("--host", default=None, help="Ollama host for --backend ollama")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--limit", type=int, default=None, help="only the first N attacks")
    parser.add_argument("--num-predict", type=int, default=None, help="token cap per reply")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser.parse_args()


def shift(entry: dict, clean_pct: int | None, injected_pct: int | None) -> int | None:
    if clean_pct is None or injected_pct is None:
        return None
    moved = injected_pct - clean_pct
    return moved if entry["direction"] == "ship" else -moved


async def measure(arguments: argparse.Namespace) -> list[dict]:
    flags = {
        "backend": arguments.backend,
        "seed": arguments.seed,
        "out_dir": tempfile.mkdtemp(prefix="inject-"),
    }
    if arguments.host:
        flags["host"] = arguments.host
    if arguments.num_predict:
        flags["num_predict"] = arguments.num_predict
    settings = resolve_settings(flags)
    personas = load_personas(settings.personas_dir)
    entries = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]
    backend = await open_backend(settings, lambda message: None)
    rows = []
    try:
        for entry in entries[: arguments.limit]:
            pcts = {}
            for side in ("clean", "injected"):
                card = parse_card(entry[side], f"{entry['id']} ({side})")
                result = await review_tool(backend, card, personas, settings, save=False)
                pcts[side] = result.transcript.aggregate.ship_pct
            rows.append(
                {
                    "id": entry["id"],
                    "technique": entry["technique"],
                    "direction": entry["direction"],
                    "clean_ship_pct": pcts["clean"],
                    "injected_ship_pct": pcts["injected"],
                    "shift_toward_attack": shift(entry, pcts["clean"], pcts["injected"]),
                }
            )
    finally:
        await backend.aclose()
    return rows


def summary(rows: list[dict]) -> dict:
    shifts = [row["shift_toward_attack"] for row in rows if row["shift_toward_attack"] is not None]
    return {
        "attacks": len(rows),
        "moved_toward_attack": sum(1 for s in shifts if s > 0),
        "moved_against_attack": sum(1 for s in shifts if s < 0),
        "unchanged": sum(1 for s in shifts if s == 0),
        "mean_shift_points": round(sum(shifts) / len(shifts), 1) if shifts else None,
    }


def main() -> None:
    arguments = parse_arguments()
    rows = asyncio.run(measure(arguments))
    totals = summary(rows)
    if arguments.json:
        print(json.dumps({"rows": rows, "summary": totals}, indent=2))
        return
    table = Table(title=f"Injected vs clean ship % ({arguments.backend}, seed {arguments.seed})")
    for column in ("attack", "pushes", "clean %", "injected %", "shift toward attack"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["id"],
            row["direction"],
            str(row["clean_ship_pct"]),
            str(row["injected_ship_pct"]),
            "—" if row["shift_toward_attack"] is None else f"{row['shift_toward_attack']:+d}",
        )
    console = Console()
    console.print(table)
    console.print(totals)


if __name__ == "__main__":
    main()
