"""Seeded synthetic incidents for the sandbox API.

The generator imitates what ``GET /v1/incidents`` returns from a live tenant that
monitors a handful of sites: incidents grouping threats observed near those sites,
threats shared between incidents, skewed severities, long-tailed resolution times,
optional fields that are sometimes absent, and timestamps written in more than one
ISO-8601 style. Everything is derived from a seed and the instant the history ends
(by default a fixed anchor date, never the clock), so the same ``(n, seed)`` gives
byte-identical pages on every machine.

It is pure Python and written to be lean: a million incidents take well under a
minute, because the benchmarks page through data sets of that size.
"""

from __future__ import annotations

import math
import random
from bisect import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from intrace_analytics._util.checks import check_int, fail

# The sites (from _assets) and the serializer (from _bodies) are importable from here
# too, beside the data they describe and serialize: one import for a test or benchmark
# that makes data and pages.
from intrace_analytics.sandbox._assets import ASSETS, SITES, Asset, site_times
from intrace_analytics.sandbox._bodies import page_body, to_camel
from intrace_analytics.sandbox._gcpause import gc_paused

__all__ = [
    "ANCHOR",
    "ASSETS",
    "SEVERITIES",
    "SITES",
    "THREAT_TYPES",
    "Asset",
    "Dataset",
    "generate_dataset",
    "page_body",
    "to_camel",
]


THREAT_TYPES: tuple[str, ...] = (
    "armed_conflict",
    "crime_violence",
    "transport",
    "infrastructure",
    "fire_hazard",
    "weather",
    "geological",
    "cyber_attack",
)

SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")

# The instant the synthetic history ends by default: 2026-10-01T00:00:00Z. Fixed, not
# the clock, so data sets (and anything computed from them) never change from one day to
# the next. The sandbox server passes an ``end`` shortly before it starts instead.
_ANCHOR = 1_790_812_800
#: The default end of the synthetic history, 2026-10-01T00:00:00Z (see generate_dataset).
ANCHOR = datetime.fromtimestamp(_ANCHOR, UTC)
_WINDOW = 180 * 86_400
_HOUR = 3_600

# Per asset: the city label used in locations, and places threats are reported at.
_PLACES: dict[str, tuple[str, tuple[str, ...]]] = {
    "lagos-hq": (
        "Lagos, Nigeria",
        (
            "Ikorodu Road",
            "Lekki-Epe Expressway",
            "Third Mainland Bridge",
            "Apapa port",
            "Ikeja",
            "Victoria Island",
            "Oshodi",
            "Surulere",
        ),
    ),
    "nairobi-office": (
        "Nairobi, Kenya",
        (
            "Mombasa Road",
            "Westlands",
            "Thika Superhighway",
            "Kibera",
            "Upper Hill",
            "Jomo Kenyatta Airport",
            "Eastleigh",
        ),
    ),
    "johannesburg-warehouse": (
        "Johannesburg, South Africa",
        (
            "N1 Western Bypass",
            "Sandton",
            "Soweto",
            "OR Tambo Airport",
            "Alexandra",
            "M1 motorway",
            "Germiston",
        ),
    ),
    "london-office": (
        "London, United Kingdom",
        (
            "Canary Wharf",
            "A40 Westway",
            "King's Cross",
            "Heathrow Airport",
            "Shoreditch",
            "M25 junction 15",
            "Stratford",
        ),
    ),
    "sao-paulo-plant": (
        "São Paulo, Brazil",
        (
            "Marginal Tietê",
            "Avenida Paulista",
            "Guarulhos Airport",
            "Rodoanel Mário Covas",
            "Santo Amaro",
            "São Bernardo do Campo",
        ),
    ),
    "jakarta-office": (
        "Jakarta, Indonesia",
        (
            "Jalan Sudirman",
            "Tanjung Priok port",
            "Soekarno-Hatta Airport",
            "Jakarta Outer Ring Road",
            "Kemang",
            "Glodok",
        ),
    ),
}

