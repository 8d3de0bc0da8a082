"""Running a panel: prompts, the context window, quality gates, the verdict loop, the graph."""
