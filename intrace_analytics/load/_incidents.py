"""A whole load: fetch every page, normalize as pages arrive, prove completeness; sites.

Offset pagination over live data can skip or repeat rows when incidents are created or
deleted mid-load. :func:`load_incidents` reads the result set, lets the
:class:`~intrace_analytics.frames._merge.Normalizer` check the read was exact, re-reads
(bounded) when it was not, and records a load report in ``frames.metadata``.
:func:`frames_from_pages` is the same normalization offline, over pages already at hand.

With ``assets=...`` it then reads each site's incidents (:mod:`intrace_analytics.load._sites`)
and reconciles them with the main read. The data can change between the main read and
a site's read; a site read that returns an incident the main read does not hold is
drift, never kept or dropped silently: the main result set is read again (bounded), then
the sites that read may have missed or mis-stated (every site if the re-read found new
incidents, else the sites that returned unknown ids), until the sites' incidents are all
in the main read or the bound is reached (``complete: false`` and a warning).
"""

from __future__ import annotations

import dataclasses
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from intrace_analytics._util.checks import check_int, check_known, fail
from intrace_analytics._util.clock import utc_now
from intrace_analytics.api._client import IntraceClient
from intrace_analytics.api._pages import JsonlWriter, Page
from intrace_analytics.api._pagination import PageStream
from intrace_analytics.api._retry import LoadContext
from intrace_analytics.exceptions import (
    AuthenticationError,
    CompletenessWarning,
    DataQualityWarning,
    NetworkError,
)
from intrace_analytics.frames._container import IncidentFrames
from intrace_analytics.frames._merge import Normalizer, parse_workers
from intrace_analytics.frames._parse import PageColumns, parse_page
from intrace_analytics.frames._quality import quality_counts
from intrace_analytics.load._progress import ProgressBar, progress_bar
from intrace_analytics.load._sites import SiteRead, incident_assets_frame, read_assets, read_sites

__all__ = ["frames_from_pages", "load_incidents"]


