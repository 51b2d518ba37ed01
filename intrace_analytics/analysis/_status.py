"""The questions analysts ask of incidents: pure, vectorised functions over the frames.

Every function takes frames shaped as in :mod:`intrace_analytics.frames._schema` and returns a
tidy frame (plain columns, ``RangeIndex``, durations as ``Timedelta``). Nothing here
loops over rows; the few loops run over groups (a handful of scopes or types).

Status, backlog, severity and data quality live here; time to resolution (as-of
censoring, :func:`~intrace_analytics.analysis._survival.resolution_times`,
:func:`~intrace_analytics.analysis._survival.km_curve`,
:func:`~intrace_analytics.analysis._survival.resolution_summary`) in
:mod:`intrace_analytics.analysis._survival`; both build on the shared rules of
:mod:`intrace_analytics.analysis._common`.

Time is always explicit: the backlog runs up to an ``as_of`` time given at call time
(``None`` means the current UTC time, read when the function is called, never at import).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from intrace_analytics._util import arrays, clock
from intrace_analytics._util.checks import fail
from intrace_analytics.analysis._common import (
    arrow,
    by_list,
    ended_without_time,
    group_ids,
    positions,
    require,
    start_times,
)
from intrace_analytics.frames import _schema as schema
from intrace_analytics.frames._container import IncidentFrames
from intrace_analytics.frames._quality import (
    CHECKS,
    TABLE_OF,
    Check,
    Scan,
    check_flags,
)
from intrace_analytics.frames._quality import in_parallel as _in_parallel

__all__ = [
    "CHECKS",
    "Check",
    "data_quality",
    "incident_severity",
    "open_backlog",
    "severity_breakdown",
    "status_breakdown",
    "status_over_time",
]

_UTC = "UTC"
_UNIT = schema.TIMESTAMP_UNIT
_EXAMPLES = 5


def _check_freq(freq: str) -> None:
    try:
        pd.Period("2026-01-01", freq=freq)
    except (ValueError, TypeError, AttributeError) as exc:
        raise fail("freq", "a pandas period alias such as 'D', 'W', 'M', 'Q' or 'Y'", freq) from exc


def _category_slots(
    values: pd.Series, dtype: pd.CategoricalDtype
) -> tuple[np.ndarray, int, np.ndarray]:
    """Per value its slot (category code, NA last), the slot count, and each slot's code."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.set_categories(dtype.categories).cat.codes.to_numpy()
    else:
        codes = pd.Categorical(values, dtype=dtype).codes
    n_cat = len(dtype.categories)
    has_na = bool((codes < 0).any())
    slot = np.where(codes < 0, n_cat, codes).astype(np.intp)
    slot_codes = np.r_[np.arange(n_cat), np.full(int(has_na), -1)].astype(np.int64)
    return slot, n_cat + int(has_na), slot_codes


def _counts_by_category(
    frame: pd.DataFrame, column: str, by: list[str], dtype: pd.CategoricalDtype
) -> pd.DataFrame:
    """Counts and shares of each category (and of NA, when present) within each group."""
    slot, width, category_codes = _category_slots(frame[column], dtype)
    gid, keys = group_ids(frame, by)
    n_groups = len(keys)
    counts = np.bincount(gid * width + slot, minlength=n_groups * width).reshape(n_groups, width)
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    out = keys.loc[keys.index.repeat(width)].reset_index(drop=True)
    out[column] = pd.Categorical.from_codes(np.tile(category_codes, n_groups), dtype=dtype)
    out["count"] = counts.ravel().astype(np.int64)
    out["share"] = share.ravel()
    return out


def _categories_of(values: pd.Series, column: schema.Column) -> pd.CategoricalDtype:
    observed = values.cat.categories if isinstance(values.dtype, pd.CategoricalDtype) else values
    dtype = schema.pandas_dtype(column, schema.categories_for(column, observed))
    assert isinstance(dtype, pd.CategoricalDtype)
    return dtype


def status_breakdown(
    incidents: pd.DataFrame, by: str | Sequence[str] | None = None
) -> pd.DataFrame:
    """Count and share of incidents per status, optionally within groups.

    Parameters
    ----------
    incidents : DataFrame
        The incidents frame.
    by : str or list of str, optional
        Column(s) to group by, e.g. ``"scope"``. Groups are the combinations present
        in the data, sorted (missing keys form a group of their own).

    Returns
    -------
    DataFrame
        Columns ``[*by], status, count, share``. Every known status
        (:data:`~intrace_analytics.frames._schema.STATUSES`, then any unknown categories
        present) appears in every group, with 0 where absent, in category order; a
        row with a missing status is added when some incident has none. ``share`` is
        the fraction within the group (0.0 for an empty group).

        The counts are of the status *field* as the API reports it: ``open`` here is
        "status says open", which is not the resolution tables' ``open`` (not
        resolved by ``as_of``, :func:`~intrace_analytics.analysis._survival.resolution_summary`),
        and ``closed``/``resolved`` include the incidents without ``resolved_at``
        (there counted as ``resolved_without_time``).

    Examples
    --------
    >>> from intrace_analytics.frames._schema import empty_frame
    >>> status_breakdown(empty_frame("incidents"))["status"].tolist()
    ['open', 'closed', 'resolved']
    """
    columns = by_list(by, incidents)
    require("incidents", incidents, ["status"])
    dtype = _categories_of(incidents["status"], schema.INCIDENTS.column("status"))
    return _counts_by_category(incidents, "status", columns, dtype)


