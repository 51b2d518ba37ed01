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

import copy
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from intrace_analytics._util.clock import utc_now
from intrace_analytics.api._bodies import check_body, decode_json, describe, encode_text
from intrace_analytics.exceptions import ResponseFormatError

__all__ = ["BodyParser", "JsonlWriter", "Page", "ParsedBody", "read_jsonl", "write_jsonl"]


class ParsedBody(Protocol):
    """What a :data:`BodyParser` makes of a page body: at least its ``total`` and its
    incidents' ids (:class:`intrace_analytics.frames._parse.PageColumns` is one), which is
    all the paginator's stop rule and loop guards need."""

    total: int

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

# Passed as ``incidents`` to make a lazy page (decoded from the body on first access).
_UNDECODED: Any = object()


@dataclass(frozen=True, slots=True)
class _Lazy:
    """A lazy page's private state: never a field, so neither in ``==`` nor in ``repr``."""

    url: str | None = None
    parsed: ParsedBody | None = None


class _Incidents:
    """The descriptor behind :attr:`Page.incidents`: the list given to the constructor,
    or, for a lazy page, the body decoded on first access and kept.

    Two threads reading a lazy page at once may both decode it; they get equal lists,
    and the page keeps one. A body that is not a page raises
    :class:`ResponseFormatError` (naming the offset) on access.
    """

    def __get__(self, page: Page | None, owner: type | None = None) -> list[dict[str, Any]]:
        if page is None:
            # No default at class level: the dataclass field stays required
            # (dataclasses' "descriptor-typed fields").
            raise AttributeError("incidents")
        state = page.__dict__
        incidents: list[dict[str, Any]] | None = state.get("_incidents")
        if incidents is None:
            incidents = page._decode()
            state["_incidents"] = incidents
        return incidents

    def __set__(self, page: Page, value: list[dict[str, Any]]) -> None:
        # Reached from the dataclass __init__ only: a frozen Page refuses assignment first.
        if value is _UNDECODED:
            page.__dict__.pop("_incidents", None)
        else:
            page.__dict__["_incidents"] = value


