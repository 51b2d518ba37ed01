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
    "data_schema",
    "key_array",
    "latest",
    "load_path",
    "log_schema",
    "partition_path",
    "read_loads",
    "read_record",
    "scan",
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


def scan(
    store: Store,
    loads: pd.DataFrame,
    table: str,
    *,
    upto: int,
    after: int = 0,
    columns: Sequence[str] | None = None,
    where: ds.Expression | None = None,
) -> pa.Table:
    """The log rows of ``table`` from the loads ``after < load_seq <= upto``, in load
    order, with their ``_seq``; only ``columns`` (all by default) and rows matching
    ``where``."""
    chosen = loads[(loads["load_seq"] > after) & (loads["load_seq"] <= upto)]
    names = list(columns or data_schema(table).names)
    wanted = [*dict.fromkeys([*names, "load_id", "change"])]
    target = log_schema(table)
    if chosen.empty:
        return target.empty_table().select(wanted).append_column("_seq", pa.array([], pa.int64()))
    parts = []
    for load_id, seq in zip(chosen["load_id"], chosen["load_seq"], strict=True):
        # One file per load: read each on its own, so its rows get its number without a
        # lookup per row.
        dataset = ds.dataset(
            partition_path(store, table, load_id), schema=target, filesystem=store.fs
        )
        found = dataset.to_table(columns=wanted, filter=where)
        parts.append(found.append_column("_seq", pa.repeat(pa.scalar(int(seq)), found.num_rows)))
    return pa.concat_tables(parts)


def latest(log: pa.Table, table: str, *, present: bool = True) -> pa.Table:
    """Per key, the row of the latest load in ``log``; without the rows that left the
    result set when ``present``."""
    if log.num_rows:
        # One int64 orders the rows by load then by position: the max per key is the
        # key's row from its latest load (a key appears at most once per load).
        ordinal = pc.add(
            pc.shift_left(log["_seq"], pa.scalar(32, pa.int64())),
            pa.array(np.arange(log.num_rows, dtype=np.int64)),
        )
        grouped = (
            pa.table({"k": key_array(log, table), "o": ordinal})
            .group_by("k", use_threads=False)
            .aggregate([("o", "max")])
        )
        if grouped.num_rows < log.num_rows:  # else every row is its key's latest
            rows = pc.bit_wise_and(grouped["o_max"], pa.scalar(0xFFFFFFFF, pa.int64()))
            log = log.take(pc.take(rows, pc.array_sort_indices(rows)))
    if present:
        log = log.filter(still_present(log["change"]))
    return log


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
        seen = {v for v in pc.unique(rows[column.name]).to_pylist() if v is not None}
        known = list(recorded.get(column.name, []))
        if not known or not seen <= set(known):
            known = schema.categories_for(column, seen | set(known))
        recorded[column.name] = known
    record = {"schema_version": schema.SCHEMA_VERSION, "categories": recorded}
    return to_pandas(table, f"the history's {table} log", rows, record)  # type: ignore[arg-type]


def _strings(arrow: pa.DataType) -> pd.StringDtype | None:
    return pd.StringDtype() if pa.types.is_string(arrow) else None
