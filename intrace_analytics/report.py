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
    ("backlog", "Open backlog over time"),
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
_ALL = "all"


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
        The time open incidents are censored at (resolution times) and the backlog
        ends; ``None`` is the current UTC time, read once at call time so every
        section uses the same instant. Naive values are taken as UTC.

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
    (the median time to resolve is the Kaplan-Meier median, open incidents counted),
    status by scope, open backlog, resolution times (Kaplan-Meier vs naive), threat
    severity and types, sites (only when ``metadata["assets_loaded"]``: the table of
    :func:`~intrace_analytics.sites.asset_exposure` and one map per site,
    :func:`~intrace_analytics.maps.plot_site_maps`), the threat map (site markers only
    for the sites the load read), the :data:`TOP_OPEN` open incidents with the
    highest linked severity, data-quality findings and provenance. Provenance shows
    the load report without any entry named like a secret (``key``, ``api_key``,
    ``apiKey``, ``X-API-Key``, ... : :func:`intrace_analytics.redact.scrub`), so an
    API key can never reach the file. Empty frames give a valid report whose tables
    say "none".

    Examples
    --------
    >>> build_report(frames, "out/report.html", title="Week 40")  # doctest: +SKIP
    PosixPath('out/report.html')
    """
    cutoff = clock.as_of(as_of)
    context = _context(frames, title or DEFAULT_TITLE, cutoff)
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
        When open incidents are censored for the resolution times; ``None`` is the
        current UTC time, read at call time. Naive values are taken as UTC.

    Returns
    -------
    str
        Three sections, each a heading and an aligned table:

        - *Incidents by status*: count of each status per scope and overall, with
          the overall share;
        - *Time to resolution*: per group (overall, then each scope) the incidents,
          resolved and open counts, the Kaplan-Meier median with its 95 %
          confidence interval, the 90th percentile and, for contrast, the naive
          median over resolved incidents only. Durations read like ``1 d 18 h`` (as
          in the HTML report); a time the estimate never reaches (fewer than half
          resolved) is ``not reached``;
        - *Threats by severity*: count and share of the distinct threats per
          severity;
        - *Exposure by site*, only when the load read sites
          (``metadata["assets_loaded"]``): per site, most exposed first, the columns
          of :func:`~intrace_analytics.sites.asset_exposure` (names longer than 24
          characters cut), so the whole text fits an 80-column terminal.

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
    stamp = clock.as_of(as_of)
    incidents = frames.incidents
    sections = [
        _section(_STATUS_HEADING, _status_lines(incidents)),
        _section(
            _RESOLUTION_HEADING,
            [
                *_resolution_lines(incidents, stamp),
                "",
                f"Open incidents are counted as unresolved up to {fmt.timestamp(stamp)}.",
            ],
        ),
        _section(_SEVERITY_HEADING, _severity_lines(frames.threats)),
        *([_section(_SITES_HEADING, _sites_lines(frames, stamp))] if _sites_loaded(frames) else []),
        _provenance_line(frames.metadata),
    ]
    return "\n\n".join(sections) + "\n"


# -- HTML: context -------------------------------------------------------------------


def _sites_loaded(frames: IncidentFrames) -> bool:
    return bool(frames.metadata.get("assets_loaded"))


def _context(frames: IncidentFrames, title: str, as_of: pd.Timestamp) -> dict[str, Any]:
    from intrace_analytics import maps, plotting  # matplotlib only when a report is drawn

    incidents, threats = frames.incidents, frames.threats
    loaded = _sites_loaded(frames)
    # Site markers only for the sites this load read: never example data.
    map_assets = frames.assets if loaded else None
    status = incidents["status"]
    overall = survival.resolution_summary(incidents, as_of=as_of).iloc[0]
    by_scope = survival.resolution_summary(incidents, by="scope", as_of=as_of)
    headline = [
        ("Incidents", fmt.count(len(incidents))),
        ("Open", fmt.count((status == "open").sum())),
        ("Resolved", fmt.count((status == "resolved").sum())),
        ("Closed", fmt.count((status == "closed").sum())),
        ("Median time to resolve (open counted)", fmt.duration(overall["km_median"])),
    ]
    return {
        "title": title,
        "as_of": fmt.timestamp(as_of),
        "version": __version__,
        "sections": dict(SECTIONS),
        "section_order": [(id_, h) for id_, h in SECTIONS if loaded or id_ != "sites"],
        "sites_loaded": loaded,
        "exposure_table": _exposure_table(frames, as_of) if loaded else None,
        "site_maps_figure": _site_maps_figure(frames) if loaded and len(frames.assets) else None,
        "headline": headline,
        "naive_median": fmt.duration(overall["naive_median"]),
        "status_table": _status_table(incidents),
        "status_figure": _figure(
            lambda ax: plotting.plot_status_breakdown(incidents, by="scope", ax=ax)
        ),
        "backlog_figure": _figure(
            lambda ax: plotting.plot_open_backlog(incidents, as_of=as_of, ax=ax)
        ),
        "resolution_figure": _figure(
            lambda ax: plotting.plot_resolution_times(incidents, as_of=as_of, ax=ax)
        ),
        "resolution_table": _resolution_table(by_scope),
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


def _table(columns: list[str], rows: list[list[str]]) -> dict[str, Any]:
    return {"columns": columns, "rows": rows}


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
    table = analysis.status_breakdown(incidents, by="scope")
    columns = ["scope", "status", "count", "share"]
    rows = _rows(table, columns, {"share": fmt.share}) if len(incidents) else []
    return _table(columns, rows)


def _resolution_table(summary: pd.DataFrame) -> dict[str, Any]:
    columns = ["scope", "count", "resolved", "open", "km_median", "km_median_low",
               "km_median_high", "km_p90", "naive_median"]  # fmt: skip
    summary = summary[summary["count"] > 0]
    # NaT here means the curve never got there: "not reached", not missing data.
    return _table(columns, _rows(summary, columns, dict.fromkeys(columns[4:], fmt.duration)))


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
    return _table(["threat type", *levels, "total"], rows)


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
    return _table(columns, _rows(table.head(TOP_OPEN), columns))


def _exposure_rows(exposure: pd.DataFrame, name: Callable[[Any], str]) -> list[list[str]]:
    """The exposure table's cells, through the one formatter. A site with no open
    incident has no worst open severity: "none", not "(missing)"."""
    return [
        [
            name(row.name),
            fmt.count(row.incidents),
            fmt.count(row.open),
            fmt.label(row.max_open_severity) if row.open else fmt.NONE,
            fmt.count(row.open_critical),
            fmt.duration(row.km_median),
        ]
        for row in exposure.itertuples(index=False)
    ]


def _exposure_table(frames: IncidentFrames, as_of: pd.Timestamp) -> dict[str, Any]:
    exposure = sites.asset_exposure(frames, as_of=as_of)
    columns = ["site", "incidents", "open", "worst open severity", "open with a critical threat",
               "median time to resolve (open counted)"]  # fmt: skip
    return _table(columns, _exposure_rows(exposure, fmt.label))


def _site_maps_figure(frames: IncidentFrames) -> str:
    from matplotlib.figure import Figure

    from intrace_analytics import maps

    cols = min(3, len(frames.assets))
    rows = -(-len(frames.assets) // cols)
    figure = Figure(figsize=(3.6 * cols, 3.6 * rows + 0.6), dpi=100, layout="constrained")
    return _png(maps.plot_site_maps(frames, ncols=cols, figure=figure))


def _quality_table(frames: IncidentFrames) -> dict[str, Any]:
    table = analysis.data_quality(frames)
    table = table[table["count"] > 0]
    columns = ["check", "count", "example_ids"]
    return _table(columns, _rows(table, columns))


def _provenance(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The load report as rows, without any entry named like a secret."""
    # The report is meant to be shared, the key never is.
    clean = scrub(metadata)
    complete = clean.pop("complete", None)
    if complete is None:
        completeness = "unknown (no load report)"
    elif complete:
        completeness = "complete: every matching incident exactly once"
    else:
        completeness = "NOT proven complete (see the load report)"
    rows = [
        ["completeness", completeness],
        ["fetched_at", fmt.timestamp(clean.pop("fetched_at", None))],
        ["filters", fmt.cell(clean.pop("filters", None))],
        ["package version (report)", __version__],
    ]
    for name, value in clean.items():
        # The load report names its seconds "..._s" (rate_limit_wait_s).
        is_seconds = str(name).endswith("_s") and isinstance(value, int | float)
        rows.append([str(name), fmt.seconds(value) if is_seconds else fmt.cell(value)])
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
    by_scope = analysis.status_breakdown(incidents, by="scope")
    overall = analysis.status_breakdown(incidents)
    scopes = [fmt.label(s) for s in by_scope["scope"].drop_duplicates()]
    statuses = [fmt.label(s) for s in overall["status"]]
    counts: dict[tuple[str, str], int] = {
        (fmt.label(scope), fmt.label(status)): int(n)
        for scope, status, n in by_scope[["scope", "status", "count"]].itertuples(index=False)
    }
    rows = []
    for status, n, share in zip(statuses, overall["count"], overall["share"], strict=True):
        per_scope = [fmt.count(counts.get((scope, status), 0)) for scope in scopes]
        rows.append([status, *per_scope, fmt.count(n), fmt.share(share)])
    total = int(overall["count"].sum())
    totals = [fmt.count(sum(counts.get((scope, s), 0) for s in statuses)) for scope in scopes]
    rows.append(["total", *totals, fmt.count(total), fmt.share(1.0 if total else 0.0)])
    headers = ["status", *scopes, _ALL, "share"]
    return _text_table(headers, rows, right=range(1, len(headers)))


