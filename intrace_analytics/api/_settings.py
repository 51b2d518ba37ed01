"""The client's settings, grouped as httpx groups ``Timeout`` and ``Limits`` (``_config.py``).

:class:`Timeout` says how long to wait; :class:`Retries` how to retry. ``IntraceClient``
takes either the objects or its flat keyword arguments (``deadline=``, ``max_retries=``,
``backoff_factor=``, ...); :func:`resolve_timeout` and :func:`resolve_retries` turn both
forms into the objects, and refuse a keyword that disagrees with the object beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Generic, Self, TypeVar, cast, overload
from urllib.parse import urlsplit

from intrace_analytics._util.checks import check_int, check_number, fail
from intrace_analytics.api._retry import RETRY_STATUSES, LoadContext, RetryPolicy

__all__ = [
    "DEFAULT_BASE_URL",
    "Retries",
    "Secret",
    "SettingAlias",
    "Timeout",
    "check_base_url",
    "default",
    "resolve_retries",
    "resolve_timeout",
]

DEFAULT_BASE_URL = "https://api.intrace.ai"

T = TypeVar("T")


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
    >>> client.timeout, client.deadline
    ((10.0, 60.0), 300.0)
    """

    connect: float = 5.0
    read: float = 30.0
    deadline: float = 90.0

    def __post_init__(self) -> None:
        # Named as the client's keyword arguments name them: timeout=(connect, read), deadline.
        names = {"connect": "timeout (connect)", "read": "timeout (read)", "deadline": "deadline"}
        for field, name in names.items():
            value = check_number(name, getattr(self, field), positive=True, unit="seconds")
            object.__setattr__(self, field, value)


@dataclass(frozen=True, slots=True)
class Retries:
    """How a client retries: one setting object, as httpx groups ``Timeout`` and ``Limits``.

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
    >>> client = IntraceClient("key", retries=patient)
    >>> client.max_retries, client.retries.budget
    (8, 50)
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
            # Stored as floats, as the client's keyword arguments always were.
            value = check_number(name, getattr(self, name), unit="seconds")
            object.__setattr__(self, name, value)

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


class _Default(Generic[T]):
    """A keyword argument's default, told apart from the same value passed on purpose.

    A keyword given beside a settings object (``max_retries=3`` with ``retries=...``)
    must agree with it; one left out must not be mistaken for a choice. It shows as the
    value itself, so ``help(IntraceClient)`` reads ``max_retries=5``.
    """

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def __repr__(self) -> str:
        return repr(self.value)


def default(value: T) -> T:
    """A keyword argument's default that :func:`resolve_retries` can tell from a choice."""
    # Typed as the value so signatures keep their plain types (``max_retries: int``).
    return cast(T, _Default(value))


def _given(value: object) -> bool:
    return not isinstance(value, _Default)


def _value(value: T) -> T:
    return cast(T, value.value) if isinstance(value, _Default) else value


class SettingAlias(Generic[T]):
    """A flat attribute (``client.max_retries``) that reads and writes one field of a
    settings object (``client.retries``), so the two never disagree."""

    def __init__(self, group: str, field: str) -> None:
        self.group = group
        self.field = field

    @overload
    def __get__(self, owner_instance: None, owner: type) -> Self: ...
    @overload
    def __get__(self, owner_instance: object, owner: type) -> T: ...
    def __get__(self, owner_instance: object, owner: type) -> Self | T:
        if owner_instance is None:
            return self
        return cast(T, getattr(getattr(owner_instance, self.group), self.field))

    def __set__(self, owner_instance: object, value: T) -> None:
        settings = getattr(owner_instance, self.group)
        setattr(owner_instance, self.group, replace(settings, **{self.field: value}))


def resolve_timeout(timeout: object, deadline: float) -> Timeout:
    """A :class:`Timeout` from ``timeout`` (a Timeout, a number, or a ``(connect, read)``
    pair) and ``deadline`` (which must agree with a Timeout's when given beside one)."""
    if isinstance(timeout, Timeout):
        if _given(deadline) and deadline != timeout.deadline:
            raise fail(
                "deadline",
                f"left out, or equal to the Timeout's deadline ({timeout.deadline:g}), "
                "when timeout is a Timeout",
                deadline,
            )
        return timeout
    deadline = _value(deadline)
    if isinstance(timeout, tuple | list) and len(timeout) == 2:
        return Timeout(timeout[0], timeout[1], deadline)
    if isinstance(timeout, int | float) and not isinstance(timeout, bool):
        value = check_number("timeout", timeout, positive=True, unit="seconds")
        return Timeout(value, value, deadline)
    raise fail("timeout", "a number of seconds, a (connect, read) pair or a Timeout", timeout)


# The client's keyword arguments that are fields of Retries, and the field each one sets.
RETRY_KEYWORDS = {
    "max_retries": "max_retries",
    "backoff_factor": "backoff_factor",
    "backoff_max": "backoff_max",
    "backoff_jitter": "backoff_jitter",
    "max_retry_after": "max_retry_after",
    "retry_budget": "budget",
}


def resolve_retries(retries: object, **keywords: Any) -> Retries:
    """``retries``, or a :class:`Retries` built from the keywords (see ``RETRY_KEYWORDS``);
    a keyword given beside ``retries`` must agree with it."""
    if retries is None:
        if _given(keywords.get("retry_budget", _Default(None))):
            # Checked here so the message names the keyword, not Retries' field.
            check_int("retry_budget", keywords["retry_budget"], 0, 1_000_000)
        fields = {RETRY_KEYWORDS[name]: _value(value) for name, value in keywords.items()}
        return Retries(**fields)
    if not isinstance(retries, Retries):
        raise fail("retries", "None or a Retries object", retries)
    for name, value in keywords.items():
        field = RETRY_KEYWORDS[name]
        if _given(value) and value != getattr(retries, field):
            raise fail(
                name,
                f"left out, or equal to retries.{field} ({getattr(retries, field)!r}), "
                "when retries is given",
                value,
            )
    return retries


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
    fragment or credentials; else ``ValueError`` naming ``base_url``."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise fail("base_url", f"an http(s) URL such as {DEFAULT_BASE_URL!r}", url)
    if parts.query or parts.fragment or parts.username or parts.password:
        # Shown without its query and credentials: they may hold a secret.
        raise fail(
            "base_url",
            "an http(s) URL without a query, fragment or credentials "
            "(the API key goes in INTRACE_API_KEY)",
            f"{parts.scheme}://{parts.hostname}{parts.path}",
        )
    return url.strip().rstrip("/")
