"""One page of ``GET /v1/incidents``, as received, with its provenance.

A page body looks like this (the API may spell keys in snake_case or camelCase)::

    {"incidents": [{"id": "309b7b4d-...", "title": "Sustained unrest around Lagos HQ",
                    "status": "open", "scope": "aggregate", "threatLinks": [...],
                    "createdAt": "2026-04-18T09:00:00Z", "updatedAt": "2026-04-18T11:20:00Z"}],
     "total": 1}

:class:`Page` keeps the raw bytes beside the decoded incidents, with the request
parameters, the offset and the time it was fetched, so a load can be audited and
replayed offline.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from intrace_analytics.exceptions import ResponseFormatError

__all__ = ["Page"]


@dataclass(frozen=True, slots=True, repr=False)
class Page:
    """One page of incidents with its provenance.

    Attributes
    ----------
    incidents
        The incidents as received (dicts, keys as the API spelled them).
    total
        The ``total`` the API reported with this page: all matches at that moment.
    offset, limit
        The request's ``offset`` and ``limit``.
    params
        Every query parameter sent (filters included; never the API key).
    fetched_at
        When the body finished arriving (UTC).
    body
        The raw response bytes.

    Examples
    --------
    >>> page = Page.from_body(b'{"incidents": [{"id": "a"}], "total": 1}', offset=0, limit=100)
    >>> page.total, len(page.incidents)
    (1, 1)
    """

    incidents: list[dict[str, Any]]
    total: int
    offset: int
    limit: int
    params: Mapping[str, Any] = field(default_factory=dict)
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    body: bytes = b""

    @classmethod
    def from_body(
        cls,
        body: bytes | str,
        *,
        offset: int,
        limit: int,
        params: Mapping[str, Any] | None = None,
        fetched_at: datetime | None = None,
        url: str | None = None,
    ) -> Page:
        """Decode and check a page body.

        Parameters
        ----------
        body
            The response body.
        offset, limit
            The request's pagination parameters (``offset`` is named in errors).
        params
            All query parameters of the request.
        fetched_at
            When the body arrived; defaults to now (UTC).
        url
            The request URL, for error messages.

        Returns
        -------
        Page

        Raises
        ------
        ResponseFormatError
            The body is not JSON, or not ``{"incidents": [object, ...], "total": int}``.
        """
        raw = body.encode() if isinstance(body, str) else bytes(body)
        try:
            # JSON on the wire is UTF-8 (RFC 8259); json.loads would guess UTF-16/32 from bytes.
            decoded = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
            snippet = raw[:60].decode("utf-8", "replace")
            raise ResponseFormatError(
                f"page at offset {offset}: the body is not JSON ({reason}); it starts {snippet!r}",
                offset=offset,
                url=url,
            ) from None
        incidents, total = _check_shape(decoded, offset=offset, url=url)
        return cls(
            incidents=incidents,
            total=total,
            offset=offset,
            limit=limit,
            params=dict(params or {}),
            fetched_at=fetched_at or datetime.now(UTC),
            body=raw,
        )

    def __repr__(self) -> str:
        return (
            f"Page(offset={self.offset}, limit={self.limit}, incidents={len(self.incidents)}, "
            f"total={self.total}, fetched_at={self.fetched_at.isoformat()})"
        )


def _check_shape(
    decoded: object, *, offset: int, url: str | None
) -> tuple[list[dict[str, Any]], int]:
    def bad(field: str, expected: str, got: object) -> ResponseFormatError:
        return ResponseFormatError(
            f"page at offset {offset}: field {field!r} should be {expected}, "
            f"got {_describe(got)}",
            offset=offset,
            field=field,
            url=url,
        )

    if not isinstance(decoded, dict):
        raise bad("(body)", "a JSON object", decoded)
    if "incidents" not in decoded:
        raise bad("incidents", "a list of incident objects", None)
    incidents = decoded["incidents"]
    if not isinstance(incidents, list):
        raise bad("incidents", "a list of incident objects", incidents)
    for i, item in enumerate(incidents):
        if not isinstance(item, dict):
            raise bad(f"incidents[{i}]", "an object", item)
    total = decoded.get("total")
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise bad("total", "a non-negative integer", total if "total" in decoded else None)
    return incidents, total


def _describe(value: object) -> str:
    if value is None:
        return "nothing"
    text = json.dumps(value) if not isinstance(value, bytes) else repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"
