"""Runners: where a cell's engine processes run (local processes, Docker, or a fake)."""
