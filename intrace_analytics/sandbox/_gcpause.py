"""Pausing the cyclic garbage collector while the sandbox builds many small dicts.

Shared by the generator (:mod:`.data`) and the page serializer (:mod:`.payload`), the two
places that make tens of thousands to millions of acyclic dicts at a time.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused"]

_GC_LOCK = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = True


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the ``with`` block; re-entrant and thread-safe."""
    # Building millions of small dicts triggers the cyclic GC over and over, each pass
    # walking every object made so far (and, once a big data set exists, its millions
    # of dicts); the new dicts hold no cycles, so pausing it saves a fifth to a half of
    # the run time. Counted under a lock so overlapping calls from the server's threads
    # never leave the collector off.
    global _gc_pauses, _gc_was_enabled
    with _GC_LOCK:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()
