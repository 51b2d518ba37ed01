"""summary_text: the status, resolution and severity tables as plain text."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from intrace_analytics._util import clock
from intrace_analytics._util.format import count, duration
from intrace_analytics.analysis import _survival as survival
from intrace_analytics.analysis._sites import asset_exposure
from intrace_analytics.frames._container import IncidentFrames
from intrace_analytics.frames._schema import STATUSES, empty_frame
from intrace_analytics.report._html import build_report
from intrace_analytics.report._text import summary_text
from tests.test_report import _parse

AS_OF = "2026-10-01T00:00:00Z"
HEADINGS = ("Incidents by status", "Time to resolution", "Threats by severity")
WITHOUT_TIME = "resolved_without_time"


@pytest.fixture
def frames(sandbox_frames: IncidentFrames) -> IncidentFrames:
    """The session's 300 sandbox incidents (seed 3); the tests below only read them."""
    return sandbox_frames


def _clean(text: str) -> None:
    assert "Traceback" not in text
    assert not re.search(r"\bnan\b", text, re.IGNORECASE)
    assert "NaT" not in text
    assert text.endswith("\n")


def _row(text: str, heading: str, first: str) -> list[str]:
    """The cells of the row starting with ``first`` in the section under ``heading``."""
    section = text.split(heading, 1)[1].split("\n\n", 1)[0]
    for line in section.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if cells[0] == first:
            return cells
    raise AssertionError(f"no row {first!r} under {heading!r}")


def test_sections_and_status_counts(frames: IncidentFrames) -> None:
    text = summary_text(frames, as_of=AS_OF)
    _clean(text)
    positions = [text.index(h) for h in HEADINGS]
    assert positions == sorted(positions)
    incidents = frames.incidents
    scopes = ["investigation", "aggregate"]
    header = _row(text, HEADINGS[0], "status")
    assert header == ["status", *scopes, "all", "share"]
    for status in STATUSES:
        is_status = incidents["status"].astype(str) == status
        per_scope = [int((is_status & (incidents["scope"].astype(str) == s)).sum()) for s in scopes]
        total = int(is_status.sum())
        share = f"{100 * total / len(incidents):.1f} %"
        assert _row(text, HEADINGS[0], status) == [
            status,
            *map(count, per_scope),
            count(total),
            share,
        ]
    assert _row(text, HEADINGS[0], "total")[-2] == count(len(incidents))


def _rows(text: str, heading: str, first: str) -> list[list[str]]:
    """Every row starting with ``first`` in the section under ``heading`` (one per table)."""
    section = text.split(heading, 1)[1].split(f"\n\n{HEADINGS[-1]}", 1)[0]
    section = section.split("\n\nSource:", 1)[0]
    return [
        cells
        for line in section.splitlines()
        if (cells := re.split(r"\s{2,}", line.strip()))[0] == first
    ]


def _fits(text: str) -> None:
    too_wide = [line for line in text.splitlines() if len(line) > 80]
    assert too_wide == []


def test_resolution_and_severity_counts(frames: IncidentFrames) -> None:
    text = summary_text(frames, as_of=AS_OF)
    summary = survival.resolution_summary(frames.incidents, as_of=AS_OF).iloc[0]
    counts, times = _rows(text, HEADINGS[1], "all")
    # The counts table: incidents, resolved by as-of, unresolved at as-of (and the
    # incidents without an end time, when resolution_summary reports them).
    header = _rows(text, HEADINGS[1], "scope")[0]
    assert header[1:4] == ["incidents", "resolved by as-of", "unresolved at as-of"]
    assert counts[1:4] == [count(summary["count"]), count(summary["resolved"]),
                           count(summary["unresolved"])]  # fmt: skip
    # "resolved" there is not the status: it counts resolved_at, whatever the status.
    resolved_at = frames.incidents["resolved_at"]
    done = resolved_at.notna() & (resolved_at <= pd.Timestamp(AS_OF))
    assert counts[2] == count(done.sum())
    # Closed or resolved without resolved_at: neither resolved nor unresolved (survival.py).
    unknown = frames.incidents["status"].isin(["closed", "resolved"]) & resolved_at.isna()
    assert counts[3] == count((~done & ~unknown).sum())
    assert "whatever the status" in " ".join(text.split())
    # The times table: median, its interval, 90th percentile, naive median.
    assert _rows(text, HEADINGS[1], "scope")[1] == [
        "scope", "median", "median 95% CI", "90th pct", "naive median"
    ]  # fmt: skip
    assert times[1] == duration(summary["km_median"])
    assert re.fullmatch(r"\d+ (d \d+ h|h \d+ min)", times[1])
    assert times[2] == (
        f"{duration(summary['km_median_low'])} to {duration(summary['km_median_high'])}"
    )
    for scope in ("investigation", "aggregate"):
        in_scope = frames.incidents["scope"].astype(str) == scope
        assert _rows(text, HEADINGS[1], scope)[0][1] == count(in_scope.sum())
    for severity in ("low", "medium", "high", "critical"):
        n = int((frames.threats["severity"].astype(str) == severity).sum())
        assert _row(text, HEADINGS[2], severity)[1] == f"{n:,}"


