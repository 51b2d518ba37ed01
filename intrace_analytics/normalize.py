"""Pages → the three tidy frames of SPEC.md, cast through :mod:`intrace_analytics.schema`.

One normalizer serves the live load, :func:`frames_from_pages` and the replay of raw
pages. Each page body is parsed by Arrow's JSON reader against an explicit schema that
knows both key spellings (``threat_links``/``threatLinks``, ``created_at``/``createdAt``,
...), so a field is picked per incident, even when a page mixes casings. Everything after
the parse is columnar (Arrow compute, NumPy): no Python loop per row. Pages are parsed on
a small thread pool as they arrive and only their columns are kept, so a load never holds
every body at once.
"""

from __future__ import annotations

import json
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from intrace_analytics import schema
from intrace_analytics._version import __version__
from intrace_analytics.exceptions import (
    CompletenessWarning,
    DataQualityWarning,
    ResponseFormatError,
)
from intrace_analytics.frames import IncidentFrames
from intrace_analytics.pages import Page, decode_json

__all__ = ["Normalizer", "PassCheck", "frames_from_pages"]

# -- the payload as Arrow reads it ----------------------------------------------------

_STR = pa.string()
_COORDINATES = pa.struct([("lat", pa.float64()), ("lng", pa.float64())])
# Each spelling the API may use is a field of its own; the normalizer picks per row.
_THREAT = pa.struct(
    [
        ("id", _STR),
        ("title", _STR),
        ("severity", _STR),
        ("threat_type", _STR),
        ("threatType", _STR),
        ("location", _STR),
        ("observed_at", _STR),
        ("observedAt", _STR),
        ("coordinates", _COORDINATES),
    ]
)
_LINK = pa.struct(
    [
        ("id", _STR),
        ("threat_id", _STR),
        ("threatId", _STR),
        ("added_at", _STR),
        ("addedAt", _STR),
        ("threat", _THREAT),
    ]
)
_INCIDENT = pa.struct(
    [
        ("id", _STR),
        ("title", _STR),
        ("status", _STR),
        ("scope", _STR),
        ("description", _STR),
        ("created_at", _STR),
        ("createdAt", _STR),
        ("updated_at", _STR),
        ("updatedAt", _STR),
        ("started_at", _STR),
        ("startedAt", _STR),
        ("resolved_at", _STR),
        ("resolvedAt", _STR),
        ("threat_links", pa.list_(_LINK)),
        ("threatLinks", pa.list_(_LINK)),
    ]
)
_PAGE = pa.schema([("incidents", pa.list_(_INCIDENT)), ("total", pa.int64())])
_PARSE = pajson.ParseOptions(
    explicit_schema=_PAGE, unexpected_field_behavior="ignore", newlines_in_values=True
)
_TIMESTAMP = pa.timestamp(schema.TIMESTAMP_UNIT, tz="UTC")
_DICTIONARY = pa.dictionary(pa.int32(), _STR)
_HAS_OFFSET = r"([zZ]|[+-]\d\d(:?\d\d)?)\s*$"

# Columns of the three tables in the order the pages give them (before typing).
_INCIDENT_FIELDS = (
    "incident_id", "title", "status", "scope", "description",
    "created_at", "updated_at", "started_at", "resolved_at",
)  # fmt: skip
_LINK_FIELDS = ("link_id", "incident_id", "threat_id", "added_at")
_TIMESTAMP_FIELDS = {"created_at", "updated_at", "started_at", "resolved_at", "added_at",
                     "observed_at"}  # fmt: skip


# -- public entry point ----------------------------------------------------------------


def frames_from_pages(pages: Iterable[Page | Mapping[str, Any] | bytes | str]) -> IncidentFrames:
    """Normalize pages of ``GET /v1/incidents`` into the three tidy frames.

    Parameters
    ----------
    pages
        :class:`~intrace_analytics.pages.Page` objects (their raw ``body`` is used), decoded
        bodies (dicts), or raw bodies (bytes or str), in offset order. A generator is
        consumed one page at a time.

    Returns
    -------
    IncidentFrames
        ``metadata`` holds what the pages alone can tell: pages, rows, the last total,
        duplicates dropped and whether the rows match the total.

    Raises
    ------
    ResponseFormatError
        A page is not the documented shape; ``offset`` is the page's offset (its position
        in ``pages`` when it carries none).

    Warns
    -----
    DataQualityWarning
        Once per field: values outside a documented set, naive or unparseable timestamps,
        both spellings of a field with different values, copies of a threat that disagree.

    Examples
    --------
    >>> body = b'{"incidents": [{"id": "i1", "title": "Unrest", "status": "Open",'
    ... b' "scope": "aggregate", "createdAt": "2026-04-18T09:00:00Z",'
    ... b' "updatedAt": "2026-04-18T11:20:00+01:00", "threatLinks": []}], "total": 1}'
    >>> frames = frames_from_pages([body])
    >>> frames.incidents[["incident_id", "status", "threat_count"]]
      incident_id status  threat_count
    0          i1   open             0
    """
    normalizer = Normalizer()
    for page in pages:
        normalizer.add(page)
    return normalizer.finish()


