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

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["codes", "run_starts", "sorted_runs"]


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
        values = values.combine_chunks()
    encoded = pc.dictionary_encode(values)
    found = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    return found.astype(np.int64, copy=False), encoded.dictionary
