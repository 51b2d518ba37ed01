"""The one formatter: every number, duration and time the package shows, one way each.

The HTML report, the text summary and the command line print through these functions,
and the figures label their ticks and legends through :func:`label`, so a quantity reads
the same wherever it appears (never ``44.5 h`` in one place and ``1 d 20 h`` in another),
and a missing value is :data:`MISSING` everywhere. One function per meaning:

=============  ==========================  ==========================================
meaning        function                    example
=============  ==========================  ==========================================
duration       :func:`duration`            ``1 d 18 h``, ``5 h 3 min``, ``< 1 min``,
                                           ``not reached`` (NaT)
interval       :func:`interval`            ``1 d 16 h to 1 d 22 h``, ``not reached``
share          :func:`share`               ``12.5 %``
count          :func:`count`               ``1,234``
seconds        :func:`seconds`             ``0.3 s`` (an elapsed or waited time)
timestamp      :func:`timestamp`           ``2026-10-01 00:00 UTC``
label          :func:`label`               ``(missing)`` for a missing value
any cell       :func:`cell`                the above chosen by the value's type
a whole table  :func:`readable`            a result frame as text, for a notebook
=============  ==========================  ==========================================

>>> duration(pd.Timedelta(hours=30))
'1 d 6 h'
>>> share(0.125), count(1234), timestamp("2026-10-01T02:00:00+02:00")
('12.5 %', '1,234', '2026-10-01 00:00 UTC')
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pandas as pd

__all__ = [
    "MISSING",
    "NONE",
    "NOT_REACHED",
    "NO_INCIDENTS",
    "cell",
    "count",
    "duration",
    "interval",
    "label",
    "readable",
    "seconds",
    "share",
    "timestamp",
]

#: A missing value (``None``, ``NA``, ``NaN``, ``NaT``) in a label or a table cell.
MISSING = "(missing)"
#: A duration the estimate never reaches (a Kaplan-Meier quantile that is ``NaT``).
NOT_REACHED = "not reached"
#: An empty list or mapping.
NONE = "none"
#: A statistic of a group that holds no incident (never "not reached": nothing was there).
NO_INCIDENTS = "no incidents"


def _missing(value: Any) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):  # a container: not a missing scalar
        return False


def duration(value: Any) -> str:
    """A duration in its two largest units, rounded to the minute.

    Parameters
    ----------
    value : Timedelta, numpy.timedelta64, datetime.timedelta or None
        The duration; ``NaT`` or ``None`` means a time the estimate never reaches.

    Returns
    -------
    str
        ``"1 d 18 h"`` from a day up (minutes dropped), ``"5 h 3 min"`` from an hour,
        ``"12 min"``, ``"< 1 min"`` below half a minute, with a leading ``-`` when
        negative; :data:`NOT_REACHED` for ``NaT``.

    Examples
    --------
    >>> duration(pd.Timedelta(days=1, hours=18, minutes=40))
    '1 d 18 h'
    >>> duration(pd.Timedelta(minutes=-303)), duration(pd.Timedelta(seconds=0.3))
    ('-5 h 3 min', '< 1 min')
    >>> duration(pd.NaT)
    'not reached'
    """
    if _missing(value):
        return NOT_REACHED
    total = pd.Timedelta(value).total_seconds()
    sign = "-" if total < 0 else ""
    minutes = round(abs(total) / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        text = f"{days:,} d {hours} h"
    elif hours:
        text = f"{hours} h {mins} min"
    elif mins:
        text = f"{mins} min"
    else:
        return "< 1 min"
    return sign + text


def interval(low: Any, high: Any) -> str:
    """A confidence interval of durations, each end as :func:`duration`.

    Parameters
    ----------
    low, high : Timedelta or None
        The interval's ends; ``NaT`` is an end the estimate never reaches.

    Returns
    -------
    str
        ``"1 d 16 h to 1 d 22 h"``; ``"1 d 16 h to not reached"`` without an upper
        end; :data:`NOT_REACHED` once (never ``"not reached to not reached"``) when
        neither end is reached.

    Examples
    --------
    >>> interval(pd.Timedelta(hours=40), pd.Timedelta(hours=46))
    '1 d 16 h to 1 d 22 h'
    >>> interval(pd.NaT, None)
    'not reached'
    """
    if _missing(low) and _missing(high):
        return NOT_REACHED
    return f"{duration(low)} to {duration(high)}"


def share(value: Any) -> str:
    """A fraction of a whole as a percentage with one decimal.

    Parameters
    ----------
    value : float
        The share, 1.0 being the whole.

    Returns
    -------
    str
        ``"12.5 %"``; :data:`MISSING` for ``NaN``.

    Examples
    --------
    >>> share(0.125), share(1), share(0)
    ('12.5 %', '100.0 %', '0.0 %')
    """
    if _missing(value):
        return MISSING
    return f"{100 * float(value):.1f} %"


def count(value: Any) -> str:
    """A whole number with thousands separators.

    Parameters
    ----------
    value : int
        The count (a Python or numpy integer, or a float that holds one).

    Returns
    -------
    str
        ``"1,234"``; :data:`MISSING` for a missing value.

    Examples
    --------
    >>> count(1234567), count(0)
    ('1,234,567', '0')
    """
    if _missing(value):
        return MISSING
    return f"{int(value):,}"


def seconds(value: Any) -> str:
    """An elapsed or waited time in seconds, with one decimal.

    Parameters
    ----------
    value : float
        Seconds.

    Returns
    -------
    str
        ``"0.3 s"``, ``"1,234.5 s"``; :data:`MISSING` for ``NaN``.

    Examples
    --------
    >>> seconds(0.3), seconds(12)
    ('0.3 s', '12.0 s')
    """
    if _missing(value):
        return MISSING
    return f"{float(value):,.1f} s"


def timestamp(value: Any) -> str:
    """A point in time, in UTC, to the minute.

    Parameters
    ----------
    value : Timestamp, datetime or str
        The time; a naive value is taken as UTC, an aware one converted to UTC.

    Returns
    -------
    str
        ``"2026-10-01 00:00 UTC"``; text that is not a timestamp is returned as it is;
        :data:`MISSING` for ``NaT`` or ``None``.

    Examples
    --------
    >>> timestamp("2026-10-01T12:34:56+00:00")
    '2026-10-01 12:34 UTC'
    >>> timestamp("yesterday-ish")
    'yesterday-ish'
    """
    if _missing(value):
        return MISSING
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        return str(value)
    if pd.isna(stamp):
        return MISSING
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.strftime("%Y-%m-%d %H:%M UTC")


def label(value: Any) -> str:
    """A category or free-text value as it is, or :data:`MISSING` when missing: a table
    cell, a tick or a legend entry.

    Examples
    --------
    >>> label("critical"), label(None)
    ('critical', '(missing)')
    """
    return MISSING if _missing(value) else str(value)


def cell(value: Any) -> str:
    """A value of no declared meaning (a load-report entry, a table cell) by its type.

    Parameters
    ----------
    value : Any
        A scalar, a numpy or pandas scalar, a list, an array or a mapping.

    Returns
    -------
    str
        Missing values :data:`MISSING`; ``Timedelta`` as :func:`duration`; timestamps
        as :func:`timestamp`; integers as :func:`count`; booleans ``yes``/``no``; other
        floats with two decimals; lists and arrays joined with ``", "`` and mappings as
        ``name=value`` joined with ``"; "`` (:data:`NONE` when empty); anything else
        as ``str``. A share or a number of seconds has no type of its own: format
        those with :func:`share` or :func:`seconds`.

    Examples
    --------
    >>> cell({"status": "open", "asset_id": ["a", "b"]})
    'status=open; asset_id=a, b'
    >>> cell(True), cell(12345), cell(pd.NaT)
    ('yes', '12,345', '(missing)')
    """
    if isinstance(value, Mapping):
        return "; ".join(f"{name}={cell(item)}" for name, item in value.items()) or NONE
    if isinstance(value, list | tuple):
        return ", ".join(cell(item) for item in value) or NONE
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()  # numpy scalars and arrays to Python values
        if isinstance(value, list):
            return ", ".join(cell(item) for item in value) or NONE
    if _missing(value):
        return MISSING
    if isinstance(value, pd.Timedelta):
        return duration(value)
    if isinstance(value, pd.Timestamp | datetime):
        return timestamp(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return count(value)
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of an analysis result with every cell as the report and summary print it.

    For a notebook's displayed table: durations (``Timedelta`` columns) through
    :func:`duration`, a column named ``share`` through :func:`share`, whole numbers
    through :func:`count`, timestamps through :func:`timestamp`, everything else through
    :func:`label`. The frame's values are untouched (this is text for reading, not for
    computing); column names and the index stay.

    Parameters
    ----------
    frame : pandas.DataFrame
        A tidy result (``resolution_summary``, ``status_breakdown``, ``asset_exposure``...).

    Returns
    -------
    pandas.DataFrame
        The same shape, every column of text.

    Examples
    --------
    >>> readable(pd.DataFrame({"status": ["open"], "count": [1234], "share": [0.125],
    ...                        "km_median": [pd.Timedelta(hours=30)]}))
      status  count   share km_median
    0   open  1,234  12.5 %   1 d 6 h
    """
    out = {}
    for name, values in frame.items():
        dtype = values.dtype
        if pd.api.types.is_timedelta64_dtype(dtype):
            show = duration
        elif name == "share":
            show = share
        elif pd.api.types.is_integer_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            show = count
        elif isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype):
            show = timestamp
        else:
            show = label
        out[name] = [show(value) for value in values.astype(object)]
    return pd.DataFrame(out, index=frame.index, columns=frame.columns)