# Threat titles per type; {place} is one of the asset's places.
_THREAT_TITLES: dict[str, tuple[str, ...]] = {
    "armed_conflict": (
        "Armed clashes reported near {place}",
        "Gunfire exchanged between armed groups near {place}",
        "Security forces deployed to {place}",
        "Curfew imposed around {place}",
    ),
    "crime_violence": (
        "Armed robbery reported on {place}",
        "Carjacking near {place}",
        "Protest turns violent in {place}",
        "Burglary at commercial premises in {place}",
        "Kidnapping attempt reported near {place}",
        "Gang clashes in {place}",
    ),
    "transport": (
        "Major road closure on {place}",
        "Multi-vehicle collision on {place}",
        "Public transport strike affecting {place}",
        "Severe congestion around {place}",
        "Rail service suspended near {place}",
    ),
    "infrastructure": (
        "Power outage across {place}",
        "Water main burst in {place}",
        "Mobile network outage around {place}",
        "Bridge closed for emergency repairs near {place}",
    ),
    "fire_hazard": (
        "Building fire near {place}",
        "Warehouse fire reported in {place}",
        "Grass fire spreading towards {place}",
        "Gas leak and fire risk in {place}",
    ),
    "weather": (
        "Flash flooding on {place}",
        "Severe thunderstorm warning for {place}",
        "Heatwave advisory covering {place}",
        "High winds expected around {place}",
    ),
    "geological": (
        "Minor earthquake felt in {place}",
        "Landslide blocks road near {place}",
        "Sinkhole opens on {place}",
    ),
    "cyber_attack": (
        "Ransomware attack on logistics provider near {place}",
        "DDoS attack disrupting services in {place}",
        "Phishing campaign targeting offices in {place}",
        "Payment terminal compromise reported in {place}",
    ),
}

# Incident titles and description openings per dominant threat type; {asset} is a name.
_INCIDENT_TITLES: dict[str, tuple[str, ...]] = {
    "armed_conflict": ("Armed conflict near {asset}", "Escalating clashes around {asset}"),
    "crime_violence": ("Sustained unrest around {asset}", "Street crime wave near {asset}"),
    "transport": ("Travel disruption for {asset}", "Access routes to {asset} disrupted"),
    "infrastructure": ("Utility failures affecting {asset}", "Outages around {asset}"),
    "fire_hazard": ("Fire risk near {asset}", "Fires reported close to {asset}"),
    "weather": ("Severe weather affecting {asset}", "Storm impact on {asset}"),
    "geological": ("Ground instability near {asset}", "Seismic activity near {asset}"),
    "cyber_attack": ("Cyber threat targeting {asset}", "Suspicious network activity at {asset}"),
}
_DESCRIPTION_OPENINGS: dict[str, str] = {
    "armed_conflict": "Reports of armed groups operating within a few kilometres of {asset}",
    "crime_violence": "Several reports of violent crime close to {asset} and on staff routes",
    "transport": "Road and transit disruption on the main routes used by staff at {asset}",
    "infrastructure": "Loss of utilities in the districts around {asset}",
    "fire_hazard": "Fires and fire hazards reported in the vicinity of {asset}",
    "weather": "Severe weather forecast and observed in the area of {asset}",
    "geological": "Ground movement reported in the area of {asset}",
    "cyber_attack": "Malicious network activity aimed at suppliers and staff of {asset}",
}
_DESCRIPTION_FOLLOW_UPS: tuple[str, ...] = (
    ". The security team is monitoring and has advised staff to avoid the affected areas.",
    ". Local partners confirmed the reports; non-essential travel is suspended until review.",
    ". Raised automatically after related threats were reported within 24 hours of each other.",
    ". Site manager informed; shift changes moved to daylight hours as a precaution.",
    ". No staff affected so far. Situation to be reassessed at the next daily briefing.",
)

# Relative frequencies, cumulated once so a draw is one random() and one bisect().
_TYPE_WEIGHTS = (0.06, 0.28, 0.22, 0.14, 0.09, 0.12, 0.03, 0.06)
# Severity mix per threat type (order of SEVERITIES): conflict runs hotter than weather,
# so the overall mix lands near low 45 %, medium 32 %, high 17 %, critical 6 %.
_SEVERITY_WEIGHTS: dict[str, tuple[float, ...]] = {
    "armed_conflict": (0.22, 0.30, 0.31, 0.17),
    "crime_violence": (0.44, 0.33, 0.17, 0.06),
    "transport": (0.50, 0.32, 0.14, 0.04),
    "infrastructure": (0.47, 0.33, 0.15, 0.05),
    "fire_hazard": (0.40, 0.33, 0.20, 0.07),
    "weather": (0.50, 0.31, 0.15, 0.04),
    "geological": (0.42, 0.30, 0.19, 0.09),
    "cyber_attack": (0.42, 0.32, 0.19, 0.07),
}
_ASSET_WEIGHTS = (0.25, 0.18, 0.17, 0.12, 0.16, 0.12)
_ASSET_COUNT_WEIGHTS = (0.75, 0.18, 0.07)  # 1, 2 or 3 assets per incident
# Links per incident, 0..8: skewed, mean about 3.
_LINK_COUNT_WEIGHTS = (0.09, 0.19, 0.19, 0.16, 0.12, 0.09, 0.07, 0.05, 0.04)
_STATUS_WEIGHTS = (("open", 0.16), ("resolved", 0.63), ("closed", 0.21))

