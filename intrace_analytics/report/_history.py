"""What a history store adds to the report and the summary, once: the load shown, what
changed since the load before it (each incident named by its title, site and start, not
its id) and the backlog load by load (:meth:`~intrace_analytics.History.trend`).

:mod:`~intrace_analytics.report._html` lays it out as HTML, :mod:`~intrace_analytics.report._text`
and the command line as text; every cell goes through :mod:`~intrace_analytics._util.format`.

A directory is a history store when it holds a ``loads/`` directory (:func:`is_history`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from intrace_analytics._util import clock
from intrace_analytics._util import format as fmt
from intrace_analytics.frames import _schema as schema
from intrace_analytics.frames._container import IncidentFrames
from intrace_analytics.history._history import History

# The names below are the report layer's own: _html, _text and the command line use them.
__all__: list[str] = []

CHANGES_HEADING = "Changes since the previous load"
TREND_HEADING = "Backlog at each load"

#: The kinds of incident change named one by one, in the order they are shown, and
#: their words. ``changed`` (another column edited) is counted apart, only for the
#: incidents that had no named change.
KINDS: dict[str, str] = {
    "new": "new",
    "resolved": "resolved",
    "reopened": "reopened",
    "escalated": "escalated",
    "deescalated": "de-escalated",
    "status": "other status moves",
    "gone": "gone",
    "left_scope": "left the filter",
}
EDITED = "changed"
EDITED_WORDS = "with other edits"
EDITED_NOTE = "another column changed (an update, a link added or removed), no change above"

#: What each kind means, for a reader of the report.
KIND_NOTES: dict[str, str] = {
    "new": "in this load, not in the previous one",
    "resolved": "status became closed or resolved",
    "reopened": "from closed or resolved back to open (or another status)",
    "escalated": "the highest severity among its linked threats went up",
    "deescalated": "the highest severity among its linked threats went down",
    "status": "another status move (closed to resolved)",
    "gone": "no longer returned by the API (deleted)",
    "left_scope": "no longer matches the store's filters (resolved, re-scoped or deleted)",
}

#: The order the incidents of a kind are listed in, in words (``""``: every other kind).
ORDER_WORDS = {
    "escalated": "the highest severity now first, then the latest started",
    "": "the latest started first",
}

#: Words of the other tables' changes, in the order shown.
TABLE_WORDS: dict[str, str] = {
    "incidents": "incidents",
    "links": "links",
    "threats": "threats",
    "assets": "sites",
    "incident_assets": "incident-site pairs",
}
_OTHER_KINDS = ("new", "escalated", "deescalated", "gone", "left_scope", EDITED)
_OTHER_WORDS = {"deescalated": "de-escalated", "left_scope": "left the filter", EDITED: "changed"}


def is_history(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a history store's directory (it holds ``loads/``)."""
    return (Path(path) / "loads").is_dir()


@dataclass(frozen=True)
class HistoryView:
    """One load of a history store, and what changed since the load before it.

    Attributes
    ----------
    frames
        The tables as the shown load saw them (:meth:`History.as_of`).
    load, previous
        The ``loads`` rows of the shown load and the one before it (``None``: the first).
    named
        One row per incident and kind of change (:data:`KINDS`): ``change``,
        ``incident_id``, ``title``, ``site``, ``started``, ``before``, ``after``.
    counts
        Incidents per kind of :data:`KINDS` (non-zero ones), then :data:`EDITED`.
    others
        For the other tables the load holds: keys per kind of change (:func:`table_counts`).
    trend
        :meth:`History.trend` up to the shown load.
    """

    frames: IncidentFrames
    load: Mapping[str, Any]
    previous: Mapping[str, Any] | None
    named: pd.DataFrame
    counts: dict[str, int]
    others: dict[str, dict[str, int]]
    trend: pd.DataFrame


def history_view(history: History, as_of: Any = None) -> HistoryView:
    """The last load at or before ``as_of`` (default: the latest) and its changes.

    Raises
    ------
    ValueError
        The store holds no load, or none at or before ``as_of``.
    """
    loads = history.loads
    if loads.empty:
        raise ValueError("the history holds no load yet")
    shown = loads
    if as_of is not None:
        shown = loads[loads["fetched_at"] <= clock.as_of(as_of)]
        if shown.empty:
            raise ValueError(
                f"no load of the history at or before {fmt.timestamp(as_of)}: its first "
                f"was fetched at {fmt.timestamp(loads['fetched_at'].iloc[0])}"
            )
    position = len(shown) - 1
    load = loads.iloc[position].to_dict()
    previous = loads.iloc[position - 1].to_dict() if position else None
    frames = history.as_of(load["fetched_at"])
    changes = history.changes(until=load["fetched_at"])
    before = None
    if previous is not None and changes["change"].isin(["gone", "left_scope"]).any():
        before = history.as_of(previous["fetched_at"])  # the titles of those that left
    named = named_changes(changes, frames, before)
    trend = history.trend().iloc[: position + 1]
    others = {
        table: table_counts(history.changes(until=load["fetched_at"], table=table), table)
        for table in loaded_tables(frames)[1:]
    }
    return HistoryView(frames, load, previous, named, incident_counts(changes), others, trend)


