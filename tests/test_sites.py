"""sites: incidents per site and exposure per site, against plain recounts of the sandbox's
own truth (``Dataset.assets_of`` and the incident payloads), never the implementation."""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from intrace_analytics import (
    IncidentFrames,
    asset_exposure,
    incidents_by_asset,
    read_parquet,
    resolution_summary,
    status_breakdown,
)
from intrace_analytics.analysis._sites import EXPOSURE_COLUMNS
from intrace_analytics.sandbox import SITES
from tests.helpers import typed

AS_OF = pd.Timestamp("2026-10-01T00:00:00Z")
LEVELS = ["low", "medium", "high", "critical"]


def _site_of(dataset: Any) -> dict[str, list[dict[str, Any]]]:
    """Site id → its incident payloads, from the data set's truth."""
    return {
        a.asset_id: [i for i in dataset.incidents if a.asset_id in dataset.assets_of[i["id"]]]
        for a in SITES
    }


def _worst(incident: dict[str, Any]) -> int:
    """The highest known severity of the incident's embedded threats (-1 if none)."""
    levels = [
        LEVELS.index(link["threat"]["severity"])
        for link in incident["threat_links"]
        if link.get("threat") and link["threat"].get("severity") in LEVELS
    ]
    return max(levels, default=-1)


def test_one_row_per_incident_and_site(sites_frames: IncidentFrames, sites_dataset: Any) -> None:
    frame = incidents_by_asset(sites_frames)
    expected_pairs = sum(len(sites) for sites in sites_dataset.assets_of.values())
    assert len(frame) == expected_pairs
    assert list(frame.columns) == [*sites_frames.incidents.columns, "asset_id", "asset_name"]
    assert frame["asset_id"].dtype == pd.StringDtype()
    assert frame["asset_name"].dtype == pd.StringDtype()
    for column in sites_frames.incidents.columns:
        assert frame[column].dtype == sites_frames.incidents[column].dtype, column
    assert isinstance(frame.index, pd.RangeIndex)
    # Incidents' order; within an incident, the sites' order.
    ids = [i["id"] for i in sites_dataset.incidents]
    order = [a.asset_id for a in SITES]
    expected = [
        (iid, site) for iid in ids for site in sorted(sites_dataset.assets_of[iid], key=order.index)
    ]
    assert list(zip(frame["incident_id"], frame["asset_id"], strict=True)) == expected
    names = {a.asset_id: a.name for a in SITES}
    assert [names[a] for a in frame["asset_id"]] == frame["asset_name"].tolist()


def test_counts_reconcile_with_unassigned_incidents(sites_frames: IncidentFrames) -> None:
    frames = copy.deepcopy(sites_frames)
    # Two incidents lose their sites: they must still appear, once each, unassigned.
    lost = frames.incidents["incident_id"].iloc[[0, 5]].tolist()
    pairs = frames.incident_assets
    frames.incident_assets = pairs[~pairs["incident_id"].isin(lost)].reset_index(drop=True)
    frame = incidents_by_asset(frames)
    assert frame["incident_id"].nunique() == len(frames.incidents)
    unassigned = frame[frame["asset_name"].isna()]
    assert unassigned["incident_id"].tolist() == lost
    assert frame["incident_id"].iloc[0] == lost[0]  # in its place, not appended

    table = status_breakdown(frame, by="asset_name")
    # Sum over sites >= incidents; the NA group is the unassigned count.
    assert table["count"].sum() == len(frame) >= len(frames.incidents)
    assert table.loc[table["asset_name"].isna().to_numpy(dtype=bool), "count"].sum() == 2
    assert table["asset_name"].isna().iloc[-1]  # listed last


def test_without_sites_every_incident_once_unassigned(sandbox_frames: IncidentFrames) -> None:
    frame = incidents_by_asset(sandbox_frames)
    assert frame["incident_id"].tolist() == sandbox_frames.incidents["incident_id"].tolist()
    assert frame["asset_id"].isna().all()
    assert frame["asset_name"].isna().all()


