"""Fixed batch sizes ("buckets") for models compiled once per input shape.

JAX compiles a program for every new input shape, and so does TensorFlow with XLA on a
GPU; a compile takes seconds, and a frame that meets one waits for it. Padding each
batch up to one of a few fixed sizes means only those shapes are ever compiled, all of
them during warm-up, before the worker says it is ready. The padded rows are blank
images whose outputs are dropped; inference treats every row on its own, so the real
rows give the same answers as without padding.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

Infer = Callable[[np.ndarray], np.ndarray]


def bucket_sizes(batch_max: int) -> tuple[int, ...]:
    """Powers of two below `batch_max`, then `batch_max`: 8 -> (1, 2, 4, 8),
    12 -> (1, 2, 4, 8, 12). A padded batch does at most about twice the work of the
    real one; at saturation batches are full and nothing is padded."""
    if batch_max < 1:
        raise ValueError(f"batch_max must be >= 1, got {batch_max}")
    sizes = []
    size = 1
    while size < batch_max:
        sizes.append(size)
        size *= 2
    sizes.append(batch_max)
    return tuple(sizes)


def bucket_for(n: int, sizes: Sequence[int]) -> int:
    """The smallest size that holds `n` rows."""
    for size in sizes:
        if size >= n:
            return size
    raise ValueError(f"a batch of {n} is larger than the largest bucket {sizes[-1]}")


def pad_batch(batch: np.ndarray, size: int) -> np.ndarray:
    """`batch` with zero rows appended up to `size` rows (the batch itself when full)."""
    n = len(batch)
    if n == size:
        return batch
    if n > size:
        raise ValueError(f"a batch of {n} does not fit in {size} rows")
    padded = np.zeros((size, *batch.shape[1:]), dtype=batch.dtype)
    padded[:n] = batch
    return padded


def infer_in_buckets(infer: Infer, batch: np.ndarray, sizes: Sequence[int]) -> np.ndarray:
    """Run `infer` only at the shapes in `sizes`: a batch is padded to its bucket and the
    outputs of the padding are dropped; a batch larger than the largest bucket goes
    through in chunks of that size."""
    n = len(batch)
    if n == 0:
        raise ValueError("empty batch")
    top = sizes[-1]
    outputs = []
    for start in range(0, n, top):
        chunk = batch[start:start + top]
        outputs.append(infer(pad_batch(chunk, bucket_for(len(chunk), sizes)))[:len(chunk)])
    return outputs[0] if len(outputs) == 1 else np.concatenate(outputs)
