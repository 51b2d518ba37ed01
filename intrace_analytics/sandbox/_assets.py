"""The sandbox's monitored sites, and their ``GET /v1/assets`` payloads.

Intrace is asset-first: a tenant registers the sites it protects, with coordinates and
a monitoring radius, and incidents group the threats observed near them. The sandbox's
tenant has eight sites (:data:`SITES`): the six its incidents are generated around
(:data:`ASSETS`), a retired depot (``status: archived``) whose incidents are the older
ones with a threat at one of the places within its radius, and an executive residence
with no incidents at all.

A site's payload (:func:`asset_records`) is derived from the seed and the instant the
history ends, never the clock: the same ``(seed, end)`` gives the same uuids and times.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["ASSETS", "SITES", "Asset", "asset_records", "site_times"]


@dataclass(frozen=True)
class Asset:
    """A monitored site; incidents and their threats cluster around it.

    Parameters
    ----------
    asset_id : str
        The identifier accepted by the API's ``asset_id`` filter.
    name : str
        A human-readable name, used in incident titles.
    lat, lng : float
        The site's coordinates in degrees.
    utc_offset_hours : int
        The site's UTC offset; some timestamps are written in this local offset.
    type : str, default "facility"
        The API's ``type`` (``facility``, ``warehouse``, ``residence``, ...).
    role : str, default "office"
        The API's ``role``, such as ``head_office``.
    status : str, default "active"
        ``active`` or ``archived``.
    country : str, default ""
        ISO 3166-1 alpha-2 country code.
    address : str, default ""
        A street address.
    monitoring_radius_km : float, default 10.0
        Threats within this distance of the site concern it.
    registered_days : int, default 400
        Days before the history's end that the site was registered (``created_at``).
    updated_days : int, default 30
        Days before the history's end of its last change (``updated_at``); for an
        archived site, when it was archived: it has no incidents created after that.
    places : tuple of str, default ()
        For a site that is not one of :data:`ASSETS`: the threat locations (as the
        payloads spell them) within its radius. An incident created while the site was
        active with a threat at one of them touches the site too.

    Examples
    --------
    >>> ASSETS[0].asset_id, ASSETS[0].type, ASSETS[0].monitoring_radius_km
    ('lagos-hq', 'facility', 30.0)
    """

    asset_id: str
    name: str
    lat: float
    lng: float
    utc_offset_hours: int
    type: str = "facility"
    role: str = "office"
    status: str = "active"
    country: str = ""
    address: str = ""
    monitoring_radius_km: float = 10.0
    registered_days: int = 400
    updated_days: int = 30
    places: tuple[str, ...] = ()


#: The sites incidents are generated around, in the generator's order (its random
#: draws index this tuple: never reorder or extend it).
ASSETS: tuple[Asset, ...] = (
    Asset(
        "lagos-hq", "Lagos head office", 6.4281, 3.4219, 1,
        role="head_office", country="NG", monitoring_radius_km=30.0,
        address="Plot 1415 Adetokunbo Ademola Street, Victoria Island, Lagos",
        registered_days=731, updated_days=41,
    ),
    Asset(
        "nairobi-office", "Nairobi office", -1.2864, 36.8172, 3,
        role="regional_office", country="KE", monitoring_radius_km=35.0,
        address="Waiyaki Way, Westlands, Nairobi", registered_days=652, updated_days=97,
    ),
    Asset(
        "johannesburg-warehouse", "Johannesburg warehouse", -26.2041, 28.0473, 2,
        type="warehouse", role="distribution_centre", country="ZA",
        monitoring_radius_km=30.0, address="Electron Avenue, Isando, Kempton Park",
        registered_days=590, updated_days=12,
    ),
    Asset(
        "london-office", "London office", 51.5074, -0.1278, 0,
        role="regional_office", country="GB", monitoring_radius_km=30.0,
        address="1 Canada Square, Canary Wharf, London", registered_days=731,
        updated_days=203,
    ),
    Asset(
        "sao-paulo-plant", "São Paulo plant", -23.5505, -46.6333, -3,
        role="manufacturing_plant", country="BR", monitoring_radius_km=35.0,
        address="Avenida das Nações Unidas 12901, Santo Amaro, São Paulo",
        registered_days=498, updated_days=64,
    ),
    Asset(
        "jakarta-office", "Jakarta office", -6.2088, 106.8456, 7,
        role="regional_office", country="ID", monitoring_radius_km=25.0,
        address="Jalan Jenderal Sudirman Kav. 52-53, Jakarta", registered_days=377,
        updated_days=8,
    ),
)  # fmt: skip

#: Every site the sandbox serves at ``GET /v1/assets``: :data:`ASSETS`, then a retired
#: depot in Lagos (archived 75 days before the history's end) and a residence with no
#: incidents.
SITES: tuple[Asset, ...] = (
    *ASSETS,
    Asset(
        "lagos-apapa-depot", "Apapa depot", 6.3780, 3.2620, 1,
        type="warehouse", role="distribution_depot", status="archived", country="NG",
        monitoring_radius_km=8.0, address="Wharf Road, Apapa, Lagos",
        registered_days=702, updated_days=75,
        places=("Apapa port, Lagos, Nigeria", "Surulere, Lagos, Nigeria"),
    ),
    Asset(
        "cape-town-residence", "Cape Town residence", -33.9906, 18.4407, 2,
        type="residence", role="executive_residence", country="ZA",
        monitoring_radius_km=5.0, address="Bishopscourt Drive, Bishopscourt, Cape Town",
        registered_days=44, updated_days=44,
    ),
)  # fmt: skip

# Alert classes each kind of site is configured for (the API's threat_config).
_ALERT_CLASSES: dict[str, list[str]] = {
    "facility": ["armed_conflict", "crime_violence", "infrastructure", "cyber_attack"],
    "warehouse": ["crime_violence", "transport", "fire_hazard", "weather"],
    "residence": ["crime_violence", "fire_hazard", "weather"],
}


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def site_times(site: Asset, end: datetime) -> tuple[datetime, datetime]:
    """When ``site`` was registered and last changed, for a history ending at ``end``.

    Registered at 09:00 UTC ``registered_days`` before ``end``'s day; changed at 14:30
    UTC ``updated_days`` before it (for an archived site: when it was archived).
    """
    day = end.astimezone(UTC).replace(hour=9, minute=0, second=0, microsecond=0)
    created = day - timedelta(days=site.registered_days)
    updated = day - timedelta(days=site.updated_days) + timedelta(hours=5, minutes=30)
    return created, max(created, updated)


def asset_records(seed: int, end: datetime) -> list[dict[str, Any]]:
    """The payloads of :data:`SITES` as ``GET /v1/assets`` serves them, in snake_case.

    Parameters
    ----------
    seed : int
        The data's seed: each site's uuid (``id``) is derived from it and the site.
    end : datetime
        The instant the synthetic history ends (timezone-aware); ``created_at`` and
        ``updated_at`` are set that many days before it, at a fixed time of day.

    Returns
    -------
    list of dict
        One payload per site, in the order of :data:`SITES`.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> record = asset_records(7, datetime(2026, 10, 1, tzinfo=UTC))[0]
    >>> record["asset_id"], record["status"], record["attributes"]["country"]
    ('lagos-hq', 'active', 'NG')
    >>> record["created_at"], record["attributes"]["monitoring_radius_km"]
    ('2024-09-30T09:00:00Z', 30.0)
    """
    records = []
    for site in SITES:
        bits = random.Random(f"{seed}:asset:{site.asset_id}").getrandbits(128)
        active = site.status == "active"
        created, updated = site_times(site, end)
        records.append(
            {
                "id": str(uuid.UUID(int=bits, version=4)),
                "asset_id": site.asset_id,
                "type": site.type,
                "name": site.name,
                "role": site.role,
                "status": site.status,
                "created_at": _stamp(created),
                "updated_at": _stamp(updated),
                "attributes": {
                    "lat": site.lat,
                    "lng": site.lng,
                    "address": site.address,
                    "country": site.country,
                    "monitoring_radius_km": site.monitoring_radius_km,
                },
                "threat_config": {
                    "enabled": active,
                    "alert_classes": _ALERT_CLASSES.get(site.type, []),
                    "min_severity": "medium" if site.type == "residence" else "low",
                    "lookback_days": 30,
                },
                "physical_threat_config": {
                    "enabled": active,
                    "radius_km": site.monitoring_radius_km,
                },
            }
        )
    return records
