"""Batches that shrink when the device runs out of memory.

Every batched pass of the engine (grounding, global embeddings) and of the temporal scorers runs its
items through :func:`run_in_batches`: a batch that does not fit is retried at half the size, down
to one item, with a warning, instead of failing the run.
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence, TypeVar

import torch

logger = logging.getLogger(__name__)

T = TypeVar("T")


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` says a device (CUDA, or the host for the CPU) ran out of memory."""
    text = str(error).lower()
    return isinstance(error, torch.cuda.OutOfMemoryError) or "out of memory" in text or "can't allocate memory" in text


def run_in_batches(items: Sequence, run: Callable[[Sequence], list[T]], batch_size: int,
                   device: torch.device | str, unit: str = "items") -> list[T]:
    """``run(chunk)`` over consecutive chunks of ``items``, the lists it returns concatenated.

    Args:
        items: what to process, in order
        run: processes one chunk and returns one result per item
        batch_size: items per chunk at first
        device: the device the chunks run on (its cache is emptied after an out-of-memory error)
        unit: what an item is, for the warning ("items")

    Raises:
        RuntimeError: any error that is not an out-of-memory error, or one on a single item
    """
    device = torch.device(device)
    results: list[T] = []
    start, batch = 0, max(1, int(batch_size))
    while start < len(items):
        chunk = items[start:start + batch]
        try:
            results.extend(run(chunk))
        except RuntimeError as error:
            if not is_out_of_memory(error) or batch == 1:
                raise
            batch = max(1, batch // 2)
            if device.type == "cuda":
                torch.cuda.empty_cache()
            logger.warning("out of memory on %s; retrying with batches of %d %s", device, batch, unit)
            continue
        start += len(chunk)
    return results
