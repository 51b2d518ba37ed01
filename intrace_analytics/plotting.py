"""Plots of the analysis results, shaped like seaborn's helpers.

Every function takes a frame, draws on the given ``ax`` (or ``plt.gca()``) and returns
that :class:`~matplotlib.axes.Axes`; none calls ``show()`` or ``savefig``. Empty data
gives an empty, labelled plot. Text taken from the data (threat types, group names,
unknown severity labels) is shown literally: every ``$`` is escaped, so a label like
``$5k`` or ``$$`` never reaches matplotlib's math parser.

One severity order and one colour-blind-safe palette (Okabe & Ito, 2008) serve the
whole package: :data:`SEVERITY_ORDER`, :data:`SEVERITY_COLORS`, :data:`STATUS_COLORS`
and :data:`UNKNOWN_COLOR` for unknown or missing values. The maps (world threat map,
site maps) are in :mod:`intrace_analytics.maps`, which draws with this palette.

>>> from intrace_analytics.plotting import SEVERITY_ORDER, plot_severity
>>> SEVERITY_ORDER
('low', 'medium', 'high', 'critical')
>>> fig, ax = plt.subplots()  # doctest: +SKIP
>>> plot_severity(frames.threats, ax=ax) is ax  # doctest: +SKIP
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from intrace_analytics import clock
from intrace_analytics.analysis import open_backlog, severity_breakdown, status_breakdown
from intrace_analytics.checks import check_choice
from intrace_analytics.schema import SEVERITIES, STATUSES
from intrace_analytics.survival import km_curve, resolution_times

__all__ = [
    "GROUP_COLORS",
    "KM_LABEL",
    "NAIVE_LABEL",
    "SEVERITY_COLORS",
    "SEVERITY_ORDER",
    "STATUS_COLORS",
    "UNKNOWN_COLOR",
    "plot_open_backlog",
    "plot_resolution_times",
    "plot_severity",
    "plot_severity_by_type",
    "plot_status_breakdown",
]

#: Severity levels, lowest first: the order of every bar, stack and legend.
SEVERITY_ORDER: tuple[str, ...] = SEVERITIES

#: Okabe-Ito colours, ordered light to dark so the order survives colour blindness
#: and greyscale printing.
SEVERITY_COLORS: dict[str, str] = {
    "low": "#56B4E9",  # sky blue
    "medium": "#E69F00",  # orange
    "high": "#D55E00",  # vermillion
    "critical": "#000000",  # black
}

#: Okabe-Ito colours per incident status.
STATUS_COLORS: dict[str, str] = {
    "open": "#E69F00",  # orange
    "closed": "#0072B2",  # blue
    "resolved": "#009E73",  # bluish green
}

#: Unknown labels and missing values, everywhere.
UNKNOWN_COLOR = "#999999"

#: Okabe-Ito colours for groups (``by=``), in turn.
GROUP_COLORS: tuple[str, ...] = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#F0E442",
    "#000000",
)

#: Legend entries of :func:`plot_resolution_times` (with an en dash, as in print).
KM_LABEL = "Kaplan\u2013Meier (open counted)"
NAIVE_LABEL = "naive (resolved only)"

#: The label of a missing value (NaN / NA) in ticks and legends.
_MISSING = "missing"

assert set(SEVERITY_COLORS) == set(SEVERITY_ORDER)
assert set(STATUS_COLORS) == set(STATUSES)


def _literal(text: object) -> str:
    """``text`` escaped so matplotlib shows it as written, never as mathtext."""
    return str(text).replace("$", r"\$")


def _label(value: object) -> str:
    """A data value as a label: missing values (None, NaN, NA, NaT) become ``"missing"``."""
    if value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value))):
        return _MISSING
    return str(value)


def _labels(values: Any) -> list[str]:
    return [_label(v) for v in pd.Series(values).astype(object)]


def _as_list(by: str | Sequence[str] | None) -> list[str]:
    if by is None:
        return []
    if isinstance(by, str):
        return [by]
    return list(by)


def _group_labels(frame: pd.DataFrame, by: list[str]) -> list[str]:
    """One label per row: the values of the ``by`` columns, joined with " / "."""
    if not by:
        return [""] * len(frame)
    columns = [_labels(frame[name]) for name in by]
    return [" / ".join(values) for values in zip(*columns, strict=True)]


def _ordered(observed: Sequence[str], known: Sequence[str]) -> list[str]:
    """The known labels in their order, then other labels sorted, then missing."""
    seen = set(observed)
    extra = sorted(seen - set(known) - {_MISSING})
    return [*known, *extra, *([_MISSING] if _MISSING in seen else [])]


def _axes(ax: Axes | None) -> Axes:
    return plt.gca() if ax is None else ax


def _legend(ax: Axes, **kwargs: Any) -> None:
    """A legend, only when something carries a label (an empty legend warns)."""
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(**kwargs)


def _wide_counts(
    frame: pd.DataFrame, by: list[str], column: str, known: Sequence[str]
) -> pd.DataFrame:
    """A tidy ``[*by], <column>, count`` table as one row per group, one column per label.

    Groups keep their order of first appearance; label columns follow ``known``, then
    unknown labels sorted, then missing.
    """
    tidy = pd.DataFrame(
        {
            "group": _group_labels(frame, by),
            "label": _labels(frame[column]),
            "count": pd.to_numeric(frame["count"]).to_numpy(),
        }
    )
    wide = tidy.pivot_table(
        index="group", columns="label", values="count", aggfunc="sum", sort=False
    )
    wide = wide.reindex(columns=_ordered(list(wide.columns), known)).fillna(0).astype("int64")
    # Known labels always show (a 0 is information); others only when they occur.
    shown = [label for label in wide.columns if label in known or wide[label].sum() > 0]
    return wide[shown]


def _duration_in(values: Any, unit: pd.Timedelta) -> np.ndarray:
    """Durations (``Timedelta`` or plain numbers of seconds) in multiples of ``unit``."""
    series = pd.Series(values)
    if pd.api.types.is_timedelta64_dtype(series.dtype):
        return (series / unit).to_numpy(dtype="float64")
    return series.to_numpy(dtype="float64") / unit.total_seconds()


def _naive_time(values: Any) -> np.ndarray:
    """Timestamps as naive UTC ``datetime64`` for matplotlib's date axis."""
    series = pd.to_datetime(pd.Series(values), utc=True)
    return series.dt.tz_localize(None).to_numpy()


