"""Every error and warning the package raises, in one place.

Errors::

    IntraceError
    ├── AuthenticationError   401/403 from the API, or no API key configured
    ├── RateLimitError        429 after retries, or a Retry-After longer than the client waits
    ├── ApiError              any other HTTP failure (status_code, error_code, message)
    ├── NetworkError          connection refused, reset or timed out after retries
    ├── ResponseFormatError   a body that is not the documented shape (offset)
    ├── ExportError           an export or history store could not be written or read (path)
    └── IncompleteLoadError   an incomplete load offered to a history, which refuses it

Warnings (``warnings.warn``)::

    IntraceWarning(UserWarning)
    ├── DataQualityWarning    a value outside a documented set, a bad timestamp, conflicting copies
    └── CompletenessWarning   a load could not prove it holds every matching incident exactly once

Errors carry their context as attributes (``status_code``, ``error_code``, ``url``,
``offset``, ``path``), not only in the message. No error ever holds the API key: URLs never carry
it (the key travels in a header only) and messages are built from our own text.
"""

from __future__ import annotations

import os
from pathlib import Path

from intrace_analytics._util.redact import redact_url, redact_urls

__all__ = [
    "ApiError",
    "AuthenticationError",
    "CompletenessWarning",
    "DataQualityWarning",
    "ExportError",
    "IncompleteLoadError",
    "IntraceError",
    "IntraceWarning",
    "NetworkError",
    "RateLimitError",
    "ResponseFormatError",
]


class IntraceError(Exception):
    """Base class of every error raised by intrace_analytics.

    Parameters
    ----------
    message
        What went wrong, in a sentence.
    url
        The request URL (never with the key: the key travels in a header).
    """

    def __init__(self, message: str, *, url: str | None = None) -> None:
        # A URL a message repeats may be one a user typed with a secret in it.
        message = redact_urls(message)
        super().__init__(message)
        self.message = message
        self.url = redact_url(url) if url is not None else None


class ApiError(IntraceError):
    """The API answered with an HTTP error that is not about auth or rate limits.

    Attributes
    ----------
    status_code
        The HTTP status, or ``None`` when the failure is not a status (a refused redirect).
    error_code
        ``error.code`` from the API's JSON error body, when it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error_code: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, url=url)
        self.status_code = status_code
        self.error_code = error_code


class AuthenticationError(IntraceError):
    """The API rejected the key (401/403), or no key was configured.

    The message names ``INTRACE_API_KEY``, never the key itself.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error_code: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, url=url)
        self.status_code = status_code
        self.error_code = error_code


class RateLimitError(IntraceError):
    """Rate limited: 429 after every retry, or a ``Retry-After`` too long to wait out.

    Attributes
    ----------
    retry_after
        Seconds the server asked us to wait, when it said (``None`` otherwise).
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status_code: int | None = 429,
        url: str | None = None,
    ) -> None:
        super().__init__(message, url=url)
        self.retry_after = retry_after
        self.status_code = status_code


class NetworkError(IntraceError):
    """The host could not be reached, or the connection failed, after every retry."""


class ResponseFormatError(IntraceError):
    """A response body is not the documented shape.

    Attributes
    ----------
    offset
        The page's ``offset`` request parameter, or its position when read offline.
    field
        The field that is missing or of the wrong type, when one is to blame.
    """

    def __init__(
        self,
        message: str,
        *,
        offset: int | None = None,
        field: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, url=url)
        self.offset = offset
        self.field = field


class ExportError(IntraceError):
    """An export, a history store or a report file could not be written, read or published.

    The file system's or Arrow's own error is the ``__cause__``; the message names the
    file or directory a user knows (a table's file, never a writer's temporary), in
    words, without ``[Errno N]``. Bad arguments (a frame without its table's columns)
    are ``ValueError``, as everywhere in the package.

    Attributes
    ----------
    path
        The file or directory at fault.
    """

    def __init__(self, message: str, *, path: str | os.PathLike[str] | None = None) -> None:
        super().__init__(message)
        self.path = None if path is None else Path(path)


class IntraceWarning(UserWarning):
    """Base class of every warning issued by intrace_analytics."""


class DataQualityWarning(IntraceWarning):
    """Data was kept but is not what the API documents (once per field per load, with counts)."""


class CompletenessWarning(IntraceWarning):
    """A load could not prove that it holds every matching incident exactly once."""


class IncompleteLoadError(IntraceError):
    """A load that could not prove it holds every matching incident was not appended to
    a history (``History.append(..., allow_incomplete=True)`` appends it without gone rows)."""
