"""Publishing an export's files into a directory as one: the lock and the journal.

A directory holds one export (one Parquet file per table). :func:`publish` is the one
way files get there: it takes the directory's lock (:data:`LOCK_NAME`, ``filelock``), so
two exports never mix; stages every new file whole on disk beside its target
(:func:`~intrace_analytics.export._atomic.stage`); commits a journal
(:data:`JOURNAL_NAME`, itself written by the single-file atomic writer) that records the
renames; does them, and deletes the journal. Whoever next takes the lock after a writer
was killed (:func:`recover`, or :func:`recover_for_reader` for a reader) completes what
the journal records, so every reader through this package sees the previous export or
the new one, whole. :mod:`~intrace_analytics.export._parquet` makes the files themselves.

Every failure is an :class:`~intrace_analytics.exceptions.ExportError` naming the
directory, the journal or the table's file.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock, Timeout

from intrace_analytics.exceptions import ExportError
from intrace_analytics.export._atomic import (
    discard,
    failure,
    fsync_directory,
    reported,
    stage,
    sweep_temporaries,
    temporary_pattern,
    write_text_atomic,
)
from intrace_analytics.frames import _schema as schema
from intrace_analytics.frames._schema import METADATA_KEY

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "JOURNAL_FORMAT",
    "JOURNAL_NAME",
    "LOCK_NAME",
    "export_lock",
    "file_names",
    "publish",
    "read_journal",
    "recover",
    "recover_for_reader",
    "roll_forward",
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


def publish(
    directory: Path,
    writers: Mapping[str, Callable[[Path], object]],
    *,
    export_id: str,
    remove: Sequence[str] = (),
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> None:
    """Write the files ``{name: write}`` into ``directory`` and publish them as one
    export, removing the files named in ``remove``; ``write(path)`` fills one file.

    Under the directory's lock: complete a killed writer's publication, sweep leftover
    temporaries, stage every file, commit the journal, rename. An exception before the
    commit removes the temporaries and leaves the directory as it was; one after it
    completes the publication where it can, then propagates.
    """
    with reported("create the export directory", directory):
        directory.mkdir(parents=True, exist_ok=True)
    lock = export_lock(directory, lock_timeout)
    acquire(lock, directory, lock_timeout)
    try:
        # Under the lock no live writer owns a temporary here: all are leftovers of
        # writers that were killed.
        recover(directory)
        sweep_temporaries(directory, [*file_names(), JOURNAL_NAME])
        _stage_and_commit(directory, writers, export_id, remove)
    finally:
        lock.release()


def _stage_and_commit(
    directory: Path,
    writers: Mapping[str, Callable[[Path], object]],
    export_id: str,
    remove: Sequence[str],
) -> None:
    staged: dict[Path, Path] = {}  # temporary -> target
    journal_path = directory / JOURNAL_NAME
    journal: dict[str, Any] = {}
    try:
        for name, write in writers.items():
            target = directory / name
            staged[stage(target, write)] = target
        journal = {
            "format": JOURNAL_FORMAT,
            "export_id": export_id,
            "renames": [[temporary.name, target.name] for temporary, target in staged.items()],
            "remove": list(remove),
        }
        # The commit point: the journal appears whole or not at all.
        write_text_atomic(journal_path, json.dumps(journal))
        roll_forward(directory, journal_path, journal)
    except BaseException:
        # BaseException on purpose: a Ctrl-C mid-write must not leave temporaries.
        # Under the lock no other journal exists (recovery ran first): one here is ours.
        if not journal_path.exists():
            discard(*staged)
        else:
            # Committed: finish the publication if we can; what we cannot, the next
            # process that takes the lock does.
            with contextlib.suppress(Exception):
                roll_forward(directory, journal_path, journal)
        raise


def export_lock(directory: Path, timeout: float) -> FileLock:
    # A new lock object per write, not thread-local: two threads of one process that
    # write into one directory exclude each other as two processes do.
    return FileLock(directory / LOCK_NAME, timeout=timeout, thread_local=False)


def acquire(lock: FileLock, directory: Path, timeout: float) -> None:
    """Take the export lock, or raise an :class:`ExportError` naming the directory."""
    try:
        lock.acquire()
    except Timeout:  # a TimeoutError, hence an OSError: first
        raise ExportError(
            f"another writer is writing the export in {directory} (it holds "
            f"{directory / LOCK_NAME}); gave up after waiting {timeout:g} s. Wait for it "
            "to finish, or write to another directory",
            path=directory,
        ) from None
    except OSError as exc:
        raise failure("lock the export in", directory, exc) from exc


def recover(directory: Path) -> bool:
    """Complete a publication a killed writer left half done (the caller holds the
    lock); return whether there was one."""
    journal_path = directory / JOURNAL_NAME
    journal = read_journal(journal_path)
    if journal is None:
        return False
    roll_forward(directory, journal_path, journal)
    sweep_temporaries(directory, [*file_names(), JOURNAL_NAME])
    return True


def read_journal(path: Path) -> dict[str, Any] | None:
    """The journal at ``path``, checked; ``None`` if there is none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise failure("read", path, exc) from exc
    try:
        journal = json.loads(text)
    except ValueError:
        raise _malformed(path, "not JSON") from None
    if not isinstance(journal, dict) or journal.get("format") != JOURNAL_FORMAT:
        raise _malformed(path, f"not an object of format {JOURNAL_FORMAT}")
    if not isinstance(journal.get("export_id"), str) or not journal["export_id"]:
        raise _malformed(path, "no export_id")
    renames, remove = journal.get("renames"), journal.get("remove")
    if not isinstance(renames, list) or not renames:
        raise _malformed(path, "no renames")
    for entry in renames:
        if not _valid_rename(entry):
            raise _malformed(path, f"bad rename {entry!r}")
    if not isinstance(remove, list) or not all(name in file_names() for name in remove):
        raise _malformed(path, f"bad files to remove {remove!r}")
    return journal


