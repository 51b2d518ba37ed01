"""The report of a load as one self-contained HTML file (:func:`build_report`).

It lays out the tables of :mod:`~intrace_analytics.report._layout` (shared with the text summary,
:mod:`~intrace_analytics.report._text`) and the figures of :mod:`~intrace_analytics.viz._plots`
and :mod:`~intrace_analytics.viz._maps`, and computes nothing of its own beyond layout; every
number, duration and time goes through :mod:`~intrace_analytics._util.format`, so a
quantity reads the same in the HTML report, the text summary and the command line.

The HTML report is rendered from the Jinja2 template ``templates/report.html.j2``
shipped with the package, with autoescaping on, so any text taken from the data
(titles, threat types, ids) is shown as text and never interpreted as markup. CSS is
inline and every figure is a base64 PNG ``data:`` URI: the file makes no request when
opened, and opens offline.

>>> from intrace_analytics.report._html import build_report
>>> build_report(frames, "report.html", as_of="2026-10-01")  # doctest: +SKIP
PosixPath('report.html')
"""

from __future__ import annotations

import base64
import io
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from intrace_analytics._util import format as fmt
from intrace_analytics._util.redact import scrub
from intrace_analytics._version import __version__
from intrace_analytics.analysis import _sites as sites
from intrace_analytics.analysis import _status as analysis
from intrace_analytics.analysis._common import start_times
from intrace_analytics.export._atomic import write_text_atomic
from intrace_analytics.frames._container import IncidentFrames
from intrace_analytics.report import _history as history_layout
from intrace_analytics.report import _layout as tables
from intrace_analytics.viz._labels import threat_type_label

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["HISTORY_SECTIONS", "SECTIONS", "TOP_OPEN", "build_history_report", "build_report"]

#: Pixels per inch of the report's figures: twice the CSS 96, sharp on 2x screens.
FIGURE_DPI = 192

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

#: The sections a history store's report adds after the headline figures; with more than
#: one load its trend replaces the backlog reconstructed from one load's timestamps.
HISTORY_SECTIONS: tuple[tuple[str, str], ...] = (
    ("changes", history_layout.CHANGES_HEADING),
    ("trend", history_layout.TREND_HEADING),
)

#: How many incidents of each kind of change the Changes section names.
NAMED_PER_KIND = 10

#: How many open incidents the "highest linked severity" table lists.
TOP_OPEN = 20

