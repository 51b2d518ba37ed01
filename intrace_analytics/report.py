"""The report of a load, as HTML (:func:`build_report`) and as plain text (:func:`summary_text`).

Both compose :mod:`~intrace_analytics.analysis` (and, for the HTML figures,
:mod:`~intrace_analytics.plotting`) and compute nothing of their own beyond layout;
every number, duration and time goes through :mod:`~intrace_analytics.formatting`, so a
quantity reads the same in the HTML report, the text summary and the command line.

The HTML report is rendered from the Jinja2 template ``templates/report.html.j2``
shipped with the package, with autoescaping on, so any text taken from the data
(titles, threat types, ids) is shown as text and never interpreted as markup. CSS is
inline and every figure is a base64 PNG ``data:`` URI: the file makes no request when
opened, and opens offline. The text summary prints nothing: the command line (or a
notebook) decides where it goes.

>>> from intrace_analytics.report import build_report, summary_text
>>> build_report(frames, "report.html", as_of="2026-10-01")  # doctest: +SKIP
PosixPath('report.html')
>>> print(summary_text(frames, as_of="2026-10-01"))  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import io
import os
import re
import textwrap
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from intrace_analytics import analysis, clock, sites, survival
from intrace_analytics import formatting as fmt
from intrace_analytics._version import __version__
from intrace_analytics.fileio import write_text_atomic
from intrace_analytics.frames import IncidentFrames
from intrace_analytics.redact import scrub

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["DEFAULT_TITLE", "SECTIONS", "TOP_OPEN", "build_report", "summary_text"]

#: The report's title when none is given.
DEFAULT_TITLE = "Intrace incidents report"

#: Section ids and headings, in report order.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("headline", "Headline figures"),
    ("status", "Status breakdown by scope"),
    ("backlog", "Unresolved backlog over time"),
    ("resolution", "Resolution times"),
    ("severity", "Threat severity and types"),
    ("sites", "Sites"),
    ("threat-map", "Threat map"),
    ("top-open", "Open incidents with the highest linked severity"),
    ("data-quality", "Data-quality findings"),
    ("provenance", "Provenance"),
)

#: How many open incidents the "highest linked severity" table lists.
TOP_OPEN = 20

_STATUS_HEADING = "Incidents by status"
_RESOLUTION_HEADING = "Time to resolution"
_SEVERITY_HEADING = "Threats by severity"
_SITES_HEADING = "Exposure by site"
#: A site name longer than this is cut in the text summary, so the table fits 80 columns.
_SITE_NAME_WIDTH = 24
#: The text summary's width: an 80-column terminal.
_WIDTH = 80
_ALL = "all"
#: The column ``resolution_summary`` adds for incidents closed or resolved without a
#: ``resolved_at`` (neither resolved at a known time nor open); read when present.
_WITHOUT_TIME = "resolved_without_time"

# One meaning per word: "open", "closed", "resolved" alone are statuses (what the
# incident says); the resolution figures, which count by resolved_at, say so in their
# labels ("resolved by as-of", "unresolved at as-of").
_RESOLUTION_COUNTS = {
    "count": "incidents",
    "resolved": "resolved by as-of",
    "open": "unresolved at as-of",
    _WITHOUT_TIME: "no end time",
}
_RESOLUTION_TIMES = {
    "km_median": "median",
    "km_median_low": "median, 95 % CI low",
    "km_median_high": "median, 95 % CI high",
    "km_p90": "90th percentile",
    "naive_median": "median of resolved only",
}
_RESOLUTION_LEGEND = (
    "resolved by as-of: a resolved_at by the as-of time, whatever the status (the status "
    "table counts statuses); unresolved at as-of: no resolved_at by then, counted as "
    "unresolved up to it"
)
_WITHOUT_TIME_LEGEND = (
    "no end time: closed or resolved without a resolved_at, so neither resolved at a "
    "known time nor unresolved; left out of the times"
)

#: The checks of :func:`~intrace_analytics.analysis.data_quality`, in words.
_CHECK_WORDS = {
    "resolved_or_closed_without_resolved_at": "closed or resolved without a resolution "
    "time (left out of the resolution times)",
    "resolved_before_start": "resolved before it started",
    "updated_before_created": "updated before it was created",
    "open_with_resolved_at": "status open, yet with a resolution time",
    "links_to_undescribed_threats": "links to threats the export does not describe",
    "threats_without_coordinates": "threats without coordinates (not on the maps)",
    "duplicate_links": "duplicate links",
}
#: Load-report entries, in words; an entry not named here is shown under its own name.
_FIELD_WORDS = {
    "rows": "incidents",
    "links": "links",
    "threats": "threats",
    "stale_dropped": "stale copies dropped",
    "threat_conflicts": "conflicting threat copies",
    "duplicates_dropped": "duplicates dropped",
    "pages": "pages",
    "total_reported": "total reported by the API",
    "drift_detected": "data changed during the load",
    "reconciled": "re-read after the change",
    "schema_version": "schema version",
    "base_url": "API base URL",
    "passes": "passes",
    "requests": "requests",
    "retries": "retries",
    "rate_limit_wait_s": "waited for rate limits",
    "assets_loaded": "sites loaded",
    "asset_reads": "site reads",
}
_FILTER_WORDS = {"status": "status", "scope": "scope", "asset_id": "sites"}


def build_report(
    frames: IncidentFrames,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    as_of: pd.Timestamp | datetime | str | None = None,
) -> Path:
    """Write one self-contained HTML report of ``frames`` to ``path``.

    Parameters
    ----------
    frames : IncidentFrames
        The incidents, links and threats, with the load report as ``metadata``.
    path : str or path-like
        Where to write the HTML file; its directory is created if missing. The file is
        written to a temporary file beside it and moved into place, so a reader never
        sees half a report.
    title : str, optional
        The report's title; ``None`` gives :data:`DEFAULT_TITLE`.
    as_of : timestamp, optional
        The time open incidents are counted as unresolved up to (resolution times,
        backlog, how long the top open incidents have been open). ``None`` is the
        export's ``fetched_at`` (``frames.metadata``), so a stored export reads the same
        whenever the report is built; only without a ``fetched_at`` is it the current
        UTC time, and the report says so. Naive values are taken as UTC. The report
        states the time and where it came from.

    Returns
    -------
    Path
        The path written.

    Raises
    ------
    ValueError
        ``as_of`` is not a timestamp.

    Notes
    -----
    Sections (each a ``<section id=...>``, see :data:`SECTIONS`): headline figures
    (status counts, labelled as such, and the Kaplan-Meier median time to resolve),
    status by scope, open backlog, resolution times (Kaplan-Meier vs naive), threat
    severity and types, sites (only when ``metadata["assets_loaded"]``: the table of
    :func:`~intrace_analytics.sites.asset_exposure` and one map per site,
    :func:`~intrace_analytics.maps.plot_site_maps`), the threat map (site markers only
    for the sites the load read), the :data:`TOP_OPEN` open incidents with the
    highest linked severity, data-quality findings and provenance.

    One meaning per word: *open*, *closed* and *resolved* alone are statuses; the
    resolution table counts by ``resolved_at`` and says so ("resolved by as-of",
    "unresolved at as-of", and "no end time" for incidents closed or resolved without
    a ``resolved_at`` when ``resolution_summary`` reports them). Provenance shows the
    load report in words without any entry named like a secret (``key``, ``api_key``,
    ``apiKey``, ``X-API-Key``, ... : :func:`intrace_analytics.redact.scrub`), so an
    API key can never reach the file. Empty frames give a valid report whose tables
    say "no incidents" or "no findings".

    Examples
    --------
    >>> build_report(frames, "out/report.html", title="Week 40")  # doctest: +SKIP
    PosixPath('out/report.html')
    """
    cutoff, source = _cutoff(frames, as_of)
    context = _context(frames, title or DEFAULT_TITLE, cutoff, source)
    env = Environment(
        loader=PackageLoader("intrace_analytics", "templates"),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True, default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    html = env.get_template("report.html.j2").render(**context)
    return write_text_atomic(Path(path), html)


def summary_text(
    frames: IncidentFrames, *, as_of: pd.Timestamp | datetime | str | None = None
) -> str:
    """The status, resolution, severity and (when loaded) site tables as plain text.

    Parameters
    ----------
    frames : IncidentFrames
        The incidents, links and threats, with their load report as ``metadata``.
    as_of : timestamp, optional
        The time open incidents are counted as unresolved up to. ``None`` is the
        export's ``fetched_at`` (``frames.metadata``); only without one is it the
        current UTC time, and the text says so. Naive values are taken as UTC.

    Returns
    -------
    str
        Every line at most 80 characters. Sections, each a heading and aligned tables:

        - *Incidents by status*: count of each status per scope and overall, with
          the overall share;
        - *Time to resolution*: per group (all, then each scope) two tables. The
          counts: incidents, resolved by the as-of time (a ``resolved_at`` by then,
          whatever the status), unresolved at the as-of time and, when
          :func:`~intrace_analytics.survival.resolution_summary` reports it, those
          closed or resolved without a ``resolved_at`` ("no end time"). The times:
          the Kaplan-Meier median with its 95 % confidence interval, the 90th
          percentile and, for contrast, the naive median over resolved incidents
          only. Durations read like ``1 d 18 h`` (as in the HTML report); a time the
          estimate never reaches is ``not reached``, a group without incidents ``no
          incidents``. Then the line saying up to when open incidents are counted
          as unresolved, and why that time;
        - *Threats by severity*: count and share of the distinct threats per
          severity;
        - *Exposure by site*, only when the load read sites
          (``metadata["assets_loaded"]``): per site, most exposed first, the columns
          of :func:`~intrace_analytics.sites.asset_exposure` (names longer than 24
          characters cut).

        Then one provenance line: rows, ``fetched_at`` and whether the load is
        complete, from ``frames.metadata`` (nothing else of it, so never a key).
        The text ends with a newline.

    Raises
    ------
    ValueError
        ``as_of`` is not a timestamp, or a frame lacks a column the tables need.

    See Also
    --------
    intrace_analytics.analysis.status_breakdown
    intrace_analytics.survival.resolution_summary
    intrace_analytics.analysis.severity_breakdown
    intrace_analytics.sites.asset_exposure

    Examples
    --------
    >>> from intrace_analytics.schema import empty_frame
    >>> frames = IncidentFrames(*(empty_frame(t) for t in ("incidents", "links", "threats")))
    >>> print(summary_text(frames, as_of="2026-10-01").splitlines()[0])
    Incidents by status
    """
    stamp, source = _cutoff(frames, as_of)
    incidents = frames.incidents
    sections = [
        _section(_STATUS_HEADING, _status_lines(incidents)),
        _section(
            _RESOLUTION_HEADING,
            [*_resolution_lines(incidents, stamp), "", *_wrap(_as_of_sentence(stamp, source))],
        ),
        _section(_SEVERITY_HEADING, _severity_lines(frames.threats)),
        *([_section(_SITES_HEADING, _sites_lines(frames, stamp))] if _sites_loaded(frames) else []),
        "\n".join(_wrap(_provenance_line(frames.metadata))),
    ]
    return "\n\n".join(sections) + "\n"


# -- as-of ---------------------------------------------------------------------------


def _cutoff(frames: IncidentFrames, as_of: Any) -> tuple[pd.Timestamp, str]:
    """The as-of time and where it comes from, in words.

    A stored export is read as of its fetch: counting open incidents up to the moment
    a command runs would give a week-old export a week more of resolution time.
    """
    if as_of is not None:
        return clock.as_of(as_of), "as requested"
    fetched = frames.metadata.get("fetched_at")
    if fetched:
        try:
            return clock.as_of(fetched), "the time of the fetch"
        except ValueError:
            pass  # an unreadable fetched_at: the fallback below says so
    return clock.as_of(None), "now: the export records no fetch time"


def _as_of_sentence(stamp: pd.Timestamp, source: str) -> str:
    return f"Open incidents counted as unresolved up to {fmt.timestamp(stamp)} ({source})."


def _wrap(text: str) -> list[str]:
    return textwrap.wrap(text, _WIDTH, break_on_hyphens=False)


# -- shared tables -------------------------------------------------------------------


def _sites_loaded(frames: IncidentFrames) -> bool:
    return bool(frames.metadata.get("assets_loaded"))


def _status_grid(incidents: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
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
    return ["status", *scopes, _ALL, "share"], rows


def _resolution_groups(incidents: pd.DataFrame, as_of: pd.Timestamp) -> list[tuple[str, Any]]:
    """(name, row of resolution_summary): all incidents, then each scope that has any."""
    overall = survival.resolution_summary(incidents, as_of=as_of)
    by_scope = survival.resolution_summary(incidents, by="scope", as_of=as_of)
    groups: list[tuple[str, Any]] = [(_ALL, overall.iloc[0])]
    groups += [(fmt.label(row["scope"]), row) for _, row in by_scope.iterrows() if row["count"]]
    return groups


def _count_fields(row: Any) -> list[str]:
    return [name for name in _RESOLUTION_COUNTS if name in row.index]


def _times(row: Any, columns: Sequence[str]) -> list[str]:
    """The durations of one group; a group with nothing to estimate says why."""
    estimated = int(row["resolved"]) + int(row["open"])
    if not estimated:
        empty = fmt.NO_INCIDENTS if not row["count"] else "no end times"
        return [empty] * len(columns)
    return [fmt.duration(row[name]) for name in columns]


# -- HTML: context -------------------------------------------------------------------


def _context(
    frames: IncidentFrames, title: str, as_of: pd.Timestamp, source: str
) -> dict[str, Any]:
    from intrace_analytics import maps, plotting  # matplotlib only when a report is drawn

    incidents, threats = frames.incidents, frames.threats
    loaded = _sites_loaded(frames)
    # Site markers only for the sites this load read: never example data.
    map_assets = frames.assets if loaded else None
    status = incidents["status"]
    groups = _resolution_groups(incidents, as_of)
    overall = groups[0][1]
    median = _times(overall, ["km_median", "naive_median"])
    headline = [
        ("Incidents", fmt.count(len(incidents))),
        *(
            (f"{name.capitalize()} (status)", fmt.count((status == name).sum()))
            for name in ("open", "closed", "resolved")
        ),
        ("Median time to resolve", median[0]),
    ]
    without_time = int(overall[_WITHOUT_TIME]) if _WITHOUT_TIME in overall.index else None
    return {
        "title": title,
        "as_of": fmt.timestamp(as_of),
        "as_of_sentence": _as_of_sentence(as_of, source),
        "version": __version__,
        "sections": dict(SECTIONS),
        "section_order": [(id_, h) for id_, h in SECTIONS if loaded or id_ != "sites"],
        "sites_loaded": loaded,
        "exposure_table": _exposure_table(frames, as_of) if loaded else None,
        "site_maps_figure": _site_maps_figure(frames) if loaded and len(frames.assets) else None,
        "headline": headline,
        "naive_median": median[1],
        "resolved_by_as_of": fmt.count(overall["resolved"]),
        "unresolved_at_as_of": fmt.count(overall["open"]),
        "without_time": None if without_time is None else fmt.count(without_time),
        "status_table": _status_table(incidents),
        "status_figure": _figure(
            lambda ax: plotting.plot_status_breakdown(incidents, by="scope", ax=ax)
        ),
        "backlog_figure": _figure(
            lambda ax: plotting.plot_open_backlog(incidents, as_of=as_of, ax=ax)
        ),
        "backlog_note": _backlog_note(incidents, as_of, overall),
        "resolution_figure": _figure(
            lambda ax: plotting.plot_resolution_times(incidents, as_of=as_of, ax=ax)
        ),
        "resolution_table": _resolution_table(groups),
        "severity_figure": _figure(lambda ax: plotting.plot_severity(threats, ax=ax)),
        "severity_type_figure": _figure(
            lambda ax: plotting.plot_severity_by_type(threats, ax=ax), size=(8.0, 4.5)
        ),
        "severity_table": _severity_table(threats),
        "map_figure": _figure(
            lambda ax: maps.plot_threat_map(threats, assets=map_assets, ax=ax), size=(8.0, 6.0)
        ),
        "top_open": _top_open(frames, as_of),
        "top_n": TOP_OPEN,
        "quality_table": _quality_table(frames),
        "provenance": _provenance(frames.metadata),
    }


#: A cell that holds a count, a share or seconds: right-aligned in the HTML tables.
_NUMBER = re.compile(r"-?[\d,]+(\.\d+)?( %| s)?")


def _table(
    columns: list[str], rows: list[list[str]], empty: str = fmt.NONE, css: str | None = None
) -> dict[str, Any]:
    """A table for the template; ``empty`` is what it says when it has no row."""
    numeric = [
        i for i in range(1, len(columns)) if rows and all(_NUMBER.fullmatch(row[i]) for row in rows)
    ]
    return {"columns": columns, "rows": rows, "empty": empty, "numeric": numeric, "css": css}


def _rows(
    frame: pd.DataFrame,
    columns: list[str],
    formats: Mapping[str, Callable[[Any], str]] | None = None,
) -> list[list[str]]:
    """Cells as text: a column's formatter where its meaning is known, else by type."""
    formatters = [(formats or {}).get(name, fmt.cell) for name in columns]
    return [
        [format_(value) for format_, value in zip(formatters, row, strict=True)]
        for row in frame[columns].itertuples(index=False)
    ]


