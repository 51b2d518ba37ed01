"""A whole load: fetch every page, normalize as pages arrive, prove completeness.

Offset pagination over live data can skip or repeat rows when incidents are created or
deleted mid-load. :func:`load_incidents` reads the result set, lets the
:class:`~intrace_analytics.merge.Normalizer` check the read was exact, re-reads
(bounded) when it was not, and records a load report in ``frames.metadata``.
:func:`frames_from_pages` is the same normalization offline, over pages already at hand.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from intrace_analytics.client import IntraceClient, PageStream
from intrace_analytics.clock import utc_now
from intrace_analytics.frames import IncidentFrames
from intrace_analytics.merge import Normalizer
from intrace_analytics.pages import JsonlWriter, Page

__all__ = ["frames_from_pages", "load_incidents"]


def load_incidents(
    client: IntraceClient | None = None,
    *,
    status: str | None = None,
    scope: str | None = None,
    asset_id: str | Iterable[str] | None = None,
    progress: bool | None = None,
    raw_dir: str | Path | None = None,
    reconcile_passes: int = 2,
) -> IncidentFrames:
    """Fetch every matching incident and return the three tidy frames, proven complete.

    Parameters
    ----------
    client
        The client to use; by default one configured from ``INTRACE_API_KEY`` and
        ``INTRACE_BASE_URL``.
    status, scope, asset_id
        Filters, as in :meth:`IntraceClient.iter_incident_pages`.
    progress
        Show a progress bar on stderr: ``None`` (default) only in a terminal or a notebook.
    raw_dir
        Keep every page received as JSON Lines in this directory (``pages-<time>.jsonl``),
        replayable with ``frames_from_pages(read_jsonl(path))``.
    reconcile_passes
        How many times to re-read the result set after drift (rows inserted or deleted
        while it was read), at most.

    Returns
    -------
    IncidentFrames
        With ``metadata``, the load report: filters, base_url, fetched_at, pages, requests,
        retries, rate_limit_wait_s, total_reported, rows, duplicates_dropped,
        drift_detected, reconciled, complete (and more detail).

    Warns
    -----
    CompletenessWarning
        The load could not prove it holds every matching incident exactly once
        (``metadata["complete"]`` is then False).

    Examples
    --------
    >>> from intrace_analytics.sandbox import SandboxServer
    >>> with SandboxServer(incidents=300) as api:
    ...     client = IntraceClient(api.api_key, base_url=api.url)
    ...     frames = load_incidents(client, status="open", progress=False)
    >>> frames.metadata["complete"]
    True
    """
    client = client if client is not None else IntraceClient()
    # A generator of ids would be spent by the first read: hold them, once.
    asset_ids: list[str] | None = None
    if asset_id is not None:
        asset_ids = [asset_id] if isinstance(asset_id, str) else list(asset_id)

    def read(on_wait: Callable[[float, str], None] | None = None) -> PageStream:
        return client.iter_incident_pages(
            status=status, scope=scope, asset_id=asset_ids, on_wait=on_wait
        )

    read().close()  # validates the filters (ValueError) before anything is sent or written
    started = utc_now()
    writer = None
    if raw_dir is not None:
        stamp = started.strftime("%Y%m%dT%H%M%S%fZ")
        writer = JsonlWriter(Path(raw_dir) / f"pages-{stamp}.jsonl")
    normalizer = Normalizer()
    totals = {"requests": 0, "retries": 0, "rate_limit_wait_s": 0.0}
    bar = _progress_bar(progress)
    passes = 0
    try:
        for pass_index in range(reconcile_passes + 1):
            passes += 1
            if bar is not None:
                bar.reset(total=None)
                bar.set_description("fetching" if pass_index == 0 else "re-reading (drift)")
            stream = read(bar.waiting if bar is not None else None)
            try:
                for page in stream:
                    if pass_index:
                        page = replace(page, pass_index=pass_index)
                    if writer is not None:
                        writer.write(page)
                    normalizer.add(page)
                    if bar is not None:
                        bar.page(page)
            finally:
                stream.close()
                for name in totals:
                    totals[name] += getattr(stream.stats, name)
            if normalizer.check_pass(pass_index).clean:
                break
    except BaseException:
        normalizer.close()
        raise
    finally:
        if writer is not None:
            writer.close()
        if bar is not None:
            bar.close()
    report = {
        "base_url": client.base_url,
        "filters": {"status": status, "scope": scope, "asset_id": asset_ids},
        "fetched_at": started.isoformat(),
        "passes": passes,
        **totals,
        "rate_limit_wait_s": round(totals["rate_limit_wait_s"], 3),
    }
    if writer is not None:
        report["raw_file"] = str(writer.path)
    # Warns CompletenessWarning when no read was exact.
    return normalizer.finish(report)


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


class _ProgressBar:
    """A tqdm bar: rows of total, pages, and "waiting 3 s (rate limited)" during a wait."""

    def __init__(self) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(total=None, unit=" rows", desc="fetching", file=sys.stderr)
        self._pages = 0

    def reset(self, total: int | None) -> None:
        self._bar.reset(total=total)
        self._pages = 0

    def set_description(self, text: str) -> None:
        self._bar.set_description(text)

    def page(self, page: Page) -> None:
        self._pages += 1
        if self._bar.total != page.total:
            self._bar.total = page.total
        self._bar.set_postfix_str(f"{self._pages} pages", refresh=False)
        self._bar.update(len(page.incidents))

    def waiting(self, seconds: float, reason: str) -> None:
        if seconds >= 0.5:
            self._bar.set_postfix_str(f"{self._pages} pages, waiting {seconds:.0f} s ({reason})")

    def close(self) -> None:
        self._bar.close()


def _progress_bar(progress: bool | None) -> _ProgressBar | None:
    if progress is None:
        progress = sys.stderr.isatty() or _in_notebook()
    return _ProgressBar() if progress else None


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    get = getattr(shell, "get_ipython", None)
    return get is not None and type(get()).__name__ == "ZMQInteractiveShell"