def load_incidents(
    client: IntraceClient | None = None,
    *,
    status: str | None = None,
    scope: str | None = None,
    asset_id: str | Iterable[str] | None = None,
    assets: bool | Iterable[str] = False,
    progress: bool | None = None,
    raw_dir: str | Path | None = None,
    reconcile_passes: int = 2,
) -> IncidentFrames:
    """Fetch every matching incident and return the tidy frames, proven complete.

    Parameters
    ----------
    client
        The client to use; by default one configured from ``INTRACE_API_KEY`` and
        ``INTRACE_BASE_URL``.
    status, scope, asset_id
        Filters, as in :meth:`IntraceClient.iter_incident_pages`. Every ``asset_id`` is
        checked against ``GET /v1/assets`` before any incident is read (when the key may
        not read assets, a warning says it could not be).
    assets
        ``True``: also load every site the key can see (whatever its status) into
        ``frames.assets``, and for each site which of the loaded incidents touch it into
        ``frames.incident_assets`` (the ``asset_id`` filter with the same ``status`` and
        ``scope``, one read per site, concurrently). A list of ids: those sites only.
        ``False`` (default): no sites.
    progress
        Show a progress bar on stderr: ``None`` (default) only in a terminal or a notebook.
    raw_dir
        Keep every page of the main read received as JSON Lines in this directory
        (``pages-<time>.jsonl``), replayable with ``frames_from_pages(read_jsonl(path))``.
    reconcile_passes
        How many times to re-read after drift (rows inserted or deleted while a result
        set was read, or between the main read and a site's read), at most.

    Returns
    -------
    IncidentFrames
        With ``metadata``, the load report: filters, base_url, fetched_at, pages, requests,
        retries, rate_limit_wait_s, total_reported, rows, duplicates_dropped,
        drift_detected, reconciled, complete, assets_loaded, asset_reads (one record per
        site: asset_id, rows, complete), data_quality (what normalizing counted, each
        check of ``data_quality()`` with a non-zero count, and the incidents timed from
        ``created_at`` because ``started_at`` is missing), and more detail.

    Raises
    ------
    ValueError
        A filter or ``assets`` is not allowed (before any request), or an ``asset_id``
        is not a known site (the message names it and the closest known ids; before any
        incident is read).

    Warns
    -----
    CompletenessWarning
        The load could not prove it holds every matching incident exactly once, or a
        site's membership exactly (``metadata["complete"]`` is then False). A result set
        that keeps growing ahead of every read (rows inserted before each request) is
        such a load: the reads stop at the paginator's loop guard, what they read is
        returned, and ``metadata["drift"]`` says where each ended.
    DataQualityWarning
        The key may not read assets (403: incidents are loaded without sites, an
        ``asset_id`` filter is not checked); an id in ``assets`` that is not a known site.

    Examples
    --------
    >>> from intrace_analytics.sandbox import SandboxServer
    >>> with SandboxServer(incidents=300) as api:
    ...     client = IntraceClient(api.api_key, base_url=api.url)
    ...     frames = load_incidents(client, status="open", progress=False)
    >>> frames.metadata["complete"]
    True
    """
    plan = _Plan.checked(
        client if client is not None else IntraceClient(),
        status, scope, asset_id, assets, reconcile_passes,
    )  # fmt: skip
    started = utc_now()
    bar = progress_bar(progress)
    try:
        load = plan.client.new_load(bar.waiting if bar is not None else None)
        if bar is not None:
            bar.count_retries(load.stats)
        # An asset_id filter is checked against the site list before any incident is
        # read: a typo is an error, not an empty load.
        listing = _SiteList.read(plan, load) if plan.asset_ids else None
        main = _MainRead(plan.read, load, Normalizer(), bar, raw_dir, started)
        found, outcome = _read(plan, main, listing)
        for note in found.notes:
            warnings.warn(note, DataQualityWarning, stacklevel=2)
    except BaseException:
        if bar is not None:
            bar.close(clear=True)  # what failed is said next, on a clean line
        raise
    if bar is not None:
        bar.close()
    # Warns CompletenessWarning when no read was exact.
    frames = main.normalizer.finish(_report(plan, main, found.sites is not None, started))
    if found.sites is not None and outcome is not None:
        _attach_sites(frames, found.sites, outcome)
    # The findings' counts beside what normalizing counted: the export describes itself.
    frames.metadata["data_quality"] = {
        **frames.metadata.get("data_quality", {}),
        **quality_counts(frames),
    }
    return frames


def _check_assets(assets: bool | Iterable[str]) -> list[str] | None | bool:
    """``assets`` as False (no sites), True (every site) or a list of site ids."""
    if isinstance(assets, bool):
        return assets
    expected = "True, False, or a non-empty list of site ids"
    if isinstance(assets, str) or not isinstance(assets, Iterable):
        raise fail("assets", expected, assets)
    ids = list(assets)
    if not ids or not all(isinstance(v, str) and v.strip() for v in ids):
        raise fail("assets", expected, ids)
    return list(dict.fromkeys(v.strip() for v in ids))