def loaded_tables(frames: IncidentFrames) -> list[str]:
    """The tables a load holds: incidents, links, threats, and the sites' when read."""
    sites = ["assets", "incident_assets"] if frames.metadata.get("assets_loaded") else []
    return ["incidents", "links", "threats", *sites]


def incident_counts(changes: pd.DataFrame) -> dict[str, int]:
    """Incidents per kind of change (non-zero, in :data:`KINDS` order), then the
    incidents edited with no named change."""
    ids = {kind: set(changes.loc[changes["change"] == kind, "incident_id"]) for kind in KINDS}
    counts = {kind: len(found) for kind, found in ids.items() if found}
    named = set().union(*ids.values())
    edited = set(changes.loc[changes["change"] == EDITED, "incident_id"]) - named
    if edited:
        counts[EDITED] = len(edited)
    return counts


def table_counts(changes: pd.DataFrame, table: str) -> dict[str, int]:
    """Keys per kind of change of another table than incidents (non-zero ones)."""
    keys = list(schema.TABLES[table].key_columns)
    counts = {}
    for kind in _OTHER_KINDS:
        rows = changes.loc[changes["change"] == kind, keys]
        if len(rows):
            counts[kind] = len(rows.drop_duplicates())
    return counts


def count_line(table: str, counts: Mapping[str, int]) -> str:
    """``incidents: 112 new, 98 resolved, 3 reopened, 5 escalated, 2 gone``."""
    words = {**KINDS, EDITED: EDITED_WORDS} if table == "incidents" else _OTHER_WORDS
    parts = [f"{fmt.count(n)} {words.get(kind, kind)}" for kind, n in counts.items() if n]
    return f"{TABLE_WORDS[table]}: {', '.join(parts) or 'no change'}"


def named_changes(
    changes: pd.DataFrame, frames: IncidentFrames, before: IncidentFrames | None
) -> pd.DataFrame:
    """The named changes of incidents, one row per incident and kind, each incident
    named by its title, site(s) and start (from ``before`` for those that left)."""
    rows = changes[changes["change"].isin(list(KINDS))]
    rows = rows.drop_duplicates(["incident_id", "change"])
    rows = rows[["change", "incident_id", "before", "after"]].reset_index(drop=True)
    names = incident_names(frames)
    if before is not None:
        names = pd.concat([names, incident_names(before)])
        names = names[~names.index.duplicated()]
    named = rows.join(names, on="incident_id")
    # Per kind, the most severe escalation first, then the most recently started.
    order = {kind: i for i, kind in enumerate(KINDS)}
    named["_order"] = named["change"].map(order)
    rank = {level: i for i, level in enumerate(schema.SEVERITIES, start=1)}
    severity = named["after"].astype(object).map(rank).fillna(0)
    named["_rank"] = severity.where(named["change"] == "escalated", 0)
    named = named.sort_values(
        ["_order", "_rank", "started", "title"],
        ascending=[True, False, False, True],
        kind="stable",
        na_position="last",
    )
    columns = ["change", "incident_id", "title", "site", "started", "before", "after"]
    return named[columns].reset_index(drop=True)


def incident_names(frames: IncidentFrames) -> pd.DataFrame:
    """Per incident id: ``title``, ``site`` (its sites' names, when sites were loaded)
    and ``started`` (the day it was created), as text."""
    incidents = frames.incidents
    sites = pd.Series("", index=incidents["incident_id"].astype(object), dtype=object)
    pairs, assets = frames.incident_assets, frames.assets
    if len(pairs) and len(assets):
        name = assets.set_index(assets["asset_id"].astype(object))["name"]
        site_names = pairs["asset_id"].astype(object).map(name).fillna(pairs["asset_id"])
        joined = site_names.groupby(pairs["incident_id"].astype(object).to_numpy()).agg(
            lambda values: ", ".join(sorted(set(map(str, values))))
        )
        sites = joined.reindex(sites.index).fillna("")
    created = incidents["created_at"]
    started = [fmt.timestamp(v)[:10] if not pd.isna(v) else fmt.MISSING for v in created]
    return pd.DataFrame(
        {
            "title": [fmt.label(t) for t in incidents["title"]],
            "site": sites.to_numpy(),
            "started": started,
        },
        index=pd.Index(incidents["incident_id"].astype(object), name="incident_id"),
    )


