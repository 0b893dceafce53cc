"""Benchmarks of ZKAI's proving against named baselines measured in the same run.

`zkai.bench.ezkl_baseline` proves the same linear model with ezkl (Halo2-KZG). This package
imports nothing on purpose: ezkl stages run in child processes started with
`python -m zkai.bench.ezkl_baseline`, and their memory is measured, so importing the package must
stay cheap.
"""