@dataclass(frozen=True)
class _Plan:
    """What one load reads, its arguments checked: the client, the filters, the sites
    wanted, how often to re-read after drift."""

    client: IntraceClient
    status: str | None
    scope: str | None
    asset_ids: list[str] | None
    wanted_sites: list[str] | None | bool
    reconcile_passes: int
    # At most one parse per core at once: the fetch threads (max_workers of them) parse
    # what they fetched, and more parses than cores only add memory and cache misses.
    parsing: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(parse_workers())
    )

    @classmethod
    def checked(
        cls,
        client: IntraceClient,
        status: str | None,
        scope: str | None,
        asset_id: str | Iterable[str] | None,
        assets: bool | Iterable[str],
        reconcile_passes: int,
    ) -> _Plan:
        """The plan, or ``ValueError`` for a bad argument before anything is sent or
        written."""
        # A generator of ids would be spent by the first read: hold them, once.
        asset_ids: list[str] | None = None
        if asset_id is not None:
            asset_ids = [asset_id] if isinstance(asset_id, str) else list(asset_id)
        wanted = _check_assets(assets)
        check_int("reconcile_passes", reconcile_passes, 0, 100)
        plan = cls(client, status, scope, asset_ids, wanted, reconcile_passes)
        plan.read(client.new_load()).close()  # checks the filters; sends nothing
        return plan

    @property
    def needs_site_list(self) -> bool:
        """Sites are loaded, or an ``asset_id`` filter is to be checked against them."""
        return self.wanted_sites is not False or bool(self.asset_ids)

    def parse(self, body: bytes, offset: int, label: str) -> PageColumns:
        with self.parsing:
            return parse_page(body, offset, label)

    def read(self, load: LoadContext) -> PageStream[Page]:
        """One read of the main result set. Each body is parsed once, by Arrow, in the
        thread that fetched it: the paginator's guards read that parse and the
        normalizer keeps it (no stdlib decode at all)."""
        return self.client.read_incident_pages(
            status=self.status, scope=self.scope, asset_id=self.asset_ids, load=load,
            parse=self.parse, read_all=True, stop_runaway=True,
        )  # fmt: skip

    def read_sites(
        self, sites: Sequence[str], load: LoadContext, bar: ProgressBar | None = None
    ) -> dict[str, SiteRead]:
        """Each site's incidents with the main read's filters (:func:`read_sites`)."""
        if bar is not None:
            bar.reset(total=len(sites), unit=" sites")
            bar.set_description("reading sites")
        return read_sites(
            self.client, sites, status=self.status, scope=self.scope, load=load,
            attempts=self.reconcile_passes + 1, on_done=bar.site if bar is not None else None,
        )  # fmt: skip

    def probe(self, load: LoadContext) -> tuple[int, str | None]:
        """The main result set's ``total`` and newest incident id, from one request of
        one incident: what tells that the result set moved between two moments."""
        stream = self.client.read_incident_pages(
            status=self.status, scope=self.scope, asset_id=self.asset_ids, load=load,
            page_size=1,
        )  # fmt: skip
        try:
            first = next(stream, None)  # one request: the rest is fetched only on demand
        finally:
            stream.close()
        if first is None:
            return 0, None
        ids = first.ids()
        return first.total, (ids[0] if ids else None)


def _read(
    plan: _Plan, main: _MainRead, listing: _SiteList | None
) -> tuple[_Early, _Membership | None]:
    """The main read, with the site list (unless given) and the sites' first reads
    beside it; then the sites reconciled with it."""
    with ThreadPoolExecutor(1, thread_name_prefix="intrace-sites") as beside:
        early = beside.submit(_beside_main, plan, main, listing) if plan.needs_site_list else None
        try:
            main.read_first(plan.reconcile_passes)
            found = early.result() if early is not None else _Early()
            if found.sites is None:
                return found, None
            return found, _read_memberships(plan, main, found)
        except BaseException as failure:
            main.failed.set()
            main.normalizer.close()
            _raise_first(failure, early)
            raise
        finally:
            main.close()


def _beside_main(plan: _Plan, main: _MainRead, listing: _SiteList | None) -> _Early:
    """The site list (unless ``listing`` was read before the load began) and every site's
    first read, beside the main read and in the same request slots: the server works on
    them while main pages wait on the network. The sites are read once the main read has
    its first page, which says what the result set looked like before they began (no
    probe needed)."""
    listing = listing if listing is not None else _SiteList.read(plan, main.load)
    notes = listing.notes
    sites = listing.sites(plan.wanted_sites)
    if sites is None:
        return _Early(notes=notes)
    main.begun.wait()
    if main.failed.is_set():
        return _Early(sites, notes)  # the main read failed: its error is raised
    return _Early(sites, notes, main.first, plan.read_sites(sites.ids, main.load))


def _raise_first(failure: BaseException, early: Future[_Early] | None) -> None:
    """A failed site list fails the load's later requests ("not sent"): raise what
    failed first."""
    if early is None:
        return
    if not isinstance(failure, Exception):
        early.cancel()
    if early.done() and not early.cancelled():
        cause = early.exception()
        if cause is not None and cause is not failure and isinstance(failure, NetworkError):
            raise cause from None


