"""What the HTML report and the text summary show, once: the as-of time and where it
comes from, the status grid, the resolution groups, the exposure rows, and the words
each column is labelled with (one meaning per word). :mod:`~intrace_analytics.report._html`
lays these out as HTML, :mod:`~intrace_analytics.report._text` as text; every cell goes
through :mod:`~intrace_analytics._util.format`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from intrace_analytics._util import clock
from intrace_analytics._util import format as fmt
from intrace_analytics.analysis import _status as analysis
from intrace_analytics.analysis import _survival as survival
from intrace_analytics.analysis._common import started_by
from intrace_analytics.frames._container import IncidentFrames

# The names below are the report layer's own: _html and _text lay them out.
__all__: list[str] = []

STATUS_HEADING = "Incidents by status"
RESOLUTION_HEADING = "Time to resolution"
SEVERITY_HEADING = "Threats by severity"
SITES_HEADING = "Exposure by site"
#: A site name longer than this is cut in the text summary, so the table fits 80 columns.
SITE_NAME_WIDTH = 24
#: The text summary's width: an 80-column terminal.
WIDTH = 80
ALL = "all"
#: The column ``resolution_summary`` adds for incidents closed or resolved without a
#: ``resolved_at`` (neither resolved at a known time nor open); read when present.
WITHOUT_TIME = "resolved_without_time"
#: What a group's times say when every incident in it ended without a ``resolved_at``.
NO_END_TIMES = "no end times"

# One meaning per word: "open", "closed", "resolved" alone are statuses (what the
# incident says); the resolution figures, which count by resolved_at, say so in their
# labels ("resolved by as-of", "unresolved at as-of").
RESOLUTION_COUNTS = {
    "count": "incidents",
    "resolved": "resolved by as-of",
    "unresolved": "unresolved at as-of",
    WITHOUT_TIME: "no end time",
}
RESOLUTION_TIMES = {
    "km_median": "median",
    "km_median_low": "median, 95 % CI low",
    "km_median_high": "median, 95 % CI high",
    "km_p90": "90th percentile",
    "naive_median": "median of resolved only",
}
RESOLUTION_LEGEND = (
    "resolved by as-of: a resolved_at by the as-of time, whatever the status (the status "
    "table counts statuses); unresolved at as-of: no resolved_at by then, counted as "
    "unresolved up to it"
)
WITHOUT_TIME_LEGEND = (
    "no end time: closed or resolved without a resolved_at, so neither resolved at a "
    "known time nor unresolved; left out of the times"
)


def _fetched(frames: IncidentFrames) -> pd.Timestamp | None:
    """The export's ``fetched_at``; None when it records none (or an unreadable one)."""
    fetched = frames.metadata.get("fetched_at")
    if fetched:
        try:
            return clock.as_of(fetched)
        except ValueError:
            pass  # an unreadable fetched_at: callers say there is none
    return None


def cutoff(frames: IncidentFrames, as_of: Any) -> tuple[pd.Timestamp, str]:
    """The as-of time and where it comes from, in words.

    A stored export is read as of its fetch: counting open incidents up to the moment
    a command runs would give a week-old export a week more of resolution time.
    """
    if as_of is not None:
        return clock.as_of(as_of), "as requested"
    fetched = _fetched(frames)
    if fetched is not None:
        return fetched, "the time of the fetch"
    return clock.as_of(None), "now: the export records no fetch time"


def at_as_of(frames: IncidentFrames, stamp: pd.Timestamp) -> IncidentFrames:
    """The frames as far as they existed at ``stamp``: the incidents that had started by
    then (the one start rule), their links, the threats those link to and their sites.

    An as-of is a moment: an incident that started after it is in no table, count or
    figure computed at it. Sites and the load report stay whole. Statuses and severities
    are still those of the fetch: the export holds no other (:func:`fetch_note`).
    """
    kept = started_by(frames.incidents, stamp)
    if kept.all():
        return frames
    incidents = frames.incidents[kept].reset_index(drop=True)
    ids = incidents["incident_id"]
    links = frames.links[frames.links["incident_id"].isin(ids).to_numpy(dtype=bool)]
    threats = frames.threats[frames.threats["threat_id"].isin(links["threat_id"]).to_numpy(bool)]
    pairs = frames.incident_assets
    pairs = pairs[pairs["incident_id"].isin(ids).to_numpy(dtype=bool)]
    return IncidentFrames(
        incidents,
        links.reset_index(drop=True),
        threats.reset_index(drop=True),
        assets=frames.assets,
        incident_assets=pairs.reset_index(drop=True),
        metadata=frames.metadata,
    )


