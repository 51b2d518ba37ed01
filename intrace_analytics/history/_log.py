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
the first load's snapshot, less the keys later loads wrote (one hash lookup), plus their
latest rows: the keys of nearly sorted runs, which sort cheaply, and one copy of the rows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from intrace_analytics._version import __version__
from intrace_analytics.export._parquet import to_pandas
from intrace_analytics.frames import _schema as schema
from intrace_analytics.history._store import Store

__all__ = [
    "GONE",
    "LOADS_SCHEMA",
    "current",
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
        return LOADS_SCHEMA.empty_table().to_pandas(types_mapper=_strings)
    table = ds.dataset([p for _, p in files], filesystem=store.fs, format="parquet").to_table()
    versions = table["schema_version"].to_pylist() if "schema_version" in table.schema.names else []
    newest = max((v for v in versions if isinstance(v, int)), default=None)
    if newest is None or newest > schema.SCHEMA_VERSION:
        raise ValueError(
            f"the history in {store.location} was written with schema_version {newest!r}, "
            f"newer than this intrace_analytics {__version__} reads "
            f"(up to {schema.SCHEMA_VERSION}); upgrade intrace_analytics to read it"
        )
    table = table.select(LOADS_SCHEMA.names).cast(LOADS_SCHEMA).sort_by("load_seq")
    loads = table.to_pandas(types_mapper=_strings)
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
        raise ValueError(
            f"the loads of the history in {store.location} do not form one chain "
            f"(load_seq {seqs}); the store was modified by something other than "
            "intrace_analytics"
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
) -> pa.Table:
    """One load's partition of ``table``: ``columns`` (text as Arrow dictionaries: see
    :func:`_dictionary_columns`); when
    ``keys`` is given, only the rows whose key (or column ``by``) is among them. A
    column the file lacks reads as missing values.

    With ``keys``, the matched column is read first and the others only when some row
    matches, so a load that did not touch those keys costs one column."""
    parquet = pq.ParquetFile(
        partition_path(store, table, load_id),
        filesystem=store.fs,
        read_dictionary=[c for c in _dictionary_columns(table) if c in columns],
    )
    present = set(parquet.schema_arrow.names)
    mask = None
    if keys is not None:
        matched = [by] if by else list(schema.TABLES[table].key_columns)
        values = parquet.read(columns=matched)
        mask = pc.is_in(values[by] if by else key_array(values, table), value_set=keys)
        if not pc.any(mask).as_py():
            return _typed(parquet.schema_arrow.empty_table(), table, columns)
    rows = parquet.read(columns=[c for c in columns if c in present])
    if mask is not None:
        rows = rows.filter(mask)
    return _typed(rows, table, columns)


def _typed(rows: pa.Table, table: str, columns: Sequence[str]) -> pa.Table:
    """``rows`` with exactly ``columns``, in that order; a missing one all null."""
    target = log_schema(table)
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
) -> pa.Table:
    """The log rows of ``table`` from the loads ``after < load_seq <= upto``, in load
    order, with their ``change`` and ``_seq``; only ``columns`` (all by default) and,
    when ``keys`` is given, the rows whose key (or column ``by``) is among them."""
    chosen = loads[(loads["load_seq"] > after) & (loads["load_seq"] <= upto)]
    wanted = [*dict.fromkeys([*(columns or data_schema(table).names), "change"])]
    parts = []
    for load_id, seq in zip(chosen["load_id"], chosen["load_seq"], strict=True):
        # One file per load: its rows get its number without a lookup per row.
        found = read_part(store, table, load_id, wanted, keys=keys, by=by)
        parts.append(found.append_column("_seq", pa.repeat(pa.scalar(int(seq)), found.num_rows)))
    if not parts:
        empty = _typed(log_schema(table).empty_table(), table, wanted)
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
    present: bool = True,
    ordered: bool = False,
) -> pa.Table:
    """Per key, its row as of load ``upto`` (from the latest load at or before it that
    wrote one), with ``change`` and ``_seq``; without the rows that had left the result
    set when ``present``; ordered by key when ``ordered``, else in no promised order.
    The rows are copied once, by one ``take``."""
    log = scan(store, loads, table, upto=upto, columns=columns, keys=keys)
    positions = current(log, table)
    if present:
        positions = positions[still_present(log["change"].take(positions)).to_numpy(False)]
    if ordered:
        keys_at = log.select(list(schema.TABLES[table].key_columns)).take(positions)
        positions = positions[pc.sort_indices(keys_at, _ascending(table)).to_numpy()]
    if len(positions) == log.num_rows and (positions[1:] > positions[:-1]).all():
        return log  # every row, in order: nothing to copy
    return log.take(positions)


def current(log: pa.Table, table: str) -> np.ndarray:
    """The positions of the rows of ``log`` (in load order) that are their key's latest.

    The first load in ``log`` is usually the first load's snapshot and holds most rows:
    it is filtered by one hash lookup against the keys the later loads wrote, which are
    few, instead of grouping every row of the log by key."""
    seq = log["_seq"].to_numpy()
    if not len(seq) or seq[0] == seq[-1]:
        return np.arange(len(seq))  # one load: a key appears at most once
    base = int(np.searchsorted(seq, seq[0], side="right"))
    later = log.slice(base)
    latest_later = base + _latest_positions(later, table)
    newer = pc.is_in(
        key_array(log.slice(0, base), table), value_set=key_array(log.take(latest_later), table)
    )
    return np.concatenate([np.flatnonzero(~newer.to_numpy(False)), latest_later])


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
    table: str, rows: pa.Table, categories: Mapping[str, Sequence[str]] | None = None
) -> pd.DataFrame:
    """Log rows as the table's frame, with exactly the schema's dtypes: the recorded
    categories (those a load saw), widened by any label the rows hold beyond them."""
    names = [c.name for c in schema.TABLES[table]]
    rows = rows.select(names)
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


def _strings(arrow: pa.DataType) -> pd.StringDtype | None:
    return pd.StringDtype() if pa.types.is_string(arrow) else None
