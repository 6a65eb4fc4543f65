"""Developer tools: run the task locally, benchmark it. Not part of the deployed app."""
