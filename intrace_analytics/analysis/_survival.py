"""Time to resolution: as-of censoring, resolution times and Kaplan-Meier estimates.

Pure, vectorised functions over the incidents frame (see :mod:`intrace_analytics.frames._schema`),
returning tidy frames (plain columns, ``RangeIndex``, durations as ``Timedelta``).

Time is always explicit: unresolved incidents are right-censored at an ``as_of`` time given
at call time (``None`` means the current UTC time, read from
:func:`intrace_analytics._util.clock.as_of` when the function is called, never at import).

Every incident falls in exactly one of three classes, and the words mean these classes
wherever this module (and :func:`~intrace_analytics.analysis._status.open_backlog`) uses them:

- *resolved*: ``resolved_at`` is present and not after ``as_of`` (whatever the status
  says; an ``open`` status with a ``resolved_at`` is a data-quality finding);
- *resolved without time*: the status says ``closed`` or ``resolved`` but there is no
  ``resolved_at``. It ended, at an unknown time: it is neither unresolved nor censored, and
  it is left out of every estimate (and counted apart);
- *unresolved*: every other incident: not resolved by ``as_of``, so right-censored
  there. The word is not "open", which is a status: an incident resolved after
  ``as_of``, or with a status outside the documented set, is unresolved here too.

Survival estimates come from :func:`km_curve`, a vectorised Kaplan-Meier estimator of
our own. lifelines, the usual choice, pins ``pandas < 3``, so it cannot be a
dependency; statsmodels' ``SurvfuncRight`` works but is not a runtime dependency either
(it is in the test extras). The tests check this estimator against the published
Freireich 6-MP table and against ``SurvfuncRight`` (survival, Greenwood standard error,
median and its confidence interval) to 1e-9.

When an incident started and whether it ended without a time are the rules of
:mod:`~intrace_analytics.analysis._common`, shared with every other analysis.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from intrace_analytics._util import clock
from intrace_analytics._util.arrays import run_starts
from intrace_analytics._util.checks import check_choice, fail
from intrace_analytics.analysis._common import (
    STARTS,
    by_list,
    ended_without_time,
    group_ids,
    require,
    start_times,
    started_by,
)
from intrace_analytics.frames import _schema as schema

__all__ = ["km_curve", "resolution_summary", "resolution_times"]

#: Two-sided 95 % normal quantile, ``scipy.stats.norm.ppf(0.975)``.
_Z95 = 1.959963984540054
_UNIT = schema.TIMESTAMP_UNIT
_NAT = np.timedelta64("NaT", "us")


def _existing(incidents: pd.DataFrame, start: str, as_of: Any) -> tuple[pd.DataFrame, pd.Timestamp]:
    """The incidents that had started by ``as_of`` (the others did not exist yet at that
    moment), with a ``RangeIndex``, and ``as_of`` as a UTC timestamp."""
    check_choice("start", start, STARTS)
    require(
        "incidents", incidents, ["incident_id", "status", "created_at", "started_at", "resolved_at"]
    )
    cutoff = clock.as_of(as_of)
    kept = started_by(incidents, cutoff)
    frame = incidents if kept.all() else incidents[kept]
    return frame.reset_index(drop=True), cutoff


def _times(
    incidents: pd.DataFrame, start: str, cutoff: pd.Timestamp
) -> tuple[pd.Series, pd.Series, pd.Series, np.ndarray, np.ndarray]:
    """Every incident's start, end (``resolved_at`` or ``as_of``), duration (never
    negative), whether it was resolved by ``as_of``, and whether it ended without a time;
    one entry per row of incidents that all started by ``cutoff``."""
    begin = start_times(incidents, start)
    resolved_at = incidents["resolved_at"]
    resolved = (resolved_at.notna() & (resolved_at <= cutoff)).to_numpy(dtype=bool)
    end = resolved_at.where(resolved, cutoff).astype(resolved_at.dtype)
    # A resolved_at before the start (a data error data_quality lists), or an incident
    # reported after the as-of when timed from created_at, ended where it began: zero,
    # as open_backlog counts it, never a negative time that would pull every estimate down.
    duration = (end - begin).clip(lower=pd.Timedelta(0))
    return begin, end, duration, resolved, ended_without_time(incidents)


def resolution_times(
    incidents: pd.DataFrame,
    *,
    start: str = "started_at",
    as_of: pd.Timestamp | datetime | str | None = None,
) -> pd.DataFrame:
    """Each incident's time to resolution, unresolved ones right-censored at ``as_of``.

    Parameters
    ----------
    incidents : DataFrame
        The incidents frame.
    start : {"started_at", "created_at"}, default "started_at"
        Where the clock starts. ``"started_at"`` (the default) measures from when the
        incident began, falling back to ``created_at`` where ``started_at`` is
        missing; ``"created_at"`` measures from when it was reported.
    as_of : timestamp, optional
        The censoring time; ``None`` is the current UTC time, read at call time.
        Naive values are taken as UTC.

    Returns
    -------
    DataFrame
        Columns ``incident_id, start, end, duration, resolved``, one row per incident
        that had started by ``as_of`` and whose end is known or censored, in the
        incidents' order. An incident that started after ``as_of`` (``started_at``, else
        ``created_at``, whatever ``start`` says) did not exist yet at that moment: it has
        no row. ``resolved`` is true when ``resolved_at`` is present and not after
        ``as_of``; then ``end`` is ``resolved_at``. Otherwise the incident is unresolved
        at ``as_of``: censored there, ``end`` is ``as_of``. Durations are ``Timedelta``
        and never negative: a ``resolved_at`` before the start (a data error listed by
        :func:`~intrace_analytics.analysis._status.data_quality`) is a duration of zero,
        as :func:`~intrace_analytics.analysis._status.open_backlog` counts it (resolved at
        its start), and so is an incident timed from a ``created_at`` after ``as_of``.

        Incidents *resolved without time* (status ``closed`` or ``resolved``, no
        ``resolved_at``) have no row: they ended at an unknown time, so they have
        neither a duration nor a censoring time. :func:`resolution_summary` counts
        them in ``resolved_without_time``; ``data_quality`` lists them.

    Examples
    --------
    >>> from intrace_analytics.frames._schema import empty_frame
    >>> resolution_times(empty_frame("incidents"), as_of="2026-10-01").columns.tolist()
    ['incident_id', 'start', 'end', 'duration', 'resolved']
    """
    existing, cutoff = _existing(incidents, start, as_of)
    begin, end, duration, resolved, unknown = _times(existing, start, cutoff)
    keep = ~unknown
    return pd.DataFrame(
        {
            "incident_id": existing["incident_id"][keep].reset_index(drop=True),
            "start": begin[keep].reset_index(drop=True),
            "end": end[keep].reset_index(drop=True),
            "duration": duration[keep].reset_index(drop=True),
            "resolved": resolved[keep],
        }
    ).astype({"incident_id": incidents["incident_id"].dtype, "start": begin.dtype,
              "end": end.dtype, "duration": duration.dtype})  # fmt: skip


def _as_numbers(values: Any, name: str) -> tuple[np.ndarray, np.dtype[Any] | None]:
    """Durations as float64 (timedeltas via their integer ticks, exactly), and their unit."""
    array = np.asarray(values.to_numpy() if hasattr(values, "to_numpy") else values)
    if array.ndim != 1:
        raise fail(f"the shape of {name}", "one-dimensional, (n,)", array.shape)
    if array.dtype.kind == "m":
        if np.isnat(array).any():
            raise fail(name, "free of missing values (NaT)", pd.NaT)
        return array.view(np.int64).astype(np.float64), array.dtype
    if array.dtype.kind not in "biuf":
        raise fail(name, "numbers or timedeltas", array.dtype)
    numbers = array.astype(np.float64)
    if np.isnan(numbers).any():
        raise fail(name, "free of missing values (NaN)", float("nan"))
    return numbers, None


def km_curve(durations: Any, observed: Any) -> pd.DataFrame:
    """Kaplan-Meier survival curve with Greenwood variance and a 95 % band.

    Parameters
    ----------
    durations : array-like of numbers or timedeltas
        Time from start to event or censoring, one per subject; no missing values.
    observed : array-like of bool
        True where the event (resolution) was observed, false where censored.

    Returns
    -------
    DataFrame
        One row per distinct event time: ``time`` (same kind as ``durations``:
        ``Timedelta`` or float), ``at_risk`` (subjects with duration >= time),
        ``events``, ``survival`` (the product-limit estimate S(t)), ``low`` and
        ``high`` (the pointwise 95 % band), and ``std_err`` (Greenwood's standard
        error of S(t)). Empty when no event was observed.

    Notes
    -----
    S(t) = prod over event times t_i <= t of (1 - d_i / n_i); Greenwood:
    Var S(t) = S(t)^2 sum d_i / (n_i (n_i - d_i)). The band uses the log-log
    transform, as statsmodels' ``SurvfuncRight`` and lifelines do:
    ``S ** exp(+-z * se / (S * log S))``, which stays inside [0, 1]. Where S(t) = 0
    the variance is undefined and ``std_err``, ``low`` and ``high`` are NaN.
    Timedeltas are ranked by their exact integer ticks, never rounded through hours.

    Examples
    --------
    >>> km_curve([1, 2, 2, 3], [True, True, False, True])["survival"].round(3).tolist()
    [0.75, 0.5, 0.0]
    """
    times, unit = _as_numbers(durations, "durations")
    events = np.asarray(observed)
    if events.shape != times.shape:
        raise fail("the shape of observed", f"the shape of durations {times.shape!r}", events.shape)
    if events.dtype != bool:
        if events.dtype.kind not in "biuf":
            raise fail("observed", "booleans (or 0/1)", events.dtype)
        other = events[~np.isin(events, (0, 1))]
        if len(other):
            raise fail("observed", "booleans (or 0/1)", other[0].item())
        events = events.astype(bool)
    # Distinct times by sorting (np.unique with return_inverse is far slower at 1e6).
    order = np.argsort(times)
    ordered = times[order]
    first = np.flatnonzero(run_starts(ordered))
    unique = ordered[first]
    counts = np.diff(np.r_[first, len(times)])
    deaths = (
        np.add.reduceat(events[order].astype(np.int64), first)
        if len(times)
        else np.zeros(0, np.int64)
    )
    at_risk = np.cumsum(counts[::-1])[::-1].astype(np.int64)
    keep = deaths > 0
    unique, deaths, at_risk = unique[keep], deaths[keep], at_risk[keep]
    survival = np.cumprod(1.0 - deaths / at_risk)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(at_risk > deaths, deaths / (at_risk * (at_risk - deaths)), np.nan)
        std_err = survival * np.sqrt(np.cumsum(terms))
        log_s = np.log(survival)
        spread = np.exp(_Z95 * std_err / (survival * np.abs(log_s)))
        low = survival**spread
        high = survival ** (1.0 / spread)
    time: Any = unique
    if unit is not None:
        time = pd.to_timedelta(unique.astype(np.int64).view(unit))
    return pd.DataFrame(
        {
            "time": time,
            "at_risk": at_risk,
            "events": deaths,
            "survival": survival,
            "low": low,
            "high": high,
            "std_err": std_err,
        }
    )


def _km_quantile(curve: pd.DataFrame, p: float) -> tuple[Any, Any, Any]:
    """The time S(t) first falls to <= 1 - p, and its 95 % CI (NaN/NaT when not reached).

    The CI inverts the pointwise test of ``log(-log S(t)) = log(-log(1 - p))``
    (Brookmeyer-Crowley with the log-log transform), exactly as statsmodels'
    ``SurvfuncRight.quantile_ci(p)`` with its default ``"cloglog"`` method: the lower
    limit is the first event time whose band covers ``1 - p``, the upper limit the
    event time after the last such one (not reached when that is the last).
    """
    survival = curve["survival"].to_numpy()
    std_err = curve["std_err"].to_numpy()
    times = curve["time"]
    missing: Any = pd.NaT if times.dtype.kind == "m" else np.nan
    target = 1.0 - p
    below = np.flatnonzero(survival <= target)
    point = times.iloc[below[0]] if len(below) else missing
    with np.errstate(divide="ignore", invalid="ignore"):
        log_s = np.log(survival)
        ratio = (np.log(-log_s) - np.log(-np.log(target))) / (-std_err / (survival * log_s))
    inside = np.flatnonzero(np.abs(ratio) <= _Z95)
    if len(inside) == 0:
        return point, missing, missing
    lower = times.iloc[inside[0]]
    upper = missing if inside[-1] == len(times) - 1 else times.iloc[inside[-1] + 1]
    return point, lower, upper


def resolution_summary(
    incidents: pd.DataFrame,
    by: str | Sequence[str] | None = None,
    *,
    start: str = "started_at",
    as_of: pd.Timestamp | datetime | str | None = None,
) -> pd.DataFrame:
    """Per group: how many resolved, how many unresolved, and how long resolution takes.

    Parameters
    ----------
    incidents : DataFrame
        The incidents frame.
    by : str or list of str, optional
        Column(s) to group by, e.g. ``"scope"``; groups sorted, missing keys a group.
    start : {"started_at", "created_at"}, default "started_at"
        Where the clock starts (see :func:`resolution_times`).
    as_of : timestamp, optional
        The censoring time for unresolved incidents; ``None`` is the current UTC time,
        read at call time.

    Returns
    -------
    DataFrame
        One row per group: ``[*by], count, resolved, unresolved, km_median, km_median_low,
        km_median_high, km_p90, naive_median, resolved_without_time``; times are
        ``Timedelta``. The counts (int64) split every incident of the group that had
        started by ``as_of`` (``started_at``, else ``created_at``; one that started
        later did not exist yet at that moment and is not counted at all):
        ``count = resolved + unresolved + resolved_without_time``, where

        - ``resolved``: ``resolved_at`` present and not after ``as_of`` (the events);
        - ``unresolved``: not resolved by ``as_of``, so censored at ``as_of``: status
          open, a ``resolved_at`` after ``as_of``, or a status outside the documented
          set without ``resolved_at``. Never called "open", which is the status field's
          word (:func:`~intrace_analytics.analysis._status.status_breakdown`);
        - ``resolved_without_time``: status ``closed`` or ``resolved`` but no
          ``resolved_at``: ended at an unknown time, neither unresolved nor censored, and
          left out of every estimate below.

    Notes
    -----
    ``km_median`` is the Kaplan-Meier median (:func:`km_curve`, unresolved incidents
    censored at ``as_of``): the smallest time with S(t) <= 0.5. ``km_p90`` is the
    smallest with S(t) <= 0.1. ``km_median_low``/``km_median_high`` form its 95 %
    confidence interval, by inverting the pointwise log-log band (Brookmeyer and
    Crowley's method as SAS and statsmodels' ``SurvfuncRight.quantile_ci(0.5)``
    implement it, against which the tests check it). A time the curve never reaches
    (fewer than half resolved, or a group with no incident) is ``NaT``: "not
    reached", never infinity. ``naive_median`` is the median over resolved
    incidents only, which ignores the unresolved ones and so is biased short; it is shown
    for contrast. Incidents without any start time are counted (as resolved or unresolved)
    but left out of the estimates; so are those resolved without time. The estimator
    is our own, vectorised (lifelines pins pandas < 3).

    Examples
    --------
    >>> from intrace_analytics.frames._schema import empty_frame
    >>> row = resolution_summary(empty_frame("incidents"), as_of="2026-10-01").iloc[0]
    >>> int(row["count"]), row["km_median"]
    (0, NaT)
    """
    columns = by_list(by, incidents)
    existing, cutoff = _existing(incidents, start, as_of)
    _, _, durations, resolved, unknown = _times(existing, start, cutoff)
    gid, keys = group_ids(existing, columns)
    n_groups = len(keys)
    duration = durations.to_numpy(dtype=f"timedelta64[{_UNIT}]")
    usable = ~np.isnat(duration) & ~unknown
    count = np.bincount(gid, minlength=n_groups)
    n_resolved = np.bincount(gid, weights=resolved, minlength=n_groups).astype(np.int64)
    n_unknown = np.bincount(gid, weights=unknown, minlength=n_groups).astype(np.int64)
    # Sort once by group, then slice: the loop runs over groups, never rows.
    order = np.argsort(gid, kind="stable")
    bounds = np.searchsorted(gid[order], np.arange(n_groups + 1))
    results = np.full((n_groups, 5), _NAT)
    for g in range(n_groups):
        rows = order[bounds[g] : bounds[g + 1]]
        rows = rows[usable[rows]]
        if len(rows) == 0:
            continue
        curve = km_curve(duration[rows], resolved[rows])
        median, low, high = _km_quantile(curve, 0.5)
        p90, _, _ = _km_quantile(curve, 0.9)
        done = duration[rows][resolved[rows]]
        naive = np.median(done.view(np.int64)) if len(done) else np.nan
        naive_td = _NAT if np.isnan(naive) else np.timedelta64(round(float(naive)), "us")
        results[g] = [_td(median), _td(low), _td(high), _td(p90), naive_td]
    out = keys.copy()
    out["count"] = count.astype(np.int64)
    out["resolved"] = n_resolved
    out["unresolved"] = out["count"] - n_resolved - n_unknown
    names = ["km_median", "km_median_low", "km_median_high", "km_p90", "naive_median"]
    for i, name in enumerate(names):
        out[name] = pd.to_timedelta(results[:, i])
    out["resolved_without_time"] = n_unknown
    return out


def _td(value: Any) -> np.timedelta64:
    if value is None or pd.isna(value):
        return _NAT
    return pd.Timedelta(value).as_unit(_UNIT).to_timedelta64()
