"""Analysis results checked against values computed independently.

Counts against plain Python counts over sandbox frames, Kaplan-Meier against the
published Freireich 6-MP table and against statsmodels' ``SurvfuncRight``, the backlog
against a brute-force count per day.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from statsmodels.duration.survfunc import SurvfuncRight

from intrace_analytics import schema
from intrace_analytics.analysis import (
    data_quality,
    incident_severity,
    km_curve,
    open_backlog,
    resolution_summary,
    resolution_times,
    severity_breakdown,
    status_breakdown,
    status_over_time,
)
from intrace_analytics.frames import IncidentFrames
from intrace_analytics.load import frames_from_pages
from intrace_analytics.sandbox import generate_dataset, page_body

AS_OF = pd.Timestamp("2026-10-01T00:00:00Z")


@pytest.fixture(scope="module")
def frames() -> IncidentFrames:
    data = generate_dataset(600, seed=5)
    return frames_from_pages([page_body(data.incidents, len(data.incidents))])


def typed(table: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A frame of the table from row dicts, cast through the schema (missing keys NA)."""
    columns = schema.TABLES[table]
    data: dict[str, Any] = {}
    for column in columns:
        values = [row.get(column.name) for row in rows]
        if column.kind in (schema.Kind.CATEGORY, schema.Kind.SEVERITY):
            dtype = schema.pandas_dtype(column, schema.categories_for(column, values))
        else:
            dtype = schema.pandas_dtype(column)
        if column.kind is schema.Kind.INT:
            values = [v or 0 for v in values]
        data[column.name] = pd.Series(values, dtype=dtype)
    return pd.DataFrame(data)


def stamp(text: str | None) -> pd.Timestamp | None:
    return None if text is None else pd.Timestamp(text, tz="UTC")


# -- breakdowns ----------------------------------------------------------------------


def test_status_breakdown_equals_a_plain_count(frames: IncidentFrames) -> None:
    result = status_breakdown(frames.incidents)
    expected = Counter(str(s) for s in frames.incidents["status"].astype(object))
    assert result["status"].astype(str).tolist() == list(schema.STATUSES)
    assert result["count"].tolist() == [expected[s] for s in schema.STATUSES]
    total = sum(expected.values())
    assert result["share"].tolist() == pytest.approx([expected[s] / total for s in schema.STATUSES])
    assert isinstance(result.index, pd.RangeIndex)


def test_status_breakdown_by_scope_has_every_status_in_every_group(
    frames: IncidentFrames,
) -> None:
    incidents = frames.incidents
    result = status_breakdown(incidents, by="scope")
    pairs = Counter(
        zip(incidents["scope"].astype(str), incidents["status"].astype(str), strict=True)
    )
    scopes = sorted(set(incidents["scope"].astype(str)), key=list(schema.SCOPES).index)
    assert result["scope"].astype(str).tolist() == [s for s in scopes for _ in schema.STATUSES]
    for row in result.itertuples():
        assert row.count == pairs[(str(row.scope), str(row.status))]
    shares = result.groupby("scope", observed=True)["share"].sum()
    assert shares.to_numpy() == pytest.approx(1.0)
    assert status_breakdown(incidents, by=["scope"]).equals(result)


def test_status_breakdown_zero_rows_unknown_status_and_empty_frame() -> None:
    incidents = typed(
        "incidents",
        [
            {"incident_id": "a", "status": "open", "scope": "aggregate"},
            {"incident_id": "b", "status": "paused", "scope": "aggregate"},
            {"incident_id": "c", "status": "open", "scope": "investigation"},
        ],
    )
    result = status_breakdown(incidents, by="scope")
    assert result["status"].astype(str).tolist() == ["open", "closed", "resolved", "paused"] * 2
    assert result["count"].tolist() == [1, 0, 0, 0, 1, 0, 0, 1]
    empty = status_breakdown(schema.empty_frame("incidents"))
    assert empty["count"].tolist() == [0, 0, 0]
    assert empty["share"].tolist() == [0.0, 0.0, 0.0]
    assert status_breakdown(schema.empty_frame("incidents"), by="scope").empty


