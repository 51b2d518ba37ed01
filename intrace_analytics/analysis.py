"""The questions analysts ask of incidents: pure, vectorised functions over the frames.

Every function takes frames shaped as in :mod:`intrace_analytics.schema` and returns a
tidy frame (plain columns, ``RangeIndex``, durations as ``Timedelta``). Nothing here
loops over rows; the few loops run over groups (a handful of scopes or types).

Time is always explicit: open incidents are right-censored at an ``as_of`` time given
at call time (``None`` means the current UTC time, read when the function is called,
never at import).

Survival estimates come from :func:`km_curve`, a vectorised Kaplan-Meier estimator of
our own. lifelines, the usual choice, pins ``pandas < 3``, so it cannot be a
dependency; statsmodels' ``SurvfuncRight`` works but is not a runtime dependency either
(it is in the test extras). The tests check this estimator against the published
Freireich 6-MP table and against ``SurvfuncRight`` (survival, Greenwood standard error,
median and its confidence interval) to 1e-9.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from intrace_analytics import schema
from intrace_analytics.frames import IncidentFrames

__all__ = [
    "data_quality",
    "incident_severity",
    "km_curve",
    "open_backlog",
    "resolution_summary",
    "resolution_times",
    "severity_breakdown",
    "status_breakdown",
    "status_over_time",
]

#: Two-sided 95 % normal quantile, ``scipy.stats.norm.ppf(0.975)``.
_Z95 = 1.959963984540054
_STARTS = ("started_at", "created_at")
_UTC = "UTC"
_UNIT = schema.TIMESTAMP_UNIT
_EXAMPLES = 5
_NAT = np.timedelta64("NaT", "us")

# -- argument checks -----------------------------------------------------------------


def _check_choice(name: str, value: object, allowed: Sequence[object]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)!r}, got {value!r}")


def _check_columns(name: str, frame: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{name} must name columns of the frame; got {missing!r}, "
            f"the frame has {list(frame.columns)!r}"
        )


def _by_list(by: str | Sequence[str] | None, frame: pd.DataFrame) -> list[str]:
    if by is None:
        return []
    columns = [by] if isinstance(by, str) else list(by)
    if not all(isinstance(c, str) for c in columns):
        raise ValueError(f"by must be None, a column name or a list of them, got {by!r}")
    _check_columns("by", frame, columns)
    return columns


def _check_freq(freq: str) -> None:
    try:
        pd.Period("2026-01-01", freq=freq)
    except (ValueError, TypeError, AttributeError) as exc:
        raise ValueError(
            f"freq must be a pandas period alias such as 'D', 'W', 'M', 'Q' or 'Y', "
            f"got {freq!r}"
        ) from exc


def _as_of(as_of: pd.Timestamp | datetime | str | None) -> pd.Timestamp:
    """The censoring time as a UTC timestamp; naive values are taken as UTC."""
    if as_of is None:
        return pd.Timestamp.now(tz=_UTC)
    try:
        stamp = pd.Timestamp(as_of)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"as_of must be None or a timestamp (str, datetime, pandas.Timestamp), got {as_of!r}"
        ) from exc
    if pd.isna(stamp):
        raise ValueError(f"as_of must be None or a timestamp, got {as_of!r}")
    return stamp.tz_localize(_UTC) if stamp.tzinfo is None else stamp.tz_convert(_UTC)


# -- shared pieces -------------------------------------------------------------------


def _start_times(incidents: pd.DataFrame, start: str = "started_at") -> pd.Series:
    if start == "created_at":
        return incidents["created_at"]
    return incidents["started_at"].fillna(incidents["created_at"])


def _group_ids(frame: pd.DataFrame, by: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Per row the group number (groups sorted), and the key columns of each group."""
    if not by:
        return np.zeros(len(frame), dtype=np.intp), pd.DataFrame(index=pd.RangeIndex(1))
    gid = frame.groupby(by, observed=True, dropna=False, sort=True).ngroup().to_numpy()
    gid = gid.astype(np.intp)
    first = np.full(int(gid.max()) + 1 if len(gid) else 0, len(gid), dtype=np.intp)
    np.minimum.at(first, gid, np.arange(len(gid), dtype=np.intp))
    keys = frame[by].iloc[first].reset_index(drop=True)
    return gid, keys


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
    gid, keys = _group_ids(frame, by)
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
        (:data:`~intrace_analytics.schema.STATUSES`, then any unknown categories
        present) appears in every group, with 0 where absent, in category order; a
        row with a missing status is added when some incident has none. ``share`` is
        the fraction within the group (0.0 for an empty group).

    Examples
    --------
    >>> from intrace_analytics.schema import empty_frame
    >>> status_breakdown(empty_frame("incidents"))["status"].tolist()
    ['open', 'closed', 'resolved']
    """
    columns = _by_list(by, incidents)
    _check_columns("incidents", incidents, ["status"])
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
    >>> from intrace_analytics.schema import empty_frame
    >>> status_over_time(empty_frame("incidents")).columns.tolist()
    ['period', 'status', 'count']
    """
    _check_freq(freq)
    _check_columns("incidents", incidents, ["status", "created_at"])
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
    missing or ``resolved_at > T``). A ``resolved_at`` before the start (a data error,
    see :func:`data_quality`) is treated as resolved at the start: never open.

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
        Columns ``time, open``. ``time`` is the end of each period (the instant the
        next one starts) from the period of the earliest start on, the last one
        capped at ``as_of``; empty when no incident started by ``as_of``.

    Examples
    --------
    >>> from intrace_analytics.schema import empty_frame
    >>> open_backlog(empty_frame("incidents"), as_of="2026-10-01").columns.tolist()
    ['time', 'open']
    """
    _check_freq(freq)
    _check_columns("incidents", incidents, ["created_at", "started_at", "resolved_at"])
    cutoff = _as_of(as_of)
    start = _start_times(incidents).to_numpy(dtype=f"datetime64[{_UNIT}]")
    resolved = incidents["resolved_at"].to_numpy(dtype=f"datetime64[{_UNIT}]")
    has_start = ~np.isnat(start)
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


# -- resolution times and survival ---------------------------------------------------


def resolution_times(
    incidents: pd.DataFrame,
    *,
    start: str = "started_at",
    as_of: pd.Timestamp | datetime | str | None = None,
) -> pd.DataFrame:
    """Each incident's time to resolution, open ones right-censored at ``as_of``.

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
        Columns ``incident_id, start, end, duration, resolved``, one row per incident.
        ``resolved`` is true when ``resolved_at`` is present and not after ``as_of``;
        then ``end`` is ``resolved_at``, otherwise the incident is censored and
        ``end`` is ``as_of``. Durations are ``Timedelta``. They are not clipped: a
        ``resolved_at`` before the start (a data error reported by
        :func:`data_quality`) gives a negative duration, kept as is so it stays
        visible; so does an incident that started after ``as_of``.

    Examples
    --------
    >>> from intrace_analytics.schema import empty_frame
    >>> resolution_times(empty_frame("incidents"), as_of="2026-10-01").columns.tolist()
    ['incident_id', 'start', 'end', 'duration', 'resolved']
    """
    _check_choice("start", start, _STARTS)
    _check_columns("incidents", incidents, ["incident_id", "created_at", "started_at",
                                            "resolved_at"])  # fmt: skip
    cutoff = _as_of(as_of)
    begin = _start_times(incidents, start)
    resolved_at = incidents["resolved_at"]
    resolved = (resolved_at.notna() & (resolved_at <= cutoff)).to_numpy(dtype=bool)
    end = resolved_at.where(resolved, cutoff).astype(resolved_at.dtype)
    return pd.DataFrame(
        {
            "incident_id": incidents["incident_id"].reset_index(drop=True),
            "start": begin.reset_index(drop=True),
            "end": end.reset_index(drop=True),
            "duration": (end - begin).reset_index(drop=True),
            "resolved": resolved,
        }
    ).astype({"incident_id": incidents["incident_id"].dtype, "start": begin.dtype,
              "end": resolved_at.dtype})  # fmt: skip


def _as_numbers(values: Any, name: str) -> tuple[np.ndarray, np.dtype[Any] | None]:
    """Durations as float64 (timedeltas via their integer ticks, exactly), and their unit."""
    array = np.asarray(values.to_numpy() if hasattr(values, "to_numpy") else values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape!r}")
    if array.dtype.kind == "m":
        if np.isnat(array).any():
            raise ValueError(f"{name} must not contain missing values (NaT)")
        return array.view(np.int64).astype(np.float64), array.dtype
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numbers or timedeltas, got dtype {array.dtype}")
    numbers = array.astype(np.float64)
    if np.isnan(numbers).any():
        raise ValueError(f"{name} must not contain missing values (NaN)")
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
        raise ValueError(
            f"observed must have the shape of durations {times.shape!r}, got {events.shape!r}"
        )
    if events.dtype != bool:
        if events.dtype.kind not in "biuf" or not np.isin(events, (0, 1)).all():
            raise ValueError("observed must be booleans (or 0/1), got other values")
        events = events.astype(bool)
    # Distinct times by sorting (np.unique with return_inverse is far slower at 1e6).
    order = np.argsort(times)
    ordered = times[order]
    first = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if len(times) else order
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
    """Per group: how many resolved, how many open, and how long resolution takes.

    Parameters
    ----------
    incidents : DataFrame
        The incidents frame.
    by : str or list of str, optional
        Column(s) to group by, e.g. ``"scope"``; groups sorted, missing keys a group.
    start : {"started_at", "created_at"}, default "started_at"
        Where the clock starts (see :func:`resolution_times`).
    as_of : timestamp, optional
        The censoring time for open incidents; ``None`` is the current UTC time,
        read at call time.

    Returns
    -------
    DataFrame
        One row per group: ``[*by], count, resolved, open, km_median, km_median_low,
        km_median_high, km_p90, naive_median``; times are ``Timedelta``.

    Notes
    -----
    ``km_median`` is the Kaplan-Meier median (:func:`km_curve`, open incidents
    censored at ``as_of``): the smallest time with S(t) <= 0.5. ``km_p90`` is the
    smallest with S(t) <= 0.1. ``km_median_low``/``km_median_high`` form its 95 %
    confidence interval, by inverting the pointwise log-log band (Brookmeyer and
    Crowley's method as SAS and statsmodels' ``SurvfuncRight.quantile_ci(0.5)``
    implement it, against which the tests check it). A time the curve never reaches
    (fewer than half resolved, or a group with no incident) is ``NaT``: "not
    reached", never infinity. ``naive_median`` is the median over resolved
    incidents only, which ignores the open ones and so is biased short; it is shown
    for contrast. Incidents without any start time are counted but left out of the
    estimates. The estimator is our own, vectorised (lifelines pins pandas < 3).

    Examples
    --------
    >>> from intrace_analytics.schema import empty_frame
    >>> row = resolution_summary(empty_frame("incidents"), as_of="2026-10-01").iloc[0]
    >>> int(row["count"]), row["km_median"]
    (0, NaT)
    """
    columns = _by_list(by, incidents)
    _check_choice("start", start, _STARTS)
    times = resolution_times(incidents, start=start, as_of=as_of)
    gid, keys = _group_ids(incidents, columns)
    n_groups = len(keys)
    resolved = times["resolved"].to_numpy()
    duration = times["duration"].to_numpy(dtype=f"timedelta64[{_UNIT}]")
    usable = ~np.isnat(duration)
    count = np.bincount(gid, minlength=n_groups)
    n_resolved = np.bincount(gid, weights=resolved, minlength=n_groups).astype(np.int64)
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
    out["open"] = out["count"] - n_resolved
    names = ["km_median", "km_median_low", "km_median_high", "km_p90", "naive_median"]
    for i, name in enumerate(names):
        out[name] = pd.to_timedelta(results[:, i])
    return out


def _td(value: Any) -> np.timedelta64:
    if value is None or pd.isna(value):
        return _NAT
    return pd.Timedelta(value).as_unit(_UNIT).to_timedelta64()


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
    >>> from intrace_analytics.schema import empty_frame
    >>> severity_breakdown(empty_frame("threats"))["severity"].tolist()
    ['low', 'medium', 'high', 'critical']
    """
    columns = _by_list(by, threats)
    _check_columns("threats", threats, ["severity"])
    dtype = _categories_of(threats["severity"], schema.THREATS.column("severity"))
    return _counts_by_category(threats, "severity", columns, dtype)


