"""What a load adds to the log: per table, the rows new, changed (any column, null-safe)
or gone since the state of the previous committed load.

Vectorised on Arrow: a hash lookup of the new keys among the previous ones
(``pyarrow.compute.index_in``), then one null-safe comparison per column over the matched
rows; no Python loop over rows.
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
from intrace_analytics.history._log import GONE, data_schema, key_array, log_schema

__all__ = [
    "Incoming",
    "absent_labels",
    "counts",
    "diff",
    "incoming",
    "pairs",
    "rows_at",
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


def rows_differ(new: pa.Table, old: pa.Table, columns: list[str]) -> pa.ChunkedArray | pa.Array:
    """Per row, whether any of ``columns`` differs between two aligned tables; a missing
    value equals only a missing value."""
    mask: pa.ChunkedArray | pa.Array = pa.repeat(pa.scalar(False), new.num_rows)
    for name in columns:
        a, b = new[name], old[name]
        unequal = pc.fill_null(pc.not_equal(a, b), False)
        mask = pc.or_(mask, pc.or_(unequal, pc.xor(pc.is_null(a), pc.is_null(b))))
    return mask


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
    and ``change``."""
    new_only, matched_new, matched_old, old_only = pairs(
        key_array(new, table), key_array(old, table)
    )
    new_matched = rows_at(new, matched_new)
    old_matched = rows_at(old, matched_old)
    values = [c for c in data_schema(table).names if c not in schema.TABLES[table].key_columns]
    changed = new_matched.filter(rows_differ(new_matched, old_matched, values))
    parts = [_labelled(rows_at(new, new_only), "new"), _labelled(changed, "changed")]
    if gone is not None and len(old_only):
        rows = old.select(data_schema(table).names).take(old_only)
        parts.append(_with_change(rows, gone.take(old_only)))
    rows = pa.concat_tables(parts)
    return rows.set_column(
        rows.schema.get_field_index("load_id"), "load_id", pa.repeat(load_id, rows.num_rows)
    ).cast(log_schema(table))


def rows_at(table: pa.Table, positions: np.ndarray) -> pa.Table:
    """``table.take(positions)``, as a zero-copy slice when the positions are a run
    (the rows a load kept from the previous one usually are)."""
    count = len(positions)
    if count == 0:
        return table.slice(0, 0)
    start = int(positions[0])
    if int(positions[-1]) - start + 1 == count and bool((np.diff(positions) == 1).all()):
        return table.slice(start, count)
    return table.take(positions)


def pairs(
    new: pa.ChunkedArray, old: pa.ChunkedArray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Row positions by key: in ``new`` only, matched (``new`` and ``old`` side by side)
    and in ``old`` only, each in its table's order. One hash join on the keys (Acero's,
    several times faster than ``index_in`` plus ``is_in`` over strings)."""
    left = pa.table({"k": new, "n": np.arange(len(new), dtype=np.int64)})
    right = pa.table({"k": old, "o": np.arange(len(old), dtype=np.int64)})
    joined = left.join(right, "k", join_type="full outer")
    n = pc.fill_null(joined["n"], -1).to_numpy()
    o = pc.fill_null(joined["o"], -1).to_numpy()
    both = (n >= 0) & (o >= 0)
    order = np.argsort(n[both], kind="stable")
    return (
        np.sort(n[o < 0]),
        n[both][order],
        o[both][order],
        np.sort(o[n < 0]),
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


def _labelled(rows: pa.Table, change: str) -> pa.Table:
    return _with_change(rows, pa.repeat(change, rows.num_rows))


def _with_change(rows: pa.Table, change: pa.Array | pa.ChunkedArray) -> pa.Table:
    rows = rows.select([c for c in rows.column_names if c not in ("load_id", "change", "_seq")])
    rows = rows.append_column("load_id", pa.nulls(rows.num_rows, pa.string()))
    return rows.append_column("change", change)


def counts(rows: pa.Table) -> Mapping[str, int]:
    """How many rows of each ``change``."""
    found = pc.value_counts(rows["change"]).to_pylist()
    return {item["values"]: item["counts"] for item in found}
