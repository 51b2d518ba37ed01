"""plotting: each plot's bars, points, lines and labels, read back from the returned Axes.

The maps' own tests are in ``test_maps.py``; the world map also takes part in the shared
behaviour below (empty data, ``ax``, literal text).

Expected values are counted here independently (``value_counts``, ``crosstab``) from
the session's sandbox frames (``sandbox_frames``, copied before any change), never read
from the plotting code.
"""

from __future__ import annotations

import base64
import io
import itertools
import re
from collections.abc import Callable
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display, no window, same pixels everywhere

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.colors import to_rgba

from intrace_analytics import (
    IncidentFrames,
    build_report,
    km_curve,
    open_backlog,
    plot_open_backlog,
    plot_resolution_times,
    plot_severity,
    plot_severity_by_type,
    plot_status_breakdown,
    plot_threat_map,
    resolution_times,
)
from intrace_analytics._util.format import MISSING
from intrace_analytics.frames._schema import SEVERITIES, STATUSES, empty_frame
from intrace_analytics.viz._maps import SITE_LABEL
from intrace_analytics.viz._style import (
    CENSORED_LABEL,
    GROUP_COLORS,
    KM_LABEL,
    MAX_BANDS,
    MAX_GROUPS,
    NAIVE_LABEL,
    OTHER_COLOR,
    SEVERITY_COLORS,
    SEVERITY_ORDER,
    STATUS_COLORS,
    UNKNOWN_COLOR,
)
from tests.helpers import assert_value_error_names

# The sandbox's history ends at this fixed instant; censoring there keeps results stable.
AS_OF = pd.Timestamp("2026-10-01T00:00:00Z")


def _bars(ax: Axes) -> list[Any]:
    return [patch for container in ax.containers for patch in container]


def _heights(container: Any) -> list[float]:
    return [bar.get_height() for bar in container]


def _ticks(ax: Axes) -> list[str]:
    return [label.get_text() for label in ax.get_xticklabels()]


def _legend_texts(ax: Axes) -> list[str]:
    legend = ax.get_legend()
    assert legend is not None
    return [text.get_text() for text in legend.get_texts()]


def _rgba(color: str) -> tuple[float, ...]:
    return to_rgba(color)


def _yticks(ax: Axes) -> list[str]:
    return [label.get_text() for label in ax.get_yticklabels()]


def _widths(container: Any) -> list[float]:
    return [bar.get_width() for bar in container]


def _overlapping_labels(labels: list[Any]) -> list[tuple[str, str]]:
    """Pairs of drawn, non-empty tick labels whose bounding boxes overlap (the figure
    must have been drawn)."""
    shown = [t for t in labels if t.get_visible() and t.get_text()]
    boxes = [(t.get_text(), t.get_window_extent()) for t in shown]
    return [
        (a, b)
        for i, (a, box_a) in enumerate(boxes)
        for b, box_b in boxes[i + 1 :]
        if box_a.overlaps(box_b)
    ]


def _assert_ticks_apart(ax: Axes) -> None:
    ax.figure.canvas.draw()
    assert _overlapping_labels(ax.get_xticklabels()) == []
    assert _overlapping_labels(ax.get_yticklabels()) == []


def _with_max_severity(frames: IncidentFrames) -> pd.DataFrame:
    """Incidents with a ``max_severity`` column (ordered, an undocumented label ranked
    below ``low`` as the schema does, some missing), rows in a shuffled order so
    appearance order differs from category order."""
    incidents = frames.incidents.copy()
    values = np.array(["medium", "high", "low", "critical", "extreme", None], dtype=object)
    labels = values[np.arange(len(incidents)) % len(values)]
    incidents["max_severity"] = pd.Categorical(
        labels, categories=["extreme", *SEVERITIES], ordered=True
    )
    return incidents.sample(frac=1.0, random_state=1).reset_index(drop=True)


