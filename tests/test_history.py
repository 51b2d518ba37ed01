"""History: the change log's contract (SPEC.md, "History"), on a local store.

Successive loads are built by editing a copy of a load (statuses, titles, severities,
rows added and removed); one test loads from the sandbox over HTTP. Expected values are
stated here from the edits made, never read back from the implementation.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from intrace_analytics import (
    ExportError,
    History,
    IncidentFrames,
    IncompleteLoadError,
    IntraceClient,
    IntraceError,
    load_incidents,
)
from intrace_analytics.frames import _schema as schema
from intrace_analytics.sandbox import SandboxServer

T0 = pd.Timestamp("2026-10-01T00:00:00Z")
DAY = pd.Timedelta(days=1)
CHANGE_COLUMNS = ["change", "field", "before", "after", "fetched_at"]


def at(frames: IncidentFrames, moment: pd.Timestamp, **metadata: Any) -> IncidentFrames:
    """A deep copy of ``frames`` fetched at ``moment``."""
    copied = copy.deepcopy(frames)
    copied.metadata = {**copied.metadata, "fetched_at": moment.isoformat(), **metadata}
    return copied


def by_key(frames: IncidentFrames) -> IncidentFrames:
    """The frames with each table's rows ordered by its key (what ``as_of`` gives)."""
    tables = {
        name: frame.sort_values(list(schema.TABLES[name].key_columns), ignore_index=True)
        for name, frame in frames.tables().items()
    }
    return IncidentFrames.from_tables(tables, frames.metadata)


def assert_as_of(history: History, moment: pd.Timestamp, expected: IncidentFrames) -> None:
    seen = history.as_of(moment)
    for name, frame in by_key(expected).tables().items():
        pd.testing.assert_frame_equal(getattr(seen, name), frame, check_exact=True, obj=name)


def drop_incidents(frames: IncidentFrames, ids: list[str]) -> None:
    """Remove incidents and their links (threats stay only while still linked)."""
    frames.incidents = frames.incidents[~frames.incidents["incident_id"].isin(ids)]
    frames.incidents = frames.incidents.reset_index(drop=True)
    frames.links = frames.links[~frames.links["incident_id"].isin(ids)].reset_index(drop=True)
    linked = set(frames.links["threat_id"])
    frames.threats = frames.threats[frames.threats["threat_id"].isin(linked)]
    frames.threats = frames.threats.reset_index(drop=True)


def set_value(frame: pd.DataFrame, key: str, value: str, column: str, new: object) -> None:
    frame.loc[frame[key] == value, column] = new


def rows_of(changes: pd.DataFrame, key: str, value: str) -> list[tuple[Any, ...]]:
    chosen = changes[changes[key] == value]
    return [
        tuple(None if pd.isna(v) else v for v in row)
        for row in chosen[["change", "field", "before", "after"]].itertuples(index=False)
    ]


@pytest.fixture
def base(sandbox_frames: IncidentFrames) -> IncidentFrames:
    frames = at(sandbox_frames, T0)
    frames.metadata["filters"] = {"status": None, "scope": None, "asset_id": None}
    return frames


@pytest.fixture
def history(tmp_path: Path) -> History:
    return History(tmp_path / "history")


def incident_with(frames: IncidentFrames, status: str, *, linked: bool = True) -> str:
    """The id of the first incident of that status (with links, when asked)."""
    incidents = frames.incidents
    chosen = incidents[
        (incidents["status"] == status) & ((incidents["threat_count"] > 0) == linked)
    ]
    return str(chosen["incident_id"].iloc[0])


def test_the_first_load_is_all_new_and_as_of_gives_it_back(
    history: History, base: IncidentFrames
) -> None:
    row = history.append(base)
    assert row["load_seq"] == 1
    assert row["previous_load_id"] is None
    assert (row["rows"], row["links"], row["threats"]) == (300, len(base.links), len(base.threats))
    assert (row["new"], row["changed"], row["gone"], row["left_scope"]) == (300, 0, 0, 0)
    assert row["complete"] is True
    assert json.loads(row["filters"]) == {}
    loads = history.loads
    assert list(loads.columns) == [
        "load_id", "load_seq", "fetched_at", "previous_load_id", "complete", "filters", "rows",
        "links", "threats", "new", "changed", "gone", "left_scope", "package_version",
        "schema_version",
    ]  # fmt: skip
    assert loads["fetched_at"].tolist() == [T0]
    assert_as_of(history, T0 + DAY, base)
    seen = history.as_of(T0)
    assert seen.metadata["load_id"] == row["load_id"]
    assert seen.metadata["fetched_at"] == T0.isoformat()
    changes = history.changes()
    assert list(changes.columns) == ["incident_id", *CHANGE_COLUMNS]
    assert (changes["change"] == "new").all()
    assert len(changes) == 300
    assert changes["fetched_at"].eq(T0).all()


