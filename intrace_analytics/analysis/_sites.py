"""Incidents per monitored site: which incidents touch each site, and how exposed it is.

Pure, vectorised functions over :class:`~intrace_analytics.frames._container.IncidentFrames` loaded
with sites (``load_incidents(..., assets=True)``: ``frames.assets`` and
``frames.incident_assets``). Loops run over sites, never over rows.

- :func:`incidents_by_asset` repeats each incident once per site it touches, so that
  every breakdown (:func:`~intrace_analytics.analysis._status.status_breakdown`,
  :func:`~intrace_analytics.analysis._survival.resolution_summary`, ...) works per site with
  ``by="asset_name"`` (or ``by="asset_id"``);
- :func:`asset_exposure` gives one row per site: active sites first, each status's sites
  the most exposed first.

This module composes :mod:`~intrace_analytics.analysis._status` and
:mod:`~intrace_analytics.analysis._survival`; neither imports it.

>>> from intrace_analytics.analysis._sites import asset_exposure, incidents_by_asset
>>> status_breakdown(incidents_by_asset(frames), by="asset_name")  # doctest: +SKIP
>>> asset_exposure(frames, as_of="2026-10-01").head(3)  # doctest: +SKIP
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from intrace_analytics._util import clock
from intrace_analytics.analysis._common import positions, require, started_by
from intrace_analytics.analysis._status import incident_severity
from intrace_analytics.analysis._survival import resolution_summary
from intrace_analytics.frames import _schema as schema
from intrace_analytics.frames._container import IncidentFrames

__all__ = ["EXPOSURE_COLUMNS", "asset_exposure", "incidents_by_asset"]

#: The columns of :func:`asset_exposure`, in order.
EXPOSURE_COLUMNS = (
    "asset_id",
    "name",
    "site_status",
    "incidents",
    "open",
    "max_open_severity",
    "open_critical",
    "km_median",
)

_SEVERITY = pd.CategoricalDtype(list(schema.SEVERITIES), ordered=True)
_CRITICAL = schema.SEVERITIES.index("critical")
#: The site status listed first: sites still monitored before archived ones.
ACTIVE = "active"


def _pairs(frames: IncidentFrames) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each distinct (incident, site) pair of ``incident_assets`` whose incident is
    loaded, as (incident row, site row, site id); the site row is -1 for a site id
    that ``frames.assets`` does not hold. In the incidents' order, then the sites'."""
    require("frames.incident_assets", frames.incident_assets, ["incident_id", "asset_id"])
    require("frames.assets", frames.assets, ["asset_id", "name"])
    pairs = frames.incident_assets[["incident_id", "asset_id"]].drop_duplicates()
    pairs = pairs[pairs["asset_id"].notna().to_numpy(dtype=bool)]
    incident_row = positions(pairs["incident_id"], frames.incidents["incident_id"])
    site_row = positions(pairs["asset_id"], frames.assets["asset_id"])
    ids = pairs["asset_id"].astype(pd.StringDtype()).to_numpy()
    kept = incident_row >= 0
    incident_row, site_row, ids = incident_row[kept], site_row[kept], ids[kept]
    # Within an incident, sites in frames.assets' order; a site it does not hold last.
    rank = np.where(site_row >= 0, site_row, len(frames.assets))
    order = np.lexsort((rank, incident_row))
    return incident_row[order], site_row[order], ids[order]


