"""The sandbox's HTTP server: ``GET /v1/incidents`` and ``GET /v1/assets`` on loopback.

The sandbox is a real HTTP/1.1 server on loopback, so the client, the CLI and the
tests exercise the same sockets, headers and failure modes they meet in production:
auth, filters, offset pagination, parameter validation and both key casings, plus the
fault switches of :mod:`._faults` (5xx, 429 with ``Retry-After``, reset or truncated
bodies, slow bodies, malformed bodies, redirects, rows inserted or deleted between
pages, a key that may not list sites)::

    with SandboxServer(incidents=120) as sandbox:
        sandbox.fail(503, times=2)          # the next two pages answer 503
        sandbox.rate_limit(2, offset=100)   # the page at offset 100 answers 429
        sandbox.fail(502, path="/v1/assets")  # the sites list answers 502, once
        sandbox.forbid_assets()             # from now on, /v1/assets answers 403
        ...

Its history ends shortly before the server is made (unless ``end`` pins it), so a
demo looks like a live tenant; :meth:`SandboxServer.advance` lets days pass in it (see
:mod:`._timeline`), and says what changed.

Standard library only (and the package's own argument checks, secret scrubber and
endpoint declarations), so the sandbox runs wherever the package installs.
"""

from __future__ import annotations

import logging
import random
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from intrace_analytics._util.checks import check_choice, check_number, fail
from intrace_analytics._util.redact import redact
from intrace_analytics.api._endpoints import (
    ASSETS_PATH,
    DEFAULT_LIMIT,
    INCIDENTS_PATH,
    MAX_LIMIT,
    SCOPES,
    STATUSES,
)
from intrace_analytics.sandbox._assets import asset_records
from intrace_analytics.sandbox._bodies import CASINGS, assets_body, error_body, page_body
from intrace_analytics.sandbox._data import Dataset
from intrace_analytics.sandbox._faults import (
    Answer,
    DataChange,
    Fault,
    FaultSwitches,
    Request,
    Response,
    fault_response,
    take,
)
from intrace_analytics.sandbox._httpd import Handler, Server, split_target
from intrace_analytics.sandbox._tenant import Tenant
from intrace_analytics.sandbox._timeline import Advance

__all__ = ["RequestRecord", "SandboxServer"]

logger = logging.getLogger("intrace_analytics.sandbox")

_PATHS = (INCIDENTS_PATH, ASSETS_PATH)
# How long before the server is made its history ends, by default: a live tenant whose
# latest incident is minutes old, yet room for the insert switch's new incidents (one
# second apart) to stay in the past.
_RECENT = timedelta(minutes=20)
_INTEGER = re.compile(r"-?[0-9]+")


@dataclass(frozen=True)
class RequestRecord:
    """One request as the sandbox received and answered it.

    Parameters
    ----------
    method, path : str
        The HTTP method and the path without the query string.
    query : dict
        The query string, parsed: each name to its list of values.
    api_key : str or None
        The ``X-API-Key`` header as received (left out of the repr, so a failing
        assertion never prints it).
    status : int
        The status code sent.
    fault : str or None
        The fault switches the request consumed, joined by ``+`` (for example
        ``"fail"`` or ``"truncate_body+insert_between_pages"``; ``"forbid_assets"``
        for a 403 from :meth:`~SandboxServer.forbid_assets`), else ``None``.
    time : float
        When the request was received (``time.time()``).
    """

    method: str
    path: str
    query: dict[str, list[str]]
    api_key: str | None = field(repr=False)
    status: int
    fault: str | None
    time: float


class _ParameterError(Exception):
    pass


