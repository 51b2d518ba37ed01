"""A plain-text summary of the frames: the tables a terminal user wants first.

:func:`summary_text` renders the status breakdown by scope, the resolution summary
(overall and by scope) and the severity breakdown as aligned plain-text tables, with
one line of provenance. It only formats what :mod:`intrace_analytics.analysis`
computes; it prints nothing, so the CLI (or a notebook) decides where the text goes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd

from intrace_analytics.analysis import severity_breakdown, status_breakdown
from intrace_analytics.clock import as_of as _as_of  # the package's one clock
from intrace_analytics.frames import IncidentFrames
from intrace_analytics.survival import resolution_summary

__all__ = ["summary_text"]

_STATUS_HEADING = "Incidents by status"
_RESOLUTION_HEADING = "Time to resolution"
_SEVERITY_HEADING = "Threats by severity"
_NOT_REACHED = "not reached"
_MISSING = "(missing)"
_ALL = "all"
_UTC = "UTC"


def summary_text(
    frames: IncidentFrames, *, as_of: pd.Timestamp | datetime | str | None = None
) -> str:
    """The status, resolution and severity tables as readable plain text.

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
          median over resolved incidents only. Durations read like ``1 d 18 h``; a
          time the estimate never reaches (fewer than half resolved) is
          ``not reached``;
        - *Threats by severity*: count and share of the distinct threats per
          severity.

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
    intrace_analytics.analysis.resolution_summary
    intrace_analytics.analysis.severity_breakdown

    Examples
    --------
    >>> from intrace_analytics.schema import empty_frame
    >>> frames = IncidentFrames(*(empty_frame(t) for t in ("incidents", "links", "threats")))
    >>> print(summary_text(frames, as_of="2026-10-01").splitlines()[0])
    Incidents by status
    """
    stamp = _as_of(as_of)
    incidents = frames.incidents
    sections = [
        _section(_STATUS_HEADING, _status_table(incidents)),
        _section(
            _RESOLUTION_HEADING,
            [
                *_resolution_table(incidents, stamp),
                "",
                f"Open incidents are counted as unresolved up to {_when(stamp)}.",
            ],
        ),
        _section(_SEVERITY_HEADING, _severity_table(frames.threats)),
        _provenance(frames.metadata),
    ]
    return "\n\n".join(sections) + "\n"


# -- sections ------------------------------------------------------------------------


def _status_table(incidents: pd.DataFrame) -> list[str]:
    by_scope = status_breakdown(incidents, by="scope")
    overall = status_breakdown(incidents)
    scopes = [_label(s) for s in by_scope["scope"].drop_duplicates()]
    statuses = [_label(s) for s in overall["status"]]
    counts: dict[tuple[str, str], int] = {
        (_label(scope), _label(status)): int(count)
        for scope, status, count in by_scope[["scope", "status", "count"]].itertuples(index=False)
    }
    rows = []
    for status, count, share in zip(statuses, overall["count"], overall["share"], strict=True):
        per_scope = [str(counts.get((scope, status), 0)) for scope in scopes]
        rows.append([status, *per_scope, str(int(count)), _percent(share)])
    total = int(overall["count"].sum())
    totals = [str(sum(counts.get((scope, s), 0) for s in statuses)) for scope in scopes]
    rows.append(["total", *totals, str(total), _percent(1.0 if total else 0.0)])
    headers = ["status", *scopes, _ALL, "share"]
    return _table(headers, rows, right=range(1, len(headers)))


def _resolution_table(incidents: pd.DataFrame, as_of: pd.Timestamp) -> list[str]:
    overall = resolution_summary(incidents, as_of=as_of)
    by_scope = resolution_summary(incidents, by="scope", as_of=as_of)
    groups: list[tuple[str, Any]] = [(_ALL, overall.iloc[0])]
    groups += [(_label(row["scope"]), row) for _, row in by_scope.iterrows()]
    rows = []
    for name, row in groups:
        interval = f"{_duration(row['km_median_low'])} - {_duration(row['km_median_high'])}"
        rows.append(
            [
                name,
                str(int(row["count"])),
                str(int(row["resolved"])),
                str(int(row["open"])),
                _duration(row["km_median"]),
                interval,
                _duration(row["km_p90"]),
                _duration(row["naive_median"]),
            ]
        )
    headers = ["scope", "incidents", "resolved", "open", "median", "median 95% CI",
               "90th pct", "naive median"]  # fmt: skip
    notes = [
        "",
        "median, 95% CI and 90th pct: Kaplan-Meier estimates that count open incidents;",
        "naive median: resolved incidents only (biased short, shown for contrast).",
    ]
    return _table(headers, rows, right=range(1, len(headers))) + notes


def _severity_table(threats: pd.DataFrame) -> list[str]:
    breakdown = severity_breakdown(threats)
    rows = [
        [_label(severity), str(int(count)), _percent(share)]
        for severity, count, share in breakdown[["severity", "count", "share"]].itertuples(
            index=False
        )
    ]
    total = int(breakdown["count"].sum())
    rows.append(["total", str(total), _percent(1.0 if total else 0.0)])
    return _table(["severity", "threats", "share"], rows, right=(1, 2))


def _provenance(metadata: dict[str, Any]) -> str:
    rows = metadata.get("rows")
    fetched = metadata.get("fetched_at")
    complete = metadata.get("complete")
    rows_text = str(rows) if isinstance(rows, int) and not isinstance(rows, bool) else "unknown"
    fetched_text = _when(fetched) if fetched else "unknown"
    complete_text = ("yes" if complete else "NO") if isinstance(complete, bool) else "unknown"
    return f"Source: {rows_text} rows, fetched at {fetched_text}, complete: {complete_text}"


# -- formatting ----------------------------------------------------------------------


def _section(heading: str, lines: list[str]) -> str:
    return "\n".join([heading, "=" * len(heading), *lines])


def _table(
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


def _label(value: Any) -> str:
    return _MISSING if value is None or pd.isna(value) else str(value)


def _percent(share: float) -> str:
    return f"{100 * float(share):.1f} %"


def _duration(value: Any) -> str:
    """A duration as the two largest units, e.g. ``1 d 18 h``; NaT is ``not reached``."""
    if value is None or pd.isna(value):
        return _NOT_REACHED
    seconds = pd.Timedelta(value).total_seconds()
    sign = "-" if seconds < 0 else ""
    minutes = round(abs(seconds) / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        text = f"{days} d {hours} h"
    elif hours:
        text = f"{hours} h {mins} min"
    elif mins:
        text = f"{mins} min"
    else:
        return "< 1 min"
    return sign + text


def _when(value: Any) -> str:
    """A timestamp as ``2026-10-01 00:00 UTC``; text that is not one is shown as is."""
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        return str(value)
    if pd.isna(stamp):
        return "unknown"
    stamp = stamp.tz_localize(_UTC) if stamp.tzinfo is None else stamp.tz_convert(_UTC)
    return stamp.strftime("%Y-%m-%d %H:%M:%S UTC")