def incidents_by_asset(frames: IncidentFrames) -> pd.DataFrame:
    """The incidents frame with one row per (incident, site) pair, and the site named.

    Parameters
    ----------
    frames : IncidentFrames
        Incidents with their sites (``frames.assets``, ``frames.incident_assets``);
        frames loaded without sites give every incident once, unassigned.

    Returns
    -------
    DataFrame
        The columns of ``frames.incidents`` (same dtypes) plus ``asset_id`` and
        ``asset_name`` (strings). An incident touching several sites appears once per
        site (in the sites' order); an incident touching no loaded site appears once,
        with ``asset_id`` and ``asset_name`` NA. Rows follow the incidents' order.

    Notes
    -----
    Counts reconcile: ``incident_id.nunique()`` is the number of incidents; grouped by
    site, the counts sum to at least the number of incidents (an incident shared by
    two sites counts at each), and the NA group (a group of its own in every breakdown,
    listed last) is the number of incidents that touch no loaded site. So
    ``status_breakdown(frame, by="asset_name")`` and
    ``resolution_summary(frame, by="asset_name")`` give per-site tables whose non-NA
    rows are each site's own incidents. Two sites with the same name fall into one
    group; group ``by="asset_id"`` to keep them apart. Functions that count each
    incident once (``open_backlog``, ``data_quality``, ``incident_severity``) take
    ``frames.incidents``, not this frame.

    Examples
    --------
    >>> frames = IncidentFrames.empty()
    >>> incidents_by_asset(frames).columns.tolist()[-2:]
    ['asset_id', 'asset_name']
    """
    incidents = frames.incidents.reset_index(drop=True)
    incident_row, site_row, ids = _pairs(frames)
    alone = np.ones(len(incidents), dtype=bool)
    alone[incident_row] = False
    lonely = np.flatnonzero(alone)
    rows = np.concatenate([incident_row, lonely])
    sites = np.concatenate([site_row, np.full(len(lonely), -1, dtype=np.int64)])
    site_ids = pd.array(np.concatenate([ids, np.full(len(lonely), pd.NA)]), dtype="string")
    order = np.argsort(rows, kind="stable")  # pairs come sorted; lonely rows slot in
    names = frames.assets["name"].astype(pd.StringDtype()).reset_index(drop=True)
    site_names = names.reindex(sites[order]).array  # -1 (no such row) gives NA
    out = incidents.take(rows[order]).reset_index(drop=True)
    out["asset_id"] = pd.Series(site_ids[order], dtype=pd.StringDtype())
    out["asset_name"] = pd.Series(site_names, dtype=pd.StringDtype())
    return out


_SITE_STATUS = schema.ASSETS.column("site_status")


def _status_groups(values: pd.Series) -> np.ndarray:
    """Per site the place of its status's group: active first, then each other status
    in category order (``archived`` as the API lists it), a missing status last."""
    categorical = isinstance(values.dtype, pd.CategoricalDtype)
    statuses = values if categorical else values.astype("category")
    codes = statuses.cat.codes.to_numpy().astype(np.int64)
    place = np.where(codes < 0, len(statuses.cat.categories) + 1, codes + 1)
    return np.where((statuses == ACTIVE).fillna(False).to_numpy(dtype=bool), 0, place)


def _empty_exposure() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "asset_id": pd.Series([], dtype=pd.StringDtype()),
            "name": pd.Series([], dtype=pd.StringDtype()),
            "site_status": pd.Series([], dtype=schema.pandas_dtype(_SITE_STATUS, [])),
            "incidents": pd.Series([], dtype="int64"),
            "open": pd.Series([], dtype="int64"),
            "max_open_severity": pd.Categorical([], dtype=_SEVERITY),
            "open_critical": pd.Series([], dtype="int64"),
            "km_median": pd.Series([], dtype=f"timedelta64[{schema.TIMESTAMP_UNIT}]"),
        }
    )


