"""Pages → typed tables: merge the pages' columns, deduplicate, keep the newest copy,
prove each read complete, cast to the schema's dtypes (:mod:`intrace_analytics.frames._dtypes`).

:class:`Normalizer` takes pages as they arrive, parses them on a thread pool sized from
the machine (:func:`parse_workers`; :func:`intrace_analytics.frames._parse.parse_page`), or
takes the columns a live load parsed as each body arrived, and keeps only the columns, so
a load never holds every body at once. After the last page the same pool runs the merge's
jobs that split: grouping ids by hash partition (:func:`~._util.arrays.partition_rows`),
one column per thread. It also proves completeness: offset pagination over a
live result set can skip or repeat rows, and a read of the result set (a *pass*) is clean
when every page reported the same ``total``, no id repeated, and the distinct ids number
exactly ``total``.

Ids are grouped with Arrow's dictionary encoding (:func:`intrace_analytics._util.arrays.codes`).
"""

from __future__ import annotations

import json
import os
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from intrace_analytics._util import arrays
from intrace_analytics._util.checks import check_int
from intrace_analytics._version import __version__
from intrace_analytics.api._pages import Page
from intrace_analytics.exceptions import CompletenessWarning
from intrace_analytics.frames import _schema as schema
from intrace_analytics.frames._container import IncidentFrames
from intrace_analytics.frames._dtypes import typed_frame, warn_quality
from intrace_analytics.frames._parse import (
    PageColumns,
    Winners,
    as_int,
    flag_disagreeing,
    page_source,
    parse_page,
    take,
    winners_among,
)

__all__ = ["Normalizer", "assets_frame", "check_read", "parse_workers"]

#: The most parse threads a normalizer starts unless told otherwise: each page in flight
#: holds its body and its parsed columns (about 5x the body), so memory, not only cores,
#: bounds how many are worth running.
MAX_WORKERS = 32

_STR = pa.string()


# Below this many rows a hash job (grouping ids, counting distinct ones) runs as one:
# splitting it costs more than it saves.
PARALLEL_ROWS = 100_000


