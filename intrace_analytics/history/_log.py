"""The change log on disk: its layout, the ``loads`` table, and reading through it.

Layout (every path under the store's root)::

    loads/load-000001.parquet                    one row per committed load (written last)
    incidents/load_id=000001-9f0c1a2b/part-0.parquet
    links/load_id=.../part-0.parquet             the rows new, changed or gone at that load,
    threats/..., assets/..., incident_assets/... with the table's columns, load_id, change

Every reader goes through ``loads``: it lists the committed loads and reads exactly their
partitions, by path, never by globbing a table's directory, so a partition that a killed
or a racing writer left uncommitted is never seen. Categorical columns are plain strings
in the log (any engine reads them); the categories of each load are kept in its ``loads``
file's metadata and put back on reading (:func:`to_frame`).

Each partition holds its rows in key order. The state at a load (:func:`state`) is then
the first load's snapshot, less the keys later loads wrote (found by a binary search),
plus their latest rows, each put where a binary search says: one copy of the rows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from intrace_analytics._version import __version__
from intrace_analytics.exceptions import ExportError
from intrace_analytics.export._parquet import string_types, to_pandas
from intrace_analytics.frames import _schema as schema
from intrace_analytics.history._store import Store

__all__ = [
    "GONE",
    "LOADS_SCHEMA",
    "data_schema",
    "decoded",
    "key_array",
    "latest",
    "load_path",
    "log_schema",
    "partition_path",
    "read_loads",
    "read_part",
    "read_record",
    "scan",
    "state",
    "still_present",
    "to_frame",
]

#: The ``change`` values that end a row's presence in the result set.
GONE = ("gone", "left_scope")

LOADS_SCHEMA = pa.schema(
    [
        pa.field("load_id", pa.string(), nullable=False),
        pa.field("load_seq", pa.int64(), nullable=False),
        pa.field("fetched_at", pa.timestamp(schema.TIMESTAMP_UNIT, tz="UTC"), nullable=False),
        pa.field("previous_load_id", pa.string()),
        pa.field("complete", pa.bool_(), nullable=False),
        pa.field("filters", pa.string(), nullable=False),  # JSON, keys sorted
        *(pa.field(name, pa.int64(), nullable=False) for name in ("rows", "links", "threats")),
        *(
            pa.field(name, pa.int64(), nullable=False)
            for name in ("new", "changed", "gone", "left_scope")
        ),
        pa.field("package_version", pa.string(), nullable=False),
        pa.field("schema_version", pa.int64(), nullable=False),
    ]
)

_LOAD_FILE = re.compile(r"load-([0-9]{6,})\.parquet")
_CATEGORICAL = tuple(kind for kind, types in schema.KINDS.items() if types.categorical)


def load_path(store: Store, seq: int) -> str:
    return store.path("loads", f"load-{seq:06d}.parquet")


def partition_path(store: Store, table: str, load_id: str) -> str:
    return store.path(table, f"load_id={load_id}", "part-0.parquet")


def data_schema(table: str) -> pa.Schema:
    """The table's columns as the log stores them: categoricals as plain strings."""
    return pa.schema(
        [
            pa.field(f.name, pa.string()) if pa.types.is_dictionary(f.type) else f
            for f in schema.arrow_schema(table)
        ]
    )


def log_schema(table: str) -> pa.Schema:
    """A partition's schema: the table's columns, then ``load_id`` and ``change``."""
    return (
        data_schema(table)
        .append(pa.field("load_id", pa.string()))
        .append(pa.field("change", pa.string()))
    )


def key_array(table: pa.Table, name: str) -> pa.ChunkedArray:
    """One string per row naming its key (a composite key joined by a unit separator)."""
    columns = schema.TABLES[name].key_columns
    if len(columns) == 1:
        return table[columns[0]]
    return pc.binary_join_element_wise(*(table[c] for c in columns), "\x1f")


