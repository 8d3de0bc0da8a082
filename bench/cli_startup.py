"""How long `panel --version` and `panel --help` take, against the eager import they replaced.

    python bench/cli_startup.py            # 15 runs of each, medians
    python bench/cli_startup.py --runs 30

Each command runs in a fresh interpreter (that is what a user waits for). The baseline imports
every public name of `panel` first (`from panel import *`), which is what `import panel` did
before its names were loaded on first use (issue 21 item 8). The goal is under 0.3 s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

GOAL_SECONDS = 0.3
COMMANDS = {
    "panel --version": ["--version"],
    "panel --help": ["--help"],
    "panel run --help": ["run", "--help"],
}
LAZY = "from panel.cli import main; main()"
EAGER_BASELINE = "from panel import *; from panel.cli import main; main()"


def seconds_of(code: str, arguments: list[str], runs: int) -> float:
    """The median wall time of `python -c code arguments…` over `runs` fresh interpreters."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code, *arguments], check=True, capture_output=True, timeout=60)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    print(f"{'command':<20} {'now s':>7} {'eager s':>8} {'eager / now':>12}  under {GOAL_SECONDS} s")
    for label, arguments in COMMANDS.items():
        now = seconds_of(LAZY, arguments, runs)
        eager = seconds_of(EAGER_BASELINE, arguments, runs)
        mark = "yes" if now < GOAL_SECONDS else "NO"
        print(f"{label:<20} {now:7.3f} {eager:8.3f} {eager / now:11.1f}×  {mark}")


if __name__ == "__main__":
    main()