class Normalizer:
    """Accumulates pages (parsed on a thread pool as they arrive) into frames.

    It also proves completeness. Offset pagination over a live result set can skip or
    repeat rows; a read of the result set (a *pass*) is clean when every page reported the
    same ``total``, no id repeated, and the distinct ids number exactly ``total``. When a
    pass is not clean, a loader reads again (pages with a higher ``pass_index``) and the
    frames are restricted to the first clean pass's ids, each with its newest copy.

    ``workers``: the parse threads (:func:`parse_workers`: one per usable core, at most
    :data:`MAX_WORKERS`, unless given). Use :func:`frames_from_pages` unless pages arrive
    over time, as in a load. Arrow allocates its columns from
    :data:`~intrace_analytics._util.arrays.POOL`, passed to each call: the process's
    default pool stays as it is.
    """

    def __init__(self, workers: int | None = None) -> None:
        workers = parse_workers(workers)
        self.workers = workers
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="intrace-normalize")
        # A page parsing on each worker and two queued, so no worker waits for the main
        # thread to hand it the next body; each page in flight holds its body (8 MB for
        # 5,000 incidents), so no more than that.
        self._window = workers + 2
        self._pending: list[Future[PageColumns]] = []
        self._parts: list[PageColumns] = []
        self._checks: dict[int, PassCheck] = {}
        self._position = 0

    def add(self, page: Page | Mapping[str, Any] | bytes | str) -> None:
        """Queue one page for parsing (blocks while the window of pages in flight is full)."""
        body, offset, label = page_source(page, self._position)
        self._position += 1
        params = page.params if isinstance(page, Page) else {}
        read = (page.pass_index if isinstance(page, Page) else 0, _result_set(params))
        parsed = page.parsed if isinstance(page, Page) else None
        if isinstance(parsed, PageColumns):
            # Parsed already, as it was fetched: not again. A copy of our own (the page
            # may be shared, and finish() empties its parts), queued in arrival order.
            ready: Future[PageColumns] = Future()
            ready.set_result(
                replace(
                    parsed,
                    pass_index=read[0],
                    result_set=read[1],
                    incidents=dict(parsed.incidents),
                    links=dict(parsed.links),
                    threats=dict(parsed.threats),
                )
            )
            self._pending.append(ready)
        else:
            self._pending.append(self._pool.submit(parse_page, body, offset, label, *read))
        if len(self._pending) >= self._window:
            self._parts.append(self._pending.pop(0).result())

    def flush(self) -> None:
        """Wait until every page added so far is parsed."""
        while self._pending:
            self._parts.append(self._pending.pop(0).result())

    def check_pass(self, pass_index: int) -> PassCheck:
        """Whether the pages of one pass prove a complete, exactly-once read."""
        self.flush()
        parts = [p for p in self._parts if p.pass_index == pass_index]
        check = _check_pass(parts, self._pool, self.workers)
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
            return self._finish(metadata)
        finally:
            self.close()

    def _finish(self, metadata: Mapping[str, Any] | None) -> IncidentFrames:
        # The pool, idle once every page is parsed, runs the merge's partitioned jobs.
        # What the parses freed, before the merge allocates: a caching pool the user chose
        # (mimalloc, jemalloc) hands it back; for the system allocator, a no-op.
        arrays.POOL.release_unused()
        parts, self._parts = self._parts, []
        checks = [
            self._checks.get(k)
            or _check_pass([p for p in parts if p.pass_index == k], self._pool, self.workers)
            for k in sorted({p.pass_index for p in parts})
        ]
        clean = next((check for check in reversed(checks) if check.clean), None)
        # After drift, the last clean read says which incidents exist (a load stops at the
        # first clean one, unless its sites' reads asked for a later read); every copy
        # read (any pass) competes for the newest version of each.
        only = clean.ids if clean is not None and len(checks) > 1 else None
        distinct = len(checks) == 1 and checks[0].repeats == 0
        frames, report = _build(
            parts, only, distinct_ids=distinct, pool=self._pool, workers=self.workers
        )
        report.update(_read_report(parts, checks, clean))
        # An incomplete load keeps every incident any read returned; those its last read
        # no longer returned were deleted meanwhile (or skipped by that read's shifting).
        stale_kept = _unseen(frames.incidents, checks[-1].ids) if clean is None and checks else 0
        if stale_kept:
            report["stale_kept"] = stale_kept
        report.update(metadata or {})
        frames.metadata = report
        if clean is None:
            _warn_incomplete(checks, stale_kept)
        return frames


def _read_report(
    parts: list[PageColumns], checks: list[PassCheck], clean: PassCheck | None
) -> dict[str, Any]:
    """The load report's account of the reads: pages, duplicates, drift, completeness."""
    first = checks[0] if checks else PassCheck(clean=True, ids=pa.chunked_array([], _STR))
    report: dict[str, Any] = {
        # Copies of an id repeated within a read (a re-read's copies are not duplicates).
        "duplicates_dropped": sum(check.repeats for check in checks),
        "pages": len(parts),
        "total_reported": parts[-1].total if parts else 0,
        "drift_detected": not first.clean,
        "reconciled": not first.clean and clean is not None,
        "complete": clean is not None,
        "package_version": __version__,
        "schema_version": schema.SCHEMA_VERSION,
    }
    if not first.clean:
        report["drift"] = first.reasons
    return report


def _warn_incomplete(checks: list[PassCheck], stale_kept: int) -> None:
    """The CompletenessWarning of a load no read of which was exact."""
    reasons = "; ".join(checks[-1].reasons) if checks else "no pages at all"
    kept = (
        f"; {stale_kept} incidents an earlier read returned and the last did not "
        "(deleted during the load, or skipped by it) are kept "
        "(frames.metadata['stale_kept'])"
        if stale_kept
        else ""
    )
    warnings.warn(
        "The pages do not prove they hold every matching incident exactly once: "
        f"{reasons} (after {len(checks)} reads){kept}. See frames.metadata.",
        CompletenessWarning,
        stacklevel=5,
    )


