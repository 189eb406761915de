"""The image pipeline of the worker, from the bytes of a frame to the model's input.

- probe.py: what the header says (format, size, structure), read before any decoder
  sees the bytes; bounded work whatever the body holds.
- budget.py: what a frame may cost to decode, decided from its probe.
- decoder.py: Decoder, the safe decode (probe, budget, reduced decode, crop, resize).
- pool.py: DecodeService, the decode threads, taking waiting frames round-robin by session
  and handing each decoded image on themselves (to its model's batcher).
- fairness.py: each session's share of the worker (decode-time buckets, FairQueue).
"""
