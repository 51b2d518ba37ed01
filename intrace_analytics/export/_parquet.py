"""Parquet in and out: one file per table, explicit Arrow schemas, zstd, atomic publication.

An export is a directory holding ``incidents.parquet``, ``links.parquet`` and
``threats.parquet``, and ``assets.parquet`` and ``incident_assets.parquet`` when the load
read sites. Every file is written with :func:`intrace_analytics.frames._schema.arrow_schema`
(never inferred types) and carries, under the schema-metadata key ``intrace_analytics``,
the JSON of the load report itself, its keys at the top level, beside which sit a few
keys of the file's own::

    {"base_url": "...", "filters": {...}, "fetched_at": "...", ..., "complete": true,
     "schema_version": 2, "package_version": "0.1.0", "export_id": "9f0c...",
     "table": "incidents", "categories": {"status": [...], ...}}

so ``json.loads(meta[b"intrace_analytics"])["complete"]`` answers "is this export
complete?" in any Parquet reader. ``schema_version`` and ``package_version`` are the
writer's (for a fresh load, the load report's own). ``categories`` exists because a
Parquet dictionary keeps neither unused categories nor their order; :func:`read_tables`
re-applies them so dtypes round-trip exactly. ``export_id`` is shared by the files of one
write, so a reader can tell a consistent export from a mix of two. Reading back gives the
load report without ``export_id``, ``table`` and ``categories``.

Exports of older schema versions are still read: version 1 (nested ``load_report``, no
``threats.severity_rank``) has its load report un-nested and ``severity_rank`` derived from
``severity``; versions 1 and 2 have ``assets.status`` read as ``assets.site_status``.

>>> write_parquet(frames, "exports/open")  # doctest: +SKIP
PosixPath('exports/open')
>>> read_tables("exports/open")[0]["incidents"].dtypes["created_at"]  # doctest: +SKIP
datetime64[us, UTC]
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from intrace_analytics._util.redact import scrub
from intrace_analytics._version import __version__
from intrace_analytics.exceptions import ExportError
from intrace_analytics.export import _publish as publish
from intrace_analytics.export._atomic import failure
from intrace_analytics.frames import _schema as schema

if TYPE_CHECKING:
    from intrace_analytics.frames._container import IncidentFrames

__all__ = [
    "check_columns",
    "read_tables",
    "recorded_categories",
    "string_types",
    "to_pandas",
    "write_parquet",
]

#: The schema-metadata key under which each file carries our JSON record.
METADATA_KEY = schema.METADATA_KEY

#: Schema versions this reader understands. A file from a newer package is refused
#: rather than read into frames whose columns may now mean something else. Version 1
#: (before ``severity_rank`` and the flat metadata) is upgraded as it is read.
READABLE_SCHEMA_VERSIONS = frozenset({1, 2, schema.SCHEMA_VERSION})

#: Columns renamed since an older schema version, as (table, old name, new name, the
#: version that renamed it): a file written before that version is read under the new name.
RENAMED = (("assets", "status", "site_status", 3),)

#: The keys of a file's metadata record that are the file's own, not the load report's.
FILE_KEYS = ("export_id", "table", "categories")

_COMPRESSION = "zstd"


def write_parquet(
    frames: IncidentFrames,
    directory: str | Path,
    *,
    lock_timeout: float = publish.DEFAULT_LOCK_TIMEOUT,
) -> Path:
    """Write one Parquet file per table of ``frames`` to ``directory``, atomically.

    Each frame must have exactly its table's columns (in any order; they are written in
    the schema's order). The directory is created, parents included, if missing.

    Atomicity: every file is first written to a hidden temporary file beside its target
    (``.incidents.parquet.<random>.tmp``) and fsynced. Only when all are whole on disk
    is the publication committed: a small journal, ``.intrace-export.journal`` (JSON:
    the ``export_id``, the renames ``temporary -> target``, the stale files to remove),
    is written beside them atomically and fsynced. Then the renames are done, one
    ``os.replace`` each, the stale files removed, the directory fsynced (best effort) and
    the journal deleted. Any exception before the journal exists, ``KeyboardInterrupt``
    included, deletes the temporaries and re-raises, so a previous export stays
    byte-identical and nothing is left behind; an exception after it is written first
    completes the publication where it can (the new export is committed) and re-raises.

    A process killed outright (``SIGKILL``, power loss) is recovered by the next process
    that takes the directory's lock, a writer before it writes or a reader that finds
    the journal (:func:`read_tables`): killed before the journal was whole, the previous
    export is untouched and the hidden ``.tmp`` files are removed by the next write (only
    ours: ``.TABLE.parquet.<12 hex digits>.tmp``); killed after, the renames the journal
    records are completed (roll forward), so the new export appears whole. Either way,
    read through this package, a killed writer leaves the previous export
    byte-identical or the new one whole, never a mix. Honest limits: between the kill and
    that recovery, a tool other than this package (DuckDB, Polars, Spark) reading the
    directory may see files of two exports, each file whole; a journal that is not
    ours, or cannot be completed, is an error naming it, never ignored.

    Concurrency: a writer holds the directory's lock file, ``.intrace-export.lock``
    (:mod:`filelock`, an OS lock released by the kernel when a process dies), from before
    its first temporary until after its last rename. A second writer into the same
    directory waits for it, up to ``lock_timeout`` seconds, then writes its own whole
    export; so two writers never leave a mix of their files, and every leftover
    temporary found under the lock is a dead writer's. The lock file stays (empty,
    hidden, not ``*.parquet``), so readers and other tools ignore it.

    Parameters
    ----------
    frames
        The incidents, links and threats frames and the load report
        (``frames.metadata``), written into every file's metadata. Keys named like an
        API key (``api_key``, ``apikey``, ``x-api-key``, any case, any depth) are
        dropped defensively.
    directory
        The export directory.
    lock_timeout
        Seconds to wait for another writer of ``directory`` to finish (``0``: do not
        wait; a negative value: wait for ever).

    Returns
    -------
    Path
        ``directory`` as a :class:`~pathlib.Path`.

    Raises
    ------
    ValueError
        A frame lacks a column of its table or has one the table does not define.
        (A column that cannot be converted to its Arrow type raises Arrow's error,
        with a note naming the table.)
        The load report uses a key that the file's metadata keeps for itself
        (``export_id``, ``table``, ``categories``).
    TypeError
        The load report holds a value JSON cannot represent (the type is named).
    ExportError
        Another writer held the directory's lock for longer than ``lock_timeout``, or
        the directory holds a journal of an interrupted publication that is malformed or
        cannot be completed: nothing was written. Or the file system failed (no space,
        no permission): the message names the directory or the table's file, and the
        previous export is left as the atomicity above says. The ``OSError`` is its
        ``__cause__``.

    Examples
    --------
    >>> path = write_parquet(frames, "exports/open")  # doctest: +SKIP
    >>> sorted(p.name for p in path.glob("*.parquet"))  # doctest: +SKIP
    ['incidents.parquet', 'links.parquet', 'threats.parquet']
    """
    directory = Path(directory)
    # Convert and validate every table before touching the disk, so a bad frame
    # costs nothing and leaves nothing.
    export_id = uuid.uuid4().hex
    load_report = scrub(dict(frames.metadata))
    reserved = [key for key in FILE_KEYS if key in load_report]
    if reserved:
        raise ValueError(
            f"the load report (frames.metadata) must not use the keys {list(FILE_KEYS)}, "
            f"which each file's metadata keeps for itself; it has {reserved}"
        )
    tables = {
        name: _to_arrow(name, frame, load_report, export_id)
        for name, frame in frames.tables().items()
        if schema.TABLES[name].loaded(frames.metadata)
    }
    publish.publish(
        directory,
        {f"{name}.parquet": _parquet_writer(table) for name, table in tables.items()},
        export_id=export_id,
        # A table this load did not fill (sites not loaded) must not survive from an
        # earlier export beside the new files.
        remove=[f"{name}.parquet" for name in schema.TABLES if name not in tables],
        lock_timeout=lock_timeout,
    )
    return directory


def _parquet_writer(table: pa.Table) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        pq.write_table(table, path, compression=_COMPRESSION)

    return write


def read_tables(directory: str | Path) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Read an export written by :func:`write_parquet` back into frames, one per table.

    Columns come back in the schema's order with exactly the schema's dtypes: pandas'
    string dtype, ``datetime64[us, UTC]``, categoricals with the categories recorded at
    write time (order, orderedness and unused ones included), float64 and int64; a
    default ``RangeIndex``; rows in the order written. pandas' own metadata in the
    files is ignored, so files rewritten by other tools read the same way as long as
    our ``intrace_analytics`` metadata survives.

    Parameters
    ----------
    directory
        The export directory holding ``incidents.parquet``, ``links.parquet`` and
        ``threats.parquet``.

    Returns
    -------
    tables, load_report
        ``{table name: frame}`` and the load report: the ``incidents`` file's metadata
        record without its own keys (``export_id``, ``table``, ``categories``). A
        version-1 export's nested ``load_report`` is returned as it was written (its
        ``schema_version`` says 1), and its threats gain ``severity_rank``.

    Raises
    ------
    ExportError
        A file of the export is missing or cannot be read, is not Parquet, lacks our
        metadata, has a schema version this package cannot read, holds another table or
        other columns, or the files come from different exports: the message names the
        file (``path`` is it). Or the directory holds the journal of an interrupted
        publication that is malformed, cannot be completed, or cannot be completed by
        this process (no write access); the message names the journal or the directory.
        A journal that can be completed is: the reader takes the directory's lock and
        rolls the publication forward first, so it reads the new export whole. Or a
        writer held the directory's lock for longer than 60 s while this reader waited
        to complete or read past its publication.

    Examples
    --------
    >>> tables, report = read_tables("exports/open")  # doctest: +SKIP
    >>> report["complete"]  # doctest: +SKIP
    True
    """
    directory = Path(directory)
    if (directory / publish.JOURNAL_NAME).exists():
        publish.recover_for_reader(directory)
    try:
        records, read = _read_files(directory)
    except _MixedExport as mixed:
        records, read = _read_under_lock(directory, mixed)
    report = _load_report(records["incidents"])
    for name, table in schema.TABLES.items():
        if name not in read and table.loaded(report):
            raise _missing(directory / f"{name}.parquet")
    return read, report


