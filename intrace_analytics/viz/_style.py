"""How every figure looks, defined once: the severity order and its one sequential
palette (lighter to darker, readable in greyscale and by colour-blind readers), the
Okabe & Ito (2008) colours for statuses and groups, how ``by=`` groups are ordered,
capped and coloured, threat types in words, and labels shown literally (never parsed as
mathtext).
:mod:`~intrace_analytics.viz._plots` and :mod:`~intrace_analytics.viz._maps` draw with it.

>>> SEVERITY_ORDER
('low', 'medium', 'high', 'critical')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes

from intrace_analytics._util import format as fmt
from intrace_analytics.frames._schema import SEVERITIES, STATUSES

__all__ = [
    "CENSORED_LABEL",
    "GROUP_COLORS",
    "KM_LABEL",
    "MAX_BANDS",
    "MAX_GROUPS",
    "NAIVE_LABEL",
    "OTHER_COLOR",
    "SEVERITY_COLORS",
    "SEVERITY_ORDER",
    "STATUS_COLORS",
    "UNKNOWN_COLOR",
]

#: Severity levels, lowest first: the order of every bar, stack and legend.
SEVERITY_ORDER: tuple[str, ...] = SEVERITIES

#: matplotlib's ``inferno`` at 0.85, 0.60, 0.38 and 0.10: a perceptually uniform
#: sequential map whose lightness falls steadily (CIE L* about 80, 54, 34, 6), so the
#: levels keep their order and stay apart in greyscale and under every common colour
#: vision deficiency, which change hue but keep lightness. The lightest, amber, still
#: stands out on white.
SEVERITY_COLORS: dict[str, str] = {
    "low": "#FBBE23",  # amber
    "medium": "#DD513A",  # red-orange
    "high": "#8C2369",  # plum
    "critical": "#160B39",  # near-black indigo
}

#: Okabe-Ito colours per incident status.
STATUS_COLORS: dict[str, str] = {
    "open": "#E69F00",  # orange
    "closed": "#0072B2",  # blue
    "resolved": "#009E73",  # bluish green
}

#: Unknown labels and missing values, everywhere.
UNKNOWN_COLOR = "#999999"

#: Okabe-Ito colours for groups (``by=``), in turn.
GROUP_COLORS: tuple[str, ...] = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#F0E442",
    "#000000",
)

#: A group that pools the smallest groups when there are more than :data:`MAX_GROUPS`.
OTHER_COLOR = "#555555"

#: The most groups a ``by=`` plot shows one by one: beyond it the largest
#: ``MAX_GROUPS - 1`` (by incidents) stay and the rest are pooled into one "other (N
#: groups)" (missing stays a group of its own, last). Enough for every severity, status
#: or scope; a legend or axis of more entries stops being readable.
MAX_GROUPS = 8

#: :func:`plot_resolution_times` shades each curve's confidence band only up to this
#: many groups: more bands overlap into an unreadable mush.
MAX_BANDS = 3

#: Legend entries of :func:`plot_resolution_times` (with an en dash, as in print).
KM_LABEL = "Kaplan\u2013Meier (unresolved counted)"
NAIVE_LABEL = "naive (resolved only)"
CENSORED_LABEL = "unresolved at as-of (censored)"

assert set(SEVERITY_COLORS) == set(SEVERITY_ORDER)
assert set(STATUS_COLORS) == set(STATUSES)


def severity_color(label: str) -> str:
    """A severity label's colour: :data:`SEVERITY_COLORS`, grey for any other label."""
    return SEVERITY_COLORS.get(label, UNKNOWN_COLOR)


def literal(text: object) -> str:
    """``text`` escaped so matplotlib shows it as written, never as mathtext."""
    return str(text).replace("$", r"\$")


def labels(values: Any) -> list[str]:
    """Data values as labels, a missing one as :data:`~intrace_analytics._util.format.MISSING`."""
    return [fmt.label(v) for v in pd.Series(values).astype(object)]


def group_labels(frame: pd.DataFrame, by: list[str]) -> list[str]:
    """One label per row: the values of the ``by`` columns, joined with " / "."""
    if not by:
        return [""] * len(frame)
    columns = [labels(frame[name]) for name in by]
    return [" / ".join(values) for values in zip(*columns, strict=True)]