def _status_table(incidents: pd.DataFrame) -> dict[str, Any]:
    headers, rows = _status_grid(incidents)
    headers[-2:] = ["all scopes", "share of all"]
    return _table(headers, rows if len(incidents) else [], fmt.NO_INCIDENTS)


def _backlog_note(incidents: pd.DataFrame, as_of: pd.Timestamp, overall: Any) -> str:
    """What the backlog's last point counts, and how it relates to the resolution table."""
    backlog = analysis.open_backlog(incidents, as_of=as_of)
    last = int(backlog["open"].iloc[-1]) if len(backlog) else 0
    text = (
        f"Incidents started and not yet resolved (no resolved_at yet) at the end of each "
        f"day, up to {fmt.timestamp(as_of)}: {fmt.count(last)} at the end"
    )
    unresolved = int(overall["open"])
    if last == unresolved:
        return f"{text}, the resolution table's \u201cunresolved at as-of\u201d."
    without = int(overall[_WITHOUT_TIME]) if _WITHOUT_TIME in overall.index else 0
    if without and last == unresolved + without:
        return (
            f"{text}: the {fmt.count(unresolved)} unresolved at as-of and the "
            f"{fmt.count(without)} closed or resolved without a resolved_at."
        )
    return f"{text}."


def _resolution_table(groups: list[tuple[str, Any]]) -> dict[str, Any]:
    counts = _count_fields(groups[0][1])
    times = list(_RESOLUTION_TIMES)
    columns = ["scope", *(_RESOLUTION_COUNTS[c] for c in counts), *_RESOLUTION_TIMES.values()]
    if _WITHOUT_TIME in counts:
        columns[counts.index(_WITHOUT_TIME) + 1] = "closed or resolved, no end time"
    rows = [
        [name, *(fmt.count(row[c]) for c in counts), *_times(row, times)] for name, row in groups
    ]
    return _table(columns, rows)


