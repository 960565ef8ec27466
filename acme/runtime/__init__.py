"""Runtime (work in progress)."""