class SandboxServer(FaultSwitches):
    """A local Intrace API over seeded synthetic data, with fault switches.

    Parameters
    ----------
    incidents : int, default 500
        How many incidents to generate (see :func:`generate_dataset`).
    seed : int, default 7
        The data's seed; equal seeds give byte-identical pages.
    api_key : str, optional
        The key to accept in ``X-API-Key``; by default a fresh random ``sbx_...`` key.
    host : str, default "127.0.0.1"
        The interface to bind: loopback, so nothing outside the machine can connect.
    port : int, default 0
        0 picks a free port; read :attr:`url` after :meth:`start`.
    casing : {"snake", "camel", "mixed"}, default "snake"
        Key casing of the payloads; settable at any time.
    latency : float, default 0.0
        Seconds slept before answering each request; settable at any time.
    end : datetime, optional
        When the synthetic history ends. ``None`` (the default) is 20 minutes before
        the server is made, whole seconds, so the data looks live; pass
        :data:`~intrace_analytics.sandbox._data.ANCHOR` (the fixed default of
        :func:`generate_dataset`) for data that is the same on every run.

    Attributes
    ----------
    requests : list of RequestRecord
        Every request received, in order.
    assets : list of dict
        The sites ``GET /v1/assets`` serves, snake_case, in order: the six sites with
        generated incidents, an archived one and one without incidents.
    end : datetime
        When the generated history ends (UTC); incidents inserted later are created
        after it. See :attr:`now` for the clock that :meth:`advance` moves on.
    assets_forbidden : bool
        Whether ``GET /v1/assets`` answers 403 (see :meth:`forbid_assets`).

    Examples
    --------
    >>> import urllib.request, json
    >>> with SandboxServer(incidents=3, api_key="sbx_doc") as sandbox:
    ...     req = urllib.request.Request(sandbox.url + "/v1/incidents?limit=2",
    ...                                  headers={"X-API-Key": "sbx_doc"})
    ...     with urllib.request.urlopen(req) as resp:
    ...         body = json.load(resp)
    >>> len(body["incidents"]), body["total"]
    (2, 3)
    """

    def __init__(
        self,
        *,
        incidents: int = 500,
        seed: int = 7,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        casing: str = "snake",
        latency: float = 0.0,
        end: datetime | None = None,
    ) -> None:
        if api_key is not None and not api_key:
            raise fail("api_key", "a non-empty string or None (generate one)", api_key)
        if end is not None and (not isinstance(end, datetime) or end.tzinfo is None):
            raise fail("end", "a timezone-aware datetime or None (recent)", end)
        self.api_key: str = api_key if api_key is not None else "sbx_" + secrets.token_urlsafe(24)
        self.casing = casing
        self.latency: float = latency
        self.requests: list[RequestRecord] = []
        if end is None:
            end = datetime.now(UTC).replace(microsecond=0) - _RECENT
        self.end: datetime = end.astimezone(UTC)
        self._tenant = Tenant.generate(incidents, seed, self.end)
        self.assets: list[dict[str, Any]] = asset_records(seed, self.end)
        self.assets_forbidden = False
        self._seed = seed
        self._host = host
        self._port = port
        # One lock, the tenant's, for the data, the armed faults and the request log, so
        # a page, the total beside it and the fault it consumed are always consistent.
        self._lock = self._tenant.lock
        self._faults: list[Fault] = []
        self._views: dict[tuple[str | None, str | None, tuple[str, ...] | None], list[Any]] = {}
        self._views_source: tuple[int, int] = (0, -1)
        # Each served row's JSON, by the row object and casing; emptied when data changes.
        self._fragments: dict[tuple[int, bool], bytes] = {}
        self._lifecycle = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: Server | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None

    def incidents_of(self, asset_id: str) -> list[str]:
        """The ids of the incidents served now that belong to site ``asset_id``, in order.

        What ``GET /v1/incidents?asset_id=<asset_id>`` pages through (empty for a site
        without incidents or one the sandbox does not know).
        """
        with self._lock:
            assets_of = self.dataset.assets_of
            return [i["id"] for i in self.dataset.incidents if asset_id in assets_of[i["id"]]]

    def advance(self, days: float = 7) -> Advance:
        """Let ``days`` pass in the tenant, and say what happened.

        Deterministic from the seed and the number of earlier advances (and whatever
        the insert and delete switches did before): new incidents start over the span,
        most open ones resolve within days while a tail stays open, some resolved ones
        reopen, some incidents are deleted, threats are linked to and unlinked from open
        incidents, some threats change severity, and every changed incident's
        ``updated_at`` moves into the span. The open backlog fluctuates around a steady
        level over many advances. New incidents belong to sites as generated ones do,
        so the ``asset_id`` filter and :attr:`assets` stay consistent.

        The clock (:attr:`now`) moves on by ``days``: the data's times then reach up to
        ``end + days`` in all, ahead of the wall clock by at most the days advanced
        (less the minutes by which ``end`` precedes the server). A server made with
        ``end=datetime.now(UTC) - timedelta(days=7)`` ends in the present after a week.

        Safe while requests are being served: the data changes under the lock that
        answers them, all at once, and armed fault switches keep working.

        Parameters
        ----------
        days : float, default 7
            How long passes; a positive number of days (kept to whole seconds).

        Returns
        -------
        Advance
            The ids of the incidents, links and threats changed, per kind of change.

        Examples
        --------
        >>> from intrace_analytics.sandbox import SandboxServer
        >>> sandbox = SandboxServer(incidents=500, seed=7)
        >>> week = sandbox.advance(days=7)
        >>> sandbox.now == week.until == sandbox.end + timedelta(days=7)
        True
        >>> sandbox.dataset.incidents[0]["id"] in week.new  # the newest came this week
        True
        >>> week.resolved <= week.updated, week.new.isdisjoint(week.deleted)
        (True, True)
        """
        check_number("days", days, positive=True, unit="days")
        with self._lock:
            done = self._tenant.advance(days)
            self._forget()
        logger.debug("sandbox advanced %s days: %d new incidents", days, len(done.new))
        return done

    def __repr__(self) -> str:
        # Deliberately without the key.
        state = self._url or "not started"
        return f"<SandboxServer {state} incidents={len(self.dataset.incidents)}>"

    # -- settings ---------------------------------------------------------------------

    @property
    def dataset(self) -> Dataset:
        """The data served right now (the insert and delete switches change it in place).

        ``dataset.assets_of`` maps each incident to its sites: the truth the ``asset_id``
        filter answers from.
        """
        return self._tenant.dataset

    @property
    def now(self) -> datetime:
        """The sandbox's clock (UTC): :attr:`end` plus every span :meth:`advance` let pass.

        The newest data is from about then; only incidents the insert switch adds come
        later, a second apart.
        """
        return self._tenant.now

    @property
    def casing(self) -> str:
        """Key casing of the payloads: ``"snake"``, ``"camel"`` or ``"mixed"``."""
        return self._casing

    @casing.setter
    def casing(self, value: str) -> None:
        self._casing = check_choice("casing", value, CASINGS)

    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:<port>`` without a trailing slash."""
        if self._url is None:
            raise RuntimeError("the sandbox is not started; call start() or use it in a with")
        return self._url

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> SandboxServer:
        """Bind and serve in a background thread; return ``self``. Idempotent."""
        with self._lifecycle:
            if self._httpd is not None:
                return self
            self._stopping.clear()
            httpd = Server((self._host, self._port), self._handle, self._refused)
            host = f"[{self._host}]" if ":" in self._host else self._host
            self._url = f"http://{host}:{httpd.server_address[1]}"
            self._httpd = httpd
            self._thread = threading.Thread(
                target=httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="intrace-sandbox",
                daemon=True,
            )
            self._thread.start()
            logger.debug("sandbox serving on %s", self._url)
        return self

    def stop(self) -> None:
        """Stop serving and close every connection, promptly. Idempotent."""
        with self._lifecycle:
            httpd, thread = self._httpd, self._thread
            if httpd is None:
                return
            # Wakes latency sleeps and trickles; the socket shutdowns wake handlers
            # blocked on a read or on a client that stopped reading.
            self._stopping.set()
            httpd.shutdown()
            httpd.close_connections()
            httpd.server_close()
            if thread is not None:
                thread.join(timeout=5)
            self._httpd = self._thread = None
            logger.debug("sandbox on %s stopped", self._url)

    def serve_forever(self) -> None:
        """Start if needed, then block until :meth:`stop` or ``KeyboardInterrupt``."""
        self.start()
        try:
            while not self._stopping.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- internals --------------------------------------------------------------------

    def _record(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        api_key: str | None,
        status: int,
        fault: str | None,
        received: float | None = None,
    ) -> None:
        record = RequestRecord(method, path, query, api_key, status, fault, received or time.time())
        with self._lock:
            self.requests.append(record)

    def _refused(self, method: str, target: str, key: str | None, status: int) -> None:
        # A request the handler answered itself (malformed, or an unknown method).
        try:
            split = split_target(target)
        except ValueError:
            split = urlsplit("")  # a malformed target is logged as ''
        query = parse_qs(split.query, keep_blank_values=True)
        self._record(method, split.path, query, key, status, None)

    def _shown(self, raw: str) -> str:
        # Echo the bad value so the error names it, but never the key (a client that
        # misplaces it into a parameter must not see it reflected), and not at length.
        text = redact(raw, self.api_key)
        return repr(text if len(text) <= 64 else text[:64] + "...")

    def _parse(
        self, query: dict[str, list[str]]
    ) -> tuple[int, int, str | None, str | None, tuple[str, ...] | None]:
        def integer(name: str, default: int, low: int, high: int | None) -> int:
            if name not in query:
                return default
            raw = query[name][-1]
            value: int | None = None
            if _INTEGER.fullmatch(raw):
                try:
                    value = int(raw)
                except ValueError:  # more digits than int() accepts
                    value = None
            if value is None or value < low or (high is not None and value > high):
                allowed = f"between {low} and {high}" if high is not None else f">= {low}"
                raise _ParameterError(
                    f"{name} must be an integer {allowed}, got {self._shown(raw)}"
                )
            return value

        def choice(name: str, allowed: tuple[str, ...]) -> str | None:
            if name not in query:
                return None
            raw = query[name][-1]
            if raw not in allowed:
                options = ", ".join(allowed)
                raise _ParameterError(f"{name} must be one of {options}, got {self._shown(raw)}")
            return raw

        limit = integer("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        offset = integer("offset", 0, 0, None)
        status = choice("status", STATUSES)
        scope = choice("scope", SCOPES)
        assets = tuple(sorted(set(query["asset_id"]))) if "asset_id" in query else None
        return limit, offset, status, scope, assets

    def _parse_assets(self, query: dict[str, list[str]]) -> tuple[str | None, str | None]:
        # Free strings matched exactly (an unknown value selects nothing), but a filter
        # given twice or empty is a malformed request, not an empty answer.
        def text(name: str) -> str | None:
            if name not in query:
                return None
            values = query[name]
            if len(values) > 1:
                shown = ", ".join(self._shown(v) for v in values[:3])
                raise _ParameterError(f"{name} must be given at most once, got {shown}")
            if not values[0].strip():
                raise _ParameterError(
                    f"{name} must be a non-empty string, got {self._shown(values[0])}"
                )
            return values[0]

        return text("status"), text("type")

    def _view(
        self, status: str | None, scope: str | None, assets: tuple[str, ...] | None
    ) -> list[Any]:
        # Caller holds the lock. Filtered views are cached until the data changes, so
        # paging through a million incidents does not rescan them for every page.
        incidents = self.dataset.incidents
        if status is None and scope is None and assets is None:
            return incidents
        source = (id(incidents), len(incidents))
        if source != self._views_source:
            self._views.clear()
            self._fragments.clear()
            self._views_source = source
        key = (status, scope, assets)
        view = self._views.get(key)
        if view is None:
            assets_of = self.dataset.assets_of
            wanted = set(assets or ())
            view = [
                incident
                for incident in incidents
                if (status is None or incident["status"] == status)
                and (scope is None or incident["scope"] == scope)
                and (assets is None or not wanted.isdisjoint(assets_of.get(incident["id"], ())))
            ]
            if len(self._views) >= 32:
                self._views.clear()
            self._views[key] = view
        return view

    def _mutate(self, change: DataChange, site: str | None) -> None:
        # Caller holds the lock.
        change.apply(self._tenant, site)
        self._forget()

    def _forget(self) -> None:
        # Caller holds the lock: the data changed, so must every view and serialized row.
        self._views.clear()
        self._views_source = (0, -1)
        self._fragments.clear()

    def _respond(
        self, method: str, path: str, raw_query: str, query: dict[str, list[str]], key: str | None
    ) -> tuple[Response, list[str]]:
        refusal = self._refusal(method, path, key)
        if refusal is not None:
            return refusal, []
        try:
            if path == ASSETS_PATH:
                return self._respond_assets(raw_query, query)
            return self._respond_incidents(raw_query, query)
        except _ParameterError as exc:
            body = error_body("invalid_parameter", str(exc), retryable=False)
            return Response(422, body), []

    def _refusal(self, method: str, path: str, key: str | None) -> Response | None:
        """The answer to a request for no endpoint, by another method or without the key."""
        if path not in _PATHS:
            endpoints = " or ".join(f"GET {p}" for p in _PATHS)
            body = error_body("not_found", f"no such endpoint; use {endpoints}", retryable=False)
            return Response(404, body)
        if method != "GET":
            body = error_body(
                "method_not_allowed", f"method {method} is not allowed; use GET", retryable=False
            )
            return Response(405, body, headers=[("Allow", "GET")])
        if key is None or not secrets.compare_digest(
            key.encode("utf-8", "surrogateescape"), self.api_key.encode("utf-8")
        ):
            message = "missing X-API-Key header" if key is None else "invalid API key"
            return Response(401, error_body("unauthorized", message, retryable=False))
        return None

    def _respond_incidents(
        self, raw_query: str, query: dict[str, list[str]]
    ) -> tuple[Response, list[str]]:
        limit, offset, status, scope, assets = self._parse(query)
        names = []
        with self._lock:
            answer = take(self._faults, Answer, INCIDENTS_PATH, offset, assets)
            view = self._view(status, scope, assets)
            page = view[offset : offset + limit]
            total = len(view)
            taken = take(self._faults, DataChange, INCIDENTS_PATH, offset, assets)
            if taken is not None:
                change, fault = taken
                self._mutate(change, fault.asset_id)
        if answer is not None:
            names.append(answer[0].name)
        if taken is not None:
            names.append(taken[0].name)
        casing = self.casing
        rng = None
        if casing == "mixed":
            # Seeded by the request, so the same request gets the same body.
            rng = random.Random(f"{self._seed}:{limit}:{offset}:{status}:{scope}:{assets}")
        if answer is None:
            body = page_body(page, total, casing=casing, rng=rng, cache=self._fragments)
            return Response(200, body), names
        request = Request(page, total, casing, rng, raw_query, self.url)
        return fault_response(answer[0], request), names

    def _respond_assets(
        self, raw_query: str, query: dict[str, list[str]]
    ) -> tuple[Response, list[str]]:
        # After authentication: the key is known, but its scope may not cover sites.
        if self.assets_forbidden:
            message = "this API key may not list assets"
            body = error_body("forbidden", message, retryable=False)
            return Response(403, body), ["forbid_assets"]
        status, kind = self._parse_assets(query)
        with self._lock:
            answer = take(self._faults, Answer, ASSETS_PATH, 0)
        rows = [
            asset
            for asset in self.assets
            if (status is None or asset["status"] == status)
            and (kind is None or asset["type"] == kind)
        ]
        casing = self.casing
        rng = random.Random(f"{self._seed}:assets:{status}:{kind}") if casing == "mixed" else None
        if answer is None:
            return Response(200, assets_body(rows, casing=casing, rng=rng)), []
        request = Request(rows, len(rows), casing, rng, raw_query, self.url, "assets")
        return fault_response(answer[0], request), [answer[0].name]

    def _handle(self, handler: Handler) -> None:
        received = time.time()
        if self.latency > 0 and self._stopping.wait(self.latency):
            handler.close_connection = True  # shutting down: answer nothing
            return
        try:
            split = split_target(handler.path)
        except ValueError as exc:
            # Every malformed target gets a 400 in the error envelope, never silence.
            handler.send_error(HTTPStatus.BAD_REQUEST, f"malformed request target: {exc}")
            return
        query = parse_qs(split.query, keep_blank_values=True)
        key = handler.headers.get("X-API-Key")
        response, names = self._respond(handler.command, split.path, split.query, query, key)
        fault = "+".join(names) or None
        self._record(handler.command, split.path, query, key, response.status, fault, received)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %d%s",
                handler.command,
                redact(handler.path, self.api_key),
                response.status,
                f" ({fault})" if fault else "",
            )
        self._send(handler, response)

    def _send(self, handler: Handler, response: Response) -> None:
        # A request body we do not read would be parsed as the next request on this
        # keep-alive connection; closing is simpler than draining.
        has_body = handler.headers.get("Content-Length", "0") not in ("", "0") or (
            "Transfer-Encoding" in handler.headers
        )
        body = response.body
        handler.send_response(response.status)
        handler.send_header("Content-Type", response.content_type)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in response.headers:
            handler.send_header(name, value)
        if has_body:
            handler.send_header("Connection", "close")
            handler.close_connection = True
        handler.end_headers()
        if handler.command != "HEAD":
            response.write(handler, body, self._stopping)