def read_loads(store: Store) -> pd.DataFrame:
    """The committed loads, oldest first, after checking versions and the chain."""
    files = sorted(
        (int(match.group(1)), info.path)
        for info in store.children(store.path("loads"))
        if (match := _LOAD_FILE.fullmatch(info.base_name))
    )
    if not files:
        return LOADS_SCHEMA.empty_table().to_pandas(types_mapper=string_types)
    table = ds.dataset([p for _, p in files], filesystem=store.fs, format="parquet").to_table()
    versions = table["schema_version"].to_pylist() if "schema_version" in table.schema.names else []
    newest = max((v for v in versions if isinstance(v, int)), default=None)
    if newest is None or newest > schema.SCHEMA_VERSION:
        raise ExportError(
            f"the history in {store.location} was written with schema_version {newest!r}, "
            f"newer than this intrace_analytics {__version__} reads "
            f"(up to {schema.SCHEMA_VERSION}); upgrade intrace_analytics to read it",
            path=store.location,
        )
    table = table.select(LOADS_SCHEMA.names).cast(LOADS_SCHEMA).sort_by("load_seq")
    loads = table.to_pandas(types_mapper=string_types)
    _check_chain(store, loads, [seq for seq, _ in files])
    return loads


def _check_chain(store: Store, loads: pd.DataFrame, named: Sequence[int]) -> None:
    """Each load names the one before it, and its file is named by its sequence number."""
    seqs = loads["load_seq"].tolist()
    previous = [None, *loads["load_id"].tolist()[:-1]]
    expected = list(range(1, len(seqs) + 1))
    broken = seqs != expected or sorted(named) != expected
    broken = broken or any(
        (p is None) != pd.isna(q) or (p is not None and p != q)
        for p, q in zip(previous, loads["previous_load_id"], strict=True)
    )
    if broken:
        raise ExportError(
            f"the loads of the history in {store.location} do not form one chain "
            f"(load_seq {seqs}); the store was modified by something other than "
            "intrace_analytics",
            path=store.location,
        )


def read_record(store: Store, seq: int) -> dict[str, Any]:
    """The record a load's ``loads`` file carries: its load report and categories."""
    metadata = pq.read_schema(load_path(store, seq), filesystem=store.fs).metadata or {}
    record = json.loads(metadata.get(schema.METADATA_KEY, b"{}"))
    return record if isinstance(record, dict) else {}


def read_part(
    store: Store,
    table: str,
    load_id: str,
    columns: Sequence[str],
    *,
    keys: pa.Array | pa.ChunkedArray | None = None,
    by: str | None = None,
    pool: pa.MemoryPool | None = None,
) -> pa.Table:
    """One load's partition of ``table``: ``columns`` (text as Arrow dictionaries: see
    :func:`_dictionary_columns`); when
    ``keys`` is given, only the rows whose key (or column ``by``) is among them. A
    column the file lacks reads as missing values. ``pool``: the Arrow memory pool the
    rows are read into (the default pool when ``None``).

    With ``keys``, the matched column is read first and the others only when some row
    matches, so a load that did not touch those keys costs one column."""
    if keys is not None and not len(keys):
        return _typed(_read_schema(table).empty_table(), table, columns)
    dictionary = [c for c in _dictionary_columns(table) if c in columns]
    options = ds.ParquetReadOptions(dictionary_columns=dictionary)
    part = ds.dataset(
        partition_path(store, table, load_id),
        format=ds.ParquetFileFormat(read_options=options),
        filesystem=store.fs,
    )
    present = set(part.schema.names)
    mask = None
    if keys is not None:
        matched = [by] if by else list(schema.TABLES[table].key_columns)
        values = _read_rows(part, matched, pool)
        mask = pc.is_in(values[by] if by else key_array(values, table), value_set=keys)
        if not pc.any(mask).as_py():
            return _typed(part.schema.empty_table(), table, columns)
    rows = _read_rows(part, [c for c in columns if c in present], pool)
    if mask is not None:
        rows = rows.filter(mask)
    return _typed(rows, table, columns)


def _read_rows(part: ds.Dataset, columns: list[str], pool: pa.MemoryPool | None) -> pa.Table:
    """The file's ``columns`` in file order, one chunk per row group: batches as large as
    a row group (a join of the row groups into one chunk per column would copy every
    row, and many small chunks slow every later gather)."""
    return part.to_table(columns=columns, batch_size=_BATCH_ROWS, memory_pool=pool)


