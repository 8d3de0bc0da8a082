"""`python -m panel`: the `panel` command, for a venv whose scripts folder is not on PATH."""

from panel.cli import main

main()