def _period_ordinals(stamps: pd.Series, freq: str) -> np.ndarray:
    naive = pd.DatetimeIndex(stamps).tz_convert(_UTC).tz_localize(None)
    return np.asarray(naive.to_period(freq).asi8)


def _period_starts(ordinals: np.ndarray, freq: str) -> pd.DatetimeIndex:
    starts = pd.PeriodIndex.from_ordinals(ordinals, freq=freq).start_time
    return starts.as_unit(_UNIT).tz_localize(_UTC)


def status_over_time(incidents: pd.DataFrame, freq: str = "W") -> pd.DataFrame:
    """Incidents created per period and status.

    Parameters
    ----------
    incidents : DataFrame
        The incidents frame.
    freq : str, default "W"
        A pandas period alias: ``"D"``, ``"W"`` (weeks Monday to Sunday), ``"M"``,
        ``"Q"``, ``"Y"``, ...

    Returns
    -------
    DataFrame
        Columns ``period, status, count``: ``period`` is the period's start as a UTC
        timestamp, every period from the first to the last ``created_at`` is present,
        and every status appears in every period (0 where absent). Incidents without
        ``created_at`` are not counted.

    Examples
    --------
    >>> from intrace_analytics.frames._schema import empty_frame
    >>> status_over_time(empty_frame("incidents")).columns.tolist()
    ['period', 'status', 'count']
    """
    _check_freq(freq)
    require("incidents", incidents, ["status", "created_at"])
    dtype = _categories_of(incidents["status"], schema.INCIDENTS.column("status"))
    created = incidents["created_at"]
    known = created.notna().to_numpy()
    ordinals = _period_ordinals(created[known], freq)
    if len(ordinals) == 0:
        return pd.DataFrame(
            {
                "period": pd.Series([], dtype=pd.DatetimeTZDtype(unit=_UNIT, tz=_UTC)),
                "status": pd.Categorical([], dtype=dtype),
                "count": pd.Series([], dtype="int64"),
            }
        )
    first = int(ordinals.min())
    slot, width, category_codes = _category_slots(incidents["status"][known], dtype)
    n_periods = int(ordinals.max()) - first + 1
    counts = np.bincount(
        (ordinals - first).astype(np.intp) * width + slot, minlength=n_periods * width
    )
    period_ordinals = np.repeat(np.arange(first, first + n_periods), width)
    return pd.DataFrame(
        {
            "period": _period_starts(period_ordinals, freq),
            "status": pd.Categorical.from_codes(np.tile(category_codes, n_periods), dtype=dtype),
            "count": counts.astype(np.int64),
        }
    )


