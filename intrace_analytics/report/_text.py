"""The text summary of a load (:func:`summary_text`): the status, resolution, severity
and (when loaded) site tables, for an 80-column terminal.

The same tables as the HTML report (:mod:`~intrace_analytics.report._layout`), the same
formatter; it prints nothing: the command line (or a notebook) decides where it goes.

>>> print(summary_text(frames, as_of="2026-10-01"))  # doctest: +SKIP
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd

from intrace_analytics._util import clock
from intrace_analytics._util import format as fmt
from intrace_analytics.analysis import _sites as sites
from intrace_analytics.analysis import _status as analysis
from intrace_analytics.frames import _schema as schema
from intrace_analytics.frames._container import IncidentFrames
from intrace_analytics.history._history import History
from intrace_analytics.report import _history as changes_layout
from intrace_analytics.report._layout import (
    ARCHIVED,
    NO_END_TIMES,
    RESOLUTION_COUNTS,
    RESOLUTION_HEADING,
    RESOLUTION_LEGEND,
    RESOLUTION_TIMES,
    SEVERITY_HEADING,
    SITE_NAME_WIDTH,
    SITES_HEADING,
    STATUS_HEADING,
    WIDTH,
    WITHOUT_TIME,
    WITHOUT_TIME_LEGEND,
    as_of_sentence,
    at_as_of,
    count_fields,
    cutoff,
    exposure_rows,
    fetch_note,
    resolution_groups,
    sites_loaded,
    status_grid,
    times,
)

__all__ = ["changes_text", "history_summary_text", "summary_text"]

#: How many incidents of each kind of change the summary names (``changes`` lists all).
NAMED_IN_SUMMARY = 5

#: Under each later table made of statuses or severities, when the as-of is before the
#: fetch (the first such table says it in full).
AT_FETCH_AGAIN = (
    "Of the incidents started by the as-of; statuses and severities as the API reported "
    "them at the fetch (see Incidents by status)."
)


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
        current UTC time, and the text says so. Naive values are taken as UTC. An
        as-of is a moment: incidents that started after it are in no table. When it
        is before the fetch, the tables made of statuses and severities (which the API
        reports as they are when read) say that they describe the fetch.

    Returns
    -------
    str
        Every line at most 80 characters. Sections, each a heading and aligned tables:

        - *Incidents by status*: count of each status per scope and overall, with
          the overall share;
        - *Time to resolution*: per group (all, then each scope) two tables. The
          counts: incidents, resolved by the as-of time (a ``resolved_at`` by then,
          whatever the status), unresolved at the as-of time and, when
          :func:`~intrace_analytics.analysis._survival.resolution_summary` reports it, those
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
          (``metadata["assets_loaded"]``): per site the columns of
          :func:`~intrace_analytics.analysis._sites.asset_exposure` (names longer than 24
          characters cut), under a caption line per site status: active sites first,
          then archived ones (no longer monitored), each group most exposed first.

        Then one provenance line: rows, ``fetched_at`` and whether the load is
        complete, from ``frames.metadata`` (nothing else of it, so never a key).
        The text ends with a newline.

    Raises
    ------
    ValueError
        ``as_of`` is not a timestamp, or a frame lacks a column the tables need.

    See Also
    --------
    intrace_analytics.analysis._status.status_breakdown
    intrace_analytics.analysis._survival.resolution_summary
    intrace_analytics.analysis._status.severity_breakdown
    intrace_analytics.analysis._sites.asset_exposure

    Examples
    --------
    >>> from intrace_analytics.frames._schema import empty_frame
    >>> frames = IncidentFrames(*(empty_frame(t) for t in ("incidents", "links", "threats")))
    >>> print(summary_text(frames, as_of="2026-10-01").splitlines()[0])
    Incidents by status
    """
    stamp, source = cutoff(frames, as_of)
    shown = at_as_of(frames, stamp)  # what existed at the as-of
    note = fetch_note(frames, shown, stamp)
    # Statuses and severities describe the fetch: said under each table made of them.
    at_fetch = ["", *_wrap(note)] if note else []
    again = ["", *_wrap(AT_FETCH_AGAIN)] if note else []
    incidents = shown.incidents
    sections = [
        _section(STATUS_HEADING, [*_status_lines(incidents), *at_fetch]),
        _section(
            RESOLUTION_HEADING,
            [*_resolution_lines(incidents, stamp), "", *_wrap(as_of_sentence(stamp, source))],
        ),
        _section(SEVERITY_HEADING, [*_severity_lines(shown.threats), *again]),
        *(
            [_section(SITES_HEADING, [*_sites_lines(shown, stamp), *again])]
            if sites_loaded(frames)
            else []
        ),
        "\n".join(_wrap(_provenance_line(frames.metadata))),
    ]
    return "\n\n".join(sections) + "\n"


