"""One page of ``GET /v1/incidents`` → Arrow columns of the three tables, before merging.

Each page body is parsed by Arrow's JSON reader (:mod:`intrace_analytics.frames._json`)
against an explicit schema built from :mod:`intrace_analytics.frames._schema`'s field map,
which knows every spelling the API uses
(``threat_links``/``threatLinks``, ``created_at``/``createdAt``, ...), so a field is
picked per incident, even when a page mixes casings. Everything after the parse is
columnar (Arrow compute, NumPy): no Python loop per row. :mod:`intrace_analytics.frames._merge`
runs :func:`parse_page` on a thread pool and merges the pages.

A page body looks like this (either casing, per field)::

    {"incidents": [{"id": "i1", "title": "Unrest", "status": "open", "scope": "aggregate",
                    "createdAt": "2026-04-18T09:00:00Z", "updated_at": "...",
                    "threat_links": [{"id": "l1", "threatId": "t1", "addedAt": "...",
                                      "threat": {"id": "t1", "severity": "high", ...}}]}],
     "total": 1}
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from intrace_analytics._util import arrays
from intrace_analytics.api._bodies import encode_text
from intrace_analytics.api._pages import Page
from intrace_analytics.exceptions import ResponseFormatError
from intrace_analytics.frames import _schema as schema
from intrace_analytics.frames._json import has_field, nested_field, read_assets, read_page

__all__ = ["PageColumns", "parse_assets", "parse_page"]

_TIMESTAMP = schema.KINDS[schema.Kind.TIMESTAMP].parsed
_HAS_OFFSET = r"([zZ]|[+-]\d\d(:?\d\d)?)\s*$"


@dataclass
class PageColumns:
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
    issues: Counter[str] = field(default_factory=Counter)
    conflicts: Counter[str] = field(default_factory=Counter)

    def ids(self) -> list[Any]:
        """The incidents' ids in the page's order (the paginator's loop guard reads them
        from here, so a parsed page need not be decoded again)."""
        return self.incidents["incident_id"].to_pylist()

    def count(self) -> int:
        """How many incidents the page lists (a page of incidents: see parse_page)."""
        return len(self.threat_count)


def page_source(
    page: Page | Mapping[str, Any] | bytes | str, position: int
) -> tuple[bytes, int, str]:
    """The page's body, the offset named in errors, and how to name the page.

    Raises :class:`ResponseFormatError` for a page that cannot become a body: a str
    with a lone surrogate, a decoded page that is not an object (``[]``, ``None``), a
    dict that is not JSON or nests deeper than the encoder can go.
    """
    if isinstance(page, Page):
        label, offset = f"page at offset {page.offset}", page.offset
        if page.body:
            return page.body, offset, label
        return (
            _dumps({"incidents": page.incidents, "total": page.total}, label, offset),
            offset,
            label,
        )
    label = f"page {position}"
    if isinstance(page, bytes | bytearray | memoryview | str):
        return encode_text(page, label=label, offset=position), position, label
    if isinstance(page, Mapping):
        return _dumps(page, label, position), position, label
    if page is None or isinstance(page, list | int | float):  # bool is an int
        shown = json.dumps(page)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        got = "null" if page is None else f"{type(page).__name__} {shown}"
        raise ResponseFormatError(
            f"{label}: field '(body)' should be a JSON object, got {got}",
            offset=position,
            field="(body)",
        )
    raise TypeError(
        f"pages must be Page objects, dicts, bytes or str; page {position} is "
        f"{type(page).__name__}"
    )


def _dumps(page: Mapping[str, Any], label: str, offset: int) -> bytes:
    """A decoded page as a UTF-8 body (non-ASCII kept as is, so a lone surrogate is
    refused here instead of reaching Arrow as an escape)."""
    try:
        return json.dumps(page, default=str, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        problem = "it nests too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ResponseFormatError(
            f"{label}: cannot be read as JSON ({problem})", offset=offset, field="(body)"
        ) from None


class _Fields:
    """Picks each column's field from a payload struct array, whichever spelling a row
    uses, counting rows that carry both spellings with different values."""

    def __init__(self, conflicts: Counter[str]) -> None:
        self.conflicts = conflicts

    def __call__(self, struct: pa.Array, column: schema.Column) -> pa.Array:
        # A page read in one casing has only that casing's spellings (_json.read_page).
        values = [nested_field(struct, s) for s in column.api if has_field(struct.type, s)]
        first = values[0]  # every column has a spelling in each casing
        for second in values[1:]:
            first = self._coalesce(first, second, column)
        return first

    def _coalesce(self, first: pa.Array, second: pa.Array, column: schema.Column) -> pa.Array:
        # Usually a page spells a field one way: take that column as it is, no copy.
        if second.null_count == len(second):
            return first
        if first.null_count == len(first):
            return second
        both = pc.and_(pc.is_valid(first), pc.is_valid(second))
        if pc.any(both).as_py():
            if pa.types.is_timestamp(schema.KINDS[column.kind].parsed):
                # The same instant may be written two ways ("...Z" and "...+01:00").
                scratch: Counter[str] = Counter()
                one = timestamps(first, column.name, scratch)
                two = timestamps(second, column.name, scratch)
            else:
                one, two = first, second
            differ = pc.sum(pc.and_(both, pc.not_equal(one, two))).as_py() or 0
            self.conflicts[column.name] += differ
        return pc.coalesce(first, second, memory_pool=arrays.POOL)


@dataclass(frozen=True)
class _Where:
    """How errors name the page being parsed."""

    label: str
    offset: int

    def bad(self, field: str, problem: str) -> ResponseFormatError:
        return ResponseFormatError(f"{self.label}: {problem}", offset=self.offset, field=field)


def parse_page(
    body: bytes, offset: int, label: str, pass_index: int = 0, result_set: str = ""
) -> PageColumns:
    """Parse one page body into the columns it contributes to each table.

    Raises :class:`ResponseFormatError` naming the page (``offset``) and the first field
    that is not the documented shape.
    """
    where = _Where(label, offset)
    incidents, total = _incidents_of(read_page(body, label, offset), where)
    issues: Counter[str] = Counter()
    conflicts: Counter[str] = Counter()
    pick = _Fields(conflicts)
    # Categories encoded here, on the worker thread: the merge only unifies small
    # dictionaries.
    columns = _parsed_columns(incidents, schema.INCIDENTS, pick, issues, encode=True)
    if columns["incident_id"].null_count:
        raise where.bad("incidents[].id", "an incident has no 'id'")
    link_lists = _link_lists(incidents, conflicts)
    link_parent = pc.list_parent_indices(link_lists).to_numpy().astype(np.int32)
    links = pc.list_flatten(link_lists, memory_pool=arrays.POOL)
    if links.null_count:
        raise where.bad("incidents[].threat_links[]", "a threat link is null")
    link_columns = _link_columns(links, columns["incident_id"], link_parent, pick, issues)
    if link_columns["link_id"].null_count:
        raise where.bad("incidents[].threat_links[].id", "a threat link has no 'id'")
    threats = _page_threats(links, link_columns["threat_id"], pick, issues, where)
    # Deduplicate this page's threat copies here, on the worker thread: most copies of a
    # threat sit on the same page, so the final merge has far less to do.
    threat_parent = link_parent[threats.embedded]
    updated = as_int(columns["updated_at"])[threat_parent]
    winners, conflicted = threat_winners(threats.columns, updated, np.zeros(len(updated), bool))
    return PageColumns(
        total=total,
        pass_index=pass_index,
        result_set=result_set,
        incidents=columns,
        threat_count=pc.fill_null(pc.list_value_length(link_lists), 0).cast(pa.int64()),
        links=link_columns,
        link_parent=link_parent,
        threats=take(threats.columns, winners),
        threat_updated=updated[winners],
        threat_conflicted=conflicted,
        threat_source=threat_parent[winners].astype(np.int32),
        issues=issues,
        conflicts=conflicts,
    )


def _incidents_of(table: pa.Table, where: _Where) -> tuple[pa.Array, int]:
    """A parsed page's incidents (one struct array) and its ``total``, both checked."""
    listed = table.column("incidents").chunk(0)
    if listed.null_count:
        raise where.bad("incidents", "field 'incidents' should be a list of incident objects")
    total = table.column("total")[0].as_py()
    if total is None or total < 0:
        got = "nothing" if total is None else total
        raise where.bad("total", f"field 'total' should be a non-negative integer, got {got}")
    incidents = pc.list_flatten(listed, memory_pool=arrays.POOL)
    if incidents.null_count:
        raise where.bad("incidents[]", "field 'incidents' holds a null instead of an incident")
    return incidents, total


