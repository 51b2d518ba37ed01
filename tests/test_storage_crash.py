"""storage under kills and concurrent writers: real processes, real SIGKILLs.

A writer killed at any moment leaves, as read through this package, the previous export
byte-identical or a new one whole (a kill between two renames is rolled forward from the
export's journal), and the next write sweeps its temporaries; two writers into one
directory end with one whole export; a writer that cannot get the directory's lock names
the directory.
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from filelock import FileLock

from intrace_analytics import ExportError, IncidentFrames, read_parquet
from intrace_analytics.export._parquet import read_tables, write_parquet
from tests.helpers import EXPORT_JOURNAL, EXPORT_LOCK, assert_same_frames, kill_at_random_moments

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

ROOT = Path(__file__).resolve().parents[1]

# A child that writes the pickled frames into DIR over and over, alternating between
# them, after saying "go" (imports done). ``rounds`` 0 means until killed.
WRITER = """
import pickle, sys
from intrace_analytics.export._parquet import write_parquet
frames = pickle.load(open(sys.argv[1], "rb"))
directory, rounds = sys.argv[2], int(sys.argv[3])
print("go", flush=True)
i = 0
while rounds == 0 or i < rounds:
    write_parquet(frames[i % len(frames)], directory)
    i += 1
"""


def _variants(frames: IncidentFrames) -> list[IncidentFrames]:
    """Three exports that differ in every file: the previous one and two new ones."""
    variants = []
    for rows in (300, 200, 120):
        variant = copy.deepcopy(frames)
        variant.incidents = variant.incidents.iloc[:rows].reset_index(drop=True)
        ids = set(variant.incidents["incident_id"])
        variant.links = variant.links[variant.links["incident_id"].isin(ids)].reset_index(drop=True)
        variant.metadata = {**variant.metadata, "rows": rows}
        variants.append(variant)
    return variants


def _writer(pickled: Path, directory: Path, rounds: int) -> subprocess.Popen[str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(pickled), str(directory), str(rounds)],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _temporaries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def _leftovers(directory: Path) -> list[str]:
    """Temporaries and the journal: what a finished or recovered write never leaves."""
    return _temporaries(directory) + sorted(
        p.name for p in directory.iterdir() if p.name == EXPORT_JOURNAL
    )


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.glob("*.parquet"))}


def _which(directory: Path, variants: list[IncidentFrames]) -> int:
    """The index of the variant the directory holds, read back whole; else fail."""
    back = read_parquet(directory)
    rows = back.metadata["rows"]
    index = [v.metadata["rows"] for v in variants].index(rows)
    assert_same_frames(back, variants[index])
    return index


@pytest.mark.parametrize("batch", range(3))
def test_a_writer_killed_at_random_moments_leaves_old_or_new_and_is_swept(
    tmp_path: Path, sandbox_frames: IncidentFrames, batch: int
) -> None:
    variants = _variants(sandbox_frames)
    pickled = tmp_path / "frames.pickle"
    pickled.write_bytes(pickle.dumps(variants[1:]))
    rng = random.Random(1100 + batch)
    # Four kills side by side (each into its own directory), at random moments within
    # the first few writes: mid-Parquet, mid-fsync, mid-rename, between writes.
    directories = [tmp_path / f"export-{n}" for n in range(4)]
    before = {}
    for directory in directories:
        write_parquet(variants[0], directory)
        before[directory] = _snapshot(directory)
    children = [_writer(pickled, directory, 0) for directory in directories]
    kill_at_random_moments(children, rng, most=0.06)
    for directory in directories:
        # Only two outcomes, as read through the package (which rolls a committed
        # publication forward): the previous export, byte-identical, or a new one whole.
        # A mix of two exports would raise here and fail the test.
        seen = _which(directory, variants)
        if seen == 0:
            assert _snapshot(directory) == before[directory]
        else:
            assert seen in (1, 2)
        assert EXPORT_JOURNAL not in os.listdir(directory)
        # The next write sweeps whatever the killed writer left behind.
        write_parquet(variants[0], directory)
        assert _leftovers(directory) == []
        assert _which(directory, variants) == 0


# A child that writes the pickled frames once into DIR, SIGKILLing itself at the
# ``kill_at``-th rename onto a ``.parquet`` target (before it happens): 1 is after the
# journal is committed and before any table is published, 2 is between two renames.
KILLED_MID_PUBLICATION = """
import os, pickle, signal, sys
from intrace_analytics.export._parquet import write_parquet
frames = pickle.load(open(sys.argv[1], "rb"))
directory, kill_at = sys.argv[2], int(sys.argv[3])
original, calls = os.replace, []
def replace(source, target, *args, **kwargs):
    if str(target).endswith(".parquet"):
        calls.append(target)
        if len(calls) == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
    return original(source, target, *args, **kwargs)