def _resolution_lines(incidents: pd.DataFrame, as_of: pd.Timestamp) -> list[str]:
    overall = survival.resolution_summary(incidents, as_of=as_of)
    by_scope = survival.resolution_summary(incidents, by="scope", as_of=as_of)
    groups: list[tuple[str, Any]] = [(_ALL, overall.iloc[0])]
    groups += [(fmt.label(row["scope"]), row) for _, row in by_scope.iterrows()]
    rows = []
    for name, row in groups:
        interval = f"{fmt.duration(row['km_median_low'])} - {fmt.duration(row['km_median_high'])}"
        rows.append(
            [
                name,
                fmt.count(row["count"]),
                fmt.count(row["resolved"]),
                fmt.count(row["open"]),
                fmt.duration(row["km_median"]),
                interval,
                fmt.duration(row["km_p90"]),
                fmt.duration(row["naive_median"]),
            ]
        )
    headers = ["scope", "incidents", "resolved", "open", "median", "median 95% CI",
               "90th pct", "naive median"]  # fmt: skip
    notes = [
        "",
        "median, 95% CI and 90th pct: Kaplan-Meier estimates that count open incidents;",
        "naive median: resolved incidents only (biased short, shown for contrast).",
    ]
    return _text_table(headers, rows, right=range(1, len(headers))) + notes


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
    notes = [
        "",
        "open: incidents whose status is open; worst open: their highest linked",
        "severity; critical: open incidents with a critical threat; median: Kaplan-Meier",
        "median time to resolve, open incidents counted. An incident shared by sites",
        "counts at each.",
    ]
    return _text_table(headers, rows, right=range(1, len(headers))) + notes


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