def _valid_rename(entry: object) -> bool:
    """``[temporary, target]``: a table's file and a temporary the writer gave it."""
    if not (isinstance(entry, list) and len(entry) == 2):
        return False
    temporary, target = entry
    return (
        isinstance(temporary, str)
        and isinstance(target, str)
        and target in file_names()
        and temporary_pattern([target]).fullmatch(temporary) is not None
    )


def _malformed(path: Path, why: str) -> ExportError:
    return ExportError(
        f"{path} is not a valid intrace_analytics export journal ({why}); it marks "
        f"an interrupted publication in {path.parent}. Inspect it, remove it and "
        "write the export again",
        path=path,
    )


def roll_forward(directory: Path, journal_path: Path, journal: Mapping[str, Any]) -> None:
    """Do the renames and removals ``journal`` records, then delete it."""
    export_id = journal["export_id"]
    pending = []
    for temporary_name, target_name in journal["renames"]:
        temporary, target = directory / temporary_name, directory / target_name
        if temporary.exists():
            pending.append((temporary, target))
        elif _export_id_of(target) != export_id:
            # Renamed already, then its target must be of this export; else the
            # journal is not what this directory went through: refuse, change nothing.
            raise ExportError(
                f"{journal_path} cannot be completed: {temporary} is gone and {target} "
                f"is not from export {export_id}. Inspect it, remove it and write the "
                "export again",
                path=journal_path,
            )
    for temporary, target in pending:
        with reported("publish", target):
            os.replace(temporary, target)
    for name in journal["remove"]:
        with reported("remove", directory / name):
            (directory / name).unlink(missing_ok=True)
    fsync_directory(directory)
    with reported("remove", journal_path):
        journal_path.unlink(missing_ok=True)
    fsync_directory(directory)


def _export_id_of(path: Path) -> object:
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
        raise ExportError(
            f"the export in {directory} was interrupted while publishing ({journal} "
            f"records the renames left to do), and this process cannot write {directory} "
            "to complete them. Read it once with write access (which completes it), or "
            "write the export again",
            path=directory,
        )
    lock = export_lock(directory, DEFAULT_LOCK_TIMEOUT)
    acquire(lock, directory, DEFAULT_LOCK_TIMEOUT)
    try:
        recover(directory)
    finally:
        lock.release()