def _parsed_columns(
    struct: pa.Array,
    table: schema.Table,
    pick: _Fields,
    issues: Counter[str],
    *,
    encode: bool = False,
) -> dict[str, pa.Array]:
    """Each column of ``table`` the API spells, picked from ``struct`` (see
    :func:`parsed`)."""
    return {c.name: parsed(pick(struct, c), c, issues, encode=encode) for c in table if c.api}


def parsed(
    values: pa.Array, column: schema.Column, issues: Counter[str], *, encode: bool = False
) -> pa.Array:
    """A picked column as its kind is parsed (:data:`~.schema.KINDS`): timestamps
    parsed, categoricals dictionary-encoded when ``encode``, the rest as read."""
    kind = schema.KINDS[column.kind]
    if pa.types.is_timestamp(kind.parsed):
        return timestamps(values, column.name, issues)
    if encode and kind.categorical:
        return pc.dictionary_encode(values, memory_pool=arrays.POOL)
    return values


def _link_lists(incidents: pa.Array, conflicts: Counter[str]) -> pa.Array:
    """Each incident's list of links, whichever spelling it uses; rows that spell it both
    ways with different links are counted in ``conflicts``."""
    kind = incidents.type
    spelled = [nested_field(incidents, n) for n in schema.THREAT_LINKS if has_field(kind, n)]
    if len(spelled) == 1:
        return spelled[0]
    snake_links, camel_links = spelled
    both = pc.and_(pc.is_valid(snake_links), pc.is_valid(camel_links))
    if pc.any(both).as_py():
        # Rare: compare the two lists only where both spellings are present.
        rows = np.flatnonzero(both.to_numpy(zero_copy_only=False))
        conflicts[schema.THREAT_LINKS[0]] += sum(
            _snake_keys(snake_links[i].as_py()) != _snake_keys(camel_links[i].as_py()) for i in rows
        )
    return pc.coalesce(snake_links, camel_links, memory_pool=arrays.POOL)


