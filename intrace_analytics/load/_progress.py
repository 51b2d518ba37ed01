"""The progress bar of a load: rows of total, pages, retries, sites, and what the load
waits for while it waits (a rate limit, a retry's backoff, a slow server). tqdm is
imported only when a bar is made.

While a bar is shown, log records that would go to the console go through the bar's
writer (tqdm's ``logging_redirect_tqdm``), above the bar instead of through it, and
retries are counted in the bar's status instead of a line each.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from intrace_analytics.api._pages import Page
    from intrace_analytics.api._retry import LoadStats
    from intrace_analytics.load._sites import SiteRead

__all__ = ["ProgressBar", "progress_bar"]


class ProgressBar:
    """A tqdm bar: rows of total, pages, and what the load waits for while it waits.

    tqdm redraws only when the count moves, so during a wait (a rate limit, the backoff
    before a retry, a server slow to answer) its clock would stop and a "waiting" note
    would be overwritten by the next redraw. A small thread redraws the bar every
    ``tick`` seconds instead, and the note is part of the state every redraw shows:
    "waiting 3 s (rate limited)" counting down, "waiting 1 s (retry after an error)",
    or "waiting for the server (12 s)" once no response has come for ``slow`` seconds.
    """

    def __init__(self, file: Any = None, *, tick: float = 0.5, slow: float = 2.0) -> None:
        from tqdm.auto import tqdm
        from tqdm.contrib.logging import logging_redirect_tqdm

        self._bar = tqdm(
            total=None, unit=" rows", desc="fetching", file=file or sys.stderr, leave=True
        )
        self._logging = contextlib.ExitStack()
        if _logs_to_console():
            # tqdm's redirect adds a console handler when there was none: only where the
            # application has one (a CLI that configured no logging prints no records).
            self._logging.enter_context(logging_redirect_tqdm(tqdm_class=type(self._bar)))
        self._stats: LoadStats | None = None
        self._pages = 0
        self._slow = slow
        self._lock = threading.Lock()
        self._activity = time.monotonic()  # the last response (or the start)
        self._wait: tuple[float, str] | None = None  # (until, reason)
        self._stop = threading.Event()
        self._ticker = threading.Thread(
            target=self._tick, args=(tick,), name="intrace-progress", daemon=True
        )
        self._ticker.start()

    def reset(self, total: int | None, unit: str = " rows") -> None:
        with self._lock:
            self._bar.unit = unit
            self._bar.reset(total=total)
            self._pages = 0
            self._activity = time.monotonic()
            self._show()

    def site(self, read: SiteRead) -> None:
        with self._lock:
            self._activity = time.monotonic()
            self._bar.set_postfix_str(f"{read.asset_id}: {len(read.ids)} incidents", refresh=False)
            self._bar.update(1)

    def set_description(self, text: str) -> None:
        with self._lock:
            self._bar.set_description_str(text)

    def page(self, page: Page) -> None:
        with self._lock:
            self._pages += 1
            self._activity = time.monotonic()
            if self._bar.total != page.total:
                self._bar.total = page.total
            self._show(refresh=False)
            self._bar.update(page.count())

    def count_retries(self, stats: LoadStats) -> None:
        """Show ``stats.retries`` (the load's retries so far) in the bar's status."""
        self._stats = stats

    def waiting(self, seconds: float, reason: str) -> None:
        """The load is about to sleep ``seconds`` (called from any worker thread)."""
        until = time.monotonic() + seconds
        with self._lock:
            if self._wait is None or until > self._wait[0]:
                self._wait = (until, reason)
            self._show()

    def close(self, *, clear: bool = False) -> None:
        """Stop redrawing; ``clear`` removes the bar (a failure's message follows)."""
        self._stop.set()
        self._ticker.join()
        with self._lock:
            if clear:
                self._bar.leave = False
            else:
                self._wait = None
                self._activity = time.monotonic()
                self._show(refresh=False)
            self._bar.close()
        self._logging.close()

    def _note(self) -> str:
        now = time.monotonic()
        if self._wait is not None:
            until, reason = self._wait
            if now < until:
                return f"waiting {math.ceil(until - now)} s ({reason})"
            self._wait = None
            self._activity = max(self._activity, until)  # the wait is over: a request left
        if now - self._activity >= self._slow:
            return f"waiting for the server ({int(now - self._activity)} s)"
        return ""

    def _show(self, *, refresh: bool = True) -> None:
        note = self._note()
        pages = f"{self._pages} pages" if self._bar.unit == " rows" else ""
        count = self._stats.retries if self._stats is not None else 0
        retries = f"{count} retr{'y' if count == 1 else 'ies'}" if count else ""
        text = ", ".join(part for part in (pages, retries, note) if part)
        if text or self._bar.unit == " rows":
            self._bar.set_postfix_str(text, refresh=refresh)
        elif refresh:
            self._bar.refresh()

    def _tick(self, interval: float) -> None:
        while not self._stop.wait(interval):
            with self._lock:
                self._show()


def _logs_to_console() -> bool:
    """Whether the root logger has a handler writing to the console (stderr or stdout)."""
    return any(
        isinstance(handler, logging.StreamHandler) and handler.stream in (sys.stderr, sys.stdout)
        for handler in logging.root.handlers
    )


def progress_bar(progress: bool | None) -> ProgressBar | None:
    """A bar if ``progress``; ``None`` (the default): only in a terminal or a notebook."""
    if progress is None:
        progress = sys.stderr.isatty() or _in_notebook()
    return ProgressBar() if progress else None


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    get = getattr(shell, "get_ipython", None)
    return get is not None and type(get()).__name__ == "ZMQInteractiveShell"