def _with_many_sites(frames: IncidentFrames, n: int) -> pd.DataFrame:
    """Incidents with a ``site`` column of ``n`` string groups of unequal sizes, plus
    a few missing."""
    incidents = frames.incidents.copy()
    rows = np.arange(len(incidents))
    sites = np.array([f"Site {chr(65 + i)} warehouse" for i in range(n)], dtype=object)
    # Site i is drawn i + 1 times in each run of n (n + 1) / 2 rows: unequal sizes.
    weights = np.repeat(np.arange(n), np.arange(1, n + 1))
    labels = sites[weights[rows % len(weights)]]
    labels[:4] = None
    incidents["site"] = pd.Series(labels, dtype=pd.StringDtype())
    return incidents


def _with_unknown_severities(threats: pd.DataFrame) -> pd.DataFrame:
    """Threats where a few severities are an undocumented label and a few are missing."""
    out = threats.copy()
    values = out["severity"].astype(object)
    values.iloc[:5] = "extreme"
    values.iloc[5:8] = None
    out["severity"] = pd.Categorical(values, categories=["extreme", *SEVERITIES], ordered=True)
    return out


# -- palette -------------------------------------------------------------------------


def test_one_severity_order_and_palette() -> None:
    assert SEVERITY_ORDER == SEVERITIES == ("low", "medium", "high", "critical")
    assert list(SEVERITY_COLORS) == list(SEVERITY_ORDER)
    assert list(STATUS_COLORS) == list(STATUSES)
    colours = [*SEVERITY_COLORS.values(), UNKNOWN_COLOR]
    assert len({_rgba(c) for c in colours}) == len(colours)
    assert len({_rgba(c) for c in GROUP_COLORS}) == len(GROUP_COLORS)


#: Colour vision deficiencies as linear-RGB matrices (Machado, Oliveira & Fernandes 2009,
#: severity 1.0): each keeps lightness roughly and changes hue.
VISIONS = {
    "typical": np.eye(3),
    "protanopia": np.array(
        [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
         [-0.003882, -0.048116, 1.051998]]
    ),
    "deuteranopia": np.array(
        [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
         [-0.011820, 0.042940, 0.968881]]
    ),
    "tritanopia": np.array(
        [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
         [0.004733, 0.691367, 0.303900]]
    ),
}  # fmt: skip


def _lightness(colour: str, vision: np.ndarray) -> float:
    """CIE L* (0 black .. 100 white) of an sRGB colour as seen with ``vision``: the grey
    it prints as."""
    rgb = np.asarray(to_rgba(colour)[:3])
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    y = float(np.clip(vision @ linear, 0, 1) @ [0.2126, 0.7152, 0.0722])
    return 116 * y ** (1 / 3) - 16 if y > 216 / 24389 else 24389 / 27 * y


@pytest.mark.parametrize("vision", VISIONS)
def test_severity_palette_is_ordered_in_greyscale_and_for_colour_blind_readers(
    vision: str,
) -> None:
    # Lightness falls from low to critical by a clear step (15 L*: tell-apart in print)
    # in greyscale and under each deficiency; the lightest still shows on white.
    lightness = [_lightness(SEVERITY_COLORS[s], VISIONS[vision]) for s in SEVERITY_ORDER]
    steps = -np.diff(lightness)
    assert (steps >= 15).all(), dict(zip(SEVERITY_ORDER, np.round(lightness, 1), strict=True))
    assert lightness[0] <= 85


# -- status --------------------------------------------------------------------------


def test_status_bars_equal_an_independent_count(sandbox_frames: IncidentFrames, ax: Axes) -> None:
    out = plot_status_breakdown(sandbox_frames.incidents, ax=ax)
    assert out is ax
    expected = sandbox_frames.incidents["status"].astype(object).value_counts()
    bars = _bars(ax)
    assert _ticks(ax) == list(STATUSES)
    assert [b.get_height() for b in bars] == [expected.get(s, 0) for s in STATUSES]
    assert [b.get_facecolor() for b in bars] == [_rgba(STATUS_COLORS[s]) for s in STATUSES]
    assert ax.get_xlabel() == "Status"
    assert ax.get_ylabel() == "Incidents"