def test_incidents_without_an_end_time_are_shown_apart(frames: IncidentFrames) -> None:
    text = summary_text(frames, as_of=AS_OF)
    _clean(text)
    _fits(text)
    incidents = frames.incidents
    no_time = incidents["status"].isin(["closed", "resolved"]) & incidents["resolved_at"].isna()
    assert no_time.sum() > 0  # the sandbox has some
    header = _rows(text, HEADINGS[1], "scope")[0]
    assert header[-1] == "no end time"
    counts = _rows(text, HEADINGS[1], "all")[0]
    assert counts[-1] == count(no_time.sum())
    n, resolved, unresolved, without = (int(c.replace(",", "")) for c in counts[1:])
    assert n == resolved + unresolved + without == len(incidents)
    legend = " ".join(text.split())
    assert "no end time: closed or resolved without a resolved_at" in legend
    # Each status-open incident is unresolved at as-of (none has a resolved_at here).
    assert unresolved == int((incidents["status"] == "open").sum())


def test_not_reached_when_fewer_than_half_resolved(frames: IncidentFrames) -> None:
    incidents = frames.incidents
    aggregate = (incidents["scope"] == "aggregate").to_numpy()
    rows = incidents[aggregate].reset_index(drop=True)
    # Keep one resolved aggregate incident and open all the others: fewer than half resolved.
    keep = rows.index[rows["resolved_at"].notna()][0]
    others = rows.index != keep
    rows.loc[others, "resolved_at"] = pd.NaT
    rows.loc[others, "status"] = "open"
    assert len(rows) >= 3
    mixed = pd.concat([incidents[~aggregate], rows], ignore_index=True)
    text = summary_text(IncidentFrames(mixed, frames.links, frames.threats), as_of=AS_OF)
    _clean(text)
    counts, times = _rows(text, HEADINGS[1], "aggregate")
    assert counts[2:4] == ["1", count(len(rows) - 1)]
    assert times[1:4] == ["not reached", "not reached", "not reached"]  # never "x to x"
    assert _rows(text, HEADINGS[1], "investigation")[1][1] != "not reached"


def _one_incident(start: str, *, resolved_after: pd.Timedelta | None) -> pd.DataFrame:
    """Incident rows ``i0, i1, ...`` started at ``start``: resolved after each duration,
    or open (``None``)."""
    return _incidents([(start, resolved_after)])


def _incidents(rows: list[tuple[str, pd.Timedelta | None]]) -> pd.DataFrame:
    incidents = empty_frame("incidents").reindex(range(len(rows)))
    starts = pd.Series([pd.Timestamp(start) for start, _ in rows]).astype("datetime64[us, UTC]")
    ends = [pd.Timestamp(start) + after if after is not None else pd.NaT for start, after in rows]
    incidents["incident_id"] = pd.array([f"i{i}" for i in range(len(rows))], dtype="string")
    incidents["status"] = pd.Categorical(
        ["open" if after is None else "resolved" for _, after in rows], categories=list(STATUSES)
    )
    incidents["scope"] = pd.Categorical(
        ["aggregate"] * len(rows), categories=["investigation", "aggregate"]
    )
    incidents["created_at"] = starts
    incidents["started_at"] = starts
    incidents["resolved_at"] = pd.Series(ends, dtype="datetime64[us, UTC]")
    incidents["threat_count"] = incidents["threat_count"].fillna(0).astype("int64")
    return incidents


