"""The sandbox's fault switches: one small class per kind, in one registry.

A switch class says what its kind does: an :class:`Answer` replaces the answer to a
request (an error status, 429 with ``Retry-After``, a redirect, a malformed body, or a
good body written badly: cut off, reset, trickled); a :class:`DataChange` changes the
served data after answering (rows inserted or deleted between pages). Subclassing
registers it under its name (``class Fail(Answer, name="fail")``), and
:meth:`FaultSwitches.arm` arms any registered switch by that name; an unknown name is
an error. A new fault switch is one class, plus a named arming method on
:class:`FaultSwitches` where tests want one.

An armed switch (a :class:`Fault`) is taken by the first matching request (by path,
offset and site). :meth:`FaultSwitches.forbid_assets` is a setting, not a switch: while
on, ``GET /v1/assets`` answers 403.
"""

from __future__ import annotations

import email.utils
import json
import math
import random
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar, TypeVar

from intrace_analytics._util.checks import check_choice, check_int, check_number, fail
from intrace_analytics.api._endpoints import ASSETS_PATH, INCIDENTS_PATH
from intrace_analytics.sandbox._bodies import assets_body, error_body, page_body
from intrace_analytics.sandbox._tenant import Tenant

__all__ = [
    "SWITCHES",
    "Answer",
    "DataChange",
    "Fault",
    "FaultSwitches",
    "Request",
    "Response",
    "Switch",
    "fault_response",
    "take",
    "write_whole",
]

#: What a switch's ``path`` may be: one endpoint, or ``None`` for either.
PATHS = (INCIDENTS_PATH, ASSETS_PATH, None)

#: Every fault switch, by name: filled by subclassing :class:`Switch` with ``name=``.
SWITCHES: dict[str, type[Switch]] = {}

#: Writes a response's body after its headers: ``(handler, body, stopping)``, where
#: ``stopping`` is the server's shutdown event (it cuts waits short).
BodyWriter = Callable[[BaseHTTPRequestHandler, bytes, threading.Event], None]

S = TypeVar("S", bound="Switch")

_ERROR_CODES = {
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
    429: "rate_limited",
}
_NOT_JSON_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    b"<body><h1>502 Bad Gateway</h1><p>The upstream server returned an invalid response."
    b"</p><hr><address>edge-proxy</address></body></html>\n"
)


def write_whole(handler: BaseHTTPRequestHandler, body: bytes, stopping: threading.Event) -> None:
    """The ordinary :data:`BodyWriter`: the whole body at once."""
    handler.wfile.write(body)


@dataclass
class Response:
    """An answer to send, and the writer of its body (whole unless a switch says so)."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    write: BodyWriter = write_whole


@dataclass(frozen=True)
class Request:
    """What an :class:`Answer` may use: the rows the request would get, and how.

    ``rows`` (snake_case) of ``total`` matches; ``casing`` and ``rng`` serialize them as
    the good answer would; ``raw_query`` and ``base_url`` complete a redirect's
    ``Location``; ``list_key`` is ``"assets"`` for the sites list, a body without
    ``total``.
    """

    rows: list[Any]
    total: int
    casing: str
    rng: random.Random | None
    raw_query: str
    base_url: str
    list_key: str = "incidents"

    def good_body(self) -> bytes:
        """The body the request would get without a fault."""
        if self.list_key == "assets":
            return assets_body(self.rows, casing=self.casing, rng=self.rng)
        return page_body(self.rows, self.total, casing=self.casing, rng=self.rng)


@dataclass(frozen=True)
class Switch:
    """A kind of misbehaviour; its fields are its options, checked when it is made."""

    #: The name it is armed by and recorded under (``RequestRecord.fault``).
    name: ClassVar[str]
    #: The endpoints it may be aimed at.
    paths: ClassVar[tuple[str | None, ...]] = PATHS

    def __init_subclass__(cls, name: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if name is None:
            return  # a family of switches (Answer, DataChange), not one to arm
        if name in SWITCHES:
            raise TypeError(f"a fault switch named {name!r} exists already")
        cls.name = name
        SWITCHES[name] = cls


@dataclass(frozen=True)
class Answer(Switch):
    """A switch that answers a request in place of the API."""

    def respond(self, request: Request) -> Response:
        raise NotImplementedError


@dataclass(frozen=True)
class DataChange(Switch):
    """A switch that changes the served data after the API answered a request."""

    paths: ClassVar[tuple[str | None, ...]] = (INCIDENTS_PATH,)

    def apply(self, tenant: Tenant, site: str | None) -> None:
        """Change ``tenant``'s data; ``site`` is the site the fault was aimed at, if any."""
        raise NotImplementedError


