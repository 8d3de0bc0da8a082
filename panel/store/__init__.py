"""What is kept on disk: transcripts, their revisions and the guarded save, file digests."""