def test_breakdowns_by_site_equal_plain_counts(
    sites_frames: IncidentFrames, sites_dataset: Any
) -> None:
    frame = incidents_by_asset(sites_frames)
    names = {a.asset_id: a.name for a in SITES}
    by_site = _site_of(sites_dataset)
    status = status_breakdown(frame, by="asset_name")
    for site, payloads in by_site.items():
        rows = status[status["asset_name"] == names[site]]
        if not payloads:  # a site no incident touches has no (incident, site) pair
            assert rows.empty
            continue
        expected = Counter(i["status"] for i in payloads)
        assert dict(zip(rows["status"].astype(str), rows["count"], strict=True)) == {
            s: expected.get(s, 0) for s in ("open", "closed", "resolved")
        }
    summary = resolution_summary(frame, by="asset_name", as_of=AS_OF)
    counts = dict(zip(summary["asset_name"], summary["count"], strict=True))
    assert counts == {names[s]: len(p) for s, p in by_site.items() if p}
    resolved = dict(zip(summary["asset_name"], summary["resolved"], strict=True))
    assert resolved == {names[s]: sum(i.get("resolved_at") is not None for i in p)
                        for s, p in by_site.items() if p}  # fmt: skip


def test_exposure_equals_a_plain_recount(sites_frames: IncidentFrames, sites_dataset: Any) -> None:
    exposure = asset_exposure(sites_frames, as_of=AS_OF)
    assert list(exposure.columns) == list(EXPOSURE_COLUMNS)
    assert isinstance(exposure.index, pd.RangeIndex)
    assert exposure["max_open_severity"].cat.ordered
    rows = exposure.set_index("asset_id")
    for site, payloads in _site_of(sites_dataset).items():
        row = rows.loc[site]
        open_ = [i for i in payloads if i["status"] == "open"]
        assert row["incidents"] == len(payloads)
        assert row["open"] == len(open_)
        worst = max((_worst(i) for i in open_), default=-1)
        if worst >= 0:
            assert row["max_open_severity"] == LEVELS[worst]
        else:
            assert pd.isna(row["max_open_severity"])
        assert row["open_critical"] == sum(_worst(i) == 3 for i in open_)
        # The Kaplan-Meier median of exactly this site's incidents.
        ids = {i["id"] for i in payloads}
        own = sites_frames.incidents[sites_frames.incidents["incident_id"].isin(ids)]
        expected = resolution_summary(own, as_of=AS_OF)["km_median"]
        if expected.empty or pd.isna(expected.iloc[0]):  # no incident, or never half resolved
            assert pd.isna(row["km_median"])
        else:
            assert row["km_median"] == expected.iloc[0]
        assert row["name"] == next(a.name for a in SITES if a.asset_id == site)


def _started(incident: dict[str, Any]) -> pd.Timestamp:
    return pd.Timestamp(incident.get("started_at") or incident["created_at"])