@dataclass(frozen=True, repr=False)
class Page:
    """One page of incidents with its provenance.

    Attributes
    ----------
    incidents
        The incidents as received (dicts, keys as the API spelled them). A load's pages
        and replayed pages decode them from ``body`` on first access, then keep them.
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
    key
        The body's list: ``"incidents"``, or ``"assets"`` for a page of
        ``GET /v1/assets`` (whose objects ``incidents`` then holds; :attr:`items` names
        them for either).

    Examples
    --------
    >>> page = Page.from_body(b'{"incidents": [{"id": "a"}], "total": 1}', offset=0, limit=100)
    >>> page.total, len(page.incidents)
    (1, 1)
    """

    # A descriptor-typed field (not slots: the class attribute must stay the descriptor),
    # so a page can be built before its body is decoded. Type checkers see the list.
    if TYPE_CHECKING:
        incidents: list[dict[str, Any]]
    else:
        incidents: _Incidents = _Incidents()
    total: int
    offset: int
    limit: int
    params: Mapping[str, Any] = field(default_factory=dict)
    fetched_at: datetime = field(default_factory=utc_now)
    body: bytes = b""
    pass_index: int = 0
    key: str = "incidents"

    @property
    def items(self) -> list[dict[str, Any]]:
        """The listed objects, whichever the endpoint: incidents, or assets."""
        return self.incidents

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
        key: str = "incidents",
        ids_only: bool = False,
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
        key
            The body's list: ``"incidents"`` (``total`` required) or ``"assets"``
            (``total`` optional: absent, it is the offset plus the list's length).
        ids_only
            Keep only each incident's ``id`` (``incidents`` holds ``{"id": ...}`` dicts),
            read by Arrow without decoding the rest: a membership read needs no more.
            A body Arrow cannot read this way is decoded in full, for the exact error.
        parse
            For a load (incidents only, not with ``ids_only``): parse the body with it
            here instead of decoding it (see :data:`BodyParser`), and keep what it made
            for the normalizer. ``total`` comes from that parse; ``incidents`` are
            decoded only when first read.

        Returns
        -------
        Page

        Raises
        ------
        ResponseFormatError
            The body is not JSON, or not ``{"incidents": [object, ...], "total": int}``
            (``{"assets": [object, ...]}`` for ``key="assets"``); with ``parse``, any
            body ``parse`` refuses.
        """
        label = f"page at offset {offset}"
        raw = encode_text(body, label=label, offset=offset, url=url)
        if parse is not None:
            if ids_only or key != "incidents":
                raise ValueError("parse= reads whole pages of incidents only")
            try:
                parsed = parse(raw, offset, label)  # checks the body itself (BodyParser)
            except ResponseFormatError as exc:
                exc.url = exc.url or url
                raise
            return cls._lazy(
                raw,
                total=parsed.total,
                offset=offset,
                limit=limit,
                params=params,
                fetched_at=fetched_at,
                url=url,
                parsed=parsed,
            )
        check_body(raw, label=label, offset=offset, url=url)
        quick = _ids_only(raw) if ids_only and key == "incidents" else None
        if quick is not None:
            incidents, total = quick
        else:
            decoded = decode_json(raw, label=label, offset=offset, url=url)
            incidents, total = _check_shape(decoded, offset=offset, url=url, key=key)
            if ids_only:
                incidents = [{"id": item.get("id")} for item in incidents]
        return cls._made(raw, incidents, total, offset, limit, params, fetched_at, key=key)

    @classmethod
    def _lazy(
        cls,
        raw: bytes,
        *,
        total: int,
        offset: int,
        limit: int,
        params: Mapping[str, Any] | None,
        fetched_at: datetime | None,
        url: str | None = None,
        parsed: ParsedBody | None = None,
    ) -> Page:
        """A page of incidents whose body is decoded only when ``incidents`` is read."""
        page = cls._made(raw, _UNDECODED, total, offset, limit, params, fetched_at)
        page.__dict__["_lazy"] = _Lazy(url=url, parsed=parsed)
        return page

    @classmethod
    def _made(
        cls,
        raw: bytes,
        incidents: list[dict[str, Any]],
        total: int,
        offset: int,
        limit: int,
        params: Mapping[str, Any] | None,
        fetched_at: datetime | None,
        *,
        key: str = "incidents",
    ) -> Page:
        """The page of a body as received: its parameters copied, fetched now if not said."""
        return cls(
            incidents=incidents,
            total=total,
            offset=offset,
            limit=limit,
            params=dict(params or {}),
            fetched_at=fetched_at or utc_now(),
            body=raw,
            key=key,
        )

    @property
    def _parsed(self) -> ParsedBody | None:
        """What ``Page.from_body(parse=...)`` made of the body, if it was given one."""
        lazy: _Lazy | None = self.__dict__.get("_lazy")
        return lazy.parsed if lazy is not None else None

    def _decode(self) -> list[dict[str, Any]]:
        """A lazy page's incidents, decoded from its body (the first read of them)."""
        lazy: _Lazy | None = self.__dict__.get("_lazy")
        if lazy is None:  # pragma: no cover - only lazy pages are built without incidents
            raise AttributeError("incidents")
        label = f"page at offset {self.offset}"
        decoded = decode_json(self.body, label=label, offset=self.offset, url=lazy.url)
        return _check_shape(decoded, offset=self.offset, url=lazy.url, key=self.key)[0]

    def _ids(self) -> list[Any]:
        """The incidents' ids, in order: from the parse when there was one (no decode).
        Kept: the loop guards ask each page twice (as the page, then as the previous)."""
        ids: list[Any] | None = self.__dict__.get("_id_list")
        if ids is None:
            parsed = self._parsed
            ids = parsed.ids() if parsed is not None else [i.get("id") for i in self.incidents]
            self.__dict__["_id_list"] = ids
        return ids

    def _count(self) -> int:
        """How many incidents the page holds: from the parse when there was one."""
        parsed = self._parsed
        return parsed.count() if parsed is not None else len(self.incidents)

    def _replace_pass(self, pass_index: int) -> Page:
        """The page as read by pass ``pass_index``; a lazy page stays lazy (where
        :func:`dataclasses.replace` would decode it) and keeps its parse."""
        if pass_index == self.pass_index:
            return self
        page = copy.copy(self)
        object.__setattr__(page, "pass_index", pass_index)
        return page

    def __repr__(self) -> str:
        read = f", pass_index={self.pass_index}" if self.pass_index else ""
        try:
            count: int | str = self._count()
        except ResponseFormatError:  # a lazy body that is not a page: repr must not raise
            count = "?"
        return (
            f"Page(offset={self.offset}, limit={self.limit}, incidents={count}, "
            f"total={self.total}, fetched_at={self.fetched_at.isoformat()}{read})"
        )


# A raw page on disk is one JSON Lines record: the provenance first, then the body exactly
# as received (raw newlines, which JSON allows only as whitespace, become spaces):
#   {"page": {"offset": 0, "limit": 1000, "params": {...}, "total": 5, ...}, "body": {...}}
_RECORD_HEAD = b'{"page": '
_RECORD_BODY = b', "body": '


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
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("ab") as out:
        for page in pages:
            out.write(_record(page))
    return target


class JsonlWriter:
    """Keeps pages as they arrive (see :func:`write_jsonl`); use as a context manager."""

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
                total = head.get("total")
                if isinstance(total, int) and not isinstance(total, bool) and total >= 0:
                    # The record says the total: the body need not be decoded to tell it.
                    check_body(body, label=f"page at offset {offset}", offset=offset)
                    page = Page._lazy(body, total=total, **options)
                else:
                    page = Page.from_body(body, **options)
                yield page._replace_pass(int(head.get("pass_index", 0)))
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


def _ids_only(raw: bytes) -> tuple[list[dict[str, Any]], int] | None:
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
    return [{"id": value} for value in pc.struct_field(items, "id").to_pylist()], total
