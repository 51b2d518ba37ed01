"""The one atomic writer: a file appears whole, or the previous one stays byte-identical.

A new file is written to a hidden temporary beside its target (same directory, so the
rename cannot cross file systems), flushed to disk, then published with ``os.replace``.
Several files can be published together (:func:`temporary_beside` then :func:`publish`
for each), which is how an export of several Parquet files is written.

>>> path = write_text_atomic(Path(tmp) / "report.html", "<html></html>")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

__all__ = [
    "TEMPORARY_SUFFIX",
    "discard",
    "fsync_directory",
    "publish",
    "temporary_beside",
    "write_text_atomic",
]

TEMPORARY_SUFFIX = ".tmp"


def temporary_beside(target: Path) -> Path:
    """Create an empty, uniquely named hidden file beside ``target``."""
    while True:
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}{TEMPORARY_SUFFIX}")
        try:
            # O_EXCL: never reuse someone else's file; 0o666 so the umask, not us,
            # decides the published file's permissions (mkstemp would force 0o600).
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(descriptor)
        return temporary


def publish(temporary: Path, target: Path) -> None:
    """Flush ``temporary`` to disk and rename it onto ``target`` (one atomic step)."""
    # Writers (pyarrow among them) use their own handles; reopen to flush the data to
    # disk before the rename makes it visible.
    descriptor = os.open(temporary, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(temporary, target)


def discard(*temporaries: Path) -> None:
    """Remove temporaries that will not be published (missing ones are fine)."""
    for temporary in temporaries:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)


def fsync_directory(directory: Path) -> None:
    """Persist the renames; best effort, as some platforms cannot open a directory."""
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_beside(target)
    try:
        temporary.write_text(text, encoding="utf-8")
        publish(temporary, target)
    except BaseException:
        discard(temporary)
        raise
    fsync_directory(target.parent)
    return target
