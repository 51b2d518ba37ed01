"""Maps: threats by severity on plain longitude/latitude axes, with the monitored sites.

- :func:`plot_threat_map` every located threat at world scale, site markers only for
  the ``assets`` frame a caller passes (never example data);
- :func:`plot_site_map` one site: its marker, its monitoring radius as a true circle in
  kilometres, the threats of its incidents, framed around the site;
- :func:`plot_site_maps` one such panel per site in a :class:`~matplotlib.figure.Figure`
  with one legend.

No basemap: nothing is fetched from the network or a tile server. Severity colours and
order come from :mod:`intrace_analytics.viz._style` (the one palette). Overlapping points
stay visible: lower severities are drawn first and higher ones on top (critical last),
with white edges; on the world map, where a site's threats fall on one spot, lower
severities are drawn larger, so a cluster reads as rings of every severity present
around a critical core. A dense site map pools nearby threats the same way, with ring
areas proportional to counts. Text from the data is shown literally (no mathtext).

>>> from intrace_analytics.viz._maps import plot_site_maps, plot_threat_map
>>> ax = plot_threat_map(frames.threats, assets=frames.assets)  # doctest: +SKIP
>>> fig = plot_site_maps(frames, ncols=3)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.legend import Legend

from intrace_analytics._util import format as fmt
from intrace_analytics._util.checks import check_choice, check_int, fail
from intrace_analytics.frames._container import IncidentFrames
from intrace_analytics.viz import _style as style

__all__ = [
    "DENSE_POINTS",
    "RADIUS_LABEL",
    "SITE_LABEL",
    "plot_site_map",
    "plot_site_maps",
    "plot_threat_map",
]

#: The mean Earth radius (IUGG), for circles of a given radius in kilometres.
EARTH_RADIUS_KM = 6371.0088

#: Legend entries of the site marker and of the monitoring radius.
SITE_LABEL = "monitored site"
RADIUS_LABEL = "monitoring radius"

#: Marker area (points^2) per severity on the world map: lower levels larger, so a
#: cluster at world scale shows a ring of each level present around the higher ones.
_WORLD_SIZES = {"low": 420.0, "medium": 250.0, "high": 120.0, "critical": 40.0}
_UNKNOWN_WORLD_SIZE = 600.0
#: On a site map points spread out: one size, white edges separate overlaps.
_SITE_SIZE = 30.0
#: Above this many threats in a site map's view, single points pile into blobs: the
#: threats are pooled by place (:func:`_pooled_severities`) on a grid of
#: ``_POOL_CELLS`` cells across the view.
DENSE_POINTS = 300
_POOL_CELLS = 24
#: Marker area (points^2) of the cell with the most threats in a pooled panel: about
#: two cells across at the report's panel size, so the busiest places stand out; at
#: most ``_POOL_AREA_PER_THREAT`` per threat, so a panel of thinly spread threats is
#: not drawn as big as a dense one.
_POOL_MAX_AREA = 260.0
_POOL_AREA_PER_THREAT = 12.0
_CORE_MIN = 4.0  # points: the smallest pooled marker stays visible
_RING_MIN = 1.2  # points: the narrowest ring of a level around the one inside it
_SITE_ZORDER = 10.0
_THREAT_ZORDER = 3.0
_RADIUS_COLOR = "#0072B2"
_MARGIN = 1.3  # the site map's half-height, in monitoring radii
_DEFAULT_HALF_KM = 50.0  # the site map's half-height when the radius is unknown
_HALO = [patheffects.withStroke(linewidth=3, foreground="white")]


def _located(threats: pd.DataFrame) -> pd.DataFrame:
    return threats.loc[(threats["lat"].notna() & threats["lng"].notna()).to_numpy(dtype=bool)]


def _severity_labels(located: pd.DataFrame) -> tuple[pd.Series, list[str]]:
    """Each threat's severity label, and the order to draw the labels in: unknown and
    missing below, then the known levels low → critical, so critical is drawn on top."""
    labels = pd.Series(style.labels(located["severity"]), index=located.index, dtype=object)
    known = style.ordered(list(labels.unique()), style.SEVERITY_ORDER)
    order = [label for label in known if label not in style.SEVERITY_ORDER]
    return labels, [*order, *style.SEVERITY_ORDER]


def _scatter_severities(
    ax: Axes, threats: pd.DataFrame, *, world: bool, **kwargs: Any
) -> dict[str, int]:
    """One scatter per severity label, lowest first so critical is drawn on top.

    Unknown labels and missing severities (grey) go below ``low``. Returns the number
    of points per label drawn.
    """
    located = _located(threats)
    labels, order = _severity_labels(located)
    drawn: dict[str, int] = {}
    for z, label in enumerate(order):
        rows = located.loc[(labels == label).to_numpy(dtype=bool)]
        if not len(rows):
            continue
        options: dict[str, Any] = {
            "s": _WORLD_SIZES.get(label, _UNKNOWN_WORLD_SIZE) if world else _SITE_SIZE,
            "alpha": 0.85,
            "edgecolors": "white",
            "linewidths": 0.5,
            "zorder": _THREAT_ZORDER + z / 10,
            **kwargs,
        }
        ax.scatter(
            rows["lng"].to_numpy(dtype="float64"),
            rows["lat"].to_numpy(dtype="float64"),
            color=style.severity_color(label),
            label=style.literal(label),
            **options,
        )
        drawn[label] = len(rows)
    return drawn


def _pooled_severities(
    ax: Axes, located: pd.DataFrame, corner: tuple[float, float], cell: tuple[float, float],
    **kwargs: Any,
) -> int:  # fmt: skip
    """Threats pooled by place: one marker per cell of a grid (``corner``, the view's
    lower left, and ``cell``, a cell's width and height in degrees) and severity
    present in it, at the mean position of the cell's threats.

    A cell's markers are concentric rings, one per severity present, drawn lowest
    first: the ring of a level has the area of the threats at that level or above, so
    each ring's own area is proportional to its level's count, critical is the core on
    top, and no level hides another. Returns the most threats in one cell.
    """
    labels, order = _severity_labels(located)
    lng = located["lng"].to_numpy(dtype="float64")
    lat = located["lat"].to_numpy(dtype="float64")
    column = np.floor((lng - corner[0]) / cell[0]).astype(np.int64)
    row = np.floor((lat - corner[1]) / cell[1]).astype(np.int64)
    cells, where = np.unique(row * (_POOL_CELLS + 1) + column, return_inverse=True)
    level = np.array([order.index(label) for label in labels], dtype=np.int64)
    counts = np.zeros((len(cells), len(order)), dtype=np.int64)
    np.add.at(counts, (where, level), 1)
    size = np.bincount(where)
    x, y = np.bincount(where, lng) / size, np.bincount(where, lat) / size
    # Threats at each level or above, per cell: the area each ring encloses.
    enclosed = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1]
    largest = int(enclosed[:, 0].max())
    per_threat = min(_POOL_MAX_AREA / largest, _POOL_AREA_PER_THREAT)
    diameters = _ring_diameters(counts, np.sqrt(enclosed * per_threat))
    for z, label in enumerate(order):
        present = counts[:, z] > 0
        if not present.any():
            continue
        options: dict[str, Any] = {"edgecolors": "white", "linewidths": 0.4,
                                   "zorder": _THREAT_ZORDER + z / 10, **kwargs}  # fmt: skip
        ax.scatter(x[present], y[present], s=diameters[present, z] ** 2,
                   color=style.severity_color(label),
                   label=style.literal(label), **options)  # fmt: skip
    return largest


def _ring_diameters(counts: np.ndarray, diameters: np.ndarray) -> np.ndarray:
    """``diameters`` (points, by area) widened from the core outwards so every level
    present in a cell shows: the core at least :data:`_CORE_MIN` across, each ring at
    least :data:`_RING_MIN` wide around the level inside it; NaN where a level is absent."""
    out = np.full(diameters.shape, np.nan)
    inside = np.zeros(len(diameters))  # the diameter of the nearest inner level drawn
    for j in range(diameters.shape[1] - 1, -1, -1):
        present = counts[:, j] > 0
        least = np.where(inside > 0, inside + 2 * _RING_MIN, _CORE_MIN)
        widened = np.maximum(diameters[:, j], least)
        out[:, j] = np.where(present, widened, np.nan)
        inside = np.where(present, widened, inside)
    return out


def _site_markers(ax: Axes, lng: np.ndarray, lat: np.ndarray, *, size: float = 70.0) -> None:
    ax.scatter(
        lng,
        lat,
        marker="^",
        s=size,
        facecolor="none",  # hollow, so the threats at a site stay visible
        edgecolor="black",
        linewidth=1.4,
        label=SITE_LABEL,
        zorder=_SITE_ZORDER,
    )


def _legend_order(labels: list[str]) -> list[str]:
    """Known severities in the palette's order, then other labels as drawn, then the
    site marker and the radius."""
    levels = [style.literal(level) for level in style.SEVERITY_ORDER]

    def key(label: str) -> tuple[int, int]:
        if label in levels:
            return 0, levels.index(label)
        return (2, 0) if label in (SITE_LABEL, RADIUS_LABEL) else (1, 0)

    return sorted(dict.fromkeys(labels), key=key)


def _legend_in_order(ax: Axes, **kwargs: Any) -> None:
    """The legend in :func:`_legend_order`, only when something carries a label."""
    handles = dict(zip(*reversed(ax.get_legend_handles_labels()), strict=True))
    if handles:
        order = _legend_order(list(handles))
        _one_size(ax.legend([handles[label] for label in order], order, **kwargs))


def _one_size(legend: Legend) -> None:
    """One marker size in the legend, whatever the map's (pooled markers vary)."""
    for handle in legend.legend_handles:
        if isinstance(handle, PathCollection):
            handle.set_sizes([40.0])


#: Site names on the world map, in points.
_LABEL_FONTSIZE = 8.0
#: A generous estimate of a label's size in points, per character and per line: the
#: placement below needs no renderer, so it works on any canvas before drawing.
_CHAR_WIDTH = 0.62 * _LABEL_FONTSIZE
_LINE_HEIGHT = 1.3 * _LABEL_FONTSIZE


def _label_places(
    ax: Axes, names: list[str], lng: np.ndarray, lat: np.ndarray
) -> list[tuple[float, float, str, str]]:
    """Where each site's name goes (offset in points, alignment) so no two names touch.

    Sites a few kilometres apart (a head office and its depot) share one spot at world
    scale: each name tries the places around its marker (right above, right below,
    left above, left below, then further down on the right) and takes the first whose
    box, estimated from its length, stays within the axes' width and overlaps no name
    placed before (failing that, the first free place; the nearest stacked rows come
    before farther ones). Northern sites are placed first.
    """
    ax.apply_aspect()  # the equal aspect decides where each site lands on the canvas
    to_points = 72.0 / ax.figure.dpi
    anchors = ax.transData.transform(np.column_stack([lng, lat])) * to_points
    frame = tuple(float(v) * to_points for v in ax.bbox.extents)
    placed: list[tuple[float, float, float, float]] = []
    places: list[tuple[float, float, str, str]] = [(9.0, 4.0, "left", "bottom")] * len(names)
    for i in sorted(range(len(names)), key=lambda i: (-lat[i], lng[i])):
        width, height = _CHAR_WIDTH * len(names[i]), _LINE_HEIGHT
        candidates = [
            (9.0, 4.0, "left", "bottom"),
            (9.0, -4.0, "left", "top"),
            (-9.0, 4.0, "right", "bottom"),
            (-9.0, -4.0, "right", "top"),
            *(
                place
                for k in range(1, len(names) + 1)
                for place in [
                    (9.0, -4.0 - k * height, "left", "top"),
                    (-9.0, -4.0 - k * height, "right", "top"),
                    (9.0, 4.0 + k * height, "left", "bottom"),
                    (-9.0, 4.0 + k * height, "right", "bottom"),
                ]
            ),
        ]
        x, y = anchors[i]
        boxes = []
        for dx, dy, ha, va in candidates:
            x0 = x + dx - (width if ha == "right" else 0.0)
            y0 = y + dy - (height if va == "top" else 0.0)
            boxes.append((x0, y0, x0 + width, y0 + height))
        free = [not any(_boxes_overlap(box, other) for other in placed) for box in boxes]
        inside = [frame[0] <= box[0] and box[2] <= frame[2] for box in boxes]
        # Free and inside the axes, else free (a long name may pass the edge), else
        # the first place (crowded beyond help: the figure is too small).
        best = next(
            (k for k in range(len(boxes)) if free[k] and inside[k]),
            next((k for k in range(len(boxes)) if free[k]), 0),
        )
        placed.append(boxes[best])
        places[i] = candidates[best]
    return places


def _boxes_overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def plot_threat_map(
    threats: pd.DataFrame,
    *,
    assets: pd.DataFrame | None = None,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Threat coordinates coloured by severity, with the given monitored sites marked.

    Plain longitude/latitude axes with an equal aspect: no basemap, so nothing is
    fetched from the network or a tile server.

    Parameters
    ----------
    threats : DataFrame
        The threats frame; rows without ``lat`` or ``lng`` are left out.
    assets : DataFrame, optional
        The monitored sites to mark (``frames.assets``: ``name``, ``lat``, ``lng``),
        drawn as labelled hollow triangles; sites without coordinates are left out.
        ``None`` (the default) marks no site: a map shows only sites its data brought.
    ax : Axes, optional
        Where to draw; ``plt.gca()`` by default.
    **kwargs
        Passed on to :meth:`~matplotlib.axes.Axes.scatter` for the threats.

    Returns
    -------
    Axes
        ``ax``, with one scatter per severity label present, labelled with it, drawn
        lowest first (unknown and missing labels below ``low``, ``critical`` on top,
        larger markers for lower levels so every level of a cluster shows), and, when
        sites are given, one scatter labelled :data:`SITE_LABEL` with each site's name
        beside it. The limits cover the threats and the sites.

    Examples
    --------
    >>> ax = plot_threat_map(frames.threats, assets=frames.assets)  # doctest: +SKIP
    """
    ax = style.axes(ax)
    _scatter_severities(ax, threats, world=True, **kwargs)
    located = _located(threats)
    no_sites = pd.DataFrame({"name": [], "lat": [], "lng": []})
    sites = _located(assets) if assets is not None else no_sites
    lng = sites["lng"].to_numpy(dtype="float64")
    lat = sites["lat"].to_numpy(dtype="float64")
    if len(sites):
        _site_markers(ax, lng, lat)
    _world_view(
        ax,
        np.concatenate([located["lng"].to_numpy(dtype="float64"), lng]),
        np.concatenate([located["lat"].to_numpy(dtype="float64"), lat]),
    )
    if len(sites):
        _site_names(ax, [style.literal(fmt.label(name)) for name in sites["name"]], lng, lat)
    ax.grid(True, color="#dddddd", linewidth=0.5)
    ax.set_axisbelow(True)
    ax.set_xlabel("Longitude")
    ax.set_ylabel("Latitude")
    ax.set_title("Threats by location and severity")
    _legend_in_order(ax, title="Severity", fontsize="small")
    return ax


def _world_view(ax: Axes, xs: np.ndarray, ys: np.ndarray) -> None:
    """Every point in view, with a margin and at least a few degrees across, at an
    equal aspect."""
    if len(xs):
        pad_x = max(np.ptp(xs) * 0.08, 2.0)
        pad_y = max(np.ptp(ys) * 0.08, 2.0)
        ax.set_xlim(xs.min() - pad_x, xs.max() + pad_x)
        ax.set_ylim(ys.min() - pad_y, ys.max() + pad_y)
    ax.set_aspect("equal", adjustable="box")


def _site_names(ax: Axes, names: list[str], lng: np.ndarray, lat: np.ndarray) -> None:
    """Each site's name beside its marker, placed by :func:`_label_places` (so after the
    limits and aspect are set)."""
    for name, x, y, (dx, dy, ha, va) in zip(
        names, lng, lat, _label_places(ax, names, lng, lat), strict=True
    ):
        ax.annotate(
            name,
            (x, y),
            xytext=(dx, dy),
            textcoords="offset points",
            ha=ha,
            va=va,
            fontsize=_LABEL_FONTSIZE,
            path_effects=_HALO,
            zorder=_SITE_ZORDER + 1,
        )


# -- one site ------------------------------------------------------------------------


def circle_polygon(lat: float, lng: float, radius_km: float, n: int = 121) -> np.ndarray:
    """The points at ``radius_km`` from a site along the sphere: a true circle on the
    ground, as ``(n, 2)`` longitude/latitude degrees (first point repeated last).

    Each point is the destination at that great-circle distance along one bearing, so
    the polygon spans ``radius / (R cos lat)`` radians of longitude and ``radius / R``
    of latitude (to first order), whatever the latitude.

    Examples
    --------
    >>> ring = circle_polygon(0.0, 0.0, 111.19508)
    >>> round(float(ring[:, 1].max()), 4), round(float(ring[:, 0].max()), 4)
    (1.0, 1.0)
    """
    phi, lam = math.radians(lat), math.radians(lng)
    delta = radius_km / EARTH_RADIUS_KM
    bearing = np.linspace(0.0, 2 * np.pi, n)
    sin_phi2 = np.sin(phi) * np.cos(delta) + np.cos(phi) * np.sin(delta) * np.cos(bearing)
    phi2 = np.arcsin(np.clip(sin_phi2, -1.0, 1.0))
    lam2 = lam + np.arctan2(
        np.sin(bearing) * np.sin(delta) * np.cos(phi), np.cos(delta) - np.sin(phi) * sin_phi2
    )
    return np.column_stack([np.degrees(lam2), np.degrees(phi2)])


def _require_sites(frames: IncidentFrames) -> pd.DataFrame:
    assets = frames.assets
    if len(assets) == 0:
        raise fail("frames", "frames with sites loaded (load_incidents(..., assets=True))", frames)
    return assets


def _site_threats(frames: IncidentFrames, asset_id: str) -> tuple[pd.DataFrame, int]:
    """The distinct threats linked to the site's incidents, and how many incidents."""
    pairs = frames.incident_assets
    incident_ids = pairs.loc[(pairs["asset_id"] == asset_id).fillna(False), "incident_id"]
    links = frames.links
    threat_ids = links.loc[links["incident_id"].isin(incident_ids), "threat_id"]
    threats = frames.threats
    return threats.loc[threats["threat_id"].isin(threat_ids)], int(incident_ids.nunique())


def _panel_note(ax: Axes, lines: list[str]) -> None:
    ax.text(
        0.02,
        0.02,
        "\n".join(lines),
        transform=ax.transAxes,
        fontsize="x-small",
        va="bottom",
        ha="left",
        color="#333333",
        path_effects=_HALO,
        zorder=_SITE_ZORDER + 2,
    )


def plot_site_map(
    frames: IncidentFrames, asset_id: str, *, ax: Axes | None = None, **kwargs: Any
) -> Axes:
    """One monitored site: its marker, its monitoring radius, its incidents' threats.

    Parameters
    ----------
    frames : IncidentFrames
        Frames loaded with sites (``frames.assets``, ``frames.incident_assets``).
    asset_id : str
        The site, one of ``frames.assets["asset_id"]``.
    ax : Axes, optional
        Where to draw; ``plt.gca()`` by default.
    **kwargs
        Passed on to :meth:`~matplotlib.axes.Axes.scatter` for the threats.

    Returns
    -------
    Axes
        ``ax``, titled with the site's name, with a hollow triangle at the site
        (:data:`SITE_LABEL`), its monitoring radius as the line :data:`RADIUS_LABEL`
        (a true circle on the ground, :func:`circle_polygon`), and the threats linked to
        its incidents (``incident_assets`` → ``links`` → ``threats``), one scatter per
        severity drawn lowest first. Beyond :data:`DENSE_POINTS` threats in view,
        nearby threats are pooled: one marker per place and severity present, sized by
        count, the levels of a place concentric rings around a critical core, so no
        level hides another. The view is the circle plus a margin with the local
        aspect (one degree of longitude drawn ``cos(lat)`` as wide as one of
        latitude), so the circle looks round; a note in the corner gives the radius,
        the counts, and where every threat is: in view (pooled or not), outside it (and
        the nearest one's distance), or without coordinates. A site without
        coordinates gets a panel that says so.

    Raises
    ------
    ValueError
        ``frames`` hold no sites, or ``asset_id`` is not one of them.

    Examples
    --------
    >>> ax = plot_site_map(frames, "lagos-hq")  # doctest: +SKIP
    """
    assets = _require_sites(frames)
    check_choice("asset_id", asset_id, tuple(assets["asset_id"].dropna()))
    ax = style.axes(ax)
    site = assets.loc[(assets["asset_id"] == asset_id).fillna(False)].iloc[0]
    ax.set_title(style.literal(fmt.label(site["name"])), fontsize="medium")
    threats, n_incidents = _site_threats(frames, asset_id)
    counts = f"{fmt.count(n_incidents)} incidents, {fmt.count(len(threats))} threats"
    if pd.isna(site["lat"]) or pd.isna(site["lng"]):
        return _no_coordinates(ax, counts)
    lat, lng = float(site["lat"]), float(site["lng"])
    radius = _radius_km(site)
    if radius is not None:
        ring = circle_polygon(lat, lng, radius)
        ax.plot(ring[:, 0], ring[:, 1], color=_RADIUS_COLOR, linewidth=1.2,
                linestyle="--", label=RADIUS_LABEL, zorder=_THREAT_ZORDER - 1)  # fmt: skip
    half_lat, half_lng = _site_view(ax, lat, lng, radius)
    located = _located(threats)
    inside = (((located["lat"] - lat).abs() <= half_lat)
              & ((located["lng"] - lng).abs() <= half_lng)).to_numpy(dtype=bool)  # fmt: skip
    largest = None
    if inside.sum() > DENSE_POINTS:
        corner = (lng - half_lng, lat - half_lat)
        cell = (2 * half_lng / _POOL_CELLS, 2 * half_lat / _POOL_CELLS)
        largest = _pooled_severities(ax, located.loc[inside], corner, cell, **kwargs)
    else:
        _scatter_severities(ax, threats, world=False, **kwargs)
    _site_markers(ax, np.array([lng]), np.array([lat]), size=110.0)
    note = [f"{_radius_text(radius)}; {counts}"]
    _panel_note(ax, note + _whereabouts(located, inside, (lat, lng), len(threats), largest))
    ax.grid(True, color="#eeeeee", linewidth=0.5)
    ax.set_axisbelow(True)
    ax.tick_params(labelsize="x-small")
    ax.set_xlabel("Longitude", fontsize="small")
    ax.set_ylabel("Latitude", fontsize="small")
    _legend_in_order(ax, fontsize="x-small", loc="upper right")
    return ax


def _radius_text(radius: float | None) -> str:
    return (
        "monitoring radius unknown" if radius is None else f"radius {fmt.count(round(radius))} km"
    )


def _whereabouts(
    located: pd.DataFrame,
    inside: np.ndarray,
    site: tuple[float, float],
    n_threats: int,
    largest: int | None,
) -> list[str]:
    """The note's account of every threat of the site: how many are in view (and how
    they are pooled), outside it (and how near the nearest is: usually near another
    site an incident shares), and without coordinates; the three add up to the total."""
    if not n_threats:
        return []
    lines = [f"in view: {fmt.count(int(inside.sum()))}"]
    if largest is not None:
        lines[0] += f", pooled (area \u221d count, most {fmt.count(largest)})"
    away = located.loc[~inside]
    if len(away):
        nearest = float(np.min(_distance_km(site, away["lat"], away["lng"])))
        lines.append(f"outside the view: {fmt.count(len(away))} "
                     f"(nearest {fmt.count(round(nearest))} km away)")  # fmt: skip
    if n_threats > len(located):
        lines.append(f"without coordinates: {fmt.count(n_threats - len(located))}")
    return lines


def _distance_km(site: tuple[float, float], lat: Any, lng: Any) -> np.ndarray:
    """Great-circle (haversine) distances from ``site`` (lat, lng) to each point."""
    lat1, lng1 = np.radians(site[0]), np.radians(site[1])
    lat2 = np.radians(np.asarray(lat, dtype="float64"))
    lng2 = np.radians(np.asarray(lng, dtype="float64"))
    h = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lng2 - lng1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def _radius_km(site: pd.Series) -> float | None:
    """The site's monitoring radius in km; None when unknown (missing, zero or negative)."""
    radius = site.get("monitoring_radius_km")
    if radius is None or pd.isna(radius) or float(radius) <= 0:
        return None
    return float(radius)


def _no_coordinates(ax: Axes, counts: str) -> Axes:
    """The panel of a site without coordinates: it says so, and gives the counts."""
    ax.text(0.5, 0.5, "no coordinates for this site", transform=ax.transAxes,
            ha="center", va="center", color="#555555")  # fmt: skip
    _panel_note(ax, [counts])
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def _site_view(ax: Axes, lat: float, lng: float, radius: float | None) -> tuple[float, float]:
    """Frame the site: its circle plus a margin (a default half-height without a radius),
    at the local aspect. Returns the view's half-height and half-width in degrees."""
    half_km = _MARGIN * radius if radius is not None else _DEFAULT_HALF_KM
    half_lat = math.degrees(half_km / EARTH_RADIUS_KM)
    cos_lat = max(math.cos(math.radians(lat)), 0.01)
    half_lng = half_lat / cos_lat
    ax.set_xlim(lng - half_lng, lng + half_lng)
    ax.set_ylim(lat - half_lat, lat + half_lat)
    # One degree of latitude drawn 1/cos(lat) times one of longitude: lengths on the
    # ground look alike in both directions (a local equirectangular view).
    ax.set_aspect(1.0 / cos_lat, adjustable="box")
    return half_lat, half_lng


def plot_site_maps(
    frames: IncidentFrames, *, ncols: int = 3, figure: Figure | None = None, **kwargs: Any
) -> Figure:
    """Every monitored site in its own :func:`plot_site_map` panel, with one legend.

    Parameters
    ----------
    frames : IncidentFrames
        Frames loaded with sites.
    ncols : int, default 3
        Panels per row; the rows follow (sites in ``frames.assets``' order).
    figure : Figure, optional
        Where to draw (empty); a new pyplot figure by default, sized to the grid.
    **kwargs
        Passed on to :func:`plot_site_map` (and so to the threats' scatter).

    Returns
    -------
    Figure
        One panel per site (spare cells of the grid hidden) and one figure legend
        below them: the severities present in any panel in the palette's order, then
        the site marker and the monitoring radius. The panels carry no legend.

    Raises
    ------
    ValueError
        ``frames`` hold no sites, or ``ncols`` is not a positive integer.

    Examples
    --------
    >>> fig = plot_site_maps(frames, ncols=2)  # doctest: +SKIP
    >>> fig.savefig("sites.png")  # doctest: +SKIP
    """
    assets = _require_sites(frames)
    ncols = check_int("ncols", ncols, 1)
    cols = min(ncols, len(assets))
    rows = math.ceil(len(assets) / cols)
    if figure is None:
        figure = plt.figure(figsize=(4.2 * cols, 4.2 * rows + 0.5), layout="constrained")
    grid = figure.subplots(rows, cols, squeeze=False)
    handles: dict[str, Any] = {}
    for ax, asset_id in zip(grid.flat, assets["asset_id"], strict=False):
        plot_site_map(frames, asset_id, ax=ax, **kwargs)
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    for ax in grid.flat[len(assets) :]:
        ax.set_visible(False)
    severity_first = _legend_order(list(handles))
    if handles:
        legend = figure.legend(
            [handles[label] for label in severity_first],
            severity_first,
            loc="outside lower center",
            ncols=min(len(handles), 8),
            title="Severity of the threats linked to each site's incidents",
            fontsize="small",
            title_fontsize="small",
        )
        _one_size(legend)
    return figure
