"""The studio and the published pages in a real browser."""