def _report(plan: _Plan, main: _MainRead, assets_loaded: bool, started: datetime) -> dict[str, Any]:
    """The load report's own entries; the normalizer adds the pages' findings."""
    stats = main.load.stats
    report: dict[str, Any] = {
        "base_url": plan.client.base_url,
        "filters": {"status": plan.status, "scope": plan.scope, "asset_id": plan.asset_ids},
        "fetched_at": started.isoformat(),
        "passes": main.passes,
        "requests": stats.requests,
        "retries": stats.retries,
        "rate_limit_wait_s": round(stats.rate_limit_wait_s, 3),
        "assets_loaded": assets_loaded,
        "asset_reads": [],
    }
    if main.stopped:
        report["drift"] = [*main.first_reasons, *main.stopped]
    if main.writer is not None:
        report["raw_file"] = str(main.writer.path)
    return report


@dataclass
class _Sites:
    """The sites a load reads: the ``assets`` frame and their ids, in the API's order."""

    frame: pd.DataFrame
    ids: list[str]


@dataclass
class _SiteList:
    """``GET /v1/assets`` as a load reads it: the frame (None when the key may not read
    it) and the warnings it calls for, for the caller's thread to give."""

    frame: pd.DataFrame | None
    notes: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, plan: _Plan, load: LoadContext) -> _SiteList:
        """The site list, with the ``asset_id`` filter checked against it.

        Raises
        ------
        ArgumentError
            An ``asset_id`` filter value is not a known site: no incident can match it,
            and a load of nothing would replace a good export with an empty one.
        """
        try:
            with plan.client.read_asset_pages(load=load) as pages:
                frame = read_assets(pages)
        except AuthenticationError as exc:
            if exc.status_code != 403:
                raise
            return cls(None, _forbidden_notes(plan))
        known = set(frame["asset_id"].dropna())
        if plan.asset_ids:
            listed = f"the {len(known)} sites GET /v1/assets lists"
            check_known("asset_id", plan.asset_ids, known, listed)
        notes = []
        if isinstance(plan.wanted_sites, list):
            unknown = [v for v in plan.wanted_sites if v not in known]
            if unknown:
                shown = ", ".join(repr(v) for v in unknown[:10])
                notes.append(
                    f"{len(unknown)} site in assets= not among the {len(known)} sites "
                    f"GET /v1/assets lists: {shown}; no incident can match it"
                )
        return cls(frame, notes)

    def sites(self, wanted: list[str] | None | bool) -> _Sites | None:
        """The sites to read: every one listed, or those ``wanted``; None when sites are
        not loaded."""
        if self.frame is None or wanted is False:
            return None
        frame = self.frame
        if isinstance(wanted, list):
            frame = frame[frame["asset_id"].isin(wanted)].reset_index(drop=True)
        return _Sites(frame, [str(v) for v in frame["asset_id"]])


def _forbidden_notes(plan: _Plan) -> list[str]:
    """What a 403 on ``GET /v1/assets`` costs this load, in words."""
    costs = []
    if plan.wanted_sites is not False:
        costs.append(
            "incidents are loaded without sites (frames.assets and frames.incident_assets "
            "stay empty)"
        )
    if plan.asset_ids:
        costs.append("the asset_id filter values could not be checked against the site list")
    return ["The API key may not read GET /v1/assets (HTTP 403): " + "; ".join(costs)]


@dataclass
class _Early:
    """What ran beside the main read: the site list (and the warnings it calls for), the
    result set as the main read's first page saw it, every site's first read."""

    sites: _Sites | None = None
    notes: list[str] = field(default_factory=list)
    before: tuple[int, str | None] | None = None
    reads: dict[str, SiteRead] = field(default_factory=dict)