def test_status_over_time_equals_a_plain_weekly_count(frames: IncidentFrames) -> None:
    incidents = frames.incidents
    result = status_over_time(incidents, freq="W")
    expected: Counter[tuple[pd.Timestamp, str]] = Counter()
    for created, status in zip(incidents["created_at"], incidents["status"], strict=True):
        monday = (created - timedelta(days=created.weekday())).normalize()
        expected[(monday, str(status))] += 1
    got = {(r.period, str(r.status)): r.count for r in result.itertuples()}
    assert {k: v for k, v in got.items() if v} == dict(expected)
    assert result["count"].sum() == len(incidents)
    weeks = result["period"].drop_duplicates()
    assert (weeks.diff().dropna() == pd.Timedelta(days=7)).all()
    assert len(result) == len(weeks) * len(schema.STATUSES)
    assert str(result["period"].dtype) == "datetime64[us, UTC]"


def test_status_over_time_monthly_and_empty(frames: IncidentFrames) -> None:
    result = status_over_time(frames.incidents, freq="M")
    assert (result["period"].dt.day == 1).all()
    assert result["count"].sum() == len(frames.incidents)
    assert status_over_time(schema.empty_frame("incidents")).empty


def test_severity_breakdown_equals_a_plain_count(frames: IncidentFrames) -> None:
    threats = frames.threats
    result = severity_breakdown(threats, by="threat_type")
    pairs = Counter(
        zip(threats["threat_type"].astype(str), threats["severity"].astype(str), strict=True)
    )
    for row in result.itertuples():
        assert row.count == pairs[(str(row.threat_type), str(row.severity))]
    assert result["count"].sum() == len(threats)
    overall = severity_breakdown(threats)
    assert overall["severity"].astype(str).tolist() == list(schema.SEVERITIES)


def test_severity_breakdown_keeps_unknown_and_missing() -> None:
    threats = typed(
        "threats",
        [
            {"threat_id": "t1", "severity": "high"},
            {"threat_id": "t2", "severity": "extreme"},
            {"threat_id": "t3", "severity": None},
            {"threat_id": "t4", "severity": "high"},
        ],
    )
    result = severity_breakdown(threats)
    assert result["severity"].astype(object).where(result["severity"].notna(), None).tolist() == [
        "extreme", "low", "medium", "high", "critical", None
    ]  # fmt: skip
    assert result["count"].tolist() == [1, 0, 0, 2, 0, 1]
    assert result["share"].sum() == pytest.approx(1.0)
    assert result["severity"].cat.ordered


def test_incident_severity_highest_known_level() -> None:
    incidents = typed("incidents", [{"incident_id": i, "status": "open"} for i in "abcde"])
    threats = typed(
        "threats",
        [
            {"threat_id": "low", "severity": "low"},
            {"threat_id": "crit", "severity": "critical"},
            {"threat_id": "odd", "severity": "zzz-unknown"},
            {"threat_id": "none", "severity": None},
        ],
    )
    links = typed(
        "links",
        [
            {"link_id": "1", "incident_id": "a", "threat_id": "low"},
            {"link_id": "2", "incident_id": "a", "threat_id": "crit"},
            {"link_id": "3", "incident_id": "b", "threat_id": "odd"},
            {"link_id": "4", "incident_id": "b", "threat_id": "low"},
            {"link_id": "5", "incident_id": "c", "threat_id": "odd"},
            {"link_id": "6", "incident_id": "d", "threat_id": "missing"},
            {"link_id": "7", "incident_id": "d", "threat_id": "none"},
        ],
    )
    result = incident_severity(IncidentFrames(incidents, links, threats))
    assert result["incident_id"].tolist() == list("abcde")
    got = [None if pd.isna(v) else v for v in result["max_severity"].astype(object)]
    assert got == ["critical", "low", None, None, None]
    assert list(result["max_severity"].cat.categories) == list(schema.SEVERITIES)
    assert result["max_severity"].cat.ordered


