"""Deterministic generators of realistic factory data, for seeds and benchmarks."""
