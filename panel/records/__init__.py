"""The data of a panel: tool cards, personas, verdicts, the tally, transcript models."""
