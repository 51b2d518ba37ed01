"""Publishing an export's files into a directory as one: the lock and the journal.

A directory holds one export (one Parquet file per table). Writers take the directory's
lock (:data:`LOCK_NAME`, ``filelock``), so two exports never mix. A writer makes every
new file whole on disk beside its target, then commits a journal (:data:`JOURNAL_NAME`,
written atomically) that records the renames, does them, and deletes the journal.
Whoever next takes the lock after a writer was killed (:func:`recover`, or
:func:`recover_for_reader` for a reader) completes what the journal records, so every
reader through this package sees the previous export or the new one, whole.
:mod:`~intrace_analytics.export._parquet` writes and reads the files themselves.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock, Timeout

from intrace_analytics.export._atomic import TEMPORARY_SUFFIX, fsync_directory, sweep_temporaries
from intrace_analytics.frames import _schema as schema
from intrace_analytics.frames._schema import METADATA_KEY

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "JOURNAL_FORMAT",
    "JOURNAL_NAME",
    "LOCK_NAME",
    "acquire",
    "export_id_of",
    "export_lock",
    "file_names",
    "read_journal",
    "recover",
    "recover_for_reader",
    "roll_forward",
    "swept_names",
]

#: The lock file every writer of an export directory holds while it writes. Hidden (a
#: leading dot), so Spark and Hive skip it, and not ``*.parquet``, so DuckDB's and
#: Polars' globs and :func:`read_tables` never see it. It stays after the write: it is
#: empty, and removing it would let two writers lock two different files.
LOCK_NAME = ".intrace-export.lock"

#: The roll-forward journal of a publication in progress: written (atomically, fsynced)
#: once every new file is whole on disk and before the first rename, deleted after the
#: last. Its JSON names the export_id, the renames ``[temporary, target]`` and the files
#: to remove; whoever next takes the directory's lock completes what it records. Hidden
#: and not ``*.parquet``, like the lock file.
JOURNAL_NAME = ".intrace-export.journal"

#: The journal's own format version (``"format"`` in its JSON).
JOURNAL_FORMAT = 1

#: How long a writer waits for another writer of the same directory, in seconds.
DEFAULT_LOCK_TIMEOUT = 60.0


def file_names() -> list[str]:
    """The Parquet file of every table an export may hold."""
    return [f"{name}.parquet" for name in schema.TABLES]


def swept_names() -> list[str]:
    """The targets whose leftover temporaries a holder of the lock removes."""
    return [*file_names(), JOURNAL_NAME]


def export_lock(directory: Path, timeout: float) -> FileLock:
    # A new lock object per write, not thread-local: two threads of one process that
    # write into one directory exclude each other as two processes do.
    return FileLock(directory / LOCK_NAME, timeout=timeout, thread_local=False)


def acquire(lock: FileLock, directory: Path, timeout: float) -> None:
    """Take the export lock, or raise a :class:`TimeoutError` naming the directory."""
    try:
        lock.acquire()
    except Timeout:
        raise TimeoutError(
            f"another writer is writing the export in {directory} (it holds "
            f"{directory / LOCK_NAME}); gave up after waiting {timeout:g} s. Wait for it "
            "to finish, or write to another directory"
        ) from None


def recover(directory: Path) -> bool:
    """Complete a publication a killed writer left half done (the caller holds the
    lock); return whether there was one. Raises ValueError on a bad journal."""
    journal_path = directory / JOURNAL_NAME
    journal = read_journal(journal_path)
    if journal is None:
        return False
    roll_forward(directory, journal_path, journal)
    sweep_temporaries(directory, swept_names())
    return True


def read_journal(path: Path) -> dict[str, Any] | None:
    """The journal at ``path``, checked; ``None`` if there is none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None

    def malformed(why: str) -> ValueError:
        return ValueError(
            f"{path} is not a valid intrace_analytics export journal ({why}); it marks "
            f"an interrupted publication in {path.parent}. Inspect it, remove it and "
            "write the export again"
        )

    try:
        journal = json.loads(text)
    except ValueError:
        raise malformed("not JSON") from None
    if not isinstance(journal, dict) or journal.get("format") != JOURNAL_FORMAT:
        raise malformed(f"not an object of format {JOURNAL_FORMAT}")
    export_id, renames, remove = (journal.get(k) for k in ("export_id", "renames", "remove"))
    if not isinstance(export_id, str) or not export_id:
        raise malformed("no export_id")
    names = file_names()
    if not isinstance(renames, list) or not renames:
        raise malformed("no renames")
    for entry in renames:
        valid = (
            isinstance(entry, list)
            and len(entry) == 2
            and all(isinstance(part, str) for part in entry)
            and entry[1] in names
            and re.fullmatch(
                rf"\.{re.escape(entry[1])}\.[0-9a-f]{{12}}{re.escape(TEMPORARY_SUFFIX)}",
                entry[0],
            )
        )
        if not valid:
            raise malformed(f"bad rename {entry!r}")
    if not isinstance(remove, list) or not all(name in names for name in remove):
        raise malformed(f"bad files to remove {remove!r}")
    return journal


def roll_forward(directory: Path, journal_path: Path, journal: Mapping[str, Any]) -> None:
    """Do the renames and removals ``journal`` records, then delete it."""
    export_id = journal["export_id"]
    pending = []
    for temporary_name, target_name in journal["renames"]:
        temporary, target = directory / temporary_name, directory / target_name
        if temporary.exists():
            pending.append((temporary, target))
        elif export_id_of(target) != export_id:
            # Renamed already, then its target must be of this export; else the
            # journal is not what this directory went through: refuse, change nothing.
            raise ValueError(
                f"{journal_path} cannot be completed: {temporary} is gone and {target} "
                f"is not from export {export_id}. Inspect it, remove it and write the "
                "export again"
            )
    for temporary, target in pending:
        os.replace(temporary, target)
    for name in journal["remove"]:
        (directory / name).unlink(missing_ok=True)
    fsync_directory(directory)
    journal_path.unlink(missing_ok=True)
    fsync_directory(directory)


def export_id_of(path: Path) -> object:
    """The export_id in a Parquet file's metadata, or ``None`` if it cannot be read."""
    try:
        metadata = pq.read_schema(path).metadata or {}
        record = json.loads(metadata[METADATA_KEY])
    except (OSError, ValueError, KeyError, pa.ArrowException):
        return None
    return record.get("export_id") if isinstance(record, dict) else None


def recover_for_reader(directory: Path) -> None:
    """A reader found a journal: wait for its writer, or complete a killed one's
    publication, under the directory's lock."""
    journal = directory / JOURNAL_NAME
    if not os.access(directory, os.W_OK):
        raise ValueError(
            f"the export in {directory} was interrupted while publishing ({journal} "
            f"records the renames left to do), and this process cannot write {directory} "
            "to complete them. Read it once with write access (which completes it), or "
            "write the export again"
        )
    lock = export_lock(directory, DEFAULT_LOCK_TIMEOUT)
    try:
        acquire(lock, directory, DEFAULT_LOCK_TIMEOUT)
    except OSError as exc:
        if isinstance(exc, TimeoutError):
            raise
        raise ValueError(
            f"the export in {directory} was interrupted while publishing ({journal}), "
            f"and its lock {directory / LOCK_NAME} cannot be taken to complete it: {exc}"
        ) from exc
    try:
        recover(directory)
    finally:
        lock.release()
