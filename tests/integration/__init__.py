"""Integration tests: real HTTP to the fakes, subprocesses, the CLI through Typer's runner, the real
model (those are marked slow)."""
