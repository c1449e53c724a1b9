"""Work over many objects at once (a large compile, a replay): fewer garbage collections."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def batch_gc() -> Iterator[None]:
    """Fewer garbage collections while a batch builds many long-lived objects (the
    default thresholds make a large template's compile time grow faster than its size)."""
    old = gc.get_threshold()
    gc.set_threshold(max(old[0], 50_000), max(old[1], 20), max(old[2], 20))
    try:
        yield
    finally:
        gc.set_threshold(*old)