# Chance that a link reuses a recent threat of the asset instead of a new one; tuned so
# an incident brings about 1.3 new threats, i.e. each threat is embedded ~2.3 times.
_REUSE = 0.6
_RECENT = 24  # how far back in an asset's threat history a reused threat is taken from

_UUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_UUID_SET = (0x4000 << 64) | (0x8000 << 48)


def _cumulative(weights: Sequence[float]) -> list[float]:
    total = sum(weights)
    out: list[float] = []
    acc = 0.0
    for w in weights:
        acc += w / total
        out.append(acc)
    out[-1] = 1.0 + 1e-9  # random() < 1, so bisect never runs past the end
    return out


def _place_offsets() -> dict[str, list[tuple[float, float]]]:
    # A fixed spot per place, so a threat's coordinates agree with its location text.
    rng = random.Random(20_260_401)
    return {
        asset_id: [(rng.uniform(-0.22, 0.22), rng.uniform(-0.22, 0.22)) for _ in places]
        for asset_id, (_, places) in _PLACES.items()
    }


def _offset_suffix(hours: int) -> str:
    return f"{'+' if hours >= 0 else '-'}{abs(hours):02d}:00"


_PLACE_OFFSETS = _place_offsets()
_TYPE_CUM = _cumulative(_TYPE_WEIGHTS)
_SEVERITY_CUM = {t: _cumulative(w) for t, w in _SEVERITY_WEIGHTS.items()}
_ASSET_CUM = _cumulative(_ASSET_WEIGHTS)
_ASSET_COUNT_CUM = _cumulative(_ASSET_COUNT_WEIGHTS)
_LINK_COUNT_CUM = _cumulative(_LINK_COUNT_WEIGHTS)
_STATUS_CUM = _cumulative([w for _, w in _STATUS_WEIGHTS])
_STATUSES = [s for s, _ in _STATUS_WEIGHTS]
_SUFFIXES = {a.asset_id: _offset_suffix(a.utc_offset_hours) for a in ASSETS}
_OFFSETS = {a.asset_id: a.utc_offset_hours * _HOUR for a in ASSETS}
_SITE_PLACES = {a.asset_id: _PLACES[a.asset_id][1] for a in ASSETS}
_LOCATIONS = {
    a.asset_id: [f"{place}, {_PLACES[a.asset_id][0]}" for place in _PLACES[a.asset_id][1]]
    for a in ASSETS
}
# How long an incident that gets resolved takes: log-normal, median 30 hours.
_MEDIAN_LOG = math.log(30 * _HOUR)
_SIGMA_LOG = 1.2
# The history's creation density at its end, relative to its mean (see creation_times):
# the rate a live tenant of that size goes on at.
_LATEST_DENSITY = 1.4

_SECONDS = tuple(f":{s:02d}" for s in range(60))
_MILLIS = tuple(f".{ms:03d}Z" for ms in range(1000))
_HOURS_MINUTES = tuple(f"T{m // 60:02d}:{m % 60:02d}" for m in range(1440))
_EPOCH = date(1970, 1, 1)


class _Minutes(dict[int, str]):
    """``"YYYY-MM-DDTHH:MM"`` per minute since the epoch, made on first use.

    Timestamps are formatted from these prefixes and second and millisecond suffixes:
    ``datetime.isoformat()`` would dominate the generator's run time.
    """

    def __init__(self) -> None:
        super().__init__()
        self.days: dict[int, str] = {}

    def __missing__(self, minute: int) -> str:
        days, rest = divmod(minute, 1440)
        day = self.days.get(days)
        if day is None:
            day = self.days[days] = (_EPOCH + timedelta(days=days)).isoformat()
        text = self[minute] = day + _HOURS_MINUTES[rest]
        return text