def _read_under_lock(
    directory: Path, mixed: _MixedExport
) -> tuple[dict[str, dict[str, Any]], dict[str, pd.DataFrame]]:
    """Read again after files of two exports were seen: either a writer is publishing
    right now (some files were read before its renames, some after), or one was killed
    between its renames. Wait for any writer by taking its lock, then read again: a
    second mix is a killed writer's. No lock to take (a read-only copy): the mix."""
    if not os.access(directory, os.W_OK):
        raise mixed
    lock = publish.export_lock(directory, publish.DEFAULT_LOCK_TIMEOUT)
    try:
        lock.acquire()
    except OSError:  # filelock's Timeout included
        raise mixed from None
    try:
        publish.recover(directory)  # a writer killed since we looked for its journal
        return _read_files(directory)
    finally:
        lock.release()


def _missing(path: Path) -> ExportError:
    return ExportError(f"{path}: export file not found", path=path)


# --- writing ---------------------------------------------------------------------------


def check_columns(name: str, frame: pd.DataFrame) -> list[str]:
    """The schema's column names, after checking the frame has exactly those."""
    expected = [column.name for column in schema.TABLES[name]]
    present = [str(label) for label in frame.columns]
    missing = [c for c in expected if c not in present]
    extra = [c for c in present if c not in expected]
    duplicated = sorted({c for c in present if present.count(c) > 1})
    if missing or extra or duplicated:
        problems = []
        if missing:
            problems.append(f"missing {missing}")
        if extra:
            problems.append(f"unexpected {extra}")
        if duplicated:
            problems.append(f"duplicated {duplicated}")
        raise ValueError(
            f"the {name!r} frame does not have the columns of its schema: "
            f"{'; '.join(problems)} (expected {expected})"
        )
    return expected