def test_incident_severity_on_sandbox(frames: IncidentFrames) -> None:
    rank = {s: i for i, s in enumerate(schema.SEVERITIES)}
    level = dict(zip(frames.threats["threat_id"], frames.threats["severity"], strict=True))
    best: dict[str, int] = {}
    for incident, threat in zip(
        frames.links["incident_id"], frames.links["threat_id"], strict=True
    ):
        if level.get(threat) in rank:
            best[incident] = max(best.get(incident, -1), rank[level[threat]])
    result = incident_severity(frames)
    expected = [
        schema.SEVERITIES[best[i]] if i in best else None for i in frames.incidents["incident_id"]
    ]
    assert [None if pd.isna(v) else v for v in result["max_severity"].astype(object)] == expected


# -- backlog and resolution times ------------------------------------------------------


def brute_force_open(incidents: pd.DataFrame, at: pd.Timestamp) -> int:
    count = 0
    for started, created, resolved in zip(
        incidents["started_at"], incidents["created_at"], incidents["resolved_at"], strict=True
    ):
        start = created if pd.isna(started) else started
        if pd.isna(start) or start > at:
            continue
        if pd.isna(resolved) or (resolved > at and resolved >= start):
            count += 1
    return count


def test_open_backlog_equals_a_brute_force_count_per_day() -> None:
    incidents = typed(
        "incidents",
        [
            {"incident_id": "a", "created_at": stamp("2026-01-01T05:00"),
             "resolved_at": stamp("2026-01-03T00:00")},
            {"incident_id": "b", "created_at": stamp("2026-01-02T10:00"),
             "started_at": stamp("2026-01-01T23:00")},
            {"incident_id": "c", "created_at": stamp("2026-01-02T00:00"),
             "resolved_at": stamp("2026-01-02T12:00")},
            {"incident_id": "d", "created_at": stamp("2026-01-04T08:00"),
             "resolved_at": stamp("2026-01-02T08:00")},  # resolved before start
            {"incident_id": "e", "created_at": stamp("2026-01-05T00:00")},
        ],
    )  # fmt: skip
    as_of = pd.Timestamp("2026-01-06T12:00Z")
    result = open_backlog(incidents, freq="D", as_of=as_of)
    expected_times = [*pd.date_range("2026-01-02", periods=5, freq="D", tz="UTC"), as_of]
    assert result["time"].tolist() == expected_times
    assert result["open"].tolist() == [brute_force_open(incidents, t) for t in expected_times]
    assert result["open"].tolist() == [3, 1, 1, 2, 2, 2]


def test_open_backlog_on_sandbox_matches_brute_force(frames: IncidentFrames) -> None:
    incidents = frames.incidents.iloc[:150]
    result = open_backlog(incidents, as_of=AS_OF)
    for row in result.iloc[::9].itertuples():
        assert row.open == brute_force_open(incidents, row.time)
    assert result["time"].iloc[-1] == AS_OF
    assert str(result["time"].dtype) == "datetime64[us, UTC]"


def test_open_backlog_empty_and_as_of_default() -> None:
    assert open_backlog(schema.empty_frame("incidents"), as_of=AS_OF).empty
    incidents = typed("incidents", [{"incident_id": "a", "created_at": stamp("2026-01-01")}])
    result = open_backlog(incidents, freq="M")
    now = pd.Timestamp.now(tz="UTC")
    assert abs(result["time"].iloc[-1] - now) < pd.Timedelta(minutes=5)
    assert (result["open"] == 1).all()


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
    assert result["duration"].tolist() == [
        pd.Timedelta(days=3), pd.Timedelta(days=5), pd.Timedelta(days=5), pd.Timedelta(days=-1)
    ]  # fmt: skip
    by_created = resolution_times(incidents, start="created_at", as_of=as_of)
    assert by_created["duration"].iloc[0] == pd.Timedelta(days=2)
    naive = resolution_times(incidents, as_of="2026-01-10")
    assert naive.equals(result)


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
    assert (summary["count"], summary["resolved"], summary["open"]) == (21, 9, 12)
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
    assert summary["open"].tolist() == [0, 2]
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


