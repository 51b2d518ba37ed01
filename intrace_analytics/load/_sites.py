"""Sites: the monitored assets of ``GET /v1/assets``, and which incidents touch each.

Incident payloads do not name the sites they touch: the ``asset_id`` filter of
``GET /v1/incidents`` is the only way to learn it, one site at a time. :func:`read_sites`
reads each site's incident ids (with the main load's ``status``/``scope`` filters),
concurrently across sites within the client's ``max_workers`` and the load's retry
budget, and proves each read exact with the same pass check as the main load
(:func:`~intrace_analytics.frames._merge.check_read`). :func:`~.load_incidents`
reconciles the reads with the main result set.

The assets body is normalized by the same mechanism as incidents: the payload struct
from the schema's field map, a per-column pick, typing
(:func:`~.parse_assets`, :func:`~intrace_analytics.frames._merge.assets_frame`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa

from intrace_analytics.api._client import DEFAULT_PAGE_SIZE, IntraceClient
from intrace_analytics.api._pages import AssetPage, read_ids
from intrace_analytics.api._retry import LoadContext
from intrace_analytics.frames import _schema as schema
from intrace_analytics.frames._merge import assets_frame, check_read
from intrace_analytics.frames._parse import parse_assets

#: The page size of a site's membership read when the client's ``page_size`` is the
#: default: the API's largest ``limit``. Those reads keep only ids, and each request is a
#: round trip that competes with the main read's for the load's ``max_workers`` request
#: slots: at 100 ms per request, 4 pages per site of 1000 made the site reads add 1.23x
#: the main load. A ``page_size`` the user chose is honoured by these reads too.
SITE_PAGE_SIZE = 5000

__all__ = ["SiteRead", "incident_assets_frame", "load_assets", "read_assets", "read_sites"]


def load_assets(
    client: IntraceClient | None = None,
    *,
    status: str | None = None,
    type: str | None = None,  # the API's own parameter name
) -> pd.DataFrame:
    """Load the monitored sites (``GET /v1/assets``) into the typed ``assets`` frame.

    Parameters
    ----------
    client
        The client to use; by default one configured from ``INTRACE_API_KEY`` and
        ``INTRACE_BASE_URL``.
    status
        Only sites with this status (e.g. ``"active"``, ``"archived"``); ``None`` for all.
    type
        Only sites of this type (e.g. ``"facility"``, ``"residence"``); ``None`` for all.

    Returns
    -------
    pandas.DataFrame
        One row per site, ``asset_id`` unique, in the API's order; columns and dtypes as
        ``schema.ASSETS`` declares them (``asset_id, name, type, role, status, country,
        address, lat, lng, monitoring_radius_km, created_at, updated_at, asset_uuid``).

    Raises
    ------
    AuthenticationError
        401, or 403 when the key may not read assets.
    ResponseFormatError
        The body is not ``{"assets": [...]}``; the message names the field.

    Warns
    -----
    DataQualityWarning
        Naive or unparseable timestamps, a field spelled both ways with different values,
        a site listed twice; once per field, with counts.

    Examples
    --------
    >>> from intrace_analytics.sandbox import SandboxServer
    >>> with SandboxServer(incidents=20) as api:  # doctest: +SKIP
    ...     sites = load_assets(IntraceClient(api.api_key, base_url=api.url))
    >>> sites[["asset_id", "name", "monitoring_radius_km"]].head(2)  # doctest: +SKIP
    """
    client = client if client is not None else IntraceClient()
    with client.iter_asset_pages(status=status, type=type) as pages:
        return read_assets(pages)


def read_assets(pages: Iterable[AssetPage]) -> pd.DataFrame:
    """The typed ``assets`` frame from pages of ``GET /v1/assets``, in order."""
    parts = []
    for page in pages:
        body = page.body or json.dumps({"assets": page.assets}).encode()
        parts.append(parse_assets(body, page.offset, f"assets at offset {page.offset}"))
    return assets_frame(parts)


@dataclass
class SiteRead:
    """One site's membership read: the ids of its incidents and whether the read was exact.

    Attributes
    ----------
    asset_id
        The site.
    ids
        Its incidents' ids, in the API's order, each once.
    complete
        Whether a read passed the pass check (stable total, no repeats, distinct ids
        equal to the total).
    reads
        How many times the site was read (1 unless a read drifted).
    reasons
        Why the last read was not exact (empty when it was).
    """

    asset_id: str
    ids: list[str]
    complete: bool
    reads: int = 1
    reasons: list[str] = field(default_factory=list)


def read_sites(
    client: IntraceClient,
    asset_ids: Sequence[str],
    *,
    status: str | None,
    scope: str | None,
    load: LoadContext,
    attempts: int = 3,
    on_done: Callable[[SiteRead], None] | None = None,
) -> dict[str, SiteRead]:
    """Read which incidents touch each site, concurrently across sites.

    At most ``client.max_workers`` sites are read at once, and ``load``'s request slots
    keep the requests in flight across all of them within ``max_workers`` too; retries
    draw on ``load``'s budget. A site's read that is not exact is read again, at most
    ``attempts`` reads in all. Its pages hold the client's ``page_size`` incidents, or
    :data:`SITE_PAGE_SIZE` when that is the default.

    Parameters
    ----------
    client
        The client.
    asset_ids
        The sites to read.
    status, scope
        The main load's filters.
    load
        The load's shared counters, retry budget and request slots
        (:meth:`IntraceClient.new_load`).
    attempts
        Reads per site at most.
    on_done
        Called in the calling thread as each site's read ends.

    Returns
    -------
    dict
        ``{asset_id: SiteRead}`` in the order of ``asset_ids``.
    """
    if not asset_ids:
        return {}
    page_size = SITE_PAGE_SIZE if client.page_size == DEFAULT_PAGE_SIZE else client.page_size

    def one(site: str) -> SiteRead:
        reasons: list[str] = []
        seen: dict[str, None] = {}  # every id any attempt read, in order, once
        for attempt in range(1, attempts + 1):
            ids, totals = [], []
            with client.read_incident_pages(
                status=status, scope=scope, asset_id=site, load=load, parse=read_ids,
                page_size=page_size, stop_runaway=True,
            ) as stream:  # fmt: skip
                for page in stream:
                    ids.extend(page.ids())
                    totals.append(page.total)
            seen.update(dict.fromkeys(ids))
            check = check_read(pa.chunked_array([pa.array(ids, pa.string())]), totals)
            if check.clean and not stream.stopped:
                return SiteRead(site, ids, True, attempt)
            reasons = check.reasons + [f"ended early: {why}" for why in stream.stopped]
        # Not proven exact: keep what every attempt read, each id once, and say so (a
        # result set that runs ahead of the reads shows each attempt other rows).
        return SiteRead(site, list(seen), False, attempts, reasons)

    workers = max(1, min(client.max_workers, len(asset_ids)))
    done: dict[str, SiteRead] = {}
    with ThreadPoolExecutor(workers, thread_name_prefix="intrace-site") as pool:
        futures: dict[Future[SiteRead], str] = {pool.submit(one, s): s for s in asset_ids}
        try:
            for future in as_completed(futures):
                read = future.result()
                done[read.asset_id] = read
                if on_done is not None:
                    on_done(read)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return {site: done[site] for site in asset_ids}


def incident_assets_frame(
    incident_ids: pd.Series, sites: Sequence[str], reads: dict[str, SiteRead]
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The ``incident_assets`` frame: each site's incidents among ``incident_ids``, sites'
    order then the incidents' order (as in ``incident_ids``); and rows per site."""
    position = pd.Index(incident_ids.astype(object))
    incident_col: list[str] = []
    site_col: list[str] = []
    rows: dict[str, int] = {}
    for site in sites:
        read = reads.get(site)
        found = position.get_indexer(read.ids) if read is not None else []
        kept = sorted(int(p) for p in found if p >= 0)
        rows[site] = len(kept)
        incident_col.extend(position[kept])
        site_col.extend([site] * len(kept))
    columns = {c.name: c for c in schema.INCIDENT_ASSETS}
    frame = pd.DataFrame(
        {
            "incident_id": pd.Series(
                incident_col, dtype=schema.pandas_dtype(columns["incident_id"])
            ),
            "asset_id": pd.Series(site_col, dtype=schema.pandas_dtype(columns["asset_id"])),
        }
    )
    return frame, rows