#: At least a row group (pyarrow writes row groups of up to 1Mi rows).
_BATCH_ROWS = 1 << 24


def _read_schema(table: str) -> pa.Schema:
    """The types :func:`read_part` gives: the log's, text as Arrow dictionaries."""
    dictionary = set(_dictionary_columns(table))
    return pa.schema(
        [
            pa.field(f.name, pa.dictionary(pa.int32(), f.type)) if f.name in dictionary else f
            for f in log_schema(table)
        ]
    )


def _typed(rows: pa.Table, table: str, columns: Sequence[str]) -> pa.Table:
    """``rows`` with exactly ``columns``, in that order; a missing one all null."""
    target = _read_schema(table)
    return pa.table(
        {
            c: rows[c] if c in rows.column_names else pa.nulls(rows.num_rows, target.field(c).type)
            for c in columns
        }
    )


def scan(
    store: Store,
    loads: pd.DataFrame,
    table: str,
    *,
    upto: int,
    after: int = 0,
    columns: Sequence[str] | None = None,
    keys: pa.Array | pa.ChunkedArray | None = None,
    by: str | None = None,
    pool: pa.MemoryPool | None = None,
) -> pa.Table:
    """The log rows of ``table`` from the loads ``after < load_seq <= upto``, in load
    order, with their ``change`` and ``_seq``; only ``columns`` (all by default) and,
    when ``keys`` is given, the rows whose key (or column ``by``) is among them."""
    chosen = loads[(loads["load_seq"] > after) & (loads["load_seq"] <= upto)]
    wanted = [*dict.fromkeys([*(columns or data_schema(table).names), "change"])]
    parts = []
    for load_id, seq in zip(chosen["load_id"], chosen["load_seq"], strict=True):
        # One file per load: its rows get its number without a lookup per row.
        found = read_part(store, table, load_id, wanted, keys=keys, by=by, pool=pool)
        parts.append(found.append_column("_seq", pa.repeat(pa.scalar(int(seq)), found.num_rows)))
    if not parts:
        empty = _typed(_read_schema(table).empty_table(), table, wanted)
        return empty.append_column("_seq", pa.array([], pa.int64()))
    return pa.concat_tables(parts, promote_options="permissive")


def state(
    store: Store,
    loads: pd.DataFrame,
    table: str,
    *,
    upto: int,
    columns: Sequence[str] | None = None,
    keys: pa.Array | pa.ChunkedArray | None = None,
    ordered: bool = False,
    pool: pa.MemoryPool | None = None,
) -> pa.Table:
    """Per key in the result set at load ``upto``, its row from the latest load at or
    before it that wrote one: ``columns`` (the table's, by default) and, when ``keys``
    is given, only those keys; ordered by key when ``ordered``, else in no promised
    order. The rows are copied once, by one gather, into ``pool`` (Arrow's default
    pool when ``None``).

    The first load holds most rows, all ``new`` (it has no previous state), in key
    order: its ``change`` is not read, the keys later loads wrote (few) are found in it
    by a binary search (:class:`_Sorted`) and their latest rows merged in by key rather
    than sorting every row."""
    wanted = list(columns or data_schema(table).names)
    chosen = loads[loads["load_seq"] <= upto]
    if chosen.empty:
        return _typed(_read_schema(table).empty_table(), table, wanted)
    first_seq = int(chosen["load_seq"].iloc[0])
    first = read_part(store, table, chosen["load_id"].iloc[0], wanted, keys=keys, pool=pool)
    later = scan(
        store, loads, table, after=first_seq, upto=upto, columns=wanted, keys=keys, pool=pool
    )
    later = latest(later, table)
    if ordered and later.num_rows:
        later = later.sort_by(_ascending(table))
    sorted_first = _Sorted.of(first, later, table)
    if sorted_first is None:
        replaced = pc.is_in(key_array(first, table), value_set=key_array(later, table))
        kept = np.flatnonzero(~replaced.to_numpy(zero_copy_only=False))
    else:
        kept = sorted_first.kept()
    present = still_present(later["change"])
    later = later.filter(present).select(wanted)
    if ordered:
        positions = _merged(first, kept, later, table, sorted_first, present)
    else:
        positions = np.concatenate([kept, first.num_rows + np.arange(later.num_rows)])
    if not later.num_rows:
        if len(positions) == first.num_rows and (positions[1:] > positions[:-1]).all():
            return first  # every row, in order: nothing to copy
        return first.take(positions)
    rows = pa.concat_tables([first, later], promote_options="permissive", memory_pool=pool)
    return _take(rows, positions, pool)


