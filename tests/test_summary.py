"""summary_text: the status, resolution and severity tables as plain text."""

from __future__ import annotations

import copy
import re

import pandas as pd
import pytest

from intrace_analytics.formatting import count, duration
from intrace_analytics.frames import IncidentFrames
from intrace_analytics.report import summary_text
from intrace_analytics.schema import STATUSES, empty_frame
from intrace_analytics.sites import asset_exposure

AS_OF = "2026-10-01T00:00:00Z"
HEADINGS = ("Incidents by status", "Time to resolution", "Threats by severity")


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


def test_resolution_and_severity_counts(frames: IncidentFrames) -> None:
    text = summary_text(frames, as_of=AS_OF)
    incidents = frames.incidents
    resolved_at = incidents["resolved_at"]
    done = resolved_at.notna() & (resolved_at <= pd.Timestamp(AS_OF))
    # Closed or resolved without resolved_at: neither resolved nor open (survival.py).
    unknown = incidents["status"].isin(["closed", "resolved"]) & resolved_at.isna()
    cells = _row(text, HEADINGS[1], "all")
    assert cells[1:4] == [
        count(len(incidents)), count(done.sum()), count((~done & ~unknown).sum())
    ]  # fmt: skip
    assert re.fullmatch(r"\d+ (d \d+ h|h \d+ min)", cells[4])
    for scope in ("investigation", "aggregate"):
        in_scope = incidents["scope"].astype(str) == scope
        assert _row(text, HEADINGS[1], scope)[1] == count(in_scope.sum())
    for severity in ("low", "medium", "high", "critical"):
        n = int((frames.threats["severity"].astype(str) == severity).sum())
        assert _row(text, HEADINGS[2], severity)[1] == f"{n:,}"


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
    cells = _row(text, HEADINGS[1], "aggregate")
    assert cells[2:4] == ["1", count(len(rows) - 1)]
    assert cells[4] == "not reached"
    assert _row(text, HEADINGS[1], "investigation")[4] != "not reached"


def test_durations_are_readable() -> None:
    start = pd.Timestamp("2026-09-01T00:00:00Z")
    incidents = empty_frame("incidents").reindex(range(1))
    incidents["incident_id"] = pd.array(["i1"], dtype="string")
    incidents["status"] = pd.Categorical(["resolved"], categories=list(STATUSES))
    incidents["scope"] = pd.Categorical(["aggregate"], categories=["investigation", "aggregate"])
    incidents["created_at"] = pd.Series([start]).astype("datetime64[us, UTC]")
    incidents["started_at"] = incidents["created_at"]
    incidents["resolved_at"] = incidents["created_at"] + pd.Timedelta(days=1, hours=18)
    incidents["threat_count"] = incidents["threat_count"].fillna(0).astype("int64")
    frames = IncidentFrames(incidents, empty_frame("links"), empty_frame("threats"))
    text = summary_text(frames, as_of=AS_OF)
    _clean(text)
    assert _row(text, HEADINGS[1], "all")[4] == "1 d 18 h"


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
    assert all(h in text for h in HEADINGS)
    assert "unknown" in text.splitlines()[-1]
    with pytest.raises(ValueError, match="as_of"):
        summary_text(empty, as_of="not a time")


def test_default_as_of_is_now(frames: IncidentFrames) -> None:
    text = summary_text(frames)
    _clean(text)
    assert str(pd.Timestamp.now(tz="UTC").year) in text


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
            duration(row.km_median),
        ]
    rows = _sites_section(text)[4 : 4 + len(exposure)]
    names = [line.split("  ")[0] for line in rows]
    assert names == exposure["name"].tolist()  # most exposed first
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
