"""Benchmarks (make bench, docs/benchmarks.md): nothing here runs in production.

worker/: the Python worker's benchmarks (python -m bench.worker.throughput, python -m
bench.worker.hostile). baseline/: the article's architecture, measured beside ours.
"""