def test_status_bars_grouped_by_scope(sandbox_frames: IncidentFrames, ax: Axes) -> None:
    plot_status_breakdown(sandbox_frames.incidents, by="scope", ax=ax)
    scopes = sandbox_frames.incidents["scope"]
    incidents = sandbox_frames.incidents.astype({"scope": object, "status": object})
    expected = pd.crosstab(incidents["scope"], incidents["status"])
    groups = _yticks(ax)
    # Groups in the scope categorical's order (the documented SCOPES first), top down.
    assert groups == [s for s in scopes.cat.categories if s in expected.index]
    y0, y1 = ax.get_ylim()
    assert y0 > y1  # first group on top
    assert len(ax.containers) == len(STATUSES)
    for status, container in zip(STATUSES, ax.containers, strict=True):
        assert _widths(container) == [expected.loc[g].get(status, 0) for g in groups]
        assert {p.get_facecolor() for p in container} == {_rgba(STATUS_COLORS[status])}
    assert _legend_texts(ax) == list(STATUSES)
    assert ax.get_ylabel() == "scope"
    assert ax.get_xlabel() == "Incidents"
    _assert_ticks_apart(ax)


def test_status_groups_in_severity_order_missing_last(
    sandbox_frames: IncidentFrames, ax: Axes
) -> None:
    incidents = _with_max_severity(sandbox_frames)
    plot_status_breakdown(incidents, by="max_severity", ax=ax)
    # Category order, not appearance (the rows are shuffled): the known levels low to
    # critical, then the label outside the scale, then missing last.
    assert _yticks(ax) == [*SEVERITY_ORDER, "extreme", MISSING]
    labels = incidents["max_severity"].astype(object).fillna(MISSING)
    expected = pd.crosstab(labels, incidents["status"].astype(object))
    for status, container in zip(STATUSES, ax.containers, strict=True):
        assert _widths(container) == [expected.loc[g].get(status, 0) for g in _yticks(ax)]


def test_status_many_groups_are_capped_with_other(sandbox_frames: IncidentFrames, ax: Axes) -> None:
    incidents = _with_many_sites(sandbox_frames, 14)
    plot_status_breakdown(incidents, by="site", ax=ax)
    groups = _yticks(ax)
    assert len(groups) == MAX_GROUPS
    sizes = incidents["site"].value_counts()
    kept = groups[:-2]
    assert groups[-2:] == [f"other ({14 - len(kept)} groups)", MISSING]
    # The largest sites stay, shown in their (sorted) order; the rest are pooled.
    assert kept == sorted(kept)
    assert min(sizes[kept]) >= max(sizes.drop(kept))
    totals = np.sum([_widths(c) for c in ax.containers], axis=0)
    assert totals[-2] == sizes.drop(kept).sum()
    assert totals[-1] == 4
    assert totals.sum() == len(incidents)
    _assert_ticks_apart(ax)


# -- backlog -------------------------------------------------------------------------


def test_open_backlog_line_is_the_backlog(sandbox_frames: IncidentFrames, ax: Axes) -> None:
    plot_open_backlog(sandbox_frames.incidents, freq="D", as_of=AS_OF, ax=ax)
    expected = open_backlog(sandbox_frames.incidents, freq="D", as_of=AS_OF)
    [line] = ax.get_lines()
    np.testing.assert_array_equal(line.get_ydata(), expected["open"].to_numpy(dtype=float))
    x = pd.to_datetime(np.asarray(line.get_xdata())).tz_localize("UTC")
    assert list(x) == list(pd.to_datetime(expected["time"], utc=True))
    assert _legend_texts(ax) == ["unresolved incidents"]
    assert ax.get_xlabel() == "Date (UTC)"
    assert ax.get_ylabel() == "Unresolved incidents"


def _backlog(days: int) -> pd.DataFrame:
    """Incidents opened one per ``days / 40`` days over ``days`` days, half resolved."""
    n = 40
    created = pd.Timestamp("2025-01-06T00:00:00Z") + pd.to_timedelta(
        np.linspace(0, days, n, endpoint=False), unit="D"
    )
    resolved = pd.Series(created + pd.Timedelta(days=days / 8)).where(np.arange(n) % 2 == 0)
    return pd.DataFrame(
        {
            "incident_id": pd.Series([f"i{i}" for i in range(n)], dtype=pd.StringDtype()),
            "status": pd.Categorical(np.where(resolved.notna(), "resolved", "open")),
            "created_at": created,
            "started_at": pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns, UTC]"),
            "resolved_at": resolved,
        }
    )


