"""The history store against the plain Parquet export: time, memory and bytes per load.

Run with::

    .venv/bin/python benchmarks/bench_history.py [--quick] [--incidents N [N ...]]
        [--repeat R] [--no-strict]

The data. N incidents as ``bench_normalize.py`` generates them (its cached page bodies,
``generate_dataset(N, seed=7)``, normalized by ``frames_from_pages``): the first load.
The second load is a copy one week later in which 5 % of the incidents changed (status
flipped between open and resolved, ``updated_at`` and ``resolved_at`` with it), 1 % are
new (a batch of live incidents from ``generate_dataset(..., start_index=N)``, with their
links and threats) and 0.5 % are gone (with their links). Both loads are cached as
exports under ``$TMPDIR/intrace-bench-cache/history-N/``, with a store holding the first
load (``store-1``) and one holding both (``store-2``).

The methods, each run in a fresh interpreter that first reads the second load's frames
back from its export (not timed; in the peak RSS, the same for both writers):

- ``export``: ``IncidentFrames.to_parquet`` of the second load. The yardstick.
- ``append``: ``History.append`` of the second load to a fresh copy of ``store-1``.
- ``changes``: ``History(store-2).changes()`` (the latest load against the previous).
- ``as_of``: ``History(store-2).as_of(<the second load's fetched_at>)``.
- ``trend``: ``History(store-2).trend()``.

The measurement. A round runs every method once, in an order rotated from round to
round; R rounds (``--repeat``, default 3) give medians. A ratio is the ratio of two
medians; its spread is the lowest and highest ratio of the two within one round. *wall
s* is ``time.perf_counter()`` around the call only; *peak RSS* the child's ``VmHWM``;
*bytes* what the call added to the disk (the export's files; the store's growth).

The targets (issue 19), judged where they are set; the script exits 1 when one is
missed (unless ``--no-strict``):

- append / export at most 2.5x at 100,000 and 3x at 1,000,000;
- append's peak RSS at most 2x the export's (at each size);
- bytes added per load at most 4 % of the export's bytes (at each size);
- at 1,000,000: changes / export at most 0.3x, as_of and trend at most 0.6x.

``--quick`` runs 100,000 only (a minute or two); the default runs 100,000 and
1,000,000 (generating 1,000,000 incidents takes minutes, once).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_normalize import CACHE, dataset, in_child, page_files, peak_rss_bytes

METHODS = ("export", "append", "changes", "as_of", "trend")
WEEK_S = 7 * 86_400
CHANGED, NEW, GONE = 0.05, 0.01, 0.005
#: (method, size or None for every size, most ratio to export)
TIME_TARGETS = (
    ("append", 100_000, 2.5),
    ("append", 1_000_000, 3.0),
    ("changes", 1_000_000, 0.3),
    ("as_of", 1_000_000, 0.6),
    ("trend", 1_000_000, 0.6),
)
RSS_TARGET, BYTES_TARGET = 2.0, 0.04


# --- the data ---------------------------------------------------------------------------


def prepared(incidents: int) -> Path:
    """The cached loads and stores of ``incidents`` incidents, made in a child if missing."""
    directory = CACHE / f"history-{incidents}"
    if not (directory / "done").exists():
        dataset(incidents, "snake")  # bench_normalize's page bodies, generated once
        print(f"preparing two loads of {incidents:,} incidents in {directory} ...", flush=True)
        started = time.perf_counter()
        result = in_child("--prepare", str(incidents), script=__file__)
        if "error" in result:
            raise SystemExit(f"preparing the data failed: {result['error']}")
        print(f"  prepared in {time.perf_counter() - started:.1f} s", flush=True)
    return directory


def prepare(incidents: int) -> dict[str, Any]:
    """Write both loads as exports and the two stores (in a child)."""
    from intrace_analytics import History, frames_from_pages
    from intrace_analytics.sandbox._data import ANCHOR

    pages, _manifest = dataset(incidents, "snake")
    first = frames_from_pages(path.read_bytes() for path in page_files(pages))
    first.metadata["fetched_at"] = ANCHOR.isoformat()
    second = next_load(first, incidents)
    directory = CACHE / f"history-{incidents}"
    shutil.rmtree(directory, ignore_errors=True)
    first.to_parquet(directory / "load-1")
    second.to_parquet(directory / "load-2")
    History(directory / "store-1").append(first)
    shutil.copytree(directory / "store-1", directory / "store-2")
    History(directory / "store-2").append(second)
    (directory / "done").write_text("")
    return {"incidents": incidents}


def next_load(frames: Any, incidents: int) -> Any:
    """A week later: 5 % changed, 1 % new, 0.5 % gone (vectorised edits of a copy)."""
    import numpy as np
    import pandas as pd

    from intrace_analytics import IncidentFrames, frames_from_pages
    from intrace_analytics.sandbox import generate_dataset, page_body
    from intrace_analytics.sandbox._data import ANCHOR

    rng = np.random.default_rng(19)
    fetched = pd.Timestamp(ANCHOR) + pd.Timedelta(seconds=WEEK_S)
    incidents_frame = frames.incidents.copy()
    rows = len(incidents_frame)
    gone = rng.choice(rows, int(rows * GONE), replace=False)
    kept = np.setdiff1d(np.arange(rows), gone)
    changed = rng.choice(kept, int(rows * CHANGED), replace=False)
    status = incidents_frame["status"].astype("string")
    was_open = (status == "open").to_numpy()
    flip = np.zeros(rows, dtype=bool)
    flip[changed] = True
    status[flip & was_open] = "resolved"
    status[flip & ~was_open] = "open"
    incidents_frame["status"] = status
    resolved_at = incidents_frame["resolved_at"].copy()
    resolved_at[flip & was_open] = fetched - pd.Timedelta(hours=5)
    resolved_at[flip & ~was_open] = pd.NaT
    incidents_frame["resolved_at"] = resolved_at
    incidents_frame.loc[flip, "updated_at"] = fetched - pd.Timedelta(hours=1)
    incidents_frame = incidents_frame.iloc[kept]
    live = generate_dataset(int(rows * NEW), seed=7, start_index=incidents)
    fresh = frames_from_pages([page_body(live.incidents, len(live.incidents))])
    ids = set(incidents_frame["incident_id"])
    links = frames.links[frames.links["incident_id"].isin(ids)]
    links = pd.concat([links, fresh.links], ignore_index=True)
    threats = pd.concat([frames.threats, fresh.threats], ignore_index=True)
    threats = threats.drop_duplicates("threat_id")
    threats = threats[threats["threat_id"].isin(set(links["threat_id"]))]
    tables = {
        "incidents": pd.concat([incidents_frame, fresh.incidents], ignore_index=True),
        "links": links.reset_index(drop=True),
        "threats": threats.reset_index(drop=True),
    }
    for name, frame in tables.items():
        for column in frame.columns:
            if isinstance(frames.tables()[name][column].dtype, pd.CategoricalDtype):
                frame[column] = frame[column].astype("string")
    metadata = {
        **frames.metadata,
        "fetched_at": fetched.isoformat(),
        "rows": len(tables["incidents"]),
    }
    return IncidentFrames.from_tables(tables, metadata)


# --- one run in a fresh child -----------------------------------------------------------


def run_one(method: str, incidents: int) -> dict[str, Any]:
    """One timed call in this (fresh) process: the JSON line the parent reads."""
    from intrace_analytics import History, read_parquet

    directory = CACHE / f"history-{incidents}"
    scratch = Path(tempfile.mkdtemp(prefix="bench-history-"))
    try:
        if method in ("export", "append"):
            frames = read_parquet(directory / "load-2")
            target = scratch / "out"
            if method == "append":
                shutil.copytree(directory / "store-1", target)
            before = size_of(target)
            started = time.perf_counter()
            if method == "export":
                frames.to_parquet(target)
            else:
                History(target).append(frames)
            seconds = time.perf_counter() - started
            added = size_of(target) - before
        else:
            history = History(directory / "store-2")
            fetched_at = history.loads["fetched_at"].iloc[-1]
            call = {"changes": history.changes, "trend": history.trend}.get(method)
            started = time.perf_counter()
            result = call() if call else history.as_of(fetched_at)
            seconds = time.perf_counter() - started
            added = 0
            del result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {"method": method, "seconds": seconds, "peak_rss": peak_rss_bytes(), "bytes": added}


def size_of(path: Path) -> int:
    if not path.exists():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --- the parent -------------------------------------------------------------------------


def rounds(incidents: int, repeat: int) -> dict[str, list[dict[str, Any]]]:
    """Every method once per round, the order rotated from round to round."""
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in METHODS}
    for number in range(repeat):
        order = METHODS[number % len(METHODS) :] + METHODS[: number % len(METHODS)]
        for method in order:
            result = in_child("--run-one", method, str(incidents), script=__file__)
            if "error" in result:
                raise SystemExit(f"{method} at {incidents:,} failed: {result['error']}")
            runs[method].append(result)
        print(f"  round {number + 1}/{repeat} done", flush=True)
    return runs


def ratio_line(runs: dict[str, list[dict[str, Any]]], method: str, key: str) -> tuple[float, str]:
    """The median ratio of ``method`` to export and its spread within rounds."""
    mine = [r[key] for r in runs[method]]
    theirs = [r[key] for r in runs["export"]]
    median = statistics.median(mine) / statistics.median(theirs)
    within = [a / b for a, b in zip(mine, theirs, strict=True)]
    return median, f"{median:.2f}x (rounds {min(within):.2f}-{max(within):.2f})"


def judge(incidents: int, runs: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Print the figures of one size; the targets it missed."""
    print(f"\n{incidents:,} incidents")
    print(f"{'method':<9}{'median s':>10}{'range s':>16}{'peak RSS MiB':>14}{'bytes MiB':>11}")
    for method in METHODS:
        seconds = [r["seconds"] for r in runs[method]]
        rss = statistics.median(r["peak_rss"] for r in runs[method]) / 2**20
        written = statistics.median(r["bytes"] for r in runs[method]) / 2**20
        low_high = f"{min(seconds):.2f}-{max(seconds):.2f}"
        print(
            f"{method:<9}{statistics.median(seconds):>10.2f}{low_high:>16}{rss:>14.0f}{written:>11.1f}"
        )
    missed = []
    for method, size, most in TIME_TARGETS:
        value, text = ratio_line(runs, method, "seconds")
        if size == incidents:
            verdict = "ok" if value <= most else "MISSED"
            print(f"{method} / export time: {text}, target <= {most}x: {verdict}")
            missed += [f"{method} time at {incidents:,}"] if value > most else []
        elif method != "append":
            print(f"{method} / export time: {text} (information)")
    value, text = ratio_line(runs, "append", "peak_rss")
    verdict = "ok" if value <= RSS_TARGET else "MISSED"
    print(f"append / export peak RSS: {text}, target <= {RSS_TARGET}x: {verdict}")
    missed += [f"append peak RSS at {incidents:,}"] if value > RSS_TARGET else []
    value, text = ratio_line(runs, "append", "bytes")
    verdict = "ok" if value <= BYTES_TARGET else "MISSED"
    print(f"bytes added per load / export bytes: {value:.1%} (target <= 4 %): {verdict}")
    missed += [f"bytes per load at {incidents:,}"] if value > BYTES_TARGET else []
    return missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 incidents only")
    parser.add_argument("--incidents", type=int, nargs="+")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-strict", dest="strict", action="store_false")
    parser.add_argument("--prepare", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--run-one", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        print(json.dumps(prepare(args.prepare)))
        return 0
    if args.run_one:
        print(json.dumps(run_one(args.run_one[0], int(args.run_one[1]))))
        return 0
    sizes = args.incidents or ([100_000] if args.quick else [100_000, 1_000_000])
    missed: list[str] = []
    for incidents in sizes:
        prepared(incidents)
        missed += judge(incidents, rounds(incidents, args.repeat))
    print("\nall targets met" if not missed else f"\nmissed: {', '.join(missed)}")
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
