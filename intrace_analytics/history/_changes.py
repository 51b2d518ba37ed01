"""The questions a history answers: what changed between two loads (in words a security
manager uses), how the result set moved load by load, and every version of a row.

Vocabulary of :func:`changes`, per table:

- every table: ``new`` (in the result set at ``until``, not at ``since``), ``gone`` and
  ``left_scope`` (the other way round, as the load that dropped it said), ``changed`` (one
  row per other column that differs, ``field`` naming it);
- incidents: ``resolved`` (status became closed or resolved), ``reopened`` (from closed
  or resolved to any other status), ``status`` (other moves, closed to resolved
  included), ``escalated`` / ``deescalated`` (the highest known severity among its
  linked threats went up / down, ``field`` = ``max_severity``; from none to a known one
  is ``escalated``);
- threats: ``escalated`` / ``deescalated`` by ``severity`` (``severity_rank`` travels
  with it and is not reported apart).

A change is the net change between the two loads: a row that changed and came back
shows nothing. Its ``fetched_at`` is that of the last load in the span that made it: for
a column, the last load that changed that column; for ``new``, the last load that
brought the row back into the result set; for an escalation, the last load that moved
the incident's highest severity.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from intrace_analytics._util.checks import check_choice
from intrace_analytics._util.clock import as_of as to_utc
from intrace_analytics.export._parquet import string_types
from intrace_analytics.frames import _schema as schema
from intrace_analytics.history._diff import differs
from intrace_analytics.history._log import (
    GONE,
    data_schema,
    decoded,
    key_array,
    latest,
    read_loads,
    scan,
    state,
    still_present,
    to_frame,
)
from intrace_analytics.history._store import Store

__all__ = ["CHANGE_COLUMNS", "TREND_COLUMNS", "changes", "trend", "versions"]

CHANGE_COLUMNS = ("change", "field", "before", "after", "fetched_at")
TREND_COLUMNS = (
    "load_id",
    "fetched_at",
    "incidents",
    "open",
    "closed",
    "resolved",
    "new",
    "resolved_since",
    "reopened",
    "gone",
)
_DONE = ("closed", "resolved")
_UTC = pd.DatetimeTZDtype(unit=schema.TIMESTAMP_UNIT, tz="UTC")
_TEXT = pd.StringDtype()


def changes(store: Store, since: Any, until: Any, table: str) -> pd.DataFrame:
    """See :meth:`intrace_analytics.History.changes`.

    Reads the loads of the span whole (they hold only what changed) and, of the loads
    before it, only the rows of the keys the span wrote (a key column first, the other
    columns of a file only when it holds one of them)."""
    check_choice("table", table, list(schema.TABLES))
    loads = read_loads(store)
    empty = _frame(table, [])
    if loads.empty:
        return empty
    last = int(loads["load_seq"].iloc[-1])
    until_seq = last if until is None else _seq_at(loads, to_utc(until))
    since_seq = until_seq - 1 if since is None else _seq_at(loads, to_utc(since))
    if until_seq == 0 or since_seq >= until_seq:
        return empty
    span = decoded(scan(store, loads, table, after=since_seq, upto=until_seq))
    after = latest(span, table)
    before = decoded(state(store, loads, table, upto=since_seq, keys=key_array(after, table)))
    stamps = loads["fetched_at"].reset_index(drop=True)
    made = _made_at(table, before, span)
    parts = _row_changes(table, before, after, stamps, made)
    if table == "incidents":
        span_rows = (before, after)
        parts.append(_severity_changes(store, loads, since_seq, until_seq, stamps, span_rows))
    return _frame(table, parts)


def _seq_at(loads: pd.DataFrame, moment: pd.Timestamp) -> int:
    """The number of the last load at or before ``moment`` (0: none)."""
    seen = loads.loc[loads["fetched_at"] <= moment, "load_seq"]
    return int(seen.iloc[-1]) if not seen.empty else 0


def _row_changes(
    table: str, before: pa.Table, after: pa.Table, stamps: pd.Series, made: dict[str, pd.Series]
) -> list[pd.DataFrame]:
    """new, gone/left_scope and per-column changes between two states of some keys."""
    keys = schema.TABLES[table].key_columns
    in_before = pc.is_in(key_array(after, table), value_set=key_array(before, table))
    present = still_present(after["change"])
    appeared = after.filter(pc.and_(present, pc.invert(in_before)))
    dropped = after.filter(pc.and_(pc.invert(present), in_before))
    parts = [
        _when(table, _plain(appeared, keys, "new"), stamps, made.get(_PRESENCE)),
        _when(table, _plain(dropped, keys, None), stamps, None),
    ]
    matched = after.filter(pc.and_(present, in_before))
    if matched.num_rows:
        position = pc.index_in(key_array(matched, table), value_set=key_array(before, table))
        old = before.take(position).to_pandas(types_mapper=string_types)
        new = matched.to_pandas(types_mapper=string_types)
        parts.extend(
            _when(table, part, stamps, made.get(str(part["field"].iloc[0])))
            for part in _field_changes(table, old, new)
        )
    return parts


#: The pseudo-field of :func:`_made_at` for a key's presence in the result set.
_PRESENCE = "\x00present"


def _made_at(table: str, before: pa.Table, span: pa.Table) -> dict[str, pd.Series]:
    """For the keys the span wrote more than once: per field (and :data:`_PRESENCE`),
    the number of the last load in the span that changed it, indexed by key string.

    A net change carries the ``fetched_at`` of the last load that made it: the last of
    the key's versions (the one before the span first) whose value differs from the
    version before it, missing equal to missing."""
    seq = span["_seq"].to_numpy()
    if not len(seq) or seq[0] == seq[-1]:
        return {}  # one load: it made every change it shows
    key = pd.Series(key_array(span, table).to_numpy(zero_copy_only=False))
    counts = key.value_counts()
    several = pa.array(counts.index[counts.to_numpy() > 1].to_numpy(dtype=object), pa.string())
    if not len(several):
        return {}
    versions = []
    for rows, base in ((before, True), (span, False)):
        chosen = rows.filter(pc.is_in(key_array(rows, table), value_set=several))
        frame = chosen.to_pandas(types_mapper=string_types)
        frame["_k"] = key_array(chosen, table).to_numpy(zero_copy_only=False)
        frame["_seq"] = 0 if base else frame["_seq"]
        frame[_PRESENCE] = True if base else ~frame["change"].isin(GONE).to_numpy()
        versions.append(frame)
    frame = pd.concat(versions, ignore_index=True).sort_values(["_k", "_seq"], kind="stable")
    first = (frame["_k"] != frame["_k"].shift()).to_numpy()
    fields = [c for c in data_schema(table).names if c not in schema.TABLES[table].key_columns]
    made = {}
    for field in [*fields, _PRESENCE]:
        value = frame[field]
        previous = value.shift()
        if field == _PRESENCE:
            previous = previous.where(~first, False)
        unequal = value.ne(previous).fillna(False).to_numpy(dtype=bool)
        changed = unequal | (value.isna() != previous.isna()).to_numpy(dtype=bool)
        # A key's first version starts its chain: a change only when the span brought it.
        changed = np.where(first, (frame["_seq"] > 0).to_numpy(), changed)
        made[field] = frame.loc[changed].groupby("_k")["_seq"].max()
    return made


def _when(
    table: str, part: pd.DataFrame, stamps: pd.Series, made: pd.Series | None
) -> pd.DataFrame:
    """``part`` with ``fetched_at`` of the load that made each change: the last that
    wrote the key, unless :func:`_made_at` names an earlier one."""
    seq = part.pop("_seq").to_numpy(dtype=np.int64)
    if made is not None and len(made) and len(part):
        key = _key_strings(table, part)
        seq = np.where(key.isin(made.index), key.map(made).fillna(0).to_numpy(np.int64), seq)
    part["fetched_at"] = stamps.array.take(seq - 1)
    return part


def _key_strings(table: str, frame: pd.DataFrame) -> pd.Series:
    columns = list(schema.TABLES[table].key_columns)
    if len(columns) == 1:
        return frame[columns[0]].astype(object)
    return frame[columns].astype(str).agg("\x1f".join, axis=1)


def _plain(rows: pa.Table, keys: tuple[str, ...], change: str | None) -> pd.DataFrame:
    frame = rows.select([*keys, "change", "_seq"]).to_pandas(types_mapper=string_types)
    if change is not None:
        frame["change"] = change
    return frame


def _field_changes(table: str, old: pd.DataFrame, new: pd.DataFrame) -> list[pd.DataFrame]:
    """One frame per column that differs in some rows: its change rows."""
    keys = list(schema.TABLES[table].key_columns)
    parts = []
    for name in data_schema(table).names:
        if name in keys or name == "severity_rank":
            continue
        a, b = old[name], new[name]
        both = (a.notna() & b.notna()).to_numpy(dtype=bool)
        unequal = a.ne(b).fillna(False).to_numpy(dtype=bool)
        differs = (unequal & both) | (a.isna() != b.isna()).to_numpy(dtype=bool)
        if not differs.any():
            continue
        rows = new.loc[differs, [*keys, "_seq"]].reset_index(drop=True)
        rows["field"] = name
        rows["before"] = _text(a[differs])
        rows["after"] = _text(b[differs])
        rows["change"] = _named(table, name, old.loc[differs], new.loc[differs])
        parts.append(rows)
    return parts


def _named(table: str, name: str, old: pd.DataFrame, new: pd.DataFrame) -> np.ndarray:
    """The word for a change of column ``name`` in these rows."""
    if table == "incidents" and name == "status":
        was = old["status"].isin(_DONE).to_numpy()
        now = new["status"].isin(_DONE).to_numpy()
        return np.where(now & ~was, "resolved", np.where(was & ~now, "reopened", "status"))
    if table == "threats" and name == "severity":
        a = old["severity_rank"].astype("float64").fillna(-1).to_numpy()
        b = new["severity_rank"].astype("float64").fillna(-1).to_numpy()
        return np.where(b > a, "escalated", np.where(b < a, "deescalated", "changed"))
    return np.full(len(new), "changed", dtype=object)


def _text(values: pd.Series) -> pd.Series:
    """Values as strings (timestamps in ISO 8601), missing as ``NA``."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return _isoformat(values)
    return pd.Series(values.astype(_TEXT).to_numpy(), dtype=_TEXT)