def _wrap(text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, break_on_hyphens=False)


# -- text: sections ------------------------------------------------------------------


def _status_lines(incidents: pd.DataFrame) -> list[str]:
    headers, rows = status_grid(incidents)
    return _text_table(headers, rows, right=range(1, len(headers)))


def _resolution_lines(incidents: pd.DataFrame, as_of: pd.Timestamp) -> list[str]:
    """Two tables, so each fits 80 columns: the counts, then the times."""
    groups = resolution_groups(incidents, as_of)
    counts = count_fields(groups[0][1])
    count_rows = [[name, *(fmt.count(row[c]) for c in counts)] for name, row in groups]
    count_headers = ["scope", *(RESOLUTION_COUNTS[c] for c in counts)]
    time_rows = []
    for name, row in groups:
        median, low, high, p90, naive = times(row, list(RESOLUTION_TIMES))
        ci = (
            median
            if median in (fmt.NO_INCIDENTS, NO_END_TIMES)
            else fmt.interval(row["km_median_low"], row["km_median_high"])
        )
        time_rows.append([name, median, ci, p90, naive])
    time_headers = ["scope", "median", "median 95% CI", "90th pct", "naive median"]
    legend = RESOLUTION_LEGEND + (f"; {WITHOUT_TIME_LEGEND}." if WITHOUT_TIME in counts else ".")
    note = (
        "median, 95% CI and 90th pct: Kaplan-Meier estimates that count unresolved "
        "incidents; naive median: resolved incidents only (biased short, for contrast)."
    )
    return [
        *_text_table(count_headers, count_rows, right=range(1, len(count_headers))),
        "",
        *_wrap(legend),
        "",
        *_text_table(time_headers, time_rows, right=range(1, len(time_headers))),
        "",
        *_wrap(note),
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
    return text if len(text) <= SITE_NAME_WIDTH else text[: SITE_NAME_WIDTH - 3] + "..."


def _sites_lines(frames: IncidentFrames, as_of: pd.Timestamp) -> list[str]:
    exposure = sites.asset_exposure(frames, as_of=as_of)
    headers = ["site", "incidents", "open", "worst open", "critical", "median"]
    cells = exposure_rows(exposure, _short_name)
    # The site status is each group's caption (a column would not fit 80 columns):
    # active sites first, archived ones apart, as asset_exposure orders them.
    table = _text_table(headers, [[row[0], *row[2:]] for row in cells], right=range(1, 6))
    lines, status = table[:2], None
    for row, line in zip(cells, table[2:], strict=True):
        if row[1] != status:
            status = row[1]
            retired = " (no longer monitored)" if status == ARCHIVED else ""
            lines.append(f"site status {status}{retired}:")
        lines.append(line)
    note = (
        "open: incidents whose status is open; worst open: their highest linked "
        "severity; critical: open incidents with a critical threat; median: Kaplan-Meier "
        "median time to resolve, unresolved incidents counted. An incident shared by "
        "sites counts at each."
    )
    return [*lines, "", *_wrap(note)]


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


# -- text: a history store ----------------------------------------------------------


def history_summary_text(
    view: changes_layout.HistoryView, *, as_of: pd.Timestamp | datetime | str | None = None
) -> str:
    """What changed since the previous load, then :func:`summary_text` of the load
    shown (``view``: :func:`~intrace_analytics.report._history.history_view`); every line
    at most 80 characters."""
    lines = [*_wrap(changes_layout.span_sentence(view))]
    sentence = changes_layout.backlog_sentence(view.trend)
    if sentence:
        lines += ["", *_wrap(sentence)]
    lines += ["", *count_lines(view)]
    if view.previous is not None:
        for kind, words in changes_layout.KINDS.items():
            rows = view.named[view.named["change"] == kind]
            if not len(rows):
                continue
            lines += ["", f"{words.capitalize()} ({fmt.count(len(rows))}):"]
            lines += [changes_layout.named_line(r, WIDTH) for r in
                      rows.head(NAMED_IN_SUMMARY).itertuples(index=False)]  # fmt: skip
            if len(rows) > NAMED_IN_SUMMARY:
                lines.append(f"  ... and {fmt.count(len(rows) - NAMED_IN_SUMMARY)} more")
    section = _section(changes_layout.CHANGES_HEADING, lines)
    return section + "\n\n" + summary_text(view.frames, as_of=as_of)


def count_lines(view: changes_layout.HistoryView) -> list[str]:
    """One line per table: its changes counted by kind (``incidents: 112 new, ...``)."""
    lines = [changes_layout.count_line("incidents", view.counts)]
    lines += [changes_layout.count_line(t, counts) for t, counts in view.others.items()]
    return [line for part in lines for line in _wrap(part)]


def changes_text(history: History, since: Any = None, until: Any = None, *,
                 table: str = "incidents") -> str:  # fmt: skip
    """Every change of ``table`` between two loads (as :meth:`History.changes` chooses
    them), named for a reader, one line each, at most 80 characters a line."""
    changes = history.changes(since, until, table=table)
    loads = history.loads
    end = _load_at(loads, until, default=len(loads) - 1)
    start = _load_at(loads, since, default=end - 1) if end >= 0 else -1
    if end < 0 or start >= end:
        return f"No change of {table}: fewer than two loads in the span.\n"
    names = changes_layout.key_names(history.as_of(loads["fetched_at"].iloc[end]), table)
    if start >= 0:
        before = changes_layout.key_names(history.as_of(loads["fetched_at"].iloc[start]), table)
        names = pd.concat([names, before[~before.index.isin(names.index)]])
    span = (f"from {changes_layout.load_words(loads.iloc[start])}" if start >= 0
            else "from no load")  # fmt: skip
    head = f"Changes of {table} {span} to {changes_layout.load_words(loads.iloc[end])}:"
    counts = (changes_layout.incident_counts(changes) if table == "incidents"
              else changes_layout.table_counts(changes, table))  # fmt: skip
    lines = [*_wrap(head), *_wrap(changes_layout.count_line(table, counts))]
    return "\n".join(lines + _change_listing(changes, table, names)) + "\n"


def _load_at(loads: pd.DataFrame, moment: Any, default: int) -> int:
    """The position of the last load at or before ``moment`` (-1: none)."""
    if moment is None:
        return default
    return int((loads["fetched_at"] <= clock.as_of(moment)).sum()) - 1


def _change_listing(changes: pd.DataFrame, table: str, names: pd.Series) -> list[str]:
    """Per kind of change, a heading and one line per key (its fields, for edits)."""
    keys = list(schema.TABLES[table].key_columns)
    key = changes[keys].astype(str).agg("\x1f".join, axis=1) if len(changes) else changes[keys]
    frame = changes.assign(_key=key, _name=[names.get(k, changes_layout.short_id(k)) for k in key])
    lines: list[str] = []
    for kind in dict.fromkeys([*changes_layout.KINDS, *frame["change"]]):
        rows = frame[frame["change"] == kind]
        if not len(rows):
            continue
        grouped = rows.groupby("_key", sort=False)
        lines += ["", f"{kind} ({fmt.count(grouped.ngroups)}):"]
        for _, group in grouped:
            first = group.iloc[0]
            if kind in ("new", "gone", "left_scope"):
                after = ""
            elif kind == changes_layout.EDITED or len(group) > 1:
                after = ", ".join(group["field"].astype(str))
            else:
                after = f"{fmt.label(first['before'])} \u2192 {fmt.label(first['after'])}"
            lines.append(_named(str(first["_name"]), after))
    return lines


def _named(name: str, after: str) -> str:
    room = WIDTH - 2 - (len(after) + 2 if after else 0)
    if room < 24:  # a long list of fields goes on its own line
        fields = textwrap.wrap(after, WIDTH - 4, break_on_hyphens=False)
        return "\n".join([_named(name, ""), *("    " + x for x in fields)])
    text = changes_layout.shorten(name, room)
    return f"  {text.ljust(room)}  {after}" if after else f"  {text}"


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