def open_backlog(
    incidents: pd.DataFrame,
    freq: str = "D",
    as_of: pd.Timestamp | datetime | str | None = None,
) -> pd.DataFrame:
    """How many incidents were open at the end of each period, up to ``as_of``.

    An incident is open at time ``T`` when it had started by then (``started_at``,
    else ``created_at``; ``start <= T``) and was not yet resolved (``resolved_at``
    missing or ``resolved_at > T``): "open" as in
    :func:`~intrace_analytics.analysis._survival.resolution_summary` (not resolved, censored),
    so at ``T = as_of`` the count is that summary's ``unresolved`` among the incidents
    started by ``as_of``. A ``resolved_at`` before the start (a data error, see
    :func:`data_quality`) is treated as resolved at the start: never open.

    Incidents *resolved without time* (status ``closed`` or ``resolved``, no
    ``resolved_at``) are left out of the whole series: they ended at an unknown
    time, so counting them open until ``as_of`` would inflate every later period.
    While they were still open, the series undercounts by at most their number
    (``resolution_summary(...)["resolved_without_time"]``); once they ended, it is exact.

    Parameters
    ----------
    incidents : DataFrame
        The incidents frame.
    freq : str, default "D"
        A pandas period alias (``"h"``, ``"D"``, ``"W"``, ``"M"``, ...).
    as_of : timestamp, optional
        The last time of the series; ``None`` is the current UTC time, read at call
        time. Naive values are taken as UTC.

    Returns
    -------
    DataFrame
        Columns ``time, open``. ``open`` counts the incidents open at ``time`` as
        defined above. ``time`` is the end of each period (the instant the
        next one starts) from the period of the earliest start on, the last one
        capped at ``as_of``; empty when no incident started by ``as_of``.

    Examples
    --------
    >>> from intrace_analytics.frames._schema import empty_frame
    >>> open_backlog(empty_frame("incidents"), as_of="2026-10-01").columns.tolist()
    ['time', 'open']
    """
    _check_freq(freq)
    require("incidents", incidents, ["status", "created_at", "started_at", "resolved_at"])
    cutoff = clock.as_of(as_of)
    start = start_times(incidents).to_numpy(dtype=f"datetime64[{_UNIT}]")
    resolved = incidents["resolved_at"].to_numpy(dtype=f"datetime64[{_UNIT}]")
    has_start = ~np.isnat(start) & ~ended_without_time(incidents)
    start, resolved = start[has_start], resolved[has_start]
    cutoff64 = cutoff.tz_localize(None).as_unit(_UNIT).to_datetime64()
    if len(start) == 0 or start.min() > cutoff64:
        return pd.DataFrame(
            {
                "time": pd.Series([], dtype=pd.DatetimeTZDtype(unit=_UNIT, tz=_UTC)),
                "open": pd.Series([], dtype="int64"),
            }
        )
    ended = ~np.isnat(resolved)
    ends = np.sort(np.maximum(resolved[ended], start[ended]))
    starts = np.sort(start)
    first = int(pd.Period(pd.Timestamp(starts[0]), freq=freq).ordinal)
    last = int(pd.Period(cutoff.tz_localize(None), freq=freq).ordinal)
    ordinals = np.arange(first + 1, last + 2)
    times = _period_starts(ordinals, freq).tz_localize(None).to_numpy()
    times = np.minimum(times, cutoff64)
    if len(times) > 1 and times[-1] == times[-2]:  # as_of is exactly a period boundary
        times = times[:-1]
    open_count = np.searchsorted(starts, times, side="right") - np.searchsorted(
        ends, times, side="right"
    )
    return pd.DataFrame(
        {
            "time": pd.DatetimeIndex(times).tz_localize(_UTC),
            "open": open_count.astype(np.int64),
        }
    )


# -- severities ----------------------------------------------------------------------


def severity_breakdown(
    threats: pd.DataFrame, by: str | Sequence[str] | None = None
) -> pd.DataFrame:
    """Count and share of threats per severity, optionally within groups.

    Parameters
    ----------
    threats : DataFrame
        The threats frame.
    by : str or list of str, optional
        Column(s) to group by, e.g. ``"threat_type"``; groups sorted.

    Returns
    -------
    DataFrame
        Columns ``[*by], severity, count, share``. ``severity`` is the ordered
        severity categorical: unknown labels first (they rank below ``low``), then
        ``low``, ``medium``, ``high``, ``critical``, each in every group (0 where
        absent); threats without a severity are counted in a row of their own
        (severity NA), not dropped.

    Examples
    --------
    >>> from intrace_analytics.frames._schema import empty_frame
    >>> severity_breakdown(empty_frame("threats"))["severity"].tolist()
    ['low', 'medium', 'high', 'critical']
    """
    columns = by_list(by, threats)
    require("threats", threats, ["severity"])
    dtype = _categories_of(threats["severity"], schema.THREATS.column("severity"))
    return _counts_by_category(threats, "severity", columns, dtype)


def _first_rows(ids: pd.Series) -> np.ndarray:
    """Per row the first row with the same id (itself unless the id repeats; -1 for a
    repeated missing id)."""
    code, distinct = arrays.codes(ids)
    if len(distinct) == len(ids):  # every id present and distinct
        return np.arange(len(ids), dtype=np.int64)
    # Codes are numbered by first appearance: the k-th new code's row is the k-th first row.
    first_of_code = arrays.first_rows(code)
    return np.where(code >= 0, first_of_code[np.maximum(code, 0)], -1)


def _incident_rows(links: pd.DataFrame, incidents: pd.DataFrame) -> np.ndarray:
    """Each link's incident row (-1 if none). Frames from :func:`frames_from_pages` list
    links in the incidents' order, ``threat_count`` of them each: then the rows follow
    from the counts, checked against the ids, with no lookup of millions of strings.
    Other frames are looked up."""
    counts = incidents["threat_count"].to_numpy()
    if len(links) and int(counts.sum()) == len(links) and (counts >= 0).all():
        rows = np.repeat(np.arange(len(incidents), dtype=np.int64), counts)
        expected = arrow(incidents["incident_id"]).take(pa.array(rows))
        same = pc.fill_null(pc.equal(arrow(links["incident_id"]), expected), False)
        if pc.all(same).as_py():
            return rows
    return positions(links["incident_id"], incidents["incident_id"])


