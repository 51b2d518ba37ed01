"""Plots of the analysis results, shaped like seaborn's helpers.

Every function takes a frame, draws on the given ``ax`` (or ``plt.gca()``) and returns
that :class:`~matplotlib.axes.Axes`; none calls ``show()`` or ``savefig``. Empty data
gives an empty, labelled plot. Text taken from the data (threat types, group names,
unknown severity labels) is shown literally: every ``$`` is escaped, so a label like
``$5k`` or ``$$`` never reaches matplotlib's math parser.

One severity order and one colour-blind-safe palette serve the whole package
(:mod:`intrace_analytics.viz._style`). The maps (world threat map, site maps) are in
:mod:`intrace_analytics.viz._maps`, drawn with the same palette.

>>> from intrace_analytics.viz._plots import plot_severity
>>> fig, ax = plt.subplots()  # doctest: +SKIP
>>> plot_severity(frames.threats, ax=ax) is ax  # doctest: +SKIP
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from intrace_analytics._util import clock
from intrace_analytics._util.checks import check_choice
from intrace_analytics.analysis._common import by_list
from intrace_analytics.analysis._status import open_backlog, severity_breakdown, status_breakdown
from intrace_analytics.analysis._survival import km_curve, resolution_times
from intrace_analytics.frames._schema import STATUSES
from intrace_analytics.viz import _style as style
from intrace_analytics.viz._labels import threat_type_label

__all__ = [
    "plot_open_backlog",
    "plot_resolution_times",
    "plot_severity",
    "plot_severity_by_type",
    "plot_status_breakdown",
]


def _wide_counts(
    frame: pd.DataFrame,
    by: list[str],
    column: str,
    known: Sequence[str],
    groups: tuple[list[str], dict[str, str]] | None = None,
) -> pd.DataFrame:
    """A tidy ``[*by], <column>, count`` table as one row per group, one column per label.

    ``groups`` (shown groups in order, and each group's shown label) orders and pools
    the rows; without it groups keep their order of first appearance. Label columns
    follow ``known``, then unknown labels sorted, then missing.
    """
    labels = style.group_labels(frame, by)
    if groups is not None:
        labels = [groups[1].get(label, label) for label in labels]
    tidy = pd.DataFrame(
        {
            "group": labels,
            "label": style.labels(frame[column]),
            "count": pd.to_numeric(frame["count"]).to_numpy(),
        }
    )
    wide = tidy.pivot_table(
        index="group", columns="label", values="count", aggfunc="sum", sort=False
    )
    wide = wide.reindex(columns=style.ordered(list(wide.columns), known))
    if groups is not None:
        wide = wide.reindex(index=groups[0])
    wide = wide.fillna(0).astype("int64")
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
    """Bars of incidents per status; with ``by``, one row of status bars per group.

    Parameters
    ----------
    incidents : DataFrame
        The incidents frame.
    by : str or sequence of str, optional
        Column(s) to group by (e.g. ``"scope"``): horizontal bars, one cluster of status
        bars per group, groups top to bottom in category order (a categorical column's
        categories, e.g. severity low to critical, then other labels, then missing);
        group names of any length stay readable on the y axis. More than
        :data:`style.MAX_GROUPS` groups: the largest stay, the rest are pooled into one
        "other (N groups)" row.
    ax : Axes, optional
        Where to draw; ``plt.gca()`` by default.
    **kwargs
        Passed on to :meth:`~matplotlib.axes.Axes.bar` (:meth:`~matplotlib.axes.Axes.barh`
        with ``by``).

    Returns
    -------
    Axes
        ``ax``, with one bar per status (and group) in the order of ``STATUSES``, and
        with ``by`` a legend of the statuses.

    Examples
    --------
    >>> ax = plot_status_breakdown(frames.incidents, by="scope")  # doctest: +SKIP
    """
    ax = style.axes(ax)
    columns = by_list(by, incidents)
    breakdown = status_breakdown(incidents, by=by)
    if columns:
        sizes = pd.Series(
            pd.to_numeric(breakdown["count"]).to_numpy(),
            index=style.group_labels(breakdown, columns),
        )
        groups = style.cap_groups(
            style.group_order(incidents, columns), sizes.groupby(level=0).sum()
        )
        wide = _wide_counts(breakdown, columns, "status", STATUSES, groups)
        _grouped_status_bars(ax, wide, columns, **kwargs)
    else:
        _status_bars(ax, _wide_counts(breakdown, [], "status", STATUSES), **kwargs)
    ax.set_title("Incidents by status")
    return ax


def _status_bars(ax: Axes, wide: pd.DataFrame, **kwargs: Any) -> None:
    """One vertical bar per status (a column of ``wide``), in the statuses' colours."""
    statuses = list(wide.columns)
    for i, status in enumerate(statuses):
        color = style.STATUS_COLORS.get(status, style.UNKNOWN_COLOR)
        ax.bar(i, int(wide[status].sum()), 0.8, color=color, **kwargs)
    ax.set_xticks(np.arange(len(statuses)), [style.literal(s) for s in statuses])
    ax.set_xlabel("Status")
    ax.set_ylabel("Incidents")


def _grouped_status_bars(ax: Axes, wide: pd.DataFrame, columns: list[str], **kwargs: Any) -> None:
    """One row of horizontal status bars per group (a row of ``wide``), first on top."""
    statuses = list(wide.columns)
    y = np.arange(len(wide))
    height = 0.8 / len(statuses)
    for i, status in enumerate(statuses if len(wide) else []):
        ax.barh(
            y + (i - (len(statuses) - 1) / 2) * height,  # first status on top in each group
            wide[status].to_numpy(),
            height,
            color=style.STATUS_COLORS.get(status, style.UNKNOWN_COLOR),
            label=style.literal(status),
            **kwargs,
        )
    ax.set_yticks(y, [style.literal(g) for g in wide.index])
    if len(wide):
        ax.set_ylim(len(wide) - 0.5, -0.5)  # first group on top
    ax.set_ylabel(style.literal(" / ".join(columns)))
    ax.set_xlabel("Incidents")
    style.legend(ax, title="Status", loc="best")


class _FittingDateLocator(mdates.AutoDateLocator):
    """:class:`~matplotlib.dates.AutoDateLocator` with at most one tick per
    :data:`_INCHES_PER_DATE_TICK` of axis, read when the ticks are drawn: with
    :class:`~matplotlib.dates.ConciseDateFormatter`'s short labels ("Apr", "2026",
    "12:00") they never touch, at the default figure size or a small one."""

    def __init__(self) -> None:
        super().__init__(minticks=2, maxticks=7)

    def __call__(self) -> Any:
        axes = getattr(self.axis, "axes", None)  # a real Axis, not a stand-in
        if axes is not None:
            inches = axes.bbox.width / axes.figure.dpi
            most = int(np.clip(inches / _INCHES_PER_DATE_TICK, 2, 7))
            self.maxticks = dict.fromkeys(self._freqs, most)
        return super().__call__()


#: Room per date tick: wider than the longest concise label ("12:00", "2026") at the
#: default font size, with a gap.
_INCHES_PER_DATE_TICK = 0.7


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
        The period, as for :func:`~intrace_analytics.analysis._status.open_backlog`.
    as_of : timestamp, optional
        The last instant counted; ``None`` means now (read at call time).
    ax : Axes, optional
        Where to draw; ``plt.gca()`` by default.
    **kwargs
        Passed on to :meth:`~matplotlib.axes.Axes.plot`.

    Returns
    -------
    Axes
        ``ax``, with one line (``time`` against ``open``) labelled "unresolved incidents", and
        concise date ticks (:class:`~matplotlib.dates.ConciseDateFormatter`: "Apr",
        "May", ..., the year once) few enough for the axis' width, so labels never
        overlap.

    Examples
    --------
    >>> ax = plot_open_backlog(frames.incidents, freq="W")  # doctest: +SKIP
    """
    ax = style.axes(ax)
    backlog = open_backlog(incidents, freq=freq, as_of=as_of)
    if len(backlog):
        kwargs.setdefault("color", style.STATUS_COLORS["open"])
        ax.plot(
            _naive_time(backlog["time"]),
            backlog["open"].to_numpy(dtype="float64"),
            label="unresolved incidents",
            **kwargs,
        )
        ax.set_ylim(bottom=0)
        locator = _FittingDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel("Date (UTC)")
    ax.set_ylabel("Unresolved incidents")
    ax.set_title("Unresolved incidents over time")
    style.legend(ax)
    return ax


_UNITS = {"hours": pd.Timedelta(hours=1), "days": pd.Timedelta(days=1)}


def _km_steps(km: pd.DataFrame, unit: pd.Timedelta, last: float) -> tuple[np.ndarray, ...]:
    """The KM table as step coordinates, starting from (0, 1) where every curve starts
    and, as lifelines draws it, carried flat to ``last`` (the longest duration, in
    ``unit``s): after the last resolution the incidents still unresolved keep the
    estimate known up to their censoring times, and the curve must show how far that is."""
    x = np.concatenate([[0.0], _duration_in(km["time"], unit)])
    survival = np.concatenate([[1.0], km["survival"].to_numpy(dtype="float64")])
    low = np.concatenate([[1.0], km["low"].to_numpy(dtype="float64")])
    high = np.concatenate([[1.0], km["high"].to_numpy(dtype="float64")])
    if last > x[-1]:
        x = np.append(x, last)
        survival, low, high = (np.append(v, v[-1]) for v in (survival, low, high))
    return x, survival, low, high


def _step_value(x: np.ndarray, y: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The post-step curve through ``(x, y)`` (``x`` sorted, from 0) read at ``at``."""
    return y[np.searchsorted(x, at, side="right") - 1]


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
    curve (a solid step with its shaded 95 % band), which runs to the longest duration
    observed, resolved or not, with a ``+`` where each unresolved incident is censored
    (as lifelines draws it); the dashed step is ``1 - ECDF`` of the resolved incidents
    alone, which ignores the open ones and so looks faster.

    Parameters
    ----------
    incidents : DataFrame
        The incidents frame.
    by : str or sequence of str, optional
        Column(s) to group by: one pair of curves per group, each in its own colour, in
        category order (a categorical column's categories, then other labels, then
        missing); severity groups take :data:`style.SEVERITY_COLORS`, other groups
        :data:`style.GROUP_COLORS` in turn. The legend (upper right) names each group once
        and each line style once. Confidence bands are shaded only for
        up to :data:`style.MAX_BANDS` groups (more overlap into mush); more than
        :data:`style.MAX_GROUPS` groups: the largest stay and the rest are pooled into one
        "other (N groups)" curve.
    start : {"started_at", "created_at"}, default "started_at"
        Where a duration starts, as for
        :func:`~intrace_analytics.analysis._survival.resolution_times`.
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
        ``survival`` column of :func:`~intrace_analytics.analysis._survival.km_curve`,
        and its last value again at the longest duration when an unresolved incident
        outlasts the last resolution. The censoring ticks are a marker-only line
        labelled :data:`style.CENSORED_LABEL`, one ``+`` per unresolved incident at its
        duration, on the curve.

    Examples
    --------
    >>> ax = plot_resolution_times(frames.incidents, by="scope")  # doctest: +SKIP
    """
    check_choice("unit", unit, ("auto", *_UNITS))
    ax = style.axes(ax)
    as_of = clock.as_of(as_of)  # read once, so every group is censored at the same time
    columns = by_list(by, incidents)
    groups, colors = _resolution_groups(incidents, columns)
    times = [(name, resolution_times(frame, start=start, as_of=as_of)) for name, frame in groups]
    times = [(name, rt) for name, rt in times if len(rt)]
    if unit == "auto":
        longest = max((rt["duration"].max() for _, rt in times), default=pd.Timedelta(0))
        longest_hours = float(_duration_in([longest], _UNITS["hours"])[0])
        unit = "days" if longest_hours > 72 else "hours"
    bands = len(times) <= style.MAX_BANDS
    for name, rt in times:
        prefix = f"{style.literal(name)}: " if columns else ""
        _resolution_curves(
            ax, rt, _UNITS[unit], colors[name], prefix, band=bands, thin=bool(columns), **kwargs
        )
    ax.set_xlim(left=0)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"Time to resolution ({unit})")
    ax.set_ylabel("Share not yet resolved")
    ax.set_title("Time to resolution")
    if columns and times:
        _group_legend(ax, [(name, colors[name]) for name, _ in times], " / ".join(columns))
    else:
        style.legend(ax)
    return ax


def _resolution_groups(
    incidents: pd.DataFrame, columns: list[str]
) -> tuple[list[tuple[str, pd.DataFrame]], dict[str, str]]:
    """The groups of ``columns`` to draw (each its name and incidents, in category order,
    the smallest pooled past :data:`style.MAX_GROUPS`) and each group's colour; without
    ``columns``, one unnamed group of every incident."""
    if not columns or not len(incidents):
        return [("", incidents)], {"": style.GROUP_COLORS[0]}
    labels = pd.Series(style.group_labels(incidents, columns), index=incidents.index)
    shown, pooled_as = style.cap_groups(
        style.group_order(incidents, columns), labels.value_counts()
    )
    labels = labels.map(pooled_as)
    groups = [(name, incidents.loc[(labels == name).to_numpy(dtype=bool)]) for name in shown]
    pooled = next((g for g in shown if g not in pooled_as), None)
    colors = style.group_colors(
        shown, severity=style.is_severity(incidents, columns), pooled=pooled
    )
    return groups, colors


def _resolution_curves(
    ax: Axes,
    rt: pd.DataFrame,
    step: pd.Timedelta,
    color: str,
    prefix: str,
    *,
    band: bool,
    thin: bool,
    **kwargs: Any,
) -> None:
    """One group's curves: the Kaplan-Meier step (and its 95 % band when ``band``), and
    the dashed naive step of its resolved incidents (thin when groups share the axes)."""
    resolved = rt["resolved"].to_numpy(dtype=bool)
    durations = _duration_in(rt["duration"], step)
    km = km_curve(rt["duration"], rt["resolved"])
    x, survival, low, high = _km_steps(km, step, float(durations.max()))
    if band:
        ax.fill_between(x, low, high, step="post", color=color, alpha=0.2, linewidth=0)
    ax.step(x, survival, where="post", color=color, label=f"{prefix}{style.KM_LABEL}", **kwargs)
    if not resolved.all():
        # One tick per incident still unresolved, on the curve at its censoring time.
        censored = durations[~resolved]
        ax.plot(censored, _step_value(x, survival, censored), linestyle="none",
                marker="+", markersize=5, markeredgewidth=0.7, color=color,
                label=f"{prefix}{style.CENSORED_LABEL}")  # fmt: skip
    if resolved.any():
        nx, ny = _naive_steps(durations[resolved])
        ax.step(
            nx,
            ny,
            where="post",
            color=color,
            linestyle="--",
            linewidth=1.0 if thin else None,
            label=f"{prefix}{style.NAIVE_LABEL}",
        )


def _group_legend(ax: Axes, groups: list[tuple[str, str]], title: str) -> None:
    """One legend entry per group (its colour), then one per line style and one for the
    censoring tick: N + 3 entries instead of 3N, small enough for the upper right, which
    survival curves leave empty (they fall from 1 at the left)."""
    handles = [Line2D([], [], color=color, linewidth=2) for _, color in groups]
    labels = [style.literal(name) for name, _ in groups]
    handles += [
        Line2D([], [], color="#333333", linestyle="-"),
        Line2D([], [], color="#333333", linestyle="none", marker="+", markersize=6),
        Line2D([], [], color="#333333", linestyle="--", linewidth=1.0),
    ]
    labels += [style.KM_LABEL, style.CENSORED_LABEL, style.NAIVE_LABEL]
    ax.legend(
        handles,
        labels,
        title=style.literal(title),
        loc="upper right",
        fontsize="small",
        title_fontsize="small",
    )


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
        ``ax``, with one bar per level of :data:`style.SEVERITY_ORDER` (also when 0) coloured
        by :data:`style.SEVERITY_COLORS`, then grey bars for unknown labels (sorted) and for
        missing severities.

    Examples
    --------
    >>> ax = plot_severity(frames.threats)  # doctest: +SKIP
    """
    ax = style.axes(ax)
    wide = _wide_counts(severity_breakdown(threats), [], "severity", style.SEVERITY_ORDER)
    labels = list(wide.columns)
    counts = wide.sum(axis=0).reindex(labels, fill_value=0)
    ax.bar(
        np.arange(len(labels)),
        counts.to_numpy(),
        color=[style.severity_color(label) for label in labels],
        **kwargs,
    )
    ax.set_xticks(np.arange(len(labels)), [style.literal(label) for label in labels])
    ax.set_xlabel("Severity")
    ax.set_ylabel("Threats")
    ax.set_title("Threats by severity")
    return ax


def plot_severity_by_type(threats: pd.DataFrame, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
    """Horizontal bars of threats per ``threat_type``, stacked by severity in severity order.

    Threat types are rows (most threats on top), so their names stay readable whatever
    their length or number.

    Parameters
    ----------
    threats : DataFrame
        The threats frame.
    ax : Axes, optional
        Where to draw; ``plt.gca()`` by default.
    **kwargs
        Passed on to :meth:`~matplotlib.axes.Axes.barh`.

    Returns
    -------
    Axes
        ``ax``, with one stacked row per threat type (most threats first, at the top;
        names on the y axis in words, as
        :func:`~intrace_analytics.viz._labels.threat_type_label` writes them), one bar
        container per severity, lowest at the left, and a legend of the severities.

    Examples
    --------
    >>> ax = plot_severity_by_type(frames.threats)  # doctest: +SKIP
    """
    ax = style.axes(ax)
    wide = _wide_counts(
        severity_breakdown(threats, by="threat_type"),
        ["threat_type"],
        "severity",
        style.SEVERITY_ORDER,
    )
    wide = wide.loc[wide.sum(axis=1) > 0]
    # Most threats first; ties by name, so the order never depends on the input's.
    order = sorted(wide.index, key=lambda name: (-int(wide.loc[name].sum()), name))
    wide = wide.reindex(order)
    y = np.arange(len(wide))
    left = np.zeros(len(wide), dtype="int64")
    if len(wide):
        for label in wide.columns:
            widths = wide[label].to_numpy()
            ax.barh(
                y,
                widths,
                left=left,
                color=style.severity_color(label),
                label=style.literal(label),
                **kwargs,
            )
            left = left + widths
        ax.set_ylim(len(wide) - 0.5, -0.5)  # most threats on top
    ax.set_yticks(y, [style.literal(threat_type_label(name)) for name in wide.index])
    ax.set_ylabel("Threat type")
    ax.set_xlabel("Threats")
    ax.set_title("Threats by type and severity")
    style.legend(ax, title="Severity", loc="lower right")
    return ax
