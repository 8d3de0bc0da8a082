"""Run N panels on the embedded backend and print speed and first-attempt validity.

    python bench/embedded_panels.py --panels 5            # the bundled SmolLM2-135M model
    python bench/embedded_panels.py --panels 5 --gguf other.gguf

Cards cycle over examples/tools/, seeds count up from --seed. Everything runs in one process, so
the model is loaded once (the first panel's wall time includes the load and the sha256).
Transcripts go to a temporary folder unless --out is given.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from panel.engine.runner import run_panel
from panel.records.transcript import PanelTranscript
from panel.settings import Settings

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "tools"


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--panels", type=int, default=5, help="how many panels to run (default 5)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the first panel (default 1)")
    parser.add_argument("--gguf", type=Path, default=None, help="a GGUF other than the bundled one")
    parser.add_argument("--num-predict", type=int, default=None, help="token cap per reply")
    parser.add_argument("--out", type=Path, default=None, help="keep the transcripts in this folder")
    parser.add_argument("cards", nargs="*", type=Path, help="tool cards (default: examples/tools/*.toml)")
    return parser.parse_args()


def decode_rate(transcripts: list[PanelTranscript]) -> tuple[float, float]:
    """Tokens per second over every attempt: (prompt evaluation, decoding)."""
    prompt_tokens = decode_tokens = 0
    prompt_ms = decode_ms = 0.0
    for transcript in transcripts:
        for review in transcript.reviews:
            for attempt in review.attempts:
                if attempt.completion_tokens and attempt.durations_ms.get("eval"):
                    decode_tokens += attempt.completion_tokens
                    decode_ms += attempt.durations_ms["eval"]
                if attempt.durations_ms.get("prompt_eval"):
                    prompt_ms += attempt.durations_ms["prompt_eval"]
                    # includes the shared prefix that llama.cpp reuses from its cache
                    prompt_tokens += attempt.prompt_tokens or 0
    return (prompt_tokens / prompt_ms * 1000 if prompt_ms else 0.0, decode_tokens / decode_ms * 1000)


def main() -> None:
    arguments = parse_arguments()
    cards = arguments.cards or sorted(EXAMPLES.glob("*.toml"))
    out = arguments.out or Path(tempfile.mkdtemp(prefix="embedded-bench-"))
    console = Console()
    flags: dict = {"backend": "embedded", "out_dir": out, "gguf": arguments.gguf}
    if arguments.num_predict:
        flags["num_predict"] = arguments.num_predict
    runs: list[tuple[PanelTranscript, float]] = []
    for index in range(arguments.panels):
        card = cards[index % len(cards)]
        settings = Settings(**{k: v for k, v in flags.items() if v is not None}, seed=arguments.seed + index)
        started = time.perf_counter()
        result = run_panel(card, settings)
        wall = time.perf_counter() - started
        runs.append((result.transcript, wall))
        console.print(f"panel {index + 1}/{arguments.panels}: {card.name} in {wall:.1f} s", style="dim")

    panels = Table(title="Panels")
    for column in ("#", "tool", "seed", "wall s", "graph s", "valid", "attempts", "tokens out", "ship %"):
        panels.add_column(column, justify="left" if column == "tool" else "right")
    for number, (transcript, wall) in enumerate(runs, 1):
        valid = sum(review.status == "ok" for review in transcript.reviews)
        attempts = sum(len(review.attempts) for review in transcript.reviews)
        tokens = sum(a.completion_tokens or 0 for review in transcript.reviews for a in review.attempts)
        panels.add_row(
            str(number),
            transcript.card.name,
            str(transcript.seed),
            f"{wall:.1f}",
            f"{transcript.seconds:.1f}",
            f"{valid}/{len(transcript.reviews)}",
            str(attempts),
            str(tokens),
            "—" if transcript.aggregate.ship_pct is None else str(transcript.aggregate.ship_pct),
        )
    console.print(panels)

    first_try: Counter[str] = Counter()
    final: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    problems: dict[str, Counter[str]] = defaultdict(Counter)
    for transcript, _ in runs:
        for review in transcript.reviews:
            seen[review.persona] += 1
            final[review.persona] += review.status == "ok"
            first_try[review.persona] += bool(review.attempts) and review.attempts[0].outcome == "valid"
            for attempt in review.attempts:
                if attempt.outcome != "valid" and attempt.error:
                    problems[review.persona][attempt.error.split(":")[0][:60]] += 1
    validity = Table(title="Validity per persona")
    for column in ("persona", "first attempt valid", "valid after retries", "invalid attempts: why"):
        validity.add_column(column)
    for persona in sorted(seen):
        why = "; ".join(f"{count}× {reason}" for reason, count in problems[persona].most_common(3)) or "—"
        validity.add_row(
            persona,
            f"{first_try[persona]}/{seen[persona]} ({100 * first_try[persona] / seen[persona]:.0f}%)",
            f"{final[persona]}/{seen[persona]}",
            why,
        )
    console.print(validity)

    transcripts = [transcript for transcript, _ in runs]
    prompt_rate, decode = decode_rate(transcripts)
    walls = [wall for _, wall in runs]
    backend = transcripts[0].backend
    summary = Table(title="Embedded backend", show_header=False)
    summary.add_row("model", f"{backend.get('gguf')} (sha256 {str(backend.get('sha256'))[:12]}…)")
    summary.add_row(
        "llama-cpp-python, threads (decode/prompt), n_ctx",
        f"{backend.get('llama_cpp_version')}, {backend.get('n_threads')}/{backend.get('n_threads_batch')}, "
        f"{backend.get('n_ctx')}",
    )
    summary.add_row("decode tokens/s", f"{decode:.1f}")
    summary.add_row("prompt tokens/s (cached prefix included)", f"{prompt_rate:.0f}")
    summary.add_row("seconds per panel (mean / max)", f"{sum(walls) / len(walls):.1f} / {max(walls):.1f}")
    summary.add_row("first panel, incl. load and sha256", f"{walls[0]:.1f} s")
    summary.add_row("transcripts", str(out))
    console.print(summary)


if __name__ == "__main__":
    main()
