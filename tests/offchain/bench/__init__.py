"""Benchmarks and their baselines."""