def test_as_of_before_the_first_load_is_empty_and_typed(
    history: History, base: IncidentFrames
) -> None:
    empty = history.as_of(T0)
    assert empty.metadata["load_id"] is None
    history.append(base)
    before = history.as_of(T0 - DAY)
    assert before.metadata["load_id"] is None
    for name, frame in before.tables().items():
        assert frame.empty
        pd.testing.assert_frame_equal(frame, schema.empty_frame(name))


def test_a_load_from_the_sandbox_is_given_back_as_it_was_loaded(
    tmp_path: Path, api: SandboxServer, make_client: Callable[..., IntraceClient]
) -> None:
    frames = load_incidents(make_client(), progress=False)
    history = History(tmp_path / "store")
    history.append(frames)
    seen = history.as_of(pd.Timestamp(frames.metadata["fetched_at"]))
    expected = by_key(frames)
    for name in ("incidents", "links", "threats"):
        pd.testing.assert_frame_equal(getattr(seen, name), getattr(expected, name))
    assert seen.metadata["filters"] == frames.metadata["filters"]
    assert seen.metadata["base_url"] == frames.metadata["base_url"]


def test_changes_name_what_happened_to_incidents(history: History, base: IncidentFrames) -> None:
    history.append(base)
    nxt = at(base, T0 + DAY)
    incidents = nxt.incidents
    opened = incident_with(base, "open", linked=False)
    done = incident_with(base, "resolved")
    closed = incident_with(base, "closed")
    retitled = str(incidents["incident_id"].iloc[-1])
    set_value(incidents, "incident_id", opened, "status", "resolved")
    set_value(incidents, "incident_id", opened, "resolved_at", T0 + DAY / 2)
    set_value(incidents, "incident_id", done, "status", "open")
    set_value(incidents, "incident_id", closed, "status", "resolved")
    set_value(incidents, "incident_id", retitled, "title", "Renamed")
    removed = incident_with(base, "open")
    drop_incidents(nxt, [removed])
    row = history.append(nxt)
    assert (row["new"], row["changed"], row["gone"], row["left_scope"]) == (0, 4, 1, 0)
    changes = history.changes()
    resolved_at = (T0 + DAY / 2).isoformat()
    assert rows_of(changes, "incident_id", opened) == [
        ("resolved", "status", "open", "resolved"),
        ("changed", "resolved_at", None, resolved_at),
    ]
    assert rows_of(changes, "incident_id", done) == [("reopened", "status", "resolved", "open")]
    assert rows_of(changes, "incident_id", closed) == [("status", "status", "closed", "resolved")]
    old_title = base.incidents.loc[base.incidents["incident_id"] == retitled, "title"].iloc[0]
    assert rows_of(changes, "incident_id", retitled) == [("changed", "title", old_title, "Renamed")]
    assert rows_of(changes, "incident_id", removed) == [("gone", None, None, None)]
    assert len(changes) == 6
    assert changes["fetched_at"].eq(T0 + DAY).all()
    assert_as_of(history, T0 + DAY, nxt)
    assert_as_of(history, T0 + DAY / 2, base)


def test_severity_moves_escalate_and_deescalate(history: History, base: IncidentFrames) -> None:
    history.append(base)
    nxt = at(base, T0 + DAY)
    threats, links = nxt.threats, nxt.links
    # One threat linked to exactly one incident, which has no other link.
    single = links.groupby("incident_id")["link_id"].transform("size") == 1
    once = links["threat_id"].map(links["threat_id"].value_counts()) == 1
    link = links[single & once].merge(threats[["threat_id", "severity"]], on="threat_id")
    link = link[link["severity"] == "low"].iloc[0]
    threat, incident = str(link["threat_id"]), str(link["incident_id"])
    set_value(threats, "threat_id", threat, "severity", "critical")
    set_value(threats, "threat_id", threat, "severity_rank", 4)
    history.append(nxt)
    assert rows_of(history.changes(), "incident_id", incident) == [
        ("escalated", "max_severity", "low", "critical")
    ]
    assert rows_of(history.changes(table="threats"), "threat_id", threat) == [
        ("escalated", "severity", "low", "critical")
    ]
    later = at(nxt, T0 + 2 * DAY)
    set_value(later.threats, "threat_id", threat, "severity", "medium")
    set_value(later.threats, "threat_id", threat, "severity_rank", 2)
    history.append(later)
    assert rows_of(history.changes(), "incident_id", incident) == [
        ("deescalated", "max_severity", "critical", "medium")
    ]
    # Over the whole span the net move is low -> medium.
    net = history.changes(since=T0, until=T0 + 2 * DAY)
    assert rows_of(net, "incident_id", incident) == [("escalated", "max_severity", "low", "medium")]