def _isoformat(values: pd.Series) -> pd.Series:
    """UTC timestamps as ``Timestamp.isoformat`` writes them (``+00:00``, microseconds
    only when there are some), vectorised."""
    stamps = values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[us]")
    whole = stamps == stamps.astype("datetime64[s]")
    text = np.where(
        whole, np.datetime_as_string(stamps, unit="s"), np.datetime_as_string(stamps, unit="us")
    ).astype(object)
    text = pd.Series(text + "+00:00", dtype=_TEXT)
    return text.where(values.notna().to_numpy(), pd.NA)


def _severity_changes(
    store: Store,
    loads: pd.DataFrame,
    since: int,
    until: int,
    stamps: pd.Series,
    span_rows: tuple[pa.Table, pa.Table],
) -> pd.DataFrame:
    """escalated / deescalated incidents: the highest known severity among their linked
    threats, at ``since`` and at ``until``, for incidents in the result set at both
    whose links moved in the span or are linked to a threat whose severity moved.

    A threat that appeared or left reaches an incident's highest severity only through
    links that appeared or left with it (a load's links name threats of that load), so
    only threats present at both loads with another rank are followed through the
    links; the log of links is read whole only when there is such a threat.
    ``span_rows`` are the incidents the span wrote, at ``since`` (those present) and
    their latest rows in the span: who of them is present at both needs no read."""
    touched = scan(store, loads, "links", after=since, upto=until, columns=["incident_id"])
    candidates = pc.unique(touched["incident_id"])
    moved = _moved_threats(store, loads, since, until)
    if len(moved):
        through = scan(
            store, loads, "links", upto=until, columns=["incident_id"], keys=moved, by="threat_id"
        )
        candidates = pc.unique(pa.chunked_array([candidates, through["incident_id"]]))
    present = _present_at_both(store, loads, candidates, since, span_rows)
    if not len(present):
        return _frame("incidents", []).iloc[:0]
    links = scan(
        store,
        loads,
        "links",
        upto=until,
        columns=["link_id", "incident_id", "threat_id"],
        keys=present,
        by="incident_id",
    )
    threats = scan(
        store,
        loads,
        "threats",
        upto=until,
        columns=["threat_id", "severity_rank"],
        keys=pc.unique(links["threat_id"]),
    )
    ranks = pd.DataFrame(
        {seq: _max_rank(links, threats, seq) for seq in range(since, until + 1)},
        index=pd.Index(present.to_pylist(), dtype=object),
    ).fillna(0)
    return _escalations(ranks, since, until, stamps)