def _stamper(
    rand: Callable[[], float], minutes: _Minutes
) -> Callable[[int, int, str], tuple[str, int]]:
    """``stamp(sec, offset_seconds, suffix)``: an instant's text and its milliseconds.

    Mostly whole seconds in UTC; some with milliseconds, about 10 % in the site's local
    offset. Milliseconds only ever add < 1 s, so callers keep related instants >= 1 s
    apart (or reuse the same text) to preserve their order. A closure over the stream,
    not a method: it runs several times per incident.
    """

    def stamp(sec: int, offset_seconds: int, suffix: str) -> tuple[str, int]:
        r = rand()
        if r < 0.10:
            minute, ss = divmod(sec + offset_seconds, 60)
            return minutes[minute] + _SECONDS[ss] + suffix, sec * 1000
        minute, ss = divmod(sec, 60)
        prefix = minutes[minute]
        if r < 0.25:
            ms = int(rand() * 1000)
            return prefix + _SECONDS[ss] + _MILLIS[ms], sec * 1000 + ms
        return prefix + _SECONDS[ss] + "Z", sec * 1000

    return stamp


@dataclass
class Dataset:
    """Synthetic incidents in the API's stable order, and which assets each touches.

    Parameters
    ----------
    incidents : list of dict
        snake_case payloads exactly as the API's schema describes them, newest first
        (``created_at`` descending, then ``id`` ascending).
    assets_of : dict
        Incident id to the ids of the sites it belongs to (one to three of ``ASSETS``,
        and the archived site of ``SITES`` for some older incidents). The
        payloads do not say; the sandbox needs it for the ``asset_id`` filter.

    Examples
    --------
    One incident with one link (abridged)::

        {"id": "0f8e...", "title": "Travel disruption for Lagos head office",
         "status": "resolved", "scope": "investigation",
         "threat_links": [{"id": "9a1c...", "threat_id": "77d2...",
                           "added_at": "2026-04-18T09:00:00Z",
                           "threat": {"id": "77d2...",
                                      "title": "Major road closure on Ikorodu Road",
                                      "severity": "medium", "threat_type": "transport",
                                      "location": "Ikorodu Road, Lagos, Nigeria",
                                      "observed_at": "2026-04-18T08:12:40Z",
                                      "coordinates": {"lat": 6.5912, "lng": 3.3844}}}],
         "created_at": "2026-04-18T09:00:00Z", "updated_at": "2026-04-19T16:31:02Z",
         "started_at": "2026-04-18T07:41:10Z", "resolved_at": "2026-04-19T15:02:55Z"}
    """

    incidents: list[dict[str, Any]]
    assets_of: dict[str, tuple[str, ...]]


def generate_dataset(
    n: int, seed: int = 7, *, start_index: int = 0, end: datetime | None = None
) -> Dataset:
    """Generate ``n`` realistic incidents, deterministically.

    Parameters
    ----------
    n : int
        How many incidents.
    seed : int, default 7
        The seed; the same ``(n, seed, start_index)`` always gives identical data.
    start_index : int, default 0
        0 gives the history: incidents created over the 180 days before ``end``.
        A positive value gives a batch of *live* incidents created one second apart
        from ``end + start_index`` seconds on, hence newer than the history and than
        any batch with a smaller ``start_index`` (the sandbox passes the count of
        incidents made so far). Their random stream is derived from
        ``(seed, start_index)``, so ids differ.
    end : datetime, optional
        When the history ends (timezone-aware; whole seconds are kept). ``None`` is
        the fixed anchor :data:`ANCHOR`, 2026-10-01T00:00:00Z. The incidents differ
        only in their times: the random draws, ids and texts do not depend on it.

    Returns
    -------
    Dataset
        Incidents newest first, and the sites each belongs to: one to three of
        :data:`ASSETS`, plus the archived site of :data:`SITES` for an incident created
        before it was archived with a threat at one of its ``places``.

    Examples
    --------
    >>> data = generate_dataset(3, seed=1)
    >>> len(data.incidents), sorted(data.incidents[0])[:3]
    (3, ['created_at', 'description', 'id'])
    """
    check_int("n", n, 0)
    check_int("start_index", start_index, 0)
    if end is None:
        anchor = _ANCHOR
    elif isinstance(end, datetime) and end.tzinfo is not None:
        anchor = math.floor(end.timestamp())
    else:
        raise fail("end", "a timezone-aware datetime or None", end)
    with gc_paused():
        return _Generator(seed, start_index, anchor).dataset(n)


