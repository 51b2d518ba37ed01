"""Data quality as one declarative table of checks, and the two rules about an incident's
times that the checks and the analyses share.

The checks live with the frames, not with the analyses, so that a load can count its
findings into its own report (``metadata["data_quality"]``: the load layer imports
frames, never analysis) and an export describes itself;
:func:`~intrace_analytics.analysis._status.data_quality` lists them with examples.

- :func:`start_times`: when an incident started (``started_at``, else ``created_at``);
- :func:`ended_without_time`: an incident whose status says it ended, but not when;
- :data:`CHECKS`: every check, a :class:`Check` each, in report order;
- :func:`quality_counts`: each check's count and the start-time fallbacks used, as the
  load report carries them.

>>> import pandas as pd
>>> incidents = pd.DataFrame({
...     "started_at": [pd.NaT, pd.Timestamp("2026-01-01", tz="UTC")],
...     "created_at": [pd.Timestamp("2026-01-02", tz="UTC")] * 2,
... })
>>> start_times(incidents).dt.day.tolist()
[2, 1]
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import ArrayLike

from intrace_analytics._util import arrays
from intrace_analytics.frames import _schema as schema

if TYPE_CHECKING:
    from intrace_analytics.frames._container import IncidentFrames

__all__ = [
    "CHECKS",
    "ENDED",
    "FALLBACK",
    "STARTS",
    "TABLE_OF",
    "Check",
    "Scan",
    "arrow",
    "check_flags",
    "ended_without_time",
    "in_parallel",
    "positions",
    "quality_counts",
    "start_times",
]

#: Where a duration may start: ``started_at`` (falling back to ``created_at``), or
#: ``created_at`` alone.
STARTS = ("started_at", "created_at")
#: Statuses that say an incident has ended.
ENDED = ("closed", "resolved")
#: The load report's name for the incidents timed by the start rule's fallback.
FALLBACK = "started_at missing: timed from created_at"


def start_times(incidents: pd.DataFrame, start: str = "started_at") -> pd.Series:
    """When each incident started: ``started_at``, else ``created_at``.

    Parameters
    ----------
    incidents : DataFrame
        The incidents frame.
    start : {"started_at", "created_at"}, default "started_at"
        ``"started_at"`` falls back to ``created_at`` where ``started_at`` is missing (an
        incident the API reports before it says when it began); ``"created_at"`` is the
        time it was reported, whatever ``started_at`` says.

    Returns
    -------
    Series
        One UTC timestamp per incident (``NaT`` where neither is known), on the frame's
        index.
    """
    if start == "created_at":
        return incidents["created_at"]
    return incidents["started_at"].fillna(incidents["created_at"])


def ended_without_time(incidents: pd.DataFrame) -> np.ndarray:
    """True where the status says closed or resolved but ``resolved_at`` is missing:
    incidents that ended at an unknown time (neither open nor censored)."""
    ended = incidents["status"].isin(ENDED) & incidents["resolved_at"].isna()
    return ended.fillna(False).to_numpy(dtype=bool)


def arrow(values: pd.Series) -> pa.Array:
    """A column as one contiguous Arrow array."""
    array = pa.array(values)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def positions(values: pd.Series, keys: pd.Series) -> np.ndarray:
    """Per value the row of its first match in ``keys``, -1 when absent (or NA)."""
    # Hash lookups in Arrow: pandas' own (get_indexer, isin) on Arrow-backed strings
    # take seconds at 3e6 links.
    options = pc.SetLookupOptions(value_set=arrow(keys), skip_nulls=True)
    found = pc.index_in(arrow(values), options=options)
    return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)


def in_parallel(*calls: Callable[[], np.ndarray]) -> list[np.ndarray]:
    """Run independent Arrow lookups on threads: Arrow releases the GIL while hashing."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
        return [future.result() for future in futures]