def _take(rows: pa.Table, positions: np.ndarray, pool: pa.MemoryPool | None) -> pa.Table:
    """``rows.take(positions)``, each column copied once.

    Arrow's take of a chunked string column (pyarrow 26) concatenates the chunks (a
    copy of the column) and then finds each row's chunk, some 20x slower than taking
    from one array. Identifiers (strings of one length, as UUIDs are) are gathered
    from each chunk in place instead (:func:`_gather_fixed`); the other columns are
    concatenated first: they are small integers (text is read as dictionaries),
    timestamps and numbers."""
    indices = pa.array(positions, pa.int64())
    chunks: dict[tuple[int, ...], list[tuple[int, np.ndarray, np.ndarray]]] = {}
    columns = []
    for column in rows.columns:
        lengths = tuple(len(c) for c in column.chunks)
        if lengths not in chunks:
            chunks[lengths] = _by_chunk(lengths, positions)
        gathered = _gather_fixed(column, chunks[lengths], len(positions), pool)
        if gathered is None:
            combined = column.combine_chunks(memory_pool=pool)
            gathered = pc.take(combined, indices, memory_pool=pool)
        columns.append(gathered)
    return pa.Table.from_arrays(columns, schema=rows.schema)


def _by_chunk(
    lengths: Sequence[int], positions: np.ndarray
) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Per non-empty chunk: its index, the output slots its rows fill and their
    positions inside it (worked out once per table, not once per column)."""
    found = []
    start = 0
    for index, length in enumerate(lengths):
        inside = (positions >= start) & (positions < start + length)
        if length and inside.any():
            slots = np.flatnonzero(inside)
            found.append((index, slots, positions[slots] - start))
        start += length
    return found


def _gather_fixed(
    column: pa.ChunkedArray,
    chunks: list[tuple[int, np.ndarray, np.ndarray]],
    count: int,
    pool: pa.MemoryPool | None,
) -> pa.Array | None:
    """``column`` at ``count`` positions (given per chunk, :func:`_by_chunk`) for strings
    of one byte length without nulls, copied once from each chunk's bytes through NumPy
    into a buffer of ``pool``; ``None`` for any other column."""
    if not pa.types.is_string(column.type) or column.null_count or not count:
        return None
    views: list[np.ndarray] = []
    for index, _, _ in chunks:
        view = _fixed_width(column.chunk(index))
        if view is None or (views and view.dtype != views[0].dtype):
            return None
        views.append(view)
    if not views:
        return None
    first = views[0]
    width = first.dtype.itemsize
    if (count + 1) * width >= 2**31:  # int32 offsets
        return None
    data = pa.allocate_buffer(count * width, memory_pool=pool)
    gathered = np.frombuffer(data, dtype=first.dtype)
    for view, (_, slots, inside) in zip(views, chunks, strict=True):
        if len(slots) == count:
            np.take(view, inside, out=gathered)
        else:
            gathered[slots] = view[inside]
    offsets = np.arange(0, (count + 1) * width, width, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), count, [None, pa.py_buffer(offsets), data])


def _merged(
    first: pa.Table,
    kept: np.ndarray,
    later: pa.Table,
    table: str,
    sorted_first: _Sorted | None,
    present: pa.ChunkedArray | pa.Array,
) -> np.ndarray:
    """The positions in ``first`` then ``later`` of the rows ``kept`` of ``first`` and
    every row of ``later``, in key order; both are in key order already and share no
    key, so each row of ``later`` goes in where a binary search of ``first`` puts it
    (``sorted_first``; ``present`` picks the rows of ``later`` it searched for that
    stay). Without the search (keys NumPy cannot compare as Arrow sorts them, or a
    first load not in key order), every row is sorted."""
    count = later.num_rows
    if sorted_first is None:
        positions = np.concatenate([kept, first.num_rows + np.arange(count)])
        key_columns = list(schema.TABLES[table].key_columns)
        rows = pa.concat_tables([first.select(key_columns), later.select(key_columns)])
        return positions[pc.sort_indices(rows.take(positions), _ascending(table)).to_numpy()]
    ranks = sorted_first.ranks[present.to_numpy(zero_copy_only=False)]
    # A row of later lands after the kept rows of first below it and the rows of later
    # before it; the kept rows of first fill the other slots, in order.
    slots = np.searchsorted(kept, ranks) + np.arange(count)
    positions = np.empty(len(kept) + count, dtype=np.int64)
    filled = np.zeros(len(positions), dtype=bool)
    filled[slots] = True
    positions[slots] = first.num_rows + np.arange(count)
    positions[~filled] = kept
    return positions


@dataclass(frozen=True)
class _Sorted:
    """Where the keys of ``later`` fall among those of ``first`` (one key column of
    same-length strings, which NumPy compares as Arrow sorts them, ``first`` in key
    order): per key of ``later``, ``ranks`` (how many keys of ``first`` sort below it)
    and ``found`` (its position in ``first``, -1 when absent). Searched chunk by chunk
    of ``first``, so its key column is never joined into one copy."""

    rows: int
    ranks: np.ndarray
    found: np.ndarray

    @classmethod
    def of(cls, first: pa.Table, later: pa.Table, table: str) -> _Sorted | None:
        columns = schema.TABLES[table].key_columns
        if len(columns) != 1:
            return None
        views = _sorted_views(first[columns[0]])
        above = _fixed_width(later[columns[0]]) if later.num_rows else np.zeros(0, "S1")
        if views is None or above is None:
            return None
        if views and later.num_rows and above.dtype != views[0].dtype:
            return None
        ranks = np.zeros(len(above), dtype=np.int64)
        found = np.full(len(above), -1, dtype=np.int64)
        start = 0
        for view in views:
            at = np.searchsorted(view, above, side="left")
            inside = np.flatnonzero(at < len(view))
            hit = inside[view[at[inside]] == above[inside]]
            found[hit] = start + at[hit]
            ranks += at
            start += len(view)
        return cls(first.num_rows, ranks, found)

    def kept(self) -> np.ndarray:
        """The positions in ``first`` of the keys ``later`` did not write."""
        keep = np.ones(self.rows, dtype=bool)
        keep[self.found[self.found >= 0]] = False
        return np.flatnonzero(keep)


def _sorted_views(column: pa.ChunkedArray) -> list[np.ndarray] | None:
    """Each non-empty chunk of a key column as a fixed-width view (:func:`_fixed_width`),
    or ``None`` unless every key has one byte length and they ascend across chunks."""
    views: list[np.ndarray] = []
    for chunk in column.chunks:
        if not len(chunk):
            continue
        view = _fixed_width(chunk)
        if view is None or (views and (view.dtype != views[0].dtype or views[-1][-1] > view[0])):
            return None
        if len(view) > 1 and not (view[1:] >= view[:-1]).all():
            return None
        views.append(view)
    return views


def _fixed_width(values: pa.Array | pa.ChunkedArray) -> np.ndarray | None:
    """Strings of one byte length and no nulls as a NumPy ``S<width>`` view of their
    bytes (same-width byte strings order as Arrow orders them); else ``None``."""
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if not pa.types.is_string(array.type) or array.null_count or not len(array):
        return None
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)[
        array.offset : array.offset + len(array) + 1
    ]
    width = int(offsets[1] - offsets[0])
    if width == 0 or not (np.diff(offsets) == width).all():
        return None
    return np.frombuffer(
        array.buffers()[2], dtype=f"S{width}", count=len(array), offset=int(offsets[0])
    )


def _latest_positions(log: pa.Table, table: str) -> np.ndarray:
    """Per key, the position of its row from its latest load (ascending)."""
    seq = log["_seq"].to_numpy()
    if seq[0] == seq[-1]:
        return np.arange(len(seq))
    # One int64 orders the rows by load then by position: the max per key is the key's
    # row from its latest load.
    ordinal = (seq.astype(np.int64) << 32) + np.arange(len(seq), dtype=np.int64)
    grouped = (
        pa.table({"k": key_array(log, table), "o": ordinal})
        .group_by("k", use_threads=False)
        .aggregate([("o", "max")])
    )
    return np.sort(grouped["o_max"].to_numpy() & 0xFFFFFFFF)


def latest(log: pa.Table, table: str) -> pa.Table:
    """Per key, the row of the latest load in ``log`` (rows in load order)."""
    if not log.num_rows:
        return log
    return log.take(_latest_positions(log, table))


def _ascending(table: str) -> list[tuple[str, str]]:
    return [(c, "ascending") for c in schema.TABLES[table].key_columns]


def decoded(rows: pa.Table) -> pa.Table:
    """``rows`` with dictionary columns as plain values, as the log stores them."""
    return rows.cast(
        pa.schema(
            [
                pa.field(f.name, f.type.value_type) if pa.types.is_dictionary(f.type) else f
                for f in rows.schema
            ]
        )
    )


def still_present(change: pa.ChunkedArray) -> pa.ChunkedArray:
    """Whether each ``change`` leaves its row in the result set (two string compares:
    cheaper than a hash lookup over many rows)."""
    return pc.and_(pc.not_equal(change, GONE[0]), pc.not_equal(change, GONE[1]))


def to_frame(
    table: str,
    rows: pa.Table,
    categories: Mapping[str, Sequence[str]] | None = None,
    pool: pa.MemoryPool | None = None,
) -> pd.DataFrame:
    """Log rows as the table's frame, with exactly the schema's dtypes: the recorded
    categories (those a load saw), widened by any label the rows hold beyond them.
    Text read as dictionaries is decoded into ``pool``."""
    names = [c.name for c in schema.TABLES[table]]
    rows = rows.select(names)
    target = schema.arrow_schema(table)
    for index, field in enumerate(rows.schema):
        wanted = target.field(field.name).type
        if pa.types.is_dictionary(field.type) and not pa.types.is_dictionary(wanted):
            decoded_text = pc.cast(rows[field.name], wanted, memory_pool=pool)
            rows = rows.set_column(index, field.name, decoded_text)
    recorded = dict(categories or {})
    for column in schema.TABLES[table]:
        if column.kind not in _CATEGORICAL:
            continue
        seen = _labels(rows[column.name])
        known = list(recorded.get(column.name, []))
        if not known or not seen <= set(known):
            known = schema.categories_for(column, seen | set(known))
        recorded[column.name] = known
    record = {"schema_version": schema.SCHEMA_VERSION, "categories": recorded}
    return to_pandas(table, f"the history's {table} log", rows, record)  # type: ignore[arg-type]


def _labels(values: pa.ChunkedArray) -> set[str]:
    """The labels a column holds; of a dictionary column, only those its rows use (a
    filtered chunk keeps its whole dictionary)."""
    if not pa.types.is_dictionary(values.type):
        return {v for v in pc.unique(values).to_pylist() if v is not None}
    used: set[str] = set()
    for chunk in values.chunks:
        codes = pc.drop_null(pc.unique(chunk.indices))
        used.update(v for v in chunk.dictionary.take(codes).to_pylist() if v is not None)
    return used


def _dictionary_columns(table: str) -> tuple[str, ...]:
    """The columns read as Arrow dictionaries: every string column but identifiers
    (categoricals, titles, descriptions, ``change``). Their Parquet pages are
    dictionary-coded, so they decode as small integers, without a string per row:
    several times cheaper than plain strings, and ``take``/``filter`` stay cheap."""
    text = [
        c.name
        for c in schema.TABLES[table]
        if (c.kind in _CATEGORICAL or c.kind is schema.Kind.STRING)
        and c.name not in _IDENTIFIERS
        and not c.name.endswith("_uuid")
    ]
    return (*text, "change")


#: Columns that name a row of some table: as many values as rows, never a dictionary.
_IDENTIFIERS = frozenset(c for t in schema.TABLES.values() for c in t.key_columns)