def _link_columns(
    links: pa.Array,
    incident_ids: pa.Array,
    link_parent: np.ndarray,
    pick: _Fields,
    issues: Counter[str],
) -> dict[str, pa.Array]:
    """The ``links`` table's columns of one page."""
    column = schema.LINKS.column
    embedded_id = nested_field(links, f"{schema.EMBEDDED_THREAT[0]}.id")
    return {
        "link_id": pick(links, column("link_id")),
        "incident_id": pc.take(incident_ids, pa.array(link_parent), memory_pool=arrays.POOL),
        # A link that does not name its threat takes the embedded threat's id.
        "threat_id": pc.coalesce(
            pick(links, column("threat_id")), embedded_id, memory_pool=arrays.POOL
        ),
        "added_at": parsed(pick(links, column("added_at")), column("added_at"), issues),
    }


class _PageThreats(NamedTuple):
    columns: dict[str, pa.Array]  # one row per embedded threat copy
    embedded: np.ndarray  # per link: whether it embeds its threat


def _page_threats(
    links: pa.Array, threat_ids: pa.Array, pick: _Fields, issues: Counter[str], where: _Where
) -> _PageThreats:
    """The threat copies the page's links embed, one row per copy."""
    threats = nested_field(links, schema.EMBEDDED_THREAT[0])
    embedded = pc.is_valid(threats)
    # Fields are picked from the whole column of links (zero-copy), then only the embedded
    # rows are kept, field by field: never a copy of the whole struct with unused spellings.
    columns = {
        column.name: pc.filter(pick(threats, column), embedded, memory_pool=arrays.POOL)
        for column in schema.THREATS
        if not schema.KINDS[column.kind].derived
    }
    columns["threat_id"] = pc.coalesce(
        columns["threat_id"],
        pc.filter(threat_ids, embedded, memory_pool=arrays.POOL),
        memory_pool=arrays.POOL,
    )
    if columns["threat_id"].null_count:
        raise where.bad("incidents[].threat_links[].threat.id", "an embedded threat has no 'id'")
    for column in schema.THREATS:
        if column.name in columns:
            columns[column.name] = parsed(columns[column.name], column, issues)
    return _PageThreats(columns, embedded.to_numpy(zero_copy_only=False))