@pytest.mark.parametrize("days", [7, 183, 3 * 365], ids=["week", "6-months", "3-years"])
@pytest.mark.parametrize("size", [None, (7.0, 4.0), (3.2, 2.4)], ids=["default", "report", "small"])
def test_backlog_date_labels_never_overlap(days: int, size: tuple[float, float] | None) -> None:
    fig, ax = plt.subplots(figsize=size)
    incidents = _backlog(days)
    as_of = incidents["created_at"].max() + pd.Timedelta(days=1)
    plot_open_backlog(incidents, as_of=as_of, ax=ax)
    fig.canvas.draw()
    labels = [t for t in ax.get_xticklabels() if t.get_text()]
    assert len(labels) >= 2
    boxes = sorted((t.get_window_extent() for t in labels), key=lambda box: box.x0)
    for left, right in itertools.pairwise(boxes):
        assert left.x1 < right.x0, [t.get_text() for t in labels]
    # Concise labels: no label repeats the year of each tick ("2026-04").
    assert not any("-" in t.get_text() for t in labels)


# -- resolution times ----------------------------------------------------------------


def test_resolution_times_km_curve_band_and_naive(sandbox_frames: IncidentFrames, ax: Axes) -> None:
    plot_resolution_times(sandbox_frames.incidents, as_of=AS_OF, unit="hours", ax=ax)
    times = resolution_times(sandbox_frames.incidents, as_of=AS_OF)
    km = km_curve(times["duration"], times["resolved"])
    km_line, _, naive_line = ax.get_lines()
    assert _legend_texts(ax) == [KM_LABEL, CENSORED_LABEL, NAIVE_LABEL]
    assert km_line.get_drawstyle() == naive_line.get_drawstyle() == "steps-post"
    assert naive_line.get_linestyle() == "--"

    # The KM line starts at (0, 1), then is km_curve's table.
    y = np.asarray(km_line.get_ydata())
    assert y[0] == 1.0
    np.testing.assert_array_equal(y[1 : len(km) + 1], km["survival"].to_numpy(dtype=float))
    hours = (km["time"] / pd.Timedelta(hours=1)).to_numpy(dtype=float)
    np.testing.assert_allclose(np.asarray(km_line.get_xdata())[1 : len(km) + 1], hours, rtol=1e-12)

    # The naive line is 1 - ECDF of the resolved durations only: it reaches 0.
    resolved = times.loc[times["resolved"], "duration"] / pd.Timedelta(hours=1)
    np.testing.assert_allclose(
        np.asarray(naive_line.get_xdata())[1:], np.sort(resolved.to_numpy(float)), rtol=1e-12
    )
    naive_y = np.asarray(naive_line.get_ydata())
    assert naive_y[-1] == pytest.approx(0.0)
    assert np.all(np.diff(naive_y) <= 0)
    # Open incidents are counted, so KM stays above the naive curve at the end.
    assert y[-1] > naive_y[-1]

    [band] = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert band.get_paths()
    assert ax.get_xlabel() == "Time to resolution (hours)"
    assert ax.get_ylabel() == "Share not yet resolved"


def _step_at(line: Any, at: np.ndarray) -> np.ndarray:
    """A post-step line's value at ``at``, read from its drawn data."""
    x, y = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
    return y[np.searchsorted(x, at, side="right") - 1]


