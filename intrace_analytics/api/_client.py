"""The HTTP client for ``GET /v1/incidents`` and ``GET /v1/assets``: the one place that
talks HTTP.

Every request goes out through a :class:`requests.Session` whose defaults are set once
(timeouts, ``User-Agent``, the ``X-API-Key`` header, urllib3 retries), so no call can
leave without them. Retries are configuration: a :class:`urllib3.util.Retry` mounted on
the adapter (built by :class:`~intrace_analytics.api._settings.Retries`). The client adds only what
``Retry`` cannot see: a body cut short or reset after the headers arrived, a total deadline
per response, a cap on ``Retry-After``, a retry budget per load, and refusing redirects to
another origin. Which offsets to read, and when to stop, is
:mod:`intrace_analytics.api._pagination`'s job.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Self, cast
from urllib.parse import urljoin

import requests
from urllib3.exceptions import MaxRetryError

from intrace_analytics._util.checks import check_choice, check_int, fail
from intrace_analytics._util.clock import utc_now
from intrace_analytics._version import __version__
from intrace_analytics.api._bodies import total_hint
from intrace_analytics.api._endpoints import (
    ASSETS_PATH,
    INCIDENTS_PATH,
    MAX_LIMIT,
    SCOPES,
    STATUSES,
)
from intrace_analytics.api._pages import AssetPage, BodyParser, Page
from intrace_analytics.api._pagination import OffsetPaginator, PageStream
from intrace_analytics.api._retry import (
    LoadContext,
    LoadStats,
    RetryBudget,
    RetryBudgetSpent,
    RetryPolicy,
    after_retries,
)
from intrace_analytics.api._settings import (
    DEFAULT_BASE_URL,
    Retries,
    Secret,
    Timeout,
    check_base_url,
)
from intrace_analytics.api._transport import (
    BODY_ERRORS,
    Deadline,
    Session,
    SessionPool,
    as_protocol,
    http_error,
    network_error,
    origin,
    read_body,
)
from intrace_analytics.exceptions import ApiError, AuthenticationError, NetworkError

__all__ = ["DEFAULT_PAGE_SIZE", "IntraceClient"]

logger = logging.getLogger(__name__)

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5

#: ``page_size`` when none is given.
DEFAULT_PAGE_SIZE = 1000


class IntraceClient:
    """Client for Intrace's ``GET /v1/incidents`` and ``GET /v1/assets``.

    One parameter per setting, a plain value or its settings object, as requests'
    ``HTTPAdapter(max_retries=int | Retry)``.

    Parameters
    ----------
    api_key
        The API key; defaults to the ``INTRACE_API_KEY`` environment variable.
    base_url
        The API's base URL; defaults to ``INTRACE_BASE_URL``, else ``https://api.intrace.ai``.
        ``/v1/incidents`` is appended; a trailing slash is fine.
    timeout
        ``(connect, read)`` seconds, one number for both, or a :class:`Timeout`, which
        also sets the total deadline of one response (90 s by default).
    max_retries
        Retries per request (attempts = retries + 1) for connection errors, read timeouts,
        bodies cut short and HTTP 408/429/500/502/503/504; 400/401/403/404/422 are never
        retried. Or a :class:`Retries`, which also sets the backoff, the longest
        ``Retry-After`` waited out, the load's retry budget and how many retries may follow
        a timeout (1: against a server that accepts connections and never answers, a
        request fails after two read timeouts, 60 s with the defaults).
    page_size
        ``limit`` per request, 1..5000. Every request honours it; at the default, a
        site's membership read (ids only) asks for the API's largest pages.
    max_workers
        Pages fetched concurrently once the first page has told the total.

    Attributes
    ----------
    timeout
        The :class:`Timeout` in use.
    retries
        The :class:`Retries` in use (``retries.max_retries``, ``retries.budget``, ...).
    base_url, page_size, max_workers
        As given (``base_url`` without a trailing slash).

    Raises
    ------
    AuthenticationError
        No key was given and ``INTRACE_API_KEY`` is not set.
    ValueError
        An argument is out of range (the message names it, its value and what is allowed).

    Examples
    --------
    >>> from intrace_analytics.sandbox import SandboxServer
    >>> with SandboxServer(incidents=50) as api:
    ...     client = IntraceClient(api.api_key, base_url=api.url, page_size=20)
    ...     pages = list(client.iter_incident_pages(status="open"))
    >>> pages[0].offset
    0

    Settings objects for the finer knobs:

    >>> client = IntraceClient(
    ...     "key", timeout=Timeout(connect=2, read=10), max_retries=Retries(max_retries=2)
    ... )
    >>> client.timeout.pair, client.retries.max_retries
    ((2.0, 10.0), 2)
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | tuple[float, float] | Timeout = (5, 30),
        max_retries: int | Retries = 5,
        page_size: int = DEFAULT_PAGE_SIZE,
        max_workers: int = 4,
    ) -> None:
        self.timeout = Timeout.from_value(timeout)
        self.retries = Retries.from_value(max_retries)
        self.page_size = check_int("page_size", page_size, 1, MAX_LIMIT)
        self.max_workers = check_int("max_workers", max_workers, 1, 64)
        self.base_url = check_base_url(
            base_url or os.environ.get("INTRACE_BASE_URL") or DEFAULT_BASE_URL
        )
        key = api_key if api_key is not None else os.environ.get("INTRACE_API_KEY")
        if key is None or not key.strip():
            raise AuthenticationError(
                "No API key: pass api_key=... or set the INTRACE_API_KEY environment variable."
            )
        if any(ch.isspace() or ord(ch) < 32 for ch in key.strip()):
            # The value is deliberately not shown: it is a secret.
            raise ValueError("api_key must not contain whitespace or control characters")
        self._api_key = Secret(key.strip())

    def __repr__(self) -> str:
        return (
            f"IntraceClient(base_url={self.base_url!r}, api_key='***', "
            f"page_size={self.page_size}, max_workers={self.max_workers})"
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release resources. Sessions live only as long as a load, so this is a no-op kept
        for symmetry with other clients."""

    # -- public API -------------------------------------------------------------------

    def iter_incident_pages(
        self,
        *,
        status: str | None = None,
        scope: str | None = None,
        asset_id: str | Iterable[str] | None = None,
        on_wait: Callable[[float, str], None] | None = None,
    ) -> PageStream[Page]:
        """Yield every page of matching incidents, in offset order.

        The first page tells ``total``; the remaining offsets are fetched concurrently
        (``max_workers``) and yielded in order. Stops when ``total`` is reached or on an
        empty or short page; a page repeating the previous one, or more pages than
        ``total`` allows, raises :class:`ResponseFormatError`. A long ``asset_id`` list is
        split into several requests so no URL grows past a safe length; incidents that
        more than one part returns are yielded once (later pages' ``incidents`` omit them,
        their ``body`` stays as received); see
        :class:`~intrace_analytics.api._pagination.OffsetPaginator`.

        Parameters
        ----------
        status
            ``"open"``, ``"closed"`` or ``"resolved"``.
        scope
            ``"investigation"`` or ``"aggregate"``.
        asset_id
            One asset id or several (any-of).
        on_wait
            Called as ``on_wait(seconds, reason)`` before the client sleeps (a rate limit
            or a backoff), e.g. to show "waiting 3 s (rate limited)" in a progress bar.

        Returns
        -------
        PageStream
            An iterator of :class:`~intrace_analytics.api._pages.Page`; its ``stats`` counts
            pages, requests, retries and seconds spent waiting on rate limits. Pages after
            the first are requested once the second is asked for, so a caller that reads
            one page sends one request.

        Raises
        ------
        ValueError
            A filter is not allowed (raised here, before any request).
        """
        return self.read_incident_pages(
            status=status, scope=scope, asset_id=asset_id, load=self.new_load(on_wait)
        )

    def iter_asset_pages(
        self,
        *,
        status: str | None = None,
        type: str | None = None,  # the API's own parameter name
        on_wait: Callable[[float, str], None] | None = None,
    ) -> PageStream[AssetPage]:
        """Yield the body of ``GET /v1/assets`` as pages (usually exactly one).

        The endpoint is documented unpaginated: one response holds every asset the key
        can see. A response that carries a ``total`` larger than its list is read again
        with ``limit``/``offset`` (``page_size``), as incidents are, through
        :class:`~intrace_analytics.api._pagination.OffsetPaginator`.

        Parameters
        ----------
        status
            Only assets with this status (e.g. ``"active"``, ``"archived"``).
        type
            Only assets of this type (e.g. ``"facility"``, ``"residence"``).
        on_wait
            As for :meth:`iter_incident_pages`.

        Returns
        -------
        PageStream
            Of :class:`~intrace_analytics.api._pages.AssetPage`: ``page.assets`` holds the
            asset objects as received.

        Raises
        ------
        AuthenticationError
            401, or 403 when the key may read incidents but not assets.
        ValueError
            A filter is not a non-empty string (before any request).
        """
        return self.read_asset_pages(status=status, type=type, load=self.new_load(on_wait))

    def list_assets(
        self,
        *,
        status: str | None = None,
        type: str | None = None,  # the API's own parameter name
    ) -> list[dict[str, Any]]:
        """Every asset (monitored site) the key can see, as received.

        Parameters
        ----------
        status, type
            Filters, as in :meth:`iter_asset_pages`.

        Returns
        -------
        list of dict
            The asset objects in the API's order, keys as the API spelled them.

        Examples
        --------
        >>> from intrace_analytics.sandbox import SandboxServer
        >>> with SandboxServer(incidents=20) as api:  # doctest: +SKIP
        ...     client = IntraceClient(api.api_key, base_url=api.url)
        ...     sites = client.list_assets(status="active")
        """
        with self.iter_asset_pages(status=status, type=type) as pages:
            return [asset for page in pages for asset in page.assets]

    # -- for a load: shared counters, parsing on receipt, per-read page sizes -----------

    def new_load(self, on_wait: Callable[[float, str], None] | None = None) -> LoadContext:
        """What the reads of one load share: counters, the retry budget, and at most
        ``max_workers`` requests in flight across all of them."""
        return LoadContext(
            stats=LoadStats(),
            budget=RetryBudget(self.retries.budget),
            max_retry_after=self.retries.max_retry_after,
            on_wait=on_wait,
            slots=threading.BoundedSemaphore(self.max_workers),
        )

    def read_incident_pages(
        self,
        *,
        status: str | None = None,
        scope: str | None = None,
        asset_id: str | Iterable[str] | None = None,
        load: LoadContext,
        parse: BodyParser | None = None,
        read_all: bool = False,
        page_size: int | None = None,
        stop_runaway: bool = False,
    ) -> PageStream[Page]:
        """:meth:`iter_incident_pages` as one read of a load (not for users).

        Parameters
        ----------
        status, scope, asset_id
            As for :meth:`iter_incident_pages`.
        load
            Counters, retry budget and request slots shared with the load's other reads
            (:meth:`new_load`).
        parse
            Each body is parsed by it in the fetching thread, once, and ``incidents``
            decoded only when read (``Page.from_body(parse=...)``).
        read_all
            The caller reads every page: the next pages are requested as soon as the
            first body tells its ``total`` (as its last member), while that body is parsed.
        page_size
            This read's ``limit`` (1..5000), instead of the client's ``page_size``.
        stop_runaway
            A result set that keeps growing ahead of the read (more pages than its first
            ``total`` allows) ends the read, the reason in the stream's ``stopped``,
            instead of raising: for a load, which proves every read exact or says it
            could not.
        """
        filters = _check_filters(status, scope, asset_id)
        limit = (
            self.page_size if page_size is None else check_int("page_size", page_size, 1, MAX_LIMIT)
        )
        asset_ids = filters.pop("asset_id", None)
        sessions = SessionPool(self._new_session)

        def fetch(
            params: Mapping[str, Any], offset: int, told: Callable[[int], None] | None = None
        ) -> Page:
            # Runs in the caller's thread for the first page, in a worker for the rest.
            params = {"limit": limit, "offset": offset, **params}
            body, url = self._send(sessions.get(), INCIDENTS_PATH, params, offset, load)
            if told is not None and (total := total_hint(body)) is not None:
                told(total)  # before the parse: the next pages are fetched meanwhile
            page = Page.from_body(
                body, offset=offset, limit=limit, params=params, fetched_at=utc_now(), url=url,
                parse=parse,  # outside the request slot: parsing needs no connection
            )  # fmt: skip
            load.stats.add(pages=1)
            return page

        paginator = OffsetPaginator(limit=limit, max_workers=self.max_workers)
        stopped: list[str] = []
        on_runaway = stopped.append if stop_runaway else None
        if asset_ids is None:
            pages = paginator.pages(
                lambda offset: fetch(filters, offset),
                first=(lambda told: fetch(filters, 0, told)) if read_all else None,
                on_runaway=on_runaway,
            )
        else:
            endpoint = self.base_url + INCIDENTS_PATH
            pages = paginator.pages_any_of(
                fetch, filters, "asset_id", asset_ids, endpoint=endpoint, on_runaway=on_runaway
            )
        return PageStream(pages, load.stats, sessions.close, stopped)

    def read_asset_pages(
        self,
        *,
        status: str | None = None,
        type: str | None = None,  # the API's own parameter name
        load: LoadContext,
    ) -> PageStream[AssetPage]:
        """:meth:`iter_asset_pages` as one read of a load (``load``: see
        :meth:`read_incident_pages`; not for users)."""
        filters: dict[str, str] = {}
        for name, value in (("status", status), ("type", type)):
            if value is not None:
                if not isinstance(value, str) or not value.strip():
                    raise fail(name, "a non-empty string or None", value)
                filters[name] = value.strip()
        sessions = SessionPool(self._new_session)

        def fetch(offset: int, params: Mapping[str, Any]) -> AssetPage:
            body, url = self._send(sessions.get(), ASSETS_PATH, params, offset, load)
            page = AssetPage.from_body(
                body, offset=offset, limit=int(params.get("limit", 0)), params=params, url=url
            )
            load.stats.add(pages=1)
            return page

        def pages() -> Iterator[AssetPage]:
            whole = fetch(0, filters)
            if whole.total <= whole.count():
                yield whole
                return
            # More assets than one response holds: page through them from the start.
            paginator = OffsetPaginator(limit=self.page_size, max_workers=self.max_workers)
            yield from paginator.pages(
                lambda offset: fetch(offset, {"limit": self.page_size, "offset": offset, **filters})
            )

        return PageStream(pages(), load.stats, sessions.close)

    # -- one request ------------------------------------------------------------------

    def _new_session(self) -> Session:
        session = Session(self.timeout.pair)
        session.headers.update(
            {
                "User-Agent": f"intrace-analytics/{__version__}",
                "Accept": "application/json",
                "X-API-Key": self._api_key.reveal(),
            }
        )
        adapter = requests.adapters.HTTPAdapter(max_retries=self.retries.policy())
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def _send(
        self,
        session: Session,
        path: str,
        params: Mapping[str, Any],
        offset: int,
        load: LoadContext,
    ) -> tuple[bytes, str]:
        """GET ``path`` in one of the load's request slots: (body, final URL)."""
        with load.slots:
            if load.failed.is_set():
                # Not sent: the load is failing already, and this request would only
                # wait out its own timeouts before the error is raised.
                raise NetworkError(
                    f"GET {origin(self.base_url)}{path} (offset {offset}) not sent: an "
                    "earlier request of this load failed"
                )
            try:
                return self._get(session, path, params, offset, load)
            except NetworkError:
                load.failed.set()
                raise

    def _get(
        self,
        session: Session,
        path: str,
        params: Mapping[str, Any],
        offset: int,
        load: LoadContext,
    ) -> tuple[bytes, str]:
        """GET ``path`` and return (body, final URL), retrying bodies cut short."""
        endpoint = self.base_url + path
        adapter = session.get_adapter(endpoint)
        assert isinstance(adapter, requests.adapters.HTTPAdapter)
        retry = self.retries.policy(load)
        url: str = endpoint
        query: Mapping[str, Any] | None = params
        redirects = 0
        # Every retry counts one more request (in RetryPolicy.increment); this is the first.
        load.stats.add(requests=1)
        while True:
            # The session belongs to this thread alone, so setting the adapter's Retry for
            # this request is safe; it carries this request's retry history across attempts.
            adapter.max_retries = retry
            load.start_attempt()
            try:
                response = session.get(url, params=query, stream=True, allow_redirects=False)
            except requests.exceptions.RequestException as exc:
                raise network_error(exc, url, path, offset, load.budget) from exc
            try:
                # urllib3 hands back the Retry it ended with: this request's history so far.
                retry = cast(RetryPolicy, response.raw.retries or retry)
                if response.status_code in REDIRECT_STATUSES:
                    url, query = self._follow(response, url, redirects)
                    redirects += 1
                    load.stats.add(requests=1)
                    continue
                if response.status_code >= 400:
                    raise http_error(response, load, self._hint(response.status_code, path))
                body, retry = self._read(response, offset, load, retry)
                if body is None:
                    continue
                load.budget.earn()
                logger.debug(
                    "GET %s -> %d (%d bytes, %d retries)",
                    response.url,
                    response.status_code,
                    len(body),
                    len(retry.history),
                )
                return body, response.url
            finally:
                response.close()

    def _read(
        self, response: requests.Response, offset: int, load: LoadContext, retry: RetryPolicy
    ) -> tuple[bytes | None, RetryPolicy]:
        """The body, within the deadline; or, when it was cut short and may be retried,
        None and the Retry to go on with (after its backoff)."""
        try:
            deadline_at = load.attempt_started() + self.timeout.deadline
            return read_body(response, deadline_at, self.timeout.read), retry
        except Deadline:
            raise NetworkError(
                f"GET {response.url} (offset {offset}) did not complete within the "
                f"{self.timeout.deadline:g} s deadline; the server is sending its body too "
                "slowly",
                url=response.url,
            ) from None  # Deadline is ours and says nothing more
        except BODY_ERRORS as exc:
            # urllib3 cannot retry this: the headers had arrived, the body broke.
            try:
                retry = retry.increment("GET", response.url, error=as_protocol(exc))
            except MaxRetryError as stop:
                spent = isinstance(stop, RetryBudgetSpent)
                raise NetworkError(
                    f"GET {response.url} (offset {offset}) failed "
                    f"{after_retries(len(retry.history), load.budget, spent)}: the "
                    f"response body was cut short ({type(exc).__name__})",
                    url=response.url,
                ) from exc
            logger.warning(
                "Retrying offset %d: response body cut short (%s)", offset, type(exc).__name__
            )
            retry.sleep()
            return None, retry

    def _hint(self, status: int, path: str) -> str:
        """What to change when an error status likely comes from the base URL: one that
        ends in ``/v1`` makes every path ``/v1/v1/...``, which the API does not know."""
        base = self.base_url.rstrip("/")
        if status != 404 or not base.endswith("/v1"):
            return ""
        return (
            f"The base URL {base!r} ends in /v1, and the client appends {path} itself: "
            f"drop /v1 from it (base_url={base.removesuffix('/v1')!r})"
        )

    def _follow(self, response: requests.Response, url: str, redirects: int) -> tuple[str, None]:
        location = response.headers.get("Location")
        if not location:
            raise ApiError(
                f"HTTP {response.status_code} redirect without a Location header from {url}",
                status_code=response.status_code,
                url=response.url,
            )
        target = urljoin(response.url, location)
        if origin(target) != origin(self.base_url):
            raise ApiError(
                f"Refused a redirect from {origin(self.base_url)} to another origin "
                f"({origin(target)}): the API key is never sent to another host. "
                "Check INTRACE_BASE_URL.",
                status_code=response.status_code,
                url=response.url,
            )
        if redirects >= MAX_REDIRECTS:
            raise ApiError(
                f"More than {MAX_REDIRECTS} redirects from {url}",
                status_code=response.status_code,
                url=response.url,
            )
        return target, None


# -- helpers -------------------------------------------------------------------------


def _check_filters(
    status: str | None, scope: str | None, asset_id: str | Iterable[str] | None
) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    if status is not None:
        filters["status"] = check_choice("status", status, STATUSES, fold=True)
    if scope is not None:
        filters["scope"] = check_choice("scope", scope, SCOPES, fold=True)
    if asset_id is not None:
        ids = [asset_id] if isinstance(asset_id, str) else list(asset_id)
        expected = "a non-empty string or a non-empty list of them"
        for value in ids:
            if not isinstance(value, str) or not value.strip():
                raise fail("asset_id", expected, value)
        if not ids:
            raise fail("asset_id", expected, ids)
        filters["asset_id"] = list(dict.fromkeys(v.strip() for v in ids))
    return filters
