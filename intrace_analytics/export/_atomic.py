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
import re
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = [
    "TEMPORARY_SUFFIX",
    "discard",
    "fsync_directory",
    "fsync_files",
    "publish",
    "publish_all",
    "sweep_temporaries",
    "temporary_beside",
    "write_text_atomic",
]

TEMPORARY_SUFFIX = ".tmp"

#: The random part of a temporary's name: ``secrets.token_hex(6)``, 12 hex digits.
_TOKEN_BYTES = 6


def temporary_beside(target: Path) -> Path:
    """Create an empty, uniquely named hidden file beside ``target``."""
    while True:
        token = secrets.token_hex(_TOKEN_BYTES)
        temporary = target.with_name(f".{target.name}.{token}{TEMPORARY_SUFFIX}")
        try:
            # O_EXCL: never reuse someone else's file; 0o666 so the umask, not us,
            # decides the published file's permissions (mkstemp would force 0o600).
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(descriptor)
        return temporary


def sweep_temporaries(directory: Path, names: Iterable[str]) -> list[Path]:
    """Remove the temporaries that :func:`temporary_beside` made for the targets
    ``directory/NAME`` (``.NAME.<12 hex digits>.tmp``); return those removed.

    Only files of exactly that pattern, for exactly those names, are touched. The caller
    must know that no live writer owns them (it holds the lock every writer of these
    targets takes), since a live writer's temporary is indistinguishable from a dead
    one's. A file that vanishes meanwhile, or cannot be removed, is skipped.
    """
    names = list(names)
    if not names:
        return []
    hex_digits = 2 * _TOKEN_BYTES
    pattern = re.compile(
        rf"\.(?:{'|'.join(re.escape(name) for name in names)})"
        rf"\.[0-9a-f]{{{hex_digits}}}{re.escape(TEMPORARY_SUFFIX)}"
    )
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(directory):
            if pattern.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                try:
                    os.unlink(entry.path)
                except OSError:
                    continue
                removed.append(Path(entry.path))
    return removed


def publish(temporary: Path, target: Path) -> None:
    """Flush ``temporary`` to disk and rename it onto ``target`` (one atomic step)."""
    # Writers (pyarrow among them) use their own handles; publish_all reopens each file
    # to flush its data to disk before the rename makes it visible.
    publish_all({temporary: target})


def publish_all(staged: Mapping[Path, Path]) -> None:
    """Publish several temporaries (``{temporary: target}``) together: flush them all to
    disk first, then rename them back to back, so that the window in which only some
    targets are new is a few renames long, not a few disk flushes."""
    fsync_files(staged)
    for temporary, target in staged.items():
        os.replace(temporary, target)


def fsync_files(paths: Iterable[Path]) -> None:
    """Flush each file's data to disk (reopening it: its writer used its own handle)."""
    for path in paths:
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


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
