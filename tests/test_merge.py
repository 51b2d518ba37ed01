"""The merge's parallel jobs: hash partitions of ids, and the merges and counts that run
one partition per thread. Each is stated as a property over generated inputs against
the one-job path it replaces, then end to end: frames built with the jobs split equal
frames built without."""

from __future__ import annotations

import itertools
import json
import os
import random
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intrace_analytics import IntraceClient, frames_from_pages, load_incidents
from intrace_analytics._util import arrays
from intrace_analytics.frames import _merge as merge
from intrace_analytics.frames import _parse as normalize
from intrace_analytics.frames._parse import threat_winners
from intrace_analytics.sandbox import SandboxServer, generate_dataset
from tests.helpers import (
    assert_same_frames,
    assert_value_error_names,
    bodies,
    incident,
    link,
    page,
    threat,
)

# Few distinct ids, so that most inputs repeat some; text of any kind, the empty string too.
IDS = st.one_of(
    st.sampled_from(["a", "b", "", "ab", "ba", "thr-0001", "thr-0002", "é", "日本"]),
    st.text(max_size=12),
)


def as_arrow(values: list[str | None], kind: str, cut: int) -> pa.Array | pa.ChunkedArray:
    """``values`` as Arrow strings in one of the shapes a merge meets."""
    array = pa.array(values, pa.large_string() if kind == "large" else pa.string())
    if kind == "sliced":  # an array that starts inside its buffers
        return pa.array(["x"] * 3 + values, pa.string()).slice(3)
    if kind == "chunked":
        return pa.chunked_array([array[:cut], array[cut:]], type=array.type)
    return array


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.one_of(IDS, st.none()), max_size=60),
    parts=st.integers(1, 9),
    kind=st.sampled_from(["plain", "large", "sliced", "chunked"]),
    cut=st.integers(0, 60),
)
def test_partitions_cover_every_row_once_and_keep_equal_values_together(
    values: list[str | None], parts: int, kind: str, cut: int
) -> None:
    groups = arrays.partition_rows(as_arrow(values, kind, min(cut, len(values))), parts)
    assert len(groups) == (parts if values and parts > 1 else 1)
    rows = np.concatenate(groups) if groups else np.zeros(0, np.int64)
    assert sorted(rows.tolist()) == list(range(len(values)))  # every row exactly once
    where: dict[str | None, set[int]] = {}
    for number, group in enumerate(groups):
        assert np.all(np.diff(group) > 0)  # ascending: each group keeps the read order
        for row in group:
            where.setdefault(values[row], set()).add(number)
    assert all(len(found) == 1 for found in where.values())


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.one_of(IDS, st.none()), min_size=1, max_size=60),
    cuts=st.lists(st.integers(0, 60), max_size=5),
    picks=st.lists(st.integers(0, 10**6), max_size=80),
    large=st.booleans(),
)
def test_taking_rows_chunk_by_chunk_equals_taking_them_from_one_array(
    values: list[str | None], cuts: list[int], picks: list[int], large: bool
) -> None:
    whole = pa.array(values, pa.large_string() if large else pa.string())
    bounds = [0, *sorted(min(cut, len(values)) for cut in cuts), len(values)]
    chunked = pa.chunked_array([whole[a:b] for a, b in itertools.pairwise(bounds)], type=whole.type)
    rows = np.array([pick % len(values) for pick in picks], np.int64)  # any order, repeats
    taken = arrays.take_rows(chunked, rows)
    assert taken.type == whole.type
    assert taken.to_pylist() == whole.take(pa.array(rows, pa.int64())).to_pylist()
    with pytest.raises(IndexError):
        arrays.take_rows(chunked, np.r_[rows, len(values)])


def test_partitions_spread_uuid_and_counter_ids_evenly() -> None:
    rng = random.Random(5)
    uuids = pa.array([f"{rng.getrandbits(128):032x}" for _ in range(40_000)])
    counters = pa.array([f"thr-{i:07d}" for i in range(40_000)])
    for ids in (uuids, counters):
        sizes = [len(group) for group in arrays.partition_rows(ids, 8)]
        assert max(sizes) < 1.3 * min(sizes), sizes


