"""Pausing the cyclic garbage collector while the sandbox builds many small dicts.

Shared by the generator (:mod:`._data`) and the camelCase serializer (:mod:`._bodies`),
the two places that make tens of thousands to millions of acyclic dicts at a time.
Building them with the collector on triggers it over and over, each pass walking every
object made so far; the new dicts hold no cycles, so pausing it makes a large data set
in about 60 % of the time (200,000 incidents: 7 s instead of 12 s).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused"]

# Module-global on purpose: the collector's on/off switch is one per process, so the
# count of pauses that hold it off must be one per process too. The server's threads
# generate and serialize concurrently; with a count under a lock, the last pause to end
# restores the collector, and only if it was on before the first began.
_GC_LOCK = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = True


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the ``with`` block; re-entrant and thread-safe."""
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