def parse_workers(workers: int | None = None) -> int:
    """How many threads parse pages: ``workers`` if given (1 to :data:`MAX_WORKERS`),
    else one per core this process may run on, at most :data:`MAX_WORKERS`."""
    if workers is not None:
        return check_int("workers", workers, 1, MAX_WORKERS)
    try:
        cores = len(os.sched_getaffinity(0))  # the cores this process may use (Linux)
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_WORKERS))


@dataclass
class PassCheck:
    """Whether one read of a result set was exact, and why not."""

    clean: bool
    ids: pa.ChunkedArray
    reasons: list[str] = field(default_factory=list)
    repeats: int = 0


def _unseen(incidents: pd.DataFrame, last: pa.ChunkedArray) -> int:
    """How many of ``incidents`` the read ``last`` did not return."""
    seen = last.combine_chunks(memory_pool=arrays.POOL)
    held = pa.array(incidents["incident_id"], type=_STR)
    return len(held) - pc.sum(pc.is_in(held, value_set=seen)).as_py() if len(held) else 0


def _result_set(params: Mapping[str, Any]) -> str:
    """Which result set a page belongs to: its request minus the pagination."""
    rest = {k: v for k, v in params.items() if k not in ("limit", "offset")}
    return json.dumps(rest, sort_keys=True, default=str)


def _check_pass(
    parts: list[PageColumns], pool: Executor | None = None, workers: int = 1
) -> PassCheck:
    reasons: list[str] = []
    ids_all: list[pa.Array] = []
    repeats = 0
    for key in dict.fromkeys(p.result_set for p in parts):
        pages = [p for p in parts if p.result_set == key]
        ids = pa.chunked_array([p.incidents["incident_id"] for p in pages], type=_STR)
        ids_all.append(ids)
        where = f" ({key})" if key != "{}" else ""
        check = check_read(ids, [p.total for p in pages], where=where, pool=pool, workers=workers)
        reasons += check.reasons
        repeats += check.repeats
    ids = pa.chunked_array([c for a in ids_all for c in a.chunks], type=_STR)
    return PassCheck(clean=not reasons, ids=ids, reasons=reasons, repeats=repeats)


def check_read(
    ids: pa.ChunkedArray,
    totals: list[int],
    *,
    where: str = "",
    pool: Executor | None = None,
    workers: int = 1,
) -> PassCheck:
    """The pass check of one read of one result set, from its pages' ids (in order) and
    the ``total`` each page reported: exact when every page reported the same total, no
    id repeated and the distinct ids number exactly the total.

    Used for a load's passes and for each site's membership read alike. With a ``pool``,
    a large read's ids are counted in ``4 * workers`` partitions at once.
    """
    reasons: list[str] = []
    distinct = count_distinct(ids, pool, workers)
    changed = sorted(set(totals))
    if len(changed) > 1:
        reasons.append(f"total changed between pages{where}: {changed[0]} to {changed[-1]}")
    repeats = len(ids) - distinct
    if repeats:
        reasons.append(f"{repeats} ids repeated across pages{where}")
    last = totals[-1] if totals else 0
    if distinct != last:
        reasons.append(f"{distinct} distinct ids but total is {last}{where}")
    return PassCheck(clean=not reasons, ids=ids, reasons=reasons, repeats=repeats)


def _parts(workers: int) -> int:
    """How many partitions a hash job is split into: several per worker, so that the
    jobs' temporaries (a copy of their ids, their codes and sort orders) are small."""
    return 4 * workers


def _by_partition(
    ids: pa.ChunkedArray,
    pool: Executor | None,
    workers: int,
    job: Callable[[pa.Array, np.ndarray], Any],
) -> list[Any] | None:
    """``job(ids, rows)`` for each hash partition of ``ids`` (one array, a temporary
    copy), on ``pool``; None when the ids are too few, or the threads, to split."""
    if pool is None or workers < 2 or len(ids) < PARALLEL_ROWS:
        return None
    whole = ids.combine_chunks(memory_pool=arrays.POOL)
    partitions = arrays.partition_rows(whole, _parts(workers))
    return list(pool.map(lambda rows: job(whole, rows), partitions))