class Scan:
    """The frames as the data-quality checks read them, with the lookups several checks
    share computed once (on first use) per scan."""

    def __init__(self, frames: IncidentFrames) -> None:
        self.incidents = frames.incidents
        self.links = frames.links
        self.threats = frames.threats

    @cached_property
    def link_lookups(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each link's threat row (-1 when undescribed), and exact codes of its
        ``incident_id`` and ``link_id``; run on threads (Arrow releases the GIL)."""
        links = self.links
        threat_row, incident_code, link_code = in_parallel(
            lambda: positions(links["threat_id"], self.threats["threat_id"]),
            lambda: arrays.codes(links["incident_id"])[0],
            lambda: arrays.codes(links["link_id"])[0],
        )
        return threat_row, incident_code, link_code

    def duplicate_links(self) -> np.ndarray:
        """True where a link repeats an earlier link's pair or its ``link_id``."""
        threat_row, incident_code, link_code = self.link_lookups
        threat_code = _lookup_codes(self.links["threat_id"], threat_row, len(self.threats))
        return _repeated_pairs(incident_code, threat_code) | arrays.seen_before(link_code)


@dataclass(frozen=True)
class Check:
    """One data-quality check.

    ``name`` is the check's id (``data_quality``'s ``check`` column, the load report's
    key); ``words`` what the report calls it; ``column`` the id column its examples come
    from (the key of the table whose rows it flags: ``incident_id``, ``link_id`` or
    ``threat_id``); ``mask`` gives, from a :class:`Scan` of the frames, a boolean mask
    (or a nullable boolean Series, NA counting as clean) of that table's offending rows.
    """

    name: str
    words: str
    column: str
    mask: Callable[[Scan], ArrayLike]


#: Every data-quality check, in report order.
CHECKS: tuple[Check, ...] = (
    Check(
        "resolved_or_closed_without_resolved_at",
        "closed or resolved without a resolution time (left out of the resolution times)",
        "incident_id",
        lambda scan: ended_without_time(scan.incidents),
    ),
    Check(
        "resolved_before_start",
        "resolved before it started",
        "incident_id",
        lambda scan: scan.incidents["resolved_at"] < start_times(scan.incidents),
    ),
    Check(
        "updated_before_created",
        "updated before it was created",
        "incident_id",
        lambda scan: scan.incidents["updated_at"] < scan.incidents["created_at"],
    ),
    Check(
        "open_with_resolved_at",
        "status open, yet with a resolution time",
        "incident_id",
        lambda scan: (scan.incidents["status"] == "open") & scan.incidents["resolved_at"].notna(),
    ),
    Check(
        "links_to_undescribed_threats",
        "links to threats the export does not describe",
        "link_id",
        lambda scan: scan.link_lookups[0] < 0,
    ),
    Check(
        "threats_without_coordinates",
        "threats without coordinates (not on the maps)",
        "threat_id",
        lambda scan: scan.threats["lat"].isna() | scan.threats["lng"].isna(),
    ),
    Check("duplicate_links", "duplicate links", "link_id", Scan.duplicate_links),
)

#: The table each check's ``column`` is the key of.
TABLE_OF = {key: table for table, key in schema.KEYS.items() if isinstance(key, str)}


def check_flags(scan: Scan, check: Check) -> np.ndarray:
    """The check's offending rows of its table, as a plain boolean mask."""
    return pd.Series(check.mask(scan)).fillna(False).to_numpy(dtype=bool)


def quality_counts(frames: IncidentFrames) -> dict[str, int]:
    """What a reader of the export alone needs to trust it: each check of :data:`CHECKS`
    with a non-zero count (by name), and how many incidents the start rule timed from
    ``created_at`` because ``started_at`` is missing (:data:`FALLBACK`), when any.

    >>> from intrace_analytics.frames._container import IncidentFrames
    >>> quality_counts(IncidentFrames.empty())
    {}
    """
    scan = Scan(frames)
    counts = {check.name: int(check_flags(scan, check).sum()) for check in CHECKS}
    incidents = frames.incidents
    fallback = incidents["started_at"].isna() & incidents["created_at"].notna()
    counts[FALLBACK] = int(fallback.sum())
    return {name: count for name, count in counts.items() if count}


def _lookup_codes(values: pd.Series, rows: np.ndarray, n_keys: int) -> np.ndarray:
    """Exact codes of ``values`` from their rows in a key table (``rows``, -1 where not
    found): found values keep their row, the others are encoded after ``n_keys``, missing
    values are -1."""
    # The lookup is already paid for: arrays.codes(links["threat_id"]) took 0.20 s at 6e5
    # links (benchmarks/bench_analysis.py --incidents 200000), this 0.003 s.
    found = rows.copy()
    other = found < 0
    if other.any():
        extra, _ = arrays.codes(values[other])
        found[other] = np.where(extra >= 0, n_keys + extra, -1)
    return found


def _repeated_pairs(incident_code: np.ndarray, threat_code: np.ndarray) -> np.ndarray:
    """True where a link repeats an earlier link's ``incident_id``/``threat_id`` pair.

    The codes are exact (:func:`~intrace_analytics._util.arrays.codes`, missing as -1, and a
    missing id equals another missing one, as in ``DataFrame.duplicated``): one integer
    key per pair, sorted stably, so every row after the first of its run is a repeat.
    """
    width = np.int64(threat_code.max() + 2) if len(threat_code) else np.int64(1)
    key = (incident_code + 1) * width + (threat_code + 1)
    order, starts = arrays.sorted_runs(key)
    flags = np.ones(len(key), dtype=bool)
    flags[order[starts]] = False
    return flags
