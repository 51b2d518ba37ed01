"""The sandbox's tenant: the data it serves, its clock, and the lock that guards both.

A tenant starts as a generated history ending at ``end``; its clock (:attr:`Tenant.now`)
starts there too. The insert and delete fault switches change its data between pages;
:meth:`Tenant.advance` lets days pass (see :mod:`._timeline`), moving the clock on.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from intrace_analytics.sandbox._data import Dataset, generate_dataset
from intrace_analytics.sandbox._timeline import Advance, advance

__all__ = ["Tenant"]


@dataclass
class Tenant:
    """The data a sandbox serves, and where its next live incidents come from.

    ``dataset`` is changed in place, so whoever holds it sees every change. Whoever
    reads or changes it holds :attr:`lock` (the server holds it to answer a request).
    """

    dataset: Dataset
    seed: int
    #: The ``start_index`` of the next batch of live incidents (see generate_dataset).
    next_index: int
    #: Batches are created from ``live_end + next_index`` seconds on.
    live_end: datetime
    #: The tenant's clock: the end of its history, plus every span advanced since.
    now: datetime
    #: How many incidents the history was made with: the size that sets the arrival rate.
    size: int
    #: How many times :meth:`advance` ran.
    advances: int = 0
    #: Each open incident that was reopened, and when (epoch seconds): its age counts
    #: from then.
    reopened: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def generate(cls, n: int, seed: int, end: datetime) -> Tenant:
        """``n`` incidents whose history ends at ``end``; live ones come a second later."""
        # A batch's start_index must be positive (0 means a history), and the first live
        # incident comes one second after the history's end, whatever its size.
        first = max(n, 1)
        live_end = end - timedelta(seconds=first - 1)
        return cls(generate_dataset(n, seed, end=end), seed, first, live_end, end, n)

    def insert(self, n: int, site: str | None = None) -> None:
        """Put ``n`` new incidents in front, as a live system's newest arrive.

        Each belongs to one to three sites, as generated; with ``site``, to that site
        too, so a read of that site sees them.
        """
        batch = generate_dataset(n, self.seed, start_index=self.next_index, end=self.live_end)
        self.next_index += n
        self.dataset.incidents[:0] = batch.incidents
        for incident_id, sites in batch.assets_of.items():
            if site is not None and site not in sites:
                sites = (*sites, site)
            self.dataset.assets_of[incident_id] = sites

    def delete(self, n: int, site: str | None = None) -> None:
        """Delete the ``n`` newest incidents (of ``site``, when given)."""
        incidents, assets_of = self.dataset.incidents, self.dataset.assets_of
        if site is None:
            doomed = [i["id"] for i in incidents[:n]]
            del incidents[:n]
        else:
            doomed = [i["id"] for i in incidents if site in assets_of.get(i["id"], ())][:n]
            gone = set(doomed)
            incidents[:] = [i for i in incidents if i["id"] not in gone]
        for incident_id in doomed:
            assets_of.pop(incident_id, None)
            self.reopened.pop(incident_id, None)

    def advance(self, days: float) -> Advance:
        """Let ``days`` pass (whole seconds, at least one): see :mod:`._timeline`.

        The data changes as a live tenant's would over that span, the clock moves on by
        it, and the next live incidents (the insert switch's) come a second after it.
        """
        since = math.floor(self.now.timestamp())
        until = since + max(1, round(days * 86_400))
        done = advance(
            self.dataset,
            seed=self.seed,
            number=self.advances,
            since=since,
            until=until,
            size=self.size,
            reopened=self.reopened,
        )
        self.advances += 1
        self.now = done.until
        self.live_end = done.until + timedelta(seconds=1 - self.next_index)
        return done
