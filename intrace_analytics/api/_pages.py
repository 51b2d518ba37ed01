"""One page of ``GET /v1/incidents``, as received, with its provenance.

A page body looks like this (the API may spell keys in snake_case or camelCase)::

    {"incidents": [{"id": "309b7b4d-...", "title": "Sustained unrest around Lagos HQ",
                    "status": "open", "scope": "aggregate", "threatLinks": [...],
                    "createdAt": "2026-04-18T09:00:00Z", "updatedAt": "2026-04-18T11:20:00Z"}],
     "total": 1}

:class:`Page` keeps the raw bytes beside the incidents (given, or decoded from the body
when first read), with the request parameters, the offset and the time it was fetched, so a
load can be audited and replayed offline. A page of ``GET /v1/assets`` is an
:class:`AssetPage`. :func:`read_ids` parses a body for its incidents' ids alone.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from intrace_analytics._util.clock import utc_now
from intrace_analytics._util.redact import redact_url
from intrace_analytics.api._bodies import check_body, decode_json, describe, encode_text
from intrace_analytics.exceptions import ResponseFormatError

__all__ = [
    "AssetPage",
    "BodyParser",
    "IdList",
    "JsonlWriter",
    "Page",
    "ParsedBody",
    "read_ids",
    "read_jsonl",
    "write_jsonl",
]


class ParsedBody(Protocol):
    """What a :data:`BodyParser` makes of a page body: at least its ``total`` and its
    incidents' ids (:class:`intrace_analytics.frames._parse.PageColumns` is one), which is
    all the paginator's stop rule and loop guards need."""

    @property
    def total(self) -> int:
        """The body's ``total``."""
        ...

    def ids(self) -> list[Any]:
        """The incidents' ids, in the body's order."""
        ...

    def count(self) -> int:
        """How many incidents the body lists."""
        ...


BodyParser = Callable[[bytes, int, str], ParsedBody]
"""Parses a page body: ``parse(body, offset, label) -> ParsedBody``; raises
:class:`ResponseFormatError` naming ``offset`` for a body it cannot read (``label`` names
the page in the message). It is handed the bytes unchecked: it must refuse, before its
parser sees them, bytes that are not a JSON object (:func:`check_body`)."""