def _escalations(ranks: pd.DataFrame, since: int, until: int, stamps: pd.Series) -> pd.DataFrame:
    """The escalated / deescalated rows of the incidents whose rank (one column per
    load of the span) differs between ``since`` and ``until``."""
    moved = ranks[ranks[since] != ranks[until]]
    values = moved.to_numpy()
    # The last load of the span whose rank differs from the load before it.
    steps = values[:, 1:] != values[:, :-1]
    last_step = steps.shape[1] - 1 - np.argmax(steps[:, ::-1], axis=1) if len(moved) else []
    labels = dict(enumerate(schema.SEVERITIES, start=1))
    before, after = moved[since].to_numpy(), moved[until].to_numpy()
    return pd.DataFrame(
        {
            "incident_id": pd.array(moved.index.to_list(), dtype=_TEXT),
            "change": np.where(after > before, "escalated", "deescalated"),
            "field": "max_severity",
            "before": pd.array([labels.get(int(r)) for r in before], dtype=_TEXT),
            "after": pd.array([labels.get(int(r)) for r in after], dtype=_TEXT),
            "fetched_at": stamps.array.take(np.asarray(last_step, dtype=np.int64) + since),
        }
    )


def _moved_threats(store: Store, loads: pd.DataFrame, since: int, until: int) -> pa.Array:
    """The threats in the result set at both loads whose severity rank differs.

    Only threats the span wrote other than as ``new`` can have been present at
    ``since`` (a key's first row in the span says whether it was: ``new`` only when it
    was absent), so only those are looked up in the loads before."""
    columns = ["threat_id", "severity_rank"]
    span = scan(store, loads, "threats", after=since, upto=until, columns=columns)
    existing = pc.unique(pc.filter(span["threat_id"], pc.not_equal(span["change"], "new")))
    span = latest(span, "threats")
    span = span.filter(
        pc.and_(still_present(span["change"]), pc.is_in(span["threat_id"], value_set=existing))
    )
    if not span.num_rows:
        return pa.array([], pa.string())
    before = state(store, loads, "threats", upto=since, columns=columns, keys=span["threat_id"])
    joined = span.select(columns).join(
        before.select(columns), "threat_id", right_suffix="_before", join_type="inner"
    )
    moved = differs(joined["severity_rank"], joined["severity_rank_before"])
    return pc.filter(joined["threat_id"], moved).combine_chunks()