def _arrow(values: pd.Series) -> pa.Array:
    array = pa.array(values)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _first_rows(ids: pd.Series) -> np.ndarray:
    """Per row the first row with the same id (itself unless the id repeats)."""
    ordered = np.sort(_fingerprint(ids))
    if not (ordered[1:] == ordered[:-1]).any():  # distinct fingerprints: distinct ids
        return np.arange(len(ids), dtype=np.int64)
    return _positions(ids, ids)


def _in_parallel(*calls: Callable[[], np.ndarray]) -> list[np.ndarray]:
    """Run independent Arrow lookups on threads: Arrow releases the GIL while hashing."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
        return [future.result() for future in futures]


def _incident_rows(links: pd.DataFrame, incidents: pd.DataFrame) -> np.ndarray:
    """Each link's incident row (-1 if none). Frames from :func:`frames_from_pages` list
    links in the incidents' order, ``threat_count`` of them each: then the rows follow
    from the counts, checked against the ids, with no lookup of millions of strings.
    Other frames are looked up."""
    counts = incidents["threat_count"].to_numpy()
    if len(links) and int(counts.sum()) == len(links) and (counts >= 0).all():
        rows = np.repeat(np.arange(len(incidents), dtype=np.int64), counts)
        expected = _arrow(incidents["incident_id"]).take(pa.array(rows))
        same = pc.fill_null(pc.equal(_arrow(links["incident_id"]), expected), False)
        if pc.all(same).as_py():
            return rows
    return _positions(links["incident_id"], incidents["incident_id"])


def _positions(values: pd.Series, keys: pd.Series) -> np.ndarray:
    """Per value the row of its first match in ``keys``, -1 when absent (or NA)."""
    options = pc.SetLookupOptions(value_set=_arrow(keys), skip_nulls=True)
    found = pc.index_in(_arrow(values), options=options)
    return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)


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
    >>> from intrace_analytics.schema import empty_frame
    >>> frames = IncidentFrames(*(empty_frame(t) for t in ("incidents", "links", "threats")))
    >>> incident_severity(frames).columns.tolist()
    ['incident_id', 'max_severity']
    """
    incidents, links, threats = frames.incidents, frames.links, frames.threats
    level = _severity_levels(threats)
    # Hash lookups in Arrow: pandas' own (get_indexer, isin) on Arrow-backed strings
    # take seconds at 3e6 links. A repeated id resolves to its first row.
    link_threat, link_incident, first_row = _in_parallel(
        lambda: _positions(links["threat_id"], threats["threat_id"]),
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

#: The checks of :func:`data_quality`, in report order.
_CHECKS = (
    "resolved_or_closed_without_resolved_at",
    "resolved_before_start",
    "updated_before_created",
    "open_with_resolved_at",
    "links_to_undescribed_threats",
    "threats_without_coordinates",
    "duplicate_links",
)


def _codes(values: pd.Series, keys: pd.Series, positions: np.ndarray | None = None) -> np.ndarray:
    """Integer codes equal exactly where the values are: rows of ``keys``, then others."""
    codes = (_positions(values, keys) if positions is None else positions).copy()
    missing = codes < 0
    if missing.any():
        extra = _arrow(values[missing]).dictionary_encode().indices
        codes[missing] = len(keys) + np.asarray(extra.fill_null(-1).to_numpy(zero_copy_only=False))
    return codes


def _seen_before(first_seen_codes: np.ndarray) -> np.ndarray:
    """Repeats among codes numbered in order of first appearance (Arrow's dictionary
    indices): a code at or below the highest code of the earlier rows was seen before.
    Missing values (-1) are never repeats."""
    earlier = np.maximum.accumulate(np.r_[np.int64(-1), first_seen_codes[:-1]])
    return (first_seen_codes >= 0) & (first_seen_codes <= earlier)


def _fingerprint(values: pd.Series) -> np.ndarray:
    """A cheap, not unique, number per string: its length and its last eight bytes.

    Read straight from the Arrow buffers, so it costs a few array passes where hashing
    3e6 strings costs most of a second; equal strings always get equal fingerprints.
    """
    array = _arrow(values).cast(pa.large_string())
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)
    offsets = offsets[array.offset : array.offset + len(array) + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer else np.zeros(0, np.uint8)
    begin, end = offsets[:-1], offsets[1:]
    fingerprint = (end - begin).astype(np.uint64)
    if len(data) == 0:
        return fingerprint.view(np.int64)
    for back in range(1, 9):
        at = end - back
        byte = np.where(at >= begin, data[np.maximum(at, 0)], 0).astype(np.uint64)
        fingerprint = fingerprint * np.uint64(257) + byte
    return fingerprint.view(np.int64)


def _repeated_pairs(
    links: pd.DataFrame, threat_code: np.ndarray, incident_fingerprint: np.ndarray
) -> np.ndarray:
    """True where a link repeats an earlier link's ``incident_id``/``threat_id`` pair.

    Candidates are found by sorting a cheap key (exact threat code, incident id
    fingerprint); only they are compared exactly, so no full hash pass over 3e6 ids.
    """
    flags = np.zeros(len(links), dtype=bool)
    key = incident_fingerprint.view(np.uint64) * np.uint64(1_000_003)
    key = (key + threat_code.astype(np.uint64)).view(np.int64)
    ordered = np.sort(key)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if len(repeated):
        rows = np.flatnonzero(np.isin(key, repeated))
        pairs = pd.DataFrame(
            {
                "incident_id": links["incident_id"].iloc[rows].to_numpy(),
                "threat_id": links["threat_id"].iloc[rows].to_numpy(),
            }
        )
        flags[rows] = pairs.duplicated().to_numpy()
    return flags


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
        The checks:

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
    >>> from intrace_analytics.schema import empty_frame
    >>> frames = IncidentFrames(*(empty_frame(t) for t in ("incidents", "links", "threats")))
    >>> data_quality(frames)["count"].sum()
    np.int64(0)
    """
    incidents, links, threats = frames.incidents, frames.links, frames.threats
    status = incidents["status"]
    resolved_at = incidents["resolved_at"]
    has_resolved = resolved_at.notna()
    link_threat, incident_fingerprint, link_ids = _in_parallel(
        lambda: _positions(links["threat_id"], threats["threat_id"]),
        lambda: _fingerprint(links["incident_id"]),
        lambda: np.asarray(
            _arrow(links["link_id"])
            .dictionary_encode()
            .indices.fill_null(-1)
            .to_numpy(zero_copy_only=False)
        ),
    )
    threat_code = _codes(links["threat_id"], threats["threat_id"], link_threat)
    masks = [
        status.isin(["resolved", "closed"]) & ~has_resolved,
        resolved_at < _start_times(incidents),
        incidents["updated_at"] < incidents["created_at"],
        (status == "open") & has_resolved,
        pd.Series(link_threat < 0),
        threats["lat"].isna() | threats["lng"].isna(),
        pd.Series(
            _repeated_pairs(links, threat_code, incident_fingerprint) | _seen_before(link_ids)
        ),
    ]
    ids = [incidents["incident_id"]] * 4 + [links["link_id"], threats["threat_id"],
                                            links["link_id"]]  # fmt: skip
    counts = []
    examples = []
    for mask, id_column in zip(masks, ids, strict=True):
        flags = mask.fillna(False).to_numpy(dtype=bool)
        counts.append(int(flags.sum()))
        first = np.flatnonzero(flags)[:_EXAMPLES]
        examples.append([str(v) for v in id_column.iloc[first]])
    return pd.DataFrame(
        {
            "check": list(_CHECKS),
            "count": np.asarray(counts, dtype=np.int64),
            "example_ids": examples,
        }  # fmt: skip
    ).astype({"check": "string"})