def test_km_curve_runs_to_the_last_observation_and_marks_censoring(
    sandbox_frames: IncidentFrames, ax: Axes
) -> None:
    times = resolution_times(sandbox_frames.incidents, as_of=AS_OF)
    durations = (times["duration"] / pd.Timedelta(days=1)).to_numpy(float)
    resolved = times["resolved"].to_numpy(bool)
    # The case of the issue: unresolved incidents outlast the last resolution.
    assert durations[~resolved].max() > durations[resolved].max()
    plot_resolution_times(sandbox_frames.incidents, as_of=AS_OF, unit="days", ax=ax)
    km_line, ticks, _ = ax.get_lines()
    survival = km_curve(times["duration"], times["resolved"])["survival"].to_numpy(float)

    # The curve is drawn flat past the last resolution, up to the longest duration.
    x, y = np.asarray(km_line.get_xdata(), float), np.asarray(km_line.get_ydata(), float)
    assert x[-1] == pytest.approx(durations.max(), rel=1e-12)
    assert x[-2] == pytest.approx(durations[resolved].max(), rel=1e-12)
    assert y[-1] == y[-2] == survival[-1] > 0
    ax.figure.canvas.draw()
    assert ax.get_xlim()[1] >= durations.max()

    # One "+" per unresolved incident, at its duration, on the curve.
    assert ticks.get_label() == CENSORED_LABEL
    assert ticks.get_marker() == "+"
    assert ticks.get_linestyle() == "None"
    tick_x = np.asarray(ticks.get_xdata(), float)
    np.testing.assert_allclose(np.sort(tick_x), np.sort(durations[~resolved]), rtol=1e-12)
    np.testing.assert_array_equal(np.asarray(ticks.get_ydata(), float), _step_at(km_line, tick_x))


def test_km_curve_of_a_group_without_resolutions_stays_at_one(
    sandbox_frames: IncidentFrames, ax: Axes
) -> None:
    incidents = sandbox_frames.incidents.copy()
    incidents["resolved_at"] = pd.Series(
        pd.NaT, index=incidents.index, dtype=incidents["resolved_at"].dtype
    )
    incidents["status"] = pd.Categorical(["open"] * len(incidents), categories=list(STATUSES))
    plot_resolution_times(incidents, as_of=AS_OF, unit="days", ax=ax)
    [km_line, ticks] = ax.get_lines()
    longest = resolution_times(incidents, as_of=AS_OF)["duration"].max() / pd.Timedelta(days=1)
    assert list(km_line.get_ydata()) == [1.0, 1.0]
    assert list(km_line.get_xdata()) == pytest.approx([0.0, longest], rel=1e-12)
    assert len(ticks.get_xdata()) == len(incidents)
    assert set(ticks.get_ydata()) == {1.0}


def test_resolution_times_auto_unit_and_groups(sandbox_frames: IncidentFrames, ax: Axes) -> None:
    plot_resolution_times(sandbox_frames.incidents, by="scope", as_of=AS_OF, ax=ax)
    incidents = sandbox_frames.incidents
    longest = resolution_times(incidents, as_of=AS_OF)["duration"].max()
    unit = "days" if longest > pd.Timedelta(hours=72) else "hours"
    assert ax.get_xlabel() == f"Time to resolution ({unit})"
    # One legend entry per group in the scope categorical's order, then the two styles.
    scopes = [s for s in incidents["scope"].cat.categories if (incidents["scope"] == s).any()]
    assert _legend_texts(ax) == [*scopes, KM_LABEL, CENSORED_LABEL, NAIVE_LABEL]
    handles = ax.get_legend().legend_handles
    for scope, handle, colour in zip(scopes, handles, GROUP_COLORS, strict=False):
        assert to_rgba(handle.get_color()) == _rgba(colour), scope
    km_lines = [line for line in ax.get_lines() if KM_LABEL in str(line.get_label())]
    assert [str(line.get_label()).split(":")[0] for line in km_lines] == scopes
    for line in km_lines:
        scope = str(line.get_label()).split(":")[0]
        group = incidents.loc[incidents["scope"] == scope]
        times = resolution_times(group, as_of=AS_OF)
        km = km_curve(times["duration"], times["resolved"])
        np.testing.assert_array_equal(
            np.asarray(line.get_ydata())[1 : len(km) + 1], km["survival"].to_numpy(dtype=float)
        )
    # Few groups: each keeps its confidence band.
    assert len([c for c in ax.collections if isinstance(c, PolyCollection)]) == len(scopes)