def test_links_and_threats_come_and_go(history: History, base: IncidentFrames) -> None:
    history.append(base)
    nxt = at(base, T0 + DAY)
    incident = incident_with(base, "open")
    gone_links = nxt.links.loc[nxt.links["incident_id"] == incident, "link_id"].tolist()
    drop_incidents(nxt, [incident])
    history.append(nxt)
    links = history.changes(table="links")
    assert sorted(links["link_id"]) == sorted(gone_links)
    assert set(links["change"]) == {"gone"}
    threats = history.changes(table="threats")
    vanished = set(base.threats["threat_id"]) - set(nxt.threats["threat_id"])
    assert set(threats["threat_id"]) == vanished
    assert set(threats["change"]) <= {"gone"}
    # Back again: new links, and the incident is new again.
    again = at(base, T0 + 2 * DAY)
    history.append(again)
    assert set(history.changes(table="links")["change"]) == {"new"}
    assert rows_of(history.changes(), "incident_id", incident) == [("new", None, None, None)]


def test_a_change_undone_within_the_span_shows_nothing(
    history: History, base: IncidentFrames
) -> None:
    history.append(base)
    nxt = at(base, T0 + DAY)
    incident = incident_with(base, "open")
    set_value(nxt.incidents, "incident_id", incident, "title", "Briefly renamed")
    history.append(nxt)
    history.append(at(base, T0 + 2 * DAY))
    assert len(history.changes(since=T0, until=T0 + 2 * DAY)) == 0
    assert rows_of(history.changes(since=T0, until=T0 + DAY), "incident_id", incident)[0][0] == (
        "changed"
    )
    # With until at the first load, everything is new.
    first = history.changes(until=T0)
    assert len(first) == 300
    assert set(first["change"]) == {"new"}


def test_a_net_change_carries_the_fetched_at_of_the_load_that_made_it(
    history: History, base: IncidentFrames
) -> None:
    history.append(base)
    second = at(base, T0 + DAY)
    moved = incident_with(base, "open")
    set_value(second.incidents, "incident_id", moved, "status", "resolved")
    set_value(second.incidents, "incident_id", moved, "title", "First title")
    # A new incident on the second load, changed again on the third.
    fresh = second.incidents.iloc[[0]].copy()
    fresh["incident_id"] = "00000000-0000-4000-8000-000000000019"
    fresh["threat_count"] = 0
    second.incidents = pd.concat([second.incidents, fresh], ignore_index=True)
    history.append(second)
    third = at(second, T0 + 2 * DAY)
    set_value(third.incidents, "incident_id", moved, "title", "Second title")
    set_value(third.incidents, "incident_id", fresh["incident_id"].iloc[0], "title", "Later")
    history.append(third)
    net = history.changes(since=T0, until=T0 + 2 * DAY)
    stamps = {
        (row.incident_id, row.change, row.field): row.fetched_at
        for row in net.itertuples(index=False)
    }
    assert stamps[(moved, "resolved", "status")] == T0 + DAY
    assert stamps[(moved, "changed", "title")] == T0 + 2 * DAY
    assert stamps[(fresh["incident_id"].iloc[0], "new", pd.NA)] == T0 + DAY
    assert len(net) == 3


def test_a_frame_that_repeats_a_key_is_refused(history: History, base: IncidentFrames) -> None:
    history.append(base)
    twice = at(base, T0 + DAY)
    twice.links = pd.concat([twice.links, twice.links.iloc[[3]]], ignore_index=True)
    with pytest.raises(ValueError, match="repeats the key.*link_id"):
        history.append(twice)
    assert len(history.loads) == 1