def test_durations_are_readable() -> None:
    incidents = _one_incident("2026-09-01T00:00:00Z", resolved_after=pd.Timedelta(days=1, hours=18))
    frames = IncidentFrames(incidents, empty_frame("links"), empty_frame("threats"))
    text = summary_text(frames, as_of=AS_OF)
    _clean(text)
    assert _rows(text, HEADINGS[1], "all")[1][1] == "1 d 18 h"


def test_provenance_line_and_no_key(frames: IncidentFrames) -> None:
    key = "canary-7f3a9c1e-DO-NOT-LEAK"
    metadata = {
        "rows": 300,
        "fetched_at": "2026-10-01T14:34:56+02:00",
        "complete": True,
        "api_key": key,
        "headers": {"X-API-Key": key},
    }
    loaded = IncidentFrames(frames.incidents, frames.links, frames.threats, metadata)
    text = summary_text(loaded, as_of=AS_OF)
    assert key not in text
    line = text.rstrip("\n").splitlines()[-1]
    assert "300" in line
    assert "2026-10-01 12:34 UTC" in line  # the one timestamp format, in UTC
    assert "complete: yes" in line


def test_empty_frames_and_bad_as_of() -> None:
    empty = IncidentFrames(*(empty_frame(t) for t in ("incidents", "links", "threats")))
    text = summary_text(empty, as_of=AS_OF)
    _clean(text)
    _fits(text)
    assert all(h in text for h in HEADINGS)
    assert "unknown" in text.splitlines()[-1]
    # No incident: nothing to estimate, and it says so (not "not reached - not reached").
    assert "not reached" not in text
    counts, times = _rows(text, HEADINGS[1], "all")
    assert counts[1:4] == ["0", "0", "0"]
    assert times[1:] == ["no incidents"] * 4
    assert _row(text, HEADINGS[0], "total")[-2:] == ["0", "0.0 %"]
    with pytest.raises(ValueError, match="as_of"):
        summary_text(empty, as_of="not a time")


def test_every_line_fits_80_columns(sites_frames: IncidentFrames) -> None:
    # The sandbox export with sites, and incidents without an end time shown apart.
    text = summary_text(sites_frames, as_of=AS_OF)
    _clean(text)
    _fits(text)
    long = copy.deepcopy(sites_frames)
    long.metadata["rows"] = 1_234_567_890
    long.metadata["fetched_at"] = "2026-10-01T00:00:00Z"
    _fits(summary_text(long))


FETCHED = pd.Timestamp("2026-10-01T12:34:56Z")
WEEK = pd.Timedelta(days=7)


def _a_week_old_export(metadata: dict[str, Any]) -> IncidentFrames:
    """Two resolved incidents (3 and 5 days) and one open a day at the fetch: counted up to
    the fetch, the median is 3 days; counted up to a week later, 5 days."""
    start = str(FETCHED - pd.Timedelta(days=30))
    incidents = _incidents(
        [(start, pd.Timedelta(days=3)), (start, pd.Timedelta(days=5)),
         (str(FETCHED - pd.Timedelta(days=1)), None)]
    )  # fmt: skip
    return IncidentFrames(incidents, empty_frame("links"), empty_frame("threats"), metadata)


def test_default_as_of_is_the_fetch_not_now(monkeypatch: pytest.MonkeyPatch) -> None:
    # The command runs a week after the fetch.
    monkeypatch.setattr(clock, "utc_now", lambda: (FETCHED + WEEK).to_pydatetime())
    frames = _a_week_old_export({"fetched_at": FETCHED.isoformat(), "rows": 3})
    text = summary_text(frames)
    _clean(text)
    _fits(text)
    explicit = " ".join(summary_text(frames, as_of=FETCHED).split())
    assert " ".join(text.split()).replace("the time of the fetch", "as requested") == explicit
    assert _rows(text, HEADINGS[1], "all")[1][1] == "3 d 0 h"
    assert summary_text(frames, as_of=FETCHED + WEEK) != text
    assert _rows(summary_text(frames, as_of=FETCHED + WEEK), HEADINGS[1], "all")[1][1] == (
        "5 d 0 h"
    )
    said = " ".join(text.split())
    assert (
        "Open incidents counted as unresolved up to 2026-10-01 12:34 UTC (the time of the fetch)."
        in said
    )
    given = " ".join(summary_text(frames, as_of="2026-10-05").split())
    assert "unresolved up to 2026-10-05 00:00 UTC (as requested)." in given


