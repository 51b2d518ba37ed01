"""Speed of every analysis and survival function on 1,000,000 incidents / 3,000,000 links.

Run with::

    .venv/bin/python benchmarks/bench_analysis.py [--incidents N] [--links L]
        [--threats T] [--repeat R] [--seed S]

The data is synthesised directly with NumPy in the dtypes of
:mod:`intrace_analytics.frames._schema` (string ids, UTC microsecond timestamps, categoricals),
not generated through the sandbox, which would take minutes at this size. It has
what the functions must cope with: missing ``started_at`` and ``resolved_at``, open
incidents, a few ``resolved_at`` before the start, unknown severity labels, missing
coordinates, links to undescribed threats and duplicate links.

Each function runs ``--repeat`` times (default 3) on the same frames and the median
wall time is reported against the target of issue 4, section 4: under one second each.
The exit status is 1 when any function misses it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from intrace_analytics.analysis import _status as analysis
from intrace_analytics.analysis import _survival as survival
from intrace_analytics.frames import _schema as schema
from intrace_analytics.frames._container import IncidentFrames

TARGET_S = 1.0
ANCHOR = np.datetime64("2026-10-01T00:00:00", "us")
US_PER_DAY = 86_400 * 1_000_000


def _ids(prefix: str, n: int) -> pd.Series:
    return pd.Series(np.char.add(prefix, np.arange(n).astype(str)), dtype="string")


def _stamps(values: np.ndarray) -> pd.Series:
    return pd.Series(values.astype("datetime64[us]")).dt.tz_localize("UTC")


def _categorical(codes: np.ndarray, categories: list[str], *, ordered: bool = False) -> Any:
    return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(categories, ordered))


def synthesise(n_incidents: int, n_links: int, n_threats: int, seed: int) -> IncidentFrames:
    """Frames of the given sizes, typed as the schema says."""
    rng = np.random.default_rng(seed)
    n = n_incidents
    created = ANCHOR - rng.integers(0, 180 * US_PER_DAY, n).astype("timedelta64[us]")
    lead = rng.exponential(6 * 3600e6, n).astype(np.int64).astype("timedelta64[us]")
    started = created - lead
    started[rng.random(n) < 0.15] = np.datetime64("NaT")
    status = rng.choice(3, n, p=[0.2, 0.2, 0.6])  # open, closed, resolved
    duration = rng.exponential(2 * US_PER_DAY, n).astype(np.int64).astype("timedelta64[us]")
    resolved = np.where(np.isnat(started), created, started) + duration
    resolved[(status == 0) | (rng.random(n) < 0.03)] = np.datetime64("NaT")
    resolved[rng.random(n) < 0.001] -= np.timedelta64(30 * US_PER_DAY, "us")
    resolved = np.minimum(resolved, ANCHOR)
    updated = created + rng.integers(0, US_PER_DAY, n).astype("timedelta64[us]")
    counts = rng.poisson(n_links / max(n, 1), n).astype(np.int64)
    n_links = int(counts.sum())
    incidents = pd.DataFrame(
        {
            "incident_id": _ids("inc-", n),
            "title": pd.Series(["Incident"] * n, dtype="string"),
            "status": _categorical(status, list(schema.STATUSES)),
            "scope": _categorical(rng.integers(0, 2, n), list(schema.SCOPES)),
            "description": pd.Series([pd.NA] * n, dtype="string"),
            "created_at": _stamps(created),
            "updated_at": _stamps(updated),
            "started_at": _stamps(started),
            "resolved_at": _stamps(resolved),
            # As frames_from_pages makes them: links follow in the incidents' order,
            # threat_count of them each.
            "threat_count": counts,
        }
    )
    threat_ids = _ids("thr-", n_threats)
    # One unknown label (below "low"), then the known levels.
    severity = rng.choice(5, n_threats, p=[0.01, 0.4, 0.3, 0.2, 0.09])
    lat = rng.uniform(-40, 60, n_threats)
    lat[rng.random(n_threats) < 0.05] = np.nan
    threats = pd.DataFrame(
        {
            "threat_id": threat_ids,
            "title": pd.Series(["Threat"] * n_threats, dtype="string"),
            "severity": _categorical(severity, ["unrated", *schema.SEVERITIES], ordered=True),
            "threat_type": _categorical(
                rng.integers(0, 8, n_threats), [f"type{i}" for i in range(8)]
            ),
            "location": pd.Series(["Somewhere"] * n_threats, dtype="string"),
            "observed_at": _stamps(
                ANCHOR - rng.integers(0, 180 * US_PER_DAY, n_threats).astype("timedelta64[us]")
            ),  # fmt: skip
            "lat": lat,
            "lng": rng.uniform(-120, 150, n_threats),
        }
    )
    # A few links point past the threats table: undescribed threats.
    threat_pick = rng.integers(0, int(n_threats * 1.001), n_links)
    link_threats = pd.Series(np.char.add("thr-", threat_pick.astype(str)), dtype="string")
    link_ids = np.arange(n_links)
    link_ids[rng.random(n_links) < 0.0005] = 0  # repeated link ids
    links = pd.DataFrame(
        {
            "link_id": pd.Series(np.char.add("lnk-", link_ids.astype(str)), dtype="string"),
            "incident_id": incidents["incident_id"].to_numpy()[np.repeat(np.arange(n), counts)],
            "threat_id": link_threats,
            "added_at": _stamps(
                ANCHOR - rng.integers(0, US_PER_DAY, n_links).astype("timedelta64[us]")
            ),  # fmt: skip
        }
    ).astype({"incident_id": "string"})
    return IncidentFrames(incidents, links, threats)


def cases(frames: IncidentFrames) -> dict[str, Callable[[], object]]:
    as_of = pd.Timestamp(ANCHOR, tz="UTC")
    times = survival.resolution_times(frames.incidents, as_of=as_of)
    inc, thr = frames.incidents, frames.threats
    return {
        "status_breakdown": lambda: analysis.status_breakdown(inc),
        "status_breakdown(by=scope)": lambda: analysis.status_breakdown(inc, by="scope"),
        "status_over_time(W)": lambda: analysis.status_over_time(inc, freq="W"),
        "open_backlog(D)": lambda: analysis.open_backlog(inc, freq="D", as_of=as_of),
        "resolution_times": lambda: survival.resolution_times(inc, as_of=as_of),
        "km_curve": lambda: survival.km_curve(times["duration"], times["resolved"]),
        "resolution_summary": lambda: survival.resolution_summary(inc, as_of=as_of),
        "resolution_summary(by=scope)": lambda: survival.resolution_summary(
            inc, by="scope", as_of=as_of
        ),
        "severity_breakdown": lambda: analysis.severity_breakdown(thr),
        "severity_breakdown(by=type)": lambda: analysis.severity_breakdown(thr, by="threat_type"),
        "incident_severity": lambda: analysis.incident_severity(frames),
        "data_quality": lambda: analysis.data_quality(frames),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--links", type=int, default=3_000_000)
    parser.add_argument("--threats", type=int, default=1_300_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    began = time.perf_counter()
    frames = synthesise(args.incidents, args.links, args.threats, args.seed)
    print(
        f"synthesised {args.incidents:,} incidents / {args.links:,} links / "
        f"{args.threats:,} threats in {time.perf_counter() - began:.1f} s; "
        f"median of {args.repeat} runs, target < {TARGET_S:.0f} s each\n"
    )
    print(f"{'function':<30} {'median s':>9} {'min s':>7}  result")
    failed = []
    for name, run in cases(frames).items():
        walls = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            run()
            walls.append(time.perf_counter() - t0)
        median = statistics.median(walls)
        verdict = "PASS" if median < TARGET_S else "FAIL"
        if verdict == "FAIL":
            failed.append(name)
        print(f"{name:<30} {median:>9.3f} {min(walls):>7.3f}  {verdict}")
    print(f"\n{'FAIL: ' + ', '.join(failed) if failed else 'PASS: every function under 1 s'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
