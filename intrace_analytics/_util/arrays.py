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

import os
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "POOL",
    "codes",
    "first_rows",
    "partition_rows",
    "run_starts",
    "seen_before",
    "sorted_runs",
    "take_rows",
]

#: The memory pool the normalizer's Arrow calls allocate from, passed as ``memory_pool=``:
#: nothing here changes Arrow's default pool, which belongs to the whole process.
#:
#: The system allocator, unless ``ARROW_DEFAULT_MEMORY_POOL`` names a pool (then that
#: one, the user's choice). Most of what a load allocates is freed soon after (a page's
#: parse, a merge's temporary copies); the system allocator hands it back to the OS,
#: where mimalloc, pyarrow's default on Linux, keeps what each thread freed resident in
#: that thread's heap: normalizing 1,000,000 incidents with 16 parse workers, peak RSS
#: was 1.67 GiB with mimalloc and 1.39 GiB with the system allocator, no slower
#: (``benchmarks/bench_normalize.py``).
POOL: pa.MemoryPool = (
    pa.default_memory_pool()
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL")
    else pa.system_memory_pool()
)


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
        values = values.combine_chunks(memory_pool=POOL)
    encoded = pc.dictionary_encode(values, memory_pool=POOL)
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
        return pc.take(values, pa.array(rows, pa.int64()), memory_pool=POOL)
    if values.num_chunks == 1:
        return pc.take(values.chunk(0), pa.array(rows, pa.int64()), memory_pool=POOL)
    rows = np.asarray(rows, np.int64)
    ascending = bool(np.all(rows[1:] >= rows[:-1]))
    order = None if ascending else np.argsort(rows, kind="stable")
    wanted = rows if order is None else rows[order]
    if len(wanted) and (wanted[0] < 0 or wanted[-1] >= len(values)):
        raise IndexError(f"rows outside 0..{len(values) - 1}")
    bounds = np.cumsum([0] + [len(chunk) for chunk in values.chunks])
    cuts = np.searchsorted(wanted, bounds)
    pieces = [
        pc.take(chunk, pa.array(wanted[cuts[i] : cuts[i + 1]] - bounds[i]), memory_pool=POOL)
        for i, chunk in enumerate(values.chunks)
        if cuts[i + 1] > cuts[i]
    ]
    taken = pa.concat_arrays(pieces, memory_pool=POOL) if pieces else pa.array([], values.type)
    if order is None:
        return taken
    back = np.empty_like(order)
    back[order] = np.arange(len(order))
    return pc.take(taken, pa.array(back), memory_pool=POOL)


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
        values = values.combine_chunks(memory_pool=POOL)
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