def detail(row: Any) -> str:
    """A named change's before and after in words: ``open → resolved``,
    ``high → critical``; only the status now for new and departed incidents."""
    if row.change in ("new", "gone", "left_scope"):
        return ""
    before = fmt.label(row.before) if not pd.isna(row.before) else fmt.NONE
    after = fmt.label(row.after) if not pd.isna(row.after) else fmt.NONE
    return f"{before} \u2192 {after}"


def load_words(load: Mapping[str, Any]) -> str:
    """``load 2 (fetched 2026-10-08 12:00 UTC)``."""
    return f"load {int(load['load_seq'])} (fetched {fmt.timestamp(load['fetched_at'])})"


def span_sentence(view: HistoryView) -> str:
    """Which two loads the changes are between, in words."""
    if view.previous is None:
        return (
            f"The history's first load, {load_words(view.load)}: every incident in it is "
            "new. The next load will show what changed."
        )
    return (
        f"From {load_words(view.previous)} to {load_words(view.load)}, the load shown. "
        "Each incident is named by its title, site and the day it started."
    )


def backlog_sentence(trend: pd.DataFrame) -> str | None:
    """How the open backlog moved between the last two loads; None for one load."""
    if len(trend) < 2:
        return None
    before, now = int(trend["open"].iloc[-2]), int(trend["open"].iloc[-1])
    return (
        f"Open (status) incidents: {fmt.count(before)} at the previous load, "
        f"{fmt.count(now)} at this one ({now - before:+,d})."
    )


TREND_COLUMNS = {
    "load": "load",
    "fetched_at": "fetched",
    "incidents": "incidents",
    "open": "open",
    "closed": "closed",
    "resolved": "resolved",
    "new": "new",
    "resolved_since": "resolved since",
    "reopened": "reopened",
    "gone": "gone",
}


def trend_rows(trend: pd.DataFrame) -> list[list[str]]:
    """The trend's cells: the load's number and fetch time, then its counts."""
    counts = list(TREND_COLUMNS)[2:]
    return [
        [str(seq), fmt.timestamp(row["fetched_at"]), *(fmt.count(row[c]) for c in counts)]
        for seq, (_, row) in enumerate(trend.iterrows(), start=1)
    ]


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, with an ellipsis where it was cut."""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "\u2026"


def short_id(value: Any) -> str:
    """An id shortened for a terminal: its first 8 characters and an ellipsis."""
    return shorten(fmt.label(value), 9)


def named_line(row: Any, width: int) -> str:
    """One named change as a line of at most ``width`` characters: the day the
    incident started, its title (and sites), then before and after."""
    after = detail(row)
    label = f"{row.title} ({row.site})" if row.site else str(row.title)
    prefix = f"  {row.started}  "
    room = width - len(prefix) - (len(after) + 2 if after else 0)
    label = shorten(label, room)
    return f"{prefix}{label.ljust(room)}  {after}".rstrip() if after else prefix + label


def key_names(frames: IncidentFrames, table: str) -> pd.Series:
    """Per key of ``table`` (joined with ``\\x1f`` for two columns), a name for a
    reader: an incident's title and sites, a threat's title, a site's name, a link by
    its incident's title."""
    incidents = incident_names(frames)
    titles = incidents["title"] + incidents["site"].map(lambda s: f" ({s})" if s else "")
    if table == "incidents":
        return titles
    if table == "links":
        links = frames.links
        owner = links["incident_id"].astype(object).map(titles).fillna("")
        names = [f"link {short_id(k)} of {o}" for k, o in zip(links["link_id"], owner, strict=True)]
        return pd.Series(names, index=links["link_id"].astype(object).to_numpy())
    if table == "threats":
        threats = frames.threats
        return pd.Series(
            [fmt.label(t) for t in threats["title"]],
            index=threats["threat_id"].astype(object).to_numpy(),
        )
    assets = frames.assets
    sites = pd.Series(
        [fmt.label(n) for n in assets["name"]], index=assets["asset_id"].astype(object).to_numpy()
    )
    if table == "assets":
        return sites
    pairs = frames.incident_assets
    keys = pairs["incident_id"].astype(str) + "\x1f" + pairs["asset_id"].astype(str)
    names = [
        f"{incidents['title'].get(i, short_id(i))} at {sites.get(a, short_id(a))}"
        for i, a in zip(pairs["incident_id"], pairs["asset_id"], strict=True)
    ]
    return pd.Series(names, index=keys.to_numpy(dtype=object))