def asset_exposure(
    frames: IncidentFrames, *, as_of: pd.Timestamp | datetime | str | None = None
) -> pd.DataFrame:
    """How exposed each monitored site is: its incidents, open ones and their severity.

    Parameters
    ----------
    frames : IncidentFrames
        Incidents, links and threats with their sites (``frames.assets``,
        ``frames.incident_assets``).
    as_of : timestamp, optional
        The moment the table describes: incidents that started after it (``started_at``,
        else ``created_at``) are not counted at all, and those unresolved then are
        censored there for ``km_median``. ``None`` is the current UTC time, read at call
        time. Naive values are taken as UTC.

    Returns
    -------
    DataFrame
        One row per site of ``frames.assets`` (:data:`EXPOSURE_COLUMNS`):

        - ``asset_id``, ``name``, ``site_status``: the site, and its status as the API
          reports it (``active``, ``archived``, ...);
        - ``incidents``: the loaded incidents that touch it and had started by ``as_of``;
        - ``open``: those whose status says ``open`` (the status field as the API
          reported it at the fetch, as in
          :func:`~intrace_analytics.analysis._status.status_breakdown`; not the resolution
          tables' ``unresolved``, which counts every incident not resolved by ``as_of``);
        - ``max_open_severity``: the highest known linked severity among the open
          ones (:func:`~intrace_analytics.analysis._status.incident_severity`; an ordered
          categorical, NA when no open incident has a known severity);
        - ``open_critical``: open incidents with a critical linked threat;
        - ``km_median``: the Kaplan-Meier median time to resolution of the site's
          incidents, those not resolved by ``as_of`` censored there, those resolved
          without time left out (:func:`~intrace_analytics.analysis._survival.resolution_summary`);
          ``NaT`` when not reached (fewer than half resolved, or no incidents).

        A site without incidents has zeros. Active sites come first, then each other
        status's (``archived``: no longer monitored, its incidents history), so that a
        retired depot never reads as a live one; within each, the most exposed first:
        highest ``max_open_severity`` (NA last), then most ``open``, then most
        ``incidents``, then the sites' order. Empty (typed) when frames hold no sites.

    Examples
    --------
    >>> asset_exposure(IncidentFrames.empty(), as_of="2026-10-01").columns.tolist()[:4]
    ['asset_id', 'name', 'site_status', 'incidents']
    """
    cutoff = clock.as_of(as_of)
    assets = frames.assets
    require("frames.assets", assets, ["asset_id", "name", "site_status"])
    if len(assets) == 0:
        return _empty_exposure()
    n_sites = len(assets)
    incident_row, site_row, _ = _pairs(frames)
    # An as-of is a moment: an incident that started after it is not part of it.
    known = (site_row >= 0) & started_by(frames.incidents, cutoff)[incident_row]
    incident_row, site_row = incident_row[known], site_row[known]

    is_open = (frames.incidents["status"] == "open").fillna(False).to_numpy(dtype=bool)
    level = incident_severity(frames)["max_severity"].cat.codes.to_numpy().astype(np.int64)
    pair_open = is_open[incident_row]
    pair_level = np.where(pair_open, level[incident_row], -1)
    incidents = np.bincount(site_row, minlength=n_sites)
    open_ = np.bincount(site_row[pair_open], minlength=n_sites)
    critical = np.bincount(site_row[pair_level == _CRITICAL], minlength=n_sites)
    worst = np.full(n_sites, -1, dtype=np.int64)
    np.maximum.at(worst, site_row, pair_level)

    # The Kaplan-Meier median per site, as resolution_summary computes it per group.
    per_pair = frames.incidents.reset_index(drop=True).take(incident_row).reset_index(drop=True)
    per_pair["_site"] = site_row
    summary = resolution_summary(per_pair, by="_site", as_of=cutoff)
    km_median = np.full(
        n_sites, np.timedelta64("NaT"), dtype=f"timedelta64[{schema.TIMESTAMP_UNIT}]"
    )
    km_median[summary["_site"].to_numpy(dtype=np.int64)] = summary["km_median"].to_numpy(
        dtype=f"timedelta64[{schema.TIMESTAMP_UNIT}]"
    )

    out = pd.DataFrame(
        {
            "asset_id": assets["asset_id"].astype(pd.StringDtype()).to_numpy(),
            "name": assets["name"].astype(pd.StringDtype()).to_numpy(),
            "site_status": assets["site_status"].reset_index(drop=True).array,
            "incidents": incidents.astype(np.int64),
            "open": open_.astype(np.int64),
            "max_open_severity": pd.Categorical.from_codes(worst, dtype=_SEVERITY),
            "open_critical": critical.astype(np.int64),
            "km_median": pd.to_timedelta(km_median),
        }
    ).astype({"asset_id": pd.StringDtype(), "name": pd.StringDtype()})
    group = _status_groups(assets["site_status"])
    order = np.lexsort((np.arange(n_sites), -incidents, -open_, -worst, group))
    return out.take(order).reset_index(drop=True)