def test_exposure_at_an_earlier_as_of_counts_what_existed_then(
    sites_frames: IncidentFrames, sites_dataset: Any
) -> None:
    starts = sorted(_started(i) for i in sites_dataset.incidents)
    as_of = starts[len(starts) // 2]
    rows = asset_exposure(sites_frames, as_of=as_of).set_index("asset_id")
    for site, payloads in _site_of(sites_dataset).items():
        then = [i for i in payloads if _started(i) <= as_of]
        row = rows.loc[site]
        assert row["incidents"] == len(then) <= len(payloads)
        # "open" is the status the API reported at the fetch, of those that existed then.
        assert row["open"] == sum(i["status"] == "open" for i in then)
    assert rows["incidents"].sum() < asset_exposure(sites_frames, as_of=AS_OF)["incidents"].sum()


def test_active_sites_first_each_group_most_exposed_first(sites_frames: IncidentFrames) -> None:
    exposure = asset_exposure(sites_frames, as_of=AS_OF)
    status = {a.asset_id: a.status for a in SITES}
    assert exposure["site_status"].astype(str).tolist() == [status[a] for a in exposure["asset_id"]]
    archived = exposure["site_status"] == "archived"
    assert archived.any()
    assert (~archived).any()
    # Every active site before every archived one, whatever their exposure.
    assert archived.to_numpy().tolist() == sorted(archived.to_numpy().tolist())
    keys = list(zip(archived, -exposure["max_open_severity"].cat.codes, -exposure["open"],
                    strict=True))  # fmt: skip
    assert keys == sorted(keys)
    # The archived depot comes after live sites less exposed than it.
    rows = exposure.set_index("asset_id")
    apapa = rows.loc["lagos-apapa-depot"]
    assert apapa["site_status"] == "archived"
    quieter = rows[(rows["site_status"] == "active") & (rows["open"] < apapa["open"])]
    assert len(quieter)
    assert (exposure["asset_id"].tolist().index("lagos-apapa-depot")
            > max(exposure["asset_id"].tolist().index(a) for a in quieter.index))  # fmt: skip


def test_most_exposed_first(sites_frames: IncidentFrames) -> None:
    exposure = asset_exposure(sites_frames, as_of=AS_OF)

    # Make one site's only open critical incidents resolved: it must drop below others.
    frames = copy.deepcopy(sites_frames)
    incidents = frames.incidents
    top = exposure["asset_id"].iloc[0]
    mine = frames.incident_assets.loc[frames.incident_assets["asset_id"] == top, "incident_id"]
    is_mine_open = incidents["incident_id"].isin(mine) & (incidents["status"] == "open")
    incidents.loc[is_mine_open.to_numpy(dtype=bool), "status"] = "closed"
    again = asset_exposure(frames, as_of=AS_OF)
    row = again.set_index("asset_id").loc[top]
    assert row["open"] == 0
    assert pd.isna(row["max_open_severity"])
    assert row["open_critical"] == 0
    # Below every site of its status that still has open incidents.
    same = again[again["site_status"] == row["site_status"]]
    still_open = same.index[same["open"] > 0]
    assert again.index[again["asset_id"] == top][0] > still_open.max()


def test_a_site_without_incidents_has_zeros(sites_frames: IncidentFrames) -> None:
    frames = copy.deepcopy(sites_frames)
    extra = typed("assets", [{"asset_id": "empty-depot", "name": "Empty depot",
                              "lat": 10.0, "lng": 10.0, "monitoring_radius_km": 5.0}])  # fmt: skip
    frames.assets = pd.concat([frames.assets, extra], ignore_index=True).astype(
        frames.assets.dtypes.to_dict()
    )
    exposure = asset_exposure(frames, as_of=AS_OF)
    assert len(exposure) == len(SITES) + 1
    row = exposure.set_index("asset_id").loc["empty-depot"]
    assert (row["incidents"], row["open"], row["open_critical"]) == (0, 0, 0)
    assert pd.isna(row["max_open_severity"])
    assert pd.isna(row["km_median"])
    assert exposure["asset_id"].iloc[-1] == "empty-depot"


def test_exposure_is_empty_and_typed_without_sites(sandbox_frames: IncidentFrames) -> None:
    exposure = asset_exposure(sandbox_frames, as_of=AS_OF)
    assert exposure.empty
    assert list(exposure.columns) == list(EXPOSURE_COLUMNS)
    assert exposure["incidents"].dtype == "int64"
    assert exposure["km_median"].dtype.kind == "m"
    assert isinstance(exposure["max_open_severity"].dtype, pd.CategoricalDtype)


def test_exposure_default_as_of_is_read_at_call_time(sites_frames: IncidentFrames) -> None:
    later = asset_exposure(sites_frames)  # now: after the data's end, so more time passes
    fixed = asset_exposure(sites_frames, as_of=AS_OF)
    assert later["incidents"].tolist() == fixed["incidents"].tolist()
    with pytest.raises(ValueError, match="as_of"):
        asset_exposure(sites_frames, as_of="not a time")


def test_an_export_of_schema_version_2_reads_status_as_site_status(
    sites_frames: IncidentFrames, tmp_path: Path
) -> None:
    sites_frames.to_parquet(tmp_path)
    # As version 2 wrote it, by hand: the site's status in a column named "status".
    for path in sorted(tmp_path.glob("*.parquet")):
        table = pq.read_table(path)
        record = json.loads(table.schema.metadata[b"intrace_analytics"])
        record["schema_version"] = 2
        if record["table"] == "assets":
            table = table.rename_columns(
                ["status" if name == "site_status" else name for name in table.column_names]
            )
            record["categories"]["status"] = record["categories"].pop("site_status")
        metadata = {b"intrace_analytics": json.dumps(record).encode()}
        pq.write_table(table.replace_schema_metadata(metadata), path, compression="zstd")
    assert "status" in pq.read_schema(tmp_path / "assets.parquet").names
    back = read_parquet(tmp_path)
    pd.testing.assert_frame_equal(back.assets, sites_frames.assets)
    assert back.metadata["schema_version"] == 2
    assert set(back.assets["site_status"]) == {"active", "archived"}
    # Written again, it is today's version, under today's name.
    back.to_parquet(tmp_path / "again")
    assert "site_status" in pq.read_schema(tmp_path / "again" / "assets.parquet").names
    pd.testing.assert_frame_equal(read_parquet(tmp_path / "again").assets, sites_frames.assets)