def plot_status_breakdown(
    incidents: pd.DataFrame,
    *,
    by: str | Sequence[str] | None = None,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Bars of incidents per status, side by side per group when ``by`` is given.

    Parameters
    ----------
    incidents : DataFrame
        The incidents frame.
    by : str or sequence of str, optional
        Column(s) to group by (e.g. ``"scope"``): one cluster of status bars per group,
        and a legend of the statuses.
    ax : Axes, optional
        Where to draw; ``plt.gca()`` by default.
    **kwargs
        Passed on to :meth:`~matplotlib.axes.Axes.bar`.

    Returns
    -------
    Axes
        ``ax``, with one bar per status (and group) in the order of ``STATUSES``.

    Examples
    --------
    >>> ax = plot_status_breakdown(frames.incidents, by="scope")  # doctest: +SKIP
    """
    ax = _axes(ax)
    columns = _as_list(by)
    breakdown = status_breakdown(incidents, by=by)
    wide = _wide_counts(breakdown, columns, "status", STATUSES)
    if wide.empty:
        wide = pd.DataFrame(columns=list(STATUSES), dtype="int64")
    statuses = list(wide.columns)
    x = np.arange(len(wide))
    width = 0.8 / len(statuses) if columns else 0.8
    for i, status in enumerate(statuses):
        color = STATUS_COLORS.get(status, UNKNOWN_COLOR)
        if columns:
            offset = (i - (len(statuses) - 1) / 2) * width
            ax.bar(
                x + offset,
                wide[status].to_numpy(),
                width,
                color=color,
                label=_literal(status),
                **kwargs,
            )
        else:
            ax.bar(i, int(wide[status].sum()), width, color=color, **kwargs)
    if columns:
        ax.set_xticks(x, [_literal(g) for g in wide.index])
        ax.set_xlabel(_literal(" / ".join(columns)))
        _legend(ax, title="Status")
    else:
        ax.set_xticks(np.arange(len(statuses)), [_literal(s) for s in statuses])
        ax.set_xlabel("Status")
    ax.set_ylabel("Incidents")
    ax.set_title("Incidents by status")
    return ax


def plot_open_backlog(
    incidents: pd.DataFrame,
    *,
    freq: str = "D",
    as_of: Any = None,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """A line of how many incidents were open at the end of each period.

    Parameters
    ----------
    incidents : DataFrame
        The incidents frame.
    freq : str, default "D"
        The period, as for :func:`~intrace_analytics.analysis.open_backlog`.
    as_of : timestamp, optional
        The last instant counted; ``None`` means now (read at call time).
    ax : Axes, optional
        Where to draw; ``plt.gca()`` by default.
    **kwargs
        Passed on to :meth:`~matplotlib.axes.Axes.plot`.

    Returns
    -------
    Axes
        ``ax``, with one line (``time`` against ``open``) labelled "open incidents".

    Examples
    --------
    >>> ax = plot_open_backlog(frames.incidents, freq="W")  # doctest: +SKIP
    """
    ax = _axes(ax)
    backlog = open_backlog(incidents, freq=freq, as_of=as_of)
    if len(backlog):
        kwargs.setdefault("color", STATUS_COLORS["open"])
        ax.plot(
            _naive_time(backlog["time"]),
            backlog["open"].to_numpy(dtype="float64"),
            label="open incidents",
            **kwargs,
        )
        ax.set_ylim(bottom=0)
    ax.set_xlabel("Date (UTC)")
    ax.set_ylabel("Open incidents")
    ax.set_title("Open incidents over time")
    _legend(ax)
    return ax


_UNITS = {"hours": pd.Timedelta(hours=1), "days": pd.Timedelta(days=1)}


def _km_steps(km: pd.DataFrame, unit: pd.Timedelta) -> tuple[np.ndarray, ...]:
    """The KM table as step coordinates, starting from (0, 1) where every curve starts."""
    x = np.concatenate([[0.0], _duration_in(km["time"], unit)])
    survival = np.concatenate([[1.0], km["survival"].to_numpy(dtype="float64")])
    low = np.concatenate([[1.0], km["low"].to_numpy(dtype="float64")])
    high = np.concatenate([[1.0], km["high"].to_numpy(dtype="float64")])
    return x, survival, low, high


def _naive_steps(resolved: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``1 - ECDF`` of the resolved durations alone, starting from (0, 1)."""
    ordered = np.sort(resolved)
    n = len(ordered)
    return (
        np.concatenate([[0.0], ordered]),
        np.concatenate([[1.0], 1.0 - np.arange(1, n + 1) / n]),
    )


def plot_resolution_times(
    incidents: pd.DataFrame,
    *,
    by: str | Sequence[str] | None = None,
    start: str = "started_at",
    as_of: Any = None,
    unit: str = "auto",
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Kaplan-Meier curves of time to resolution, beside the naive resolved-only view.

    Open incidents are right-censored at ``as_of`` and counted by the Kaplan-Meier
    curve (a solid step with its shaded 95 % band); the dashed step is ``1 - ECDF`` of
    the resolved incidents alone, which ignores the open ones and so looks faster.

    Parameters
    ----------
    incidents : DataFrame
        The incidents frame.
    by : str or sequence of str, optional
        Column(s) to group by: one pair of curves per group, each in its own colour.
    start : {"started_at", "created_at"}, default "started_at"
        Where a duration starts, as for
        :func:`~intrace_analytics.survival.resolution_times`.
    as_of : timestamp, optional
        Where open incidents are censored; ``None`` means now, read once at call time so
        every group shares it.
    unit : {"auto", "hours", "days"}, default "auto"
        The x axis' unit; ``"auto"`` takes days when the longest duration passes 72 hours.
    ax : Axes, optional
        Where to draw; ``plt.gca()`` by default.
    **kwargs
        Passed on to :meth:`~matplotlib.axes.Axes.step` for the Kaplan-Meier curves.

    Returns
    -------
    Axes
        ``ax``. Each Kaplan-Meier line's y values are ``1`` followed by the
        ``survival`` column of :func:`~intrace_analytics.survival.km_curve`.

    Examples
    --------
    >>> ax = plot_resolution_times(frames.incidents, by="scope")  # doctest: +SKIP
    """
    check_choice("unit", unit, ("auto", *_UNITS))
    ax = _axes(ax)
    as_of = clock.as_of(as_of)  # read once, so every group is censored at the same time
    columns = _as_list(by)
    if columns and len(incidents):
        labels = pd.Series(_group_labels(incidents, columns), index=incidents.index)
        groups = [(name, incidents.loc[labels == name]) for name in dict.fromkeys(labels)]
    else:
        groups = [("", incidents)]
    times = [(name, resolution_times(frame, start=start, as_of=as_of)) for name, frame in groups]
    times = [(name, rt) for name, rt in times if len(rt)]

    longest = max((rt["duration"].max() for _, rt in times), default=pd.Timedelta(0))
    if unit == "auto":
        longest_hours = float(_duration_in([longest], _UNITS["hours"])[0])
        unit = "days" if longest_hours > 72 else "hours"
    step = _UNITS[unit]

    for i, (name, rt) in enumerate(times):
        color = GROUP_COLORS[i % len(GROUP_COLORS)]
        prefix = f"{_literal(name)}: " if columns else ""
        resolved = rt["resolved"].to_numpy(dtype=bool)
        km = km_curve(rt["duration"], rt["resolved"])
        x, survival, low, high = _km_steps(km, step)
        ax.fill_between(x, low, high, step="post", color=color, alpha=0.2, linewidth=0)
        ax.step(
            x,
            survival,
            where="post",
            color=color,
            label=f"{prefix}{KM_LABEL}",
            **kwargs,
        )
        if resolved.any():
            nx, ny = _naive_steps(_duration_in(rt["duration"], step)[resolved])
            ax.step(
                nx,
                ny,
                where="post",
                color=color,
                linestyle="--",
                label=f"{prefix}{NAIVE_LABEL}",
            )
    ax.set_xlim(left=0)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"Time to resolution ({unit})")
    ax.set_ylabel("Share not yet resolved")
    ax.set_title("Time to resolution")
    _legend(ax)
    return ax


def plot_severity(threats: pd.DataFrame, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
    """Bars of threats per severity, in severity order.

    Parameters
    ----------
    threats : DataFrame
        The threats frame.
    ax : Axes, optional
        Where to draw; ``plt.gca()`` by default.
    **kwargs
        Passed on to :meth:`~matplotlib.axes.Axes.bar`.

    Returns
    -------
    Axes
        ``ax``, with one bar per level of :data:`SEVERITY_ORDER` (also when 0) coloured
        by :data:`SEVERITY_COLORS`, then grey bars for unknown labels (sorted) and for
        missing severities.

    Examples
    --------
    >>> ax = plot_severity(frames.threats)  # doctest: +SKIP
    """
    ax = _axes(ax)
    wide = _wide_counts(severity_breakdown(threats), [], "severity", SEVERITY_ORDER)
    labels = list(wide.columns)
    counts = wide.sum(axis=0).reindex(labels, fill_value=0)
    ax.bar(
        np.arange(len(labels)),
        counts.to_numpy(),
        color=[SEVERITY_COLORS.get(label, UNKNOWN_COLOR) for label in labels],
        **kwargs,
    )
    ax.set_xticks(np.arange(len(labels)), [_literal(label) for label in labels])
    ax.set_xlabel("Severity")
    ax.set_ylabel("Threats")
    ax.set_title("Threats by severity")
    return ax


def plot_severity_by_type(threats: pd.DataFrame, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
    """Bars of threats per ``threat_type``, stacked by severity in severity order.

    Parameters
    ----------
    threats : DataFrame
        The threats frame.
    ax : Axes, optional
        Where to draw; ``plt.gca()`` by default.
    **kwargs
        Passed on to :meth:`~matplotlib.axes.Axes.bar`.

    Returns
    -------
    Axes
        ``ax``, with one stack per threat type (most threats first), one bar container
        per severity, lowest at the bottom, and a legend of the severities.

    Examples
    --------
    >>> ax = plot_severity_by_type(frames.threats)  # doctest: +SKIP
    """
    ax = _axes(ax)
    wide = _wide_counts(
        severity_breakdown(threats, by="threat_type"), ["threat_type"], "severity", SEVERITY_ORDER
    )
    wide = wide.loc[wide.sum(axis=1) > 0]
    # Most threats first; ties by name, so the order never depends on the input's.
    order = sorted(wide.index, key=lambda name: (-int(wide.loc[name].sum()), name))
    wide = wide.reindex(order)
    x = np.arange(len(wide))
    bottom = np.zeros(len(wide), dtype="int64")
    if len(wide):
        for label in wide.columns:
            heights = wide[label].to_numpy()
            ax.bar(
                x,
                heights,
                bottom=bottom,
                color=SEVERITY_COLORS.get(label, UNKNOWN_COLOR),
                label=_literal(label),
                **kwargs,
            )
            bottom = bottom + heights
    ax.set_xticks(x, [_literal(name) for name in wide.index], rotation=30, ha="right")
    ax.set_xlabel("Threat type")
    ax.set_ylabel("Threats")
    ax.set_title("Threats by type and severity")
    _legend(ax, title="Severity")
    return ax