def test_resolution_severity_groups_take_the_severity_palette(
    sandbox_frames: IncidentFrames, ax: Axes
) -> None:
    incidents = _with_max_severity(sandbox_frames)
    plot_resolution_times(incidents, by="max_severity", as_of=AS_OF, ax=ax)
    groups = [*SEVERITY_ORDER, "extreme", MISSING]
    assert _legend_texts(ax) == [*groups, KM_LABEL, CENSORED_LABEL, NAIVE_LABEL]
    assert ax.get_legend().get_title().get_text() == "max_severity"
    colours = [SEVERITY_COLORS[s] for s in SEVERITY_ORDER] + [UNKNOWN_COLOR] * 2
    handles = ax.get_legend().legend_handles[: len(groups)]
    assert [to_rgba(h.get_color()) for h in handles] == [_rgba(c) for c in colours]
    for line in ax.get_lines():
        group = str(line.get_label()).split(":")[0]
        assert to_rgba(line.get_color()) == _rgba(colours[groups.index(group)])
    # More than MAX_BANDS groups: no bands, so the curves stay readable.
    assert len(groups) > MAX_BANDS
    assert [c for c in ax.collections if isinstance(c, PolyCollection)] == []


def test_resolution_many_groups_are_capped_with_other(
    sandbox_frames: IncidentFrames, ax: Axes
) -> None:
    incidents = _with_many_sites(sandbox_frames, 14)
    plot_resolution_times(incidents, by="site", as_of=AS_OF, ax=ax)
    legend = _legend_texts(ax)
    groups = legend[:-3]
    assert legend[-3:] == [KM_LABEL, CENSORED_LABEL, NAIVE_LABEL]
    assert len(groups) == MAX_GROUPS
    assert groups[-2:] == [f"other ({14 - (MAX_GROUPS - 2)} groups)", MISSING]
    colours = [to_rgba(h.get_color()) for h in ax.get_legend().legend_handles[: len(groups)]]
    assert colours[:-2] == [_rgba(c) for c in GROUP_COLORS[: len(groups) - 2]]
    assert colours[-2:] == [_rgba(OTHER_COLOR), _rgba(UNKNOWN_COLOR)]
    assert len(set(colours)) == len(colours)
    # The pooled curve is the Kaplan-Meier curve of the pooled incidents.
    kept = set(groups[:-2])
    site = incidents["site"].astype(object)
    pooled = incidents.loc[(site.notna() & ~site.isin(kept)).to_numpy(dtype=bool)]
    times = resolution_times(pooled, as_of=AS_OF)
    km = km_curve(times["duration"], times["resolved"])
    [line] = [ln for ln in ax.get_lines() if ln.get_label() == f"{groups[-2]}: {KM_LABEL}"]
    np.testing.assert_array_equal(
        np.asarray(line.get_ydata())[1 : len(km) + 1], km["survival"].to_numpy(dtype=float)
    )
    assert [c for c in ax.collections if isinstance(c, PolyCollection)] == []


def test_resolution_times_rejects_an_unknown_unit(sandbox_frames: IncidentFrames) -> None:
    with pytest.raises(ValueError, match=r"unit must be one of .*'weeks'"):
        plot_resolution_times(sandbox_frames.incidents, as_of=AS_OF, unit="weeks")


@pytest.mark.parametrize("plot", [plot_resolution_times, plot_status_breakdown])
def test_grouped_plots_reject_an_unknown_by_column(
    plot: Any, sandbox_frames: IncidentFrames, ax: Axes
) -> None:
    # The analyses' one check: a ValueError naming by and the column, never a KeyError.
    for incidents in (sandbox_frames.incidents, sandbox_frames.incidents.iloc[:0]):
        assert_value_error_names(
            lambda frame=incidents: plot(frame, by="nope", ax=ax), ["by", "'nope'"]
        )


# -- severity ------------------------------------------------------------------------