@dataclass(frozen=True)
class Fail(Answer, name="fail"):
    status: int = 503

    def __post_init__(self) -> None:
        check_int("status", self.status, 400, 599)

    def respond(self, request: Request) -> Response:
        code = self.status
        error_code = _ERROR_CODES.get(code) or (
            HTTPStatus(code).phrase.lower().replace(" ", "_")
            if code in HTTPStatus._value2member_map_
            else "server_error"
        )
        body = error_body(
            error_code,
            "the service is temporarily unavailable; retry later",
            retryable=code >= 500 or code in (408, 429),
        )
        return Response(code, body)


@dataclass(frozen=True)
class RateLimit(Answer, name="rate_limit"):
    retry_after: float = 1
    http_date: bool = False

    def __post_init__(self) -> None:
        check_number("retry_after", self.retry_after, unit="seconds")

    def respond(self, request: Request) -> Response:
        wait = self.retry_after
        if self.http_date:
            retry_after = email.utils.formatdate(time.time() + wait, usegmt=True)
        else:
            retry_after = str(math.ceil(wait))
        body = error_body("rate_limited", "too many requests; slow down", retryable=True)
        return Response(429, body, headers=[("Retry-After", retry_after)])


@dataclass(frozen=True)
class Redirect(Answer, name="redirect"):
    location: str
    status: int = 302

    def __post_init__(self) -> None:
        check_int("status", self.status, 300, 399)

    def respond(self, request: Request) -> Response:
        location = self.location
        if location.startswith("/"):
            location = request.base_url + location
        # A location ending in "?" is sent as given: the caller wants the query dropped.
        if request.raw_query and not location.endswith("?"):
            location += ("&" if "?" in location else "?") + request.raw_query
        return Response(self.status, b"", headers=[("Location", location)])


@dataclass(frozen=True)
class BadBody(Answer, name="bad_body"):
    kind: str = "not_json"

    KINDS: ClassVar[tuple[str, ...]] = ("not_json", "wrong_shape", "bad_total")

    def __post_init__(self) -> None:
        check_choice("kind", self.kind, self.KINDS)

    def respond(self, request: Request) -> Response:
        if self.kind == "not_json":
            return Response(200, _NOT_JSON_PAGE, content_type="text/html")
        payload: dict[str, Any]
        if self.kind == "wrong_shape":
            payload = {"data": request.rows, "count": request.total}
        else:
            payload = {request.list_key: request.rows, "total": "many"}
        return Response(
            200, json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        )


