"""Harnesses that run the real service and its store as local processes, for tests and benchmarks."""
