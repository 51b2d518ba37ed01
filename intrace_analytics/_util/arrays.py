"""Vectorised building blocks shared by the merge and the analyses.

Two ideas recur wherever rows are grouped without a Python loop: *codes* (each value's
group number, numbered by first appearance, as Arrow's dictionary encoding gives them)
and *runs* (after a stable sort by a key, where each run of equal keys begins). Both are
written once, here.

>>> import numpy as np
>>> run_starts(np.array([1, 1, 2, 5, 5, 5]))
array([ True, False,  True,  True, False, False])
>>> codes(pa.array(["b", "a", "b", None]))[0]
array([ 0,  1,  0, -1])
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "SCRATCH",
    "PoolHold",
    "codes",
    "first_rows",
    "hold_system_pool",
    "partition_rows",
    "release_memory",
    "run_starts",
    "seen_before",
    "sorted_runs",
    "take_rows",
]

#: Where memory that is freed soon after it is allocated comes from (a page's parse, a
#: merge's temporary copies): the system allocator, which returns freed memory to the OS.
#: Arrow's default pool (mimalloc, jemalloc) keeps it for reuse, resident meanwhile.
SCRATCH = pa.system_memory_pool()


class PoolHold:
    """One holder of :func:`hold_system_pool`; :meth:`release` lets go (once)."""

    _lock = threading.Lock()
    _holders = 0  # holds not yet released, across threads
    _before: pa.MemoryPool | None = None  # the pool the first hold replaced

    def __init__(self) -> None:
        self._held = not os.environ.get("ARROW_DEFAULT_MEMORY_POOL")
        if self._held:
            with PoolHold._lock:
                if PoolHold._holders == 0:
                    PoolHold._before = pa.default_memory_pool()
                    pa.set_memory_pool(SCRATCH)
                PoolHold._holders += 1

    def release(self) -> None:
        """Let go of the hold; the last holder to let go restores the pool before."""
        if not self._held:
            return
        self._held = False
        with PoolHold._lock:
            PoolHold._holders -= 1
            if PoolHold._holders == 0 and PoolHold._before is not None:
                pa.set_memory_pool(PoolHold._before)
                PoolHold._before = None


def hold_system_pool() -> PoolHold:
    """Make the system allocator Arrow's default memory pool until the hold is released.

    While pages are parsed and merged, Arrow's compute functions allocate from the
    default pool on many threads. mimalloc, pyarrow's default on Linux, keeps what each
    thread freed in that thread's heap, resident: normalizing 1,000,000 incidents (1.53
    GiB of bodies), peak RSS was 1.67 GiB with 16 parse workers and 1.42 GiB with 2,
    against 1.39 and 1.29 GiB with the system allocator, which was no slower
    (``benchmarks/bench_normalize.py``).

    Holds nest (a load inside a load, loads on several threads): the pool in use before
    the first hold is restored when the last is released. Every buffer is freed to the
    pool it came from, so other Arrow work meanwhile is only served by another
    allocator. Nothing is changed when ``ARROW_DEFAULT_MEMORY_POOL`` names a pool: that
    choice is the user's.
    """
    return PoolHold()


def run_starts(ordered: np.ndarray) -> np.ndarray:
    """Per element of a sorted array, whether a run of equal values begins there."""
    starts = np.empty(len(ordered), bool)
    if len(ordered):
        starts[0] = True
        np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    return starts


def sorted_runs(*keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A stable sort by ``keys`` (the last is the primary key, as in ``np.lexsort``) and
    where the runs of the primary key begin (positions in the sorted order)."""
    order = np.lexsort(keys) if len(keys) > 1 else np.argsort(keys[0], kind="stable")
    return order, np.flatnonzero(run_starts(keys[-1][order]))


def codes(values: Any) -> tuple[np.ndarray, pa.Array]:
    """Group numbers of ``values`` (numbered by first appearance, missing as -1) and the
    distinct values in that order.

    ``values`` may be an Arrow array, a chunked array, or anything ``pa.array`` takes
    (a pandas Series of strings). Arrow's hash table does the work: it is as fast as a
    hand-written hash and needs no verification pass.
    """
    if not isinstance(values, pa.Array | pa.ChunkedArray):
        values = pa.array(values, from_pandas=True)
    if isinstance(values, pa.ChunkedArray):
        if values.num_chunks == 0:
            return np.zeros(0, np.int64), pa.array([], values.type)
        # One array first: Arrow encodes a chunked array with one growing dictionary and
        # hands each chunk a copy of it so far, 4x slower over a few hundred pages.
        values = values.combine_chunks(memory_pool=SCRATCH)
    encoded = pc.dictionary_encode(values, memory_pool=SCRATCH)
    found = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    return found.astype(np.int64, copy=False), encoded.dictionary


