"""`panel eval` with the re-ask's temperature step set for this run: one change at a time.

    .venv/bin/python bench/reask_temperature.py STEP SUITE [panel eval options...]

STEP is added to a persona's temperature on each re-ask (capped at 1.0); 0 gives the seed-only
re-ask of before issue 22, 0.1 is the default. Run it twice on the same suite, seed and cache-free
settings, and compare the two reports (bench/results/README.md, "Re-ask: a new seed, and warmer").
"""

import sys

from panel.engine import verdict_loop

verdict_loop.RE_ASK_TEMPERATURE_STEP = float(sys.argv[1])

from panel.cli import app  # noqa: E402  (after the step is set)

sys.argv = ["panel", "eval", *sys.argv[2:]]
app()