os.replace = replace
write_parquet(frames, directory)
"""


def _killed_mid_publication(pickled: Path, directory: Path, kill_at: int) -> None:
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.run(
        [sys.executable, "-c", KILLED_MID_PUBLICATION, str(pickled), str(directory), str(kill_at)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr


@pytest.mark.parametrize("kill_at", [1, 2, 3], ids=lambda n: f"before-rename-{n}")
def test_a_writer_killed_between_renames_is_rolled_forward_by_the_next_reader(
    tmp_path: Path, sandbox_frames: IncidentFrames, kill_at: int
) -> None:
    variants = _variants(sandbox_frames)
    pickled = tmp_path / "frames.pickle"
    pickled.write_bytes(pickle.dumps(variants[1]))
    directory = tmp_path / "export"
    write_parquet(variants[0], directory)
    _killed_mid_publication(pickled, directory, kill_at)
    # Killed after the commit: the journal and the unpublished temporaries are there,
    # and (past the first rename) the files on disk are of two exports.
    assert EXPORT_JOURNAL in os.listdir(directory)
    assert len(_temporaries(directory)) == len(_snapshot(directory)) - (kill_at - 1)
    # The next reader rolls the publication forward: the new export, whole.
    assert _which(directory, variants) == 1
    assert _leftovers(directory) == []


def test_the_next_writer_rolls_forward_before_it_writes(
    tmp_path: Path, sandbox_frames: IncidentFrames
) -> None:
    variants = _variants(sandbox_frames)
    pickled = tmp_path / "frames.pickle"
    pickled.write_bytes(pickle.dumps(variants[1]))
    directory = tmp_path / "export"
    write_parquet(variants[0], directory)
    _killed_mid_publication(pickled, directory, 2)
    write_parquet(variants[2], directory)
    assert _leftovers(directory) == []
    assert _which(directory, variants) == 2


def test_the_next_write_sweeps_only_our_temporaries(
    tmp_path: Path, sandbox_frames: IncidentFrames
) -> None:
    write_parquet(sandbox_frames, tmp_path)
    ours = [
        ".incidents.parquet.0123456789ab.tmp",
        ".links.parquet.ba9876543210.tmp",
        ".assets.parquet.00000000ffff.tmp",
    ]
    theirs = [
        ".notes.txt.0123456789ab.tmp",  # another file's temporary: not ours to remove
        ".incidents.parquet.tmp",  # not our pattern
        ".incidents.parquet.0123456789AB.tmp",  # upper-case hex: not ours
        "incidents.parquet.0123456789ab.tmp",  # not hidden
    ]
    for name in ours + theirs:
        (tmp_path / name).write_bytes(b"PAR1 half written")
    write_parquet(sandbox_frames, tmp_path)
    assert _temporaries(tmp_path) == sorted(theirs)
    assert_same_frames(read_parquet(tmp_path), sandbox_frames)


def test_two_writer_processes_end_with_one_whole_export(
    tmp_path: Path, sandbox_frames: IncidentFrames
) -> None:
    variants = _variants(sandbox_frames)
    first, second = tmp_path / "first.pickle", tmp_path / "second.pickle"
    first.write_bytes(pickle.dumps([variants[1]]))
    second.write_bytes(pickle.dumps([variants[2]]))
    directory = tmp_path / "export"
    write_parquet(variants[0], directory)
    children = [_writer(first, directory, 15), _writer(second, directory, 15)]
    seen = set()
    # A reader beside them never sees a mix (it waits for the lock when it catches one).
    while any(child.poll() is None for child in children):
        tables, report = read_tables(directory)
        seen.add(report["rows"])
        assert len(tables["incidents"]) == report["rows"]
    for child in children:
        _out, err = child.communicate(timeout=30)
        assert child.returncode == 0, err
    assert _which(directory, variants) in (1, 2)
    assert _temporaries(directory) == []
    assert seen <= {300, 200, 120}


def test_a_second_writer_waits_for_the_first(
    tmp_path: Path, sandbox_frames: IncidentFrames
) -> None:
    lock = FileLock(tmp_path / EXPORT_LOCK, thread_local=False)
    lock.acquire()
    released = threading.Timer(0.5, lock.release)
    released.start()
    started = time.monotonic()
    try:
        write_parquet(sandbox_frames, tmp_path, lock_timeout=30)
    finally:
        released.join()
    assert time.monotonic() - started >= 0.4
    assert_same_frames(read_parquet(tmp_path), sandbox_frames)


def test_a_writer_that_cannot_get_the_lock_names_the_directory_and_writes_nothing(
    tmp_path: Path, sandbox_frames: IncidentFrames
) -> None:
    directory = tmp_path / "export"
    write_parquet(sandbox_frames, directory)
    before = _snapshot(directory)
    holder = _writer_holding_lock(directory)
    try:
        with pytest.raises(ExportError, match="another writer") as info:
            write_parquet(_variants(sandbox_frames)[2], directory, lock_timeout=0.3)
    finally:
        holder.kill()
        holder.communicate()
    assert str(directory) in str(info.value)
    assert info.value.path == directory
    assert _snapshot(directory) == before
    assert _temporaries(directory) == []
    # The holder died: the kernel released its lock, and the next write goes through.
    write_parquet(_variants(sandbox_frames)[2], directory, lock_timeout=5)
    assert _which(directory, _variants(sandbox_frames)) == 2


def _writer_holding_lock(directory: Path) -> subprocess.Popen[str]:
    """Another process that holds the directory's lock until killed."""
    code = (
        "import sys, time; from filelock import FileLock\n"
        "lock = FileLock(sys.argv[1]); lock.acquire()\n"
        "print('go', flush=True); time.sleep(600)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(directory / EXPORT_LOCK)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "go"
    return child


def test_the_lock_file_is_hidden_from_readers(
    tmp_path: Path, sandbox_frames: IncidentFrames
) -> None:
    import duckdb

    write_parquet(sandbox_frames, tmp_path)
    assert (tmp_path / EXPORT_LOCK).exists()
    assert_same_frames(read_parquet(tmp_path), sandbox_frames)
    # DuckDB's glob of the export's Parquet files finds only the tables.
    with duckdb.connect() as connection:
        pattern = f"{tmp_path.as_posix()}/*.parquet"
        files = connection.execute("select file from glob(?)", [pattern]).fetchall()
    assert sorted(Path(f).name for (f,) in files) == [
        "incidents.parquet",
        "links.parquet",
        "threats.parquet",
    ]


def test_a_journal_whose_renames_are_all_done_is_simply_deleted(
    tmp_path: Path, sandbox_frames: IncidentFrames
) -> None:
    write_parquet(sandbox_frames, tmp_path)
    metadata = pq.read_schema(tmp_path / "incidents.parquet").metadata
    export_id = json.loads(metadata[b"intrace_analytics"])["export_id"]
    # Killed after its last rename, before deleting the journal.
    journal = {
        "format": 1,
        "export_id": export_id,
        "renames": [[f".{n}.parquet.0123456789ab.tmp", f"{n}.parquet"] for n in ("incidents",)],
        "remove": [],
    }
    (tmp_path / EXPORT_JOURNAL).write_text(json.dumps(journal))
    before = _snapshot(tmp_path)
    read_tables(tmp_path)
    assert _snapshot(tmp_path) == before
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        '{"format": 1, "export_id": "x", "renames": [["../../etc/passwd", "incidents.parquet"]],'
        ' "remove": []}',
        # Its temporary is gone and the target is of another export: cannot be completed.
        '{"format": 1, "export_id": "x", "renames": [[".incidents.parquet.0123456789ab.tmp",'
        ' "incidents.parquet"]], "remove": []}',
    ],
    ids=["not-json", "not-our-temporary", "not-completable"],
)
def test_a_bad_journal_is_an_error_naming_it_for_readers_and_writers(
    tmp_path: Path, sandbox_frames: IncidentFrames, text: str
) -> None:
    write_parquet(sandbox_frames, tmp_path)
    (tmp_path / EXPORT_JOURNAL).write_text(text)
    before = _snapshot(tmp_path)
    with pytest.raises(ExportError, match="journal") as read_error:
        read_tables(tmp_path)
    with pytest.raises(ExportError, match="journal") as write_error:
        write_parquet(sandbox_frames, tmp_path)
    for error in (read_error, write_error):
        assert str(tmp_path / EXPORT_JOURNAL) in str(error.value)
    assert _snapshot(tmp_path) == before
    assert (tmp_path / EXPORT_JOURNAL).read_text() == text


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only directory")
def test_a_reader_that_cannot_complete_a_journal_names_the_directory(
    tmp_path: Path, sandbox_frames: IncidentFrames
) -> None:
    write_parquet(sandbox_frames, tmp_path)
    (tmp_path / EXPORT_JOURNAL).write_text("{}")
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(ExportError, match="interrupted while publishing") as info:
            read_tables(tmp_path)
    finally:
        tmp_path.chmod(0o755)
    assert str(tmp_path) in str(info.value)
