"""The backlog load by load: :func:`plot_trend` draws the status counts of a history's
loads (:meth:`intrace_analytics.History.trend`), the backlog as each load saw it.

It takes the trend frame as data, so this layer knows nothing of how a history is kept.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from intrace_analytics._util import format as fmt
from intrace_analytics.viz import _style as style

__all__ = ["plot_trend"]

#: The most load labels on the x axis; between them, loads keep their tick unlabelled.
MAX_LOAD_LABELS = 8

_COLUMNS = ("fetched_at", "open", "closed", "resolved")


def plot_trend(trend: pd.DataFrame, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
    """Lines of how many incidents were open, closed and resolved at each load.

    The loads are evenly spaced, in order, each labelled with its number and when it
    was fetched: loads are taken when someone runs them, so their spacing in time says
    nothing about the data. The open line, the backlog, is drawn thickest and each of
    its points is labelled with its count.

    Parameters
    ----------
    trend : DataFrame
        One row per load, oldest first, with ``fetched_at``, ``open``, ``closed`` and
        ``resolved`` (as :meth:`intrace_analytics.History.trend` gives).
    ax : Axes, optional
        Where to draw; ``plt.gca()`` by default.
    **kwargs
        Passed on to :meth:`~matplotlib.axes.Axes.plot` for every line.

    Returns
    -------
    Axes
        ``ax``, with one line per status (labelled ``open``, ``closed``, ``resolved``;
        the status colours), the x axis one tick per load. An empty trend gives an
        empty, labelled plot.

    Raises
    ------
    ValueError
        ``trend`` lacks one of the columns above.

    Examples
    --------
    >>> ax = plot_trend(History("history").trend())  # doctest: +SKIP
    >>> [line.get_label() for line in ax.get_lines()]  # doctest: +SKIP
    ['open', 'closed', 'resolved']
    """
    missing = [c for c in _COLUMNS if c not in trend.columns]
    if missing:
        raise ValueError(
            f"trend lacks the column(s) {missing}; expected the frame History.trend() gives "
            f"(with {list(_COLUMNS)})"
        )
    ax = style.axes(ax)
    x = np.arange(len(trend), dtype="float64")
    for status in ("open", "closed", "resolved"):
        options = {"color": style.STATUS_COLORS[status], "marker": "o", **kwargs}
        options.setdefault("linewidth", 2.5 if status == "open" else 1.2)
        ax.plot(x, trend[status].to_numpy(dtype="float64"), label=status, **options)
    for position, value in zip(x, trend["open"], strict=True):
        ax.annotate(
            fmt.count(value),
            (position, float(value)),
            textcoords="offset points",
            xytext=(0, -8),  # below the line: the closed line often runs just above it
            ha="center",
            va="top",
            fontsize="small",
            color="#222222",
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"},
        )
    _load_ticks(ax, trend["fetched_at"])
    ax.set_ylim(bottom=0)
    ax.set_xlabel("Load (when fetched, UTC)")
    ax.set_ylabel("Incidents (status at the load)")
    ax.set_title("Incidents by status at each load")
    style.legend(ax, title="Status", loc="best")
    return ax


def _load_ticks(ax: Axes, fetched: pd.Series) -> None:
    """One tick per load; at most :data:`MAX_LOAD_LABELS` of them labelled (the last
    always), ``2\\n10-08 12:00``: the load's number, then its fetch to the minute."""
    count = len(fetched)
    if not count:
        return
    step = -(-count // MAX_LOAD_LABELS)
    shown = set(range(count - 1, -1, -step))
    labels = [
        f"{i + 1}\n{fmt.timestamp(stamp)[5:16]}" if i in shown else ""
        for i, stamp in enumerate(fetched)
    ]
    ax.set_xticks(np.arange(count, dtype="float64"), labels)
    ax.set_xlim(-0.5, count - 0.5)