def take_rows(values: pa.Array | pa.ChunkedArray, rows: np.ndarray) -> pa.Array:
    """``values[rows]`` as one array, taken chunk by chunk.

    Arrow's own ``ChunkedArray.take`` first concatenates every chunk of a string column
    (pyarrow 26): a copy of the whole column per take, however few the rows. Here each
    chunk gives the rows it holds, in ascending order, and the pieces are put back in the
    order asked: the temporaries are the size of the result.
    """
    if isinstance(values, pa.Array):
        return values.take(pa.array(rows, pa.int64()))
    if values.num_chunks == 1:
        return values.chunk(0).take(pa.array(rows, pa.int64()))
    rows = np.asarray(rows, np.int64)
    ascending = bool(np.all(rows[1:] >= rows[:-1]))
    order = None if ascending else np.argsort(rows, kind="stable")
    wanted = rows if order is None else rows[order]
    if len(wanted) and (wanted[0] < 0 or wanted[-1] >= len(values)):
        raise IndexError(f"rows outside 0..{len(values) - 1}")
    bounds = np.cumsum([0] + [len(chunk) for chunk in values.chunks])
    cuts = np.searchsorted(wanted, bounds)
    pieces = [
        chunk.take(pa.array(wanted[cuts[i] : cuts[i + 1]] - bounds[i]))
        for i, chunk in enumerate(values.chunks)
        if cuts[i + 1] > cuts[i]
    ]
    taken = pa.concat_arrays(pieces) if pieces else pa.array([], values.type)
    if order is None:
        return taken
    back = np.empty_like(order)
    back[order] = np.arange(len(order))
    return taken.take(pa.array(back))


def seen_before(codes: np.ndarray) -> np.ndarray:
    """Repeats among codes numbered in order of first appearance (as :func:`codes`
    numbers them): a code at or below the highest code of the earlier rows was seen
    before. Missing values (-1) are never repeats."""
    earlier = np.maximum.accumulate(np.r_[np.int64(-1), codes[:-1]])
    return (codes >= 0) & (codes <= earlier)


def first_rows(codes: np.ndarray) -> np.ndarray:
    """Where each code first appears, for codes numbered by first appearance (as
    :func:`codes` numbers them): row of code 0, of code 1, ... (missing values skipped)."""
    return np.flatnonzero((codes >= 0) & ~seen_before(codes))


def partition_rows(values: pa.Array | pa.ChunkedArray, parts: int) -> list[np.ndarray]:
    """Row numbers of ``values`` (strings) split into ``parts`` groups, each ascending,
    such that equal strings always fall in the same group.

    What lets one hash-based job (grouping ids, counting distinct ones) run as ``parts``
    independent jobs on as many threads: Arrow's hash kernels are single-threaded. The
    partition is a cheap hash of each string's length and its last 4 bytes, computed
    with NumPy on Arrow's buffers (ids differ at their ends: UUIDs, counters, slugs); a
    skewed set of ids makes the groups uneven, never wrong.
    """
    if isinstance(values, pa.ChunkedArray):
        if not values.num_chunks:
            return [np.zeros(0, np.int64)]
        values = values.combine_chunks(memory_pool=SCRATCH)
    n = len(values)
    if parts <= 1 or n == 0:
        return [np.arange(n)]
    parts = min(parts, 1 << 14)
    wide = pa.types.is_large_string(values.type) or pa.types.is_large_binary(values.type)
    raw = np.frombuffer(values.buffers()[1], np.int64 if wide else np.int32)
    offsets = raw[values.offset : values.offset + n + 1].astype(np.int64)
    held = values.buffers()[2]  # None or empty when every string is
    data = (
        np.frombuffer(held, np.uint8) if held is not None and held.size else np.zeros(1, np.uint8)
    )
    starts: np.ndarray[Any, np.dtype[np.int64]] = offsets[:-1]
    ends: np.ndarray[Any, np.dtype[np.int64]] = offsets[1:]
    key = (ends - starts).astype(np.uint32)
    last = len(data) - 1
    for back in range(1, 5):
        at = ends - back
        byte = data[np.clip(at, 0, last)].astype(np.uint32)
        byte[at < starts] = 0  # shorter than ``back`` bytes
        key = key * np.uint32(16777619) + byte  # FNV-style mixing (wraps, as it should)
    key ^= key >> np.uint32(15)
    # int16 groups: NumPy's stable sort of 16-bit keys is a radix sort.
    group = (key % np.uint32(parts)).astype(np.int16)
    order = np.argsort(group, kind="stable")  # rows ascending within each group
    bounds = np.searchsorted(group[order], np.arange(parts + 1))
    return [order[bounds[i] : bounds[i + 1]] for i in range(parts)]


def _malloc_trim() -> Any:
    """glibc's ``malloc_trim``, or None (macOS, Windows, musl)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or None).malloc_trim
    except (OSError, AttributeError):
        return None


_TRIM = _malloc_trim()


def release_memory() -> None:
    """Hand memory freed by now back to the OS: what glibc's arenas hold free (its
    ``malloc_trim``, where there is one) and Arrow's default pool. A merge frees many
    temporaries of a few MB from several threads; glibc keeps such chunks in per-thread
    arenas, resident, after 8 MB page bodies raised its threshold for mapping memory
    of its own. Dask's workers trim for the same reason."""
    pa.default_memory_pool().release_unused()
    if _TRIM is not None:
        _TRIM(0)
