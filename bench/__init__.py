"""Benchmarks (make bench, docs/benchmarks.md): nothing here runs in production. They
use the worker's public surface (inference_server's packages, models/load.py to load a
model as the worker does) and inference_server/testkit/, never its tests.

worker/: the Python worker's benchmarks (python -m bench.worker.throughput,
bench.worker.per_frame, bench.worker.hostile). gpu/: the torch-cuda runtime and the
system on a lent GPU machine (make bench-gpu). baseline/: the article's architecture,
measured beside ours.
"""
