"""Changing a saved panel: rerun, edit, lock one verdict, and review mode before the tally."""