class Normalizer:
    """Accumulates pages (parsed on a thread pool as they arrive) into frames.

    It also proves completeness. Offset pagination over a live result set can skip or
    repeat rows; a read of the result set (a *pass*) is clean when every page reported the
    same ``total``, no id repeated, and the distinct ids number exactly ``total``. When a
    pass is not clean, a loader reads again (pages with a higher ``pass_index``) and the
    frames are restricted to the first clean pass's ids, each with its newest copy.

    Use :func:`frames_from_pages` unless pages arrive over time, as in a load.
    """

    def __init__(self, workers: int = 2, window: int = 2) -> None:
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="intrace-normalize")
        self._window = window
        self._pending: list[Future[_PageColumns]] = []
        self._parts: list[_PageColumns] = []
        self._checks: dict[int, PassCheck] = {}
        self._position = 0

    def add(self, page: Page | Mapping[str, Any] | bytes | str) -> None:
        """Queue one page for parsing (blocks while the window of pages in flight is full)."""
        body, offset, label = _page_source(page, self._position)
        self._position += 1
        params = page.params if isinstance(page, Page) else {}
        read = (page.pass_index if isinstance(page, Page) else 0, _result_set(params))
        self._pending.append(self._pool.submit(_parse_page, body, offset, label, *read))
        if len(self._pending) >= self._window:
            self._parts.append(self._pending.pop(0).result())

    def flush(self) -> None:
        """Wait until every page added so far is parsed."""
        while self._pending:
            self._parts.append(self._pending.pop(0).result())

    def check_pass(self, pass_index: int) -> PassCheck:
        """Whether the pages of one pass prove a complete, exactly-once read."""
        self.flush()
        check = _check_pass([p for p in self._parts if p.pass_index == pass_index])
        self._checks[pass_index] = check
        return check

    def close(self) -> None:
        """Stop parsing; pages not yet parsed are dropped."""
        for future in self._pending:
            future.cancel()
        self._pending = []
        self._pool.shutdown(wait=True, cancel_futures=True)

    def finish(self, metadata: Mapping[str, Any] | None = None) -> IncidentFrames:
        """Build the frames from every page added; ``metadata`` extends the report."""
        try:
            self.flush()
        finally:
            self.close()
        parts, self._parts = self._parts, []
        checks = [
            self._checks.get(k) or _check_pass([p for p in parts if p.pass_index == k])
            for k in sorted({p.pass_index for p in parts})
        ]
        clean = next((check for check in checks if check.clean), None)
        # After drift, the first clean re-read says which incidents exist; every copy read
        # (either pass) competes for the newest version of each.
        only = clean.ids if clean is not None and len(checks) > 1 else None
        distinct = len(checks) == 1 and checks[0].repeats == 0
        frames, report = _build(parts, only, distinct_ids=distinct)
        first = checks[0] if checks else PassCheck(clean=True, ids=pa.chunked_array([], _STR))
        report.update(
            # Copies of an id repeated within a read (a re-read's copies are not duplicates).
            duplicates_dropped=sum(check.repeats for check in checks),
            pages=len(parts),
            total_reported=parts[-1].total if parts else 0,
            drift_detected=not first.clean,
            reconciled=not first.clean and clean is not None,
            complete=clean is not None,
            package_version=__version__,
            schema_version=schema.SCHEMA_VERSION,
        )
        if not first.clean:
            report["drift"] = first.reasons
        report.update(metadata or {})
        frames.metadata = report
        if clean is None:
            reasons = "; ".join(checks[-1].reasons)
            warnings.warn(
                "The pages do not prove they hold every matching incident exactly once: "
                f"{reasons} (after {len(checks)} reads). See frames.metadata.",
                CompletenessWarning,
                stacklevel=3,
            )
        return frames


@dataclass
class PassCheck:
    """Whether one read of a result set was exact, and why not."""

    clean: bool
    ids: pa.ChunkedArray
    reasons: list[str] = field(default_factory=list)
    repeats: int = 0


def _result_set(params: Mapping[str, Any]) -> str:
    """Which result set a page belongs to: its request minus the pagination."""
    rest = {k: v for k, v in params.items() if k not in ("limit", "offset")}
    return json.dumps(rest, sort_keys=True, default=str)


def _check_pass(parts: list[_PageColumns]) -> PassCheck:
    reasons: list[str] = []
    ids_all: list[pa.Array] = []
    repeats = 0
    for key in dict.fromkeys(p.result_set for p in parts):
        pages = [p for p in parts if p.result_set == key]
        ids = pa.chunked_array([p.incidents["incident_id"] for p in pages], type=_STR)
        ids_all.append(ids)
        totals = sorted({p.total for p in pages})
        hashes = np.sort(np.concatenate([p.incident_hash for p in pages]))
        distinct = int(len(hashes) > 0) + int(np.count_nonzero(hashes[1:] != hashes[:-1]))
        if distinct < len(ids):  # repeats, or a 64-bit collision: count the strings
            distinct = pc.count_distinct(ids).as_py()
        where = f" ({key})" if key != "{}" else ""
        if len(totals) > 1:
            reasons.append(f"total changed between pages{where}: {totals[0]} to {totals[-1]}")
        repeats += len(ids) - distinct
        if distinct < len(ids):
            reasons.append(f"{len(ids) - distinct} ids repeated across pages{where}")
        if distinct != pages[-1].total:
            reasons.append(f"{distinct} distinct ids but total is {pages[-1].total}{where}")
    ids = pa.chunked_array([c for a in ids_all for c in a.chunks], type=_STR)
    return PassCheck(clean=not reasons, ids=ids, reasons=reasons, repeats=repeats)