def _severity_table(threats: pd.DataFrame) -> dict[str, Any]:
    """Threats per type (rows) and severity (columns), from :func:`severity_breakdown`."""
    long = analysis.severity_breakdown(threats, by="threat_type")
    levels = [fmt.label(level) for level in long["severity"].drop_duplicates()]
    counts: dict[str, dict[str, int]] = {}
    for kind, level, n in zip(long["threat_type"], long["severity"], long["count"], strict=True):
        counts.setdefault(fmt.label(kind), {})[fmt.label(level)] = int(n)
    rows = [
        [kind, *(fmt.count(by_level.get(level, 0)) for level in levels),
         fmt.count(sum(by_level.values()))]
        for kind, by_level in counts.items()
        if sum(by_level.values())
    ]  # fmt: skip
    return _table(["threat type", *levels, "total"], rows, "no threats")


def _top_open(frames: IncidentFrames, as_of: pd.Timestamp) -> dict[str, Any]:
    """The open incidents with the highest linked severity, the longest open first."""
    incidents = frames.incidents.reset_index(drop=True)
    severity = analysis.incident_severity(frames)["max_severity"]
    begin = incidents["started_at"].fillna(incidents["created_at"])
    table = pd.DataFrame(
        {
            "incident_id": incidents["incident_id"],
            "title": incidents["title"],
            "scope": incidents["scope"],
            "max_severity": severity,
            "started": begin,
            "open_for": as_of - begin,
            "rank": severity.cat.codes,  # -1 (none known) sorts last
        }
    )
    table = table[(incidents["status"] == "open").fillna(False).to_numpy(dtype=bool)]
    table = table.sort_values(["rank", "open_for"], ascending=[False, False], kind="stable")
    columns = ["incident_id", "title", "scope", "max_severity", "started", "open_for"]
    rows = _rows(
        table.head(TOP_OPEN),
        columns,
        {"max_severity": lambda v: fmt.label(v) if not pd.isna(v) else "none known",
         "open_for": fmt.duration, "started": fmt.timestamp},
    )  # fmt: skip
    headers = ["incident", "title", "scope", "highest linked severity", "started",
               "open for (to as-of)"]  # fmt: skip
    return _table(headers, rows, "no open incidents", css="ids")