def recorded_categories(column: schema.Column, values: pd.Series) -> list[str]:
    """The categories to record for a categorical column, in their order."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return [str(category) for category in values.dtype.categories]
    # A plain column of labels: record what normalization would have produced.
    return schema.categories_for(column, values.unique())


def _to_arrow(
    name: str, frame: pd.DataFrame, load_report: dict[str, Any], export_id: str
) -> pa.Table:
    """The frame as an Arrow table of the explicit schema, with our metadata attached."""
    columns = check_columns(name, frame)
    ordered = frame[columns]
    # pyarrow copies DataFrame.attrs into the pandas metadata; attrs are not ours to
    # publish (and could hold anything), so they stay out of the file.
    ordered.attrs = {}
    target = schema.arrow_schema(name)
    try:
        table = pa.Table.from_pandas(ordered, schema=target, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        exc.add_note(f"while converting the {name!r} frame to its Arrow schema:\n{target}")
        raise
    record = {
        **load_report,
        "schema_version": schema.SCHEMA_VERSION,
        "package_version": __version__,
        "export_id": export_id,
        "table": name,
        "categories": {
            column.name: recorded_categories(column, ordered[column.name])
            for column in schema.TABLES[name]
            if schema.KINDS[column.kind].categorical
        },
    }
    encoded = json.dumps(record, default=_json_default, ensure_ascii=False).encode()
    metadata = dict(table.schema.metadata or {})
    metadata[METADATA_KEY] = encoded
    return table.replace_schema_metadata(metadata)


def _json_default(value: object) -> object:
    """JSON for the few non-JSON types a load report may hold."""
    # pd.Timestamp is a datetime; both become ISO 8601 strings, offsets included.
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, PurePath):
        return str(value)
    raise TypeError(
        f"the load report holds a {type(value).__name__}, which cannot be written as JSON"
    )


# --- reading ---------------------------------------------------------------------------


class _MixedExport(ExportError):
    """The files of a directory come from two exports (read again under the lock)."""


def _read_files(
    directory: Path,
) -> tuple[dict[str, dict[str, Any]], dict[str, pd.DataFrame]]:
    """Every file of the export in ``directory``: metadata records and frames,
    after checking that they come from one export (else :class:`_MixedExport`)."""
    paths = {name: directory / f"{name}.parquet" for name in schema.TABLES}
    for name, path in list(paths.items()):
        # Check every file first: a half export should fail before any large read.
        if not path.exists():
            if schema.TABLES[name].loaded_flag is None:
                raise _missing(path)
            del paths[name]  # a table the load did not fill: read as empty
    records: dict[str, dict[str, Any]] = {}
    read: dict[str, pd.DataFrame] = {}
    for name, path in paths.items():
        record, table = _read_table(name, path)
        records[name] = record
        read[name] = to_pandas(name, path, table, record)
    export_ids = {name: record.get("export_id") for name, record in records.items()}
    if len(set(export_ids.values())) > 1:
        listing = ", ".join(f"{paths[n]} ({export_ids[n]})" for n in export_ids)
        raise _MixedExport(
            f"the files in {directory} come from different exports (export_id differs: "
            f"{listing}); an earlier write was interrupted while publishing, write again",
            path=directory,
        )
    return records, read


def _read_table(name: str, path: Path) -> tuple[dict[str, Any], pa.Table]:
    """Our metadata record and the table of one file, after checking both."""
    try:
        with pq.ParquetFile(path) as parquet:
            arrow_schema = parquet.schema_arrow
            record = _record_of(name, path, arrow_schema.metadata or {})
            names = _old_names(name, record["schema_version"])
            columns = _stored_columns(name, record["schema_version"])
            expected = [names.get(c.name, c.name) for c in columns]
            present = list(arrow_schema.names)
            if sorted(present) != sorted(expected):
                missing = [c for c in expected if c not in present]
                extra = [c for c in present if c not in expected]
                raise ExportError(
                    f"{path} does not have the columns of the {name!r} schema: "
                    f"missing {missing}, unexpected {extra}",
                    path=path,
                )
            table = parquet.read(columns=expected).rename_columns([c.name for c in columns])
    except OSError as exc:  # Arrow's I/O errors included
        raise failure("read", path, exc) from exc
    except pa.ArrowException as exc:
        raise ExportError(f"{path} is not a readable Parquet file: {exc}", path=path) from exc
    categories = record.get("categories")
    if names and isinstance(categories, Mapping):
        new_names = {old: new for new, old in names.items()}
        record["categories"] = {new_names.get(k, k): v for k, v in categories.items()}
    return record, table


def _old_names(name: str, version: object) -> dict[str, str]:
    """Today's name -> the name a file of this schema version stores the column under,
    for the columns of table ``name`` renamed since (:data:`RENAMED`)."""
    return {
        new: old
        for table, old, new, since in RENAMED
        if table == name and isinstance(version, int) and version < since
    }


def _record_of(name: str, path: Path, metadata: Mapping[bytes, bytes]) -> dict[str, Any]:
    """Our metadata record of the file of table ``name``, checked."""
    key = METADATA_KEY.decode()
    raw = metadata.get(METADATA_KEY)
    if raw is None:
        raise ExportError(
            f"{path} has no {key!r} metadata; it was not written by intrace_analytics "
            "(or its metadata was stripped)",
            path=path,
        )
    try:
        record = json.loads(raw)
    except ValueError:
        raise ExportError(f"{path}: its {key!r} metadata is not JSON", path=path) from None
    if not isinstance(record, dict):
        raise ExportError(f"{path}: its {key!r} metadata is not an object", path=path)
    version = record.get("schema_version")
    readable = isinstance(version, int) and not isinstance(version, bool)
    if not (readable and version in READABLE_SCHEMA_VERSIONS):
        raise ExportError(
            f"{path} has schema_version {version!r}; this intrace_analytics "
            f"{__version__} reads schema_version {sorted(READABLE_SCHEMA_VERSIONS)}",
            path=path,
        )
    if record.get("table") != name:
        raise ExportError(
            f"{path} holds table {record.get('table')!r}, expected {name!r}", path=path
        )
    return record


def _load_report(record: Mapping[str, Any]) -> dict[str, Any]:
    """The load report of a file's metadata record (flat since schema version 2)."""
    if record.get("schema_version") == 1:
        nested = record.get("load_report")
        return dict(nested) if isinstance(nested, Mapping) else {}
    return {key: value for key, value in record.items() if key not in FILE_KEYS}