# -- one page ------------------------------------------------------------------------------


@dataclass
class _PageColumns:
    """What one page contributes, before typing: Arrow arrays, timestamps parsed."""

    total: int
    pass_index: int
    result_set: str
    incidents: dict[str, pa.Array]
    threat_count: pa.Array
    links: dict[str, pa.Array]
    link_parent: np.ndarray  # index of the link's incident within this page
    threats: dict[str, pa.Array]  # one row per threat id on this page (its winning copy)
    threat_updated: np.ndarray  # updated_at (int) of the incident the winning copy is from
    threat_conflicted: np.ndarray  # whether this page held copies differing from the winner
    threat_source: np.ndarray  # index within this page of the incident the winner is from
    incident_hash: np.ndarray  # _hash64 of each incident id
    threat_hash: np.ndarray  # _hash64 of each (winning) threat id
    issues: Counter[str] = field(default_factory=Counter)
    conflicts: Counter[str] = field(default_factory=Counter)


def _page_source(
    page: Page | Mapping[str, Any] | bytes | str, position: int
) -> tuple[bytes, int, str]:
    """The page's body, the offset named in errors, and how to name the page."""
    if isinstance(page, Page):
        body = page.body or json.dumps({"incidents": page.incidents, "total": page.total}).encode()
        return body, page.offset, f"page at offset {page.offset}"
    if isinstance(page, bytes | bytearray | memoryview):
        return bytes(page), position, f"page {position}"
    if isinstance(page, str):
        return page.encode(), position, f"page {position}"
    if isinstance(page, Mapping):
        try:
            body = json.dumps(page, default=str).encode()
        except (TypeError, ValueError) as exc:
            raise ResponseFormatError(
                f"page {position}: cannot be read as JSON ({exc})", offset=position
            ) from exc
        return body, position, f"page {position}"
    raise TypeError(
        f"pages must be Page objects, dicts, bytes or str; page {position} is "
        f"{type(page).__name__}"
    )


