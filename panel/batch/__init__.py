"""Many panels from one input file: rows, the manifest, results, resumable runs."""
