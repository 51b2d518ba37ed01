"""Retries as configuration: urllib3's ``Retry`` plus what a whole load needs.

:class:`RetryPolicy` is the ``Retry`` mounted on every session's adapter, built from the
user's :class:`~intrace_analytics.api._settings.Retries` by :meth:`Retries.policy`. It adds a retry
budget shared by a load's workers (an outage fails fast instead of hammering the
server), a cap on ``Retry-After`` (a longer wait becomes ``RateLimitError``, not an hour's
sleep), and accounting: retries, requests and seconds waited, for the load report.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final, Self

from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NewConnectionError,
    ReadTimeoutError,
    ResponseError,
)
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

__all__ = [
    "RETRY_STATUSES",
    "LoadContext",
    "LoadStats",
    "RetryBudget",
    "RetryBudgetSpent",
    "RetryPolicy",
    "after_retries",
    "is_timeout",
    "retry_after_seconds",
]

# Statuses worth another try: the server or a proxy says "not now". 400/401/403/404/422
# say "never" and are not retried.
RETRY_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})


@dataclass
class LoadStats:
    """Counters of one load, shared by its worker threads.

    Attributes
    ----------
    pages
        Pages received.
    requests
        HTTP requests sent, retries included.
    retries
        Requests that were retries of an earlier failure.
    rate_limit_wait_s
        Seconds spent waiting out ``Retry-After``.
    """

    pages: int = 0
    requests: int = 0
    retries: int = 0
    rate_limit_wait_s: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **amounts: float) -> None:
        with self._lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)


class RetryBudget:
    """Retries left for one load: an outage fails fast instead of hammering the server.

    Like gRPC's retry throttling, each successful request earns back a tenth of a retry,
    so a long load with sporadic failures is not starved while a dead server gets only
    ``initial`` retries across all workers.
    """

    # Counted in tenths of a retry, as integers, so ten successes make exactly one retry.
    def __init__(self, initial: int) -> None:
        self.initial = initial
        self._tenths = 10 * initial
        self._cap = 10 * initial
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self._tenths < 10:
                return False
            self._tenths -= 10
            return True

    def earn(self) -> None:
        with self._lock:
            self._tenths = min(self._cap, self._tenths + 1)


@dataclass
class LoadContext:
    """What one load shares between its requests: counters, budget, callbacks."""

    stats: LoadStats
    budget: RetryBudget
    max_retry_after: float
    on_wait: Callable[[float, str], None] | None = None
    # Held around each request: with a semaphore, at most so many requests of the load
    # are in flight, however many reads run side by side (the site reads of a load).
    slots: AbstractContextManager[Any] = field(default_factory=contextlib.nullcontext)
    # When the current attempt of this thread's request began (for the deadline).
    local: threading.local = field(default_factory=threading.local)
    # Set when a request of the load failed for good: the requests not yet sent are not
    # sent, so a load fails within one request's time, not one per worker in turn.
    failed: threading.Event = field(default_factory=threading.Event)

    def attempt_started(self) -> float:
        return getattr(self.local, "started", time.monotonic())

    def start_attempt(self) -> None:
        self.local.started = time.monotonic()

    def notify_wait(self, seconds: float, reason: str) -> None:
        if self.on_wait is not None and seconds > 0:
            self.on_wait(seconds, reason)


def is_timeout(error: Exception | None) -> bool:
    """Whether ``error`` is a wait that ran out: no connection within the connect timeout,
    or nothing read within the read timeout (a refused connection is not one)."""
    if isinstance(error, NewConnectionError):  # a subclass of ConnectTimeoutError
        return False
    return isinstance(error, ReadTimeoutError | ConnectTimeoutError)


class RetryBudgetSpent(MaxRetryError):
    """A request would have been retried, but the load's retry budget was spent."""


def after_retries(retries: int, budget: RetryBudget | None = None, spent: bool = False) -> str:
    """``"after N retries"``, and when the load's retry budget stopped them, that it did:
    "after 0 retries" alone reads as if retries were off."""
    text = f"after {retries} retr{'y' if retries == 1 else 'ies'}"
    if spent and budget is not None:
        text += (
            f" (the load's retry budget of {budget.initial} retries was spent, "
            "by this request or others of the load)"
        )
    return text


class RetryPolicy(Retry):
    """urllib3's Retry, plus a retry budget, a cap on Retry-After, a smaller allowance
    for timeouts, and wait accounting."""

    load: LoadContext | None = None
    # Retries of a request that timed out, at most (None: as many as max_retries). Each
    # costs a whole timeout: a server that accepts connections and never answers would
    # otherwise hold a load for (max_retries + 1) read timeouts plus the backoffs.
    timeout_retries: int | None = None
    # Set on the Retry whose increment found the load's budget spent: the response it hands
    # back (raise_on_status is off) carries this Retry, so the error can say why.
    budget_spent: bool = False

    def new(self, **kw: Any) -> Self:
        retry = super().new(**kw)
        retry.load = self.load
        retry.timeout_retries = self.timeout_retries
        return retry

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        if self.timeout_retries is not None and is_timeout(error):
            timeouts = sum(1 for entry in self.history if is_timeout(entry.error))
            if timeouts >= self.timeout_retries:
                raise MaxRetryError(_pool, url, error)
        load = self.load
        if load is not None:
            if response is not None:
                # Every status that sends Retry-After is waited out by sleep() (urllib3
                # honours it for any retried status, 503 as much as 429), so the cap applies
                # to every one.
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                if wait is not None and wait > load.max_retry_after:
                    # Waiting an hour inside a notebook is worse than failing now: give the
                    # response back (raise_on_status is off) and let the client raise
                    # RateLimitError, whatever its status.
                    raise MaxRetryError(_pool, url, ResponseError("Retry-After too long"))
            if not load.budget.take():
                self.budget_spent = True
                raise RetryBudgetSpent(_pool, url, error or ResponseError("retry budget exhausted"))
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        if load is not None:
            load.stats.add(retries=1, requests=1)
        return retry

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        load = self.load
        wait = None
        if response is not None:
            wait = retry_after_seconds(response.headers.get("Retry-After"))
        if load is None:
            super().sleep(response)
            return
        if wait:
            reason = (
                "rate limited"
                if response is not None and response.status == 429
                else ("server asked to retry later")
            )
            load.notify_wait(wait, reason)
            started = time.monotonic()
            super().sleep(response)
            load.stats.add(rate_limit_wait_s=time.monotonic() - started)
        else:
            backoff = self.get_backoff_time()
            load.notify_wait(backoff, "retry after an error")
            time.sleep(backoff)
        load.start_attempt()


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or HTTP-date), or None."""
    if value is None:
        return None
    try:
        # An uncapped Retry to parse both forms exactly as urllib3 does.
        return Retry(retry_after_max=math.inf).parse_retry_after(value)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - an unparseable header means "no advice"
        return None
