"""The client's settings, grouped as httpx groups ``Timeout`` and ``Limits`` (``_config.py``).

:class:`Timeout` says how long to wait; :class:`Retries` how to retry. ``IntraceClient``
takes one parameter per setting, a plain value or its settings object, as requests'
``HTTPAdapter(max_retries=int | Retry)``: ``timeout=(5, 30)`` or ``timeout=Timeout(...)``,
``max_retries=5`` or ``max_retries=Retries(...)``. :meth:`Timeout.from_value` and
:meth:`Retries.from_value` turn either form into the object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import urlsplit

from intrace_analytics._util.checks import check_int, check_number, fail
from intrace_analytics._util.redact import redact_url
from intrace_analytics.api._retry import RETRY_STATUSES, LoadContext, RetryPolicy

__all__ = ["DEFAULT_BASE_URL", "Retries", "Secret", "Timeout", "check_base_url"]

DEFAULT_BASE_URL = "https://api.intrace.ai"


@dataclass(frozen=True, slots=True)
class Timeout:
    """How long a client waits, in seconds: one setting object, as httpx's ``Timeout``.

    Parameters
    ----------
    connect
        To open a connection.
    read
        For each read of the response (between two pieces of it, not for all of it).
    deadline
        For one whole response, body included, so a trickling body cannot hang.

    Raises
    ------
    ValueError
        A value is not a positive number (the message names it and shows the value).

    Examples
    --------
    >>> patient = Timeout(connect=10, read=60, deadline=300)
    >>> from intrace_analytics import IntraceClient
    >>> client = IntraceClient("key", timeout=patient)
    >>> client.timeout.read, client.timeout.deadline
    (60.0, 300.0)
    >>> IntraceClient("key", timeout=(2, 10)).timeout
    Timeout(connect=2.0, read=10.0, deadline=90.0)
    """

    connect: float = 5.0
    read: float = 30.0
    deadline: float = 90.0

    def __post_init__(self) -> None:
        names = {"connect": "timeout (connect)", "read": "timeout (read)", "deadline": "deadline"}
        for field, name in names.items():
            value = check_number(name, getattr(self, field), positive=True, unit="seconds")
            object.__setattr__(self, field, value)

    @classmethod
    def from_value(cls, timeout: object) -> Timeout:
        """``timeout`` as a :class:`Timeout`: a Timeout as it is, a number for both
        waits, or a ``(connect, read)`` pair (either with the default deadline)."""
        if isinstance(timeout, Timeout):
            return timeout
        if isinstance(timeout, tuple | list) and len(timeout) == 2:
            return cls(timeout[0], timeout[1])
        if isinstance(timeout, int | float) and not isinstance(timeout, bool):
            value = check_number("timeout", timeout, positive=True, unit="seconds")
            return cls(value, value)
        raise fail("timeout", "a number of seconds, a (connect, read) pair or a Timeout", timeout)

    @property
    def pair(self) -> tuple[float, float]:
        """``(connect, read)``, as requests takes a timeout."""
        return (self.connect, self.read)


@dataclass(frozen=True, slots=True)
class Retries:
    """How a client retries: one setting object, as urllib3's ``Retry`` is to requests'
    ``HTTPAdapter(max_retries=...)``.

    Parameters
    ----------
    max_retries
        Retries per request (attempts = retries + 1), 0..100, for connection errors, read
        timeouts, bodies cut short and HTTP 408/429/500/502/503/504.
    backoff_factor, backoff_max, backoff_jitter
        Seconds between retries: ``backoff_factor * 2**(n-1)``, plus up to
        ``backoff_jitter`` at random, at most ``backoff_max``.
    max_retry_after
        The longest ``Retry-After`` (seconds) waited out; a longer one raises
        :class:`~intrace_analytics.exceptions.RateLimitError` at once.
    budget
        Retries allowed per load across all workers (each success earns back 0.1).
    timeout_retries
        Of a request's retries, how many may follow a timeout (no connection within the
        connect timeout, nothing read within the read timeout), 0..100; at most
        ``max_retries``. Each costs a whole timeout: with the defaults a server that
        accepts connections and never answers fails a request after 2 x 30 s, not
        6 x 30 s plus backoff.

    Raises
    ------
    ValueError
        A value is out of range (the message names the field, its value and what is allowed).

    Examples
    --------
    >>> from intrace_analytics import IntraceClient
    >>> patient = Retries(max_retries=8, backoff_max=60, budget=50)
    >>> client = IntraceClient("key", max_retries=patient)
    >>> client.retries.max_retries, client.retries.budget
    (8, 50)
    >>> IntraceClient("key", max_retries=2).retries == Retries(max_retries=2)
    True
    """

    max_retries: int = 5
    backoff_factor: float = 0.5
    backoff_max: float = 30.0
    backoff_jitter: float = 0.5
    max_retry_after: float = 60.0
    budget: int = 20
    timeout_retries: int = 1

    def __post_init__(self) -> None:
        check_int("max_retries", self.max_retries, 0, 100)
        check_int("timeout_retries", self.timeout_retries, 0, 100)
        check_int("budget", self.budget, 0, 1_000_000)
        for name in ("backoff_factor", "backoff_max", "backoff_jitter", "max_retry_after"):
            value = check_number(name, getattr(self, name), unit="seconds")
            object.__setattr__(self, name, value)

    @classmethod
    def from_value(cls, max_retries: object) -> Retries:
        """``max_retries`` as a :class:`Retries`: a Retries as it is, or a number of
        retries per request (0..100) with the other settings' defaults."""
        if isinstance(max_retries, Retries):
            return max_retries
        if isinstance(max_retries, int) and not isinstance(max_retries, bool):
            return cls(max_retries=max_retries)
        raise fail("max_retries", "an integer from 0 to 100 or a Retries", max_retries)

    def policy(self, load: LoadContext | None = None) -> RetryPolicy:
        """The urllib3 ``Retry`` for one request of ``load`` (GET only, no redirects)."""
        retry = RetryPolicy(
            total=self.max_retries,
            connect=self.max_retries,
            read=self.max_retries,
            status=self.max_retries,
            other=0,
            redirect=0,
            allowed_methods=frozenset({"GET"}),
            status_forcelist=RETRY_STATUSES,
            backoff_factor=self.backoff_factor,
            backoff_max=self.backoff_max,
            backoff_jitter=self.backoff_jitter,
            # Uncapped here: RetryPolicy.increment compares with max_retry_after and fails
            # fast instead of sleeping (urllib3 would clamp and wait).
            retry_after_max=math.inf,  # type: ignore[arg-type]
            respect_retry_after_header=True,
            raise_on_status=False,
            raise_on_redirect=False,
        )
        retry.load = load
        retry.timeout_retries = self.timeout_retries
        return retry


class Secret:
    """Holds the API key so that no repr, vars() or log line can show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__


def check_base_url(url: str) -> str:
    """``url`` stripped of a trailing slash, if it is an http(s) URL with no query,
    fragment or credentials; else ``ValueError`` naming ``base_url``, the URL shown with
    its credentials and query masked (they may hold a secret).

    >>> check_base_url("https://api.example/")
    'https://api.example'
    >>> try:
    ...     check_base_url("https://me:KEY@api.example/?api_key=KEY")
    ... except ValueError as exc:
    ...     print(str(exc).partition("; got ")[2])
    'https://***@api.example/?api_key=***'
    """
    parts = urlsplit(url.strip())
    shown = redact_url(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise fail("base_url", f"an http(s) URL such as {DEFAULT_BASE_URL!r}", shown)
    if parts.query or parts.fragment or parts.username or parts.password or "@" in parts.netloc:
        raise fail(
            "base_url",
            "an http(s) URL without a query, fragment or credentials "
            "(the API key goes in INTRACE_API_KEY)",
            shown,
        )
    return url.strip().rstrip("/")
