"""Reading one response off the wire: per-thread sessions, the body under a deadline,
and the errors a broken connection or an HTTP error status turn into.

Used by :mod:`intrace_analytics.api._client` only; split out so the client keeps to its
requests, retries and redirects.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError, ReadTimeoutError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from intrace_analytics.api._retry import (
    RETRY_STATUSES,
    LoadContext,
    RetryBudget,
    RetryBudgetSpent,
    after_retries,
    retry_after_seconds,
)
from intrace_analytics.exceptions import ApiError, AuthenticationError, NetworkError, RateLimitError

__all__ = [
    "BODY_ERRORS",
    "Deadline",
    "Session",
    "SessionPool",
    "as_protocol",
    "error_body",
    "http_error",
    "network_error",
    "origin",
    "read_body",
]

# Errors raised while reading a body after the headers arrived. urllib3's Retry never
# sees these (requests reads the body after urlopen returns), so the client retries them.
BODY_ERRORS = (ProtocolError, ReadTimeoutError, requests.exceptions.ChunkedEncodingError, OSError)


class Session(requests.Session):
    """A Session that puts the client's timeout on every request made through it."""

    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__()
        self.default_timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, *args, **kwargs)


class SessionPool:
    """One Session per thread (requests' Session is not thread-safe), closed together."""

    def __init__(self, factory: Callable[[], Session]) -> None:
        self._factory = factory
        self._local = threading.local()
        self._all: list[Session] = []
        self._lock = threading.Lock()

    def get(self) -> Session:
        session: Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._factory()
            self._local.session = session
            with self._lock:
                self._all.append(session)
        return session

    def close(self) -> None:
        with self._lock:
            sessions, self._all = self._all, []
        for session in sessions:
            session.close()


class Deadline(Exception):
    """A response took longer than the client's total deadline."""


# The most one read of a body asks for. A read returns what has arrived (it does not wait
# to fill this), so the deadline is checked as often whatever the size; larger reads cost
# less Python per byte: 1 MiB reads took 40 % less CPU than 64 KiB ones for 8 MB pages.
READ_SIZE = 1 << 20


def read_body(response: requests.Response, deadline_at: float, read_timeout: float) -> bytes:
    """Read the whole body, never past the deadline, and check it against Content-Length."""
    raw = response.raw
    connection = raw.connection
    sock = getattr(connection, "sock", None)
    chunks = []
    while True:
        remaining = deadline_at - time.monotonic()
        if remaining <= 0:
            raise Deadline
        if sock is not None:
            # Each read waits at most the read timeout, and never past the deadline.
            sock.settimeout(max(0.001, min(read_timeout, remaining)))
        try:
            chunk = raw.read1(READ_SIZE)
        except ReadTimeoutError:
            if time.monotonic() >= deadline_at:
                raise Deadline from None
            raise
        if not chunk:
            break
        chunks.append(chunk)
    body = b"".join(chunks)
    expected = response.headers.get("Content-Length")
    unencoded = "Content-Encoding" not in response.headers
    if expected and expected.isdigit() and unencoded and len(body) != int(expected):
        raise ProtocolError(f"body has {len(body)} of {expected} bytes")
    return body


def as_protocol(exc: BaseException) -> Exception:
    # urllib3's Retry classifies ProtocolError and ReadTimeoutError as read errors.
    if isinstance(exc, ProtocolError | ReadTimeoutError):
        return exc
    return ProtocolError(f"{type(exc).__name__} while reading the body")


def network_error(
    exc: requests.exceptions.RequestException,
    url: str,
    path: str,
    offset: int,
    budget: RetryBudget | None = None,
) -> Exception:
    reason = exc.args[0] if exc.args else exc
    after = "after retries"
    if isinstance(reason, RetryBudgetSpent) and budget is not None:
        # "after retries" alone would hide that the load's shared budget stopped them.
        after = (
            f"and was not retried again: the load's retry budget of {budget.initial} "
            "retries was spent"
        )
    if isinstance(reason, MaxRetryError) and reason.reason is not None:
        reason = reason.reason
    # Said in words, not exception class names: this line is what a user reads.
    if isinstance(reason, NewConnectionError):  # a subclass of ConnectTimeoutError in urllib3
        what = "could not connect (connection refused or host unreachable)"
    elif isinstance(reason, ReadTimeoutError):
        what = "timed out: the server accepted the connection but sent no answer in time"
    elif isinstance(exc, requests.exceptions.Timeout) or isinstance(reason, Urllib3Timeout):
        what = "timed out: could not connect in time"
    elif isinstance(exc, requests.exceptions.RetryError):
        what = "kept failing"
    elif isinstance(exc, requests.exceptions.ConnectionError):
        what = "could not connect or the connection broke"
    else:
        what = f"failed ({type(reason).__name__})"
    return NetworkError(f"GET {origin(url)}{path} (offset {offset}) {what}, {after}", url=url)


def error_body(response: requests.Response) -> tuple[str | None, str | None]:
    """The API's ``{"error": {"code", "message"}}``, if the body has one."""
    try:
        raw = response.raw.read(64 * 1024, decode_content=True)
        payload = json.loads(raw)
    except Exception:  # noqa: BLE001 - an error body that is not JSON is just absent
        return None, None
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return None, None
    code, message = error.get("code"), error.get("message")
    return (
        code if isinstance(code, str) else None,
        message if isinstance(message, str) else None,
    )


def http_error(response: requests.Response, load: LoadContext, hint: str = "") -> Exception:
    """The error an HTTP error status stands for: the API's code and message, the retries
    made (and whether the load's budget stopped them), a rate limit's wait; ``hint``, a
    sentence on what to change, ends an :class:`ApiError`'s message."""
    status = response.status_code
    error_code, message = error_body(response)
    detail = f"HTTP {status}" + (f" {error_code}" if error_code else "")
    detail += f": {message}" if message else ""
    url = response.url
    retry = response.raw.retries
    retries = len(retry.history) if retry else 0
    spent = bool(getattr(retry, "budget_spent", False))
    after = after_retries(retries, load.budget, spent)
    if status in (401, 403):
        return AuthenticationError(
            f"The API rejected the key ({detail}). Check INTRACE_API_KEY.",
            status_code=status,
            error_code=error_code,
            url=url,
        )
    wait = retry_after_seconds(response.headers.get("Retry-After"))
    if status in RETRY_STATUSES and wait is not None and wait > load.max_retry_after:
        # Whatever the status (a 503 asks to wait as much as a 429 does): a wait longer
        # than the client's cap is a rate limit, raised at once (RetryPolicy.increment).
        text = (
            f"Rate limited: the API asks to wait {wait:.0f} s, longer than the "
            f"{load.max_retry_after:g} s this client waits; try again later ({detail})"
        )
        return RateLimitError(text, retry_after=wait, status_code=status, url=url)
    if status == 429:
        text = f"Still rate limited {after} ({detail})"
        return RateLimitError(text, retry_after=wait, url=url)
    return ApiError(
        f"GET {url} failed{' ' + after if retries or spent else ''} with {detail}"
        + (f". {hint}" if hint else ""),
        status_code=status,
        error_code=error_code,
        url=url,
    )


def origin(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return f"{parts.scheme}://{parts.hostname}:{port}"
