"""The one formatter: each meaning printed one way, edge cases included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from intrace_analytics import IncidentFrames, resolution_summary, status_breakdown
from intrace_analytics._util import format as fmt
from intrace_analytics._util.format import count, duration, label, readable

AS_OF = pd.Timestamp("2026-10-01T00:00:00Z")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (pd.Timedelta(days=1, hours=18), "1 d 18 h"),
        (pd.Timedelta(days=1, hours=18, minutes=59), "1 d 18 h"),  # minutes dropped from a day up
        (pd.Timedelta(hours=30), "1 d 6 h"),  # the report's old "30.0 h"
        (pd.Timedelta(days=1), "1 d 0 h"),
        (pd.Timedelta(days=1234, hours=5), "1,234 d 5 h"),
        (pd.Timedelta(hours=5, minutes=3), "5 h 3 min"),
        (pd.Timedelta(hours=5, minutes=3, seconds=31), "5 h 4 min"),  # rounded to the minute
        (pd.Timedelta(hours=5), "5 h 0 min"),
        (pd.Timedelta(minutes=12), "12 min"),
        (pd.Timedelta(seconds=0.3), "< 1 min"),
        (pd.Timedelta(seconds=29), "< 1 min"),
        (pd.Timedelta(0), "< 1 min"),
        (pd.Timedelta(hours=-5, minutes=-3), "-5 h 3 min"),
        (pd.Timedelta(days=-2, hours=-1), "-2 d 1 h"),
        (pd.Timedelta(seconds=-10), "< 1 min"),
        (np.timedelta64(90 * 60, "s"), "1 h 30 min"),
        (timedelta(hours=25), "1 d 1 h"),
        (pd.NaT, "not reached"),
        (None, "not reached"),
        (np.timedelta64("NaT"), "not reached"),
    ],
)
def test_duration(value: object, expected: str) -> None:
    assert fmt.duration(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.125, "12.5 %"),
        (1, "100.0 %"),
        (0.0, "0.0 %"),
        (0.0004, "0.0 %"),
        (1 / 3, "33.3 %"),
        (np.float64(0.9999), "100.0 %"),
        (-0.05, "-5.0 %"),
        (float("nan"), "(missing)"),
    ],
)
def test_share(value: object, expected: str) -> None:
    assert fmt.share(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "0"),
        (999, "999"),
        (1234, "1,234"),
        (1_234_567_890, "1,234,567,890"),
        (np.int64(5000), "5,000"),
        (3.0, "3"),
        (-1234, "-1,234"),
        (pd.NA, "(missing)"),
    ],
)
def test_count(value: object, expected: str) -> None:
    assert fmt.count(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.3, "0.3 s"),
        (0, "0.0 s"),
        (12, "12.0 s"),
        (1234.56, "1,234.6 s"),
        (-0.3, "-0.3 s"),
        (float("nan"), "(missing)"),
    ],
)
def test_seconds(value: object, expected: str) -> None:
    assert fmt.seconds(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (pd.Timestamp("2026-10-01", tz="UTC"), "2026-10-01 00:00 UTC"),
        ("2026-10-01T02:00:59+02:00", "2026-10-01 00:00 UTC"),  # converted, seconds dropped
        (pd.Timestamp("2026-10-01 12:34:56"), "2026-10-01 12:34 UTC"),  # naive taken as UTC
        (datetime(2026, 9, 30, 23, 59, 59, tzinfo=UTC), "2026-09-30 23:59 UTC"),
        ("2026-10-01T12:34:56.789012Z", "2026-10-01 12:34 UTC"),
        ("not a time", "not a time"),  # shown as is
        (pd.NaT, "(missing)"),
        (None, "(missing)"),
    ],
)
def test_timestamp(value: object, expected: str) -> None:
    assert fmt.timestamp(value) == expected


def test_label() -> None:
    assert fmt.label("critical") == "critical"
    assert fmt.label("") == ""
    assert [fmt.label(v) for v in (None, pd.NA, float("nan"), pd.NaT)] == ["(missing)"] * 4


def test_cell_dispatches_on_type() -> None:
    assert fmt.cell(pd.Timedelta(hours=30)) == fmt.duration(pd.Timedelta(hours=30)) == "1 d 6 h"
    assert fmt.cell(pd.Timestamp("2026-10-01T00:00Z")) == "2026-10-01 00:00 UTC"
    assert fmt.cell(1234) == "1,234"
    assert fmt.cell(np.int64(1234)) == "1,234"
    assert fmt.cell(True) == "yes"
    assert fmt.cell(np.bool_(False)) == "no"
    assert fmt.cell(0.5) == "0.50"  # a float of no declared meaning is not a share
    assert fmt.cell(1234.5) == "1,234.50"
    assert fmt.cell("open") == "open"
    # A missing Timedelta is missing data here, not "not reached".
    assert fmt.cell(pd.NaT) == "(missing)"
    assert fmt.cell(None) == "(missing)"
    assert fmt.cell([]) == "none"
    assert fmt.cell({}) == "none"
    assert fmt.cell(np.array(["a", "b"])) == "a, b"
    assert fmt.cell({"status": "open", "asset_id": ["a", "b"], "n": 2000}) == (
        "status=open; asset_id=a, b; n=2,000"
    )


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (pd.Timedelta(hours=40), pd.Timedelta(hours=46), "1 d 16 h to 1 d 22 h"),
        (pd.Timedelta(hours=40), pd.NaT, "1 d 16 h to not reached"),
        (pd.NaT, pd.NaT, "not reached"),  # never "not reached - not reached"
        (None, None, "not reached"),
    ],
)
def test_interval(low: object, high: object, expected: str) -> None:
    assert fmt.interval(low, high) == expected


def test_no_incidents_is_not_not_reached() -> None:
    assert fmt.NO_INCIDENTS == "no incidents"
    assert fmt.NO_INCIDENTS != fmt.NOT_REACHED


def test_readable_formats_a_result_by_meaning(sandbox_frames: IncidentFrames) -> None:
    summary = resolution_summary(sandbox_frames.incidents, by="scope", as_of=AS_OF)
    shown = readable(summary)
    assert list(shown.columns) == list(summary.columns)
    assert shown.index.equals(summary.index)
    for i in range(len(summary)):
        assert shown["count"].iloc[i] == count(summary["count"].iloc[i])
        assert shown["km_median"].iloc[i] == duration(summary["km_median"].iloc[i])
        assert shown["scope"].iloc[i] == label(summary["scope"].iloc[i])
    breakdown = readable(status_breakdown(sandbox_frames.incidents))
    assert all(text.endswith(" %") for text in breakdown["share"])
    # Not a copy with new values: the result it was given is untouched.
    assert pd.api.types.is_timedelta64_dtype(summary["km_median"])
