"""Argument checks: one way to say which parameter is wrong, its value and what is allowed.

Every public function validates its arguments through these helpers before it does any
work (before a request is sent or a file is touched), so every message has one shape::

    status must be one of 'open', 'closed', 'resolved'; got 'opne'

(the idea of seaborn's ``_check_argument``).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Collection, Iterable, Sequence
from typing import Any

__all__ = [
    "ArgumentError",
    "check_choice",
    "check_columns",
    "check_int",
    "check_known",
    "check_number",
    "fail",
]


class ArgumentError(ValueError):
    """A value the caller gave is not allowed: a ``ValueError`` raised before any work,
    which the command line reports as a usage error (exit 2)."""


def fail(name: str, expected: str, value: object) -> ArgumentError:
    """The one message shape: ``{name} must be {expected}; got {value!r}``."""
    return ArgumentError(f"{name} must be {expected}; got {value!r}")


def check_choice(name: str, value: Any, allowed: Sequence[Any], *, fold: bool = False) -> Any:
    """``value`` if it is one of ``allowed``, else ``ValueError`` naming all three.

    With ``fold=True`` a string is stripped and case-folded first (``" Open"`` is
    ``"open"``), and the folded value is returned.
    """
    candidate = value.strip().casefold() if fold and isinstance(value, str) else value
    try:
        if candidate in allowed:
            return candidate
    except TypeError:  # an unhashable value against a set
        pass
    raise fail(name, f"one of {', '.join(map(repr, allowed))}", value)


def check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    """An integer (not a bool) from ``low`` to ``high`` (no upper bound when None)."""
    too_high = high is not None and isinstance(value, int) and value > high
    if isinstance(value, bool) or not isinstance(value, int) or value < low or too_high:
        limits = f"from {low} to {high}" if high is not None else f">= {low}"
        expected = f"an integer {limits}"
        raise fail(name, expected, value)
    return value


def check_number(name: str, value: object, *, positive: bool = False, unit: str = "") -> float:
    """A finite, non-negative number (positive when asked); ``unit`` only words the error."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (positive and value == 0)
    ):
        bound = "a positive" if positive else "a non-negative"
        raise fail(name, f"{bound} number{' of ' + unit if unit else ''}", value)
    return float(value)


def check_columns(name: str, columns: Iterable[str], available: Sequence[str]) -> list[str]:
    """``columns`` as a list if every one is in ``available``."""
    wanted = list(columns)
    missing = [c for c in wanted if c not in available]
    if missing:
        raise fail(name, f"columns of the frame ({', '.join(map(repr, available))})", missing)
    return wanted


def check_known(name: str, values: Iterable[str], known: Collection[str], what: str) -> None:
    """``ValueError`` unless every one of ``values`` is in ``known``: the message names
    ``name``, the first unknown value and the closest known ones, as a typo's fix.

    ``what`` words the known set (``"the 12 sites GET /v1/assets lists"``).

    >>> try:
    ...     check_known("asset_id", ["lagos-hqq"], {"lagos-hq", "abuja"}, "the sites")
    ... except ValueError as exc:
    ...     print(exc)
    asset_id must be one of the sites; got 'lagos-hqq' (closest: 'lagos-hq')
    """
    unknown = [v for v in values if v not in known]
    if not unknown:
        return
    closest = difflib.get_close_matches(unknown[0], sorted(known), n=3, cutoff=0.5)
    hint = ", ".join(map(repr, closest)) if closest else "none close"
    others = f" ({len(unknown) - 1} more unknown)" if len(unknown) > 1 else ""
    raise ArgumentError(f"{fail(name, f'one of {what}', unknown[0])} (closest: {hint}){others}")