def parse_assets(body: bytes, offset: int = 0, label: str = "assets") -> PageColumns:
    """Parse one body of ``GET /v1/assets`` into the ``assets`` table's columns.

    The same mechanism as incidents: the payload struct built from the schema's field
    map (both casings, dotted ``attributes.*`` spellings), a per-column pick, timestamps
    parsed. Only ``incidents`` (the assets' columns), ``total`` and the counters of the
    returned :class:`PageColumns` are filled.

    Raises :class:`ResponseFormatError` naming the first field that is not the
    documented shape.
    """
    where = _Where(label, offset)
    table = read_assets(body, label, offset)
    listed = table.column("assets").chunk(0)
    assets = pc.list_flatten(listed, memory_pool=arrays.POOL)
    if listed.null_count or assets.null_count:
        raise where.bad("assets", "field 'assets' should be a list of asset objects")
    total = table.column("total")[0].as_py()
    issues: Counter[str] = Counter()
    conflicts: Counter[str] = Counter()
    columns = _parsed_columns(assets, schema.ASSETS, _Fields(conflicts), issues)
    if columns["asset_id"].null_count:
        raise where.bad("assets[].asset_id", "an asset has no 'asset_id'")
    return PageColumns(
        total=offset + len(assets) if total is None else total,
        pass_index=0,
        result_set="",
        incidents=columns,
        threat_count=pa.array([], pa.string()),
        links={},
        link_parent=np.zeros(0, np.int32),
        threats={},
        threat_updated=np.zeros(0, np.int64),
        threat_conflicted=np.zeros(0, bool),
        threat_source=np.zeros(0, np.int32),
        issues=issues,
        conflicts=conflicts,
    )


def _snake_keys(value: Any) -> Any:
    """The same structure with camelCase keys spelled in snake_case (the schema's field
    map) and absent (None) fields left out, so both spellings of one link compare equal."""
    if isinstance(value, dict):
        return {
            schema.SNAKE_CASE.get(key, key): _snake_keys(item)
            for key, item in value.items()
            if item is not None
        }
    if isinstance(value, list):
        return [_snake_keys(item) for item in value]
    return value