def _parse_page(
    body: bytes, offset: int, label: str, pass_index: int = 0, result_set: str = ""
) -> _PageColumns:
    def bad(field: str, problem: str) -> ResponseFormatError:
        return ResponseFormatError(f"{label}: {problem}", offset=offset, field=field)

    try:
        table = pajson.read_json(
            pa.BufferReader(body),  # zero-copy, unlike a Python file object
            read_options=pajson.ReadOptions(use_threads=False, block_size=len(body) + 1024),
            parse_options=_PARSE,
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        # Arrow does not always say which field; a slow, exact walk of this one page does.
        raise _diagnose(body, label, offset, str(exc)) from None
    if table.num_rows != 1:
        raise bad("(body)", f"expected one JSON object, found {table.num_rows}")
    listed = table.column("incidents").chunk(0)
    if listed.null_count:
        raise bad("incidents", "field 'incidents' should be a list of incident objects")
    total = table.column("total")[0].as_py()
    if total is None or total < 0:
        got = "nothing" if total is None else total
        raise bad("total", f"field 'total' should be a non-negative integer, got {got}")
    incidents = pc.list_flatten(listed)
    if incidents.null_count:
        raise bad("incidents[]", "field 'incidents' holds a null instead of an incident")

    issues: Counter[str] = Counter()
    conflicts: Counter[str] = Counter()

    def pick(struct: pa.Array, snake: str, camel: str | None, name: str) -> pa.Array:
        first = pc.struct_field(struct, snake)
        if camel is None:
            return first
        second = pc.struct_field(struct, camel)
        # Usually a page spells a field one way: take that column as it is, no copy.
        if second.null_count == len(second):
            return first
        if first.null_count == len(first):
            return second
        both = pc.and_(pc.is_valid(first), pc.is_valid(second))
        if pc.any(both).as_py():
            if name in _TIMESTAMP_FIELDS:
                # The same instant may be written two ways ("...Z" and "...+01:00").
                scratch: Counter[str] = Counter()
                one, two = _timestamps(first, name, scratch), _timestamps(second, name, scratch)
            else:
                one, two = first, second
            differ = pc.sum(pc.and_(both, pc.not_equal(one, two))).as_py() or 0
            conflicts[name] += differ
        return pc.coalesce(first, second)

    columns: dict[str, pa.Array] = {
        "incident_id": pick(incidents, "id", None, "id"),
        "title": pick(incidents, "title", None, "title"),
        # Encoded here, on the worker thread; the merge only unifies small dictionaries.
        "status": pc.dictionary_encode(pick(incidents, "status", None, "status")),
        "scope": pc.dictionary_encode(pick(incidents, "scope", None, "scope")),
        "description": pick(incidents, "description", None, "description"),
    }
    for snake, camel in (
        ("created_at", "createdAt"),
        ("updated_at", "updatedAt"),
        ("started_at", "startedAt"),
        ("resolved_at", "resolvedAt"),
    ):
        columns[snake] = _timestamps(pick(incidents, snake, camel, snake), snake, issues)
    if columns["incident_id"].null_count:
        raise bad("incidents[].id", "an incident has no 'id'")

    snake_links = pc.struct_field(incidents, "threat_links")
    camel_links = pc.struct_field(incidents, "threatLinks")
    both = pc.and_(pc.is_valid(snake_links), pc.is_valid(camel_links))
    if pc.any(both).as_py():
        # Rare: compare the two lists only where both spellings are present.
        rows = np.flatnonzero(both.to_numpy(zero_copy_only=False))
        conflicts["threat_links"] += sum(
            _snake_keys(snake_links[i].as_py()) != _snake_keys(camel_links[i].as_py()) for i in rows
        )
    link_lists = pc.coalesce(snake_links, camel_links)
    threat_count = pc.fill_null(pc.list_value_length(link_lists), 0).cast(pa.int64())
    link_parent = pc.list_parent_indices(link_lists).to_numpy().astype(np.int32)
    links = pc.list_flatten(link_lists)
    if links.null_count:
        raise bad("incidents[].threat_links[]", "a threat link is null")
    threat = pc.struct_field(links, "threat")
    link_columns = {
        "link_id": pick(links, "id", None, "link id"),
        "incident_id": columns["incident_id"].take(pa.array(link_parent)),
        "threat_id": pc.coalesce(
            pick(links, "threat_id", "threatId", "threat_id"), pc.struct_field(threat, "id")
        ),
        "added_at": _timestamps(pick(links, "added_at", "addedAt", "added_at"), "added_at", issues),
    }
    if link_columns["link_id"].null_count:
        raise bad("incidents[].threat_links[].id", "a threat link has no 'id'")

    embedded = pc.is_valid(threat)
    # Fields are picked from the whole column of links (zero-copy), then only the embedded
    # rows are kept, field by field: never a copy of the whole struct with unused spellings.
    threats = pc.struct_field(links, "threat")
    coordinates = pc.struct_field(threats, "coordinates")
    threat_columns = {
        name: values.filter(embedded)
        for name, values in {
            "threat_id": pc.coalesce(pc.struct_field(threats, "id"), link_columns["threat_id"]),
            "title": pick(threats, "title", None, "threat title"),
            "severity": pick(threats, "severity", None, "severity"),
            "threat_type": pick(threats, "threat_type", "threatType", "threat_type"),
            "location": pick(threats, "location", None, "location"),
            "observed_at": pick(threats, "observed_at", "observedAt", "observed_at"),
            "lat": pc.struct_field(coordinates, "lat"),
            "lng": pc.struct_field(coordinates, "lng"),
        }.items()
    }
    threat_columns["observed_at"] = _timestamps(
        threat_columns["observed_at"], "observed_at", issues
    )
    if threat_columns["threat_id"].null_count:
        raise bad("incidents[].threat_links[].threat.id", "an embedded threat has no 'id'")
    # Deduplicate this page's threat copies here, on the worker thread: most copies of a
    # threat sit on the same page, so the final merge has far less to do.
    threat_parent = link_parent[embedded.to_numpy(zero_copy_only=False)]
    updated = _as_int(columns["updated_at"])[threat_parent]
    threat_hash = _hash64(threat_columns["threat_id"])
    winners, conflicted = _threat_winners(
        threat_columns, updated, np.zeros(len(updated), bool), threat_hash
    )
    return _PageColumns(
        total=total,
        pass_index=pass_index,
        result_set=result_set,
        incidents=columns,
        threat_count=threat_count,
        links=link_columns,
        link_parent=link_parent,
        threats=_take(threat_columns, winners),
        threat_updated=updated[winners],
        threat_conflicted=conflicted,
        threat_source=threat_parent[winners].astype(np.int32),
        incident_hash=_hash64(columns["incident_id"]),
        threat_hash=threat_hash[winners],
        issues=issues,
        conflicts=conflicts,
    )


def _diagnose(body: bytes, label: str, offset: int, arrow_message: str) -> ResponseFormatError:
    """Name the first field of a page that is not the documented shape (error path only)."""
    try:
        decoded = decode_json(body, label=label, offset=offset)
    except ResponseFormatError as exc:
        return exc
    found = _mismatch(decoded, pa.struct(list(_PAGE)), "")
    if found is None:  # Arrow refused something the walk accepts: report Arrow's words
        return ResponseFormatError(
            f"{label}: not the documented shape ({arrow_message})", offset=offset, field="(body)"
        )
    field, expected, value = found
    shown = json.dumps(value)
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    return ResponseFormatError(
        f"{label}: field {field!r} should be {expected}, got {type(value).__name__} {shown}",
        offset=offset,
        field=field,
    )


def _mismatch(value: Any, kind: pa.DataType, path: str) -> tuple[str, str, Any] | None:
    """The first (path, expected, value) where a decoded payload departs from ``kind``."""
    where = path or "(body)"
    if value is None:
        return (where, "present", value) if not path else None
    if pa.types.is_string(kind):
        return None if isinstance(value, str) else (where, "a string", value)
    if pa.types.is_integer(kind):
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else (where, "a non-negative integer", value)
    if pa.types.is_floating(kind):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else (where, "a number", value)
    if pa.types.is_list(kind):
        if not isinstance(value, list):
            return (where, "a list", value)
        for item in value:
            if item is None:
                return (f"{path}[]", "an object", item)
            found = _mismatch(item, kind.value_type, f"{path}[]")
            if found is not None:
                return found
        return None
    if not isinstance(value, dict):
        return (where, "an object", value)
    for child in kind:
        found = _mismatch(value.get(child.name), child.type, f"{path}.{child.name}".lstrip("."))
        if found is not None:
            return found
    return None


def _snake_keys(value: Any) -> Any:
    """The same structure with camelCase keys spelled in snake_case and absent (None)
    fields left out, so both spellings of one link compare equal."""
    if isinstance(value, dict):
        return {
            re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower(): _snake_keys(item)
            for key, item in value.items()
            if item is not None
        }
    if isinstance(value, list):
        return [_snake_keys(item) for item in value]
    return value


def _timestamps(values: pa.Array, name: str, issues: Counter[str]) -> pa.Array:
    """ISO-8601 strings → UTC timestamps: offsets honoured, naive taken as UTC, bad → null."""
    try:
        # Arrow's parser takes every well-formed ISO-8601 string with an offset; it
        # refuses the whole array for one naive or malformed value.
        return pc.cast(values, _TIMESTAMP)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    present = pc.is_valid(values)
    # RFC 3339 allows a lowercase "z"; neither Arrow nor pandas does.
    upper_z = pc.replace_substring_regex(values, pattern=r"z(\s*)$", replacement="Z\\1")
    parsed = pd.to_datetime(
        upper_z.to_pandas(), format="ISO8601", utc=True, errors="coerce"
    ).dt.as_unit(schema.TIMESTAMP_UNIT)
    result = pa.array(parsed, type=_TIMESTAMP, from_pandas=True)
    failed = pc.and_(present, pc.is_null(result))
    naive = pc.and_(pc.is_valid(result), pc.invert(pc.match_substring_regex(values, _HAS_OFFSET)))
    issues[f"{name}:unparseable"] += pc.sum(failed).as_py() or 0
    issues[f"{name}:naive"] += pc.sum(naive).as_py() or 0
    return result


# -- all pages --------------------------------------------------------------------------------


def _concat(parts: list[_PageColumns], table: str, name: str, kind: pa.DataType) -> pa.ChunkedArray:
    # Chunked, not concatenated: the pages' buffers become the frames' without a copy.
    chunks = [getattr(part, table)[name] for part in parts]
    return pa.chunked_array([c.cast(kind) if c.type != kind else c for c in chunks], type=kind)


_MULTIPLIER = np.uint64(0x100000001B3)
_HASHED_BYTES = 64


def _hash64(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A 64-bit hash of each string's length and first 64 bytes, from Arrow's buffers.

    Grouping ids by these integers is far lighter than hashing the strings into a memo
    table; every grouping is verified against the strings themselves (see :func:`_group`),
    so a collision costs time, never correctness.
    """
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    out = [np.zeros(0, np.uint64)]
    for chunk in chunks:
        n = len(chunk)
        if n == 0:
            continue
        _, offsets_buffer, data_buffer = chunk.buffers()
        offsets = np.frombuffer(offsets_buffer, np.int32, n + 1, chunk.offset * 4).astype(np.int64)
        lengths = np.diff(offsets)
        width = min(int(lengths.max()), _HASHED_BYTES)
        # Each string's bytes as a zero-padded row, read as 64-bit words.
        rows = np.zeros((n, -(-width // 8) * 8), np.uint8)
        if width:
            assert data_buffer is not None
            data = np.frombuffer(data_buffer, np.uint8)[offsets[0] : offsets[-1]]
            if int(lengths.min()) == width == int(lengths.max()):
                rows[:, :width] = data.reshape(n, width)  # one length: no scatter needed
            else:
                used = np.minimum(lengths, width)
                row = np.repeat(np.arange(n), used)
                starts = np.repeat(offsets[:-1] - offsets[0], used)
                position = np.arange(len(row)) - np.repeat(np.cumsum(used) - used, used)
                rows[row, position] = data[starts + position]
        hashed = lengths.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        with np.errstate(over="ignore"):
            for word in rows.view(np.uint64).T:
                hashed = (hashed ^ word) * _MULTIPLIER
            # splitmix64's finalizer spreads the bits.
            hashed ^= hashed >> np.uint64(30)
            hashed *= np.uint64(0xBF58476D1CE4E5B9)
            hashed ^= hashed >> np.uint64(27)
            hashed *= np.uint64(0x94D049BB133111EB)
            hashed ^= hashed >> np.uint64(31)
        out.append(hashed)
    return np.concatenate(out)


def _group(ids: pa.Array | pa.ChunkedArray, hashes: np.ndarray) -> np.ndarray:
    """Group number of each id, numbered by first appearance (like dictionary codes)."""
    n = len(hashes)
    if n == 0:
        return np.zeros(0, np.int32)
    # Written to keep few temporaries alive at once: this runs over millions of rows.
    order = np.argsort(hashes, kind="stable")  # stable: a group's first row comes first
    ordered = hashes[order]
    starts = np.empty(n, bool)
    starts[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    del ordered
    first_row = order[starts]
    rank = np.empty(len(first_row), np.int32)
    rank[np.argsort(first_row, kind="stable")] = np.arange(len(first_row), dtype=np.int32)
    codes = np.empty(n, np.int32)
    codes[order] = rank[np.cumsum(starts, dtype=np.int32) - 1]
    del order, starts, rank
    # Verify: every id in a group of two or more equals the group's first id.
    shared = np.flatnonzero(np.bincount(codes)[codes] > 1)
    if len(shared):
        first = np.sort(first_row)[codes[shared]]
        same = pc.equal(ids.take(pa.array(shared)), ids.take(pa.array(first)))
        if not pc.all(same).as_py():  # a 64-bit collision: group by the strings instead
            return _codes(ids)[0]
    return codes


def _codes(values: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Dictionary codes (numbered by first appearance, null as -1) and the dictionary."""
    encoded = pc.dictionary_encode(values)
    chunks = encoded.chunks if isinstance(encoded, pa.ChunkedArray) else [encoded]
    if not chunks:
        return np.zeros(0, np.int64), pa.array([], _STR)
    # Arrow encodes a chunked array with one growing dictionary: the last one has all.
    codes = np.concatenate(
        [c.indices.fill_null(-1).to_numpy(zero_copy_only=False) for c in chunks]
    ).astype(np.int64)
    return codes, chunks[-1].dictionary


def _build(
    parts: list[_PageColumns],
    only: pa.ChunkedArray | None = None,
    *,
    distinct_ids: bool = False,
) -> tuple[IncidentFrames, dict[str, Any]]:
    """Chain the pages' columns, deduplicate, type. ``only``: the ids to keep;
    ``distinct_ids``: the caller already knows no incident id repeats."""
    issues: Counter[str] = Counter()
    conflicts: Counter[str] = Counter()
    for part in parts:
        issues.update(part.issues)
        conflicts.update(part.conflicts)

    def kind(name: str) -> pa.DataType:
        if name in _TIMESTAMP_FIELDS:
            return _TIMESTAMP
        if name in ("status", "scope"):
            return _DICTIONARY
        return pa.float64() if name in ("lat", "lng") else _STR

    incidents = {n: _concat(parts, "incidents", n, kind(n)) for n in _INCIDENT_FIELDS}
    threat_count = pa.chunked_array([p.threat_count for p in parts], type=pa.int64())
    links = {n: _concat(parts, "links", n, kind(n)) for n in _LINK_FIELDS}
    threats = {
        n: _concat(parts, "threats", n, kind(n))
        for n in ("threat_id", "title", "severity", "threat_type", "location", "observed_at",
                  "lat", "lng")
    }  # fmt: skip
    for part in parts:
        # The chained columns now hold the pages' buffers; letting go of the pages' own
        # references lets a column be freed as soon as a deduplicated copy replaces it.
        part.incidents, part.links, part.threats = {}, {}, {}
    # Each link's and each threat copy's incident, as a row number over all pages.
    starts = np.cumsum([0] + [len(p.threat_count) for p in parts])
    link_parent = np.concatenate(
        [p.link_parent + s for p, s in zip(parts, starts, strict=False)] or [np.zeros(0, int)]
    ).astype(np.int64)

    # Incidents: one row per id; the copy with the newest updated_at wins, at the place the
    # id first appeared (a live result set shifts under offset pagination).
    if distinct_ids:
        keep = np.arange(len(incidents["incident_id"]))
    else:
        hashes = np.concatenate([np.zeros(0, np.uint64)] + [p.incident_hash for p in parts])
        keep = _winners(incidents["incident_id"], incidents["updated_at"], hashes)
    duplicates = len(incidents["incident_id"]) - len(keep)
    stale = 0
    if only is not None:
        # After a re-read, the clean read alone says which incidents exist, in its order.
        position = pc.index_in(
            incidents["incident_id"].take(pa.array(keep)), value_set=pa.concat_arrays(only.chunks)
        )
        wanted = pc.is_valid(position).to_numpy(zero_copy_only=False)
        stale = len(keep) - int(wanted.sum())
        keep = keep[wanted]
        keep = keep[np.argsort(position.filter(pa.array(wanted)).to_numpy(), kind="stable")]
    if duplicates or stale:
        # rank[row] = position of that incident row in the output, or -1 if it lost; links
        # follow their incident's winning copy, in the incidents' order.
        rank = np.full(len(incidents["incident_id"]), -1, dtype=np.int64)
        rank[keep] = np.arange(len(keep))
        incidents = _take(incidents, keep)
        threat_count = threat_count.take(pa.array(keep))
        link_rank = rank[link_parent]
        kept = np.flatnonzero(link_rank >= 0)
        kept = kept[np.argsort(link_rank[kept], kind="stable")]
        links = _take(links, kept)
        link_parent = link_rank[kept]

    # Threats: one row per id; the copy from the most recently updated incident wins.
    # Pages arrive deduplicated; merge their winners the same way.
    updated = np.concatenate([p.threat_updated for p in parts] or [np.zeros(0, np.int64)])
    conflicted = np.concatenate([p.threat_conflicted for p in parts] or [np.zeros(0, bool)])
    threat_hash = np.concatenate([np.zeros(0, np.uint64)] + [p.threat_hash for p in parts])
    if duplicates or stale:
        # A copy embedded by a dropped incident (stale, or an older read) does not compete
        # where a kept incident embeds the same threat.
        source = np.concatenate(
            [p.threat_source + s for p, s in zip(parts, starts, strict=False)]
        ).astype(np.int64)
        alive = rank[source] >= 0
        codes = _group(threats["threat_id"], threat_hash)
        has_alive = np.bincount(codes, weights=alive, minlength=codes.max(initial=-1) + 1) > 0
        candidates = np.flatnonzero(alive | ~has_alive[codes])
        threats = _take(threats, candidates)
        updated, conflicted = updated[candidates], conflicted[candidates]
        threat_hash = threat_hash[candidates]
    winners, conflicted = _threat_winners(threats, updated, conflicted, threat_hash)
    if duplicates or stale:
        # Only threats that a kept link still points to: a dropped copy's threats go too.
        linked = pa.concat_arrays(links["threat_id"].chunks) if links["threat_id"].chunks else None
        referenced = pc.is_in(
            threats["threat_id"].take(pa.array(winners)),
            value_set=linked if linked is not None else pa.array([], _STR),
        )
        mask = referenced.to_numpy(zero_copy_only=False)
        winners, conflicted = winners[mask], conflicted[mask]
    threats = {name: _take_streaming(threats, name, winners) for name in list(threats)}
    disagreeing = int(conflicted.sum())
    if disagreeing:
        conflicts["threat copies"] += disagreeing

    incidents["threat_count"] = threat_count
    frames = IncidentFrames(
        incidents=_typed("incidents", incidents, issues),
        links=_typed("links", links, issues),
        threats=_typed("threats", threats, issues),
    )
    _warn(issues, conflicts)
    report: dict[str, Any] = {
        "rows": len(frames.incidents),
        "links": len(frames.links),
        "threats": len(frames.threats),
        "stale_dropped": stale,
        "threat_conflicts": disagreeing,
        "data_quality": {k: v for k, v in sorted((issues + conflicts).items()) if v},
    }
    return frames, report


def _winners(ids: pa.ChunkedArray, updated: pa.ChunkedArray, hashes: np.ndarray) -> np.ndarray:
    """Row numbers of the winning copy per id (newest updated_at, then latest read), in
    order of each id's first appearance."""
    if len(ids) == 0:
        return np.zeros(0, np.int64)
    codes = _group(ids, hashes)  # codes follow first appearance
    order = np.lexsort((_as_int(updated), codes))  # stable: ties keep the read order
    last = np.r_[codes[order][1:] != codes[order][:-1], True]
    return order[last]


def _threat_winners(
    threats: Mapping[str, pa.Array],
    updated: np.ndarray,
    conflicted: np.ndarray,
    hashes: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The winning copy per threat id (from the most recently updated incident, then the
    latest read), in order of first appearance; and per winner, whether any copy of it
    disagreed (``conflicted`` flags copies already known to have disagreed)."""
    ids = threats["threat_id"]
    n = len(ids)
    if n == 0:
        return np.zeros(0, np.int64), conflicted
    # One stable sort groups the copies of an id (by hash) and ranks them by updated_at,
    # then read order; everything after works on the sorted positions.
    order = np.lexsort((updated, hashes))
    ordered = hashes[order]
    starts = np.empty(n, bool)
    starts[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    del ordered
    begin = np.flatnonzero(starts)
    size = np.diff(np.r_[begin, n])
    winner = order[begin + size - 1]  # the last of each group: newest, latest read
    first = np.minimum.reduceat(order, begin)  # where each id first appeared
    flagged = np.logical_or.reduceat(conflicted[order], begin)
    group = np.cumsum(starts) - 1
    del starts
    shared = np.flatnonzero(size[group] > 1)  # sorted positions of ids seen more than once
    if len(shared):
        copies, theirs = pa.array(order[shared]), pa.array(winner[group[shared]])
        if not pc.all(pc.equal(ids.take(copies), ids.take(theirs))).as_py():
            # A 64-bit collision put two ids in one group: group by the strings instead.
            exact = _codes(ids)[0].astype(np.uint64)
            return _threat_winners(threats, updated, conflicted, exact)
        # Compare each copy with its winner, null-aware, field by field.
        differs = np.zeros(len(shared), dtype=bool)
        for name, values in threats.items():
            if name == "threat_id":
                continue
            mine, other = values.take(copies), values.take(theirs)
            same = pc.or_kleene(
                pc.fill_null(pc.equal(mine, other), False),
                pc.and_(pc.is_null(mine), pc.is_null(other)),
            )
            differs |= ~same.to_numpy(zero_copy_only=False)
        flagged[group[shared][differs]] = True
    del order, group
    appearance = np.argsort(first, kind="stable")
    return winner[appearance], flagged[appearance]


def _take_streaming(
    columns: dict[str, pa.ChunkedArray], name: str, rows: np.ndarray, step: int = 32768
) -> pa.ChunkedArray:
    """``columns.pop(name).take(rows)`` in page-sized pieces, letting go of each source
    chunk as soon as no later piece needs it.

    ``rows`` here never reach far back (a winner's row is never before its id's first
    appearance), so memory is handed back while the copy is made, in pieces the size of
    those just freed: one whole-column copy beside the original would need both at once.
    """
    column = columns.pop(name)
    kind = column.type
    chunks: list[pa.Array | None] = list(column.chunks)
    del column  # the list now holds the only references to the chunks
    if not chunks or len(rows) == 0:
        return pa.chunked_array([], type=kind)
    bounds = np.cumsum([0] + [len(c) for c in chunks if c is not None])
    pieces = [rows[i : i + step] for i in range(0, len(rows), step)]
    # The lowest row any later piece needs: chunks wholly below it can go.
    needed = np.minimum.accumulate([piece.min() for piece in pieces][::-1])[::-1]
    out: list[pa.Array] = []
    released = 0
    for number, piece in enumerate(pieces):
        which = np.searchsorted(bounds, piece, side="right") - 1
        first, last = int(which.min()), int(which.max())
        source = pa.chunked_array(chunks[first : last + 1], type=kind)
        out.extend(source.take(pa.array(piece - bounds[first])).chunks)
        keep_from = (
            np.searchsorted(bounds, needed[number + 1], side="right") - 1
            if number + 1 < len(pieces)
            else len(chunks)
        )
        while released < keep_from:
            chunks[released] = None
            released += 1
    return pa.chunked_array(out, type=kind)


def _take(arrays: dict[str, pa.Array], rows: np.ndarray) -> dict[str, pa.Array]:
    """Rows of every column; each source column is released as soon as it is copied."""
    indices = pa.array(rows)
    return {name: arrays.pop(name).take(indices) for name in list(arrays)}


def _as_int(timestamps: pa.Array) -> np.ndarray:
    # NaT sorts oldest, so a copy with a known updated_at beats one without.
    values = pc.fill_null(timestamps.cast(pa.int64()), np.iinfo(np.int64).min)
    return values.to_numpy()


def _typed(table: str, arrays: dict[str, pa.Array], issues: Counter[str]) -> pd.DataFrame:
    """Arrow arrays → the table's pandas dtypes, exactly as :mod:`schema` says.

    Each array is taken out of ``arrays`` as it is converted, so a column that pandas
    copies (timestamps, numbers, categories) is freed before the next one is made.
    """
    data: dict[str, Any] = {}
    for column in schema.TABLES[table]:
        values = arrays.pop(column.name)
        kind = column.kind
        if kind is schema.Kind.STRING:
            data[column.name] = pd.array(values, dtype=pd.StringDtype())
        elif kind in (schema.Kind.CATEGORY, schema.Kind.SEVERITY):
            data[column.name] = _categorical(column, values, issues)
        elif kind is schema.Kind.TIMESTAMP:
            data[column.name] = values.to_pandas().astype(schema.pandas_dtype(column)).array
        elif kind is schema.Kind.FLOAT:
            data[column.name] = np.asarray(values.to_numpy(), dtype="float64")
        else:
            data[column.name] = np.asarray(values.to_numpy(), dtype="int64")
    # copy=False: the columns are ours alone, so pandas need not copy them into blocks.
    return pd.DataFrame(data, copy=False)


def _categorical(
    column: schema.Column, values: pa.ChunkedArray, issues: Counter[str]
) -> pd.Categorical:
    if not pa.types.is_dictionary(values.type):
        values = pc.dictionary_encode(values)

    # Pages encode on their own; map each page's (small) dictionary onto the categories.
    def fold(text: str) -> str:
        # Documented sets are compared case-folded and stripped ("Open " is "open").
        return text.strip().casefold() if column.known else text

    dictionaries = [[fold(t) for t in chunk.dictionary.to_pylist()] for chunk in values.chunks]
    categories = schema.categories_for(column, {t for d in dictionaries for t in d})
    position = {category: i for i, category in enumerate(categories)}
    codes = [
        # Missing is -1, and lookup[-1] is -1: missing stays missing.
        np.array([position[t] for t in d] + [-1], dtype=np.int32)[
            chunk.indices.fill_null(-1).to_numpy(zero_copy_only=False)
        ]
        for d, chunk in zip(dictionaries, values.chunks, strict=True)
    ]
    result = pd.Categorical.from_codes(
        np.concatenate(codes) if codes else np.zeros(0, np.int32),
        dtype=schema.pandas_dtype(column, categories),
    )
    if column.known:
        outside = [c for c in categories if c not in column.known]
        if outside:
            counts = pd.Series(result).value_counts()
            shown = ", ".join(f"{label!r} ({counts[label]})" for label in outside[:5])
            issues[f"{column.name}:outside {shown}"] += int(counts[outside].sum())
    return result


def _warn(issues: Counter[str], conflicts: Counter[str]) -> None:
    """One DataQualityWarning per field, with counts."""
    for key, count in sorted(issues.items()):
        if not count:
            continue
        name, _, problem = key.partition(":")
        if problem == "naive":
            text = f"{count} {name} timestamps have no UTC offset; taken as UTC"
        elif problem == "unparseable":
            text = f"{count} {name} timestamps could not be parsed; set to missing (NaT)"
        else:
            column = next(c for t in schema.TABLES.values() for c in t if c.name == name)
            text = (
                f"{count} {name} values outside the documented "
                f"{', '.join(column.known)} kept: {problem.removeprefix('outside ')}"
            )
        warnings.warn(text, DataQualityWarning, stacklevel=4)
    for name, count in sorted(conflicts.items()):
        if not count:
            continue
        if name == "threat copies":
            text = (
                f"{count} threats are embedded with differing copies; the copy from the most "
                "recently updated incident won"
            )
        else:
            text = (
                f"{count} rows carry both spellings of {name!r} with different values; "
                "the snake_case spelling won"
            )
        warnings.warn(text, DataQualityWarning, stacklevel=4)