def test_the_same_export_twice_is_a_no_op_and_the_past_is_refused(
    history: History, base: IncidentFrames
) -> None:
    first = history.append(base)
    assert history.append(at(base, T0)) == first
    assert len(history.loads) == 1
    edited = at(base, T0)
    edited.incidents.loc[0, "title"] = "Another title"
    with pytest.raises(ValueError, match="already holds a load fetched at"):
        history.append(edited)
    with pytest.raises(ValueError, match="before the last load"):
        history.append(at(base, T0 - DAY))
    # The same rows a day later are a load of their own, with nothing changed.
    row = history.append(at(base, T0 + DAY))
    assert (row["load_seq"], row["new"], row["changed"], row["gone"]) == (2, 0, 0, 0)
    assert history.changes().empty


def test_frames_without_fetched_at_are_refused(history: History, base: IncidentFrames) -> None:
    frames = copy.deepcopy(base)
    del frames.metadata["fetched_at"]
    with pytest.raises(ValueError, match="fetched_at"):
        history.append(frames)


def renamed_ids(
    frames: IncidentFrames, rename: Callable[[str], str], columns: tuple[str, ...]
) -> IncidentFrames:
    """A copy of ``frames`` with the ids in ``columns`` passed through ``rename``."""
    copied = copy.deepcopy(frames)
    for frame in copied.tables().values():
        for column in columns:
            if column in frame:
                frame[column] = frame[column].map(rename).astype("string")
    return copied


def marked(value: str, day: int) -> str:
    """``value`` with its middle character replaced by a letter no hex id holds."""
    middle = len(value) // 2
    return f"{value[:middle]}{'ghijk'[day]}{value[middle + 1 :]}"


@pytest.mark.parametrize("ids", ["uuid", "varying length"])
def test_as_of_orders_rows_by_key_as_rows_come_and_go_over_loads(
    history: History, base: IncidentFrames, ids: str
) -> None:
    """Rows new at later loads sort among the first load's, whatever the ids look like
    (one length, as UUIDs, or not)."""
    if ids == "varying length":
        columns = ("incident_id", "link_id", "threat_id")
        base = renamed_ids(base, lambda v: v.replace("-", "")[: 8 + int(v[:2], 16) % 20], columns)
    history.append(base)
    loads = [base]
    for day in (1, 2, 3):
        nxt = at(loads[-1], T0 + day * DAY)
        # Three incidents of the first load come back under new ids, with their links;
        # two leave; one is renamed.
        source = base.incidents["incident_id"].iloc[10 * day : 10 * day + 3]
        copies = IncidentFrames.from_tables(
            {
                "incidents": base.incidents[base.incidents["incident_id"].isin(source)],
                "links": base.links[base.links["incident_id"].isin(source)],
                "threats": base.threats.iloc[:0],
            },
            base.metadata,
        )
        added = renamed_ids(copies, partial(marked, day=day), ("incident_id", "link_id"))
        drop_incidents(nxt, nxt.incidents["incident_id"].iloc[[40 + day, 80 + day]].tolist())
        nxt.incidents = pd.concat([nxt.incidents, added.incidents], ignore_index=True)
        nxt.links = pd.concat([nxt.links, added.links], ignore_index=True)
        renamed = nxt.incidents["incident_id"].iloc[5]
        set_value(nxt.incidents, "incident_id", renamed, "title", f"Renamed {day}")
        history.append(nxt)
        loads.append(nxt)
    for day, frames in enumerate(loads):
        assert_as_of(history, T0 + day * DAY, frames)


def test_later_keys_are_found_in_a_first_load_of_several_chunks() -> None:
    """A first load read as several chunks (row groups of 1Mi rows, too many for a test
    store) is searched chunk by chunk: every key of a later load is ranked among all of
    the first load's keys and found where it is, whichever chunk holds it."""
    from intrace_analytics.history._log import _Sorted

    keys = [f"{n:04d}" for n in range(0, 60, 2)]  # even numbers, in order
    first = pa.table({"link_id": pa.chunked_array([keys[:10], [], keys[10:25], keys[25:]])})
    later_keys = ["0000", "0003", "0019", "0020", "0040", "0058", "0059"]
    later = pa.table({"link_id": later_keys})
    found = _Sorted.of(first, later, "links")
    assert found is not None
    assert found.ranks.tolist() == [0, 2, 10, 10, 20, 29, 30]
    assert found.found.tolist() == [0, -1, -1, 10, 20, 29, -1]
    assert found.kept().tolist() == [p for p in range(30) if p not in (0, 10, 20, 29)]
    # Chunks out of order (or keys of two lengths) are no sorted run: no search.
    shuffled = pa.table({"link_id": pa.chunked_array([keys[10:], keys[:10]])})
    assert _Sorted.of(shuffled, later, "links") is None
    assert _Sorted.of(first, pa.table({"link_id": ["00001"]}), "links") is None


