"""History under kills and concurrent writers: real processes, real SIGKILLs.

A writer killed at any moment leaves every reader on a committed load (the previous one
or its own, whole), and the next append removes what it left; two writers appending the
same loads end with each load exactly once, in one chain, while a reader beside them
never sees a load half written.
"""

from __future__ import annotations

import os
import pickle
import random
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from intrace_analytics import History, IncidentFrames
from intrace_analytics.frames import _schema as schema
from tests.helpers import kill_at_random_moments
from tests.test_history import DAY, T0, at, by_key, drop_incidents

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

ROOT = Path(__file__).resolve().parents[1]
LOADS = 6

# A child that appends the pickled loads to STORE in order, after saying "go" (imports
# done). A load refused because another writer committed a later one is skipped: the
# store holds it or a later one already.
WRITER = """
import pickle, sys
from intrace_analytics import History
loads = pickle.load(open(sys.argv[1], "rb"))
history = History(sys.argv[2], storage_options=pickle.loads(bytes.fromhex(sys.argv[3])))
print("go", flush=True)
for frames in loads:
    try:
        history.append(frames)
    except ValueError as refused:
        if "before the last load" not in str(refused):
            raise
"""


def variants(frames: IncidentFrames) -> list[IncidentFrames]:
    """LOADS loads a day apart: each drops 10 incidents (others come back) and renames 5."""
    ids = frames.incidents["incident_id"].tolist()
    loads = []
    for number in range(LOADS):
        load = at(frames, T0 + number * DAY)
        drop_incidents(load, ids[number * 10 : number * 10 + 10])
        renamed = load.incidents.index[-5 - number : len(load.incidents) - number]
        load.incidents.loc[renamed, "title"] = f"title of load {number}"
        load.metadata["rows"] = len(load.incidents)
        loads.append(load)
    return loads


def writer(
    pickled: Path, store: str, options: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(pickled), store, pickle.dumps(options).hex()],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def assert_committed_loads_whole(history: History, loads: list[IncidentFrames]) -> int:
    """Every committed load reads back as the load appended; the chain is linear; the
    number of loads committed."""
    committed = history.loads
    count = len(committed)
    assert committed["load_seq"].tolist() == list(range(1, count + 1))
    assert committed["previous_load_id"].tolist()[1:] == committed["load_id"].tolist()[:-1]
    assert committed["fetched_at"].tolist() == [T0 + n * DAY for n in range(count)]
    for number in range(count):
        seen = history.as_of(T0 + number * DAY)
        expected = by_key(loads[number])
        for name in ("incidents", "links", "threats"):
            pd.testing.assert_frame_equal(
                getattr(seen, name), getattr(expected, name), check_exact=True, obj=name
            )
    return count


def uncommitted_partitions(store: Path, history: History) -> list[str]:
    committed = {f"load_id={i}" for i in history.loads["load_id"]}
    return sorted(
        f"{table}/{entry.name}"
        for table in schema.TABLES
        if (store / table).exists()
        for entry in (store / table).iterdir()
        if entry.name not in committed
    )


def hidden_files(store: Path) -> list[str]:
    """Temporaries a writer left (the lock file aside)."""
    return sorted(
        str(p.relative_to(store))
        for p in store.rglob(".*")
        if p.is_file() and p.name != ".intrace-history.lock"
    )


@pytest.mark.parametrize("batch", range(2))
def test_a_writer_killed_at_random_moments_leaves_committed_loads_whole(
    tmp_path: Path, sandbox_frames: IncidentFrames, batch: int
) -> None:
    loads = variants(sandbox_frames)
    pickled = tmp_path / "loads.pickle"
    pickled.write_bytes(pickle.dumps(loads))
    rng = random.Random(1900 + batch)
    stores = [tmp_path / f"store-{n}" for n in range(4)]
    kill_at_random_moments([writer(pickled, str(store)) for store in stores], rng, 0.5)
    for store in stores:
        history = History(store)
        count = assert_committed_loads_whole(history, loads)
        # The next append takes the killed writer's place and removes what it left.
        for frames in loads[count:]:
            history.append(frames)
        assert assert_committed_loads_whole(history, loads) == LOADS
        assert uncommitted_partitions(store, history) == []
        assert hidden_files(store) == []


# A child that appends one load and SIGKILLs itself at the moment it would commit it
# (before linking its loads row into place): every partition is written, nothing commits.
KILLED_AT_COMMIT = """
import os, pickle, signal, sys
from intrace_analytics import History
frames = pickle.load(open(sys.argv[1], "rb"))
original = os.link
def link(source, target, *args, **kwargs):
    if os.path.basename(str(target)).startswith("load-"):
        os.kill(os.getpid(), signal.SIGKILL)
    return original(source, target, *args, **kwargs)
os.link = link
History(sys.argv[2]).append(frames)
"""


def test_a_writer_killed_before_its_loads_row_leaves_the_previous_load(
    tmp_path: Path, sandbox_frames: IncidentFrames
) -> None:
    loads = variants(sandbox_frames)
    store = tmp_path / "store"
    history = History(store)
    history.append(loads[0])
    pickled = tmp_path / "load.pickle"
    pickled.write_bytes(pickle.dumps(loads[1]))
    child = subprocess.run(
        [sys.executable, "-c", KILLED_AT_COMMIT, str(pickled), str(store)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    # Every table's partition of the load was written; its loads row was not.
    assert len(uncommitted_partitions(store, history)) == len(schema.TABLES)
    assert hidden_files(store) != []
    assert assert_committed_loads_whole(history, loads) == 1
    assert history.changes(since=T0).empty
    assert history.trend()["load_id"].tolist() == history.loads["load_id"].tolist()
    history.append(loads[1])
    assert assert_committed_loads_whole(history, loads) == 2
    assert uncommitted_partitions(store, history) == []
    assert hidden_files(store) == []


def test_two_writers_append_each_load_once_in_one_chain(
    tmp_path: Path, sandbox_frames: IncidentFrames
) -> None:
    loads = variants(sandbox_frames)
    pickled = tmp_path / "loads.pickle"
    pickled.write_bytes(pickle.dumps(loads))
    store = tmp_path / "store"
    children = [writer(pickled, str(store)), writer(pickled, str(store))]
    history = History(store)
    reads = 0
    while any(child.poll() is None for child in children):
        committed = history.loads  # checks the chain as it reads
        if committed.empty:
            continue
        last = committed.iloc[-1]
        seen = history.as_of(last["fetched_at"])
        assert seen.metadata["load_id"] == last["load_id"]
        assert len(seen.incidents) == last["rows"]
        reads += 1
    for child in children:
        _out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
    assert reads > 0
    assert assert_committed_loads_whole(history, loads) == LOADS
    assert uncommitted_partitions(store, history) == []