def _exposure_rows(exposure: pd.DataFrame, name: Callable[[Any], str]) -> list[list[str]]:
    """The exposure table's cells, through the one formatter. A site with no open
    incident has no worst open severity: "none", not "(missing)"; a site with no
    incident has no median: "no incidents", not "not reached"."""
    return [
        [
            name(row.name),
            fmt.count(row.incidents),
            fmt.count(row.open),
            fmt.label(row.max_open_severity) if row.open else fmt.NONE,
            fmt.count(row.open_critical),
            fmt.duration(row.km_median) if row.incidents else fmt.NO_INCIDENTS,
        ]
        for row in exposure.itertuples(index=False)
    ]


def _exposure_table(frames: IncidentFrames, as_of: pd.Timestamp) -> dict[str, Any]:
    exposure = sites.asset_exposure(frames, as_of=as_of)
    columns = ["site", "incidents", "open (status)", "worst open severity",
               "open with a critical threat", "median time to resolve"]  # fmt: skip
    return _table(columns, _exposure_rows(exposure, fmt.label), "no sites")


def _site_maps_figure(frames: IncidentFrames) -> str:
    from matplotlib.figure import Figure

    from intrace_analytics import maps

    cols = min(3, len(frames.assets))
    rows = -(-len(frames.assets) // cols)
    figure = Figure(figsize=(3.6 * cols, 3.6 * rows + 0.6), dpi=100, layout="constrained")
    return _png(maps.plot_site_maps(frames, ncols=cols, figure=figure))


def _quality_table(frames: IncidentFrames) -> dict[str, Any]:
    """Every finding, one table: the checks of data_quality() and what the load
    counted while normalizing (the load report's ``data_quality``), never a second
    "none" elsewhere on the page."""
    table = analysis.data_quality(frames)
    table = table[table["count"] > 0]
    rows = [
        [_CHECK_WORDS.get(str(check), str(check)), fmt.count(n), fmt.cell(list(ids))]
        for check, n, ids in table[["check", "count", "example_ids"]].itertuples(index=False)
    ]
    loaded = frames.metadata.get("data_quality")
    if isinstance(loaded, Mapping):
        rows += [
            [f"while loading: {name}", fmt.cell(n), "\u2014"] for name, n in loaded.items() if n
        ]
    return _table(["finding", "count", "examples (ids)"], rows, "no findings")


def _filters_text(filters: Any) -> str:
    """The load's filters in words; an absent filter reads "all", not "(missing)"."""
    if filters is None:
        return "unknown"
    if not isinstance(filters, Mapping):
        return fmt.cell(filters)
    parts = [
        f"{_FILTER_WORDS.get(str(name), str(name))}: "
        f"{_ALL if value is None or value in ('', [], ()) else fmt.cell(value)}"
        for name, value in filters.items()
    ]
    return "; ".join(parts) or "none: all incidents"


def _asset_reads_text(reads: Any) -> str:
    if not isinstance(reads, list):
        return fmt.cell(reads)
    if not reads:
        return fmt.NONE
    records = [r for r in reads if isinstance(r, Mapping)]
    unproven = [fmt.label(r.get("asset_id")) for r in records if not r.get("complete")]
    rows = sum(int(r.get("rows") or 0) for r in records)
    text = f"{fmt.count(len(reads))} sites, {fmt.count(rows)} incident\u2013site pairs; "
    if unproven:
        return text + "not proven exact: " + ", ".join(unproven)
    return text + "each read proven exact"


def _provenance(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The load report as rows in words, without any entry named like a secret."""
    # The report is meant to be shared, the key never is.
    clean = scrub(metadata)
    complete = clean.pop("complete", None)
    if complete is None:
        completeness = "unknown (no load report)"
    elif complete:
        completeness = "complete: every matching incident exactly once"
    else:
        completeness = "NOT proven complete (see the load report)"
    fetched = clean.pop("fetched_at", None)
    loaded_version = clean.pop("package_version", None)
    # Findings are listed once, in the data-quality section.
    clean.pop("data_quality", None)
    version = __version__
    if loaded_version is not None and str(loaded_version) != __version__:
        version = f"{__version__} (this report); the export was written by {loaded_version}"
    rows = [
        ["completeness", completeness],
        ["fetched at", fmt.timestamp(fetched) if fetched else "unknown"],
        ["filters", _filters_text(clean.pop("filters", None) if metadata else None)],
        ["package version", version],
    ]
    for name, value in clean.items():
        words = _FIELD_WORDS.get(str(name), str(name))
        # The load report names its seconds "..._s" (rate_limit_wait_s).
        if str(name).endswith("_s") and isinstance(value, int | float):
            text = fmt.seconds(value)
        elif name == "asset_reads":
            text = _asset_reads_text(value)
        else:
            text = fmt.cell(value)
        rows.append([words, text])
    return _table(["field", "value"], rows)


def _figure(draw: Callable[[Axes], Axes], size: tuple[float, float] = (7.0, 4.0)) -> str:
    """Draw on a fresh Agg figure (never pyplot's) and return it as a PNG data URI."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(figure)
    try:
        draw(figure.add_subplot())
    except BaseException:
        figure.clear()
        raise
    return _png(figure)


def _png(figure: Figure) -> str:
    """A figure drawn off pyplot as a PNG data URI (the figure is cleared after)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(figure.canvas, FigureCanvasAgg):
        FigureCanvasAgg(figure)
    try:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", bbox_inches="tight")
    finally:
        figure.clear()
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"data:image/png;base64,{encoded}"


# -- text: sections ------------------------------------------------------------------


def _status_lines(incidents: pd.DataFrame) -> list[str]:
    headers, rows = _status_grid(incidents)
    return _text_table(headers, rows, right=range(1, len(headers)))


def _resolution_lines(incidents: pd.DataFrame, as_of: pd.Timestamp) -> list[str]:
    """Two tables, so each fits 80 columns: the counts, then the times."""
    groups = _resolution_groups(incidents, as_of)
    counts = _count_fields(groups[0][1])
    count_rows = [[name, *(fmt.count(row[c]) for c in counts)] for name, row in groups]
    count_headers = ["scope", *(_RESOLUTION_COUNTS[c] for c in counts)]
    time_rows = []
    for name, row in groups:
        median, low, high, p90, naive = _times(row, list(_RESOLUTION_TIMES))
        ci = (
            median
            if median in (fmt.NO_INCIDENTS, "no end times")
            else fmt.interval(row["km_median_low"], row["km_median_high"])
        )
        time_rows.append([name, median, ci, p90, naive])
    time_headers = ["scope", "median", "median 95% CI", "90th pct", "naive median"]
    legend = _RESOLUTION_LEGEND + (f"; {_WITHOUT_TIME_LEGEND}." if _WITHOUT_TIME in counts else ".")
    notes = [
        "median, 95% CI and 90th pct: Kaplan-Meier estimates that count unresolved "
        "incidents; naive median: resolved incidents only (biased short, for contrast)."
    ]
    return [
        *_text_table(count_headers, count_rows, right=range(1, len(count_headers))),
        "",
        *_wrap(legend),
        "",
        *_text_table(time_headers, time_rows, right=range(1, len(time_headers))),
        "",
        *_wrap(notes[0]),
    ]


def _severity_lines(threats: pd.DataFrame) -> list[str]:
    breakdown = analysis.severity_breakdown(threats)
    rows = [
        [fmt.label(severity), fmt.count(n), fmt.share(share)]
        for severity, n, share in breakdown[["severity", "count", "share"]].itertuples(index=False)
    ]
    total = int(breakdown["count"].sum())
    rows.append(["total", fmt.count(total), fmt.share(1.0 if total else 0.0)])
    return _text_table(["severity", "threats", "share"], rows, right=(1, 2))


def _short_name(name: Any) -> str:
    text = fmt.label(name)
    return text if len(text) <= _SITE_NAME_WIDTH else text[: _SITE_NAME_WIDTH - 3] + "..."


def _sites_lines(frames: IncidentFrames, as_of: pd.Timestamp) -> list[str]:
    exposure = sites.asset_exposure(frames, as_of=as_of)
    headers = ["site", "incidents", "open", "worst open", "critical", "median"]
    rows = _exposure_rows(exposure, _short_name)
    note = (
        "open: incidents whose status is open; worst open: their highest linked "
        "severity; critical: open incidents with a critical threat; median: Kaplan-Meier "
        "median time to resolve, unresolved incidents counted. An incident shared by "
        "sites counts at each."
    )
    return [*_text_table(headers, rows, right=range(1, len(headers))), "", *_wrap(note)]


def _provenance_line(metadata: Mapping[str, Any]) -> str:
    # Three named entries only, so nothing else of the load report (never a key).
    rows = metadata.get("rows")
    fetched = metadata.get("fetched_at")
    complete = metadata.get("complete")
    rows_text = fmt.count(rows) if isinstance(rows, int) and not isinstance(rows, bool) else None
    fetched_text = fmt.timestamp(fetched) if fetched else None
    complete_text = ("yes" if complete else "NO") if isinstance(complete, bool) else None
    return (
        f"Source: {rows_text or 'unknown'} rows, fetched at {fetched_text or 'unknown'}, "
        f"complete: {complete_text or 'unknown'}"
    )


# -- text: layout --------------------------------------------------------------------


def _section(heading: str, lines: list[str]) -> str:
    return "\n".join([heading, "=" * len(heading), *lines])


def _text_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int]
) -> list[str]:
    """Rows of cells as aligned lines: a header, a rule, the rows; ``right`` columns
    are right-aligned, the others left-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    aligned = set(right)

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(width) if i in aligned else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]
