"""Running a program compiled for fixed batch sizes (buckets.py) through staging
buffers, one per bucket, that stay allocated (pinned host memory for a GPU engine): a
batch's rows are copied into the smallest buffer that holds them and the program runs
on the whole buffer. The rows past the batch keep what an earlier batch left there:
every row is computed on its own (no batch statistics at inference), so they cannot
change the real rows' answers, and their outputs are never read. That saves zeroing a
buffer of up to 256 images at every call.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

from ..buckets import bucket_for

# run(bucket, n): run the program on inputs[bucket]; returns an array whose first n rows
# are the outputs of the first n input rows (it may be a view of a staging buffer).
RunBucket = Callable[[int, int], np.ndarray]


class BucketStaging:
    def __init__(self, sizes: Sequence[int], inputs: Mapping[int, np.ndarray],
                 run: RunBucket) -> None:
        missing = [size for size in sizes if size not in inputs or len(inputs[size]) != size]
        if missing:
            raise ValueError(f"no staging buffer of the right size for buckets {missing}")
        self.sizes = tuple(sizes)
        self._inputs = inputs
        self._run = run

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        n = len(batch)
        if n == 0:
            raise ValueError("empty batch")
        top = self.sizes[-1]
        outputs = []
        for start in range(0, n, top):
            chunk = batch[start:start + top]
            rows = len(chunk)
            bucket = bucket_for(rows, self.sizes)
            staged = self._inputs[bucket]
            if chunk.shape[1:] != staged.shape[1:]:
                raise ValueError(f"images of shape {chunk.shape[1:]}, the model takes "
                                 f"{staged.shape[1:]}")
            staged[:rows] = chunk
            outputs.append(np.array(self._run(bucket, rows)[:rows]))  # a copy: the buffer is reused
        return outputs[0] if len(outputs) == 1 else np.concatenate(outputs)
