"""Measuring the panel itself: the labelled suite, metrics, eval reports, baselines, stability."""
