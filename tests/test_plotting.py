"""plotting: each plot's bars, points, lines and labels, read back from the returned Axes.

The maps' own tests are in ``test_maps.py``; the world map also takes part in the shared
behaviour below (empty data, ``ax``, literal text).

Expected values are counted here independently (``value_counts``, ``crosstab``) from
the session's sandbox frames (``sandbox_frames``, copied before any change), never read
from the plotting code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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

from intrace_analytics import IncidentFrames
from intrace_analytics.analysis import open_backlog
from intrace_analytics.maps import SITE_LABEL, plot_threat_map
from intrace_analytics.plotting import (
    GROUP_COLORS,
    SEVERITY_COLORS,
    SEVERITY_ORDER,
    STATUS_COLORS,
    UNKNOWN_COLOR,
    plot_open_backlog,
    plot_resolution_times,
    plot_severity,
    plot_severity_by_type,
    plot_status_breakdown,
)
from intrace_analytics.schema import SEVERITIES, STATUSES, empty_frame
from intrace_analytics.survival import km_curve, resolution_times

# The sandbox's history ends at this fixed instant; censoring there keeps results stable.
AS_OF = pd.Timestamp("2026-10-01T00:00:00Z")


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


@pytest.fixture
def ax() -> Axes:
    _, ax = plt.subplots()
    return ax


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
    groups = _ticks(ax)
    # Groups in the scope categorical's order (the documented SCOPES first).
    assert groups == [s for s in scopes.cat.categories if s in expected.index]
    assert len(ax.containers) == len(STATUSES)
    for status, container in zip(STATUSES, ax.containers, strict=True):
        assert _heights(container) == [expected.loc[g].get(status, 0) for g in groups]
        assert {p.get_facecolor() for p in container} == {_rgba(STATUS_COLORS[status])}
    assert _legend_texts(ax) == list(STATUSES)
    assert ax.get_xlabel() == "scope"


# -- backlog -------------------------------------------------------------------------


def test_open_backlog_line_is_the_backlog(sandbox_frames: IncidentFrames, ax: Axes) -> None:
    plot_open_backlog(sandbox_frames.incidents, freq="D", as_of=AS_OF, ax=ax)
    expected = open_backlog(sandbox_frames.incidents, freq="D", as_of=AS_OF)
    [line] = ax.get_lines()
    np.testing.assert_array_equal(line.get_ydata(), expected["open"].to_numpy(dtype=float))
    x = pd.to_datetime(np.asarray(line.get_xdata())).tz_localize("UTC")
    assert list(x) == list(pd.to_datetime(expected["time"], utc=True))
    assert _legend_texts(ax) == ["open incidents"]
    assert ax.get_xlabel() == "Date (UTC)"
    assert ax.get_ylabel() == "Open incidents"


# -- resolution times ----------------------------------------------------------------


def test_resolution_times_km_curve_band_and_naive(sandbox_frames: IncidentFrames, ax: Axes) -> None:
    plot_resolution_times(sandbox_frames.incidents, as_of=AS_OF, unit="hours", ax=ax)
    times = resolution_times(sandbox_frames.incidents, as_of=AS_OF)
    km = km_curve(times["duration"], times["resolved"])
    km_line, naive_line = ax.get_lines()
    assert _legend_texts(ax) == ["Kaplan\u2013Meier (open counted)", "naive (resolved only)"]
    assert km_line.get_drawstyle() == naive_line.get_drawstyle() == "steps-post"
    assert naive_line.get_linestyle() == "--"

    # The KM line starts at (0, 1), then is km_curve's table.
    y = np.asarray(km_line.get_ydata())
    assert y[0] == 1.0
    np.testing.assert_array_equal(y[1:], km["survival"].to_numpy(dtype=float))
    hours = (km["time"] / pd.Timedelta(hours=1)).to_numpy(dtype=float)
    np.testing.assert_allclose(np.asarray(km_line.get_xdata())[1:], hours, rtol=1e-12)

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


def test_resolution_times_auto_unit_and_groups(sandbox_frames: IncidentFrames, ax: Axes) -> None:
    plot_resolution_times(sandbox_frames.incidents, by="scope", as_of=AS_OF, ax=ax)
    incidents = sandbox_frames.incidents
    longest = resolution_times(incidents, as_of=AS_OF)["duration"].max()
    unit = "days" if longest > pd.Timedelta(hours=72) else "hours"
    assert ax.get_xlabel() == f"Time to resolution ({unit})"
    scopes = sorted(incidents["scope"].dropna().astype(str).unique())
    expected = [
        f"{scope}: {kind}"
        for scope in scopes
        for kind in ("Kaplan\u2013Meier (open counted)", "naive (resolved only)")
    ]
    assert sorted(_legend_texts(ax)) == sorted(expected)
    for line in ax.get_lines():
        scope = str(line.get_label()).split(":")[0]
        if "Kaplan" in str(line.get_label()):
            group = incidents.loc[incidents["scope"] == scope]
            times = resolution_times(group, as_of=AS_OF)
            km = km_curve(times["duration"], times["resolved"])
            np.testing.assert_array_equal(
                np.asarray(line.get_ydata())[1:], km["survival"].to_numpy(dtype=float)
            )


def test_resolution_times_rejects_an_unknown_unit(sandbox_frames: IncidentFrames) -> None:
    with pytest.raises(ValueError, match=r"unit must be one of .*'weeks'"):
        plot_resolution_times(sandbox_frames.incidents, as_of=AS_OF, unit="weeks")


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
    labels = [*SEVERITY_ORDER, "extreme", "missing"]
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
    types = _ticks(ax)
    assert sorted(types) == sorted(expected.index)
    totals = [int(expected.loc[t].sum()) for t in types]
    assert totals == sorted(totals, reverse=True)
    assert _legend_texts(ax) == list(SEVERITY_ORDER)
    bottom = np.zeros(len(types))
    for severity, container in zip(SEVERITY_ORDER, ax.containers, strict=True):
        assert _heights(container) == [expected.loc[t].get(severity, 0) for t in types]
        np.testing.assert_array_equal([b.get_y() for b in container], bottom)
        assert {b.get_facecolor() for b in container} == {_rgba(SEVERITY_COLORS[severity])}
        bottom = bottom + _heights(container)
    assert ax.get_xlabel() == "Threat type"
    assert ax.get_ylabel() == "Threats"


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
    shown = [t.get_text() for t in ax.get_xticklabels()]
    legend = ax.get_legend()
    if legend is not None:
        shown += [t.get_text() for t in legend.get_texts()]
    if name in ("status_by", "resolution_by", "severity", "severity_by_type", "map"):
        for dollar in DOLLARS:
            assert any(dollar.replace("$", r"\$") in text for text in shown), dollar
    assert not any("$" in text.replace(r"\$", "") for text in shown)
