"""Time passing in the sandbox's tenant: what a span of a live operation does to its data.

:func:`advance` moves a tenant's data from one instant to a later one, as a live tenant's
would change in that time, and returns what it did (an :class:`Advance`): the truth a
history of loads should find. Over the span, in this order of the random draws:

- some incidents are deleted (duplicates, false positives), any age;
- open incidents resolve (or close), gain a threat link, lose one;
- recently resolved or closed incidents reopen, and closed ones are reviewed to resolved;
- threats linked to open incidents change severity, one level up or down;
- new incidents are created over the span, with their own links and threats, as the
  generator makes them (most resolve within days of their creation).

Why the backlog holds steady instead of ramping: the generator makes 16 % of incidents a
tail that stays open and resolves the rest after a log-normal time (median 30 hours).
Here an incident open at age ``a`` (since its creation, or its reopening) resolves before
``a + d`` with probability ``1 - S(a + d) / S(a)``, ``S`` the survival of that same
mixture with the tail resolving at a constant rate. New incidents arrive at the rate the
history had at its end (1.4 times its mean, i.e. ``1.4 / 180`` of the history's size per
day), of which 16 % join the tail, while the tail (16 % of the history) loses
the same share of the history each day when its rate is ``1.4 / 180`` per day: the open
backlog fluctuates around the level it starts at. (A reopened incident is a follow-up and
has no tail: it resolves within days.) Spans of days to weeks are what this is made for:
within one span, new incidents live the generator's lifecycle, whose tail never resolves,
so a long stretch of time is better passed as several advances.

Nothing served is changed in place: a changed incident is a new dict (and so are the links
and threats in it that changed), because a page being written to a client outside the
server's lock may hold the old one. The random streams are derived from the seed and the
number of earlier advances, and decisions never iterate a set of strings (whose order
varies between processes): the same tenant advanced the same way gives the same data.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from intrace_analytics.sandbox._assets import ASSETS, Asset
from intrace_analytics.sandbox._data import (
    _LATEST_DENSITY,
    _LOCATIONS,
    _MEDIAN_LOG,
    _OFFSETS,
    _SEVERITY_WEIGHTS,
    _SIGMA_LOG,
    _STATUS_WEIGHTS,
    _SUFFIXES,
    _TYPE_WEIGHTS,
    _WINDOW,
    SEVERITIES,
    THREAT_TYPES,
    Dataset,
    _Generator,
    _Minutes,
    _stamper,
)

__all__ = ["Advance", "advance", "seconds"]

_DAY = 86_400
_WEEK = 7 * _DAY
_HOUR = 3_600
_SHARE = dict(_STATUS_WEIGHTS)
#: The tail's share of incidents, and the rate (per second) at which it resolves.
_TAIL = _SHARE["open"]
_TAIL_RATE = _LATEST_DENSITY / _WINDOW
#: New incidents per second, per incident of the history.
_ARRIVALS = _LATEST_DENSITY / _WINDOW
#: Of the incidents that resolve, the share that end ``resolved`` (the rest ``closed``).
_RESOLVED_SHARE = _SHARE["resolved"] / (_SHARE["resolved"] + _SHARE["closed"])

# Chances per week (scaled to the span's length): an incident is deleted; an open one
# gains a threat link, loses one; one resolved or closed in the last _RECENT days
# reopens; a closed one is reviewed to resolved; a threat of an open incident changes
# severity.
_DELETE = 0.004
_LINK = 0.25
_UNLINK = 0.05
_REOPEN = 0.02
_REVIEW = 0.03
_RESEVERITY = 0.05
_RECENT = 30 * _DAY

_SITE = {a.asset_id: a for a in ASSETS}
_SITE_OF_LOCATION = {loc: aid for aid, locs in _LOCATIONS.items() for loc in locs}
_RANK = {s: i for i, s in enumerate(SEVERITIES)}
#: The generator's overall mix of severities, in the order of SEVERITIES.
_MIX = [
    sum(w * _SEVERITY_WEIGHTS[t][level] for t, w in zip(THREAT_TYPES, _TYPE_WEIGHTS, strict=True))
    for level in range(len(SEVERITIES))
]


@dataclass(frozen=True)
class Advance:
    """What one :meth:`SandboxServer.advance <._server.SandboxServer.advance>` did.

    The truth a history of a load before and a load after should find. Incident changes
    hold incident ids, link changes link ids, threat changes threat ids; the kinds of
    incident change are disjoint (an incident is new, deleted, or at most one of
    resolved, reopened, status_changed).

    Parameters
    ----------
    since, until : datetime
        The span that passed (UTC): the sandbox's clock before and after.
    new : frozenset of str
        Incidents created in the span (some already resolved by ``until``).
    resolved : frozenset of str
        Incidents that were open and are now ``resolved`` or ``closed``.
    reopened : frozenset of str
        Incidents that were ``resolved`` or ``closed`` and are ``open`` again.
    status_changed : frozenset of str
        Incidents moved from ``closed`` to ``resolved``.
    deleted : frozenset of str
        Incidents no longer served (their links go with them).
    updated : frozenset of str
        Every incident served before and after whose payload changed: the three kinds
        above, and those that gained or lost a link. Its ``updated_at`` moved into the
        span. (A threat's new severity is the threat's change, not its incidents'.)
    linked : frozenset of str
        Links added to incidents served before (a new incident's links are not here).
    unlinked : frozenset of str
        Links removed from incidents still served (a deleted incident's are not here).
    escalated, deescalated : frozenset of str
        Threats whose severity went one level up, or down, and that are still embedded
        in a served incident (every copy carries the new severity).

    Examples
    --------
    >>> from intrace_analytics.sandbox import SandboxServer
    >>> sandbox = SandboxServer(incidents=200, seed=3)
    >>> week = sandbox.advance(days=7)
    >>> week.until - week.since
    datetime.timedelta(days=7)
    >>> week.new <= {i["id"] for i in sandbox.dataset.incidents}
    True
    """

    since: datetime
    until: datetime
    new: frozenset[str]
    resolved: frozenset[str]
    reopened: frozenset[str]
    status_changed: frozenset[str]
    deleted: frozenset[str]
    updated: frozenset[str]
    linked: frozenset[str]
    unlinked: frozenset[str]
    escalated: frozenset[str]
    deescalated: frozenset[str]


def seconds(text: str) -> int:
    """An ISO-8601 timestamp of the generator's as whole seconds since the epoch."""
    return math.floor(datetime.fromisoformat(text).timestamp())


def _survival(age: float, tail: float) -> float:
    """The chance that an incident is still open ``age`` seconds after it opened, when
    a share ``tail`` of incidents like it stays open long."""
    if age <= 0:
        return 1.0
    z = (math.log(age) - _MEDIAN_LOG) / (_SIGMA_LOG * math.sqrt(2))
    return (1 - tail) * 0.5 * math.erfc(z) + tail * math.exp(-_TAIL_RATE * age)


def _per_span(per_week: float, span: int) -> float:
    return 1 - (1 - per_week) ** (span / _WEEK)


def _count(rng: random.Random, mean: float) -> int:
    """A count around ``mean`` with a Poisson's spread (normal approximation)."""
    if mean <= 0:
        return 0
    return max(0, round(rng.gauss(mean, math.sqrt(mean))))


def advance(
    dataset: Dataset,
    *,
    seed: int,
    number: int,
    since: int,
    until: int,
    size: int,
    reopened: dict[str, int],
) -> Advance:
    """Let the time from ``since`` to ``until`` (epoch seconds) pass in ``dataset``.

    ``number`` is how many advances came before (with ``seed``, it names the random
    streams); ``size`` is the history's size, which sets the arrival rate; ``reopened``
    maps each open incident that was reopened to when, and is kept up to date. The
    caller holds the lock of the data.
    """
    span = _Span(dataset, seed, number, since, until, reopened)
    incidents = dataset.incidents
    span.seed_pools(incidents)
    span.doom(len(incidents))
    span.evolve_open(incidents)
    span.evolve_recent(incidents)
    candidates = span.threats_of_open(incidents)
    span.pick_severities(candidates)
    batch = span.arrivals(incidents, size)
    survivors = [
        span.replaced.get(pos, incident)
        for pos, incident in enumerate(incidents)
        if pos not in span.doomed
    ]
    final = span.restamp_threats([*batch.incidents, *survivors])
    gone = [incidents[pos]["id"] for pos in sorted(span.doomed)]
    incidents[:] = final
    for incident_id in gone:
        dataset.assets_of.pop(incident_id, None)
        reopened.pop(incident_id, None)
    dataset.assets_of.update(batch.assets_of)
    return span.result(batch, gone)


class _Span:
    """One advance in progress: its random streams, and what it has done so far."""

    def __init__(
        self,
        dataset: Dataset,
        seed: int,
        number: int,
        since: int,
        until: int,
        reopened: dict[str, int],
    ) -> None:
        self.assets_of = dataset.assets_of
        self.since, self.until, self.length = since, until, until - since
        self.rng = random.Random(f"{seed}:advance:{number}")
        self.rand = self.rng.random
        self.stamp = _stamper(self.rand, _Minutes())
        # New incidents, links and threats come from the generator, on a stream of
        # their own, so they look like the history's.
        self.gen = _Generator(seed, 0, until, stream=f"{seed}:advance:{number}:incidents")
        self.reopened = reopened
        self.doomed: set[int] = set()
        self.replaced: dict[int, dict[str, Any]] = {}
        self.open_positions: list[int] = []
        # Re-rated threats: the new severity, and whether it went up.
        self.severity: dict[str, tuple[str, bool]] = {}
        # Those of them still embedded in a served incident after the span.
        self.embedded: list[str] = []
        self.kinds: dict[str, list[str]] = {
            kind: [] for kind in ("resolved", "reopened", "status_changed", "linked", "unlinked")
        }

    def chance(self, per_week: float) -> bool:
        return self.rand() < _per_span(per_week, self.length)

    def moment(self, low: int, high: int) -> int:
        """An instant after ``low``, at or before ``high``."""
        return low + 1 + int(self.rand() * max(high - low - 1, 0))

    def site_stamp(self, incident_id: str, sec: int) -> str:
        # Written as the incident's own times are: its primary site's offset, sometimes.
        primary = self.assets_of.get(incident_id, ("lagos-hq",))[0]
        return self.stamp(sec, _OFFSETS[primary], _SUFFIXES[primary])[0]

    def seed_pools(self, incidents: list[dict[str, Any]]) -> None:
        """Give the generator the threats of the newest incidents, oldest first, so new
        links may point to threats recently reported near the same site."""
        for incident in incidents[:200][::-1]:
            for link in incident.get("threat_links") or ():
                threat = link.get("threat")
                site = _SITE_OF_LOCATION.get(threat["location"]) if threat else None
                if site is not None:
                    self.gen.pools[site].append(threat)

    def doom(self, n: int) -> None:
        k = min(n, _count(self.rng, n * _per_span(_DELETE, self.length)))
        self.doomed = set(self.rng.sample(range(n), k))

    # -- open incidents ---------------------------------------------------------------

    def evolve_open(self, incidents: list[dict[str, Any]]) -> None:
        for pos, incident in enumerate(incidents):
            if incident["status"] != "open" or pos in self.doomed:
                continue
            self.open_positions.append(pos)
            incident_id = incident["id"]
            opened = self.reopened.get(incident_id)
            if opened is None:
                opened = seconds(incident["created_at"])
            if opened >= self.until - 1:
                continue  # created after the span (by the insert switch): not yet in it
            # A reopened incident is a follow-up, settled within days: it has no tail.
            tail = 0.0 if incident_id in self.reopened else _TAIL
            changed = self.evolve(incident, opened, tail)
            if changed is not None:
                self.replaced[pos] = changed

    def resolution(self, opened: int, low: int, tail: float) -> int | None:
        """When an incident open since ``opened`` resolves within ``(low, until]``, if it
        does: drawn from the survival given that it was open at ``low``."""
        start, stop = low - opened, self.until - opened
        target = self.rand() * _survival(start, tail)
        if target < _survival(stop, tail):
            return None
        below, above = float(start), float(stop)
        for _ in range(32):
            middle = (below + above) / 2
            if _survival(middle, tail) > target:
                below = middle
            else:
                above = middle
        return min(self.until, max(low + 1, opened + int(above)))

    def evolve(self, incident: dict[str, Any], opened: int, tail: float) -> dict[str, Any] | None:
        """An open incident after the span (a new dict), or ``None`` if unchanged."""
        low = max(self.since, opened)
        resolved = self.resolution(opened, low, tail)
        last = self.until if resolved is None else resolved
        links = list(incident.get("threat_links") or [])
        moments: list[int] = []
        if len(links) >= 2 and self.chance(_UNLINK):
            gone = links.pop(int(self.rand() * len(links)))
            self.kinds["unlinked"].append(gone["id"])
            moments.append(self.moment(low, last))
        if self.chance(_LINK):
            added = self.moment(low, last)
            links.append(self.new_link(incident, added, {link["threat_id"] for link in links}))
            moments.append(added)
        if resolved is None and not moments:
            return None
        changed = dict(incident)
        changed["threat_links"] = links
        if resolved is not None:
            self.resolve(changed, resolved)
            moments.append(min(self.until, resolved + 60 + int(self.rand() * 2 * _HOUR)))
        self.touch(changed, incident["updated_at"], max(moments))
        return changed

    def resolve(self, incident: dict[str, Any], at: int) -> None:
        incident_id = incident["id"]
        status = "resolved" if self.rand() < _RESOLVED_SHARE else "closed"
        incident["status"] = status
        # Closed without a resolution time now and then, as the generator's are.
        if status == "resolved" or self.rand() >= 0.10:
            incident["resolved_at"] = self.site_stamp(incident_id, at)
        self.reopened.pop(incident_id, None)
        self.kinds["resolved"].append(incident_id)

    def new_link(self, incident: dict[str, Any], added: int, seen: set[str]) -> dict[str, Any]:
        incident_id = incident["id"]
        sites = [_SITE[a] for a in self.assets_of.get(incident_id, ()) if a in _SITE]
        site: Asset = sites[int(self.rand() * len(sites))] if sites else ASSETS[0]
        threat = self.gen.threat(site, added, seen)
        link: dict[str, Any] = {
            "id": self.gen.new_id(),
            "threat_id": threat["id"],
            "added_at": self.site_stamp(incident_id, added),
        }
        if self.rand() >= 0.05:  # a link without its threat embedded, as the generator's
            link["threat"] = threat
        self.kinds["linked"].append(link["id"])
        return link

    def touch(self, incident: dict[str, Any], before: str, at: int) -> None:
        """Move ``updated_at`` to ``at`` (within the span), and never back."""
        at = max(min(self.until, at), seconds(before) + 1)
        incident["updated_at"] = self.site_stamp(incident["id"], at)

    # -- resolved and closed incidents ------------------------------------------------

    def evolve_recent(self, incidents: list[dict[str, Any]]) -> None:
        """Reopen some incidents resolved or closed lately; review some closed ones.

        Candidates are those created in the last ``_RECENT`` days (the newest first, so
        the scan stops at the first older one) and last updated within them.
        """
        cutoff = self.since - _RECENT
        for pos, incident in enumerate(incidents):
            if seconds(incident["created_at"]) < cutoff:
                break
            status = incident["status"]
            if status == "open" or pos in self.doomed or pos in self.replaced:
                continue
            before = incident["updated_at"]
            if not cutoff <= seconds(before) < self.since:
                continue
            changed = dict(incident)
            if self.chance(_REOPEN):
                at = self.moment(self.since, self.until)
                changed["status"] = "open"
                changed.pop("resolved_at", None)
                self.reopened[incident["id"]] = at
                self.kinds["reopened"].append(incident["id"])
            elif status == "closed" and self.chance(_REVIEW):
                at = self.moment(self.since, self.until)
                changed["status"] = "resolved"
                if "resolved_at" not in changed:
                    changed["resolved_at"] = self.site_stamp(incident["id"], at)
                self.kinds["status_changed"].append(incident["id"])
            else:
                continue
            self.touch(changed, before, at)
            self.replaced[pos] = changed

    # -- threats ------------------------------------------------------------------------

    def threats_of_open(self, incidents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The threats embedded in the incidents open before the span, each once, in order."""
        found: dict[str, dict[str, Any]] = {}
        for pos in self.open_positions:
            for link in incidents[pos].get("threat_links") or ():
                threat = link.get("threat")
                if threat is not None and threat["id"] not in found:
                    found[threat["id"]] = threat
        return list(found.values())

    def pick_severities(self, threats: Iterable[dict[str, Any]]) -> None:
        """Move some threats one severity level, keeping the generator's mix of levels.

        A Metropolis step between neighbouring levels: a move towards a rarer level is
        taken in proportion to its rarity, so levels drift neither up nor down.
        """
        top = len(SEVERITIES) - 1
        for threat in threats:
            rank = _RANK.get(threat.get("severity", ""))
            if rank is None or not self.chance(_RESEVERITY):
                continue
            up = rank == 0 or (rank < top and self.rand() < 0.5)
            to = rank + 1 if up else rank - 1
            there, here = (2 if 0 < to < top else 1), (2 if 0 < rank < top else 1)
            if self.rand() < _MIX[to] * here / (_MIX[rank] * there):
                self.severity[threat["id"]] = (SEVERITIES[to], up)

    def restamp_threats(self, incidents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``incidents`` with every copy of a re-rated threat replaced by one new copy."""
        if not self.severity:
            return incidents
        copies: dict[str, dict[str, Any]] = {}
        out = []
        for incident in incidents:
            links = incident.get("threat_links") or ()
            if not any("threat" in link and link["threat_id"] in self.severity for link in links):
                out.append(incident)
                continue
            fresh = []
            for link in links:
                threat_id = link["threat_id"]
                if "threat" in link and threat_id in self.severity:
                    threat = copies.get(threat_id)
                    if threat is None:
                        threat = copies[threat_id] = {
                            **link["threat"],
                            "severity": self.severity[threat_id][0],
                        }
                    link = {**link, "threat": threat}
                fresh.append(link)
            out.append({**incident, "threat_links": fresh})
        self.embedded = list(copies)
        return out

    # -- new incidents -----------------------------------------------------------------

    def arrivals(self, incidents: list[dict[str, Any]], size: int) -> Dataset:
        """The incidents created in the span, newest first; their threats may be ones
        recently reported near the same site."""
        newest = seconds(incidents[0]["created_at"]) if incidents else self.since
        low = max(self.since, newest)
        n = _count(self.rng, size * _ARRIVALS * self.length)
        if low >= self.until - 1:
            n = 0
        created = sorted(self.moment(low, self.until) for _ in range(n))
        return self.gen.build(created, self.until)

    def result(self, batch: Dataset, gone: list[str]) -> Advance:
        kinds = {kind: frozenset(ids) for kind, ids in self.kinds.items()}
        moved = [(t, self.severity[t][1]) for t in self.embedded]
        return Advance(
            since=datetime.fromtimestamp(self.since, UTC),
            until=datetime.fromtimestamp(self.until, UTC),
            new=frozenset(batch.assets_of),
            resolved=kinds["resolved"],
            reopened=kinds["reopened"],
            status_changed=kinds["status_changed"],
            deleted=frozenset(gone),
            updated=frozenset(incident["id"] for incident in self.replaced.values()),
            linked=kinds["linked"],
            unlinked=kinds["unlinked"],
            escalated=frozenset(t for t, up in moved if up),
            deescalated=frozenset(t for t, up in moved if not up),
        )
