"""The sandbox moves in time: ``SandboxServer.advance``, checked through real loads.

Every check loads over HTTP with the real client (``load_incidents``) and compares what the
load saw with what ``advance`` said it did, or with the sandbox's served data rebuilt by
hand (``reference``). The History test compares ``changes()`` with that same truth.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from intrace_analytics import (
    CompletenessWarning,
    History,
    IncidentFrames,
    IntraceClient,
    Retries,
    load_incidents,
)
from intrace_analytics.sandbox import ANCHOR, Advance, SandboxServer
from tests.helpers import CANARY_KEY, assert_frames_match, reference

N = 400
SEED = 7
WEEK = timedelta(days=7)
RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}
CLOSED = {"resolved", "closed"}


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(incidents=N, seed=SEED, api_key=CANARY_KEY) as server:
        yield server


@pytest.fixture
def load(sandbox: SandboxServer) -> Callable[..., IncidentFrames]:
    """A whole load from the sandbox with the real client (fast retries, small pages)."""
    client = IntraceClient(
        sandbox.api_key,
        base_url=sandbox.url,
        page_size=100,
        timeout=(2, 5),
        max_retries=Retries(backoff_factor=0.001, backoff_max=0.01, backoff_jitter=0.001),
    )

    def run(**options: Any) -> IncidentFrames:
        return load_incidents(client, progress=False, **options)

    return run


def by_id(frames: IncidentFrames) -> pd.DataFrame:
    return frames.incidents.set_index("incident_id")


def served(sandbox: SandboxServer) -> set[str]:
    return {incident["id"] for incident in sandbox.dataset.incidents}


def links_of(frames: IncidentFrames, incidents: set[str] | frozenset[str]) -> set[str]:
    links = frames.links
    return set(links.loc[links["incident_id"].isin(list(incidents)), "link_id"])


def test_a_load_after_an_advance_sees_exactly_what_it_did(
    sandbox: SandboxServer, load: Callable[..., IncidentFrames]
) -> None:
    before = load()
    week = sandbox.advance(days=7)
    after = load()
    assert_frames_match(after, reference(sandbox.dataset.incidents))
    old, new = by_id(before), by_id(after)
    for kind in ("new", "resolved", "deleted", "updated", "linked", "unlinked"):
        assert getattr(week, kind), kind  # a week of a 400-incident tenant does each
    assert week.new.isdisjoint(old.index)
    assert week.deleted <= set(old.index)
    assert set(new.index) == (set(old.index) - week.deleted) | week.new

    assert (old.loc[list(week.resolved), "status"] == "open").all()
    assert new.loc[list(week.resolved), "status"].isin(CLOSED).all()
    resolved = new.loc[list(week.resolved)]
    assert resolved.loc[resolved["status"] == "resolved", "resolved_at"].notna().all()
    assert old.loc[list(week.reopened), "status"].isin(CLOSED).all()
    assert (new.loc[list(week.reopened), "status"] == "open").all()
    assert new.loc[list(week.reopened), "resolved_at"].isna().all()
    assert (old.loc[list(week.status_changed), "status"] == "closed").all()
    assert (new.loc[list(week.status_changed), "status"] == "resolved").all()

    # Every changed incident's updated_at moved into the week; every other one is as it was.
    assert week.resolved | week.reopened | week.status_changed <= week.updated
    moved = new.loc[list(week.updated), "updated_at"]
    assert (moved > old.loc[list(week.updated), "updated_at"]).all()
    assert moved.between(week.since, week.until).all()
    same = sorted(set(old.index) & set(new.index) - week.updated)
    pd.testing.assert_frame_equal(old.loc[same], new.loc[same])


def test_links_and_threats_after_an_advance_are_what_it_did(
    sandbox: SandboxServer, load: Callable[..., IncidentFrames]
) -> None:
    before = load()
    week = sandbox.advance(days=7)
    after = load()
    kept = set(before.links["link_id"]) - links_of(before, week.deleted)
    assert week.unlinked <= kept
    assert week.linked.isdisjoint(before.links["link_id"])
    expected = (kept - week.unlinked) | week.linked | links_of(after, week.new)
    assert set(after.links["link_id"]) == expected
    linked = after.links[after.links["link_id"].isin(list(week.linked))]
    assert linked["added_at"].between(week.since, week.until).all()

    old = before.threats.set_index("threat_id")["severity"].astype(str)
    new = after.threats.set_index("threat_id")["severity"].astype(str)
    both = old.index.intersection(new.index)
    moved = {t: RANK[new[t]] - RANK[old[t]] for t in both if new[t] != old[t]}
    assert week.escalated | week.deescalated, "a week re-rates some threats"
    assert {t for t, step in moved.items() if step == 1} == week.escalated
    assert {t for t, step in moved.items() if step == -1} == week.deescalated
    assert set(moved) == week.escalated | week.deescalated  # one level at a time


def test_time_moves_by_the_advance_and_new_incidents_lie_in_it(
    sandbox: SandboxServer, load: Callable[..., IncidentFrames]
) -> None:
    assert sandbox.now == sandbox.end
    first = sandbox.advance(days=7)
    second = sandbox.advance(days=2.5)
    assert (first.since, first.until) == (sandbox.end, sandbox.end + WEEK)
    assert (second.since, second.until) == (first.until, sandbox.now)
    assert sandbox.now == sandbox.end + timedelta(days=9.5)
    frames = load()
    fetched = pd.Timestamp(frames.metadata["fetched_at"])
    incidents = by_id(frames)
    for span in (first, second):
        created = incidents.loc[list(span.new - second.deleted), "created_at"]
        assert created.between(span.since, span.until, inclusive="right").all()
    # The data runs ahead of the client's clock by at most the days advanced.
    stamps = [incidents[c] for c in ("created_at", "updated_at", "started_at", "resolved_at")]
    stamps += [frames.links["added_at"], frames.threats["observed_at"]]
    latest = max(column.max() for column in stamps)
    assert sandbox.now - timedelta(days=1) < latest <= sandbox.now
    assert latest <= fetched + timedelta(days=9.5)


def test_the_same_seed_advances_the_same_way() -> None:
    def weeks(seed: int) -> tuple[list[Advance], list[dict[str, Any]]]:
        sandbox = SandboxServer(incidents=300, seed=seed, end=ANCHOR)
        return [sandbox.advance(days=7) for _ in range(3)], sandbox.dataset.incidents

    first, data = weeks(5)
    again, same = weeks(5)
    assert first == again
    assert data == same
    other, _ = weeks(6)
    assert other[0].new.isdisjoint(first[0].new)


ADVANCE_THREE_WEEKS = """
import hashlib, json
from intrace_analytics.sandbox import ANCHOR, SandboxServer
sandbox = SandboxServer(incidents=300, seed=5, end=ANCHOR)
weeks = [sandbox.advance(days=7) for _ in range(3)]
truth = [{k: sorted(v) for k, v in vars(w).items() if isinstance(v, frozenset)} for w in weeks]
data = json.dumps([truth, sandbox.dataset.incidents, sandbox.dataset.assets_of])
print(hashlib.sha256(data.encode()).hexdigest())
"""


def test_advances_do_not_depend_on_the_process() -> None:
    # String hashing is salted per process: an advance that iterated a set of ids would
    # differ from one run to the next.
    digests = {
        subprocess.run(
            [sys.executable, "-c", ADVANCE_THREE_WEEKS],
            env={**os.environ, "PYTHONHASHSEED": salt},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for salt in ("1", "2")
    }
    assert len(digests) == 1, digests


def test_the_backlog_holds_steady_and_new_incidents_resolve_within_days(
    sandbox: SandboxServer, load: Callable[..., IncidentFrames]
) -> None:
    loads = [load()]
    weeks = []
    for _ in range(10):
        weeks.append(sandbox.advance(days=7))
        loads.append(load())
    backlog = [int((frames.incidents["status"] == "open").sum()) for frames in loads]
    start = backlog[0]
    assert all(0.75 * start <= count <= 1.25 * start for count in backlog), backlog
    # Fluctuating, not a ramp: the second half's level is the first half's.
    assert abs(statistics.mean(backlog[6:]) - statistics.mean(backlog[1:6])) <= 0.12 * start
    assert len(set(backlog)) > 3, backlog

    # Of the incidents a week brought, most are no longer open two weeks later ...
    opened = closed = 0
    for k, week in enumerate(weeks[:-2]):
        later = by_id(loads[k + 3])
        still = later.reindex(list(week.new))["status"]
        opened += len(week.new)
        closed += int((still != "open").sum())  # resolved, closed, or gone
    assert closed >= 0.8 * opened, (closed, opened)
    # ... while a tail of the first load's open incidents is open ten weeks on.
    first_open = by_id(loads[0]).query("status == 'open'").index
    last = by_id(loads[-1]).reindex(first_open)["status"]
    assert (last == "open").sum() >= 0.3 * len(first_open)


def test_new_incidents_belong_to_sites_as_the_asset_filter_says(
    sandbox: SandboxServer, load: Callable[..., IncidentFrames]
) -> None:
    sites_before = load(assets=True).assets
    week = sandbox.advance(days=7)
    frames = load(assets=True)
    pd.testing.assert_frame_equal(frames.assets, sites_before)
    pairs = frames.incident_assets
    pairs = pairs[pairs["incident_id"].isin(list(week.new))]
    truth = sandbox.dataset.assets_of
    expected = {(i, site) for i in week.new for site in truth[i]}
    assert set(zip(pairs["incident_id"], pairs["asset_id"], strict=True)) == expected
    active = set(frames.assets.loc[frames.assets["site_status"] == "active", "asset_id"])
    assert all(set(truth[i]) & active for i in week.new)
    assert all(sandbox.incidents_of(site) for site in {s for i in week.new for s in truth[i]})


def test_an_advance_with_drift_armed_gives_an_exact_load_or_a_warning(
    sandbox: SandboxServer, load: Callable[..., IncidentFrames]
) -> None:
    sandbox.insert_between_pages(5, after_offset=100)
    sandbox.delete_between_pages(2, after_offset=200)
    sandbox.fail(503, offset=300)
    week = sandbox.advance(days=7)  # the switches stay armed across it
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frames = load()
    fired = {r.fault for r in sandbox.requests if r.fault}
    assert {"insert_between_pages", "delete_between_pages", "fail"} <= fired
    incomplete = [w for w in caught if issubclass(w.category, CompletenessWarning)]
    if incomplete:
        assert frames.metadata["complete"] is False
    else:
        assert frames.metadata["complete"] is True
        assert frames.metadata["drift_detected"] is True
        assert_frames_match(frames, reference(sandbox.dataset.incidents))
    assert week.new & set(frames.incidents["incident_id"])


def test_advancing_while_loads_run_never_breaks_a_page(
    sandbox: SandboxServer, load: Callable[..., IncidentFrames]
) -> None:
    sandbox.latency = 0.002
    done = threading.Event()

    def advance_repeatedly() -> int:
        count = 0
        while not done.is_set():
            sandbox.advance(days=1)
            count += 1
            done.wait(0.01)
        return count

    with ThreadPoolExecutor(max_workers=1) as pool:
        advancing = pool.submit(advance_repeatedly)
        try:
            for _ in range(3):
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    frames = load()
                warned = any(issubclass(w.category, CompletenessWarning) for w in caught)
                # A warning exactly when the load says it is incomplete.
                assert warned == (frames.metadata["complete"] is False)
        finally:
            done.set()
        advances = advancing.result(timeout=30)  # re-raises whatever advance raised
    assert advances >= 3
    assert sandbox.now == sandbox.end + advances * timedelta(days=1)
    sandbox.latency = 0
    assert_frames_match(load(), reference(sandbox.dataset.incidents))


def changed_ids(changes: pd.DataFrame, change: str, field: str | None = None) -> set[str]:
    """The incidents ``changes()`` names with ``change`` (and ``field``, when given)."""
    rows = changes[changes["change"] == change]
    if field is not None:
        rows = rows[rows["field"] == field]
    return set(rows["incident_id"])


def test_history_changes_match_the_truth_over_several_advances_with_faults_on(
    sandbox: SandboxServer, load: Callable[..., IncidentFrames], tmp_path: Path
) -> None:
    history = History(tmp_path / "history")
    previous = load()
    history.append(previous)
    for k in range(3):
        week = sandbox.advance(days=7)
        sandbox.fail(503, offset=100)
        sandbox.truncate_body(offset=200)
        sandbox.insert_between_pages(3, after_offset=0)
        served_before = served(sandbox)
        frames = load()
        assert frames.metadata["complete"] is True
        inserted = served(sandbox) - served_before
        assert len(inserted) == 3
        history.append(frames)
        changes = history.changes()
        assert changed_ids(changes, "new") == week.new | inserted, k
        assert changed_ids(changes, "gone") == week.deleted, k
        assert changed_ids(changes, "resolved") == week.resolved, k
        assert changed_ids(changes, "reopened") == week.reopened, k
        assert changed_ids(changes, "status") == week.status_changed, k
        assert changed_ids(changes, "changed", "updated_at") == week.updated, k
        links = history.changes(table="links")
        arrived = links_of(frames, week.new | inserted)
        assert set(links.loc[links["change"] == "new", "link_id"]) == week.linked | arrived
        left = week.unlinked | links_of(previous, week.deleted)
        assert set(links.loc[links["change"] == "gone", "link_id"]) == left
        threats = history.changes(table="threats")
        assert set(threats.loc[threats["change"] == "escalated", "threat_id"]) == week.escalated
        down = set(threats.loc[threats["change"] == "deescalated", "threat_id"])
        assert down == week.deescalated
        previous = frames


def test_days_must_be_a_positive_number(sandbox: SandboxServer) -> None:
    for bad in (0, -1, "7", float("nan"), True):
        with pytest.raises(ValueError, match="days must be a positive number") as caught:
            sandbox.advance(days=bad)  # type: ignore[arg-type]
        assert repr(bad) in str(caught.value)
    assert sandbox.now == sandbox.end