def fetch_note(frames: IncidentFrames, shown: IncidentFrames, stamp: pd.Timestamp) -> str | None:
    """What an as-of before the fetch changes, in words; None at (or after) the fetch.

    ``frames`` is the whole export, ``shown`` :func:`at_as_of` it. The API reports
    statuses and severities as they are when it is read, so every figure made of them
    describes the fetch, whatever the as-of: the note says so wherever they are shown.
    """
    fetched = _fetched(frames)
    if fetched is None or stamp >= fetched:
        return None
    return (
        f"As of {fmt.timestamp(stamp)}, before the fetch ({fmt.timestamp(fetched)}): "
        f"{fmt.count(len(shown.incidents))} of the export's "
        f"{fmt.count(len(frames.incidents))} incidents had started and are counted. "
        "Their status and their threats' severity are as the API reported them at the "
        "fetch, not as they were at the as-of."
    )


def status_label(status: str, note: str | None) -> str:
    """A status as a headline or column label: "Open (status)", or "Open (status at
    fetch)" when the as-of is before the fetch (:func:`fetch_note`)."""
    return f"{status.capitalize()} (status{' at fetch' if note else ''})"


def as_of_sentence(stamp: pd.Timestamp, source: str) -> str:
    return f"Open incidents counted as unresolved up to {fmt.timestamp(stamp)} ({source})."


def sites_loaded(frames: IncidentFrames) -> bool:
    return bool(frames.metadata.get("assets_loaded"))


def status_grid(incidents: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Statuses (rows) by scope (columns), then all scopes and the share of all."""
    by_scope = analysis.status_breakdown(incidents, by="scope")
    overall = analysis.status_breakdown(incidents)
    scopes = [fmt.label(s) for s in by_scope["scope"].drop_duplicates()]
    statuses = [fmt.label(s) for s in overall["status"]]
    counts: dict[tuple[str, str], int] = {
        (fmt.label(scope), fmt.label(status)): int(n)
        for scope, status, n in by_scope[["scope", "status", "count"]].itertuples(index=False)
    }
    total = int(overall["count"].sum())
    rows = []
    for status, n in zip(statuses, overall["count"], strict=True):
        per_scope = [fmt.count(counts.get((scope, status), 0)) for scope in scopes]
        rows.append([status, *per_scope, fmt.count(n), fmt.share(n / total if total else 0.0)])
    totals = [fmt.count(sum(counts.get((scope, s), 0) for s in statuses)) for scope in scopes]
    rows.append(["total", *totals, fmt.count(total), fmt.share(1.0 if total else 0.0)])
    return ["status", *scopes, ALL, "share"], rows


def resolution_groups(incidents: pd.DataFrame, as_of: pd.Timestamp) -> list[tuple[str, Any]]:
    """(name, row of resolution_summary): all incidents, then each scope that has any."""
    overall = survival.resolution_summary(incidents, as_of=as_of)
    by_scope = survival.resolution_summary(incidents, by="scope", as_of=as_of)
    groups: list[tuple[str, Any]] = [(ALL, overall.iloc[0])]
    groups += [(fmt.label(row["scope"]), row) for _, row in by_scope.iterrows() if row["count"]]
    return groups


def count_fields(row: Any) -> list[str]:
    return [name for name in RESOLUTION_COUNTS if name in row.index]


def times(row: Any, columns: Sequence[str]) -> list[str]:
    """The durations of one group; a group with nothing to estimate says why."""
    estimated = int(row["resolved"]) + int(row["unresolved"])
    if not estimated:
        empty = fmt.NO_INCIDENTS if not row["count"] else NO_END_TIMES
        return [empty] * len(columns)
    return [fmt.duration(row[name]) for name in columns]


#: What the tables say of a site whose status is archived (no longer monitored).
ARCHIVED = "archived"


def exposure_rows(exposure: pd.DataFrame, name: Callable[[Any], str]) -> list[list[str]]:
    """The exposure table's cells, through the one formatter: the site, its status, then
    the figures. A site with no open incident has no worst open severity: "none", not
    "(missing)"; a site with no incident has no median: "no incidents", not "not
    reached"."""
    return [
        [
            name(row.name),
            fmt.label(row.site_status),
            fmt.count(row.incidents),
            fmt.count(row.open),
            fmt.label(row.max_open_severity) if row.open else fmt.NONE,
            fmt.count(row.open_critical),
            fmt.duration(row.km_median) if row.incidents else fmt.NO_INCIDENTS,
        ]
        for row in exposure.itertuples(index=False)
    ]