def test_resolution_summary_on_sandbox(frames: IncidentFrames) -> None:
    summary = resolution_summary(frames.incidents, by="scope", as_of=AS_OF)
    times = resolution_times(frames.incidents, as_of=AS_OF)
    assert summary["count"].sum() == len(frames.incidents)
    assert summary["resolved"].sum() == times["resolved"].sum()
    for row in summary.itertuples():
        assert row.km_median_low <= row.km_median
        assert pd.isna(row.km_median_high) or row.km_median <= row.km_median_high


# -- data quality ----------------------------------------------------------------------


def test_data_quality_finds_each_problem() -> None:
    incidents = typed(
        "incidents",
        [
            {"incident_id": "ok", "status": "resolved", "created_at": stamp("2026-01-01"),
             "updated_at": stamp("2026-01-02"), "resolved_at": stamp("2026-01-02")},
            {"incident_id": "noresolve", "status": "closed", "created_at": stamp("2026-01-01"),
             "updated_at": stamp("2026-01-02")},
            {"incident_id": "early", "status": "resolved", "created_at": stamp("2026-01-05"),
             "started_at": stamp("2026-01-04"), "updated_at": stamp("2026-01-06"),
             "resolved_at": stamp("2026-01-03")},
            {"incident_id": "updated", "status": "open", "created_at": stamp("2026-01-05"),
             "updated_at": stamp("2026-01-04"), "resolved_at": stamp("2026-01-06")},
        ],
    )  # fmt: skip
    threats = typed(
        "threats",
        [
            {"threat_id": "t1", "severity": "low", "lat": 1.0, "lng": 2.0},
            {"threat_id": "t2", "severity": "low", "lat": 1.0},
        ],
    )
    links = typed(
        "links",
        [
            {"link_id": "l1", "incident_id": "ok", "threat_id": "t1"},
            {"link_id": "l2", "incident_id": "ok", "threat_id": "t1"},
            {"link_id": "l1", "incident_id": "early", "threat_id": "t2"},
            {"link_id": "l4", "incident_id": "early", "threat_id": "ghost"},
        ],
    )
    result = data_quality(IncidentFrames(incidents, links, threats))
    found = {row.check: (row.count, row.example_ids) for row in result.itertuples()}
    assert found == {
        "resolved_or_closed_without_resolved_at": (1, ["noresolve"]),
        "resolved_before_start": (1, ["early"]),
        "updated_before_created": (1, ["updated"]),
        "open_with_resolved_at": (1, ["updated"]),
        "links_to_undescribed_threats": (1, ["l4"]),
        "threats_without_coordinates": (1, ["t2"]),
        "duplicate_links": (2, ["l2", "l1"]),
    }
    assert result.columns.tolist() == ["check", "count", "example_ids"]


def test_duplicate_links_are_exact_despite_shared_suffixes() -> None:
    # Same length and last eight characters: the cheap fingerprint collides, the ids differ.
    incidents = typed("incidents", [{"incident_id": i} for i in ["xa-12345678", "xb-12345678"]])
    threats = typed("threats", [{"threat_id": "t", "severity": "high", "lat": 0.0, "lng": 0.0}])
    links = typed(
        "links",
        [
            {"link_id": "pad", "incident_id": "xa-12345678", "threat_id": "t"},
            {"link_id": "1", "incident_id": "xa-12345678", "threat_id": "t"},
            {"link_id": "2", "incident_id": "xb-12345678", "threat_id": "t"},
            {"link_id": "3", "incident_id": "xb-12345678", "threat_id": "t"},
        ],
    )
    # A slice, so the Arrow arrays start at an offset.
    frames = IncidentFrames(incidents, links.iloc[1:], threats)
    result = data_quality(frames).set_index("check")
    assert result.loc["duplicate_links", "count"] == 1
    assert result.loc["duplicate_links", "example_ids"] == ["3"]
    twice = IncidentFrames(pd.concat([incidents, incidents.iloc[:1]]), links.iloc[1:], threats)
    got = incident_severity(twice)
    assert got["incident_id"].tolist() == ["xa-12345678", "xb-12345678", "xa-12345678"]
    assert got["max_severity"].astype(str).tolist() == ["high"] * 3