def test_severity_bars_in_order_with_palette(sandbox_frames: IncidentFrames, ax: Axes) -> None:
    plot_severity(sandbox_frames.threats, ax=ax)
    expected = sandbox_frames.threats["severity"].astype(object).value_counts()
    bars = _bars(ax)
    assert _ticks(ax) == list(SEVERITY_ORDER)
    assert [b.get_height() for b in bars] == [expected.get(s, 0) for s in SEVERITY_ORDER]
    assert [b.get_facecolor() for b in bars] == [_rgba(SEVERITY_COLORS[s]) for s in SEVERITY_ORDER]
    assert ax.get_xlabel() == "Severity"
    assert ax.get_ylabel() == "Threats"


def test_severity_unknown_and_missing_are_grey_bars_after(
    sandbox_frames: IncidentFrames, ax: Axes
) -> None:
    threats = _with_unknown_severities(sandbox_frames.threats)
    plot_severity(threats, ax=ax)
    labels = [*SEVERITY_ORDER, "extreme", MISSING]
    assert _ticks(ax) == labels
    counts = threats["severity"].astype(object).value_counts(dropna=False)
    heights = [b.get_height() for b in _bars(ax)]
    assert heights[:4] == [counts.get(s, 0) for s in SEVERITY_ORDER]
    assert heights[4:] == [5, 3]
    assert sum(heights) == len(threats)
    colours = [b.get_facecolor() for b in _bars(ax)]
    assert colours[4:] == [_rgba(UNKNOWN_COLOR)] * 2


def test_severity_by_type_stacks_in_severity_order(
    sandbox_frames: IncidentFrames, ax: Axes
) -> None:
    plot_severity_by_type(sandbox_frames.threats, ax=ax)
    threats = sandbox_frames.threats.astype({"severity": object, "threat_type": object})
    expected = pd.crosstab(threats["threat_type"], threats["severity"])
    # Rows are named in words ("crime_violence" shows as "Crime violence").
    expected.index = [code.replace("_", " ").capitalize() for code in expected.index]
    types = _yticks(ax)
    assert sorted(types) == sorted(expected.index)
    totals = [int(expected.loc[t].sum()) for t in types]
    assert totals == sorted(totals, reverse=True)
    y0, y1 = ax.get_ylim()
    assert y0 > y1  # most threats on top
    assert _legend_texts(ax) == list(SEVERITY_ORDER)
    left = np.zeros(len(types))
    for severity, container in zip(SEVERITY_ORDER, ax.containers, strict=True):
        assert _widths(container) == [expected.loc[t].get(severity, 0) for t in types]
        np.testing.assert_array_equal([b.get_x() for b in container], left)
        assert {b.get_facecolor() for b in container} == {_rgba(SEVERITY_COLORS[severity])}
        left = left + _widths(container)
    assert ax.get_ylabel() == "Threat type"
    assert ax.get_xlabel() == "Threats"


# -- shared behaviour ----------------------------------------------------------------

PLOTS: dict[str, tuple[Callable[..., Axes], str, dict[str, Any]]] = {
    "status": (plot_status_breakdown, "incidents", {}),
    "status_by": (plot_status_breakdown, "incidents", {"by": "scope"}),
    "backlog": (plot_open_backlog, "incidents", {"as_of": AS_OF}),
    "resolution": (plot_resolution_times, "incidents", {"as_of": AS_OF}),
    "resolution_by": (plot_resolution_times, "incidents", {"as_of": AS_OF, "by": "scope"}),
    "severity": (plot_severity, "threats", {}),
    "severity_by_type": (plot_severity_by_type, "threats", {}),
    "map": (plot_threat_map, "threats", {}),
}


def test_threat_types_are_shown_in_words(sandbox_frames: IncidentFrames, ax: Axes) -> None:
    plot_severity_by_type(sandbox_frames.threats, ax=ax)
    codes = sandbox_frames.threats["threat_type"].dropna().astype(str).unique()
    assert any("_" in code for code in codes)  # the API's snake_case codes
    words = {code: code.replace("_", " ").capitalize() for code in codes}
    assert sorted(_yticks(ax)) == sorted(words.values())
    assert "Crime violence" in _yticks(ax)


