"""maps: the world map and the site maps, read back from the returned Axes and Figure.

Expected points come from the sandbox's own truth (``Dataset.assets_of`` and the incident
payloads) or from hand-built frames, never from the plotting code.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display, no window, same pixels everywhere

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from intrace_analytics import (
    IncidentFrames,
    frames_from_pages,
    plot_site_map,
    plot_site_maps,
    plot_threat_map,
)
from intrace_analytics._util.format import MISSING, count
from intrace_analytics.frames._schema import SEVERITIES, empty_frame
from intrace_analytics.sandbox import SITES
from intrace_analytics.viz._maps import (
    DENSE_POINTS,
    EARTH_RADIUS_KM,
    RADIUS_LABEL,
    SITE_LABEL,
    circle_polygon,
)
from intrace_analytics.viz._style import SEVERITY_COLORS, SEVERITY_ORDER, UNKNOWN_COLOR
from tests.helpers import SITE_RADIUS_KM, incident, link, page, strings, threat, typed

KM_PER_DEGREE = math.radians(1) * EARTH_RADIUS_KM  # along a meridian


def _points(ax: Axes) -> dict[str, PathCollection]:
    return {str(c.get_label()): c for c in ax.collections if isinstance(c, PathCollection)}


def _texts(container: Any) -> list[str]:
    """Every text an Axes or Figure shows: titles, annotations, legends, ticks."""
    container.canvas.draw() if isinstance(container, Figure) else container.figure.canvas.draw()
    return [t.get_text() for t in container.findobj(matplotlib.text.Text)]


def _rgb(colour: str) -> tuple[float, ...]:
    return to_rgba(colour)[:3]


def _with_unknown_severities(threats: pd.DataFrame) -> pd.DataFrame:
    out = threats.copy()
    values = out["severity"].astype(object)
    values.iloc[:5] = "extreme"
    values.iloc[5:8] = None
    out["severity"] = pd.Categorical(values, categories=["extreme", *SEVERITIES], ordered=True)
    return out


# -- world map -----------------------------------------------------------------------


def test_threat_map_points_colours_order_and_given_sites(
    sites_frames: IncidentFrames, ax: Axes
) -> None:
    threats = _with_unknown_severities(sites_frames.threats)
    plot_threat_map(threats, assets=sites_frames.assets, ax=ax)
    located = threats.loc[threats["lat"].notna() & threats["lng"].notna()]
    by_label = _points(ax)
    sites = by_label.pop(SITE_LABEL)
    counts = located["severity"].astype(object).fillna(MISSING).value_counts()
    # Drawn lowest first: unknown and missing below low, critical last (on top).
    assert list(by_label) == ["extreme", MISSING, *SEVERITY_ORDER]
    for label, collection in by_label.items():
        assert len(collection.get_offsets()) == counts[label]
        colour = SEVERITY_COLORS.get(label, UNKNOWN_COLOR)
        assert {tuple(c[:3]) for c in collection.get_facecolor()} == {_rgb(colour)}
    z = [c.get_zorder() for c in by_label.values()]
    assert z == sorted(z)
    assert len(set(z)) == len(z)
    assert by_label["critical"].get_zorder() == max(z) < sites.get_zorder()
    # Overlaps at world scale: lower levels larger, so each ring of a cluster shows;
    # translucent and white-edged.
    sizes = [float(by_label[level].get_sizes()[0]) for level in SEVERITY_ORDER]
    assert sizes == sorted(sizes, reverse=True)
    assert all(0 < (c.get_alpha() or 1) < 1 for c in by_label.values())

    np.testing.assert_array_equal(sites.get_offsets(), [[a.lng, a.lat] for a in SITES])
    assert [t.get_text() for t in ax.texts] == [a.name for a in SITES]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [*SEVERITY_ORDER, "extreme", MISSING, SITE_LABEL]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert x0 < located["lng"].min()
    assert located["lng"].max() < x1
    assert y0 < located["lat"].min()
    assert located["lat"].max() < y1
    assert ax.get_aspect() == 1.0


@pytest.mark.parametrize("size", [None, (8.0, 6.0), (4.0, 3.0)], ids=["default", "report", "small"])
def test_threat_map_site_names_never_overlap(
    sites_frames: IncidentFrames, size: tuple[float, float] | None
) -> None:
    # Lagos head office and Apapa depot lie a few kilometres apart: one spot at world
    # scale, two names that must not print over each other.
    _, ax = plt.subplots(figsize=size)
    plot_threat_map(sites_frames.threats, assets=sites_frames.assets, ax=ax)
    ax.figure.canvas.draw()
    names = {t.get_text(): t.get_window_extent() for t in ax.texts}
    assert set(names) == {a.name for a in SITES}
    pairs = [(a, b) for a in names for b in names if a < b and names[a].overlaps(names[b])]
    assert pairs == []
    # Every name stays beside its own marker (within a few label heights).
    for text, site in zip(ax.texts, SITES, strict=True):
        x, y = ax.transData.transform((site.lng, site.lat))
        box = text.get_window_extent()
        assert box.y0 - 60 < y < box.y1 + 60
        assert min(abs(box.x0 - x), abs(box.x1 - x)) < 20
    ticks = [t for t in [*ax.get_xticklabels(), *ax.get_yticklabels()] if t.get_text()]
    assert ticks


def test_threat_map_marks_no_site_unless_given(sites_frames: IncidentFrames, ax: Axes) -> None:
    plot_threat_map(sites_frames.threats, ax=ax)
    assert SITE_LABEL not in _points(ax)
    assert len(ax.texts) == 0
    shown = " ".join(_texts(ax))
    assert not any(a.name in shown for a in SITES)


def test_threat_map_of_other_data_shows_no_sandbox_site(ax: Axes) -> None:
    threats = typed(
        "threats",
        [
            {"threat_id": "t1", "severity": "high", "lat": 35.68, "lng": 139.69,
             "location": "Tokyo"},
            {"threat_id": "t2", "severity": "critical", "lat": 52.52, "lng": 13.40,
             "location": "Berlin"},
            {"threat_id": "t3", "severity": "low", "lat": 35.69, "lng": 139.70},
        ],
    )  # fmt: skip
    plot_threat_map(threats, ax=ax)
    shown = " ".join(_texts(ax))
    for asset in SITES:
        assert asset.name not in shown
    assert SITE_LABEL not in shown
    offsets = np.concatenate([c.get_offsets() for c in _points(ax).values()])
    assert sorted(map(tuple, offsets.tolist())) == [(13.40, 52.52), (139.69, 35.68),
                                                    (139.70, 35.69)]  # fmt: skip
    # A sites frame of other data: exactly its own sites.
    mine = typed("assets", [{"asset_id": "tokyo", "name": "Tokyo depot",
                             "lat": 35.6, "lng": 139.7}])  # fmt: skip
    _, other = plt.subplots()
    plot_threat_map(threats, assets=mine, ax=other)
    assert [t.get_text() for t in other.texts] == ["Tokyo depot"]


# -- one site ------------------------------------------------------------------------


def _expected_points(
    frames: IncidentFrames, dataset: Any, asset_id: str
) -> set[tuple[float, float]]:
    """The coordinates of the threats linked to the site's incidents: the threat ids
    from the payloads (a link need not embed its threat), the coordinates from the
    threats table (the newest copy of each)."""
    ids = {
        link["threat_id"]
        for incident in dataset.incidents
        if asset_id in dataset.assets_of[incident["id"]]
        for link in incident["threat_links"]
    }
    threats = frames.threats
    rows = threats[threats["threat_id"].isin(ids) & threats["lat"].notna()]
    return set(zip(rows["lng"].tolist(), rows["lat"].tolist(), strict=True))


@pytest.mark.parametrize("site", [SITES[0], SITES[3]], ids=lambda a: a.asset_id)
def test_site_map_draws_the_sites_threats_and_a_true_circle(
    sites_frames: IncidentFrames, sites_dataset: Any, ax: Axes, site: Any
) -> None:
    assert plot_site_map(sites_frames, site.asset_id, ax=ax) is ax
    assert ax.get_title() == site.name
    points = _points(ax)
    marker = points.pop(SITE_LABEL)
    np.testing.assert_array_equal(marker.get_offsets(), [[site.lng, site.lat]])
    drawn = {tuple(p) for c in points.values() for p in c.get_offsets().tolist()}
    assert drawn == _expected_points(sites_frames, sites_dataset, site.asset_id)
    assert list(points) == [s for s in SEVERITY_ORDER if s in points]  # critical on top
    for label, collection in points.items():
        assert {tuple(c[:3]) for c in collection.get_facecolor()} == {_rgb(SEVERITY_COLORS[label])}
    z = [c.get_zorder() for c in points.values()]
    assert z == sorted(z)
    assert max(z) < marker.get_zorder()

    (circle,) = [line for line in ax.get_lines() if line.get_label() == RADIUS_LABEL]
    lng, lat = circle.get_xdata(), circle.get_ydata()
    cos_lat = math.cos(math.radians(site.lat))
    # The radius in km, north-south and east-west at this latitude.
    assert (lat.max() - site.lat) * KM_PER_DEGREE == pytest.approx(SITE_RADIUS_KM, rel=1e-6)
    assert (site.lat - lat.min()) * KM_PER_DEGREE == pytest.approx(SITE_RADIUS_KM, rel=1e-6)
    east = (lng.max() - site.lng) * KM_PER_DEGREE * cos_lat
    assert east == pytest.approx(SITE_RADIUS_KM, rel=2e-3)
    # Framed around the site: the circle plus a margin, with the local aspect.
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert (x0 + x1) / 2 == pytest.approx(site.lng)
    assert (y0 + y1) / 2 == pytest.approx(site.lat)
    assert x0 < lng.min()
    assert lng.max() < x1
    assert y0 < lat.min()
    assert lat.max() < y1
    assert (y1 - y0) * KM_PER_DEGREE < 4 * SITE_RADIUS_KM
    assert ax.get_aspect() == pytest.approx(1 / cos_lat)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [*points, RADIUS_LABEL, SITE_LABEL]
    assert any("radius 30 km" in text for text in _texts(ax))


def test_circle_polygon_is_geodesic() -> None:
    ring = circle_polygon(60.0, 10.0, 100.0)
    lat1, lng1 = np.radians(60.0), np.radians(10.0)
    lat2, lng2 = np.radians(ring[:, 1]), np.radians(ring[:, 0])
    # Haversine distance of every point from the centre.
    h = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lng2 - lng1) / 2) ** 2
    )
    np.testing.assert_allclose(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(h)), 100.0, rtol=1e-9)


def test_site_map_errors_name_the_argument(
    sites_frames: IncidentFrames, sandbox_frames: IncidentFrames
) -> None:
    with pytest.raises(ValueError, match=r"asset_id must be one of .*'lagos-hq'.*; got 'nowhere'"):
        plot_site_map(sites_frames, "nowhere")
    with pytest.raises(ValueError, match=r"frames must be frames with sites loaded .*assets=0"):
        plot_site_map(sandbox_frames, "lagos-hq")
    with pytest.raises(ValueError, match="frames must be frames with sites loaded"):
        plot_site_maps(sandbox_frames)
    with pytest.raises(ValueError, match="ncols must be an integer >= 1; got 0"):
        plot_site_maps(sites_frames, ncols=0)


def _with_extra_sites(frames: IncidentFrames) -> IncidentFrames:
    frames = copy.deepcopy(frames)
    extra = typed(
        "assets",
        [
            {"asset_id": "nowhere", "name": "Site $x$ without coordinates"},
            {"asset_id": "unsized", "name": "Unsized depot", "lat": 40.0, "lng": -3.7},
        ],
    )
    frames.assets = pd.concat([frames.assets, extra], ignore_index=True).astype(
        frames.assets.dtypes.to_dict()
    )
    return frames


def test_a_site_without_coordinates_or_radius_says_so(
    sites_frames: IncidentFrames, ax: Axes
) -> None:
    frames = _with_extra_sites(sites_frames)
    plot_site_map(frames, "nowhere", ax=ax)
    texts = _texts(ax)  # draws: no mathtext error for the "$x$" in the name
    assert ax.get_title() == r"Site \$x\$ without coordinates"
    assert "no coordinates for this site" in texts
    _, other = plt.subplots()
    plot_site_map(frames, "unsized", ax=other)
    assert any("monitoring radius unknown" in t for t in _texts(other))
    assert RADIUS_LABEL not in [line.get_label() for line in other.get_lines()]


# -- dense sites ---------------------------------------------------------------------

#: A site whose incidents bring more threats into view than single points can show:
#: many geocoded to one place (identical coordinates), more spread around the site,
#: a few far away and a few without coordinates.
DENSE_SITE = (10.0, 20.0)  # lat, lng
SPOT = (10.1, 20.1)
SPOT_COUNTS = {"low": 200, "medium": 100, "high": 50, "critical": 30}
SPREAD = 60
FAR = (48.85, 2.35)  # Paris: thousands of km away
FAR_N, UNLOCATED_N = 5, 3


def _dense_frames() -> IncidentFrames:
    places: list[tuple[str, tuple[float, float] | None]] = [
        (level, SPOT) for level, n in SPOT_COUNTS.items() for _ in range(n)
    ]
    for k in range(SPREAD):  # a ring 0.05-0.25 degrees around the site, every level
        r, angle = 0.05 + 0.2 * (k % 7) / 6, 2 * math.pi * k / SPREAD
        spot = (DENSE_SITE[0] + r * math.sin(angle), DENSE_SITE[1] + r * math.cos(angle))
        places.append((SEVERITY_ORDER[k % 4], spot))
    places += [("high", FAR)] * FAR_N + [("medium", None)] * UNLOCATED_N
    links = [
        link(f"l{i}", f"t{i}", threat(f"t{i}", severity=level, coordinates=(
            None if spot is None else {"lat": spot[0], "lng": spot[1]})))
        for i, (level, spot) in enumerate(places)
    ]  # fmt: skip
    frames = frames_from_pages([page([incident("i1", "2026-01-02T00:00:00Z", *links)])])
    frames.assets = typed("assets", [{"asset_id": "dense", "name": "Dense depot",
                                      "lat": DENSE_SITE[0], "lng": DENSE_SITE[1],
                                      "monitoring_radius_km": SITE_RADIUS_KM}])  # fmt: skip
    frames.incident_assets = pd.DataFrame(
        {"incident_id": strings("i1"), "asset_id": strings("dense")}
    )
    return frames


def _haversine_km(a: tuple[float, float], lat: Any, lng: Any) -> np.ndarray:
    lat1, lng1 = np.radians(a[0]), np.radians(a[1])
    lat2, lng2 = np.radians(np.asarray(lat, float)), np.radians(np.asarray(lng, float))
    h = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lng2 - lng1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(h))


def test_a_dense_site_map_pools_threats_and_keeps_every_severity_visible(ax: Axes) -> None:
    frames = _dense_frames()
    in_view = sum(SPOT_COUNTS.values()) + SPREAD
    assert in_view > DENSE_POINTS
    plot_site_map(frames, "dense", ax=ax)
    points = _points(ax)
    site = points.pop(SITE_LABEL)
    # Pooled: far fewer markers than threats, drawn low → critical, under the site.
    markers = sum(len(c.get_offsets()) for c in points.values())
    assert markers <= in_view // 5
    assert list(points) == list(SEVERITY_ORDER)
    z = [c.get_zorder() for c in points.values()]
    assert z == sorted(z)
    assert max(z) < site.get_zorder()
    for label, collection in points.items():
        assert {tuple(c[:3]) for c in collection.get_facecolor()} == {_rgb(SEVERITY_COLORS[label])}

    # At each place, every level present is a ring around the next (strictly smaller,
    # drawn later, at least a point wide), critical the core: no level hides another.
    places: dict[tuple[float, float], list[float]] = {}
    for collection in points.values():  # in drawing order
        sizes = np.broadcast_to(collection.get_sizes(), (len(collection.get_offsets()),))
        for (x, y), size in zip(collection.get_offsets().tolist(), sizes, strict=True):
            places.setdefault((round(x, 9), round(y, 9)), []).append(float(size))
    for place, sizes in places.items():
        diameters = np.sqrt(sizes)
        assert (-np.diff(diameters) / 2 >= 1.0).all(), place

    # The place of identical coordinates: one marker per level, exactly there, and
    # each ring's area in proportion to its level's count (area = threats at that
    # level or above).
    spot = places[(round(SPOT[1], 9), round(SPOT[0], 9))]
    assert len(spot) == len(SEVERITY_ORDER)
    enclosed = np.cumsum([SPOT_COUNTS[s] for s in reversed(SEVERITY_ORDER)])[::-1]
    np.testing.assert_allclose(np.array(spot) / spot[0], enclosed / enclosed[0], rtol=1e-9)
    legend = ax.get_legend()
    assert {float(h.get_sizes()[0]) for h in legend.legend_handles[:4]} == {40.0}

    # The figure of every site: one legend with one marker size.
    fig = plot_site_maps(frames)
    sizes = {float(h.get_sizes()[0]) for h in fig.legends[0].legend_handles
             if isinstance(h, PathCollection) and h.get_label() != SITE_LABEL}  # fmt: skip
    assert len(sizes) == 1


def _note(ax: Axes) -> str:
    [note] = [t.get_text() for t in ax.texts if "in view" in t.get_text()]
    return note


@pytest.mark.parametrize("which", ["dense", "lagos-hq", "london-office"])
def test_the_site_note_accounts_for_every_threat(
    which: str, sites_frames: IncidentFrames, sites_dataset: Any, ax: Axes
) -> None:
    if which == "dense":
        frames, site = _dense_frames(), DENSE_SITE
        threats = frames.threats
    else:
        frames = sites_frames
        [asset] = [a for a in SITES if a.asset_id == which]
        site = (asset.lat, asset.lng)
        ids = {link["threat_id"] for incident in sites_dataset.incidents
               if which in sites_dataset.assets_of[incident["id"]]
               for link in incident["threat_links"]}  # fmt: skip
        threats = frames.threats[frames.threats["threat_id"].isin(ids)]
    plot_site_map(frames, which, ax=ax)
    ax.figure.canvas.draw()  # the limits as drawn
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    located = threats[threats["lat"].notna() & threats["lng"].notna()]
    seen = located["lng"].between(x0, x1) & located["lat"].between(y0, y1)
    away = located[~seen]
    note = _note(ax)
    assert f"{count(len(threats))} threats" in note
    assert f"in view: {count(int(seen.sum()))}" in note
    assert len(away) > 0
    nearest = round(float(_haversine_km(site, away["lat"], away["lng"]).min()))
    assert f"outside the view: {count(len(away))} (nearest {count(nearest)} km away)" in note
    without = len(threats) - len(located)
    assert (f"without coordinates: {count(without)}" in note) == (without > 0)
    if which == "dense":
        assert (int(seen.sum()), len(away), without) == (
            sum(SPOT_COUNTS.values()) + SPREAD,
            FAR_N,
            UNLOCATED_N,
        )
        assert "pooled" in note
    else:
        assert "pooled" not in note


# -- every site ----------------------------------------------------------------------


def test_site_maps_one_panel_per_site_and_one_legend(sites_frames: IncidentFrames) -> None:
    frames = _with_extra_sites(sites_frames)
    fig = plot_site_maps(frames, ncols=3)
    assert isinstance(fig, Figure)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == [
        *(a.name for a in SITES),
        r"Site \$x\$ without coordinates",
        "Unsized depot",
    ]
    cells = -(-len(panels) // 3) * 3
    assert len(fig.axes) == cells  # a grid of 3 columns, spare cells hidden
    assert len(fig.axes) - len(panels) < 3
    assert all(ax.get_legend() is None for ax in fig.axes)
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == [*SEVERITY_ORDER, RADIUS_LABEL,
                                                          SITE_LABEL]  # fmt: skip
    _texts(fig)  # the whole figure draws

    two = plot_site_maps(sites_frames, ncols=2)
    assert len(two.axes) == -(-len(SITES) // 2) * 2
    positions = sorted({round(ax.get_position().x0, 2) for ax in two.axes})
    assert len(positions) == 2


def test_site_maps_draw_on_a_given_figure(sites_frames: IncidentFrames) -> None:
    figure = Figure(layout="constrained")
    before = plt.get_fignums()
    assert plot_site_maps(sites_frames, figure=figure) is figure
    assert plt.get_fignums() == before  # nothing registered with pyplot
    assert len([ax for ax in figure.axes if ax.get_visible()]) == len(SITES)


def test_map_names_are_documented_for_export() -> None:
    # __init__ loads plot helpers lazily; the map functions live in maps.
    for name in ("plot_threat_map", "plot_site_map", "plot_site_maps"):
        function = getattr(__import__("intrace_analytics.viz._maps", fromlist=[name]), name)
        assert function.__module__ == "intrace_analytics.viz._maps"
        assert "Examples" in (function.__doc__ or "")


def test_empty_threats_give_an_empty_map(ax: Axes) -> None:
    plot_threat_map(empty_frame("threats"), assets=empty_frame("assets"), ax=ax)
    assert _points(ax) == {}
    assert ax.get_legend() is None
    ax.figure.canvas.draw()