class _Generator:
    """One run of the generator: its random stream, and each site's recent threats.

    The methods draw from one stream in a fixed order, so the order of the draws *is*
    the data: a draw added, dropped or moved changes every incident after it.
    """

    def __init__(self, seed: int, start_index: int, anchor: int, stream: str | None = None) -> None:
        # ``stream`` names a random stream of its own (a span of the tenant's life, see
        # _timeline); else the stream follows from the seed and the batch.
        key: int | str = seed if start_index == 0 else f"{seed}:{start_index}"
        rng = random.Random(key if stream is None else stream)
        self.rng = rng
        self.rand = rng.random
        self.getrandbits = rng.getrandbits
        self.start_index = start_index
        self.anchor = anchor
        self.stamp = _stamper(self.rand, _Minutes())
        # Threats recently reported near each site, which later incidents may share.
        self.pools: dict[str, list[dict[str, Any]]] = {a.asset_id: [] for a in ASSETS}
        # Sites with no incidents of their own (the archived depot) touch the incidents
        # created while they were active with a threat at one of their places. Derived
        # from the threats, not drawn: the random stream is the same as without them.
        end = datetime.fromtimestamp(anchor, UTC)
        self.near: dict[str, tuple[str, int]] = {
            place: (site.asset_id, int(site_times(site, end)[1].timestamp()))
            for site in SITES
            if site not in ASSETS
            for place in site.places
        }

    def dataset(self, n: int) -> Dataset:
        return self.build(*self.creation_times(n))

    def build(self, created_secs: list[int], now: int) -> Dataset:
        """Incidents created at ``created_secs``, as they stand at ``now``."""
        incidents: list[dict[str, Any]] = []
        keys: list[tuple[int, str]] = []
        assets_of: dict[str, tuple[str, ...]] = {}
        for created in created_secs:
            incident, created_ms, sites = self.incident(created, now)
            incidents.append(incident)
            keys.append((-created_ms, incident["id"]))
            assets_of[incident["id"]] = sites
        # The API's stable order: newest instant first, ties broken by id.
        order = sorted(range(len(incidents)), key=keys.__getitem__)
        return Dataset([incidents[i] for i in order], assets_of)

    def creation_times(self, n: int) -> tuple[list[int], int]:
        """When each incident was created, ascending, and the instant the data ends."""
        anchor, start_index, rand = self.anchor, self.start_index, self.rand
        if start_index:
            return [anchor + start_index + i for i in range(n)], anchor + start_index + n
        # Over the window, denser towards the end (a growing tenant): density rising
        # linearly from 0.6 to 1.4, sampled by inverting its CDF.
        created = sorted(
            anchor - _WINDOW + int(_WINDOW * (math.sqrt(0.36 + 1.6 * rand()) - 0.6) / 0.8)
            for _ in range(n)
        )
        return created, anchor

    def new_id(self) -> str:
        h = f"{(self.getrandbits(128) & _UUID_CLEAR) | _UUID_SET:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def incident(self, created: int, now: int) -> tuple[dict[str, Any], int, tuple[str, ...]]:
        """One incident created at ``created``, its creation in ms, and its sites."""
        rand = self.rand
        count = bisect(_ASSET_COUNT_CUM, rand()) + 1
        if count == 1:
            sites: tuple[Asset, ...] = (ASSETS[bisect(_ASSET_CUM, rand())],)
        else:
            sites = tuple(self.rng.sample(ASSETS, count))
        primary = sites[0].asset_id
        off, suffix = _OFFSETS[primary], _SUFFIXES[primary]
        incident_id = self.new_id()
        created_text, created_ms = self.stamp(created, off, suffix)
        status, started, resolved, updated = self.lifecycle(created, now)
        links, also, first_type = self.links(sites, created, updated, created_text)
        if first_type is None:
            first_type = THREAT_TYPES[bisect(_TYPE_CUM, rand())]
        name = sites[0].name
        titles = _INCIDENT_TITLES[first_type]
        incident: dict[str, Any] = {
            "id": incident_id,
            "title": titles[int(rand() * len(titles))].format(asset=name),
            "status": status,
            "scope": "investigation" if rand() < 0.7 else "aggregate",
            "threat_links": links,
            "created_at": created_text,
            "updated_at": self.stamp(updated, off, suffix)[0],
        }
        if rand() < 0.7:
            incident["description"] = (
                _DESCRIPTION_OPENINGS[first_type].format(asset=name)
                + _DESCRIPTION_FOLLOW_UPS[int(rand() * len(_DESCRIPTION_FOLLOW_UPS))]
            )
        if started is not None:
            incident["started_at"] = self.stamp(started, off, suffix)[0]
        if resolved is not None:
            incident["resolved_at"] = self.stamp(resolved, off, suffix)[0]
        return incident, created_ms, (*(a.asset_id for a in sites), *also)

    def lifecycle(self, created: int, now: int) -> tuple[str, int | None, int | None, int]:
        """Status, start, resolution and last update; links fall between creation and
        the last update."""
        rand = self.rand
        status = _STATUSES[bisect(_STATUS_CUM, rand())]
        started = created - 60 - int(rand() * 6 * _HOUR) if rand() < 0.85 else None
        resolved: int | None = None
        if status != "open":
            base = created if started is None else started
            # Never before creation: an incident is not closed before it is opened.
            lasted = int(self.rng.lognormvariate(_MEDIAN_LOG, _SIGMA_LOG))
            resolved = max(base + 60 + lasted, created + 60)
            if resolved > now - 60:
                # Not resolved yet when the data ends: a live system still shows it open.
                status, resolved = "open", None
        if resolved is not None:
            updated = min(now, resolved + 60 + int(rand() * 2 * _HOUR))
            if status == "closed" and rand() < 0.10:
                resolved = None  # closed without a resolution time, as real data has
        else:
            span = min(now - created, 72 * _HOUR)
            updated = created + 1 + (int(rand() * span) if span > 1 else 0)
        return status, started, resolved, updated

    def links(
        self, sites: tuple[Asset, ...], created: int, updated: int, created_text: str
    ) -> tuple[list[dict[str, Any]], list[str], str | None]:
        """An incident's threat links; the sites without incidents of their own that
        its threats touch; and the first threat's type (``None`` without links)."""
        rand = self.rand
        count = bisect(_LINK_COUNT_CUM, rand())
        if not count:
            return [], [], None
        primary = sites[0].asset_id
        off, suffix = _OFFSETS[primary], _SUFFIXES[primary]
        extra = sorted(created + 1 + int(rand() * (updated - created)) for _ in range(count - 1))
        links: list[dict[str, Any]] = []
        seen: set[str] = set()
        also: list[str] = []
        first_type: str | None = None
        for i, added in enumerate((created, *extra)):
            site = sites[0] if len(sites) == 1 else sites[int(rand() * len(sites))]
            threat = self.threat(site, added, seen)
            tid = threat["id"]
            hit = self.near.get(threat["location"]) if self.near else None
            if hit is not None and created < hit[1] and hit[0] not in also:
                also.append(hit[0])
            seen.add(tid)
            if first_type is None:
                first_type = threat["threat_type"]
            link: dict[str, Any] = {
                "id": self.new_id(),
                "threat_id": tid,
                "added_at": created_text if i == 0 else self.stamp(added, off, suffix)[0],
            }
            if rand() >= 0.05:
                link["threat"] = threat
            links.append(link)
        return links, also, first_type

    def threat(self, site: Asset, added: int, seen: set[str]) -> dict[str, Any]:
        """The threat a link added at ``added`` points to: often a recent one of the
        site's (not one the incident already links), else a new one."""
        rand = self.rand
        pool = self.pools[site.asset_id]
        if pool and rand() < _REUSE:
            candidate = pool[-1 - int(rand() * min(_RECENT, len(pool)))]
            if candidate["id"] not in seen:
                return candidate
        threat = self.new_threat(site, added)
        pool.append(threat)
        if len(pool) > 4 * _RECENT:
            del pool[: 2 * _RECENT]
        return threat

    def new_threat(self, site: Asset, added: int) -> dict[str, Any]:
        rand = self.rand
        aid = site.asset_id
        ttype = THREAT_TYPES[bisect(_TYPE_CUM, rand())]
        p = int(rand() * len(_SITE_PLACES[aid]))
        templates = _THREAT_TITLES[ttype]
        threat: dict[str, Any] = {
            "id": self.new_id(),
            "title": templates[int(rand() * len(templates))].format(place=_SITE_PLACES[aid][p]),
            "severity": SEVERITIES[bisect(_SEVERITY_CUM[ttype], rand())],
            "threat_type": ttype,
            "location": _LOCATIONS[aid][p],
            "observed_at": self.stamp(
                added - 60 - int(rand() * 6 * _HOUR), _OFFSETS[aid], _SUFFIXES[aid]
            )[0],
        }
        r = rand()
        if r >= 0.08:
            dlat, dlng = _PLACE_OFFSETS[aid][p]
            threat["coordinates"] = {
                "lat": round(site.lat + dlat + (rand() - 0.5) * 0.04, 5),
                "lng": round(site.lng + dlng + (rand() - 0.5) * 0.04, 5),
            }
        elif r < 0.04:
            threat["coordinates"] = None  # else: the key is absent
        return threat