def test_an_incomplete_load_is_refused_unless_allowed_and_carries_forward(
    history: History, base: IncidentFrames
) -> None:
    history.append(base)
    partial = at(base, T0 + DAY, complete=False)
    missing = partial.incidents["incident_id"].iloc[:50].tolist()
    drop_incidents(partial, missing)
    with pytest.raises(IncompleteLoadError, match="allow_incomplete"):
        history.append(partial)
    assert issubclass(IncompleteLoadError, IntraceError)
    assert len(history.loads) == 1
    row = history.append(partial, allow_incomplete=True)
    assert row["complete"] is False
    assert row["gone"] == 0
    assert row["rows"] == 250
    # What it did not see is carried forward.
    seen = history.as_of(T0 + DAY)
    assert set(missing) <= set(seen.incidents["incident_id"])
    assert len(seen.incidents) == 300
    assert history.changes().empty


def test_a_filtered_store_says_left_scope_and_stays_bound(
    history: History, base: IncidentFrames
) -> None:
    filters = {"status": "open", "scope": None, "asset_id": None}
    open_ids = base.incidents.loc[base.incidents["status"] == "open", "incident_id"].tolist()
    first = at(base, T0, filters=filters)
    drop_incidents(first, sorted(set(base.incidents["incident_id"]) - set(open_ids)))
    history.append(first)
    nxt = at(first, T0 + DAY)
    leaving = incident_with(first, "open")
    drop_incidents(nxt, [leaving])
    # A link removed from an incident still in scope is gone, not left_scope.
    staying = nxt.links[nxt.links["incident_id"] != leaving].iloc[0]
    nxt.links = nxt.links[nxt.links["link_id"] != staying["link_id"]].reset_index(drop=True)
    set_value(nxt.incidents, "incident_id", staying["incident_id"], "threat_count",
              int(nxt.incidents.loc[nxt.incidents["incident_id"] == staying["incident_id"],
                                    "threat_count"].iloc[0]) - 1)  # fmt: skip
    row = history.append(nxt)
    assert (row["gone"], row["left_scope"]) == (0, 1)
    assert rows_of(history.changes(), "incident_id", leaving) == [("left_scope", None, None, None)]
    links = history.changes(table="links").set_index("link_id")["change"]
    left_links = first.links.loc[first.links["incident_id"] == leaving, "link_id"]
    assert (links[left_links] == "left_scope").all()
    assert links[staying["link_id"]] == "gone"
    other = at(first, T0 + 2 * DAY, filters={"status": "closed"})
    with pytest.raises(ValueError, match="bound to the filters") as info:
        history.append(other)
    assert "'status': 'open'" in str(info.value)
    assert "'status': 'closed'" in str(info.value)


def test_trend_counts_the_result_set_load_by_load(history: History, base: IncidentFrames) -> None:
    history.append(base)
    statuses = base.incidents["status"].value_counts()
    nxt = at(base, T0 + DAY)
    opened = nxt.incidents.index[nxt.incidents["status"] == "open"][:3]
    nxt.incidents.loc[opened, "status"] = "resolved"
    done = nxt.incidents.index[nxt.incidents["status"] == "closed"][:2]
    nxt.incidents.loc[done, "status"] = "open"
    removed = nxt.incidents.loc[nxt.incidents["status"] == "resolved", "incident_id"].iloc[-4:]
    drop_incidents(nxt, removed.tolist())
    history.append(nxt)
    trend = history.trend()
    assert list(trend.columns) == [
        "load_id", "fetched_at", "incidents", "open", "closed", "resolved", "new",
        "resolved_since", "reopened", "gone",
    ]  # fmt: skip
    first, second = trend.iloc[0], trend.iloc[1]
    assert (first["incidents"], first["new"], first["gone"]) == (300, 300, 0)
    assert (first["open"], first["closed"], first["resolved"]) == (
        statuses["open"], statuses["closed"], statuses["resolved"],
    )  # fmt: skip
    assert second["incidents"] == 296
    assert second["open"] == statuses["open"] - 3 + 2
    assert second["closed"] == statuses["closed"] - 2
    assert second["resolved"] == statuses["resolved"] + 3 - 4
    assert (second["new"], second["resolved_since"], second["reopened"], second["gone"]) == (
        0, 3, 2, 4,
    )  # fmt: skip
    assert trend["fetched_at"].tolist() == [T0, T0 + DAY]