@dataclass(frozen=True)
class Page:
    """One page of incidents with its provenance.

    Attributes
    ----------
    rows
        The incidents when the page was built from them or decoded on receipt; None when
        they are decoded from ``body`` only if read (a load's pages, replayed pages).
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
    pass_index
        Which read of the result set the page belongs to: 0 for the load's first pass,
        1, 2, ... for reconciliation passes after drift was detected.
    url
        The request URL, named in errors.
    parsed
        What a :data:`BodyParser` made of ``body`` when the page was received, if one did.

    Examples
    --------
    >>> page = Page.from_body(b'{"incidents": [{"id": "a"}], "total": 1}', offset=0, limit=100)
    >>> page.total, len(page.incidents)
    (1, 1)
    """

    rows: list[dict[str, Any]] | None
    total: int
    offset: int
    limit: int
    params: Mapping[str, Any] = field(default_factory=dict)
    fetched_at: datetime = field(default_factory=utc_now)
    body: bytes = b""
    pass_index: int = 0
    url: str | None = field(default=None, compare=False)
    parsed: ParsedBody | None = field(default=None, compare=False)

    @cached_property
    def incidents(self) -> list[dict[str, Any]]:
        """The incidents as received (dicts, keys as the API spelled them): ``rows``, or
        ``body`` decoded on first read (:class:`ResponseFormatError`, naming the offset,
        when it is not a page)."""
        if self.rows is not None:
            return self.rows
        label = f"page at offset {self.offset}"
        return _decode_page(self.body, label=label, offset=self.offset, url=self.url)[0]

    def ids(self) -> list[Any]:
        """The incidents' ids, in the body's order: from the parse when there was one, so
        a load's pages are never decoded for them."""
        if self.parsed is not None:
            return self.parsed.ids()
        return [incident.get("id") for incident in self.incidents]

    def count(self) -> int:
        """How many incidents the page holds: from the parse when there was one."""
        return self.parsed.count() if self.parsed is not None else len(self.incidents)

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
        parse: BodyParser | None = None,
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
        parse
            Parse the body with it here instead of decoding it (see :data:`BodyParser`),
            and keep what it made in ``parsed``: ``total`` comes from that parse;
            ``incidents`` are decoded only when first read.

        Returns
        -------
        Page

        Raises
        ------
        ResponseFormatError
            The body is not JSON, or not ``{"incidents": [object, ...], "total": int}``;
            with ``parse``, any body ``parse`` refuses.
        """
        label = f"page at offset {offset}"
        raw = encode_text(body, label=label, offset=offset, url=url)
        provenance: dict[str, Any] = {
            "offset": offset,
            "limit": limit,
            "params": dict(params or {}),
            "fetched_at": fetched_at or utc_now(),
            "body": raw,
            "url": url,
        }
        if parse is None:
            check_body(raw, label=label, offset=offset, url=url)
            incidents, total = _decode_page(raw, label=label, offset=offset, url=url)
            return cls(incidents, total, **provenance)
        try:
            parsed = parse(raw, offset, label)  # checks the body itself (BodyParser)
        except ResponseFormatError as exc:
            exc.url = exc.url or (redact_url(url) if url is not None else None)
            raise
        return cls(None, parsed.total, parsed=parsed, **provenance)

    def __repr__(self) -> str:
        read = f", pass_index={self.pass_index}" if self.pass_index else ""
        try:
            count: int | str = self.count()
        except ResponseFormatError:  # a lazy body that is not a page: repr must not raise
            count = "?"
        return (
            f"Page(offset={self.offset}, limit={self.limit}, incidents={count}, "
            f"total={self.total}, fetched_at={self.fetched_at.isoformat()}{read})"
        )


@dataclass(frozen=True)
class AssetPage:
    """One response of ``GET /v1/assets`` (usually all of it), with its provenance.

    Attributes
    ----------
    assets
        The asset objects as received (dicts, keys as the API spelled them).
    total
        The ``total`` the body reported, else the offset plus the number of assets (the
        endpoint documents one unpaginated response).
    offset, limit, params, fetched_at, body, url
        As for :class:`Page`; ``limit`` is 0 when none was sent.

    Examples
    --------
    >>> page = AssetPage.from_body(b'{"assets": [{"asset_id": "lagos-hq"}]}', offset=0, limit=0)
    >>> page.total, page.ids()
    (1, ['lagos-hq'])
    """

    assets: list[dict[str, Any]]
    total: int
    offset: int
    limit: int
    params: Mapping[str, Any] = field(default_factory=dict)
    fetched_at: datetime = field(default_factory=utc_now)
    body: bytes = b""
    url: str | None = field(default=None, compare=False)

    def ids(self) -> list[Any]:
        """The assets' ids (either casing), in the body's order."""
        return [asset.get("asset_id", asset.get("assetId")) for asset in self.assets]

    def count(self) -> int:
        """How many assets the page holds."""
        return len(self.assets)

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
    ) -> AssetPage:
        """Decode and check a body of ``GET /v1/assets``: ``{"assets": [object, ...]}``,
        ``total`` optional (:class:`ResponseFormatError` naming the field otherwise)."""
        label = f"assets at offset {offset}"
        raw = encode_text(body, label=label, offset=offset, url=url)
        check_body(raw, label=label, offset=offset, url=url)
        assets, total = _decode_page(raw, label=label, offset=offset, url=url, key="assets")
        return cls(
            assets,
            total,
            offset,
            limit,
            dict(params or {}),
            fetched_at or utc_now(),
            raw,
            url,
        )


@dataclass(frozen=True)
class IdList:
    """A page body read for its incidents' ids alone (:func:`read_ids`)."""

    id_list: list[str]
    total: int

    def ids(self) -> list[str]:
        return self.id_list

    def count(self) -> int:
        return len(self.id_list)


