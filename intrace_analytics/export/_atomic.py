"""The primitives of the one atomic writer: a file appears whole, or the previous one
stays byte-identical.

A new file is written to a hidden temporary beside its target (same directory, so the
rename cannot cross file systems) and flushed to disk (:func:`stage`); ``os.replace``
then publishes it in one step. :func:`write_text_atomic` does that for one file (the HTML
report, an export's journal); :mod:`~intrace_analytics.export._publish` publishes several
staged files as one, through a journal written with it.

Failures of the file system come out as :class:`~intrace_analytics.exceptions.ExportError`
naming the target, never the temporary.

>>> path = write_text_atomic(Path(tmp) / "report.html", "<html></html>")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from intrace_analytics.exceptions import ExportError

__all__ = [
    "TEMPORARY_SUFFIX",
    "discard",
    "failure",
    "fsync_directory",
    "reported",
    "stage",
    "sweep_temporaries",
    "temporary_beside",
    "temporary_pattern",
    "write_text_atomic",
]

TEMPORARY_SUFFIX = ".tmp"

#: The random part of a temporary's name: ``secrets.token_hex(6)``, 12 hex digits.
_TOKEN_BYTES = 6


def failure(action: str, path: Path, exc: OSError) -> ExportError:
    """``cannot {action} {path}: {reason}``, the reason in words (no ``[Errno N]``)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    reason = reason[:1].lower() + reason[1:]
    return ExportError(f"cannot {action} {path}: {reason}", path=path)


@contextlib.contextmanager
def reported(action: str, path: Path) -> Iterator[None]:
    """Raise an ``OSError`` of the block (Arrow's I/O errors are ones) as the
    :func:`failure` to ``action`` ``path``."""
    try:
        yield
    except OSError as exc:
        raise failure(action, path, exc) from exc


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


def stage(target: Path, write: Callable[[Path], object]) -> Path:
    """A temporary beside ``target`` that ``write(temporary)`` filled, flushed to disk;
    ready to be renamed onto ``target``. Nothing is left behind if anything fails,
    ``KeyboardInterrupt`` included."""
    with reported("write", target):
        temporary = temporary_beside(target)
    try:
        with reported("write", target):
            write(temporary)
            # Writers (pyarrow among them) use their own handles: reopen to flush.
            descriptor = os.open(temporary, os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
    except BaseException:
        discard(temporary)
        raise
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
    pattern = temporary_pattern(names)
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


def temporary_pattern(names: Iterable[str]) -> re.Pattern[str]:
    """The names :func:`temporary_beside` gives the temporaries of these targets."""
    alternatives = "|".join(re.escape(name) for name in names)
    return re.compile(
        rf"\.(?:{alternatives})\.[0-9a-f]{{{2 * _TOKEN_BYTES}}}{re.escape(TEMPORARY_SUFFIX)}"
    )


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
    """Write ``text`` (UTF-8) to ``path`` atomically; return the path.

    Raises
    ------
    ExportError
        The directory cannot be created or written (the message names ``path``); the
        previous file, if any, is left as it was.
    """
    target = Path(path)
    with reported("write", target):
        target.parent.mkdir(parents=True, exist_ok=True)
    temporary = stage(target, lambda where: where.write_text(text, encoding="utf-8"))
    try:
        with reported("write", target):
            os.replace(temporary, target)
    except BaseException:
        discard(temporary)
        raise
    fsync_directory(target.parent)
    return target