def count_distinct(ids: pa.ChunkedArray, pool: Executor | None, workers: int) -> int:
    """How many distinct ids: one hash job, or one per partition on ``pool`` (a
    partition holds every copy of its ids, so the counts add up)."""

    def count(whole: pa.Array, rows: np.ndarray) -> int:
        if not len(rows):
            return 0
        taken = pc.take(whole, rows, memory_pool=arrays.POOL)
        return pc.count_distinct(taken, memory_pool=arrays.POOL).as_py()

    counts = _by_partition(ids, pool, workers, count)
    if counts is None:
        return pc.count_distinct(ids, memory_pool=arrays.POOL).as_py() if len(ids) else 0
    return sum(counts)


def merge_threats(
    threats: dict[str, pa.ChunkedArray],
    updated: np.ndarray,
    conflicted: np.ndarray,
    pool: Executor | None,
    workers: int,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`~intrace_analytics.frames._parse.threat_winners` over every page's threat
    copies: the winning row per id in order of first appearance, and whether its copies
    disagreed. Large merges find the winners as partitions of the ids on ``pool``, put
    back in order of first appearance, and compare copies one field per thread."""

    def merge(whole: pa.Array, rows: np.ndarray) -> Winners:
        return winners_among(whole, rows, updated[rows], conflicted[rows])

    parts = _by_partition(threats["threat_id"], pool, workers, merge)
    if parts is None:
        found = winners_among(threats["threat_id"], None, updated, conflicted)
        return found.winner, flag_disagreeing(threats, found)
    winner, first, flagged, copies, theirs = (
        np.concatenate([part[i] for part in parts]) for i in range(5)
    )
    order = np.argsort(first, kind="stable")
    found = Winners(winner[order], first[order], flagged[order], copies, theirs)
    return found.winner, flag_disagreeing(threats, found, partial(_each, pool))


def _each(pool: Executor | None, job: Callable[[str], Any], names: Iterable[str]) -> list[Any]:
    """``job`` over ``names``, on ``pool`` when there is one."""
    return list(pool.map(job, names)) if pool is not None else [job(name) for name in names]


def assets_frame(parts: list[PageColumns]) -> pd.DataFrame:
    """The typed ``assets`` frame from parsed ``GET /v1/assets`` bodies
    (:func:`~intrace_analytics.frames._parse.parse_assets`), in the API's order.

    An ``asset_id`` listed twice keeps its newest copy (by ``updated_at``) at its first
    place. Warns :class:`DataQualityWarning` as for incidents (naive or unparseable
    timestamps, conflicting spellings), once per field with counts.
    """
    issues: Counter[str] = Counter()
    conflicts: Counter[str] = Counter()
    columns: dict[str, pa.ChunkedArray] = {}
    for column in schema.ASSETS:
        chunks = [part.incidents[column.name] for part in parts]
        columns[column.name] = _chunked(chunks, schema.KINDS[column.kind].parsed)
    for part in parts:
        issues.update(part.issues)
        conflicts.update(part.conflicts)
    keep = _winners(columns["asset_id"], columns["updated_at"])
    if len(keep) != len(columns["asset_id"]):
        conflicts["repeated assets"] += len(columns["asset_id"]) - len(keep)
        columns = take(columns, keep)
    frame = typed_frame("assets", columns, issues)
    warn_quality(issues, conflicts)
    return frame


# -- all pages ----------------------------------------------------------------------


def _chunked(chunks: list[pa.Array], kind: pa.DataType) -> pa.ChunkedArray:
    """The pages' arrays of one column as one chunked array of type ``kind``."""
    cast = [c if c.type == kind else c.cast(kind, memory_pool=arrays.POOL) for c in chunks]
    return pa.chunked_array(cast, type=kind)


def _chain(
    parts: list[PageColumns], table: schema.Table, skip: str = ""
) -> dict[str, pa.ChunkedArray]:
    """Each column of ``table`` over all pages, chunked, not concatenated: the pages'
    buffers become the frames' without a copy."""
    chained = {}
    for column in table:
        if column.name == skip or schema.KINDS[column.kind].derived:
            continue  # the rank is computed from the severity while typing
        chunks = [getattr(part, table.name)[column.name] for part in parts]
        # The parse fixes each column's type; an empty load falls back to the plain one.
        kind = chunks[0].type if chunks else schema.KINDS[column.kind].parsed
        chained[column.name] = _chunked(chunks, kind)
    return chained


@dataclass
class _Pages:
    """Every page's columns, chained, and where each row of each page now sits."""

    incidents: dict[str, pa.ChunkedArray]
    threat_count: pa.ChunkedArray
    links: dict[str, pa.ChunkedArray]
    threats: dict[str, pa.ChunkedArray]  # each page's winning copies
    link_parent: np.ndarray  # each link's incident, as a row over all pages
    threat_source: np.ndarray  # each threat copy's incident, as a row over all pages
    threat_updated: np.ndarray
    threat_conflicted: np.ndarray
    issues: Counter[str]
    conflicts: Counter[str]


def _gather(parts: list[PageColumns]) -> _Pages:
    """The pages' columns, chained; the pages let go of them."""
    issues: Counter[str] = Counter()
    conflicts: Counter[str] = Counter()
    for part in parts:
        issues.update(part.issues)
        conflicts.update(part.conflicts)
    starts = np.cumsum([0] + [len(p.threat_count) for p in parts])

    def rows(of: list[np.ndarray]) -> np.ndarray:
        """Row numbers within each page as row numbers over all pages."""
        shifted = [page_rows + s for page_rows, s in zip(of, starts, strict=False)]
        return np.concatenate(shifted or [np.zeros(0, int)]).astype(np.int64)

    pages = _Pages(
        incidents=_chain(parts, schema.INCIDENTS, skip="threat_count"),
        threat_count=pa.chunked_array([p.threat_count for p in parts], type=pa.int64()),
        links=_chain(parts, schema.LINKS),
        threats=_chain(parts, schema.THREATS),
        link_parent=rows([p.link_parent for p in parts]),
        threat_source=rows([p.threat_source for p in parts]),
        threat_updated=np.concatenate([p.threat_updated for p in parts] or [np.zeros(0, np.int64)]),
        threat_conflicted=np.concatenate(
            [p.threat_conflicted for p in parts] or [np.zeros(0, bool)]
        ),
        issues=issues,
        conflicts=conflicts,
    )
    for part in parts:
        # The chained columns now hold the pages' buffers; letting go of the pages' own
        # references lets a column be freed as soon as a deduplicated copy replaces it.
        part.incidents, part.links, part.threats = {}, {}, {}
    return pages


def _build(
    parts: list[PageColumns],
    only: pa.ChunkedArray | None = None,
    *,
    distinct_ids: bool = False,
    pool: Executor | None = None,
    workers: int = 1,
) -> tuple[IncidentFrames, dict[str, Any]]:
    """Chain the pages' columns, deduplicate, type. ``only``: the ids to keep;
    ``distinct_ids``: the caller already knows no incident id repeats; ``pool``: threads
    (``workers`` of them) for the jobs that split: threat ids by partition, columns."""
    pages = _gather(parts)
    # Incidents: one row per id; the copy with the newest updated_at wins, at the place the
    # id first appeared (a live result set shifts under offset pagination).
    ids = pages.incidents["incident_id"]
    keep = np.arange(len(ids)) if distinct_ids else _winners(ids, pages.incidents["updated_at"])
    duplicates = len(ids) - len(keep)
    stale = 0
    if only is not None:
        keep, stale = _in_clean_read(ids, keep, only)
    if duplicates or stale:
        _drop_lost_copies(pages, keep)
    # Threats: one row per id; the copy from the most recently updated incident wins.
    # Pages arrive deduplicated; merge their winners the same way.
    winners, conflicted = merge_threats(
        pages.threats, pages.threat_updated, pages.threat_conflicted, pool, workers
    )
    # Each column on its own thread; each lets go of its source chunks as it goes.
    copies, names = pages.threats, list(pages.threats)
    taken = _each(pool, lambda name: _take_streaming(copies, name, winners), names)
    threats = dict(zip(names, taken, strict=True))
    arrays.POOL.release_unused()  # the merge's temporaries, before typing (as above)
    disagreeing = int(conflicted.sum())
    if disagreeing:
        pages.conflicts["threat copies"] += disagreeing
    pages.incidents["threat_count"] = pages.threat_count
    frames = IncidentFrames(
        incidents=typed_frame("incidents", pages.incidents, pages.issues),
        links=typed_frame("links", pages.links, pages.issues),
        threats=typed_frame("threats", threats, pages.issues),
    )
    warn_quality(pages.issues, pages.conflicts)
    report: dict[str, Any] = {
        "rows": len(frames.incidents),
        "links": len(frames.links),
        "threats": len(frames.threats),
        "stale_dropped": stale,
        "threat_conflicts": disagreeing,
        "data_quality": {k: v for k, v in sorted((pages.issues + pages.conflicts).items()) if v},
    }
    return frames, report


def _in_clean_read(
    ids: pa.ChunkedArray, keep: np.ndarray, only: pa.ChunkedArray
) -> tuple[np.ndarray, int]:
    """After a re-read, the clean read alone says which incidents exist, in its order:
    the rows of ``keep`` whose id it holds, in its order, and how many went."""
    position = pc.index_in(
        pc.take(ids, pa.array(keep), memory_pool=arrays.POOL),
        value_set=only.combine_chunks(memory_pool=arrays.POOL),
        memory_pool=arrays.POOL,
    )
    wanted = pc.is_valid(position).to_numpy(zero_copy_only=False)
    stale = len(keep) - int(wanted.sum())
    keep = keep[wanted]
    return keep[np.argsort(position.filter(pa.array(wanted)).to_numpy(), kind="stable")], stale


def _drop_lost_copies(pages: _Pages, keep: np.ndarray) -> None:
    """Keep the incident rows ``keep``, in that order, and what belongs to them: links
    follow their incident's winning copy, in the incidents' order; only threat copies
    a kept copy embeds compete, and only threats one embeds are kept, so the frames
    equal a clean read of the result set. A threat only a dropped copy embedded goes,
    even where a kept link still names it (a link without an embedded threat describes
    nothing)."""
    # rank[row] = position of that incident row in the output, or -1 if it lost.
    rank = np.full(len(pages.incidents["incident_id"]), -1, dtype=np.int64)
    rank[keep] = np.arange(len(keep))
    pages.incidents = take(pages.incidents, keep)
    pages.threat_count = pc.take(pages.threat_count, pa.array(keep), memory_pool=arrays.POOL)
    link_rank = rank[pages.link_parent]
    kept = np.flatnonzero(link_rank >= 0)
    kept = kept[np.argsort(link_rank[kept], kind="stable")]
    pages.links = take(pages.links, kept)
    pages.link_parent = link_rank[kept]
    alive = np.flatnonzero(rank[pages.threat_source] >= 0)
    pages.threats = take(pages.threats, alive)
    pages.threat_updated = pages.threat_updated[alive]
    pages.threat_conflicted = pages.threat_conflicted[alive]
    pages.threat_source = pages.threat_source[alive]


def _winners(ids: pa.ChunkedArray, updated: pa.ChunkedArray) -> np.ndarray:
    """Row numbers of the winning copy per id (newest updated_at, then latest read), in
    order of each id's first appearance."""
    if len(ids) == 0:
        return np.zeros(0, np.int64)
    codes = arrays.codes(ids)[0]  # codes follow first appearance
    order, begin = arrays.sorted_runs(as_int(updated), codes)  # stable: ties keep read order
    return order[np.r_[begin[1:], len(order)] - 1]  # the last of each run: the newest


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
        taken = pc.take(source, pa.array(piece - bounds[first]), memory_pool=arrays.POOL)
        out.extend(taken.chunks)
        keep_from = (
            np.searchsorted(bounds, needed[number + 1], side="right") - 1
            if number + 1 < len(pieces)
            else len(chunks)
        )
        while released < keep_from:
            chunks[released] = None
            released += 1
    return pa.chunked_array(out, type=kind)
