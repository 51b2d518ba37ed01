"""The committed samples in ``data/`` are read by ``frames_from_pages`` as documented."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from intrace_analytics import CompletenessWarning, frames_from_pages
from intrace_analytics.sandbox import generate_dataset, page_body

DATA = Path(__file__).resolve().parent.parent / "data"
SAMPLES = ("reference-example.json", "sandbox-page-snake.json", "sandbox-page-camel.json")
SANDBOX_PAGES = ("sandbox-page-snake.json", "sandbox-page-camel.json")


@pytest.mark.parametrize("name", SAMPLES)
def test_samples_are_small_json_pages(name: str) -> None:
    path = DATA / name
    assert path.stat().st_size < 100_000
    body = json.loads(path.read_text(encoding="utf-8"))
    assert set(body) == {"incidents", "total"}
    assert (DATA / "README.md").read_text(encoding="utf-8").count(name) >= 1


def test_reference_example() -> None:
    frames = frames_from_pages([(DATA / "reference-example.json").read_bytes()])
    assert (len(frames.incidents), len(frames.links), len(frames.threats)) == (1, 1, 0)
    row = frames.incidents.iloc[0]
    assert row["incident_id"] == "309b7b4d-fbf0-4626-a512-d976ef04b94c"
    assert row["title"] == "Sustained unrest around Lagos HQ"
    assert row["status"] == "open"
    assert row["scope"] == "aggregate"
    assert row["created_at"] == pd.Timestamp("2026-04-18T09:00:00Z")
    assert row["updated_at"] == pd.Timestamp("2026-04-18T11:20:00Z")
    assert pd.isna(row["started_at"])
    assert pd.isna(row["resolved_at"])
    assert pd.isna(row["description"])
    assert row["threat_count"] == 1
    dtypes = frames.incidents.dtypes
    assert isinstance(dtypes["status"], pd.CategoricalDtype)
    assert isinstance(dtypes["scope"], pd.CategoricalDtype)
    assert isinstance(dtypes["incident_id"], pd.StringDtype)
    assert dtypes["created_at"] == pd.DatetimeTZDtype(unit="us", tz="UTC")
    assert dtypes["threat_count"] == "int64"
    link = frames.links.iloc[0]
    assert link["link_id"] == "5cae0d66-62dd-4940-8a27-4446538bf2f5"
    assert link["incident_id"] == row["incident_id"]
    assert link["threat_id"] == "4f5d1cc9-d4cc-49a1-a3fc-5ec93d674bc8"
    assert pd.isna(link["added_at"])
    assert frames.metadata["complete"] is True
    assert frames.metadata["total_reported"] == 1


def test_sandbox_pages_are_the_complete_dataset() -> None:
    frames = frames_from_pages([(DATA / name).read_bytes() for name in SANDBOX_PAGES])
    expected = generate_dataset(40, seed=7).incidents
    assert frames.incidents["incident_id"].tolist() == [i["id"] for i in expected]
    assert frames.incidents["status"].astype(str).tolist() == [i["status"] for i in expected]
    assert frames.incidents["threat_count"].tolist() == [len(i["threat_links"]) for i in expected]
    assert frames.metadata["complete"] is True
    assert frames.metadata["rows"] == 40
    assert frames.metadata["total_reported"] == 40
    assert frames.metadata["duplicates_dropped"] == 0
    # The same frames as one snake_case page of the freshly generated data.
    fresh = frames_from_pages([page_body(expected, total=40)])
    pd.testing.assert_frame_equal(frames.incidents, fresh.incidents)
    pd.testing.assert_frame_equal(frames.links, fresh.links)
    pd.testing.assert_frame_equal(frames.threats, fresh.threats)


def test_second_page_is_camel_case_and_first_is_snake_case() -> None:
    snake = json.loads((DATA / "sandbox-page-snake.json").read_text(encoding="utf-8"))
    camel = json.loads((DATA / "sandbox-page-camel.json").read_text(encoding="utf-8"))
    assert (len(snake["incidents"]), len(camel["incidents"])) == (20, 20)
    assert snake["total"] == camel["total"] == 40
    assert all("created_at" in i and "threat_links" in i for i in snake["incidents"])
    assert all("createdAt" in i and "threatLinks" in i for i in camel["incidents"])


def test_one_page_alone_is_incomplete() -> None:
    with pytest.warns(CompletenessWarning):
        frames = frames_from_pages([(DATA / "sandbox-page-snake.json").read_bytes()])
    assert len(frames.incidents) == 20
    assert frames.metadata["complete"] is False
