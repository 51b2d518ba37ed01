"""Where a history store lives: a local directory or an object-store prefix, reached
through one of pyarrow's file systems, and the two primitives its guarantees rest on.

- :meth:`Store.create_if_absent`: a file that appears whole, only if nothing is at its
  path yet. Locally a hard link of a flushed temporary (``link(2)`` fails on an existing
  name); on S3 a ``PutObject`` with ``If-None-Match: *`` (:mod:`._s3put`), because
  pyarrow's S3 file system has no conditional write. A load's ``loads`` row is written
  this way, under a name of its sequence number, so two writers can never both commit
  the load after the same one: the chain never forks.
- :meth:`Store.writer_lock`: a local store's writers also take a lock file
  (:mod:`filelock`, released by the kernel when a process dies), so a second writer waits
  for the first instead of losing the race. An object store has no such lock; there the
  loser of the race re-reads the store and appends again.

>>> store = Store.open("history/open")  # doctest: +SKIP
>>> store.path("loads")  # doctest: +SKIP
'/home/me/history/open/loads'
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from filelock import FileLock, Timeout

from intrace_analytics.exceptions import ExportError
from intrace_analytics.export._atomic import discard, fsync_directory, stage
from intrace_analytics.history import _s3put

__all__ = ["LOCK_NAME", "Store"]

#: The lock file of a local store's writers: hidden, so Spark, Hive and globs of
#: ``*.parquet`` never see it. It stays: removing it would let two writers lock two files.
LOCK_NAME = ".intrace-history.lock"

#: How long a writer waits for another writer of a local store, in seconds.
LOCK_TIMEOUT = 120.0

_COMPRESSION = "zstd"

#: pyarrow file-system classes that ``storage_options`` configure, by URI scheme.
_FILESYSTEMS: dict[str, str] = {"s3": "S3FileSystem", "gs": "GcsFileSystem", "gcs": "GcsFileSystem"}


@dataclass(frozen=True)
class Store:
    """One store: its file system, its root inside it, and how to name it to a user.

    Attributes
    ----------
    fs
        The pyarrow file system.
    root
        The store's directory inside ``fs`` (no trailing slash).
    location
        The path or URI as the user gave it, for messages.
    local
        The directory when the store is on the local disk, else ``None``.
    """

    fs: pafs.FileSystem
    root: str
    location: str
    local: Path | None

    @classmethod
    def open(cls, location: str | os.PathLike[str], options: Mapping[str, Any] | None) -> Store:
        """The store at a local path or an object-store URI (``s3://bucket/prefix``)."""
        text = os.fspath(location)
        scheme = text.partition("://")[0] if "://" in text else ""
        if scheme in ("", "file"):
            if options:
                raise ValueError(
                    "storage_options configure an object store; a local directory takes "
                    f"none (got {sorted(options)} for {text!r})"
                )
            directory = Path(text.removeprefix("file://")).expanduser().resolve()
            return cls(pafs.LocalFileSystem(), directory.as_posix(), text, directory)
        if options:
            if scheme not in _FILESYSTEMS:
                raise ValueError(
                    f"storage_options are understood for the schemes {sorted(_FILESYSTEMS)}; "
                    f"got {scheme!r} in {text!r}"
                )
            fs = getattr(pafs, _FILESYSTEMS[scheme])(**dict(options))
            root = text.partition("://")[2]
        else:
            fs, root = pafs.FileSystem.from_uri(text)
        return cls(fs, root.rstrip("/"), text, None)

    def path(self, *parts: str) -> str:
        """``root/part/part`` inside the file system."""
        return "/".join((self.root, *parts))

    def exists(self, path: str) -> bool:
        return bool(self.fs.get_file_info(path).type != pafs.FileType.NotFound)

    def children(self, path: str) -> list[pafs.FileInfo]:
        """What lies directly in ``path`` (nothing when it does not exist)."""
        selector = pafs.FileSelector(path, allow_not_found=True, recursive=False)
        return list(self.fs.get_file_info(selector))

    def delete_dir(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.delete_dir(path)

    def write_table(self, path: str, table: pa.Table) -> None:
        """Write a Parquet file that no reader sees before its load is committed (a
        rewrite after a killed writer overwrites it: the names are deterministic)."""
        if self.local is not None:
            target = Path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            # Flushed to disk before the commit that makes it visible can be.
            temporary = stage(target, lambda p: pq.write_table(table, p, compression=_COMPRESSION))
            os.replace(temporary, target)
        else:
            pq.write_table(table, path, filesystem=self.fs, compression=_COMPRESSION)

    def create_if_absent(self, path: str, table: pa.Table) -> bool:
        """Write ``table`` as a Parquet file at ``path`` only if nothing is there; return
        whether it was written. The file appears whole or not at all."""
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression=_COMPRESSION)
        data = sink.getvalue().to_pybytes()
        if self.local is None:
            if not isinstance(self.fs, pafs.S3FileSystem):
                raise ExportError(
                    f"cannot append to {self.location}: committing a load needs a write that "
                    "happens only if the file is absent, which this package does on local "
                    "directories and S3 only",
                    path=self.location,
                )
            return _s3put.put_if_absent(self.fs, path, data)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = stage(target, lambda p: p.write_bytes(data))
        try:
            os.link(temporary, target)
        except FileExistsError:
            return False
        finally:
            discard(temporary)
        fsync_directory(target.parent)
        return True

    @contextlib.contextmanager
    def writer_lock(self) -> Iterator[None]:
        """Held by a writer of a local store from its first read to its commit."""
        if self.local is None:
            yield
            return
        self.local.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.local / LOCK_NAME, timeout=LOCK_TIMEOUT, thread_local=False)
        try:
            lock.acquire()
        except Timeout:
            raise ExportError(
                f"another writer is appending to the history in {self.location} (it holds "
                f"{self.local / LOCK_NAME}); gave up after {LOCK_TIMEOUT:g} s",
                path=self.location,
            ) from None
        try:
            yield
        finally:
            lock.release()
