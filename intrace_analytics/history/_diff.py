"""What a load adds to the log: per table, the rows new, changed (any column, null-safe)
or gone since the state of the previous committed load.

Vectorised on Arrow: one hash lookup of the new keys among the previous ones
(``pyarrow.compute.index_in``: a single hash table, cheaper than a join's two), then per
column one ``take`` of the previous values into the new rows' order and one null-safe
comparison; no Python loop over rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from intrace_analytics.export._parquet import check_columns, recorded_categories
from intrace_analytics.frames import _schema as schema
from intrace_analytics.history._log import GONE, data_schema, decoded, key_array, log_schema

__all__ = [
    "Incoming",
    "absent_labels",
    "counts",
    "diff",
    "differs",
    "incoming",
    "rows_differ",
]

_CATEGORICAL = tuple(kind for kind, types in schema.KINDS.items() if types.categorical)


@dataclass(frozen=True)
class Incoming:
    """One table of the frames being appended, as the log stores it."""

    rows: pa.Table
    categories: dict[str, list[str]]


def incoming(table: str, frame: pd.DataFrame) -> Incoming:
    """The frame as Arrow in the log's types (categoricals as strings), and its
    categories; raises ``ValueError`` when its columns are not the table's."""
    columns = check_columns(table, frame)
    ordered = frame[columns]
    ordered.attrs = {}
    target = schema.arrow_schema(table)
    try:
        rows = pa.Table.from_pandas(ordered, schema=target, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        exc.add_note(f"while converting the {table!r} frame to its Arrow schema:\n{target}")
        raise
    categories = {
        c.name: recorded_categories(c, ordered[c.name])
        for c in schema.TABLES[table]
        if c.kind in _CATEGORICAL
    }
    return Incoming(rows.cast(data_schema(table)).replace_schema_metadata(None), categories)


def rows_differ(
    new: pa.Table, old: pa.Table, position: pa.Array | pa.ChunkedArray, columns: list[str]
) -> pa.ChunkedArray | pa.Array:
    """Per row of ``new``, whether any of ``columns`` differs from the row of ``old`` at
    ``position`` (null: none); a missing value equals only a missing value. One column
    at a time, so only one column of ``old`` is reordered at once."""
    mask: pa.ChunkedArray | pa.Array = pa.repeat(pa.scalar(False), new.num_rows)
    for name in columns:
        a, b = new[name], pc.take(old[name], position)
        if pa.types.is_dictionary(b.type):
            b = b.cast(b.type.value_type)
        mask = pc.or_(mask, differs(a, b))
    return mask


def differs(
    a: pa.Array | pa.ChunkedArray, b: pa.Array | pa.ChunkedArray
) -> pa.Array | pa.ChunkedArray:
    """Per position, whether ``a`` and ``b`` differ; a missing value equals only a
    missing value (never null)."""
    unequal = pc.fill_null(pc.not_equal(a, b), False)
    return pc.or_(unequal, pc.xor(pc.is_null(a), pc.is_null(b)))


def diff(
    table: str,
    new: pa.Table,
    old: pa.Table,
    *,
    gone: pa.Array | None,
    load_id: str,
) -> pa.Table:
    """The rows of ``new`` that are new or changed against ``old`` (the previous state),
    then the rows of ``old`` absent from ``new`` labelled by ``gone`` (one label per row
    of ``old``; ``None`` writes no absent rows: an incomplete load), with ``load_id``
    and ``change``; ordered by key (so that a reader merges loads cheaply)."""
    position = pc.index_in(key_array(new, table), value_set=key_array(old, table))
    matched = pc.is_valid(position)
    hits = np.bincount(pc.drop_null(position).to_numpy(), minlength=old.num_rows)
    _check_unique(table, new, matched, hits)
    values = [c for c in data_schema(table).names if c not in schema.TABLES[table].key_columns]
    differs = rows_differ(new, old, position, values)
    written = pc.or_(pc.invert(matched), differs)
    labels = pc.if_else(pc.filter(matched, written), "changed", "new")
    parts = [_with_change(new.filter(written), labels)]
    old_only = np.flatnonzero(hits == 0)
    if gone is not None and len(old_only):
        rows = decoded(old.select(data_schema(table).names).take(old_only))
        parts.append(_with_change(rows, gone.take(old_only)))
    rows = pa.concat_tables(parts, promote_options="permissive")
    rows = rows.set_column(
        rows.schema.get_field_index("load_id"), "load_id", pa.repeat(load_id, rows.num_rows)
    ).cast(log_schema(table))
    return rows.sort_by([(c, "ascending") for c in schema.TABLES[table].key_columns])


def _check_unique(
    table: str, new: pa.Table, matched: pa.ChunkedArray | pa.Array, hits: np.ndarray
) -> None:
    """Raise ``ValueError`` when ``new`` holds a key twice: among the keys it shares
    with the previous state (two rows found one), or among its others."""
    fresh = key_array(new.filter(pc.invert(matched)), table)
    if (hits > 1).any() or pc.count_distinct(fresh).as_py() < len(fresh):
        counts = pc.value_counts(key_array(new, table))
        repeated = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))
        raise ValueError(
            f"the {table!r} frame repeats the key {list(schema.TABLES[table].key_columns)} "
            f"{repeated[0].as_py()!r}; a load holds each row once"
        )


def absent_labels(
    table: str, old: pa.Table, *, filtered: bool, left: pa.Array, old_links: pa.Table
) -> pa.Array:
    """``gone`` or ``left_scope`` for each row of ``old`` (the previous state), should it
    be absent from a complete load: in an unfiltered store always ``gone``; in a filtered
    one, ``left_scope`` when it left with an incident that no longer matches the filters
    (``left``: their ids), else ``gone`` (a link removed from an incident still in scope)."""
    count = old.num_rows
    if not filtered or table == "assets":
        return pa.repeat(GONE[0], count)
    if table == "incidents":
        return pa.repeat(GONE[1], count)
    if table == "threats":
        # A threat leaves with its incidents: those that linked it and left scope.
        leaving = old_links.filter(pc.is_in(old_links["incident_id"], value_set=left))
        with_incident = pc.is_in(old["threat_id"], value_set=leaving["threat_id"])
    else:
        with_incident = pc.is_in(old["incident_id"], value_set=left)
    return pc.if_else(with_incident, GONE[1], GONE[0])


def _with_change(rows: pa.Table, change: pa.Array | pa.ChunkedArray) -> pa.Table:
    rows = rows.select([c for c in rows.column_names if c not in ("load_id", "change", "_seq")])
    rows = rows.append_column("load_id", pa.nulls(rows.num_rows, pa.string()))
    return rows.append_column("change", change)


def counts(rows: pa.Table) -> Mapping[str, int]:
    """How many rows of each ``change``."""
    found = pc.value_counts(rows["change"]).to_pylist()
    return {item["values"]: item["counts"] for item in found}