def test_versions_is_the_scd2_view(history: History, base: IncidentFrames) -> None:
    history.append(base)
    nxt = at(base, T0 + DAY)
    incident = incident_with(base, "open")
    set_value(nxt.incidents, "incident_id", incident, "title", "Second title")
    removed = incident_with(base, "closed")
    drop_incidents(nxt, [removed])
    history.append(nxt)
    versions = history.versions("incidents")
    assert list(versions.columns) == [
        *(c.name for c in schema.TABLES["incidents"]),
        "valid_from",
        "valid_to",
        "change",
    ]
    assert len(versions) == 301
    mine = versions[versions["incident_id"] == incident]
    assert mine["title"].tolist()[1] == "Second title"
    assert mine["valid_from"].tolist() == [T0, T0 + DAY]
    assert mine["valid_to"].iloc[0] == T0 + DAY
    assert pd.isna(mine["valid_to"].iloc[1])
    assert mine["change"].tolist() == ["new", "changed"]
    ended = versions[versions["incident_id"] == removed]
    assert len(ended) == 1
    assert ended["valid_to"].iloc[0] == T0 + DAY
    assert versions["status"].dtype == base.incidents["status"].dtype


def test_sites_are_kept_when_the_load_read_them(
    history: History, sites_frames: IncidentFrames
) -> None:
    first = at(sites_frames, T0)
    history.append(first)
    assert_as_of(history, T0, first)
    nxt = at(sites_frames, T0 + DAY)
    site = str(nxt.assets["asset_id"].iloc[0])
    set_value(nxt.assets, "asset_id", site, "name", "Renamed site")
    pair = nxt.incident_assets.iloc[0]
    nxt.incident_assets = nxt.incident_assets.iloc[1:].reset_index(drop=True)
    history.append(nxt)
    assets = history.changes(table="assets")
    assert rows_of(assets, "asset_id", site) == [
        ("changed", "name", str(first.assets["name"].iloc[0]), "Renamed site")
    ]
    pairs = history.changes(table="incident_assets")
    assert pairs[["incident_id", "asset_id", "change"]].values.tolist() == [
        [pair["incident_id"], pair["asset_id"], "gone"]
    ]
    assert_as_of(history, T0 + DAY, nxt)


def test_readers_see_only_committed_loads_and_the_next_append_sweeps(
    tmp_path: Path, history: History, base: IncidentFrames
) -> None:
    history.append(base)
    # What a writer killed before its loads row leaves: a partition nobody committed.
    stray = tmp_path / "history" / "incidents" / "load_id=000002-0badc0de" / "part-0.parquet"
    stray.parent.mkdir(parents=True)
    edited = base.incidents.head(3).copy()
    edited["title"] = "never committed"
    pq.write_table(pa.Table.from_pandas(edited, preserve_index=False), stray)
    assert_as_of(history, T0 + DAY, base)
    assert history.changes().eq("new").any(axis=None)
    history.append(at(base, T0 + DAY))
    assert not stray.parent.exists()
    assert len(history.loads) == 2


def test_a_store_of_a_later_schema_version_is_refused(
    tmp_path: Path, history: History, base: IncidentFrames
) -> None:
    history.append(base)
    marker = next((tmp_path / "history" / "loads").glob("*.parquet"))
    table = pq.read_table(marker)
    later = table.set_column(
        table.schema.get_field_index("schema_version"),
        "schema_version",
        pa.array([schema.SCHEMA_VERSION + 1], pa.int64()),
    )
    pq.write_table(later, marker)
    for read in (lambda: history.loads, lambda: history.as_of(T0), history.trend):
        with pytest.raises(ExportError, match="newer than this intrace_analytics"):
            read()
    with pytest.raises(ExportError, match=f"schema_version {schema.SCHEMA_VERSION + 1}"):
        history.append(at(base, T0 + DAY))


def test_bad_arguments_name_the_parameter(history: History, base: IncidentFrames) -> None:
    history.append(base)
    with pytest.raises(ValueError, match="table must be one of"):
        history.changes(table="sites")
    with pytest.raises(ValueError, match="as_of"):
        history.as_of("not a time")
    frames = at(base, T0 + DAY)
    frames.incidents = frames.incidents.drop(columns=["title"])
    with pytest.raises(ValueError, match="missing \\['title'\\]"):
        history.append(frames)
    with pytest.raises(ValueError, match="storage_options"):
        History(Path("somewhere"), storage_options={"region": "eu-west-1"})
