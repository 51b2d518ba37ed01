"""The one clock: every "now" the package reads comes from :func:`utc_now`.

Reading time in one place keeps the load report, page provenance and the analyses'
default ``as_of`` in agreement, and gives tests one thing to reason about.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from intrace_analytics._util.checks import fail

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["as_of", "utc_now"]


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC (read at call time, never at import)."""
    return datetime.now(UTC)


def as_of(value: Any = None) -> pd.Timestamp:
    """The time open incidents are censored at, as a UTC timestamp.

    ``None`` is the current time (read now, from :func:`utc_now`); a naive value is taken
    as UTC; anything that is not a timestamp raises ``ValueError`` naming ``as_of``.

    >>> as_of("2026-10-01")
    Timestamp('2026-10-01 00:00:00+0000', tz='UTC')
    """
    import pandas as pd  # here, so that reading the clock alone does not import pandas

    if value is None:
        return pd.Timestamp(utc_now())
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise fail("as_of", "None or a timestamp (str, datetime, pandas.Timestamp)", value) from exc
    if pd.isna(stamp):
        raise fail("as_of", "None or a timestamp", value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