@st.composite
def threat_copies(draw: st.DrawFn) -> tuple[dict[str, pa.Array], np.ndarray, np.ndarray]:
    """Threat copies as the merge receives them: ids repeating, incidents' update times
    with ties, copies already known to disagree, one field that may differ or be null."""
    n = draw(st.integers(0, 80))
    ids = draw(st.lists(IDS, min_size=n, max_size=n))
    titles = draw(st.lists(st.sampled_from(["x", "y", None]), min_size=n, max_size=n))
    updated = np.array(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)), np.int64)
    conflicted = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), bool)
    cut = draw(st.integers(0, n))
    columns = {
        "threat_id": pa.chunked_array([ids[:cut], ids[cut:]], type=pa.string()),
        "title": pa.chunked_array([titles[:cut], titles[cut:]], type=pa.string()),
    }
    return columns, updated, conflicted


@settings(max_examples=300, deadline=None)
@given(copies=threat_copies(), workers=st.integers(2, 5))
def test_merging_threats_by_partition_equals_merging_them_whole(
    copies: tuple[dict[str, pa.Array], np.ndarray, np.ndarray],
    workers: int,
) -> None:
    columns, updated, conflicted = copies
    whole, whole_flags = threat_winners(columns, updated, conflicted.copy())
    with pytest.MonkeyPatch.context() as patch, ThreadPoolExecutor(workers) as pool:
        patch.setattr(merge, "PARALLEL_ROWS", 1)  # split however few the rows
        patch.setattr(normalize, "COMPARED_AT_ONCE", 3)  # copies compared a few pairs at a time
        split, split_flags = merge.merge_threats(
            dict(columns), updated, conflicted.copy(), pool, workers
        )
    assert split.tolist() == whole.tolist()  # the same winners, in first appearance order
    assert split_flags.tolist() == whole_flags.tolist()


@settings(max_examples=200, deadline=None)
@given(values=st.lists(IDS, max_size=80), workers=st.integers(2, 5), cut=st.integers(0, 80))
def test_counting_distinct_ids_by_partition_equals_counting_them_whole(
    values: list[str], workers: int, cut: int
) -> None:
    ids = as_arrow(values, "chunked", min(cut, len(values)))
    with pytest.MonkeyPatch.context() as patch, ThreadPoolExecutor(workers) as pool:
        patch.setattr(merge, "PARALLEL_ROWS", 1)
        counted = merge.count_distinct(ids, pool, workers)
    assert counted == (pc.count_distinct(ids).as_py() if values else 0) == len(set(values))


def drifted_pages() -> list[bytes]:
    """Sandbox pages, then a re-sent stretch of them in which some incidents were updated
    and embed a changed copy of a threat that other incidents embed too."""
    data = generate_dataset(600, seed=9)
    pages = bodies(data.incidents, 100)
    shared = threat("t-shared", severity="high")
    later = [
        incident(f"x{i}", "2026-03-01T00:00:00Z", link(f"lx{i}", "t-shared", shared))
        for i in range(30)
    ]
    newer = dict(shared, severity="critical", title="Escalated")
    again = [
        incident(f"x{i}", "2026-03-02T00:00:00Z", link(f"ly{i}", "t-shared", newer))
        for i in range(0, 30, 3)
    ]
    extra = [json.dumps(page(later, 630)).encode(), json.dumps(page(again, 630)).encode()]
    return [*pages, *extra, pages[2]]  # and one page repeated whole


@pytest.mark.parametrize("workers", [2, 4])
def test_frames_with_the_merge_split_equal_frames_without(
    workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    pages = drifted_pages()
    partitioned: list[int] = []
    partition_rows = arrays.partition_rows

    def counted(values: object, parts: int) -> list[np.ndarray]:
        partitioned.append(parts)
        return partition_rows(values, parts)  # type: ignore[arg-type]

    monkeypatch.setattr(arrays, "partition_rows", counted)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        whole = frames_from_pages(pages, workers=1)
        assert partitioned == []  # one worker: nothing split
        monkeypatch.setattr(merge, "PARALLEL_ROWS", 1)
        split = frames_from_pages(pages, workers=workers)
    assert partitioned  # the split path ran
    assert set(partitioned) == {4 * workers}
    assert whole.metadata["duplicates_dropped"] > 0  # the pages do repeat incidents
    assert whole.metadata["threat_conflicts"] > 0  # and disagree on a threat
    assert_same_frames(split, whole)
    assert split.metadata == whole.metadata


# -- how many parse workers ----------------------------------------------------------------


def test_parse_workers_follow_the_cores_this_process_may_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One worker per usable core, at most 32: checked in children pinned to one core
    and to every core, so the count comes from the affinity, not the machine's size."""
    code = (
        "import os, sys; from intrace_analytics.frames._merge import parse_workers; "
        "os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]}) if sys.argv[1] == 'one' "
        "else None; print(parse_workers(), len(os.sched_getaffinity(0)))"
    )
    for pinned in ("one", "all"):
        out = subprocess.run(
            [sys.executable, "-c", code, pinned], capture_output=True, text=True, check=True
        ).stdout.split()
        workers, cores = int(out[0]), int(out[1])
        assert workers == min(cores, merge.MAX_WORKERS)
        if pinned == "one":
            assert workers == 1
    # Machines this one is not: three usable cores of many, and more cores than the cap.
    for usable, expected in (({0, 5, 9}, 3), (set(range(64)), merge.MAX_WORKERS)):
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid, usable=usable: usable)
        assert merge.parse_workers() == expected


