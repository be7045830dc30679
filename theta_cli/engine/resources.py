"""The process's resources around training: cached memory and torch's CPU thread count."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


def cleanup_memory() -> None:
    """Free cached CPU/GPU memory; never touches training state."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.ipc_collect()


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """torch's CPU thread count for the block; None keeps torch's default (one per core).

    On a small or shared machine, fewer threads than cores is often faster for small models:
    per-op threading overhead dominates and the threads compete with other jobs. The previous
    count is restored after, so a caller in the same process (a test, a notebook) is unaffected.
    """
    import torch

    before = torch.get_num_threads()
    if threads is None or threads == before:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
