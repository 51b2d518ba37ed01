"""``History``: what each load saw, kept as an append-only change log in plain Parquet.

See :class:`History`; the layout is in :mod:`._log`, the primitives it commits with in
:mod:`._store`, the questions it answers in :mod:`._changes`.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from intrace_analytics._util.clock import as_of as to_utc
from intrace_analytics._util.redact import scrub
from intrace_analytics._version import __version__
from intrace_analytics.exceptions import IncompleteLoadError, IntraceError
from intrace_analytics.export._atomic import sweep_temporaries
from intrace_analytics.frames import _schema as schema
from intrace_analytics.frames._container import IncidentFrames
from intrace_analytics.history import _changes, _diff, _log
from intrace_analytics.history._store import Store

__all__ = ["History"]

#: How often an append re-reads the store and tries again after another writer of an
#: object store committed the same next load first.
_ATTEMPTS = 8


class History:
    """A history store: every load appended, what changed, the tables at any past load.

    The store is plain Parquet, hive-partitioned by load, that DuckDB, Polars, Spark
    and pyarrow read with no extension (layout in ``intrace_analytics.history._log``):
    ``loads/`` holds one row per committed load, written last, and ``incidents/``,
    ``links/``, ``threats/``, ``assets/`` and ``incident_assets/`` one partition per load
    holding only the rows new, changed or gone since the previous load, with ``load_id``
    and ``change``. A load exists when, and only when, its ``loads`` row does.

    Parameters
    ----------
    path
        A local directory (created on the first append), or an object-store URI such as
        ``s3://bucket/prefix``, opened through pyarrow's file systems.
    storage_options
        For an object store: the keyword arguments of its pyarrow file system
        (``pyarrow.fs.S3FileSystem``: ``endpoint_override``, ``access_key``,
        ``secret_key``, ``region``, ``scheme``, ...). ``None`` takes the URI's own
        settings and the environment's credentials.

    Notes
    -----
    Guarantees: a writer killed at any moment leaves every reader that goes through
    ``loads`` on the previous load, and the next append removes what it left; two
    writers never interleave (on a local store they take turns on a lock file; on an
    object store each load's ``loads`` file is created only if absent and names the load
    before it, so the chain never forks, and the writer that lost re-reads the store and
    appends again). Appending to an object store needs S3 (a conditional PUT);
    reading works on every file system pyarrow has.

    Examples
    --------
    >>> history = History("history/open")  # doctest: +SKIP
    >>> history.append(load_incidents(status="open"))["new"]  # doctest: +SKIP
    412
    >>> history.changes()[["incident_id", "change", "field"]]  # doctest: +SKIP
    """

    def __init__(
        self, path: str | os.PathLike[str], *, storage_options: Mapping[str, Any] | None = None
    ) -> None:
        self._store = Store.open(path, storage_options)

    def __repr__(self) -> str:
        return f"History({self._store.location!r})"

    # -- writing -------------------------------------------------------------------------

    def append(self, frames: IncidentFrames, *, allow_incomplete: bool = False) -> dict[str, Any]:
        """Commit one load: the rows new, changed or gone since the previous load.

        Parameters
        ----------
        frames
            A load, as :func:`~intrace_analytics.load_incidents` gives it; its
            ``metadata`` must hold ``fetched_at`` and says its ``filters`` and whether it
            is ``complete``.
        allow_incomplete
            Append a load that is not complete: it writes no ``gone``/``left_scope`` rows
            and the rows it did not see are carried forward.

        Returns
        -------
        dict
            The load's row of :attr:`loads` (for a no-op, the existing load's).

        Raises
        ------
        IncompleteLoadError
            The load is not complete and ``allow_incomplete`` is False.
        ValueError
            The frames lack ``fetched_at``, were loaded with other filters than the
            store's, are not after the last load, or have the last load's ``fetched_at``
            with other rows; a frame lacks its table's columns or repeats a key.
        """
        report = scrub(dict(frames.metadata))
        fetched_at = _fetched_at(report)
        complete = bool(report.get("complete", True))
        if not complete and not allow_incomplete:
            raise IncompleteLoadError(
                "the load is incomplete (frames.metadata['complete'] is False): it cannot "
                "prove which incidents are gone. Pass allow_incomplete=True to append it "
                "without gone rows (what it did not see is carried forward)"
            )
        filters = _filters(report)
        tables = {
            name: _diff.incoming(name, frame)
            for name, frame in frames.tables().items()
            if schema.TABLES[name].loaded(report)
        }
        for _attempt in range(_ATTEMPTS):
            with self._store.writer_lock():
                loads = _log.read_loads(self._store)
                self._check_next(loads, fetched_at, filters)
                self._sweep(loads, everything=self._store.local is not None)
                committed = self._commit(loads, tables, report, fetched_at, filters, complete)
            if committed is not None:
                return committed
        raise IntraceError(
            f"could not append to {self._store.location}: other writers committed "
            f"{_ATTEMPTS} loads while this one was being written; append again"
        )

    def _check_next(self, loads: pd.DataFrame, fetched_at: pd.Timestamp, filters: dict) -> None:
        if loads.empty:
            return
        bound = json.loads(loads["filters"].iloc[0])
        if bound != filters:
            raise ValueError(
                f"the history in {self._store.location} is bound to the filters {bound} of "
                f"its first load; these frames were loaded with {filters}. Use another store"
            )
        last = loads["fetched_at"].iloc[-1]
        if fetched_at < last:
            raise ValueError(
                f"the frames were fetched at {fetched_at.isoformat()}, before the last load "
                f"of the history ({last.isoformat()}); a history only moves forward"
            )

    def _sweep(self, loads: pd.DataFrame, *, everything: bool) -> None:
        """Delete partitions of loads that were never committed: all of them under the
        local lock; on an object store only those numbered at or below the last
        committed load, whose writers can no longer commit them (a racing writer's
        partitions of the next load are its own)."""
        committed = set(loads["load_id"])
        last = int(loads["load_seq"].max()) if not loads.empty else 0
        if self._store.local is not None:
            # A loads row's temporary, left by a writer killed just before or after
            # linking it into place.
            names = [f"load-{seq:06d}.parquet" for seq in (last, last + 1)]
            sweep_temporaries(self._store.local / "loads", names)
        for table in schema.TABLES:
            for info in self._store.children(self._store.path(table)):
                load_id = info.base_name.removeprefix("load_id=")
                if load_id == info.base_name or load_id in committed:
                    continue
                number = load_id.partition("-")[0]
                if everything or (number.isdigit() and int(number) <= last):
                    self._store.delete_dir(info.path)

    def _commit(
        self,
        loads: pd.DataFrame,
        tables: Mapping[str, _diff.Incoming],
        report: dict[str, Any],
        fetched_at: pd.Timestamp,
        filters: dict[str, Any],
        complete: bool,
    ) -> dict[str, Any] | None:
        """Write the partitions, then the ``loads`` row if no other writer committed
        this load number first; the row, or ``None`` when one did."""
        seq = len(loads) + 1
        load_id = f"{seq:06d}-{secrets.token_hex(4)}"
        rows = self._changed_rows(loads, tables, load_id, complete, bool(filters))
        if not loads.empty and fetched_at == loads["fetched_at"].iloc[-1]:
            if any(t.num_rows for t in rows.values()):
                raise ValueError(
                    f"the history in {self._store.location} already holds a load fetched at "
                    f"{fetched_at.isoformat()} with other rows; a load is appended once"
                )
            return _row_dict(loads.iloc[-1])
        for table in schema.TABLES:
            empty = _log.log_schema(table).empty_table()
            self._store.write_table(
                _log.partition_path(self._store, table, load_id), rows.get(table, empty)
            )
        counts = _diff.counts(rows["incidents"])
        row = {
            "load_id": load_id,
            "load_seq": seq,
            "fetched_at": fetched_at,
            "previous_load_id": None if loads.empty else loads["load_id"].iloc[-1],
            "complete": complete,
            "filters": json.dumps(filters, sort_keys=True),
            "rows": tables["incidents"].rows.num_rows,
            "links": tables["links"].rows.num_rows,
            "threats": tables["threats"].rows.num_rows,
            **{
                change: counts.get(change, 0) for change in ("new", "changed", "gone", "left_scope")
            },
            "package_version": __version__,
            "schema_version": schema.SCHEMA_VERSION,
        }
        record = {
            "table": "loads",
            "report": report,
            "categories": {name: t.categories for name, t in tables.items()},
        }
        marker = pa.Table.from_pylist([row], schema=_log.LOADS_SCHEMA).replace_schema_metadata(
            {schema.METADATA_KEY: json.dumps(record, default=_json_default).encode()}
        )
        if not self._store.create_if_absent(_log.load_path(self._store, seq), marker):
            for table in schema.TABLES:
                self._store.delete_dir(self._store.path(table, f"load_id={load_id}"))
            return None
        return row

    def _changed_rows(
        self,
        loads: pd.DataFrame,
        tables: Mapping[str, _diff.Incoming],
        load_id: str,
        complete: bool,
        filtered: bool,
    ) -> dict[str, pa.Table]:
        """Per table loaded, the log rows of this load against the previous state."""
        last = len(loads)
        previous = {name: _log.state(self._store, loads, name, upto=last) for name in tables}
        # The incidents that left the result set, which links and threats may follow
        # (only a filtered store tells them apart).
        left = pa.array([], pa.string())
        if filtered:
            left = pc_absent(previous["incidents"], tables["incidents"].rows)
        rows = {}
        for name, incoming in tables.items():
            labels = None
            if complete:
                labels = _diff.absent_labels(
                    name, previous[name], filtered=filtered, left=left, old_links=previous["links"]
                )
            rows[name] = _diff.diff(
                name, incoming.rows, previous[name], gone=labels, load_id=load_id
            )
        return rows

    # -- reading -------------------------------------------------------------------------

    @property
    def loads(self) -> pd.DataFrame:
        """The ``loads`` table, oldest first: ``load_id, load_seq, fetched_at,
        previous_load_id, complete, filters, rows, links, threats, new, changed, gone,
        left_scope, package_version, schema_version``."""
        return _log.read_loads(self._store)

    def as_of(self, t: Any) -> IncidentFrames:
        """The frames as the last load at or before ``t`` saw them.

        Values, dtypes and column order as :func:`~intrace_analytics.load_incidents`
        gave them; rows ordered by key. ``metadata`` is that load's report with its
        ``load_id`` and ``load_seq``; before the first load, empty typed frames whose
        ``metadata["load_id"]`` is ``None``.
        """
        moment = to_utc(t)
        loads = _log.read_loads(self._store)
        seen = loads[loads["fetched_at"] <= moment]
        if seen.empty:
            return IncidentFrames.empty({"load_id": None, "load_seq": None, "history": True})
        chosen = seen.iloc[-1]
        seq = int(chosen["load_seq"])
        record = _log.read_record(self._store, seq)
        report = dict(record.get("report", {}))
        categories = record.get("categories", {})
        names = [name for name in schema.TABLES if schema.TABLES[name].loaded(report)]

        pool = _reading_pool()

        def table_at(name: str) -> pd.DataFrame:
            rows = _log.state(self._store, loads, name, upto=seq, ordered=True, pool=pool)
            return _log.to_frame(name, rows, categories.get(name), pool)

        # The tables are independent and Arrow releases the GIL: read them side by side.
        with ThreadPoolExecutor(max_workers=len(names)) as workers:
            tables = dict(zip(names, workers.map(table_at, names), strict=True))
        metadata = {**report, "load_id": chosen["load_id"], "load_seq": seq}
        return IncidentFrames.from_tables(tables, metadata)

    def changes(
        self, since: Any = None, until: Any = None, *, table: str = "incidents"
    ) -> pd.DataFrame:
        """One row per change between two loads; see ``intrace_analytics.history._changes``.

        Parameters
        ----------
        since
            The last load at or before it is the starting point (default: the load
            before ``until``'s).
        until
            The last load at or before it is the end point (default: the latest).
        table
            ``incidents``, ``links``, ``threats``, ``assets`` or ``incident_assets``.

        Returns
        -------
        pandas.DataFrame
            The table's key column(s), ``change``, ``field``, ``before``, ``after`` (as
            strings, ``NA`` where none) and ``fetched_at`` (of the last load in the span
            that made the change).
        """
        return _changes.changes(self._store, since, until, table)

    def trend(self) -> pd.DataFrame:
        """One row per load: ``load_id, fetched_at, incidents, open, closed, resolved,
        new, resolved_since, reopened, gone`` (the status counts of the result set at
        that load, and what moved since the previous one; the first row's ``new`` is the
        whole load)."""
        return _changes.trend(self._store)

    def versions(self, table: str) -> pd.DataFrame:
        """The table's SCD2 view: its columns plus ``valid_from`` (the ``fetched_at`` of
        the load that saw the version), ``valid_to`` (of the load that first saw it
        changed or gone; ``NaT`` while current) and ``change`` (``new`` or ``changed``)."""
        return _changes.versions(self._store, table)


def pc_absent(old: pa.Table, new: pa.Table) -> pa.Array:
    """The incident ids of ``old`` that ``new`` does not hold."""
    ids = old["incident_id"]
    return pc.filter(ids, pc.invert(pc.is_in(ids, value_set=new["incident_id"]))).combine_chunks()


def _reading_pool() -> pa.MemoryPool:
    """The Arrow memory pool ``as_of`` reads into: jemalloc's where this pyarrow has it.

    ``as_of`` allocates and frees hundreds of MB (decoded pages, gathered columns).
    With the default pool (mimalloc) most of its time at 1,000,000 incidents was kernel
    time spent mapping that memory, and it varied widely: 1.9-4.0 s against 1.6-1.7 s
    with jemalloc's pool (user time equal). Passed to each call, never set as the
    process's default pool."""
    try:
        return pa.jemalloc_memory_pool()
    except NotImplementedError:
        return pa.default_memory_pool()


def _fetched_at(report: Mapping[str, Any]) -> pd.Timestamp:
    value = report.get("fetched_at")
    if value is None:
        raise ValueError(
            "the frames' metadata has no fetched_at: a history orders loads by it "
            "(load_incidents sets it; set frames.metadata['fetched_at'] for frames built "
            "another way)"
        )
    return to_utc(value)


def _filters(report: Mapping[str, Any]) -> dict[str, Any]:
    """The load's filters, the unset ones left out (missing means unfiltered)."""
    filters = report.get("filters") or {}
    if not isinstance(filters, Mapping):
        raise ValueError(f"frames.metadata['filters'] must be a mapping; got {filters!r}")
    bound: dict[str, Any] = {}
    for name, value in filters.items():
        if value is None or value == [] or value == ():
            continue
        bound[str(name)] = sorted(value) if isinstance(value, list | tuple) else value
    return bound


def _row_dict(row: pd.Series) -> dict[str, Any]:
    """A row of ``loads`` with Python values (``None`` where missing)."""
    return {
        str(key): None if pd.isna(value) else value.item() if hasattr(value, "item") else value
        for key, value in row.items()
    }


def _json_default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return str(value)
