"""Offset pagination as a small strategy, for any list endpoint.

The paginator never talks HTTP: it is given a callable that fetches the page at one offset
(the idea of dlt's ``rest_client/paginators.py``), and decides which offsets to ask for,
in what order pages come back, and when to stop:

- **stop rule** (:func:`_is_last`): the ``total`` is reached, or a page is empty or short;
- **loop guards** (:func:`_check_progress`): a page that repeats the previous one (unless
  ``total`` grew by a page meanwhile: drift) raises instead of looping; more pages than
  the first ``total`` allows (a result set that grows ahead of the reader) raises too, or,
  for a caller that proves its reads anyway (``on_runaway``), ends the read there and
  says why;
- **the concurrency window**: once the first page has told the total, the next offsets
  are fetched by ``max_workers`` threads, at most ``2 * max_workers`` in flight, and
  yielded in offset order. A first fetch that can read the total from the body before
  parsing it (``first=``) starts the window then, so the next pages arrive while the
  first is parsed;
- **any-of filters too long for one URL** (:func:`split_for_url`): the values are split
  over several result sets and an item that more than one returns is yielded once.

Examples
--------
>>> from intrace_analytics.api._pages import Page
>>> rows = [{"id": n} for n in range(5)]
>>> def fetch(offset: int) -> Page:
...     return Page(rows[offset : offset + 2], total=5, offset=offset, limit=2)
>>> [page.offset for page in OffsetPaginator(limit=2).pages(fetch)]
[0, 2, 4]
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Final, Generic, Protocol, TypeVar
from urllib.parse import urlencode

from intrace_analytics._util.checks import check_int, fail
from intrace_analytics.api._pages import Page
from intrace_analytics.api._retry import LoadStats
from intrace_analytics.exceptions import ResponseFormatError

__all__ = [
    "MAX_QUERY_LENGTH",
    "FirstFetcher",
    "Listing",
    "OffsetPaginator",
    "PageFetcher",
    "PageStream",
    "QueryFetcher",
    "split_for_url",
]

# Well under the ~8 KiB many proxies and servers accept for a request line.
MAX_QUERY_LENGTH: Final = 2000


class Listing(Protocol):
    """What the paginator reads of a page, whichever the endpoint (:class:`Page`,
    :class:`~intrace_analytics.api._pages.AssetPage`)."""

    @property
    def total(self) -> int: ...

    @property
    def offset(self) -> int: ...

    def ids(self) -> list[Any]: ...

    def count(self) -> int: ...


P = TypeVar("P", bound=Listing)

PageFetcher = Callable[[int], P]
"""Fetches the page at an offset: ``fetch(offset) -> page``."""

FirstFetcher = Callable[[Callable[[int], None]], P]
"""Fetches the page at offset 0, calling its argument with the ``total`` as soon as the
body tells it, before the body is parsed (where it can): ``first(told) -> page``."""

QueryFetcher = Callable[[Mapping[str, Any], int], Page]
"""Fetches the page at an offset of the result set of some filters: ``fetch(filters, offset)``."""


@dataclass(frozen=True, slots=True)
class OffsetPaginator:
    """Reads a whole result set of an offset-paginated endpoint, in offset order.

    Parameters
    ----------
    limit
        Items per page (the request's ``limit``).
    max_workers
        Pages fetched concurrently once the first page has told the total; 1 reads them
        one after another in the calling thread's order.

    Examples
    --------
    >>> from intrace_analytics.api._pages import Page
    >>> def fetch(offset: int) -> Page:
    ...     return Page([{"id": offset}], total=3, offset=offset, limit=1)
    >>> [p.incidents[0]["id"] for p in OffsetPaginator(limit=1, max_workers=2).pages(fetch)]
    [0, 1, 2]
    """

    limit: int
    max_workers: int = 1

    def __post_init__(self) -> None:
        check_int("limit", self.limit, 1)
        check_int("max_workers", self.max_workers, 1)

    def pages(
        self,
        fetch: PageFetcher[P],
        *,
        first: FirstFetcher[P] | None = None,
        on_runaway: Callable[[str], None] | None = None,
    ) -> Iterator[P]:
        """Yield every page ``fetch`` returns, from offset 0 until the stop rule says so.

        The first page is fetched in the calling thread (by ``first``, when given); the
        rest in a bounded window of threads, started as soon as a total is known: from
        ``first``'s early word, else from the first page. The first page's own ``total``
        still decides; offsets the early word asked for past it are cancelled, or read and
        dropped. Closing the iterator early cancels the requests not yet started.

        ``on_runaway``: when the pages outrun the total (rows inserted ahead of every
        request), it is called with the reason and the pages end there, instead of
        raising: the pages read so far stay the caller's.

        Raises
        ------
        ResponseFormatError
            A page repeats the previous one, or the pages outrun the total (a loop) and
            there is no ``on_runaway``.
        """
        limit, window = self.limit, 2 * self.max_workers
        pending: deque[tuple[int, Future[P]]] = deque()
        next_offset = limit
        with ThreadPoolExecutor(self.max_workers, thread_name_prefix="intrace-page") as pool:

            def fill(total: int) -> None:
                # Keep a bounded window in flight: concurrency without holding every
                # body in memory at once.
                nonlocal next_offset
                while next_offset < total and len(pending) < window:
                    pending.append((next_offset, pool.submit(fetch, next_offset)))
                    next_offset += limit

            try:
                head = first(fill) if first is not None else fetch(0)  # fill: this thread
                yield head
                if _is_last(head, limit):
                    return
                max_total = head.total
                previous = head
                received = 1
                while True:
                    fill(max_total)
                    if not pending:
                        return
                    offset, future = pending.popleft()
                    if offset >= max_total:
                        return  # asked for on an early word the first page did not bear out
                    page = future.result()
                    received += 1
                    try:
                        _check_progress(page, previous, received, head.total, limit)
                    except _RunAway as runaway:
                        if on_runaway is None:
                            raise
                        on_runaway(runaway.message)
                        return
                    yield page
                    if _is_last(page, limit):
                        return
                    # A live result set can grow while we read it; follow it, bounded by
                    # the page-count guard in _check_progress.
                    max_total = max(max_total, page.total)
                    previous = page
            finally:
                for _, future in pending:
                    future.cancel()

    def pages_any_of(
        self,
        fetch: QueryFetcher,
        filters: Mapping[str, Any],
        name: str,
        values: Sequence[str],
        *,
        endpoint: str,
        key: str = "id",
        on_runaway: Callable[[str], None] | None = None,
    ) -> Iterator[Page]:
        """Yield the pages matching any of ``values`` of the repeated parameter ``name``.

        ``values`` that would make the request URL longer than :data:`MAX_QUERY_LENGTH`
        are split over several result sets, read one after another; an item (told apart
        by its ``key``) that more than one returns is yielded once: later pages'
        ``incidents`` omit it, their ``body`` stays as received. ``on_runaway``: as for
        :meth:`pages`, for each result set.

        Raises
        ------
        ValueError
            One value alone would make the URL too long (raised at the first ``next``).
        """
        chunks = split_for_url(endpoint, {"limit": self.limit, **filters}, name, values)
        if len(chunks) == 1:
            yield from self.pages(
                partial(fetch, {**filters, name: chunks[0]}), on_runaway=on_runaway
            )
            return
        seen: set[object] = set()
        for chunk in chunks:
            for page in self.pages(partial(fetch, {**filters, name: chunk}), on_runaway=on_runaway):
                fresh = [item for item in page.incidents if item.get(key) not in seen]
                seen.update(item.get(key) for item in fresh)
                yield page if len(fresh) == len(page.incidents) else replace(page, rows=fresh)


class PageStream(Iterator[P], Generic[P]):
    """The pages of one load, in offset order, with the load's counters in :attr:`stats`.

    Returned by :meth:`IntraceClient.iter_incident_pages`; iterate it, or call
    :meth:`close` to stop early (outstanding requests are cancelled). ``on_close`` runs
    when the pages run out and when the stream is closed (it must bear being run twice).
    :attr:`stopped` lists why the pages ended before the stop rule, when the read was
    asked to end rather than raise (``on_runaway``); empty otherwise.
    """

    def __init__(
        self,
        pages: Iterator[P],
        stats: LoadStats,
        on_close: Callable[[], None],
        stopped: list[str] | None = None,
    ):
        self._pages = _closing(pages, on_close)
        self.stats = stats
        self.stopped = stopped if stopped is not None else []
        self._on_close = on_close

    def __iter__(self) -> PageStream[P]:
        return self

    def __next__(self) -> P:
        return next(self._pages)

    def close(self) -> None:
        self._pages.close()
        self._on_close()

    def __enter__(self) -> PageStream[P]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _closing(pages: Iterator[P], on_close: Callable[[], None]) -> Generator[P, None, None]:
    try:
        yield from pages
    finally:
        on_close()


def _is_last(page: Listing, limit: int) -> bool:
    """Stop rule: total reached, an empty page or a short page."""
    received = page.count()  # from the page's parse when it has one: no decode
    return received == 0 or received < limit or page.offset + received >= page.total


class _RunAway(ResponseFormatError):
    """The pages outran the first total (see :func:`_check_progress`): a loop to a user
    iterating pages, drift to be reported by a load."""


def _check_progress(
    page: Listing, previous: Listing, pages_so_far: int, first_total: int, limit: int
) -> None:
    """Guard against a server that would make pagination loop.

    A page that repeats the previous one is a server ignoring ``offset``, unless the
    ``total`` grew by at least a page meanwhile: then rows inserted at the front shifted
    the previous page's rows here (drift, for the load's pass check and re-read to
    handle; the page-count guard below still stops a total that keeps running ahead,
    raising :class:`_RunAway`).
    """
    # Ids from the pages' parse when they have one: a load's pages are never decoded here.
    ids = page.ids()
    shifted = page.total - previous.total >= limit
    if ids and not shifted and ids == previous.ids():
        raise ResponseFormatError(
            f"page at offset {page.offset} repeats the page at offset {previous.offset}: "
            "the server seems to ignore 'offset'; stopping instead of looping",
            offset=page.offset,
            field="offset",
        )
    # Following a result set that grows while it is read is right (nothing is lost), but a
    # total that keeps running ahead of the reader is a loop: allow the planned pages twice
    # over, plus ten, then stop.
    planned = math.ceil(first_total / limit)
    allowed = 2 * planned + 10
    if pages_so_far > allowed:
        raise _RunAway(
            f"page at offset {page.offset}: {pages_so_far} pages received but the first "
            f"page's total {first_total} allows {planned} (at most {allowed} with growth); "
            "stopping instead of looping",
            offset=page.offset,
            field="total",
        )


def split_for_url(
    endpoint: str,
    params: Mapping[str, Any],
    name: str,
    values: Sequence[str],
    max_length: int = MAX_QUERY_LENGTH,
) -> list[list[str]]:
    """Split ``values`` of the repeated parameter ``name`` into groups whose request URL
    (``endpoint``, the other ``params``, any offset) stays within ``max_length``.

    Examples
    --------
    >>> split_for_url("https://api.example/v1/x", {"limit": 10}, "id", ["a", "b", "c"], 62)
    [['a', 'b'], ['c']]
    """
    # The widest offset a request could carry, so no page of a part can pass the limit.
    fixed = len(endpoint) + len(urlencode({"offset": 10**9, **params})) + 2
    chunks: list[list[str]] = [[]]
    used = fixed
    for value in values:
        cost = len(urlencode({name: value})) + 1
        if fixed + cost > max_length:
            raise fail(
                name,
                f"short enough that one alone keeps the request URL within {max_length} "
                "characters",
                value[:40] + "...",
            )
        if chunks[-1] and used + cost > max_length:
            chunks.append([])
            used = fixed
        chunks[-1].append(value)
        used += cost
    return chunks