@dataclass(frozen=True)
class _BadlyWritten(Answer):
    """The good body, written badly by :meth:`write`."""

    def respond(self, request: Request) -> Response:
        return Response(200, request.good_body(), write=self.write)

    def write(
        self, handler: BaseHTTPRequestHandler, body: bytes, stopping: threading.Event
    ) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class DropConnection(_BadlyWritten, name="drop_connection"):
    def write(
        self, handler: BaseHTTPRequestHandler, body: bytes, stopping: threading.Event
    ) -> None:
        handler.wfile.write(body[: len(body) // 2])
        # Let the partial body reach the client before the reset, so it reliably
        # sees "headers, some body, then ECONNRESET" rather than a bare refusal.
        stopping.wait(0.05)
        handler.close_connection = True
        conn = handler.connection
        # SO_LINGER on with a zero timeout makes close() send RST instead of FIN.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # The reader holds a reference to the socket; the descriptor (and so the RST)
        # only goes once both are closed. The server's later shutdown() of the closed
        # socket fails quietly.
        handler.rfile.close()
        conn.close()


@dataclass(frozen=True)
class TruncateBody(_BadlyWritten, name="truncate_body"):
    def write(
        self, handler: BaseHTTPRequestHandler, body: bytes, stopping: threading.Event
    ) -> None:
        handler.wfile.write(body[: len(body) // 2])
        handler.close_connection = True  # the server then shuts the socket down: a FIN


@dataclass(frozen=True)
class TrickleBody(_BadlyWritten, name="trickle_body"):
    interval: float = 0.2
    chunk: int = 8

    def __post_init__(self) -> None:
        check_number("interval", self.interval, unit="seconds")
        check_int("chunk", self.chunk, 1)

    def write(
        self, handler: BaseHTTPRequestHandler, body: bytes, stopping: threading.Event
    ) -> None:
        for start in range(0, len(body), self.chunk):
            if start and stopping.wait(self.interval):
                handler.close_connection = True
                return
            try:
                handler.wfile.write(body[start : start + self.chunk])
            except OSError:
                # The client gave up (timeout, reset): routine for this fault.
                handler.close_connection = True
                return


@dataclass(frozen=True)
class InsertBetweenPages(DataChange, name="insert_between_pages"):
    n: int

    def __post_init__(self) -> None:
        check_int("n", self.n, 1)

    def apply(self, tenant: Tenant, site: str | None) -> None:
        tenant.insert(self.n, site)


@dataclass(frozen=True)
class DeleteBetweenPages(DataChange, name="delete_between_pages"):
    n: int

    def __post_init__(self) -> None:
        check_int("n", self.n, 1)

    def apply(self, tenant: Tenant, site: str | None) -> None:
        tenant.delete(self.n, site)


@dataclass
class Fault:
    """One armed switch: what it does, how many more requests it takes, and which.

    ``path`` (``None``: any endpoint), ``offset`` (``None``: any) and ``asset_id``
    (``None``: any request; else only incident requests whose ``asset_id`` filter
    names that site) say which requests it matches.
    """

    switch: Switch
    times: int
    offset: int | None = None
    path: str | None = INCIDENTS_PATH
    asset_id: str | None = None

    def matches(self, path: str, offset: int, assets: tuple[str, ...] | None) -> bool:
        return (
            (self.path is None or self.path == path)
            and (self.offset is None or self.offset == offset)
            and (self.asset_id is None or self.asset_id in (assets or ()))
        )


def take(
    faults: list[Fault],
    family: type[S],
    path: str,
    offset: int,
    assets: tuple[str, ...] | None = None,
) -> tuple[S, Fault] | None:
    """Consume the first armed fault of ``family`` matching the request, or ``None``.

    ``path``, ``offset`` and ``assets`` (the ``asset_id`` filter's values) describe the
    request. Returns the switch (typed as its family) and the fault that armed it. The
    caller holds the lock.
    """
    for fault in faults:
        switch = fault.switch
        if isinstance(switch, family) and fault.matches(path, offset, assets):
            fault.times -= 1
            if fault.times == 0:
                faults.remove(fault)
            return switch, fault
    return None


def fault_response(switch: Answer, request: Request) -> Response:
    """The answer ``request`` gets from ``switch`` instead of the API's.

    Every switched answer passes through here, so a test can alter them all at once,
    as a proxy in front of the API would (``Retry-After`` on every 5xx, say).
    """
    return switch.respond(request)


class FaultSwitches:
    """The fault-switch methods of ``SandboxServer``; the server holds their state.

    Faults are one line each from a test::

        with SandboxServer(incidents=120) as sandbox:
            sandbox.fail(503, times=2)          # the next two pages answer 503
            sandbox.rate_limit(2, offset=100)   # the page at offset 100 answers 429

    Every switch takes ``times`` (how many requests it answers, >= 1), ``offset``
    (only requests at that offset; ``None`` for any; a ``/v1/assets`` request is at
    offset 0), ``path`` (``"/v1/incidents"`` by default, ``"/v1/assets"``, or ``None``
    for either) and ``asset_id`` (only incident requests whose ``asset_id`` filter names
    that site: one site's read). Switches fire in the order they were armed::

        sandbox.fail(403, path="/v1/assets")                  # the sites list, once
        sandbox.truncate_body(asset_id="lagos-hq", offset=0)  # lagos-hq's first page
    """

    # Set by SandboxServer.__init__. One lock guards them with the data and the request
    # log, so a page, the total beside it and the fault it consumed always agree.
    _lock: threading.Lock
    _faults: list[Fault]
    assets_forbidden: bool

    def arm(
        self,
        name: str,
        /,
        *,
        times: int = 1,
        offset: int | None = None,
        path: str | None = INCIDENTS_PATH,
        asset_id: str | None = None,
        **options: Any,
    ) -> None:
        """Arm the fault switch called ``name`` with its ``options``.

        ``name`` is one of the names in :data:`SWITCHES` (``"fail"``, ``"rate_limit"``,
        ...: the named methods below, which call this); ``options`` are that switch's
        own (``status=`` for ``"fail"``, ``n=`` for ``"insert_between_pages"``, ...).

        Examples
        --------
        >>> from intrace_analytics.sandbox import SandboxServer
        >>> sandbox = SandboxServer(incidents=3)
        >>> sandbox.arm("fail", status=502, times=2)
        >>> sandbox.arm("bad_body", kind="wrong_shape", path="/v1/assets")
        >>> sandbox.arm("trickle")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        ArgumentError: name must be one of 'fail', 'rate_limit', ...; got 'trickle'
        """
        kind = SWITCHES[check_choice("name", name, tuple(SWITCHES))]
        switch = kind(**options)
        check_int("times", times, 1)
        if offset is not None:
            check_int("offset", offset, 0)
        check_choice("path", path, kind.paths)
        if asset_id is not None and (not isinstance(asset_id, str) or path != INCIDENTS_PATH):
            raise fail("asset_id", f"None or a site id (with path={INCIDENTS_PATH!r})", asset_id)
        with self._lock:
            self._faults.append(Fault(switch, times, offset, path, asset_id))

    def forbid_assets(self, forbidden: bool = True) -> None:
        """Answer ``GET /v1/assets`` with 403 (a key without access to sites) until undone.

        ``/v1/incidents`` (its ``asset_id`` filter included) keeps working. Pass
        ``False`` to allow the sites list again; :meth:`clear_faults` leaves it as is.
        """
        self.assets_forbidden = bool(forbidden)

    def fail(
        self,
        status: int = 503,
        *,
        times: int = 1,
        offset: int | None = None,
        path: str | None = INCIDENTS_PATH,
        asset_id: str | None = None,
    ) -> None:
        """Answer with ``status`` and a JSON error body.

        The body's ``retryable`` is true for 5xx, 408 and 429, false otherwise.
        """
        self.arm("fail", times=times, offset=offset, path=path, asset_id=asset_id, status=status)

    def rate_limit(
        self,
        retry_after: float = 1,
        *,
        times: int = 1,
        http_date: bool = False,
        offset: int | None = None,
        path: str | None = INCIDENTS_PATH,
        asset_id: str | None = None,
    ) -> None:
        """Answer 429 with ``Retry-After``: whole seconds (rounded up) or an HTTP-date."""
        self.arm(
            "rate_limit",
            times=times,
            offset=offset,
            path=path,
            asset_id=asset_id,
            retry_after=retry_after,
            http_date=http_date,
        )

    def drop_connection(
        self,
        *,
        times: int = 1,
        offset: int | None = None,
        path: str | None = INCIDENTS_PATH,
        asset_id: str | None = None,
    ) -> None:
        """Send the headers (full Content-Length) and half the body, then reset (RST)."""
        self.arm("drop_connection", times=times, offset=offset, path=path, asset_id=asset_id)

    def truncate_body(
        self,
        *,
        times: int = 1,
        offset: int | None = None,
        path: str | None = INCIDENTS_PATH,
        asset_id: str | None = None,
    ) -> None:
        """Send the headers (full Content-Length) and half the body, then close (FIN)."""
        self.arm("truncate_body", times=times, offset=offset, path=path, asset_id=asset_id)

    def trickle_body(
        self,
        *,
        interval: float = 0.2,
        chunk: int = 8,
        times: int = 1,
        offset: int | None = None,
        path: str | None = INCIDENTS_PATH,
        asset_id: str | None = None,
    ) -> None:
        """Send the body ``chunk`` bytes at a time, one chunk every ``interval`` seconds."""
        self.arm(
            "trickle_body",
            times=times,
            offset=offset,
            path=path,
            asset_id=asset_id,
            interval=interval,
            chunk=chunk,
        )

    def bad_body(
        self,
        kind: str = "not_json",
        *,
        times: int = 1,
        offset: int | None = None,
        path: str | None = INCIDENTS_PATH,
        asset_id: str | None = None,
    ) -> None:
        """Answer 200 with a malformed body.

        ``"not_json"`` is an HTML error page (``text/html``); ``"wrong_shape"`` is
        ``{"data": [...], "count": N}``; ``"bad_total"`` has ``"total": "many"`` (on
        ``/v1/assets`` too, beside ``"assets"``).
        """
        self.arm("bad_body", times=times, offset=offset, path=path, asset_id=asset_id, kind=kind)

    def redirect(
        self,
        location: str,
        *,
        status: int = 302,
        times: int = 1,
        offset: int | None = None,
        path: str | None = INCIDENTS_PATH,
        asset_id: str | None = None,
    ) -> None:
        """Answer ``status`` with ``Location``.

        The request's query string is appended to ``location`` unless it ends with
        ``?`` (then it is sent as is); a location starting with ``/`` is made
        absolute against :attr:`url`.
        """
        self.arm(
            "redirect",
            times=times,
            offset=offset,
            path=path,
            asset_id=asset_id,
            location=location,
            status=status,
        )

    def insert_between_pages(
        self, n: int, *, after_offset: int = 0, times: int = 1, asset_id: str | None = None
    ) -> None:
        """After answering an incidents request at ``after_offset``, add ``n`` newer incidents.

        They take the front of the order, as a live system's new incidents would, so
        later pages shift by ``n``. Each belongs to one to three sites (as generated);
        with ``asset_id``, only a request of that site's read triggers it and the new
        incidents belong to that site too, so the site's read sees them.
        """
        check_int("after_offset", after_offset, 0)
        self.arm("insert_between_pages", times=times, offset=after_offset, asset_id=asset_id, n=n)

    def delete_between_pages(
        self, n: int, *, after_offset: int = 0, times: int = 1, asset_id: str | None = None
    ) -> None:
        """After answering an incidents request at ``after_offset``, delete ``n`` incidents.

        The ``n`` newest; with ``asset_id``, only a request of that site's read triggers
        it, and the ``n`` newest incidents of that site go.
        """
        check_int("after_offset", after_offset, 0)
        self.arm("delete_between_pages", times=times, offset=after_offset, asset_id=asset_id, n=n)

    def clear_faults(self) -> None:
        """Forget every fault switch not yet consumed (data changes already made stay).

        :meth:`forbid_assets` is a setting, not a switch: it stays as it is.
        """
        with self._lock:
            self._faults.clear()
