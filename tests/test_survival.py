"""survival: resolution times and Kaplan-Meier checked against values computed independently.

Kaplan-Meier against the published Freireich 6-MP table and against statsmodels'
``SurvfuncRight``; resolution times against hand-built incidents; summaries of the
session's sandbox frames against plain counts.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from statsmodels.duration.survfunc import SurvfuncRight

from intrace_analytics import (
    IncidentFrames,
    data_quality,
    km_curve,
    open_backlog,
    resolution_summary,
    resolution_times,
)
from intrace_analytics.frames import _schema as schema
from tests.helpers import assert_value_error_names, stamp, typed

AS_OF = pd.Timestamp("2026-10-01T00:00:00Z")


# -- resolution times ------------------------------------------------------------------


def test_resolution_times_censors_open_incidents_at_as_of() -> None:
    incidents = typed(
        "incidents",
        [
            {"incident_id": "done", "created_at": stamp("2026-01-02"),
             "started_at": stamp("2026-01-01"), "resolved_at": stamp("2026-01-04")},
            {"incident_id": "open", "created_at": stamp("2026-01-05")},
            {"incident_id": "later", "created_at": stamp("2026-01-05"),
             "resolved_at": stamp("2026-02-01")},
            {"incident_id": "bad", "created_at": stamp("2026-01-05"),
             "resolved_at": stamp("2026-01-04")},
        ],
    )  # fmt: skip
    as_of = "2026-01-10T00:00:00Z"
    result = resolution_times(incidents, as_of=as_of)
    assert result.columns.tolist() == ["incident_id", "start", "end", "duration", "resolved"]
    assert result["resolved"].tolist() == [True, False, False, True]
    assert result["end"].tolist()[1:3] == [pd.Timestamp(as_of)] * 2
    # "bad" was resolved before it started (a data error): resolved at its start, zero.
    assert result["duration"].tolist() == [
        pd.Timedelta(days=3), pd.Timedelta(days=5), pd.Timedelta(days=5), pd.Timedelta(0)
    ]  # fmt: skip
    by_created = resolution_times(incidents, start="created_at", as_of=as_of)
    assert by_created["duration"].iloc[0] == pd.Timedelta(days=2)
    naive = resolution_times(incidents, as_of="2026-01-10")
    assert naive.equals(result)


def _before_and_after() -> pd.DataFrame:
    """Two incidents that existed on 2026-01-10 and three that started after it."""
    return typed(
        "incidents",
        [
            {"incident_id": "early", "status": "resolved", "created_at": stamp("2026-01-02"),
             "started_at": stamp("2026-01-01"), "resolved_at": stamp("2026-01-04")},
            {"incident_id": "long", "status": "resolved", "created_at": stamp("2026-01-05"),
             "resolved_at": stamp("2026-03-01")},
            {"incident_id": "late", "status": "open", "created_at": stamp("2026-02-01")},
            {"incident_id": "late-done", "status": "resolved",
             "created_at": stamp("2026-02-01"), "resolved_at": stamp("2026-02-03")},
            # Reported before the as-of, but started after it: it did not exist yet.
            {"incident_id": "started-late", "status": "open", "created_at": stamp("2026-01-08"),
             "started_at": stamp("2026-01-12")},
        ],
    )  # fmt: skip


def test_an_as_of_is_a_moment_incidents_started_after_it_are_not_counted() -> None:
    incidents = _before_and_after()
    as_of = pd.Timestamp("2026-01-10T00:00Z")
    times = resolution_times(incidents, as_of=as_of)
    assert times["incident_id"].tolist() == ["early", "long"]
    assert times["resolved"].tolist() == [True, False]
    assert times["duration"].tolist() == [pd.Timedelta(days=3), pd.Timedelta(days=5)]
    # Timed from created_at, "started-late" still started after the as-of (the one start
    # rule decides what existed); no duration is negative either way.
    by_created = resolution_times(incidents, start="created_at", as_of=as_of)
    assert by_created["incident_id"].tolist() == ["early", "long"]
    row = resolution_summary(incidents, as_of=as_of).iloc[0]
    assert (row["count"], row["resolved"], row["unresolved"]) == (2, 1, 1)
    backlog = open_backlog(incidents, as_of=as_of)
    assert backlog["open"].iloc[-1] == row["unresolved"] == 1
    # At a later as-of every incident counts again.
    later = resolution_summary(incidents, as_of="2026-04-01").iloc[0]
    assert (later["count"], later["resolved"], later["unresolved"]) == (5, 3, 2)


def test_no_duration_is_negative_at_any_as_of(sandbox_frames: IncidentFrames) -> None:
    incidents = sandbox_frames.incidents
    begin = incidents["started_at"].fillna(incidents["created_at"])
    for as_of in begin.quantile([0.1, 0.5, 0.9]):
        times = resolution_times(incidents, as_of=as_of)
        assert (times["duration"] >= pd.Timedelta(0)).all()
        started = int((begin <= as_of).sum())
        summary = resolution_summary(incidents, as_of=as_of).iloc[0]
        assert summary["count"] == started < len(incidents)
        assert summary["unresolved"] + summary["resolved"] == len(times)


def _ended_apart() -> pd.DataFrame:
    """One incident of each kind the counts tell apart."""
    return typed(
        "incidents",
        [
            {"incident_id": "done", "status": "resolved", "created_at": stamp("2026-01-01"),
             "resolved_at": stamp("2026-01-03")},
            {"incident_id": "open", "status": "open", "created_at": stamp("2026-01-02")},
            {"incident_id": "closed-no-time", "status": "closed",
             "created_at": stamp("2026-01-02")},
            {"incident_id": "resolved-no-time", "status": "resolved",
             "created_at": stamp("2026-01-03")},
            {"incident_id": "open-with-time", "status": "open",
             "created_at": stamp("2026-01-01"), "resolved_at": stamp("2026-01-05")},
            {"incident_id": "closed-later", "status": "closed",
             "created_at": stamp("2026-01-01"), "resolved_at": stamp("2026-03-01")},
            {"incident_id": "odd-status", "status": "paused", "created_at": stamp("2026-01-04")},
            {"incident_id": "no-status", "created_at": stamp("2026-01-04")},
        ],
    )  # fmt: skip


def test_resolved_without_time_has_no_resolution_time() -> None:
    incidents = _ended_apart()
    result = resolution_times(incidents, as_of="2026-02-01T00:00Z")
    assert result["incident_id"].tolist() == [
        "done", "open", "open-with-time", "closed-later", "odd-status", "no-status"
    ]  # fmt: skip
    assert result["resolved"].tolist() == [True, False, True, False, False, False]
    assert result["duration"].notna().all()
    assert isinstance(result.index, pd.RangeIndex)
    # Nothing left to estimate: still the documented columns and dtypes.
    ended = incidents[incidents["status"].isin(["closed", "resolved"])]
    only = resolution_times(ended[ended["resolved_at"].isna()], as_of="2026-02-01T00:00Z")
    assert only.empty
    assert only.dtypes.equals(result.dtypes)


def test_counts_split_every_incident_once() -> None:
    as_of = pd.Timestamp("2026-02-01T00:00Z")
    incidents = _ended_apart()
    summary = resolution_summary(incidents, as_of=as_of)
    assert summary.columns.tolist()[-1] == "resolved_without_time"
    row = summary.iloc[0]
    counts = {k: int(row[k]) for k in ("count", "resolved", "unresolved", "resolved_without_time")}
    assert counts == {"count": 8, "resolved": 2, "unresolved": 4, "resolved_without_time": 2}
    assert row["count"] == row["resolved"] + row["unresolved"] + row["resolved_without_time"]
    # "unresolved" is exactly the censored rows of resolution_times.
    times = resolution_times(incidents, as_of=as_of)
    assert row["unresolved"] == (~times["resolved"]).sum()
    assert row["resolved"] == times["resolved"].sum()
    # Left out of the estimates: the same numbers as without those incidents.
    known = incidents[~incidents["incident_id"].str.endswith("-no-time")]
    without = resolution_summary(known, as_of=as_of).iloc[0]
    estimates = ["km_median", "km_median_low", "km_median_high", "km_p90", "naive_median"]
    pd.testing.assert_series_equal(row[estimates], without[estimates], check_names=False)
    assert row["naive_median"] == pd.Timedelta(days=3)  # done (2 d), open-with-time (4 d)
    assert without["resolved_without_time"] == 0


def test_summary_says_unresolved_never_open() -> None:
    # "open" is a status (status_breakdown, asset_exposure); the censored count is another.
    summary = resolution_summary(_ended_apart(), as_of="2026-02-01T00:00Z")
    assert summary.columns.tolist() == [
        "count", "resolved", "unresolved", "km_median", "km_median_low", "km_median_high",
        "km_p90", "naive_median", "resolved_without_time",
    ]  # fmt: skip


def test_km_median_is_unchanged_by_incidents_resolved_without_time() -> None:
    # Freireich's incidents plus ten closed ones without resolved_at: the same estimates.
    as_of = pd.Timestamp("2026-10-01T00:00Z")
    rows = []
    for k, (t, e) in enumerate(zip(FREIREICH_TIMES, FREIREICH_EVENTS, strict=True)):
        start = as_of - pd.Timedelta(weeks=40 if e else t)
        resolved = start + pd.Timedelta(weeks=t) if e else None
        rows.append({"incident_id": f"i{k}", "status": "resolved" if e else "open",
                     "created_at": start, "resolved_at": resolved})  # fmt: skip
    extra = [{"incident_id": f"x{k}", "status": "closed", "created_at": as_of - pd.Timedelta(
        weeks=k + 1)} for k in range(10)]  # fmt: skip
    plain = resolution_summary(typed("incidents", rows), as_of=as_of).iloc[0]
    mixed = resolution_summary(typed("incidents", rows + extra), as_of=as_of).iloc[0]
    assert (mixed["count"], mixed["resolved"], mixed["unresolved"]) == (31, 9, 12)
    assert mixed["resolved_without_time"] == 10
    for column in ["km_median", "km_median_low", "naive_median"]:
        assert mixed[column] == plain[column]
    assert mixed["km_median"] == pd.Timedelta(weeks=23)


# -- Kaplan-Meier ----------------------------------------------------------------------

# Freireich et al. (1963), 6-MP arm, weeks; 0 = censored ("6+").
FREIREICH_TIMES = [6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35]
FREIREICH_EVENTS = [1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]


def test_km_matches_the_published_freireich_table() -> None:
    curve = km_curve(np.array(FREIREICH_TIMES, float), np.array(FREIREICH_EVENTS, bool))
    assert curve["time"].tolist() == [6, 7, 10, 13, 16, 22, 23]
    assert curve["survival"].round(3).tolist() == [0.857, 0.807, 0.753, 0.690, 0.627, 0.538, 0.448]
    assert curve["at_risk"].tolist() == [21, 17, 15, 12, 11, 7, 6]
    assert curve["events"].tolist() == [3, 1, 1, 1, 1, 1, 1]
    assert ((curve["low"] <= curve["survival"]) & (curve["survival"] <= curve["high"])).all()


def test_km_median_on_freireich_through_resolution_summary() -> None:
    # Resolved incidents started 40 weeks before as_of; open ones t weeks before it,
    # so each is censored at exactly its published time.
    as_of = pd.Timestamp("2026-10-01T00:00Z")
    rows = []
    for k, (t, e) in enumerate(zip(FREIREICH_TIMES, FREIREICH_EVENTS, strict=True)):
        start = as_of - pd.Timedelta(weeks=40 if e else t)
        resolved = start + pd.Timedelta(weeks=t) if e else None
        rows.append({"incident_id": f"i{k}", "created_at": start, "resolved_at": resolved})
    incidents = typed("incidents", rows)
    summary = resolution_summary(incidents, as_of=as_of).iloc[0]
    reference = SurvfuncRight(np.array(FREIREICH_TIMES, float), np.array(FREIREICH_EVENTS, float))
    assert summary["km_median"] == pd.Timedelta(weeks=23)
    low, high = reference.quantile_ci(0.5)
    assert summary["km_median_low"] == pd.Timedelta(weeks=low)
    assert math.isinf(high)
    assert pd.isna(summary["km_median_high"])
    assert pd.isna(summary["km_p90"])
    assert (summary["count"], summary["resolved"], summary["unresolved"]) == (21, 9, 12)
    assert summary["naive_median"] == pd.Timedelta(weeks=10)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_km_equals_statsmodels_on_random_censored_data_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    times = rng.integers(1, 40, n).astype(float)  # integers: many ties
    events = rng.random(n) < 0.6
    curve = km_curve(times, events)
    reference = SurvfuncRight(times, events.astype(float))
    np.testing.assert_allclose(curve["time"], reference.surv_times, rtol=0, atol=1e-9)
    np.testing.assert_allclose(curve["survival"], reference.surv_prob, rtol=0, atol=1e-9)
    np.testing.assert_allclose(curve["std_err"], reference.surv_prob_se, rtol=0, atol=1e-9)
    # Our median is the first time S <= 0.5; statsmodels' the first time S < 0.5.
    assert not np.isclose(curve["survival"], 0.5).any()
    durations = pd.to_timedelta(times, unit="h")
    start = pd.Timestamp("2026-01-01T00:00Z")
    as_of = start + durations.max() + pd.Timedelta(hours=1)
    incidents = pd.DataFrame(
        {
            "incident_id": pd.array([f"i{k}" for k in range(n)], dtype="string"),
            "status": pd.Categorical(np.where(events, "resolved", "open")),
            "created_at": pd.Series([start] * n, dtype="datetime64[us, UTC]"),
            "started_at": pd.Series([pd.NaT] * n, dtype="datetime64[us, UTC]"),
            "resolved_at": pd.Series(
                np.where(events, start + durations, pd.NaT), dtype="datetime64[us, UTC]"
            ),
        }
    )
    # Censored rows are censored at as_of: give statsmodels the same durations.
    censored_at = (as_of - start) / pd.Timedelta(hours=1)
    ref_times = np.where(events, times, censored_at)
    ref = SurvfuncRight(ref_times, events.astype(float))
    row = resolution_summary(incidents, as_of=as_of).iloc[0]
    low, high = ref.quantile_ci(0.5)

    def hours(value: float) -> Any:
        return pd.NaT if not np.isfinite(value) else pd.Timedelta(hours=value)

    assert row["km_median"] == hours(ref.quantile(0.5))
    assert row["km_median_low"] == hours(low)
    assert (pd.isna(row["km_median_high"]) and not np.isfinite(high)) or row[
        "km_median_high"
    ] == hours(high)
    assert row["naive_median"] == pd.Series(durations[events]).median()


def test_km_all_censored_group_is_not_reached() -> None:
    times = np.array([1.0, 2.0, 2.0, 5.0])
    curve = km_curve(times, np.zeros(4, bool))
    reference = SurvfuncRight(times, np.zeros(4))
    assert curve.empty
    assert len(reference.surv_prob) == 0
    assert np.isnan(reference.quantile_ci(0.5)).all()
    incidents = typed(
        "incidents",
        [
            {"incident_id": "a", "scope": "aggregate", "created_at": stamp("2026-01-01")},
            {"incident_id": "b", "scope": "aggregate", "created_at": stamp("2026-01-02")},
            {"incident_id": "c", "scope": "investigation", "created_at": stamp("2026-01-01"),
             "resolved_at": stamp("2026-01-03")},
        ],
    )  # fmt: skip
    summary = resolution_summary(incidents, by="scope", as_of="2026-02-01T00:00Z")
    assert summary["scope"].astype(str).tolist() == ["investigation", "aggregate"]
    assert summary["unresolved"].tolist() == [0, 2]
    aggregate = summary.iloc[1]
    for column in ["km_median", "km_median_low", "km_median_high", "km_p90", "naive_median"]:
        assert pd.isna(aggregate[column])
    assert summary.iloc[0]["km_median"] == pd.Timedelta(days=2)
    empty = resolution_summary(schema.empty_frame("incidents"), as_of=AS_OF)
    assert empty["count"].tolist() == [0]
    assert pd.isna(empty["km_median"].iloc[0])


def test_km_curve_timedeltas_round_trip_exactly() -> None:
    durations = pd.to_timedelta([1, 1, 2, 3], unit="s") + pd.Timedelta(microseconds=1)
    curve = km_curve(durations, [True, True, False, True])
    assert curve["time"].tolist() == [durations[0], durations[3]]
    assert curve["survival"].tolist() == pytest.approx([0.5, 0.0])
    assert np.isnan(curve["std_err"].iloc[-1])


def test_resolution_summary_on_sandbox(sandbox_frames: IncidentFrames) -> None:
    summary = resolution_summary(sandbox_frames.incidents, by="scope", as_of=AS_OF)
    times = resolution_times(sandbox_frames.incidents, as_of=AS_OF)
    assert summary["count"].sum() == len(sandbox_frames.incidents)
    assert summary["resolved"].sum() == times["resolved"].sum()
    assert summary["unresolved"].sum() == (~times["resolved"]).sum()
    # The sandbox closes some incidents without resolved_at: counted apart, exactly the
    # data-quality finding.
    findings = data_quality(sandbox_frames).set_index("check")["count"]
    unknown = int(findings["resolved_or_closed_without_resolved_at"])
    assert unknown > 0
    assert summary["resolved_without_time"].sum() == unknown
    assert len(times) == len(sandbox_frames.incidents) - unknown
    assert (summary["count"] == summary["resolved"] + summary["unresolved"]
            + summary["resolved_without_time"]).all()  # fmt: skip
    for row in summary.itertuples():
        assert row.km_median_low <= row.km_median
        assert pd.isna(row.km_median_high) or row.km_median <= row.km_median_high


# -- bad arguments -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda f: resolution_times(f.incidents, start="ended_at", as_of=AS_OF),
         ["start", "'ended_at'", "started_at", "created_at"]),
        (lambda f: resolution_summary(f.incidents, start="x"), ["start", "'x'"]),
        (lambda f: resolution_times(f.incidents, as_of="not a date"), ["as_of", "'not a date'"]),
        (lambda f: resolution_summary(f.incidents, by="colour", as_of=AS_OF),
         ["by", "'colour'", "scope"]),
        (lambda f: km_curve([1.0, 2.0], [True]), ["observed", "shape"]),
        (lambda f: km_curve([1.0, np.nan], [True, True]), ["durations", "NaN"]),
        (lambda f: km_curve(["a", "b"], [True, True]), ["durations", "timedeltas"]),
        (lambda f: km_curve([1.0, 2.0], [2, 0]), ["observed", "0/1"]),
    ],
)  # fmt: skip
def test_bad_arguments_raise_value_error_naming_them(
    sandbox_frames: IncidentFrames, call: Any, words: list[str]
) -> None:
    assert_value_error_names(lambda: call(sandbox_frames), words)
