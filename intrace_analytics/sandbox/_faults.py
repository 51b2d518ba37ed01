"""The sandbox's fault switches: arming them, consuming them, and the answers they become.

A switch is armed by a method of :class:`~intrace_analytics.sandbox.SandboxServer`
(defined here, in :class:`FaultSwitches`), taken by the first matching request (by
path, offset and site), and turned into a response: an error status, 429 with
``Retry-After``, a redirect, a malformed body, or a good body written badly (cut off,
reset, trickled). Switches named ``*_between_pages`` change the data after a page
instead (see ``SandboxServer``). :meth:`FaultSwitches.forbid_assets` is a setting, not a
one-off: while on, ``GET /v1/assets`` answers 403.
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
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

from intrace_analytics._util.checks import check_choice, check_int, check_number, fail
from intrace_analytics.api._endpoints import ASSETS_PATH, INCIDENTS_PATH
from intrace_analytics.sandbox._bodies import assets_body, error_body, page_body

__all__ = [
    "Fault",
    "FaultSwitches",
    "Response",
    "fault_response",
    "take",
    "write_body",
]

#: What a switch's ``path`` may be: one endpoint, or ``None`` for either.
PATHS = (INCIDENTS_PATH, ASSETS_PATH, None)

BAD_BODY_KINDS = ("not_json", "wrong_shape", "bad_total")
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


@dataclass
class Fault:
    """One armed switch: its kind, how many more requests it takes, where, and how.

    ``path`` (``None``: any endpoint), ``offset`` (``None``: any) and ``asset_id``
    (``None``: any request; else only incident requests whose ``asset_id`` filter
    names that site) say which requests it matches.
    """

    kind: str
    times: int
    offset: int | None
    options: dict[str, Any]
    path: str | None = INCIDENTS_PATH
    asset_id: str | None = None


@dataclass
class Response:
    """An answer to send, and how to write its body (see :func:`write_body`)."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    mode: str = "normal"  # "normal" | "drop" | "truncate" | "trickle"
    options: dict[str, Any] = field(default_factory=dict)


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
    _mutations: list[Fault]
    assets_forbidden: bool

    def _add(
        self,
        kind: str,
        times: int,
        offset: int | None,
        /,
        path: str | None = INCIDENTS_PATH,
        asset_id: str | None = None,
        **options: Any,
    ) -> None:
        check_int("times", times, 1)
        if offset is not None:
            check_int("offset", offset, 0)
        check_choice("path", path, PATHS)
        if asset_id is not None and (not isinstance(asset_id, str) or path != INCIDENTS_PATH):
            raise fail("asset_id", f"None or a site id (with path={INCIDENTS_PATH!r})", asset_id)
        fault = Fault(kind, times, offset, options, path, asset_id)
        with self._lock:
            if kind.endswith("_between_pages"):
                self._mutations.append(fault)
            else:
                self._faults.append(fault)

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
        check_int("status", status, 400, 599)
        self._add("fail", times, offset, path, asset_id, status=status)

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
        check_number("retry_after", retry_after, unit="seconds")
        self._add(
            "rate_limit",
            times,
            offset,
            path,
            asset_id,
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
        self._add("drop_connection", times, offset, path, asset_id)

    def truncate_body(
        self,
        *,
        times: int = 1,
        offset: int | None = None,
        path: str | None = INCIDENTS_PATH,
        asset_id: str | None = None,
    ) -> None:
        """Send the headers (full Content-Length) and half the body, then close (FIN)."""
        self._add("truncate_body", times, offset, path, asset_id)

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
        check_number("interval", interval, unit="seconds")
        check_int("chunk", chunk, 1)
        self._add("trickle_body", times, offset, path, asset_id, interval=interval, chunk=chunk)

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
        check_choice("kind", kind, BAD_BODY_KINDS)
        self._add("bad_body", times, offset, path, asset_id, kind=kind)

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
        check_int("status", status, 300, 399)
        self._add("redirect", times, offset, path, asset_id, location=location, status=status)

    def insert_between_pages(
        self, n: int, *, after_offset: int = 0, times: int = 1, asset_id: str | None = None
    ) -> None:
        """After answering an incidents request at ``after_offset``, add ``n`` newer incidents.

        They take the front of the order, as a live system's new incidents would, so
        later pages shift by ``n``. Each belongs to one to three sites (as generated);
        with ``asset_id``, only a request of that site's read triggers it and the new
        incidents belong to that site too, so the site's read sees them.
        """
        check_int("n", n, 1)
        check_int("after_offset", after_offset, 0)
        self._add("insert_between_pages", times, after_offset, INCIDENTS_PATH, asset_id, n=n)

    def delete_between_pages(
        self, n: int, *, after_offset: int = 0, times: int = 1, asset_id: str | None = None
    ) -> None:
        """After answering an incidents request at ``after_offset``, delete ``n`` incidents.

        The ``n`` newest; with ``asset_id``, only a request of that site's read triggers
        it, and the ``n`` newest incidents of that site go.
        """
        check_int("n", n, 1)
        check_int("after_offset", after_offset, 0)
        self._add("delete_between_pages", times, after_offset, INCIDENTS_PATH, asset_id, n=n)

    def clear_faults(self) -> None:
        """Forget every fault switch not yet consumed (data changes already made stay).

        :meth:`forbid_assets` is a setting, not a switch: it stays as it is.
        """
        with self._lock:
            self._faults.clear()
            self._mutations.clear()


def take(
    faults: list[Fault], path: str, offset: int, assets: tuple[str, ...] | None = None
) -> Fault | None:
    """Consume the first armed fault matching the request, or ``None``.

    ``path``, ``offset`` and ``assets`` (the ``asset_id`` filter's values) describe the
    request. The caller holds the lock.
    """
    for fault in faults:
        if (
            fault.times > 0
            and (fault.path is None or fault.path == path)
            and (fault.offset is None or fault.offset == offset)
            and (fault.asset_id is None or fault.asset_id in (assets or ()))
        ):
            fault.times -= 1
            if fault.times == 0:
                faults.remove(fault)
            return fault
    return None


def fault_response(
    fault: Fault,
    page: list[Any],
    total: int,
    *,
    casing: str,
    rng: random.Random | None,
    raw_query: str,
    base_url: str,
    list_key: str = "incidents",
) -> Response:
    """The answer a request gets from ``fault`` instead of its ``page`` of ``total``.

    ``casing`` and ``rng`` serialize the page where the fault sends it (cut off, reset
    or trickled); ``raw_query`` and ``base_url`` complete a redirect's ``Location``.
    ``list_key`` is ``"assets"`` for the sites list, a body without ``total``.
    """
    options = fault.options
    if fault.kind == "fail":
        code = options["status"]
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
    if fault.kind == "rate_limit":
        wait = options["retry_after"]
        retry_after = (
            email.utils.formatdate(time.time() + wait, usegmt=True)
            if options["http_date"]
            else str(math.ceil(wait))
        )
        body = error_body("rate_limited", "too many requests; slow down", retryable=True)
        return Response(429, body, headers=[("Retry-After", retry_after)])
    if fault.kind == "redirect":
        location: str = options["location"]
        if location.startswith("/"):
            location = base_url + location
        if location.endswith("?"):
            pass  # sent as given: the caller wants the query dropped
        elif raw_query:
            location += ("&" if "?" in location else "?") + raw_query
        return Response(options["status"], b"", headers=[("Location", location)])
    if fault.kind == "bad_body":
        kind = options["kind"]
        if kind == "not_json":
            return Response(200, _NOT_JSON_PAGE, content_type="text/html")
        if kind == "wrong_shape":
            payload: dict[str, Any] = {"data": page, "count": total}
        else:
            payload = {list_key: page, "total": "many"}
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        return Response(200, body)
    mode = {"drop_connection": "drop", "truncate_body": "truncate"}.get(fault.kind, "trickle")
    if list_key == "assets":
        body = assets_body(page, casing=casing, rng=rng)
    else:
        body = page_body(page, total, casing=casing, rng=rng)
    return Response(200, body, mode=mode, options=options)


def write_body(
    handler: BaseHTTPRequestHandler, response: Response, stopping: threading.Event
) -> None:
    """Write ``response``'s body after its headers: whole, cut off, reset or trickled.

    ``stopping`` is the server's shutdown event: it cuts the waits short.
    """
    body = response.body
    if response.mode == "normal":
        handler.wfile.write(body)
    elif response.mode == "truncate":
        handler.wfile.write(body[: len(body) // 2])
        handler.close_connection = True  # the server then shuts the socket down: a FIN
    elif response.mode == "drop":
        handler.wfile.write(body[: len(body) // 2])
        # Let the partial body reach the client before the reset, so it reliably
        # sees "headers, some body, then ECONNRESET" rather than a bare refusal.
        stopping.wait(0.05)
        _reset(handler)
    else:
        _trickle(handler, body, response.options["interval"], response.options["chunk"], stopping)


def _reset(handler: BaseHTTPRequestHandler) -> None:
    handler.close_connection = True
    conn = handler.connection
    # SO_LINGER on with a zero timeout makes close() send RST instead of FIN.
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    # The reader holds a reference to the socket; the descriptor (and so the RST)
    # only goes once both are closed. The server's later shutdown() of the closed
    # socket fails quietly.
    handler.rfile.close()
    conn.close()


def _trickle(
    handler: BaseHTTPRequestHandler,
    body: bytes,
    interval: float,
    chunk: int,
    stopping: threading.Event,
) -> None:
    for start in range(0, len(body), chunk):
        if start and stopping.wait(interval):
            handler.close_connection = True
            return
        try:
            handler.wfile.write(body[start : start + chunk])
        except OSError:
            # The client gave up (timeout, reset): routine for this fault.
            handler.close_connection = True
            return
