"""What every analysis module shares: the ``by=`` and column checks, group numbers, id
lookups, and the two rules about an incident's times, each written once.

- :func:`start_times`: when an incident started (``started_at``, else ``created_at``);
- :func:`started_by`: whether it had started by an as-of time, by that rule: an as-of
  is a moment, and an incident that started after it did not exist yet then;
- :func:`ended_without_time`: an incident whose status says it ended, but not when.

``start_times`` and ``ended_without_time`` are defined (and their examples given) in
:mod:`intrace_analytics.frames._quality`, re-exported here. The report and the figures
take these from here too (the start rule, the ``by=`` check), so "started" means one
thing, and a bad ``by=`` one error, wherever the package uses them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from intrace_analytics._util.checks import check_columns, fail

# The start rule and the end-without-time rule are written once, beside the data-quality
# checks that use them (a load counts those findings, and may not import analysis).
from intrace_analytics.frames._quality import (
    ENDED,
    STARTS,
    arrow,
    ended_without_time,
    positions,
    start_times,
)

__all__ = [
    "ENDED",
    "STARTS",
    "arrow",
    "by_list",
    "ended_without_time",
    "positions",
    "start_times",
    "started_by",
]


def started_by(incidents: pd.DataFrame, as_of: pd.Timestamp) -> np.ndarray:
    """True where the incident had started by ``as_of`` (:func:`start_times`, the one
    start rule, whatever clock a duration is measured from).

    An incident without any start time is kept: nothing says it did not exist yet, and
    the analyses count it (and leave it out of their estimates).

    >>> incidents = pd.DataFrame({
    ...     "started_at": [pd.Timestamp("2026-01-01", tz="UTC"), pd.NaT, pd.NaT],
    ...     "created_at": [pd.Timestamp("2026-03-01", tz="UTC"), pd.NaT,
    ...                    pd.Timestamp("2026-03-01", tz="UTC")],
    ... })
    >>> started_by(incidents, pd.Timestamp("2026-02-01", tz="UTC")).tolist()
    [True, True, False]
    """
    begin = start_times(incidents)
    return (begin.isna() | (begin <= as_of)).to_numpy(dtype=bool)


def by_list(by: str | Sequence[str] | None, frame: pd.DataFrame) -> list[str]:
    """``by`` as a list of column names of ``frame`` (empty for None)."""
    if by is None:
        return []
    columns = [by] if isinstance(by, str) else list(by)
    if not all(isinstance(c, str) for c in columns):
        raise fail("by", "None, a column name or a list of them", by)
    return check_columns("by", columns, list(frame.columns))


def require(name: str, frame: pd.DataFrame, columns: Sequence[str]) -> None:
    """Fail unless the frame passed as ``name`` has these columns."""
    check_columns(name, columns, list(frame.columns))


def group_ids(frame: pd.DataFrame, by: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Per row the group number (groups sorted), and the key columns of each group."""
    if not by:
        return np.zeros(len(frame), dtype=np.intp), pd.DataFrame(index=pd.RangeIndex(1))
    gid = frame.groupby(by, observed=True, dropna=False, sort=True).ngroup().to_numpy()
    gid = gid.astype(np.intp)
    first = np.full(int(gid.max()) + 1 if len(gid) else 0, len(gid), dtype=np.intp)
    np.minimum.at(first, gid, np.arange(len(gid), dtype=np.intp))
    keys = frame[by].iloc[first].reset_index(drop=True)
    return gid, keys
