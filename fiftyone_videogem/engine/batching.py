"""Batches that shrink when the device runs out of memory.

Every batched pass of the engine (grounding, global embeddings) and of the temporal scorers runs its
items through :func:`run_in_batches`: a batch that does not fit is retried at half the size, down
to one item, with a warning, instead of failing the run. With a :class:`BatchLimit` the size that
then worked is kept, and later calls start there (the engine keeps one for its lifetime, so a run
does not pay for the error again on every batch).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Sequence, TypeVar

import torch

logger = logging.getLogger(__name__)

T = TypeVar("T")


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` says a device (CUDA, or the host for the CPU) ran out of memory; Python's
    ``MemoryError`` counts like the allocators' errors."""
    if isinstance(error, (MemoryError, torch.cuda.OutOfMemoryError)):
        return True
    text = str(error).lower()
    return "out of memory" in text or "can't allocate memory" in text


@dataclass
class BatchLimit:
    """The batch size that worked after an out-of-memory error (None before any), where later
    calls of :func:`run_in_batches` with this limit start."""

    size: int | None = None


def run_in_batches(items: Sequence, run: Callable[[Sequence], list[T]], batch_size: int,
                   device: torch.device | str, unit: str = "items", limit: BatchLimit | None = None) -> list[T]:
    """``run(chunk)`` over consecutive chunks of ``items``, the lists it returns concatenated.

    Args:
        items: what to process, in order
        run: processes one chunk and returns one result per item
        batch_size: items per chunk at first
        device: the device the chunks run on (its cache is emptied after an out-of-memory error)
        unit: what an item is, for the warning ("items")
        limit (None): start at ``limit.size`` when it is smaller, and keep there the smaller size
            that worked after an out-of-memory error

    Raises:
        RuntimeError: any error that is not an out-of-memory error, or one on a single item
        MemoryError: on a single item
    """
    device = torch.device(device)
    results: list[T] = []
    start, batch = 0, max(1, int(batch_size))
    if limit is not None and limit.size:
        batch = min(batch, limit.size)
    while start < len(items):
        chunk = items[start:start + batch]
        try:
            results.extend(run(chunk))
        except (RuntimeError, MemoryError) as error:
            if not is_out_of_memory(error) or batch == 1:
                raise
            batch = max(1, batch // 2)
            if device.type == "cuda":
                torch.cuda.empty_cache()
            logger.warning("out of memory on %s; retrying with batches of %d %s", device, batch, unit)
            continue
        if limit is not None and batch < batch_size:
            limit.size = batch
        start += len(chunk)
    return results