@pytest.mark.parametrize("workers", [0, -1, 33, 2.0, "4", True])
def test_a_bad_worker_count_is_refused_before_any_page_is_read(workers: object) -> None:
    read: list[int] = []

    def pages() -> Iterator[bytes]:
        read.append(1)
        yield json.dumps(page([incident("i1")])).encode()

    assert_value_error_names(
        lambda: frames_from_pages(pages(), workers=workers),  # type: ignore[arg-type]
        ["workers", "from 1 to 32", repr(workers)],
    )
    assert read == []  # the generator was not touched


@pytest.mark.parametrize("workers", [1, 3])
def test_the_normalizer_parses_on_the_workers_it_is_given(
    workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first `workers` parses pass only together: they must run on as many threads.
    together = threading.Barrier(workers, timeout=10)
    started = itertools.count()
    parse = merge.parse_page

    def parse_beside_the_others(*args: object) -> object:
        if next(started) < workers:
            together.wait()
        return parse(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(merge, "parse_page", parse_beside_the_others)
    normalizer = merge.Normalizer(workers)
    try:
        assert normalizer.workers == workers
        for number in range(2 * workers + 1):
            normalizer.add(json.dumps(page([incident(f"i{number}")], 2 * workers + 1)).encode())
        threads = {t.name for t in threading.enumerate() if t.name.startswith("intrace-normalize")}
        assert 1 <= len(threads) <= workers
        assert len(threads) == workers
    finally:
        frames = normalizer.finish()
    assert len(frames.incidents) == 2 * workers + 1


def _allocates_from(pool: pa.MemoryPool) -> bool:
    """Whether an allocation from Arrow's default pool, as it is now, comes from ``pool``
    (8 MiB, far more than a load's allocations from it meanwhile could hide)."""
    held = pool.bytes_allocated()
    buffer = pa.allocate_buffer(8 << 20)  # no memory_pool: the default one
    grew = pool.bytes_allocated() - held
    del buffer
    return grew >= 6 << 20 and pa.default_memory_pool().backend_name == pool.backend_name


def test_a_load_leaves_arrows_default_memory_pool_as_it_was(
    api: SandboxServer, make_client: Callable[..., IntraceClient], default_pool: str
) -> None:
    """Arrow's default pool belongs to the whole process: a load allocates from the pool it
    passes to Arrow's calls (arrays.POOL) and never swaps the default, which another
    thread, watching throughout the load, finds the same before, during and after."""
    before = pa.default_memory_pool()
    assert _allocates_from(before)
    baseline = arrays.POOL.bytes_allocated()
    seen: list[tuple[bool, bool]] = []  # (the default pool is `before`, the load holds memory)
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.append((_allocates_from(before), arrays.POOL.bytes_allocated() > baseline))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        frames = load_incidents(make_client(), progress=False)
    finally:
        stop.set()
        watcher.join()
    assert len(frames.incidents) == 230
    assert any(loading for _, loading in seen)  # it looked while the load held Arrow memory
    assert all(same for same, _ in seen)
    assert _allocates_from(before)
    assert pa.default_memory_pool().backend_name == default_pool


def test_the_load_s_pool_is_the_system_allocator_unless_the_user_named_one(
    default_pool: str,
) -> None:
    code = "from intrace_analytics._util import arrays; print(arrays.POOL.backend_name)"
    for named, expected in ((None, "system"), (default_pool, default_pool)):
        env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
        if named is not None:
            env["ARROW_DEFAULT_MEMORY_POOL"] = named
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert done.stdout.strip() == expected
