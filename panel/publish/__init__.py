"""What readers see: diffs of runs, the panel page and its facts, templates."""
