"""Where normalization spends its time: the parse, and what is still serial after it.

Run with::

    .venv/bin/python benchmarks/profile_normalize.py [--incidents N] [--workers K]

over the page bodies ``bench_normalize.py`` caches (generated on first use). One
process, one timed run, so read it as a profile, not as a benchmark (``bench_normalize.py``
gives the medians and ratios). It normalizes the same files twice: the first run, with no
profiler, gives every time below; the second profiles the merge for the function table
only, since cProfile's own cost would inflate the merge's wall and CPU time. It prints:

- *parse phase*: from the first page handed to the normalizer until every page is
  parsed (the parse workers run in parallel; the main thread reads the files and hands
  the bodies over);
- *merge*: ``finish()``, the work after the parse: the pass check, merging the pages'
  threat copies, taking the winning rows, typing the pandas columns;
- of the merge, how long the main thread *worked* (its own CPU time,
  ``time.thread_time()``): the serial share that no core count shortens; the rest of
  the merge's wall time it waited on the pool's parallel jobs (id partitions, one column
  per thread);
- the merge's functions by own time, from the second run (cProfile: the main thread's
  up to Python 3.11, every thread's from 3.12, whose profiler sees them all).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_normalize import warm_dataset


def new_normalizer(merge: ModuleType, workers: int | None) -> Any:
    """A ``merge.Normalizer`` with ``workers`` parse workers (None: the package's default)."""
    try:
        return merge.Normalizer(workers)
    except TypeError:  # a checkout from before the workers were sized from the machine
        return merge.Normalizer(workers or 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=200_000, metavar="N")
    parser.add_argument("--workers", type=int, default=None, metavar="K")
    parser.add_argument("--top", type=int, default=12, help="functions listed")
    args = parser.parse_args()

    from intrace_analytics.frames import _merge as merge

    _, manifest, files = warm_dataset(args.incidents, "snake")

    # The timed run: no profiler.
    normalizer = new_normalizer(merge, args.workers)
    workers = getattr(normalizer, "workers", args.workers or 2)
    started = time.perf_counter()
    for path in files:
        normalizer.add(path.read_bytes())
    normalizer.flush()
    parsed = time.perf_counter()
    working = time.thread_time()
    frames = normalizer.finish()
    done = time.perf_counter()
    alone = time.thread_time() - working
    rows = len(frames.incidents), len(frames.links), len(frames.threats)
    del frames, normalizer  # not alive during the second run

    # The profiled run, over the same files: for the function table only.
    normalizer = new_normalizer(merge, args.workers)
    for path in files:
        normalizer.add(path.read_bytes())
    normalizer.flush()
    profile = cProfile.Profile()
    profile.enable()
    normalizer.finish()
    profile.disable()

    entries = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    merge_s, total = done - parsed, done - started
    waited = max(merge_s - alone, 0.0)
    print(
        f"{manifest['incidents']:,} incidents, {len(files)} pages, {workers} parse workers: "
        f"{rows[0]:,} incidents, {rows[1]:,} links, {rows[2]:,} threats"
    )
    print(f"  total       {total:7.2f} s")
    print(f"  parse phase {parsed - started:7.2f} s  ({(parsed - started) / total:.0%})")
    print(f"  merge       {merge_s:7.2f} s  ({merge_s / total:.0%})")
    print(f"    main thread working      {alone:7.2f} s  ({alone / total:.0%} of the total)")
    print(f"    waiting on parallel jobs {waited:7.2f} s")
    print(f"  the merge's functions by own time, a second, profiled run (top {args.top}):")
    table = sorted(
        (
            (own, calls, f"{Path(file).name}:{line} {name}")
            for (file, line, name), (calls, _, own, _, _) in entries.items()
            if "_queue" not in name and "lock" not in name  # waiting, not working
        ),
        reverse=True,
    )
    for own, calls, where in table[: args.top]:
        print(f"    {own:7.3f} s  {calls:6d} calls  {where}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