def _present_at_both(
    store: Store,
    loads: pd.DataFrame,
    ids: pa.Array | pa.ChunkedArray,
    since: int,
    span_rows: tuple[pa.Table, pa.Table],
) -> pa.Array:
    """Those of ``ids`` in the result set at load ``since`` and at the span's end.

    An incident the span wrote is present at ``since`` when it is in the state then
    (``span_rows[0]``) and at the end when its latest row (``span_rows[1]``) says so;
    one the span did not write is present at both or at neither: the loads up to
    ``since`` say which."""
    if not len(ids):
        return pa.array([], pa.string())
    before, after = span_rows
    written = pc.is_in(ids, value_set=after["incident_id"])
    stays = after.filter(still_present(after["change"]))["incident_id"]
    ours = pc.filter(ids, written)
    ours = pc.filter(ours, pc.is_in(ours, value_set=stays))
    ours = pc.filter(ours, pc.is_in(ours, value_set=before["incident_id"]))
    others = pc.filter(ids, pc.invert(written))
    if len(others):
        at_since = state(
            store, loads, "incidents", upto=since, columns=["incident_id"], keys=others
        )
        ours = pa.chunked_array([ours, at_since["incident_id"]], pa.string())
    return ours.combine_chunks() if isinstance(ours, pa.ChunkedArray) else ours


def _present(rows: pa.Table) -> pa.Table:
    return rows.filter(still_present(rows["change"]))


def _max_rank(links: pa.Table, threats: pa.Table, seq: int) -> dict[str, int]:
    """Per incident, the highest known severity rank among its threats at load ``seq``."""
    current = _present(latest(links.filter(pc.less_equal(links["_seq"], seq)), "links"))
    ranked = _present(latest(threats.filter(pc.less_equal(threats["_seq"], seq)), "threats"))
    if not current.num_rows or not ranked.num_rows:
        return {}
    joined = current.select(["incident_id", "threat_id"]).join(
        ranked.select(["threat_id", "severity_rank"]), "threat_id"
    )
    known = joined.filter(pc.greater_equal(joined["severity_rank"], 1))
    best = known.group_by("incident_id").aggregate([("severity_rank", "max")])
    return dict(
        zip(best["incident_id"].to_pylist(), best["severity_rank_max"].to_pylist(), strict=True)
    )


