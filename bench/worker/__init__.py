"""Benchmarks of the Python worker, run from the repository root:

- throughput.py: the model per runtime and batch size (loaded as the worker loads it),
  the decode of a webcam frame, and the worker end to end behind nats-server.
- per_frame.py: the worker's CPU per frame outside the model, stage by stage (through
  Worker.take on a stand-in NATS client), beside another tree's (--baseline-root).
- hostile.py: what hostile images (inference_server/testkit/hostile_images.py) cost the
  decoder and a real worker under attack.
"""