def threat_winners(
    threats: Mapping[str, pa.Array | pa.ChunkedArray],
    updated: np.ndarray,
    conflicted: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The winning copy per threat id (from the most recently updated incident, then the
    latest read), in order of first appearance; and per winner, whether any copy of it
    disagreed (``conflicted`` flags copies already known to have disagreed).

    Used per page (on the parse workers); the merge runs :func:`winners_among` on
    partitions of the rows, then :func:`flag_disagreeing` on all of them.
    """
    found = winners_among(threats["threat_id"], None, updated, conflicted)
    return found.winner, flag_disagreeing(threats, found)


class Winners(NamedTuple):
    """What :func:`winners_among` finds: row numbers of the threat copies."""

    winner: np.ndarray  # the winning row per id, in order of first appearance
    first: np.ndarray  # the row where each id first appears
    flagged: np.ndarray  # per id: one of its copies was already known to disagree
    copies: np.ndarray  # every copy of an id seen more than once ...
    theirs: np.ndarray  # ... and that id's winning row, to compare it with


def winners_among(
    ids: pa.Array | pa.ChunkedArray,
    rows: np.ndarray | None,
    updated: np.ndarray,
    conflicted: np.ndarray,
) -> Winners:
    """The winning copy per threat id among ``rows`` of ``ids`` only (ascending row
    numbers; None: every row), with ``updated`` and ``conflicted`` given for those rows
    alone. Every row number returned is a row of ``ids``.

    Rows of one id must all be among ``rows``: so partitions of the rows by id
    (:func:`intrace_analytics._util.arrays.partition_rows`) are independent jobs. The ids alone
    are read; whether copies disagree is :func:`flag_disagreeing`'s to say, after.
    """
    if rows is not None:  # a temporary copy of this partition's ids
        ids = pc.take(ids, pa.array(rows), memory_pool=arrays.POOL)
    n = len(ids)
    if n == 0:
        empty = np.zeros(0, np.int64)
        return Winners(empty, empty, conflicted[:0], empty, empty)
    # Codes number the ids by first appearance, so the groups of one stable sort by
    # (code, updated_at, read order) come out in order of first appearance.
    group_of = arrays.codes(ids)[0]
    del ids
    order, begin = arrays.sorted_runs(updated, group_of)
    size = np.diff(np.r_[begin, n])
    winner = order[begin + size - 1]  # the last of each group: newest, latest read
    first = arrays.first_rows(group_of)
    flagged = np.logical_or.reduceat(conflicted[order], begin)
    group = group_of[order]
    shared = np.flatnonzero(size[group] > 1)  # sorted positions of ids seen more than once
    copies, theirs = order[shared], winner[group[shared]]
    if rows is not None:
        winner, first, copies, theirs = rows[winner], rows[first], rows[copies], rows[theirs]
    return Winners(winner, first, flagged, copies, theirs)


def flag_disagreeing(
    threats: Mapping[str, pa.Array | pa.ChunkedArray],
    found: Winners,
    each: Callable[..., Iterable[np.ndarray]] = map,
) -> np.ndarray:
    """``found.flagged``, and flagged too: each id one of whose copies differs from its
    winner in any field (null-aware: two missing values agree).

    One field per job; ``each`` runs them (``map``, or a thread pool's ``map``). Rows are
    taken chunk by chunk (:func:`~intrace_analytics._util.arrays.take_rows`) in slices of the
    pairs, so a job's temporaries stay small whatever the size of the column.
    """
    copies, theirs = found.copies, found.theirs
    if not len(copies):
        return found.flagged
    names = [name for name in threats if name != "threat_id"]

    def differs(name: str) -> np.ndarray:
        values = threats[name]
        out = np.zeros(len(copies), dtype=bool)
        for at in range(0, len(copies), COMPARED_AT_ONCE):
            end = at + COMPARED_AT_ONCE
            mine = arrays.take_rows(values, copies[at:end])
            other = arrays.take_rows(values, theirs[at:end])
            pool = arrays.POOL
            same = pc.or_kleene(
                pc.equal(mine, other, memory_pool=pool),
                pc.and_(pc.is_null(mine), pc.is_null(other), memory_pool=pool),
                memory_pool=pool,
            )
            # Null where one side is missing: they differ.
            out[at:end] = ~pc.fill_null(same, False).to_numpy(zero_copy_only=False)
        return out

    differing = np.zeros(len(copies), dtype=bool)
    for found_here in each(differs, names):
        differing |= found_here
    if not differing.any():
        return found.flagged
    bad = np.zeros(len(threats["threat_id"]), dtype=bool)
    bad[theirs[differing]] = True
    return found.flagged | bad[found.winner]


#: Pairs of threat copies compared at once: bounds the temporaries of a comparison.
COMPARED_AT_ONCE = 1 << 18


def take(columns: dict[str, Any], rows: np.ndarray) -> dict[str, Any]:
    """Rows of every column; each source column is released as soon as it is copied."""
    indices = pa.array(rows)
    return {
        name: pc.take(columns.pop(name), indices, memory_pool=arrays.POOL) for name in list(columns)
    }


def as_int(timestamps: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Timestamps as int64 for sorting; missing sorts oldest, so a copy with a known
    ``updated_at`` beats one without."""
    values = pc.fill_null(timestamps.cast(pa.int64()), np.iinfo(np.int64).min)
    return values.to_numpy()


def timestamps(values: pa.Array, name: str, issues: Counter[str]) -> pa.Array:
    """ISO-8601 strings → UTC timestamps: offsets honoured, naive taken as UTC, bad → null."""
    try:
        # Arrow's parser takes every well-formed ISO-8601 string with an offset; it
        # refuses the whole array for one naive or malformed value.
        return pc.cast(values, _TIMESTAMP, memory_pool=arrays.POOL)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    present = pc.is_valid(values)
    # RFC 3339 allows a lowercase "z"; neither Arrow nor pandas does.
    upper_z = pc.replace_substring_regex(values, pattern=r"z(\s*)$", replacement="Z\\1")
    converted = pd.to_datetime(
        upper_z.to_pandas(), format="ISO8601", utc=True, errors="coerce"
    ).dt.as_unit(schema.TIMESTAMP_UNIT)
    result = pa.array(converted, type=_TIMESTAMP, from_pandas=True, memory_pool=arrays.POOL)
    failed = pc.and_(present, pc.is_null(result))
    naive = pc.and_(pc.is_valid(result), pc.invert(pc.match_substring_regex(values, _HAS_OFFSET)))
    issues[f"{name}:unparseable"] += pc.sum(failed).as_py() or 0
    issues[f"{name}:naive"] += pc.sum(naive).as_py() or 0
    return result
