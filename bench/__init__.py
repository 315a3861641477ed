"""Benchmarks: scripts that print figures measured against a baseline from the same run."""