@dataclass
class _MainRead:
    """The main result set's reads (passes) into one normalizer."""

    read: Callable[[LoadContext], PageStream[Page]]
    load: LoadContext
    normalizer: Normalizer
    bar: ProgressBar | None
    raw_dir: str | Path | None
    started: datetime
    passes: int = 0
    clean: bool = False
    # Why the first read was not exact, and why reads ended early: the report's "drift".
    first_reasons: list[str] = field(default_factory=list, init=False)
    stopped: list[str] = field(default_factory=list, init=False)
    writer: JsonlWriter | None = field(default=None, init=False)
    # Set once the first page has arrived (or the read ended without one): what the
    # sites' first reads wait for (see _beside_main).
    begun: threading.Event = field(default_factory=threading.Event, init=False)
    # Set when the load failed: the sites waiting on ``begun`` are then not read.
    failed: threading.Event = field(default_factory=threading.Event, init=False)
    # The first page's total and first (newest) id: the result set when the sites'
    # reads began, as a probe would have seen it.
    first: tuple[int, str | None] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.raw_dir is not None:
            stamp = self.started.strftime("%Y%m%dT%H%M%S%fZ")
            try:
                self.writer = JsonlWriter(Path(self.raw_dir) / f"pages-{stamp}.jsonl")
            except BaseException:
                self.normalizer.close()  # its threads
                raise

    def read_first(self, retries: int) -> None:
        """The load's first reads (:meth:`read_until_clean`), telling the sites' reads
        that wait on ``begun`` whether they failed."""
        try:
            self.read_until_clean(retries)
        except BaseException:
            self.failed.set()
            raise
        finally:
            self.begun.set()  # also when the read ended without a page

    def read_until_clean(self, retries: int) -> bool:
        """Read the result set once more, then again (at most ``retries`` more times)
        until a read is exact; whether the last one was."""
        for attempt in range(retries + 1):
            pass_index = self.passes
            self.passes += 1
            if self.bar is not None:
                self.bar.reset(total=None)
                self.bar.set_description("fetching" if pass_index == 0 else "re-reading (drift)")
            with self.read(self.load) as stream:
                for page in stream:
                    self._add(dataclasses.replace(page, pass_index=pass_index))
            check = self.normalizer.check_pass(pass_index)
            # A read the paginator ended early (a result set growing ahead of it) holds
            # what it read, unproven: drift, as a read whose totals moved.
            self.stopped += [f"read {pass_index + 1} ended early: {why}" for why in stream.stopped]
            if pass_index == 0:
                self.first_reasons = check.reasons
            self.clean = check.clean and not stream.stopped
            if self.clean or attempt == retries:
                return self.clean
        return self.clean  # pragma: no cover - the loop always returns

    def _add(self, page: Page) -> None:
        if not self.begun.is_set():
            ids = page.ids()
            self.first = (page.total, ids[0] if ids else None)
            self.begun.set()
        if self.writer is not None:
            self.writer.write(page)
        self.normalizer.add(page)
        if self.bar is not None:
            self.bar.page(page)

    def ids(self) -> set[str]:
        """The ids of the last read."""
        return set(self.normalizer.check_pass(self.passes - 1).ids.to_pylist())

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


@dataclass
class _Membership:
    """What the site reads found, and how they were reconciled."""

    reads: dict[str, SiteRead]
    consistent: bool
    rounds: int = 0
    unknown_ids: int = 0
    reread_sites: list[str] = field(default_factory=list)


def _read_memberships(plan: _Plan, main: _MainRead, found: _Early) -> _Membership:
    """Reconcile every site's first read with the main read, re-reading (bounded) where
    they disagree or the data moved since."""
    assert found.sites is not None
    sites, reads, before = found.sites.ids, found.reads, found.before
    fresh: Sequence[str] = sites
    # With an asset_id filter, a site outside it rightly returns incidents the main read
    # does not hold; only the filtered sites' incidents must all be in it.
    bound = [s for s in sites if plan.asset_ids is None or s in plan.asset_ids]
    held = main.ids()
    outcome = _Membership(reads, consistent=True)
    while main.clean:
        unknown = {s: set(reads[s].ids) - held for s in bound}
        unknown = {s: ids for s, ids in unknown.items() if ids}
        outcome.unknown_ids += len(set().union(*unknown.values())) if unknown else 0
        # Drift shows as ids the main read lacks, a site read that had to be repeated,
        # or a result set that moved while the sites were read (they began before the
        # main read ended) or since (one small request each).
        moved = (
            any(reads[s].reads > 1 for s in fresh)
            or (before is not None and _moved(before, main))
            or _moved(plan.probe(main.load), main)
        )
        before = None  # later rounds read the sites after the main read
        if not unknown and not moved:
            break
        if outcome.rounds >= plan.reconcile_passes:
            outcome.consistent = False
            break
        outcome.rounds += 1
        # Read the main result set again, then the sites whose reads may be stale.
        if not main.read_until_clean(plan.reconcile_passes):
            break
        now = main.ids()
        # Sites read while the result set moved may miss or keep anything: read them all
        # again; else only those that returned incidents the main read lacked.
        fresh = sites if moved or now - held else list(unknown)
        held = now
        if fresh:
            reads.update(plan.read_sites(fresh, main.load, main.bar))
            outcome.reread_sites.extend(s for s in fresh if s not in outcome.reread_sites)
    return outcome