def test_data_quality_clean_and_sandbox(frames: IncidentFrames) -> None:
    empty = IncidentFrames(*(schema.empty_frame(t) for t in ("incidents", "links", "threats")))
    clean = data_quality(empty)
    assert len(clean) == 7
    assert (clean["count"] == 0).all()
    assert clean["example_ids"].tolist() == [[]] * 7
    result = data_quality(frames).set_index("check")
    threats = frames.threats
    no_coordinates = int((threats["lat"].isna() | threats["lng"].isna()).sum())
    assert result.loc["threats_without_coordinates", "count"] == no_coordinates
    described = set(threats["threat_id"])
    undescribed = sum(t not in described for t in frames.links["threat_id"])
    assert result.loc["links_to_undescribed_threats", "count"] == undescribed
    missing = sum(
        str(s) in ("resolved", "closed") and pd.isna(r)
        for s, r in zip(frames.incidents["status"], frames.incidents["resolved_at"], strict=True)
    )
    assert result.loc["resolved_or_closed_without_resolved_at", "count"] == missing
    assert all(len(ids) <= 5 for ids in result["example_ids"])


# -- bad arguments -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda f: resolution_times(f.incidents, start="ended_at", as_of=AS_OF),
         ["start", "'ended_at'", "started_at", "created_at"]),
        (lambda f: resolution_summary(f.incidents, start="x"), ["start", "'x'"]),
        (lambda f: status_over_time(f.incidents, freq="fortnight"), ["freq", "'fortnight'", "'W'"]),
        (lambda f: open_backlog(f.incidents, freq="nope"), ["freq", "'nope'"]),
        (lambda f: status_breakdown(f.incidents, by="colour"), ["by", "'colour'", "scope"]),
        (lambda f: severity_breakdown(f.threats, by=["threat_type", 3]),  # type: ignore[list-item]
         ["by", "3"]),
        (lambda f: open_backlog(f.incidents, as_of="not a date"), ["as_of", "'not a date'"]),
        (lambda f: km_curve([1.0, 2.0], [True]), ["observed", "shape"]),
        (lambda f: km_curve([1.0, np.nan], [True, True]), ["durations", "NaN"]),
        (lambda f: km_curve(["a", "b"], [True, True]), ["durations", "timedeltas"]),
        (lambda f: km_curve([1.0, 2.0], [2, 0]), ["observed", "0/1"]),
    ],
)  # fmt: skip
def test_bad_arguments_raise_value_error_naming_them(
    frames: IncidentFrames, call: Any, words: list[str]
) -> None:
    with pytest.raises(ValueError) as info:  # noqa: PT011 -- words checked below
        call(frames)
    for word in words:
        assert word in str(info.value)


def test_incident_severity_is_the_same_whatever_the_order_of_the_links(
    frames: IncidentFrames,
) -> None:
    # frames_from_pages keeps links in the incidents' order (the fast path reads rows off
    # threat_count); shuffled links must be looked up and give the same answer.
    shuffled = frames.links.sample(frac=1.0, random_state=3).reset_index(drop=True)
    other = IncidentFrames(frames.incidents, shuffled, frames.threats)
    pd.testing.assert_frame_equal(incident_severity(frames), incident_severity(other))
