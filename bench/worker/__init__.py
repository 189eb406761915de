"""Benchmarks of the Python worker, run from the repository root:

- throughput.py: the model per backend and batch size, the decode of a webcam frame,
  and the worker end to end behind nats-server.
- hostile.py: what hostile images (inference_server/tests/hostile_images.py) cost the
  decoder and a real worker under attack.
"""