def test_report_figures_are_sharp_at_2x_and_show_types_in_words(
    sites_frames: IncidentFrames, tmp_path: Any
) -> None:
    from PIL import Image

    page = build_report(sites_frames, tmp_path / "report.html").read_text(encoding="utf-8")
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) >= 6
    for encoded in images:
        with Image.open(io.BytesIO(base64.b64decode(encoded))) as png:
            # Sharp on a 2x screen (pHYs stores pixels per metre: 192 dpi reads 191.9986).
            assert round(min(png.info["dpi"])) >= 192
            assert png.width >= 2 * 320  # drawn at 2x, not an upscaled 1x
    # Sane size: the whole self-contained page stays within a few megabytes.
    assert len(page) < 6_000_000
    # The severity table names threat types in words, as the figure does.
    assert "Crime violence" in page
    assert "crime_violence" not in page


@pytest.mark.parametrize("name", PLOTS)
def test_empty_data_gives_an_empty_labelled_plot(name: str, ax: Axes) -> None:
    plot, table, kwargs = PLOTS[name]
    out = plot(empty_frame(table), ax=ax, **kwargs)
    assert out is ax
    assert ax.get_xlabel()
    assert ax.get_ylabel()
    assert ax.get_title()
    assert all(b.get_height() == 0 for b in _bars(ax))
    assert all(len(line.get_xdata()) == 0 for line in ax.get_lines())
    threat_points = [
        c for c in ax.collections if isinstance(c, PathCollection) and c.get_label() != SITE_LABEL
    ]
    assert threat_points == []
    ax.figure.canvas.draw()


@pytest.mark.parametrize("name", PLOTS)
def test_ax_is_honoured_and_gca_is_the_default(
    name: str, sandbox_frames: IncidentFrames, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_show(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a plot helper called show()")

    monkeypatch.setattr(plt, "show", no_show)
    monkeypatch.setattr(plt.Figure, "savefig", no_show)
    plot, table, kwargs = PLOTS[name]
    data = getattr(sandbox_frames, table)
    fig, (left, right) = plt.subplots(1, 2)
    assert plot(data, ax=right, **kwargs) is right
    assert right.has_data()
    assert not left.has_data()
    plt.sca(left)
    assert plot(data, **kwargs) is left


@pytest.mark.parametrize("name", PLOTS)
@pytest.mark.parametrize("size", [None, (7.0, 4.0)], ids=["default", "report"])
def test_tick_labels_never_overlap(
    name: str, size: tuple[float, float] | None, sandbox_frames: IncidentFrames
) -> None:
    plot, table, kwargs = PLOTS[name]
    _, ax = plt.subplots(figsize=size)
    plot(getattr(sandbox_frames, table), ax=ax, **kwargs)
    _assert_ticks_apart(ax)


DOLLARS = ["$5k", "$$", "costs $5k and $$ more", "$x^2$"]


@pytest.mark.parametrize("name", PLOTS)
def test_dollar_signs_in_data_are_shown_literally(
    name: str, sandbox_frames: IncidentFrames
) -> None:
    plot, table, kwargs = PLOTS[name]
    data = getattr(sandbox_frames, table).copy()
    if table == "threats":
        values = data["threat_type"].astype(object)
        values.iloc[: len(DOLLARS)] = DOLLARS
        data["threat_type"] = values.astype("category")
        values = data["severity"].astype(object)
        values.iloc[: len(DOLLARS)] = DOLLARS
        data["severity"] = pd.Categorical(values, categories=[*DOLLARS, *SEVERITIES], ordered=True)
    else:
        values = data["scope"].astype(object)
        values.iloc[: len(DOLLARS)] = DOLLARS
        data["scope"] = values.astype("category")
    ax = plot(data, **kwargs)
    ax.figure.canvas.draw()  # raises ValueError if any text went to the math parser
    shown = [t.get_text() for t in [*ax.get_xticklabels(), *ax.get_yticklabels()]]
    legend = ax.get_legend()
    if legend is not None:
        shown += [t.get_text() for t in legend.get_texts()]
    if name in ("status_by", "resolution_by", "severity", "severity_by_type", "map"):
        for dollar in DOLLARS:
            assert any(dollar.replace("$", r"\$") in text for text in shown), dollar
    assert not any("$" in text.replace(r"\$", "") for text in shown)