#: Load-report entries, in words; an entry not named here is shown under its own name.
_FIELD_WORDS = {
    "rows": "incidents",
    "links": "links",
    "threats": "threats",
    "stale_dropped": "stale copies dropped",
    "stale_kept": "rows an earlier read returned and the last did not (kept)",
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
    "asset_drift": "data changed between the main and the site reads",
    "drift": "what changed",
    "raw_file": "raw pages kept in",
}
_FILTER_WORDS = {"status": "status", "scope": "scope", "asset_id": "sites"}
#: Each data-quality check in words, as its declaration says it.
_CHECK_WORDS = {check.name: check.words for check in analysis.CHECKS}


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
        states the time and where it came from. An as-of is a moment: incidents that
        started after it are in no table, count or figure; when it is before the
        fetch, every section made of statuses or severities (which the API reports as
        they are when read) says that they describe the fetch.

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
    :func:`~intrace_analytics.analysis._sites.asset_exposure` and one map per site,
    :func:`~intrace_analytics.viz._maps.plot_site_maps`), the threat map (site markers only
    for the sites the load read), the :data:`TOP_OPEN` open incidents with the
    highest linked severity, data-quality findings and provenance.

    One meaning per word: *open*, *closed* and *resolved* alone are statuses; the
    resolution table counts by ``resolved_at`` and says so ("resolved by as-of",
    "unresolved at as-of", and "no end time" for incidents closed or resolved without
    a ``resolved_at`` when ``resolution_summary`` reports them). Provenance shows the
    load report in words without any entry named like a secret (``key``, ``api_key``,
    ``apiKey``, ``X-API-Key``, ... : :func:`intrace_analytics._util.redact.scrub`), so an
    API key can never reach the file. Empty frames give a valid report whose tables
    say "no incidents" or "no findings".

    Examples
    --------
    >>> build_report(frames, "out/report.html", title="Week 40")  # doctest: +SKIP
    PosixPath('out/report.html')
    """
    stamp, source = tables.cutoff(frames, as_of)
    context = _context(frames, title or DEFAULT_TITLE, stamp, source)
    return _render(context, path)


def build_history_report(
    view: history_layout.HistoryView,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    as_of: pd.Timestamp | datetime | str | None = None,
) -> Path:
    """The report of one load of a history store: :func:`build_report` of its frames,
    with the Changes section (what changed since the load before, incidents named by
    title, site and start) and the backlog at each load (:data:`HISTORY_SECTIONS`).

    ``view`` is :func:`~intrace_analytics.report._history.history_view`; ``as_of``
    as for :func:`build_report` (``None``: the load's ``fetched_at``).
    """
    stamp, source = tables.cutoff(view.frames, as_of)
    context = _context(view.frames, title or DEFAULT_TITLE, stamp, source)
    context.update(_history_context(view, context["section_order"]))
    return _render(context, path)


def _render(context: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    env = Environment(
        loader=PackageLoader("intrace_analytics.report", "templates"),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True, default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    html = env.get_template("report.html.j2").render(**context)
    return write_text_atomic(Path(path), html)


# -- HTML: context -------------------------------------------------------------------


def _context(
    export: IncidentFrames, title: str, as_of: pd.Timestamp, source: str
) -> dict[str, Any]:
    """Everything the template shows: the page's frame, then each section's content.

    Every table and figure shows the export as it existed at ``as_of``
    (:func:`~intrace_analytics.report._layout.at_as_of`); the data-quality findings and
    the provenance describe the export as written."""
    frames = tables.at_as_of(export, as_of)
    note = tables.fetch_note(export, frames, as_of)
    incidents, threats = frames.incidents, frames.threats
    loaded = tables.sites_loaded(frames)
    groups = tables.resolution_groups(incidents, as_of)
    return {
        "title": title,
        "as_of": fmt.timestamp(as_of),
        "as_of_sentence": tables.as_of_sentence(as_of, source),
        "fetch_note": note,
        "version": __version__,
        "sections": dict(SECTIONS),
        "section_order": [(id_, h) for id_, h in SECTIONS if loaded or id_ != "sites"],
        "sites_loaded": loaded,
        "exposure_table": _exposure_table(frames, as_of, note) if loaded else None,
        "site_maps_figure": _site_maps_figure(frames) if loaded and len(frames.assets) else None,
        **_headline(incidents, groups[0][1], note),
        "status_table": _status_table(incidents),
        "backlog_note": _backlog_note(incidents, as_of, groups[0][1]),
        "resolution_table": _resolution_table(groups),
        "severity_table": _severity_table(threats),
        **_figures(frames, as_of, loaded),
        "top_open": _top_open(frames, as_of),
        "top_n": TOP_OPEN,
        "quality_table": _quality_table(export),
        "provenance": _provenance(export.metadata),
    }


def _headline(incidents: pd.DataFrame, overall: Any, note: str | None) -> dict[str, Any]:
    """The headline figures: status counts, labelled as such, and the resolution counts
    and median of ``overall`` (the all-incidents row of ``resolution_summary``)."""
    status = incidents["status"]
    median = tables.times(overall, ["km_median", "naive_median"])
    headline = [
        # At an as-of before the fetch, those that had started by then (the note says so).
        ("Incidents", fmt.count(len(incidents))),
        *(
            (tables.status_label(name, note), fmt.count((status == name).sum()))
            for name in ("open", "closed", "resolved")
        ),
        ("Median time to resolve", median[0]),
    ]
    without_time = overall.get(tables.WITHOUT_TIME)
    return {
        "headline": headline,
        "naive_median": median[1],
        "resolved_by_as_of": fmt.count(overall["resolved"]),
        "unresolved_at_as_of": fmt.count(overall["unresolved"]),
        "without_time": None if without_time is None else fmt.count(int(without_time)),
    }


def _history_context(
    view: history_layout.HistoryView, order: list[tuple[str, str]]
) -> dict[str, Any]:
    """The Changes and trend sections of a history store's report, and the section
    order with them after the headline (without the reconstructed backlog once the
    store has a backlog of its own, at more than one load)."""
    from intrace_analytics.viz import _trend  # matplotlib only when a report is drawn

    trend = view.trend
    hide_backlog = len(trend) > 1
    kept = [(i, h) for i, h in order if not (hide_backlog and i == "backlog")]
    trend_table = _table(list(history_layout.TREND_COLUMNS.values()),
                         history_layout.trend_rows(trend))  # fmt: skip
    return {
        "history": True,
        "hide_backlog": hide_backlog,
        "sections": {**dict(SECTIONS), **dict(HISTORY_SECTIONS)},
        "section_order": [kept[0], *HISTORY_SECTIONS, *kept[1:]],
        "span_sentence": history_layout.span_sentence(view),
        "open_sentence": history_layout.backlog_sentence(trend),
        "change_counts": _change_counts(view),
        "change_kinds": [] if view.previous is None else _change_kinds(view.named),
        "named_per_kind": NAMED_PER_KIND,
        "trend_figure": _figure(lambda ax: _trend.plot_trend(trend, ax=ax), size=(8.0, 4.0)),
        "trend_table": trend_table,
    }


def _change_counts(view: history_layout.HistoryView) -> dict[str, Any]:
    words = {**history_layout.KINDS, history_layout.EDITED: history_layout.EDITED_WORDS}
    notes = {**history_layout.KIND_NOTES, history_layout.EDITED: history_layout.EDITED_NOTE}
    rows = [[words[kind], fmt.count(n), notes[kind]] for kind, n in view.counts.items()]
    return _table(["change", "incidents", "what it means"], rows, "no change")


def _change_kinds(named: pd.DataFrame) -> list[dict[str, Any]]:
    """One table per kind of change: its incidents by title, site and start."""
    kinds = []
    for kind, words in history_layout.KINDS.items():
        rows = named[named["change"] == kind]
        if not len(rows):
            continue
        shown = rows.head(NAMED_PER_KIND)
        cells = [
            [row.title, row.site or fmt.NONE, row.started, history_layout.detail(row)]
            for row in shown.itertuples(index=False)
        ]
        columns = ["incident", "site", "started", "before \u2192 after"]
        if kind in ("new", "gone", "left_scope"):
            columns, cells = columns[:3], [c[:3] for c in cells]
        kinds.append(
            {
                "id": f"changes-{kind}",
                "heading": f"{words.capitalize()} ({fmt.count(len(rows))})",
                "note": history_layout.KIND_NOTES[kind][:1].upper()
                + history_layout.KIND_NOTES[kind][1:],
                "order": history_layout.ORDER_WORDS.get(kind, history_layout.ORDER_WORDS[""]),
                "table": _table(columns, cells),
                "more": len(rows) - len(shown),
            }
        )
    return kinds


def _figures(frames: IncidentFrames, as_of: pd.Timestamp, loaded: bool) -> dict[str, Png]:
    """The figures of every section but the sites', each a PNG data URI."""
    from intrace_analytics.viz import _maps as maps
    from intrace_analytics.viz import _plots as plotting  # matplotlib only when a report is drawn

    incidents, threats = frames.incidents, frames.threats
    # Site markers only for the sites this load read: never example data.
    map_assets = frames.assets if loaded else None
    return {
        "status_figure": _figure(
            lambda ax: plotting.plot_status_breakdown(incidents, by="scope", ax=ax)
        ),
        "backlog_figure": _figure(
            lambda ax: plotting.plot_open_backlog(incidents, as_of=as_of, ax=ax)
        ),
        "resolution_figure": _figure(
            lambda ax: plotting.plot_resolution_times(incidents, as_of=as_of, ax=ax)
        ),
        "severity_figure": _figure(lambda ax: plotting.plot_severity(threats, ax=ax)),
        "severity_type_figure": _figure(
            lambda ax: plotting.plot_severity_by_type(threats, ax=ax), size=(8.0, 4.5)
        ),
        "map_figure": _figure(
            lambda ax: maps.plot_threat_map(threats, assets=map_assets, ax=ax), size=(8.0, 6.0)
        ),
    }


#: A cell that holds a count, a share or seconds: right-aligned in the HTML tables.
_NUMBER = re.compile(r"-?[\d,]+(\.\d+)?( %| s)?")


def _table(
    columns: list[str],
    rows: list[list[str]],
    empty: str = fmt.NONE,
    css: str | None = None,
    row_css: list[str | None] | None = None,
) -> dict[str, Any]:
    """A table for the template; ``empty`` is what it says when it has no row;
    ``row_css`` a class per row (None for none)."""
    numeric = [
        i for i in range(1, len(columns)) if rows and all(_NUMBER.fullmatch(row[i]) for row in rows)
    ]
    return {"columns": columns, "rows": rows, "empty": empty, "numeric": numeric, "css": css,
            "row_css": row_css or [None] * len(rows)}  # fmt: skip


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
    headers, rows = tables.status_grid(incidents)
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
    unresolved = int(overall["unresolved"])
    if last == unresolved:
        return f"{text}, the resolution table's \u201cunresolved at as-of\u201d."
    without = int(overall[tables.WITHOUT_TIME]) if tables.WITHOUT_TIME in overall.index else 0
    if without and last == unresolved + without:
        return (
            f"{text}: the {fmt.count(unresolved)} unresolved at as-of and the "
            f"{fmt.count(without)} closed or resolved without a resolved_at."
        )
    return f"{text}."


def _resolution_table(groups: list[tuple[str, Any]]) -> dict[str, Any]:
    counts = tables.count_fields(groups[0][1])
    durations = list(tables.RESOLUTION_TIMES)
    columns = [
        "scope",
        *(tables.RESOLUTION_COUNTS[c] for c in counts),
        *tables.RESOLUTION_TIMES.values(),
    ]
    if tables.WITHOUT_TIME in counts:
        columns[counts.index(tables.WITHOUT_TIME) + 1] = "closed or resolved, no end time"
    rows = [
        [name, *(fmt.count(row[c]) for c in counts), *tables.times(row, durations)]
        for name, row in groups
    ]
    return _table(columns, rows)


def _severity_table(threats: pd.DataFrame) -> dict[str, Any]:
    """Threats per type (rows) and severity (columns), from :func:`severity_breakdown`."""
    long = analysis.severity_breakdown(threats, by="threat_type")
    levels = [fmt.label(level) for level in long["severity"].drop_duplicates()]
    counts: dict[str, dict[str, int]] = {}
    for kind, level, n in zip(long["threat_type"], long["severity"], long["count"], strict=True):
        counts.setdefault(threat_type_label(kind), {})[fmt.label(level)] = int(n)
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
    begin = start_times(incidents)
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


def _exposure_table(
    frames: IncidentFrames, as_of: pd.Timestamp, note: str | None
) -> dict[str, Any]:
    exposure = sites.asset_exposure(frames, as_of=as_of)
    columns = ["site", "site status", "incidents", tables.status_label("open", note).lower(),
               "worst open severity", "open with a critical threat",
               "median time to resolve"]  # fmt: skip
    rows = tables.exposure_rows(exposure, fmt.label)
    # Archived sites are listed after the active ones, and look apart.
    marks: list[str | None] = ["archived" if row[1] == tables.ARCHIVED else None for row in rows]
    return _table(columns, rows, "no sites", row_css=marks)


def _site_maps_figure(frames: IncidentFrames) -> Png:
    from matplotlib.figure import Figure

    from intrace_analytics.viz import _maps as maps

    cols = min(3, len(frames.assets))
    rows = -(-len(frames.assets) // cols)
    figure = Figure(figsize=(3.6 * cols, 3.6 * rows + 0.6), dpi=FIGURE_DPI, layout="constrained")
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
        # The load report repeats the checks' counts for readers of the export alone:
        # here they are the rows above, counted from the frames themselves.
        rows += [
            [f"while loading: {name}", fmt.cell(n), "\u2014"]
            for name, n in loaded.items()
            if n and name not in _CHECK_WORDS
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
        f"{tables.ALL if value is None or value in ('', [], ()) else fmt.cell(value)}"
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


def _figure(draw: Callable[[Axes], Axes], size: tuple[float, float] = (7.0, 4.0)) -> Png:
    """Draw on a fresh Agg figure (never pyplot's) and return it as a PNG data URI."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=FIGURE_DPI)
    FigureCanvasAgg(figure)
    try:
        draw(figure.add_subplot())
    except BaseException:
        figure.clear()
        raise
    return _png(figure)


@dataclass(frozen=True)
class Png:
    """A figure as a PNG data URI, and the width in CSS pixels to show it at: half its
    pixels (:data:`FIGURE_DPI`), so it is as large as at 96 dpi and sharp on 2x screens."""

    uri: str
    width: int


def _png(figure: Figure) -> Png:
    """A figure drawn off pyplot as a PNG data URI (the figure is cleared after)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(figure.canvas, FigureCanvasAgg):
        FigureCanvasAgg(figure)
    try:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", bbox_inches="tight")
    finally:
        figure.clear()
    png = buffer.getvalue()
    encoded = base64.b64encode(png).decode("ascii")
    pixels = int.from_bytes(png[16:20], "big")  # the IHDR chunk's width
    return Png(f"data:image/png;base64,{encoded}", round(pixels * 96 / FIGURE_DPI))