def read_ids(raw: bytes, offset: int, label: str) -> IdList:
    """A :data:`BodyParser` for reads that need only the incidents' ids (a site's
    membership): read by Arrow without decoding the rest; a body Arrow cannot read this
    way is decoded in full, for the exact error.

    Raises
    ------
    ResponseFormatError
        The body is not a page, or an incident has no string ``id``.
    """
    check_body(raw, label=label, offset=offset)
    quick = _ids_only(raw)
    if quick is not None:
        ids, total = quick
    else:
        incidents, total = _decode_page(raw, label=label, offset=offset, url=None)
        ids = [incident.get("id") for incident in incidents]
    for position, value in enumerate(ids):
        if not isinstance(value, str):
            raise ResponseFormatError(
                f"{label}: incidents[{position}] has no 'id'",
                offset=offset,
                field="incidents[].id",
            )
    return IdList(ids, total)


# A raw page on disk is one JSON Lines record: the provenance first, then the body exactly
# as received (raw newlines, which JSON allows only as whitespace, become spaces):
#   {"page": {"offset": 0, "limit": 1000, "params": {...}, "total": 5, ...}, "body": {...}}
_RECORD_HEAD = b'{"page": '
_RECORD_BODY = b', "body": '


class JsonlWriter:
    """Appends pages to a JSON Lines file as they arrive, one record per page, bodies kept
    verbatim; use as a context manager. The file (and its directory) is created if
    missing."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("ab")

    def write(self, page: Page) -> None:
        self._file.write(_record(page))

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_jsonl(pages: Iterable[Page], path: str | Path) -> Path:
    """Append pages to a JSON Lines file, one record per page, bodies kept verbatim.

    Parameters
    ----------
    pages
        Pages to keep (their ``body``, request parameters and fetch time).
    path
        The file; created (with its directory) if missing.

    Returns
    -------
    Path
        The file written.
    """
    with JsonlWriter(path) as writer:
        for page in pages:
            writer.write(page)
    return writer.path


def _record(page: Page) -> bytes:
    head = {
        "offset": page.offset,
        "limit": page.limit,
        "total": page.total,
        "params": dict(page.params),
        "fetched_at": page.fetched_at.isoformat(),
        "pass_index": page.pass_index,
    }
    body = page.body or json.dumps({"incidents": page.incidents, "total": page.total}).encode()
    body = body.strip().replace(b"\r", b" ").replace(b"\n", b" ")
    return b"".join((_RECORD_HEAD, json.dumps(head).encode(), _RECORD_BODY, body, b"}\n"))


def read_jsonl(path: str | Path) -> Iterator[Page]:
    """Replay pages kept by :func:`write_jsonl` (or ``load_incidents(raw_dir=...)``).

    Yields
    ------
    Page
        With the original body, offset, limit, parameters, fetch time and pass. Its
        ``incidents`` are decoded from the body when first read: replaying through
        :func:`~intrace_analytics.load._incidents.frames_from_pages` parses each body once (Arrow).

    Raises
    ------
    ResponseFormatError
        A line is not a page record (the error names the line number as ``offset``), or
        a body is not a JSON object. A body that is not the documented page shape raises
        (naming the page's offset) when it is parsed or its ``incidents`` are read.
    """
    with Path(path).open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            head, body = _split_record(line, number, path)
            try:
                offset = int(head["offset"])
                options: dict[str, Any] = {
                    "offset": offset,
                    "limit": int(head["limit"]),
                    "params": head.get("params") or {},
                    "fetched_at": datetime.fromisoformat(head["fetched_at"]),
                }
                pass_index = int(head.get("pass_index", 0))
                total = head.get("total")
                if isinstance(total, int) and not isinstance(total, bool) and total >= 0:
                    # The record says the total: the body need not be decoded to tell it.
                    check_body(body, label=f"page at offset {offset}", offset=offset)
                    yield Page(None, total, body=body, pass_index=pass_index, **options)
                else:
                    page = Page.from_body(body, **options)
                    yield dataclasses.replace(page, pass_index=pass_index)
            except (KeyError, TypeError, ValueError) as exc:
                if isinstance(exc, ResponseFormatError):
                    raise
                raise ResponseFormatError(
                    f"{path}: line {number} is not a page record ({exc!r})", offset=number
                ) from None


def _split_record(line: bytes, number: int, path: str | Path) -> tuple[dict[str, Any], bytes]:
    """The record's provenance and its body bytes, without decoding the body twice."""
    if line.startswith(_RECORD_HEAD):
        decoder = json.JSONDecoder()
        text = line[len(_RECORD_HEAD) :].decode("utf-8")
        try:
            head, end = decoder.raw_decode(text)
        except json.JSONDecodeError:
            head, end = None, 0
        rest = text[end:].encode("utf-8")
        if isinstance(head, dict) and rest.startswith(_RECORD_BODY):
            return head, rest[len(_RECORD_BODY) :].rstrip()[:-1]
    try:
        record = json.loads(line)
        return record["page"], json.dumps(record["body"]).encode()
    except (ValueError, KeyError, TypeError, RecursionError):
        raise ResponseFormatError(
            f"{path}: line {number} is not a page record", offset=number
        ) from None


def _decode_page(
    raw: bytes, *, label: str, offset: int, url: str | None, key: str = "incidents"
) -> tuple[list[dict[str, Any]], int]:
    """The items under ``key`` and the total of a page body, decoded and checked
    (:class:`ResponseFormatError` naming the offset and the field otherwise)."""
    return _check_shape(
        decode_json(raw, label=label, offset=offset, url=url), offset=offset, url=url, key=key
    )


def _check_shape(
    decoded: object, *, offset: int, url: str | None, key: str = "incidents"
) -> tuple[list[dict[str, Any]], int]:
    def bad(field: str, expected: str, got: object) -> ResponseFormatError:
        return ResponseFormatError(
            f"page at offset {offset}: field {field!r} should be {expected}, "
            f"got {describe(got)}",
            offset=offset,
            field=field,
            url=url,
        )

    if not isinstance(decoded, dict):
        raise bad("(body)", "a JSON object", decoded)
    what = f"a list of {key[:-1]} objects"
    if key not in decoded:
        raise bad(key, what, None)
    incidents = decoded[key]
    if not isinstance(incidents, list):
        raise bad(key, what, incidents)
    for i, item in enumerate(incidents):
        if not isinstance(item, dict):
            raise bad(f"{key}[{i}]", "an object", item)
    total = decoded.get("total")
    if key != "incidents" and total is None:
        # GET /v1/assets documents no total: one response holds every asset.
        return incidents, offset + len(incidents)
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise bad("total", "a non-negative integer", total if "total" in decoded else None)
    return incidents, total


_IDS_SCHEMA = pa.schema(
    [("incidents", pa.list_(pa.struct([("id", pa.string())]))), ("total", pa.int64())]
)
_IDS_PARSE = pajson.ParseOptions(
    explicit_schema=_IDS_SCHEMA, unexpected_field_behavior="ignore", newlines_in_values=True
)


def _ids_only(raw: bytes) -> tuple[list[Any], int] | None:
    """The incidents' ids and the total, read by Arrow; None when Arrow cannot (the
    caller then decodes the body in full and names what is wrong)."""
    try:
        table = pajson.read_json(
            pa.BufferReader(raw),
            read_options=pajson.ReadOptions(use_threads=False, block_size=len(raw) + 1024),
            parse_options=_IDS_PARSE,
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if table.num_rows != 1:
        return None
    listed = table.column("incidents").chunk(0)
    total = table.column("total")[0].as_py()
    items = pc.list_flatten(listed)
    if listed.null_count or items.null_count or total is None or total < 0:
        return None
    return pc.struct_field(items, "id").to_pylist(), total
