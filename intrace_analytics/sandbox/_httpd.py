"""The sandbox's HTTP plumbing: the stdlib's threading server and request handler.

Keep-alive HTTP/1.1 with ``TCP_NODELAY``; every request, malformed ones included, is
handed to the callables the :class:`Server` was made with (the sandbox's, which record it
and answer in the API's JSON shape): callables rather than the sandbox itself, so this
module needs nothing of the sandbox's. The stdlib's own answers (an HTML error page for a
malformed request or an unknown method) are replaced by the JSON error envelope, and
nothing is written to stderr.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import SplitResult, urlsplit

from intrace_analytics.sandbox._bodies import error_body

__all__ = ["Handler", "Server", "split_target"]

logger = logging.getLogger("intrace_analytics.sandbox")


#: An authority with an IPv6 literal: optional userinfo, one bracketed address, a port.
_BRACKETED = re.compile(r"(?:[^@\[\]]*@)?\[[0-9A-Za-z:.%]+\](?::[0-9]*)?")


def split_target(target: str) -> SplitResult:
    """The request target split into its parts, or :class:`ValueError` saying why it is
    malformed: not ASCII, neither a path (``/...``) nor an absolute ``http(s)`` URI, or
    an absolute URI with a bad authority (an unbalanced IPv6 bracket, a bad port)."""
    if not target.isascii() or not target.isprintable():
        raise ValueError("the request target must be printable ASCII")
    split = urlsplit(target)  # ValueError on an unbalanced IPv6 bracket
    if split.scheme or split.netloc:
        if split.scheme not in ("http", "https") or not split.hostname:
            raise ValueError("an absolute request target must be an http(s) URI with a host")
        _ = split.port  # ValueError on a port that is not a number in 0..65535
        if ("[" in split.netloc or "]" in split.netloc) and not _BRACKETED.fullmatch(split.netloc):
            raise ValueError("the request target's host has unbalanced IPv6 brackets")
        if split.path and not split.path.startswith("/"):
            raise ValueError("the request target's path must start with '/'")
    elif not split.path.startswith("/"):
        raise ValueError("the request target must be a path starting with '/'")
    return split


class Handler(BaseHTTPRequestHandler):
    server: Server
    # HTTP/1.1 gives keep-alive, which the client's connection pool relies on; every
    # response therefore carries a Content-Length.
    protocol_version = "HTTP/1.1"
    server_version = "IntraceSandbox/1.0"
    # Bounds how long an idle keep-alive connection holds a thread.
    timeout = 120
    # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's algorithm
    # meets the client's delayed ACK and every small response waits ~40 ms.
    disable_nagle_algorithm = True

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:
        self.server.answer(self)

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # The stdlib answers malformed requests and unknown methods with an HTML page;
        # the API answers everything in its JSON error shape, and 405 for any method.
        if code == HTTPStatus.NOT_IMPLEMENTED:
            code, error_code = HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed"
            message = f"method {self.command} is not allowed; use GET"
        else:
            error_code = HTTPStatus(code).phrase.lower().replace(" ", "_")
            message = message or HTTPStatus(code).phrase
        body = error_body(error_code, message, retryable=False)
        # A request line of two words reads as HTTP/0.9, which gets a bare body; this
        # server speaks HTTP/1.1 only, so the answer carries its status line and headers.
        if getattr(self, "request_version", None) == "HTTP/0.9":
            self.request_version = self.protocol_version
        # Told before answering, so a client that has its answer sees the record.
        # Malformed requests may fail before the path or the headers are parsed.
        headers = getattr(self, "headers", None)
        self.server.refused(
            self.command or "",
            getattr(self, "path", None) or "",
            headers.get("X-API-Key") if headers is not None else None,
            int(code),
        )
        self.close_connection = True
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        if code == HTTPStatus.METHOD_NOT_ALLOWED:
            self.send_header("Allow", "GET")
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # Silent: the stdlib writes every request to stderr; the sandbox logs at DEBUG.
        return


#: Answers one well-formed request on the handler (status, headers, body).
Answer = Callable[[Handler], None]
#: Told of a request the handler refuses itself: (method, target, X-API-Key, status).
Refused = Callable[[str, str, str | None, int], None]


class Server(ThreadingHTTPServer):
    """The stdlib's threading server, handing requests to ``answer`` and ``refused``,
    and keeping its open connections so :meth:`close_connections` can end them."""

    daemon_threads = True
    # stop() must not wait for idle keep-alive connections or a trickling body.
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], answer: Answer, refused: Refused) -> None:
        self.answer = answer
        self.refused = refused
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if isinstance(request, socket.socket):
            with self._open_lock:
                self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut every open connection down: wakes handlers blocked on a read or on a
        client that stopped reading."""
        with self._open_lock:
            connections = list(self._open)
        for conn in connections:
            with contextlib.suppress(OSError):  # already closed by its handler
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The default prints a traceback to stderr; a client going away mid-body is
        # routine here (the fault switches provoke it), so it is only worth a DEBUG line.
        logger.debug("connection from %s ended with an error", client_address, exc_info=True)
