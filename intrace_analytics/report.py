"""One self-contained HTML report of a load: headline figures, tables, plots, provenance.

The report composes :mod:`~intrace_analytics.analysis` and
:mod:`~intrace_analytics.plotting`; it computes nothing of its own beyond formatting.
It is rendered from the Jinja2 template ``templates/report.html.j2`` shipped with the
package, with autoescaping on, so any text taken from the data (titles, threat types,
ids) is shown as text and never interpreted as markup. CSS is inline and every figure
is a base64 PNG ``data:`` URI: the file makes no request when opened, and opens offline.

>>> from intrace_analytics.report import build_report
>>> build_report(frames, "report.html", as_of="2026-10-01")  # doctest: +SKIP
PosixPath('report.html')
"""

from __future__ import annotations

import base64
import io
import os
import tempfile
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from intrace_analytics import analysis, plotting
from intrace_analytics._version import __version__
from intrace_analytics.frames import IncidentFrames

__all__ = ["DEFAULT_TITLE", "SECTIONS", "TOP_OPEN", "build_report"]

#: The report's title when none is given.
DEFAULT_TITLE = "Intrace incidents report"

#: Section ids and headings, in report order.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("headline", "Headline figures"),
    ("status", "Status breakdown by scope"),
    ("backlog", "Open backlog over time"),
    ("resolution", "Resolution times"),
    ("severity", "Threat severity and types"),
    ("threat-map", "Threat map"),
    ("top-open", "Open incidents with the highest linked severity"),
    ("data-quality", "Data-quality findings"),
    ("provenance", "Provenance"),
)

#: How many open incidents the "highest linked severity" table lists.
TOP_OPEN = 20

_MISSING = "(missing)"
_NONE = "none"


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

    Notes
    -----
    Sections (each a ``<section id=...>``, see :data:`SECTIONS`): headline figures
    (the median time to resolve is the Kaplan-Meier median, open incidents counted),
    status by scope, open backlog, resolution times (Kaplan-Meier vs naive), threat
    severity and types, threat map, the :data:`TOP_OPEN` open incidents with the
    highest linked severity, data-quality findings and provenance. Provenance shows
    the load report without any entry whose name contains ``"key"``, so an API key
    can never reach the file. Empty frames give a valid report whose tables say
    "none".

    Examples
    --------
    >>> build_report(frames, "out/report.html", title="Week 40")  # doctest: +SKIP
    PosixPath('out/report.html')
    """
    cutoff = _cutoff(as_of)
    context = _context(frames, title or DEFAULT_TITLE, cutoff)
    env = Environment(
        loader=PackageLoader("intrace_analytics", "templates"),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True, default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    html = env.get_template("report.html.j2").render(**context)
    return _write_atomic(Path(path), html)


# -- context -------------------------------------------------------------------------


def _cutoff(as_of: pd.Timestamp | datetime | str | None) -> pd.Timestamp:
    stamp = pd.Timestamp.now(tz="UTC") if as_of is None else pd.Timestamp(as_of)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _context(frames: IncidentFrames, title: str, as_of: pd.Timestamp) -> dict[str, Any]:
    incidents, threats = frames.incidents, frames.threats
    status = incidents["status"]
    overall = analysis.resolution_summary(incidents, as_of=as_of).iloc[0]
    by_scope = analysis.resolution_summary(incidents, by="scope", as_of=as_of)
    headline = [
        ("Incidents", f"{len(incidents):,}"),
        ("Open", f"{int((status == 'open').sum()):,}"),
        ("Resolved", f"{int((status == 'resolved').sum()):,}"),
        ("Closed", f"{int((status == 'closed').sum()):,}"),
        ("Median time to resolve (open counted)", _duration(overall["km_median"])),
    ]
    return {
        "title": title,
        "as_of": _stamp(as_of),
        "version": __version__,
        "sections": dict(SECTIONS),
        "section_order": SECTIONS,
        "headline": headline,
        "naive_median": _duration(overall["naive_median"]),
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
        "map_figure": _figure(lambda ax: plotting.plot_threat_map(threats, ax=ax), size=(8.0, 6.0)),
        "top_open": _top_open(frames, as_of),
        "top_n": TOP_OPEN,
        "quality_table": _quality_table(frames),
        "provenance": _provenance(frames.metadata),
    }


def _table(columns: list[str], rows: list[list[str]]) -> dict[str, Any]:
    return {"columns": columns, "rows": rows}


def _text(value: Any) -> str:
    """A cell's text: missing values named, timestamps and durations readable."""
    if isinstance(value, Mapping):
        return "; ".join(f"{name}={_text(item)}" for name, item in value.items()) or _NONE
    if isinstance(value, list | tuple):
        return ", ".join(_text(item) for item in value) or _NONE
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
        if isinstance(value, list):
            return ", ".join(_text(item) for item in value) or _NONE
    if value is None or pd.isna(value):
        return _MISSING
    if isinstance(value, pd.Timedelta):
        return _duration(value)
    if isinstance(value, pd.Timestamp | datetime):
        return _stamp(pd.Timestamp(value))
    if isinstance(value, float):
        return f"{value:.1%}" if 0 <= value <= 1 else f"{value:,.2f}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _stamp(value: pd.Timestamp) -> str:
    if value.tzinfo is not None:
        value = value.tz_convert("UTC")
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _duration(value: Any) -> str:
    """A duration as people read it: "not reached" for NaT, else hours or days."""
    if value is None or pd.isna(value):
        return "not reached"
    delta = pd.Timedelta(value)
    hours = delta / pd.Timedelta(hours=1)
    if abs(hours) < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} days"


