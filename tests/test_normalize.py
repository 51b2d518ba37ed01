"""normalize: pages → the three tidy frames of SPEC.md, and a load that proves it is complete.

Expected frames are rebuilt here in plain Python from the payload dicts (``reference``),
never taken from the implementation: columns and dtypes come from SPEC.md's table,
timestamps from ``datetime.fromisoformat``, threats in order of first appearance.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from intrace_analytics import (
    CompletenessWarning,
    DataQualityWarning,
    Page,
    ResponseFormatError,
    frames_from_pages,
)
from intrace_analytics._util import arrays
from intrace_analytics.api._bodies import MAX_DEPTH, nesting_depth
from intrace_analytics.frames import _schema as schema
from intrace_analytics.frames._parse import threat_winners
from intrace_analytics.sandbox._data import generate_dataset, to_camel
from tests.helpers import (
    SCOPES,
    SEVERITIES,
    SPEC_COLUMNS,
    STATUSES,
    UTC_US,
    assert_frames_match,
    assert_same_frames,
    bodies,
    incident,
    link,
    page,
    quietly,
    reference,
    says_count,
    threat,
    utc,
)


@pytest.fixture(scope="module")
def dataset() -> list[dict[str, Any]]:
    return generate_dataset(300, seed=5).incidents


# -- columns and dtypes ----------------------------------------------------------------------


def test_columns_and_dtypes_are_exactly_those_of_the_spec(dataset: list[dict[str, Any]]) -> None:
    frames = frames_from_pages(bodies(dataset, 100))
    for name, columns in SPEC_COLUMNS.items():
        frame = getattr(frames, name)
        assert list(frame.columns) == list(columns)
        assert isinstance(frame.index, pd.RangeIndex)
        assert frame.index.start == 0
        for column, dtype in columns.items():
            assert frame[column].dtype == dtype, (name, column, frame[column].dtype)
        # ... and schema.py, the single source of truth, says the same.
        assert [c.name for c in schema.TABLES[name]] == list(columns)
    assert frames.incidents["status"].dtype.categories.tolist() == STATUSES
    assert frames.incidents["scope"].dtype.categories.tolist() == SCOPES
    assert frames.threats["severity"].dtype.categories.tolist() == SEVERITIES


def test_an_empty_result_gives_three_typed_empty_frames() -> None:
    for empty in (b'{"incidents": [], "total": 0}', {"incidents": [], "total": 0}):
        frames = frames_from_pages([empty])
        for name, columns in SPEC_COLUMNS.items():
            frame = getattr(frames, name)
            assert len(frame) == 0
            assert list(frame.columns) == list(columns)
            assert isinstance(frame.index, pd.RangeIndex)
            for column, dtype in columns.items():
                assert frame[column].dtype == dtype, (name, column, frame[column].dtype)
        assert frames.metadata["rows"] == 0
        assert frames.metadata["complete"] is True


def test_severity_is_ordered_and_unknown_labels_rank_below_low() -> None:
    levels = ["Severe", "low", "critical", None, "MEDIUM", "high", "severe"]
    incidents = [
        incident(
            "i1",
            "2026-01-02T00:00:00Z",
            *(link(f"l{k}", f"t{k}", threat(f"t{k}", severity=s)) for k, s in enumerate(levels)),
        )
    ]
    with pytest.warns(DataQualityWarning, match="severity") as record:
        frames = frames_from_pages([page(incidents)])
    assert len(record) == 1
    assert "severe" in str(record[0].message)
    severity = frames.threats["severity"]
    assert severity.dtype.ordered
    categories = severity.dtype.categories.tolist()
    assert categories[-4:] == SEVERITIES
    assert categories[:-4] == ["severe"]
    # Case-folded; missing stays missing; the unknown label never outranks "low".
    assert severity.astype(object).where(severity.notna(), None).tolist() == [
        "severe",
        "low",
        "critical",
        None,
        "medium",
        "high",
        "severe",
    ]
    assert (severity.iloc[[0, 6]] < "low").all()
    assert severity.max() == "critical"
    assert severity.sort_values().dropna().tolist()[:3] == ["severe", "severe", "low"]
    # SPEC: severity_rank, 1 low .. 4 critical, 0 another label, NA when missing.
    rank = frames.threats["severity_rank"]
    assert rank.dtype == pd.Int8Dtype()
    assert rank.tolist() == [0, 1, 4, pd.NA, 2, 3, 0]
    assert frames.threats.columns.get_loc("severity_rank") == 3  # right after severity


def test_severity_rank_agrees_with_severity_on_sandbox(dataset: list[dict[str, Any]]) -> None:
    threats = frames_from_pages(bodies(dataset, 100)).threats
    severity, rank = threats["severity"], threats["severity_rank"]
    assert rank.isna().equals(severity.isna())
    known = severity.notna().to_numpy()
    # The rank orders threats exactly as the ordered categorical does.
    expected = severity[known].map({level: k for k, level in enumerate(SEVERITIES, 1)})
    assert rank[known].astype(int).tolist() == expected.fillna(0).astype(int).tolist()
    assert set(rank.dropna()) <= {0, 1, 2, 3, 4}


# -- against sandbox data -------------------------------------------------------------------


def test_the_sandbox_data_exercises_every_case_the_reconstruction_checks(
    dataset: list[dict[str, Any]],
) -> None:
    links = [lk for inc in dataset for lk in inc["threat_links"]]
    threats = [lk["threat"] for lk in links if "threat" in lk]
    stamps = [inc["created_at"] for inc in dataset] + [lk["added_at"] for lk in links]
    assert any(not inc["threat_links"] for inc in dataset)  # incidents with no links
    assert any("threat" not in lk for lk in links)  # links without an embedded threat
    assert any("coordinates" not in t for t in threats)
    assert any(t.get("coordinates", 0) is None for t in threats)
    assert len({t["id"] for t in threats}) < len(threats)  # threats shared by incidents
    assert any("." in s for s in stamps)
    assert any(s.endswith("Z") for s in stamps)
    assert any(s[-6] in "+-" and not s.endswith("+00:00") for s in stamps)  # real offsets
    assert any("description" not in inc for inc in dataset)
    assert any("started_at" not in inc for inc in dataset)


@pytest.mark.parametrize("size", [300, 64, 7])
def test_frames_equal_an_independent_reconstruction(
    dataset: list[dict[str, Any]], size: int
) -> None:
    frames = frames_from_pages(bodies(dataset, size))
    assert_frames_match(frames, reference(dataset))
    assert frames.metadata["rows"] == len(dataset)
    assert frames.metadata["complete"] is True


@pytest.mark.parametrize("casing", ["camel", "mixed"])
def test_camel_and_mixed_pages_give_the_same_frames_as_snake(
    dataset: list[dict[str, Any]], casing: str
) -> None:
    pages = bodies(dataset, 50, casing=casing)
    if casing == "mixed":  # the pages do mix both spellings
        text = b"".join(pages)
        assert b'"threat_links"' in text
        assert b'"threatLinks"' in text
    else:
        assert b'"threat_links"' not in b"".join(pages)
    frames = frames_from_pages(pages)
    assert_same_frames(frames, frames_from_pages(bodies(dataset, 50)))
    assert_frames_match(frames, reference(dataset))


def test_spellings_mixed_per_field_inside_one_incident_give_the_same_frames() -> None:
    snake = [
        incident(
            "i1",
            "2026-01-03T10:00:00+01:00",
            link("l1", "t1", threat("t1", observed_at="2026-01-01T05:00:00-05:00")),
            link("l2", "t2"),
            description="Roads closed",
            started_at="2026-01-01T07:00:00Z",
            resolved_at="2026-01-02T09:30:00.250Z",
        ),
        incident(
            "i2", "2026-01-02T00:00:00Z", link("l3", "t3", threat("t3", threat_type="transport"))
        ),
        incident("i3"),
    ]
    mixed = copy.deepcopy(snake)
    one = mixed[0]
    one["createdAt"] = one.pop("created_at")
    one["resolvedAt"] = one.pop("resolved_at")
    one["threatLinks"] = one.pop("threat_links")
    first, second = one["threatLinks"]
    first["threatId"] = first.pop("threat_id")
    first["threat"]["threatType"] = first["threat"].pop("threat_type")
    second["addedAt"] = second.pop("added_at")
    mixed[1] = to_camel(mixed[1])
    assert "updated_at" in one
    assert "started_at" in one
    assert "observed_at" in first["threat"]
    frames = frames_from_pages([page(mixed)])
    assert_same_frames(frames, frames_from_pages([page(snake)]))
    assert_frames_match(frames, reference(snake))


def holder(incident: dict[str, Any], name: str, casing: str) -> dict[str, Any] | None:
    """The object that holds the field ``name`` (spelled both ways) in ``incident``."""
    if name in ("created_at", "resolved_at", "threat_links"):
        return incident
    links = incident.get("threatLinks" if casing == "camel" else "threat_links") or []
    if not links:
        return None
    return links[0] if name in ("threat_id", "added_at") else links[0].get("threat")


@settings(max_examples=60, deadline=None)
@given(
    kinds=st.lists(
        st.sampled_from(["snake", "camel", "mixed", "snake+1", "camel+1", "snake+x", "camel+x"]),
        min_size=1,
        max_size=8,
    ),
    data=st.data(),
)
def test_pages_in_any_order_of_casings_lose_no_field(kinds: list[str], data: st.DataObject) -> None:
    """Each page is first read in the casing of the page before. One field spelled the
    other way anywhere in it (even once, deep in a link: "+1"), or a field outside the
    schema whose type changes between rows ("+x"), makes it read with every spelling."""
    incidents = generate_dataset(8 * len(kinds), seed=len(kinds)).incidents
    pages = []
    for number, kind in enumerate(kinds):
        chunk = copy.deepcopy(incidents[8 * number : 8 * number + 8])
        casing, _, twist = kind.partition("+")
        if casing != "snake":
            chunk = [to_camel(i) if casing == "camel" or n % 2 else i for n, i in enumerate(chunk)]
        if twist == "1":
            name = data.draw(
                st.sampled_from(
                    [
                        "created_at",
                        "resolved_at",
                        "threat_links",
                        "threat_id",
                        "added_at",
                        "threat_type",
                        "observed_at",
                    ]
                )
            )
            head, *rest = name.split("_")
            camel = head + "".join(part.capitalize() for part in rest)
            mine, theirs = (camel, name) if casing == "camel" else (name, camel)
            # Only where the field is spelled this page's way: else there is no twist.
            found = [h for i in chunk if (h := holder(i, name, casing)) is not None and mine in h]
            assume(found)
            target = data.draw(st.sampled_from(found))
            target[theirs] = target.pop(mine)
            assert theirs in target
            assert mine not in target
        elif twist == "x":
            for n, item in enumerate(chunk):
                item["extra_field"] = n if n % 2 else f"text {n}"
        pages.append(json.dumps({"incidents": chunk, "total": len(incidents)}).encode())
    assert_frames_match(frames_from_pages(pages), reference(incidents))


BOTH_SPELLINGS: dict[str, tuple[Callable[[dict[str, Any]], dict[str, Any]], str, str, object]] = {
    # field: (where the camel spelling goes, frame, column, the snake value expected)
    "created_at": (lambda i: i, "incidents", "created_at", utc("2026-01-01T08:00:00Z")),
    "updated_at": (lambda i: i, "incidents", "updated_at", utc("2026-01-02T00:00:00Z")),
    "started_at": (lambda i: i, "incidents", "started_at", utc("2026-01-01T07:00:00Z")),
    "threat_id": (lambda i: i["threat_links"][0], "links", "threat_id", "t1"),
    "added_at": (lambda i: i["threat_links"][0], "links", "added_at", utc("2026-01-01T08:00:00Z")),
    "threat_type": (lambda i: i["threat_links"][0]["threat"], "threats", "threat_type", "weather"),
    "observed_at": (
        lambda i: i["threat_links"][0]["threat"],
        "threats",
        "observed_at",
        utc("2026-01-01T06:00:00Z"),
    ),
}
OTHER_VALUE = {
    "threat_id": "t-other",
    "threat_type": "cyber_attack",
}


@pytest.mark.parametrize("name", sorted(BOTH_SPELLINGS))
def test_both_spellings_with_different_values_warn_once_and_snake_case_wins(name: str) -> None:
    where, table, column, expected = BOTH_SPELLINGS[name]
    camel = to_camel({name: None}).popitem()[0]
    rows = [
        incident(
            "i1",
            "2026-01-02T00:00:00Z",
            link("l1", "t1", threat("t1")),
            started_at="2026-01-01T07:00:00Z",
        ),
        incident(
            "i2",
            "2026-01-02T00:00:00Z",
            link("l2", "t1", threat("t1")),
            started_at="2026-01-01T07:00:00Z",
        ),
    ]
    for row in rows:  # two rows conflict: still one warning for the field
        target = where(row)
        target[camel] = OTHER_VALUE.get(name, "2030-05-05T05:05:05Z")
    with pytest.warns(DataQualityWarning) as record:
        frames = frames_from_pages([page(rows)])
    assert len(record) == 1, [str(w.message) for w in record]
    message = str(record[0].message)
    assert name in message
    assert "snake_case" in message
    assert says_count(message, 2)
    values = getattr(frames, table)[column]
    assert values.iloc[0] == expected
    if table != "threats":
        assert values.iloc[1] == expected


def test_both_spellings_with_equal_values_do_not_warn() -> None:
    row = incident("i1", "2026-01-02T00:00:00Z", link("l1", "t1", threat("t1")))
    row["createdAt"] = row["created_at"]
    row["threat_links"][0]["threatId"] = "t1"
    frames = frames_from_pages([page([row])])
    assert frames.incidents["created_at"].iloc[0] == utc("2026-01-01T08:00:00Z")


def test_both_spellings_of_threat_links_holding_the_same_links_do_not_warn() -> None:
    row = incident("i1", "2026-01-02T00:00:00Z", link("l1", "t1", threat("t1")))
    row["threatLinks"] = to_camel({"x": row["threat_links"]})["x"]
    frames, seen = quietly([page([row])])
    assert frames.links["link_id"].tolist() == ["l1"]
    assert [str(w.message) for w in seen if issubclass(w.category, DataQualityWarning)] == []


# -- links, threats and deduplication ----------------------------------------------------


def test_links_without_a_threat_stay_and_incidents_without_links_keep_zero() -> None:
    rows = [
        incident(
            "i1",
            "2026-01-02T00:00:00Z",
            link("l1", "t1"),
            link("l2", "t2", threat("t2", coordinates=None)),
        ),
        incident("i2"),
        incident(
            "i3",
            "2026-01-02T00:00:00Z",
            link("l3", "t3", {k: v for k, v in threat("t3").items() if k != "coordinates"}),
        ),
    ]
    del rows[1]["threat_links"]  # absent, not just empty
    frames = frames_from_pages([page(rows)])
    assert frames.incidents["threat_count"].tolist() == [2, 0, 1]
    assert frames.links["link_id"].tolist() == ["l1", "l2", "l3"]
    assert frames.links["threat_id"].tolist() == ["t1", "t2", "t3"]
    assert frames.threats["threat_id"].tolist() == ["t2", "t3"]  # t1 was never described
    assert frames.threats[["lat", "lng"]].isna().all().all()
    assert_frames_match(frames, reference(rows))


@pytest.mark.parametrize("newest_first", [True, False])
def test_an_incident_repeated_across_pages_keeps_the_newest_copy(newest_first: bool) -> None:
    old = incident("a", "2026-01-02T00:00:00Z", link("la-old", "t1", threat("t1")), title="old")
    new = incident(
        "a",
        "2026-01-03T00:00:00+05:00",
        link("la1", "t2", threat("t2")),
        link("la2", "t1", threat("t1")),
        title="new",
    )  # 2026-01-02T19:00Z: newer than the old copy
    first, second = (new, old) if newest_first else (old, new)
    pages = [
        page([first, incident("b")], 3),
        page([incident("c", "2026-01-02T00:00:00Z", link("lc", "t1", threat("t1"))), second], 3),
    ]
    # A repeated id is not a data-quality problem, but it shows the result set moved while
    # it was read: nothing proves that no other row was skipped, so the read is not exact.
    with pytest.warns(CompletenessWarning, match="1 ids repeated across pages"):
        frames = frames_from_pages(pages)
    incidents = frames.incidents.set_index("incident_id")
    assert sorted(incidents.index) == ["a", "b", "c"]
    assert incidents.loc["a", "title"] == "new"
    assert incidents.loc["a", "threat_count"] == 2
    assert incidents.loc["a", "updated_at"] == utc("2026-01-02T19:00:00Z")
    assert frames.links.loc[frames.links["incident_id"] == "a", "link_id"].tolist() == [
        "la1",
        "la2",
    ]
    assert sorted(frames.links["link_id"]) == ["la1", "la2", "lc"]
    assert sorted(frames.threats["threat_id"]) == ["t1", "t2"]
    assert frames.metadata["duplicates_dropped"] == 1
    # Links are in the incidents' order, then the links' order.
    order = {iid: k for k, iid in enumerate(frames.incidents["incident_id"])}
    assert frames.links["incident_id"].map(order).is_monotonic_increasing


THREAT_COPIES = [
    incident("b", "2026-01-02T00:00:00Z", link("lb", "t1", threat("t1", severity="low"))),
    incident(
        "a", "2026-01-05T00:00:00Z", link("la", "t1", threat("t1", severity="high", title="Newest"))
    ),
    incident(
        "c",
        "2026-01-03T00:00:00Z",
        link("lc", "t1", threat("t1", severity="medium")),
        link("lc2", "t2", threat("t2", location="Apapa port")),
    ),
    incident(
        "d",
        "2026-01-01T00:00:00Z",
        link("ld", "t2", threat("t2", coordinates=None)),
        link("ld2", "t3", threat("t3")),
    ),
    incident("e", "2026-01-04T00:00:00Z", link("le", "t3", threat("t3"))),  # identical copies
]


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("split", [5, 1, 2, 3])
def test_a_shared_threat_is_one_row_and_the_most_recently_updated_copy_wins(
    reverse: bool, split: int
) -> None:
    rows = THREAT_COPIES[::-1] if reverse else THREAT_COPIES
    pages = [page(rows[:split], 5), page(rows[split:], 5)] if split < 5 else [page(rows)]
    with pytest.warns(DataQualityWarning, match="threat") as record:
        frames = frames_from_pages(pages)
    assert len(record) == 1
    assert says_count(str(record[0].message), 2)  # t1 and t2 disagree; t3 does not
    first_seen = list(dict.fromkeys(lk["threat_id"] for r in rows for lk in r["threat_links"]))
    assert frames.threats["threat_id"].tolist() == first_seen
    threats = frames.threats.set_index("threat_id")
    assert (threats.loc["t1", "severity"], threats.loc["t1", "title"]) == ("high", "Newest")
    assert threats.loc["t2", "location"] == "Apapa port"  # from c, newer than d
    assert (threats.loc["t2", "lat"], threats.loc["t2", "lng"]) == (6.5, 3.25)
    assert len(frames.links) == 7


def test_identical_copies_of_a_threat_do_not_warn(dataset: list[dict[str, Any]]) -> None:
    frames = frames_from_pages(bodies(dataset, 40))  # warnings are errors
    embedded = {
        lk["threat"]["id"] for inc in dataset for lk in inc["threat_links"] if "threat" in lk
    }
    assert frames.threats["threat_id"].is_unique
    assert set(frames.threats["threat_id"]) == embedded


def _paged(incidents: list[dict[str, Any]], total: int, offset: int, pass_index: int = 0) -> Page:
    body = json.dumps(page(incidents, total)).encode()
    params = {"limit": 1, "offset": offset}
    return Page(incidents, total, offset, 1, params, body=body, pass_index=pass_index)


# A read where the newest incident "x" is deleted after the first page: "y" slides to
# offset 0 and is skipped; the re-read (pass 1) sees y and z only.
_X = incident("x", "2026-01-09T00:00:00Z", link("lx", "t", threat("t", severity="high")))
_Y = incident("y", "2026-01-02T00:00:00Z", link("ly", "t", threat("t", severity="low")))
_Z = incident("z", "2026-01-01T00:00:00Z")
RECONCILED = [_paged([_X], 3, 0), _paged([_Z], 2, 1), _paged([_Y], 2, 0, 1), _paged([_Z], 2, 1, 1)]


def test_a_threat_copy_from_an_incident_dropped_by_reconciliation_does_not_win() -> None:
    frames, _ = quietly(RECONCILED)
    assert frames.metadata["complete"] is True
    assert sorted(frames.incidents["incident_id"]) == ["y", "z"]
    assert frames.threats["severity"].tolist() == ["low"]  # y's copy: the only one kept


def test_after_reconciliation_incidents_follow_the_clean_reread() -> None:
    frames, _ = quietly(RECONCILED)
    assert frames.incidents["incident_id"].tolist() == ["y", "z"]


# -- timestamps ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-04-18T09:00:00+01:00", datetime(2026, 4, 18, 8, tzinfo=UTC)),
        ("2026-04-18T09:00:00-05:00", datetime(2026, 4, 18, 14, tzinfo=UTC)),
        ("2026-04-18T23:30:00-05:00", datetime(2026, 4, 19, 4, 30, tzinfo=UTC)),
        ("2026-04-18T09:00:00Z", datetime(2026, 4, 18, 9, tzinfo=UTC)),
        ("2026-04-18T09:00:00.123Z", datetime(2026, 4, 18, 9, 0, 0, 123000, tzinfo=UTC)),
        ("2026-04-18T09:00:00.123456Z", datetime(2026, 4, 18, 9, 0, 0, 123456, tzinfo=UTC)),
        ("2026-04-18T09:00:00.5+02:00", datetime(2026, 4, 18, 7, 0, 0, 500000, tzinfo=UTC)),
        ("2026-04-18T09:00:00.000001+05:30", datetime(2026, 4, 18, 3, 30, 0, 1, tzinfo=UTC)),
    ],
)
def test_offsets_become_utc_and_fractional_seconds_are_kept(text: str, expected: datetime) -> None:
    added = link("l1", "t1", threat("t1", observed_at=text))
    added["added_at"] = text
    row = incident("i1", text, added, started_at=text, resolved_at=text)
    frames = frames_from_pages([page([row])])
    for table, column in [
        ("incidents", "updated_at"),
        ("incidents", "started_at"),
        ("incidents", "resolved_at"),
        ("links", "added_at"),
        ("threats", "observed_at"),
    ]:
        values = getattr(frames, table)[column]
        assert str(values.dtype) == UTC_US
        assert values.iloc[0] == pd.Timestamp(expected)


def test_offsets_fractions_and_zulu_mixed_in_one_column() -> None:
    texts = [
        "2026-04-18T09:00:00+01:00",
        "2026-04-18T09:00:00-05:00",
        "2026-04-18T09:00:00Z",
        "2026-04-18T09:00:00.123Z",
        "2026-04-18T09:00:00.654321+00:00",
    ]
    rows = [incident(f"i{k}", t) for k, t in enumerate(texts)]
    frames = frames_from_pages([page(rows)])
    assert frames.incidents["updated_at"].tolist() == [pd.Timestamp(utc(t)) for t in texts]


def test_a_naive_timestamp_is_taken_as_utc_with_one_warning_per_field() -> None:
    first = [
        incident(
            "i1",
            "2026-01-02T00:00:00Z",
            link("l1", "t1", threat("t1", observed_at="2026-01-01T06:30:00")),
            created_at="2026-01-01T08:00:00",
        ),
        incident("i2", "2026-01-02T00:00:00Z", created_at="2026-01-01T09:15:00.250"),
    ]
    second = [incident("i3", "2026-01-02T00:00:00Z", created_at="2026-01-01T10:00:00")]
    with pytest.warns(DataQualityWarning) as record:
        frames = frames_from_pages([page(first, 3), page(second, 3)])
    messages = sorted(str(w.message) for w in record)
    assert len(messages) == 2, messages  # one for created_at (3 values), one for observed_at
    created = next(m for m in messages if "created_at" in m)
    observed = next(m for m in messages if "observed_at" in m)
    assert says_count(created, 3)
    assert "UTC" in created
    assert says_count(observed, 1)
    assert "UTC" in observed
    assert frames.incidents["created_at"].tolist() == [
        pd.Timestamp("2026-01-01T08:00:00Z"),
        pd.Timestamp("2026-01-01T09:15:00.250Z"),
        pd.Timestamp("2026-01-01T10:00:00Z"),
    ]
    assert frames.threats["observed_at"].iloc[0] == pd.Timestamp("2026-01-01T06:30:00Z")
    assert frames.incidents["updated_at"].notna().all()


def test_an_unparseable_timestamp_becomes_nat_and_is_counted() -> None:
    bad = ["not a date", "2026-13-45T00:00:00Z", "", "yesterday"]
    rows = [
        incident(f"i{k}", "2026-01-02T00:00:00Z", resolved_at=text) for k, text in enumerate(bad)
    ]
    rows.append(incident("ok", "2026-01-02T00:00:00Z", resolved_at="2026-01-05T00:00:00+01:00"))
    rows.append(incident("none", "2026-01-02T00:00:00Z"))  # absent: missing, not unparseable
    with pytest.warns(DataQualityWarning, match="resolved_at") as record:
        frames = frames_from_pages([page(rows)])
    assert len(record) == 1
    assert says_count(str(record[0].message), 4)
    resolved = frames.incidents["resolved_at"]
    assert str(resolved.dtype) == UTC_US
    assert resolved.isna().tolist() == [True, True, True, True, False, True]
    assert resolved.iloc[4] == pd.Timestamp("2026-01-04T23:00:00Z")


def test_a_lowercase_z_suffix_is_utc() -> None:
    frames, seen = quietly([page([incident("i1", "2026-04-18T09:00:00z")])])
    assert frames.incidents["updated_at"].iloc[0] == pd.Timestamp("2026-04-18T09:00:00Z")
    assert seen == []


# -- documented sets ---------------------------------------------------------------------


def test_values_outside_documented_sets_are_kept_with_one_warning_per_field() -> None:
    rows = [
        incident(
            "i1",
            "2026-01-02T00:00:00Z",
            link("l1", "t1", threat("t1", severity="severe")),
            status=" Open ",
        ),
        incident(
            "i2",
            "2026-01-02T00:00:00Z",
            link("l2", "t2", threat("t2", severity="Severe")),
            status="archived",
            scope="global",
        ),
        incident("i3", status="ARCHIVED", scope=" Investigation"),
        incident("i4", status="Resolved"),
    ]
    with pytest.warns(DataQualityWarning) as record:
        frames = frames_from_pages([page(rows)])
    messages = [str(w.message) for w in record]
    assert len(messages) == 3, messages
    for field, value, count in [
        ("status", "archived", 2),
        ("scope", "global", 1),
        ("severity", "severe", 2),
    ]:
        (message,) = [m for m in messages if field in m]
        assert value in message
        assert says_count(message, count)
    status, scope = frames.incidents["status"], frames.incidents["scope"]
    assert status.tolist() == ["open", "archived", "archived", "resolved"]
    assert status.dtype.categories.tolist() == [*STATUSES, "archived"]
    assert scope.astype(object).tolist() == ["aggregate", "global", "investigation", "aggregate"]
    assert scope.dtype.categories.tolist() == [*SCOPES, "global"]
    assert frames.threats["severity"].tolist() == ["severe", "severe"]


def test_threat_type_values_are_kept_as_received() -> None:
    rows = [
        incident(
            "i1",
            "2026-01-02T00:00:00Z",
            link("l1", "t1", threat("t1", threat_type="Weather")),
            link("l2", "t2", threat("t2", threat_type="weather")),
            link("l3", "t3", threat("t3", threat_type="space_weather")),
        )
    ]
    frames = frames_from_pages([page(rows)])  # no documented set: no warning
    threat_type = frames.threats["threat_type"]
    assert isinstance(threat_type.dtype, pd.CategoricalDtype)
    assert threat_type.tolist() == ["Weather", "weather", "space_weather"]


# -- the page shape -------------------------------------------------------------------------

GOOD = b'{"incidents": [{"id": "ok", "title": "fine"}], "total": 2}'
BAD_PAGES = {
    "not JSON": (b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", None),
    "no incidents": (b'{"data": [], "total": 2}', "incidents"),
    "total as a string": (b'{"incidents": [], "total": "many"}', "total"),
    "incidents not a list": (b'{"incidents": {"id": "x"}, "total": 2}', "incidents"),
    "a title that is a number": (b'{"incidents": [{"id": "x", "title": 42}], "total": 2}', "title"),
    "an incident without id": (b'{"incidents": [{"title": "no id"}], "total": 2}', "id"),
    "an incident that is not an object": (b'{"incidents": ["x"], "total": 2}', "incidents"),
    "a link without id": (
        b'{"incidents": [{"id": "x", "threat_links": [{"threat_id": "t"}]}], "total": 2}',
        "id",
    ),
}


@pytest.mark.parametrize("case", list(BAD_PAGES))
@pytest.mark.parametrize("form", ["bytes", "str", "Page"])
def test_a_page_of_the_wrong_shape_names_the_offset_and_the_field(case: str, form: str) -> None:
    bad, field = BAD_PAGES[case]
    if form == "Page":
        pages: list[Any] = [
            Page([], 2, 0, 100, {"limit": 100, "offset": 0}, body=GOOD),
            Page([], 2, 100, 100, {"limit": 100, "offset": 100}, body=bad),
        ]
        where, offset = "offset 100", 100
    else:
        pages = [GOOD, bad] if form == "bytes" else [GOOD.decode(), bad.decode()]
        where, offset = "page 1", 1  # the position of the page among those given
    with pytest.raises(ResponseFormatError) as info:
        frames_from_pages(pages)
    assert info.value.offset == offset
    assert where in str(info.value)
    if field is not None:
        assert info.value.field is not None
        assert field in info.value.field
        assert field in str(info.value)


@pytest.mark.parametrize(
    "case",
    ["no incidents", "total as a string", "a title that is a number", "an incident without id"],
)
def test_a_dict_page_of_the_wrong_shape_names_its_position(case: str) -> None:
    bad, field = BAD_PAGES[case]
    with pytest.raises(ResponseFormatError) as info:
        frames_from_pages([json.loads(GOOD), json.loads(GOOD), json.loads(bad)])
    assert info.value.offset == 2
    assert field is not None
    assert info.value.field is not None
    assert field in info.value.field


def test_a_fractional_total_names_the_total_field() -> None:
    with pytest.raises(ResponseFormatError) as info:
        frames_from_pages([b'{"incidents": [], "total": 1.5}'])
    assert info.value.field == "total"


def test_pages_may_be_page_objects_dicts_bytes_or_str(dataset: list[dict[str, Any]]) -> None:
    raw = bodies(dataset[:120], 50, casing="mixed")
    as_dicts = [json.loads(b) for b in raw]
    as_pages = [
        Page.from_body(b, offset=50 * k, limit=50, params={"limit": 50, "offset": 50 * k})
        for k, b in enumerate(raw)
    ]
    without_body = [Page(d["incidents"], d["total"], 50 * k, 50) for k, d in enumerate(as_dicts)]
    forms: dict[str, Any] = {
        "bytes": raw,
        "str": [b.decode() for b in raw],
        "dicts": as_dicts,
        "pages": as_pages,
        "pages without body": without_body,
        "a generator": (b for b in raw),
        "a mixture": [as_pages[0], as_dicts[1], raw[2].decode()],
    }
    expected = reference(dataset[:120])
    results = {name: frames_from_pages(pages) for name, pages in forms.items()}
    for frames in results.values():
        assert_frames_match(frames, expected)
        assert_same_frames(frames, results["bytes"])


def test_a_generator_of_pages_is_consumed_once(dataset: list[dict[str, Any]]) -> None:
    consumed: list[int] = []

    def pages() -> Iterator[bytes]:
        for k, body in enumerate(bodies(dataset, 30)):
            consumed.append(k)
            yield body

    frames = frames_from_pages(pages())
    assert consumed == list(range(10))
    assert frames.metadata["pages"] == 10
    assert_frames_match(frames, reference(dataset))


# -- grouping ids ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
def test_codes_number_ids_by_first_appearance_across_chunks_and_offsets(kind: pa.DataType) -> None:
    # large_string has 64-bit offsets; a slice starts at a non-zero offset.
    first = pa.array(["x", "b", "a", "b", "", "c"], kind).slice(1)
    ids = pa.chunked_array([first, pa.array(["a", "d", None, "c", "b"], kind)])
    codes, dictionary = arrays.codes(ids)
    assert codes.tolist() == [0, 1, 0, 2, 3, 1, 4, -1, 3, 0]
    assert dictionary.to_pylist() == ["b", "a", "", "c", "d"]
    # The same from a pandas Series of strings.
    assert arrays.codes(pd.Series(ids.to_pylist(), dtype="string"))[0].tolist() == codes.tolist()


def test_threat_winners_keep_the_newest_copy_in_order_of_first_appearance() -> None:
    threats = {
        "threat_id": pa.chunked_array([pa.array(["t1", "t2"]), pa.array(["t1", "t3", "t2"])]),
        "title": pa.chunked_array([pa.array(["old", "x"]), pa.array(["new", "y", "x"])]),
    }
    updated = np.array([1, 5, 2, 0, 5], dtype=np.int64)
    winners, flags = threat_winners(threats, updated, np.zeros(5, bool))
    # t1's newer copy; t2's tie goes to the later read; in order of first appearance.
    assert winners.tolist() == [2, 4, 3]
    assert flags.tolist() == [True, False, False]  # only t1's copies disagree (the title)


# -- hostile bodies (issue 11): ResponseFormatError naming the page, nothing else ----------


def _deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


@pytest.mark.parametrize(
    "page",
    [
        b"null",
        b"\xef\xbb\xbfnull",
        b" \n\tnull",
        "null",
        "\ufeff null",
        b"null {}",
        b"[]",
    ],
    ids=["null", "bom-null", "space-null", "str-null", "str-bom-null", "null-then", "list"],
)
def test_a_body_that_is_not_an_object_never_reaches_arrow(page: bytes | str) -> None:
    # b"null" used to kill the interpreter inside Arrow's JSON reader; run in a child.
    code = (
        "import sys\n"
        "from intrace_analytics import frames_from_pages\n"
        "from intrace_analytics.exceptions import ResponseFormatError\n"
        f"pages = [{{'incidents': [], 'total': 0}}, {page!r}]\n"
        "try:\n"
        "    frames_from_pages(pages)\n"
        "except ResponseFormatError as exc:\n"
        "    print(exc.offset, exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1 page 1: "), done.stdout  # offset and label: page 1


@pytest.mark.parametrize("page", [[], None, 5, [{"id": "a"}]])
def test_a_decoded_page_that_is_not_an_object_is_a_format_error(page: Any) -> None:
    with pytest.raises(ResponseFormatError, match=r"page 0: field '\(body\)' should be a JSON"):
        frames_from_pages([page])


def test_deep_nesting_is_a_format_error_never_a_recursion_error() -> None:
    deep: Any = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(ResponseFormatError, match="page 0: .*nests too deeply") as info:
        frames_from_pages([{"incidents": [], "total": 0, "extra": deep}])
    assert info.value.offset == 0
    # A bytes page nested that deep where the diagnosis decodes it (a known field).
    body = b'{"incidents": ' + _deep(5000) + b', "total": 0}'
    with pytest.raises(ResponseFormatError, match="page 0: the body nests 5001 levels") as info:
        frames_from_pages([body])
    # ... and a Page of the live path, deep in an unknown field.
    body = b'{"incidents": [], "total": 0, "x": ' + _deep(1000) + b"}"
    with pytest.raises(ResponseFormatError, match="page at offset 300: the body nests 1001"):
        Page.from_body(body, offset=300, limit=100)


def test_nesting_depth_counts_brackets_outside_strings_only() -> None:
    assert nesting_depth(b'{"a": "[[[[{{", "b": [[1]], "c": "\\\\", "d": "\\"[["}') == 3
    assert nesting_depth(b"") == 0
    assert nesting_depth(_deep(MAX_DEPTH + 1)) == MAX_DEPTH + 1


@pytest.mark.parametrize(
    "page",
    [
        b'{"incidents": [{"id": "a\xff"}], "total": 1}',
        b'{"incidents": [{"id": "a", "created_at": "2026-01-01\xc3"}], "total": 1}',
        b'{"incidents": [{"id": "a", "title": "\xed\xa0\x80"}], "total": 1}',  # surrogate
    ],
    ids=["id", "timestamp", "encoded-surrogate"],
)
def test_invalid_utf8_is_refused_before_arrow(page: bytes) -> None:
    with pytest.raises(ResponseFormatError, match="page 1: the body is not UTF-8") as info:
        frames_from_pages([{"incidents": [], "total": 1}, page])
    assert info.value.offset == 1


def test_a_lone_surrogate_is_a_format_error() -> None:
    with pytest.raises(ResponseFormatError, match="page 0: the body is not valid Unicode"):
        frames_from_pages(['{"incidents": [{"id": "a\ud800"}], "total": 1}'])
    with pytest.raises(ResponseFormatError, match="page 0: cannot be read as JSON"):
        frames_from_pages([{"incidents": [{"id": "a\ud800"}], "total": 1}])
