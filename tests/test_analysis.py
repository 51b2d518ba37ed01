"""analysis: status, backlog, severity and data quality checked against values computed
independently.

Counts against plain Python counts over the session's sandbox frames (expectations are
computed from the data, never hard-coded to its size), the backlog against a brute-force
count per day. Time to resolution and Kaplan-Meier are in ``test_survival.py``.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pandas as pd
import pytest

from intrace_analytics import (
    IncidentFrames,
    data_quality,
    incident_severity,
    open_backlog,
    resolution_summary,
    resolution_times,
    severity_breakdown,
    status_breakdown,
    status_over_time,
)
from intrace_analytics.analysis._status import CHECKS
from intrace_analytics.frames import _schema as schema
from tests.helpers import assert_value_error_names, stamp, typed

AS_OF = pd.Timestamp("2026-10-01T00:00:00Z")


# -- breakdowns ----------------------------------------------------------------------


def test_status_breakdown_equals_a_plain_count(sandbox_frames: IncidentFrames) -> None:
    result = status_breakdown(sandbox_frames.incidents)
    expected = Counter(str(s) for s in sandbox_frames.incidents["status"].astype(object))
    assert result["status"].astype(str).tolist() == list(schema.STATUSES)
    assert result["count"].tolist() == [expected[s] for s in schema.STATUSES]
    total = sum(expected.values())
    assert result["share"].tolist() == pytest.approx([expected[s] / total for s in schema.STATUSES])
    assert isinstance(result.index, pd.RangeIndex)


def test_status_breakdown_by_scope_has_every_status_in_every_group(
    sandbox_frames: IncidentFrames,
) -> None:
    incidents = sandbox_frames.incidents
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


def test_status_over_time_equals_a_plain_weekly_count(sandbox_frames: IncidentFrames) -> None:
    incidents = sandbox_frames.incidents
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


def test_status_over_time_monthly_and_empty(sandbox_frames: IncidentFrames) -> None:
    result = status_over_time(sandbox_frames.incidents, freq="M")
    assert (result["period"].dt.day == 1).all()
    assert result["count"].sum() == len(sandbox_frames.incidents)
    assert status_over_time(schema.empty_frame("incidents")).empty


def test_severity_breakdown_equals_a_plain_count(sandbox_frames: IncidentFrames) -> None:
    threats = sandbox_frames.threats
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


def test_incident_severity_on_sandbox(sandbox_frames: IncidentFrames) -> None:
    rank = {s: i for i, s in enumerate(schema.SEVERITIES)}
    level = dict(
        zip(sandbox_frames.threats["threat_id"], sandbox_frames.threats["severity"], strict=True)
    )
    best: dict[str, int] = {}
    for incident, threat in zip(
        sandbox_frames.links["incident_id"], sandbox_frames.links["threat_id"], strict=True
    ):
        if level.get(threat) in rank:
            best[incident] = max(best.get(incident, -1), rank[level[threat]])
    result = incident_severity(sandbox_frames)
    expected = [
        schema.SEVERITIES[best[i]] if i in best else None
        for i in sandbox_frames.incidents["incident_id"]
    ]
    assert [None if pd.isna(v) else v for v in result["max_severity"].astype(object)] == expected


def brute_force_open(incidents: pd.DataFrame, at: pd.Timestamp) -> int:
    count = 0
    for status, started, created, resolved in zip(
        incidents["status"], incidents["started_at"], incidents["created_at"],
        incidents["resolved_at"], strict=True,
    ):  # fmt: skip
        start = created if pd.isna(started) else started
        if pd.isna(start) or start > at:
            continue
        if status in ("closed", "resolved") and pd.isna(resolved):
            continue  # ended at an unknown time: never counted open
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
            {"incident_id": "f", "status": "closed", "created_at": stamp("2026-01-01T00:00")},
            {"incident_id": "g", "status": "resolved", "created_at": stamp("2026-01-03T00:00")},
        ],
    )  # fmt: skip
    as_of = pd.Timestamp("2026-01-06T12:00Z")
    result = open_backlog(incidents, freq="D", as_of=as_of)
    expected_times = [*pd.date_range("2026-01-02", periods=5, freq="D", tz="UTC"), as_of]
    assert result["time"].tolist() == expected_times
    assert result["open"].tolist() == [brute_force_open(incidents, t) for t in expected_times]
    # f and g (closed or resolved, no resolved_at) are never open.
    assert result["open"].tolist() == [3, 1, 1, 2, 2, 2]


def test_backlog_at_as_of_is_the_resolution_tables_open(sandbox_frames: IncidentFrames) -> None:
    # One meaning of "open" across the backlog and the resolution table: at as_of the
    # backlog counts the incidents the summary censors (all sandbox incidents started
    # before AS_OF, none resolved before its start).
    incidents = sandbox_frames.incidents
    times = resolution_times(incidents, as_of=AS_OF)
    assert (times["start"] <= AS_OF).all()
    assert (times["duration"] >= pd.Timedelta(0)).all()
    summary = resolution_summary(incidents, as_of=AS_OF).iloc[0]
    assert summary["resolved_without_time"] > 0
    backlog = open_backlog(incidents, as_of=AS_OF)
    assert backlog["time"].iloc[-1] == AS_OF
    assert backlog["open"].iloc[-1] == summary["unresolved"]


def test_open_backlog_on_sandbox_matches_brute_force(sandbox_frames: IncidentFrames) -> None:
    incidents = sandbox_frames.incidents.iloc[:150]
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
    # The declared table is what runs: its checks, in its order, examples from the table
    # each check's column is the key of.
    assert result["check"].tolist() == [check.name for check in CHECKS]
    keys = {"incident_id": incidents, "link_id": links, "threat_id": threats}
    for check, (_, ids) in zip(CHECKS, found.values(), strict=True):
        assert set(ids) <= set(keys[check.column][check.column])
        assert check.words


def test_duplicate_links_are_exact_despite_shared_suffixes() -> None:
    # Same length and last eight characters (a cheap string fingerprint would collide):
    # only exact codes tell the ids apart.
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


def test_duplicate_links_with_missing_ids_count_like_dataframe_duplicated() -> None:
    # A missing id equals another missing one (as in DataFrame.duplicated), never a present
    # one: a link to no threat is not a repeat of a link to the last described threat.
    incidents = typed("incidents", [{"incident_id": "a"}])
    threats = typed(
        "threats", [{"threat_id": t, "severity": "low", "lat": 0.0, "lng": 0.0} for t in "xy"]
    )
    links = typed(
        "links",
        [
            {"link_id": "1", "incident_id": "a", "threat_id": "y"},
            {"link_id": "2", "incident_id": "a", "threat_id": None},
            {"link_id": "3", "incident_id": "a", "threat_id": None},
            {"link_id": "4", "incident_id": None, "threat_id": "y"},
            {"link_id": "5", "incident_id": None, "threat_id": "y"},
            {"link_id": "6", "incident_id": "a", "threat_id": "ghost"},
        ],
    )
    expected = links[["incident_id", "threat_id"]].astype(object).duplicated()
    result = data_quality(IncidentFrames(incidents, links, threats)).set_index("check")
    assert result.loc["duplicate_links", "count"] == int(expected.sum()) == 2
    assert result.loc["duplicate_links", "example_ids"] == ["3", "5"]


def test_data_quality_clean_and_sandbox(sandbox_frames: IncidentFrames) -> None:
    empty = IncidentFrames(*(schema.empty_frame(t) for t in ("incidents", "links", "threats")))
    clean = data_quality(empty)
    assert len(clean) == 7
    assert (clean["count"] == 0).all()
    assert clean["example_ids"].tolist() == [[]] * 7
    result = data_quality(sandbox_frames).set_index("check")
    threats = sandbox_frames.threats
    no_coordinates = int((threats["lat"].isna() | threats["lng"].isna()).sum())
    assert result.loc["threats_without_coordinates", "count"] == no_coordinates
    described = set(threats["threat_id"])
    undescribed = sum(t not in described for t in sandbox_frames.links["threat_id"])
    assert result.loc["links_to_undescribed_threats", "count"] == undescribed
    missing = sum(
        str(s) in ("resolved", "closed") and pd.isna(r)
        for s, r in zip(
            sandbox_frames.incidents["status"], sandbox_frames.incidents["resolved_at"], strict=True
        )
    )
    assert result.loc["resolved_or_closed_without_resolved_at", "count"] == missing
    assert all(len(ids) <= 5 for ids in result["example_ids"])


# -- bad arguments -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda f: status_over_time(f.incidents, freq="fortnight"), ["freq", "'fortnight'", "'W'"]),
        (lambda f: open_backlog(f.incidents, freq="nope"), ["freq", "'nope'"]),
        (lambda f: status_breakdown(f.incidents, by="colour"), ["by", "'colour'", "scope"]),
        (lambda f: severity_breakdown(f.threats, by=["threat_type", 3]),  # type: ignore[list-item]
         ["by", "3"]),
        (lambda f: open_backlog(f.incidents, as_of="not a date"), ["as_of", "'not a date'"]),
    ],
)  # fmt: skip
def test_bad_arguments_raise_value_error_naming_them(
    sandbox_frames: IncidentFrames, call: Any, words: list[str]
) -> None:
    assert_value_error_names(lambda: call(sandbox_frames), words)


def test_incident_severity_is_the_same_whatever_the_order_of_the_links(
    sandbox_frames: IncidentFrames,
) -> None:
    # frames_from_pages keeps links in the incidents' order (the fast path reads rows off
    # threat_count); shuffled links must be looked up and give the same answer.
    shuffled = sandbox_frames.links.sample(frac=1.0, random_state=3).reset_index(drop=True)
    other = IncidentFrames(sandbox_frames.incidents, shuffled, sandbox_frames.threats)
    pd.testing.assert_frame_equal(incident_severity(sandbox_frames), incident_severity(other))