def _rows(frame: pd.DataFrame, columns: list[str]) -> list[list[str]]:
    return [[_text(value) for value in row] for row in frame[columns].itertuples(index=False)]


def _status_table(incidents: pd.DataFrame) -> dict[str, Any]:
    table = analysis.status_breakdown(incidents, by="scope")
    columns = ["scope", "status", "count", "share"]
    return _table(columns, _rows(table, columns) if len(incidents) else [])


def _resolution_table(summary: pd.DataFrame) -> dict[str, Any]:
    columns = ["scope", "count", "resolved", "open", "km_median", "km_median_low",
               "km_median_high", "km_p90", "naive_median"]  # fmt: skip
    summary = summary[summary["count"] > 0].astype(object)
    for name in columns[4:]:
        # NaT here means the curve never got there: "not reached", not missing data.
        summary[name] = summary[name].map(_duration)
    return _table(columns, _rows(summary, columns))


def _severity_table(threats: pd.DataFrame) -> dict[str, Any]:
    """Threats per type (rows) and severity (columns), from :func:`severity_breakdown`."""
    long = analysis.severity_breakdown(threats, by="threat_type")
    levels = [_text(level) for level in long["severity"].drop_duplicates()]
    counts: dict[str, dict[str, int]] = {}
    for kind, level, count in zip(
        long["threat_type"], long["severity"], long["count"], strict=True
    ):
        counts.setdefault(_text(kind), {})[_text(level)] = int(count)
    rows = [
        [kind, *(f"{by_level.get(level, 0):,}" for level in levels),
         f"{sum(by_level.values()):,}"]
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


def _quality_table(frames: IncidentFrames) -> dict[str, Any]:
    table = analysis.data_quality(frames)
    table = table[table["count"] > 0]
    columns = ["check", "count", "example_ids"]
    return _table(columns, _rows(table, columns))


def _provenance(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The load report as rows, without any entry whose name mentions a key."""
    clean = _without_keys(metadata)
    complete = clean.pop("complete", None)
    if complete is None:
        completeness = "unknown (no load report)"
    elif complete:
        completeness = "complete: every matching incident exactly once"
    else:
        completeness = "NOT proven complete (see the load report)"
    rows = [
        ["completeness", completeness],
        ["fetched_at", _text(clean.pop("fetched_at", None))],
        ["filters", _text(clean.pop("filters", None))],
        ["package version (report)", __version__],
    ]
    rows += [[str(name), _text(value)] for name, value in clean.items()]
    return _table(["field", "value"], rows)


def _without_keys(value: Any) -> Any:
    # Any entry named like a key ("api_key", "apiKey", "key") is dropped at every depth:
    # the report is meant to be shared, the key never is.
    if isinstance(value, Mapping):
        return {
            name: _without_keys(item)
            for name, item in value.items()
            if "key" not in str(name).lower()
        }
    if isinstance(value, list | tuple):
        return [_without_keys(item) for item in value]
    return value


# -- figures and output -------------------------------------------------------------


def _figure(draw: Callable[[Axes], Axes], size: tuple[float, float] = (7.0, 4.0)) -> str:
    """Draw on a fresh Agg figure (never pyplot's) and return it as a PNG data URI."""
    figure = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(figure)
    try:
        draw(figure.add_subplot())
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", bbox_inches="tight")
    finally:
        figure.clear()
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"data:image/png;base64,{encoded}"


def _write_atomic(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed before the rename
        "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp",
        delete=False,
    )  # fmt: skip
    try:
        with handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        # Temporary files are private (0600); a report is an ordinary file for its reader.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(handle.name, 0o666 & ~umask)
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return path