@pytest.mark.parametrize("fetched", [None, "", "not a time"])
def test_without_a_fetch_time_now_and_it_says_so(
    fetched: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clock, "utc_now", lambda: (FETCHED + WEEK).to_pydatetime())
    frames = _a_week_old_export({} if fetched is None else {"fetched_at": fetched})
    text = " ".join(summary_text(frames).split())
    assert "unresolved up to 2026-10-08 12:34 UTC (now: the export records no fetch time)." in text


# -- sites -------------------------------------------------------------------------------

SITES_HEADING = "Exposure by site"


def _sites_section(text: str) -> list[str]:
    section = text.split(SITES_HEADING, 1)[1]
    return section.split("\nSource:", 1)[0].splitlines()


def test_site_table_only_when_sites_were_loaded(
    frames: IncidentFrames, sites_frames: IncidentFrames
) -> None:
    assert SITES_HEADING not in summary_text(frames, as_of=AS_OF)
    text = summary_text(sites_frames, as_of=AS_OF)
    _clean(text)
    exposure = asset_exposure(sites_frames, as_of=AS_OF)
    for row in exposure.itertuples(index=False):
        cells = _row(text, SITES_HEADING, row.name)
        assert cells[1:] == [
            count(row.incidents),
            count(row.open),
            str(row.max_open_severity) if row.open else "none",
            count(row.open_critical),
            duration(row.km_median) if row.incidents else "no incidents",
        ]
    lines = _sites_section(text)
    rows = [line for line in lines if line.split("  ")[0] in set(exposure["name"])]
    names = [line.split("  ")[0] for line in rows]
    assert names == exposure["name"].tolist()  # active first, each group most exposed first
    # Each site status is a caption over its sites: archived ones apart, after the active.
    captions = [line for line in lines if line.startswith("site status ")]
    assert captions == ["site status active:", "site status archived (no longer monitored):"]
    archived = lines.index(captions[1])
    assert lines[archived + 1].startswith("Apapa depot")
    assert all(lines.index(row) < archived for row in rows[:-1])
    # The sites section fits an 80-column terminal.
    assert max(len(line) for line in _sites_section(text)) <= 80


def test_long_site_names_are_cut_to_fit(sites_frames: IncidentFrames) -> None:
    frames = copy.deepcopy(sites_frames)
    names = frames.assets["name"].astype(object)
    names.iloc[0] = "Lagos head office and regional distribution centre, Ikeja"
    frames.assets["name"] = names.astype("string")
    lines = _sites_section(summary_text(frames, as_of=AS_OF))
    assert max(len(line) for line in lines) <= 80
    assert any(line.startswith("Lagos head office and...") for line in lines)


def test_an_earlier_as_of_counts_what_existed_then_as_the_report_does(
    sites_frames: IncidentFrames, tmp_path: Path
) -> None:
    frames = copy.deepcopy(sites_frames)
    frames.metadata["fetched_at"] = AS_OF
    incidents = frames.incidents
    begin = incidents["started_at"].fillna(incidents["created_at"])
    middle = begin.quantile(0.5)
    started = int((begin <= middle).sum())
    assert started < len(incidents)
    text = summary_text(frames, as_of=middle)
    _clean(text)
    _fits(text)
    assert _row(text, HEADINGS[0], "total")[-2] == count(started)
    summary = survival.resolution_summary(incidents, as_of=middle).iloc[0]
    counts = _rows(text, HEADINGS[1], "all")[0]
    assert counts[1:4] == [count(started), count(summary["resolved"]),
                           count(summary["unresolved"])]  # fmt: skip
    # Status and severity tables say they describe the fetch, as the report does.
    said = " ".join(text.split())
    assert f"{count(started)} of the export's {count(len(incidents))} incidents" in said
    assert said.count("as the API reported them at the fetch") == 3
    exposure = asset_exposure(frames, as_of=middle)
    assert sum(int(_row(text, SITES_HEADING, n)[1].replace(",", "")) for n in exposure["name"]) == (
        exposure["incidents"].sum()
    )
    # The report at the same as-of shows the same counts.
    document = _parse(build_report(frames, tmp_path / "r.html", as_of=middle))
    overall = document.table("resolution")[0]
    assert [overall["incidents"], overall["resolved by as-of"], overall["unresolved at as-of"]] == (
        counts[1:4]
    )
    assert document.headline["Open (status at fetch)"] == _row(text, HEADINGS[0], "open")[-2]
    # At the fetch itself, nothing to say.
    assert "at the fetch" not in summary_text(frames)