def _frame(table: str, parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The changes frame: key column(s), change, field, before, after, fetched_at; by key."""
    keys = list(schema.TABLES[table].key_columns)
    columns = [*keys, *CHANGE_COLUMNS]
    dtypes = {
        **dict.fromkeys([*keys, "change", "field", "before", "after"], _TEXT),
        "fetched_at": _UTC,
    }
    shaped = [p.reindex(columns=columns).astype(dtypes) for p in parts if len(p)]
    if not shaped:
        return pd.DataFrame({c: pd.Series([], dtype=dtypes[c]) for c in columns})
    frame = pd.concat(shaped, ignore_index=True)
    return frame.sort_values(keys, kind="stable", ignore_index=True)


def trend(store: Store) -> pd.DataFrame:
    """See :meth:`intrace_analytics.History.trend`."""
    loads = read_loads(store)
    if loads.empty:
        return pd.DataFrame({c: pd.Series([], dtype=_trend_dtype(c)) for c in TREND_COLUMNS})
    last = int(loads["load_seq"].iloc[-1])
    log = scan(store, loads, "incidents", upto=last, columns=["incident_id", "status"])
    seq, state, was = _transitions(log)
    loads_count = last + 1
    # A status code per row: 0 open, 1 closed, 2 resolved, 3 any other label.
    per_load: dict[str, np.ndarray] = {}
    for code, name in enumerate(("open", "closed", "resolved")):
        delta = np.bincount(seq, (state == code).astype(int) - (was == code), loads_count)
        per_load[name] = np.cumsum(delta)[1:]
    present, was_present = state >= 0, was >= 0
    total = np.bincount(seq, present.astype(int) - was_present, loads_count)
    per_load["incidents"] = np.cumsum(total)[1:]
    done, was_done = np.isin(state, (1, 2)), np.isin(was, (1, 2))
    moves = {
        "new": present & ~was_present,
        "resolved_since": done & was_present & ~was_done,
        "reopened": present & ~done & was_done,
        "gone": ~present & was_present,
    }
    for name, mask in moves.items():
        per_load[name] = np.bincount(seq, mask.astype(int), loads_count)[1:]
    frame = pd.DataFrame({"load_id": loads["load_id"], "fetched_at": loads["fetched_at"]})
    for name in TREND_COLUMNS[2:]:
        frame[name] = per_load[name].astype("int64")
    return frame


def _transitions(log: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per log row: its load number, the row's status code and the key's status code
    before it (-1: not in the result set)."""
    codes = pc.dictionary_encode(log["incident_id"]).combine_chunks().indices.to_numpy()
    seq = log["_seq"].to_numpy()
    order = np.lexsort((seq, codes))
    codes, seq = codes[order], seq[order]
    state = np.full(len(seq), 3, dtype=np.int64)
    for code, name in enumerate(("open", "closed", "resolved")):
        equal = pc.fill_null(pc.equal(log["status"], name), False)
        state[equal.to_numpy(zero_copy_only=False)[order]] = code
    present = still_present(log["change"]).to_numpy(zero_copy_only=False)
    state[~present[order]] = -1
    was = np.full(len(state), -1, dtype=np.int64)
    same = codes[1:] == codes[:-1]
    was[1:][same] = state[:-1][same]
    return seq, state, was


def _trend_dtype(column: str) -> object:
    if column == "load_id":
        return _TEXT
    return _UTC if column == "fetched_at" else "int64"


def versions(store: Store, table: str) -> pd.DataFrame:
    """See :meth:`intrace_analytics.History.versions`."""
    check_choice("table", table, list(schema.TABLES))
    loads = read_loads(store)
    last = int(loads["load_seq"].iloc[-1]) if not loads.empty else 0
    log = scan(store, loads, table, upto=last)
    codes = pc.dictionary_encode(key_array(log, table)).combine_chunks().indices.to_numpy()
    seq = log["_seq"].to_numpy()
    order = np.lexsort((seq, codes))
    log = log.take(pa.array(order))
    codes, seq = codes[order], seq[order]
    stamps = loads["fetched_at"].reset_index(drop=True)
    following = np.append(np.where(codes[1:] == codes[:-1], seq[1:], 0), 0)
    keep = still_present(log["change"]).to_numpy(zero_copy_only=False)
    kept = log.filter(pa.array(keep))
    frame = to_frame(table, kept)
    frame["valid_from"] = stamps.array.take(seq[keep] - 1).astype(_UTC)
    valid_to = pd.Series(pd.NaT, index=frame.index, dtype=_UTC)
    ended = following[keep] > 0
    valid_to[ended] = stamps.array.take(following[keep][ended] - 1)
    frame["valid_to"] = valid_to
    frame["change"] = pd.array(kept["change"].to_pylist(), dtype=_TEXT)
    return frame