def _stored_columns(name: str, version: object) -> list[schema.Column]:
    """The columns a file of this schema version holds: version 1 had no rank."""
    columns = list(schema.TABLES[name])
    if version == 1:
        columns = [c for c in columns if c.kind is not schema.Kind.SEVERITY_RANK]
    return columns


def string_types(arrow: pa.DataType) -> pd.StringDtype | None:
    """The ``types_mapper`` that reads Arrow strings as ``pd.StringDtype`` (missing: NA),
    not pandas' default "str" (NaN)."""
    if pa.types.is_string(arrow) or pa.types.is_large_string(arrow):
        return pd.StringDtype()
    return None


def to_pandas(name: str, path: Path, table: pa.Table, record: dict[str, Any]) -> pd.DataFrame:
    """The table as a frame of exactly the schema's dtypes."""
    stored = _stored_columns(name, record.get("schema_version"))
    target = pa.schema([schema.arrow_schema(name).field(c.name) for c in stored])
    # Without pandas' metadata, so the result never depends on what another writer
    # (or another pandas version) put there.
    table = table.replace_schema_metadata(None)
    if not table.schema.equals(target):
        try:
            table = table.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise ExportError(
                f"{path}: its columns do not have the {name!r} types: {exc}", path=path
            ) from exc
    recorded = record.get("categories")
    recorded = recorded if isinstance(recorded, Mapping) else {}
    frame = table.to_pandas(types_mapper=string_types)
    for column in schema.TABLES[name]:
        if column.name not in frame:  # a version-1 file: derive the rank
            continue
        values = frame[column.name]
        if schema.KINDS[column.kind].categorical:
            categories = recorded.get(column.name)
            if categories is None:
                categories = schema.categories_for(column, values.cat.categories)
            frame[column.name] = _recategorize(path, column, values, categories)
        elif not schema.KINDS[column.kind].nullable and values.isna().any():
            raise ExportError(f"{path}: column {column.name!r} has missing values", path=path)
        else:
            dtype = schema.pandas_dtype(column)
            if values.dtype != dtype:
                frame[column.name] = values.astype(dtype)
    frame.index = pd.RangeIndex(len(frame))
    for position, column in enumerate(schema.TABLES[name]):
        if column.name not in frame:
            ranked = frame[schema.ranked_column(schema.TABLES[name])]
            frame.insert(position, column.name, schema.severity_rank(ranked))
    return frame


def _recategorize(
    path: Path, column: schema.Column, values: pd.Series, categories: list[str]
) -> pd.Series:
    """``values`` recoded onto the recorded categories, vectorised over the codes."""
    # pandas_dtype is typed as returning object; for a categorical column it is this.
    dtype = cast(pd.CategoricalDtype, schema.pandas_dtype(column, categories))
    # Where each label of the file's dictionary sits among the recorded categories; a
    # trailing -1 so that missing values (code -1) map to missing again.
    positions = np.append(dtype.categories.get_indexer(values.cat.categories), -1)
    codes = values.cat.codes.to_numpy()
    recoded = positions[codes]
    stray = (recoded < 0) & (codes >= 0)
    if stray.any():
        # Never silently turn a label into a missing value.
        labels = sorted({str(label) for label in values[stray].unique()})
        raise ExportError(
            f"{path}: column {column.name!r} holds {labels}, outside its recorded "
            f"categories {list(categories)}",
            path=path,
        )
    return pd.Series(
        pd.Categorical.from_codes(recoded, dtype=dtype), index=values.index, name=column.name
    )