def is_severity(frame: pd.DataFrame, by: list[str]) -> bool:
    """Whether ``by`` is one severity column (``severity``, ``max_severity``, or any
    categorical whose categories hold every severity level)."""
    if len(by) != 1 or by[0] not in frame.columns:
        return False
    dtype = frame[by[0]].dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return set(SEVERITY_ORDER) <= {str(c) for c in dtype.categories}
    return str(by[0]).endswith("severity")


def _column_order(values: pd.Series, *, severity: bool) -> dict[str, int]:
    """Each label of one column's values and its place: a categorical's categories in
    their order (severity: low to critical, then labels outside the scale, as in
    :func:`plot_severity`), other values sorted, missing last."""
    observed = list(dict.fromkeys(labels(values)))
    if severity:
        known: Sequence[str] = SEVERITY_ORDER
    elif isinstance(values.dtype, pd.CategoricalDtype):
        known = [str(c) for c in values.dtype.categories]
    else:
        known = []
    present = set(observed)
    shown = [label for label in ordered(observed, known) if label in present]
    return {label: i for i, label in enumerate(shown)}


def group_order(frame: pd.DataFrame, by: list[str]) -> list[str]:
    """The groups of ``by`` present in ``frame`` (labels as :func:`group_labels`), in
    category order: by the first column's order, then the next's."""
    if not by or not len(frame):
        return []
    severity = is_severity(frame, by)
    places = [_column_order(frame[name], severity=severity) for name in by]
    columns = [labels(frame[name]) for name in by]
    combos = dict.fromkeys(zip(*columns, strict=True))
    ranked = sorted(combos, key=lambda combo: [p[v] for p, v in zip(places, combo, strict=True)])
    return [" / ".join(combo) for combo in ranked]


def cap_groups(order: list[str], sizes: pd.Series) -> tuple[list[str], dict[str, str]]:
    """At most :data:`MAX_GROUPS` groups: the largest kept in ``order``, the rest pooled.

    Returns the groups to show, in order ("other (N groups)" after the kept ones, then
    missing), and each group's shown label.
    """
    if len(order) <= MAX_GROUPS:
        return order, {g: g for g in order}
    named = [g for g in order if g != fmt.MISSING]
    keep_n = MAX_GROUPS - 1 - (len(named) < len(order))
    # Largest first; ties in category order, so the choice never depends on the input's.
    largest = sorted(named, key=lambda g: (-int(sizes.get(g, 0)), order.index(g)))
    keep = set(largest[:keep_n])
    other = f"other ({len(named) - keep_n} groups)"
    shown = [g for g in order if g in keep] + [other]
    shown += [fmt.MISSING] if fmt.MISSING in order else []
    return shown, {g: g if g in keep or g == fmt.MISSING else other for g in order}


def group_colors(groups: list[str], *, severity: bool, pooled: str | None) -> dict[str, str]:
    """One colour per shown group: the severity palette for severity groups, else the
    qualitative :data:`GROUP_COLORS` in category order; grey for unknown, missing and
    pooled groups."""
    colors: dict[str, str] = {}
    plain = 0
    for group in groups:
        if group == fmt.MISSING:
            colors[group] = UNKNOWN_COLOR
        elif group == pooled:
            colors[group] = OTHER_COLOR
        elif severity:
            colors[group] = severity_color(group)
        else:
            colors[group] = GROUP_COLORS[plain % len(GROUP_COLORS)]
            plain += 1
    return colors


def ordered(observed: Sequence[str], known: Sequence[str]) -> list[str]:
    """The known labels in their order, then other labels sorted, then missing."""
    seen = set(observed)
    extra = sorted(seen - set(known) - {fmt.MISSING})
    return [*known, *extra, *([fmt.MISSING] if fmt.MISSING in seen else [])]


def axes(ax: Axes | None) -> Axes:
    return plt.gca() if ax is None else ax


def legend(ax: Axes, **kwargs: Any) -> None:
    """A legend, only when something carries a label (an empty legend warns)."""
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(**kwargs)