def _moved(probe: tuple[int, str | None], main: _MainRead) -> bool:
    """Whether the main read's result differs from what ``probe`` saw."""
    ids = main.normalizer.check_pass(main.passes - 1).ids
    newest = ids[0].as_py() if len(ids) else None
    return probe != (len(ids), newest)


def _attach_sites(frames: IncidentFrames, sites: _Sites, outcome: _Membership) -> None:
    """Put the sites and their incidents on the frames; complete the load report."""
    pairs, rows = incident_assets_frame(frames.incidents["incident_id"], sites.ids, outcome.reads)
    frames.assets = sites.frame
    frames.incident_assets = pairs
    report = frames.metadata
    report["asset_reads"] = [
        {"asset_id": s, "rows": rows[s], "complete": outcome.reads[s].complete} for s in sites.ids
    ]
    incomplete = [s for s in sites.ids if not outcome.reads[s].complete]
    if outcome.rounds or not outcome.consistent:
        report["asset_drift"] = {
            "unknown_ids": outcome.unknown_ids,
            "main_rereads": outcome.rounds,
            "reread_sites": outcome.reread_sites,
            "consistent": outcome.consistent,
        }
        report["drift_detected"] = True
    problems = []
    if incomplete:
        reasons = "; ".join(f"{s}: {', '.join(outcome.reads[s].reasons)}" for s in incomplete[:3])
        problems.append(f"{len(incomplete)} site reads could not be proven exact ({reasons})")
    if not outcome.consistent:
        problems.append(
            "site reads returned incidents the main read does not hold, and re-reading "
            "did not settle it"
        )
    if problems and report["complete"]:
        report["complete"] = False
        warnings.warn(
            "The load could not prove which incidents touch each site: "
            + "; ".join(problems)
            + ". See frames.metadata['asset_reads'].",
            CompletenessWarning,
            stacklevel=3,
        )
    # Reconciled: drift was found and the load still ended exact, sites included.
    report["reconciled"] = bool(report["drift_detected"] and report["complete"])


def frames_from_pages(
    pages: Iterable[Page | Mapping[str, Any] | bytes | str], *, workers: int | None = None
) -> IncidentFrames:
    """Normalize pages of ``GET /v1/incidents`` into the three tidy frames.

    Parameters
    ----------
    pages
        :class:`~intrace_analytics.api._pages.Page` objects (their raw ``body`` is used), decoded
        bodies (dicts), or raw bodies (bytes or str), in offset order. A generator is
        consumed one page at a time.
    workers
        How many threads parse pages (1 to 32); by default one per core this process
        may use, at most 32 (:func:`~intrace_analytics.frames._merge.parse_workers`).

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
    >>> body = (
    ...     b'{"incidents": [{"id": "i1", "title": "Unrest", "status": "Open",'
    ...     b' "scope": "aggregate", "createdAt": "2026-04-18T09:00:00Z",'
    ...     b' "updatedAt": "2026-04-18T11:20:00+01:00", "threatLinks": []}], "total": 1}'
    ... )
    >>> frames = frames_from_pages([body])
    >>> frames.incidents[["incident_id", "status", "threat_count"]]
      incident_id status  threat_count
    0          i1   open             0
    """
    normalizer = Normalizer(workers)
    for page in pages:
        normalizer.add(page)
    return normalizer.finish()