def _severity_levels(threats: pd.DataFrame) -> np.ndarray:
    """Each threat's rank among the known levels (0 = low), -1 when unknown or missing."""
    values = threats["severity"]
    if isinstance(values.dtype, pd.CategoricalDtype):
        categories = np.asarray(values.cat.categories, dtype=object)
        rank = np.array([schema.SEVERITIES.index(c) if c in schema.SEVERITIES else -1
                         for c in categories] + [-1], dtype=np.int64)  # fmt: skip
        return rank[values.cat.codes.to_numpy()]
    return pd.Categorical(values, categories=list(schema.SEVERITIES)).codes.astype(np.int64)


def incident_severity(frames: IncidentFrames) -> pd.DataFrame:
    """Each incident's highest known linked severity.

    Parameters
    ----------
    frames : IncidentFrames
        The incidents, links and threats.

    Returns
    -------
    DataFrame
        Columns ``incident_id, max_severity``, one row per incident in the order of
        ``frames.incidents``. ``max_severity`` is an ordered categorical of the known
        levels ``low`` < ``medium`` < ``high`` < ``critical``: unknown labels never
        outrank a known one, and an incident with no known linked severity (no links,
        links to undescribed threats, only unknown labels) has NA.

    Examples
    --------
    >>> frames = IncidentFrames.empty()
    >>> incident_severity(frames).columns.tolist()
    ['incident_id', 'max_severity']
    """
    incidents, links, threats = frames.incidents, frames.links, frames.threats
    level = _severity_levels(threats)
    # Three independent Arrow lookups; a repeated id resolves to its first row.
    link_threat, link_incident, first_row = _in_parallel(
        lambda: positions(links["threat_id"], threats["threat_id"]),
        lambda: _incident_rows(links, incidents),
        lambda: _first_rows(incidents["incident_id"]),
    )
    # A repeated incident id gathers the links of all its rows on its first row.
    link_incident = np.where(link_incident >= 0, first_row[np.maximum(link_incident, 0)], -1)
    link_level = np.where(link_threat >= 0, level[link_threat], -1)
    found = link_incident >= 0
    best = np.full(len(incidents), -1, dtype=np.int64)
    np.maximum.at(best, link_incident[found], link_level[found])
    per_row = np.where(first_row >= 0, best[first_row], -1)
    dtype = pd.CategoricalDtype(list(schema.SEVERITIES), ordered=True)
    return pd.DataFrame(
        {
            "incident_id": incidents["incident_id"].reset_index(drop=True),
            "max_severity": pd.Categorical.from_codes(per_row, dtype=dtype),
        }
    )


# -- data quality --------------------------------------------------------------------


def data_quality(frames: IncidentFrames) -> pd.DataFrame:
    """Findings that make analysis results doubtful, one row per check.

    Parameters
    ----------
    frames : IncidentFrames
        The incidents, links and threats.

    Returns
    -------
    DataFrame
        Columns ``check, count, example_ids``; every check appears, with count 0 when
        clean. ``example_ids`` lists up to five ids of offending rows: incident ids
        for incident checks, link ids for link checks, threat ids for threats.
        The checks, in the order of :data:`CHECKS` (which declares them):

        - ``resolved_or_closed_without_resolved_at``: status resolved or closed,
          ``resolved_at`` missing;
        - ``resolved_before_start``: ``resolved_at`` before the start (``started_at``,
          else ``created_at``);
        - ``updated_before_created``: ``updated_at`` before ``created_at``;
        - ``open_with_resolved_at``: status open with a ``resolved_at``;
        - ``links_to_undescribed_threats``: links whose ``threat_id`` is not in
          ``threats``;
        - ``threats_without_coordinates``: ``lat`` or ``lng`` missing;
        - ``duplicate_links``: a link repeating an earlier link's
          ``incident_id``/``threat_id`` pair or its ``link_id`` (the repeats are
          counted, not the first occurrence).

    Examples
    --------
    >>> frames = IncidentFrames.empty()
    >>> data_quality(frames)["count"].sum()
    np.int64(0)
    """
    scan = Scan(frames)
    counts = []
    examples = []
    for check in CHECKS:
        flags = check_flags(scan, check)
        ids = getattr(scan, TABLE_OF[check.column])[check.column]
        counts.append(int(flags.sum()))
        examples.append([str(v) for v in ids.iloc[np.flatnonzero(flags)[:_EXAMPLES]]])
    return pd.DataFrame(
        {
            "check": [check.name for check in CHECKS],
            "count": np.asarray(counts, dtype=np.int64),
            "example_ids": examples,
        }
    ).astype({"check": "string"})
