"""Sites over real HTTP: GET /v1/assets, each site's incidents, drift between the reads,
403, unknown ids, Parquet, the CLI's --no-assets, and the key never shown."""

from __future__ import annotations

import logging
import random
import warnings
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from intrace_analytics import (
    CompletenessWarning,
    DataQualityWarning,
    IncidentFrames,
    IntraceClient,
    ResponseFormatError,
    Retries,
    load_incidents,
    read_parquet,
)
from intrace_analytics.cli import main
from intrace_analytics.load._sites import load_assets
from intrace_analytics.sandbox import SandboxServer
from tests.helpers import CANARY_KEY, assert_no_key, incident_requests, served_ids

MakeClient = Callable[..., IntraceClient]


def site_ids(api: SandboxServer) -> list[str]:
    return [site["asset_id"] for site in api.assets]


def truth(api: SandboxServer, frames: IncidentFrames, status: str | None = None) -> pd.DataFrame:
    """incident_assets as the sandbox knows it: sites' order, then the frames' order."""
    order = {iid: n for n, iid in enumerate(frames.incidents["incident_id"])}
    status_of = {i["id"]: i["status"] for i in api.dataset.incidents}
    rows = []
    for site in frames.assets["asset_id"]:
        members = [
            i for i in api.incidents_of(site) if status in (None, status_of[i]) and i in order
        ]
        rows += [(i, site) for i in sorted(members, key=order.__getitem__)]
    return pd.DataFrame(rows, columns=["incident_id", "asset_id"]).astype("string")


def assert_exact(api: SandboxServer, frames: IncidentFrames, status: str | None = None) -> None:
    expected = [i["id"] for i in api.dataset.incidents if status is None or i["status"] == status]
    assert list(frames.incidents["incident_id"]) == expected
    pd.testing.assert_frame_equal(frames.incident_assets, truth(api, frames, status))


@pytest.mark.parametrize("casing", ["snake", "camel"])
def test_sites_and_membership_equal_the_sandbox_truth(
    api: SandboxServer, make_client: MakeClient, casing: str
) -> None:
    api.casing = casing
    frames = load_incidents(make_client(), assets=True, progress=False)
    report = frames.metadata
    assert report["complete"] is True
    assert report["assets_loaded"] is True
    # Every site the key can see, archived ones included, in the API's order.
    assert list(frames.assets["asset_id"]) == site_ids(api)
    assert {"archived", "active"} <= set(frames.assets["site_status"])
    first = api.assets[0]
    row = frames.assets.iloc[0]
    assert row["name"] == first["name"]
    assert row["lat"] == first["attributes"]["lat"]
    assert row["asset_uuid"] == first["id"]
    assert str(frames.assets["created_at"].dtype) == "datetime64[us, UTC]"
    assert_exact(api, frames)
    reads = report["asset_reads"]
    assert [r["asset_id"] for r in reads] == site_ids(api)
    assert all(r["complete"] for r in reads)
    assert sum(r["rows"] for r in reads) == len(frames.incident_assets)
    assert any(r["rows"] == 0 for r in reads)  # the site without incidents
    assert report["requests"] == len(api.requests)
    assert CANARY_KEY not in repr(report)


def test_a_status_filter_applies_to_every_site_read(
    api: SandboxServer, make_client: MakeClient
) -> None:
    frames = load_incidents(make_client(), status="open", assets=True, progress=False)
    assert frames.metadata["complete"] is True
    assert_exact(api, frames, status="open")
    site_reads = [r for r in api.requests if r.path == "/v1/incidents" and "asset_id" in r.query]
    assert site_reads
    assert all(r.query["status"] == ["open"] for r in site_reads)


def test_one_site_only(api: SandboxServer, make_client: MakeClient) -> None:
    site = site_ids(api)[1]
    frames = load_incidents(make_client(), assets=[site], progress=False)
    assert list(frames.assets["asset_id"]) == [site]
    assert set(frames.incident_assets["asset_id"]) == {site}
    assert list(frames.incident_assets["incident_id"]) == api.incidents_of(site)
    asked = {tuple(r.query["asset_id"]) for r in api.requests if "asset_id" in r.query}
    assert asked == {(site,)}


def test_sites_are_not_read_unless_asked(api: SandboxServer, make_client: MakeClient) -> None:
    frames = load_incidents(make_client(), progress=False)
    assert frames.metadata["assets_loaded"] is False
    assert frames.assets.empty
    assert frames.incident_assets.empty
    assert all(r.path == "/v1/incidents" for r in api.requests)


def test_load_assets_with_filters(api: SandboxServer, make_client: MakeClient) -> None:
    active = load_assets(make_client(), status="active")
    assert list(active["asset_id"]) == [
        s["asset_id"] for s in api.assets if s["status"] == "active"
    ]
    assert make_client().list_assets(status="archived")[0]["status"] == "archived"


def test_a_wrong_shape_names_the_field(api: SandboxServer, make_client: MakeClient) -> None:
    api.bad_body("wrong_shape", path="/v1/assets")
    with pytest.raises(ResponseFormatError) as caught:
        load_assets(make_client())
    assert "assets" in str(caught.value)


def test_a_forbidden_site_list_warns_and_loads_incidents_without_sites(
    api: SandboxServer, make_client: MakeClient
) -> None:
    api.forbid_assets()
    with pytest.warns(DataQualityWarning, match="403") as caught:
        frames = load_incidents(make_client(), assets=True, progress=False)
    assert frames.metadata["assets_loaded"] is False
    assert frames.metadata["complete"] is True
    assert frames.assets.empty
    assert frames.incident_assets.empty
    assert list(frames.incidents["incident_id"]) == served_ids(api)
    assert_no_key(*(w.message for w in caught))


def test_a_forbidden_site_list_says_the_asset_id_filter_went_unchecked(
    api: SandboxServer, make_client: MakeClient
) -> None:
    api.forbid_assets()
    with pytest.warns(DataQualityWarning, match="asset_id filter values could not be checked"):
        frames = load_incidents(make_client(), asset_id="no-such-site", progress=False)
    assert frames.incidents.empty  # the API matched nothing; the load went on, as told
    assert frames.metadata["complete"] is True


def test_an_unknown_asset_id_filter_is_refused_before_any_incident_is_read(
    api: SandboxServer, make_client: MakeClient
) -> None:
    with pytest.raises(ValueError, match="asset_id") as caught:
        load_incidents(make_client(), asset_id=[site_ids(api)[0], "lagos-hqq"], progress=False)
    message = str(caught.value)
    assert "got 'lagos-hqq'" in message
    assert "closest: 'lagos-hq'" in message
    assert incident_requests(api) == []  # only the site list was read
    assert [r.path for r in api.requests] == ["/v1/assets"]
    with pytest.raises(ValueError, match="closest: none close"):
        load_incidents(make_client(), asset_id="zzzzzzzz", assets=True, progress=False)
    assert incident_requests(api) == []


def test_an_unknown_site_in_assets_warns_naming_it(
    api: SandboxServer, make_client: MakeClient
) -> None:
    with pytest.warns(DataQualityWarning, match="'nowhere'"):
        frames = load_incidents(make_client(), assets=["nowhere", site_ids(api)[0]], progress=False)
    assert list(frames.assets["asset_id"]) == [site_ids(api)[0]]


def test_an_asset_id_filter_with_sites_holds_only_filtered_incidents(
    api: SandboxServer, make_client: MakeClient
) -> None:
    site = site_ids(api)[0]
    frames = load_incidents(make_client(), asset_id=site, assets=True, progress=False)
    assert frames.metadata["complete"] is True
    assert frames.metadata.get("drift_detected") is False
    assert list(frames.incidents["incident_id"]) == api.incidents_of(site)
    pd.testing.assert_frame_equal(frames.incident_assets, truth(api, frames))
    assert frames.incident_assets["asset_id"].nunique() > 1  # its incidents' other sites


@pytest.mark.parametrize("mutation", ["insert", "delete"])
def test_drift_during_the_site_reads_is_reconciled(
    api: SandboxServer, make_client: MakeClient, mutation: str
) -> None:
    site = site_ids(api)[1]
    if mutation == "insert":
        api.insert_between_pages(7, after_offset=0, asset_id=site)
    else:
        api.delete_between_pages(4, after_offset=0, asset_id=site)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompletenessWarning)
        frames = load_incidents(make_client(), assets=True, progress=False)
    report = frames.metadata
    assert report["complete"] is True
    assert report["drift_detected"] is True
    assert report["reconciled"] is True
    # Re-read: the main read saw the drift itself, or the sites' reads showed it.
    assert report["passes"] > 1 or report["asset_drift"]["main_rereads"] >= 1
    assert_exact(api, frames)  # equal to a clean read of the final data


def test_a_site_read_growing_ahead_of_every_request_is_an_incomplete_site_not_an_error(
    api: SandboxServer, make_client: MakeClient
) -> None:
    site = site_ids(api)[0]
    # Before every request of this site's reads, a page of new incidents of the site.
    api.arm("insert_between_pages", times=10_000, offset=None, asset_id=site, n=7)
    with pytest.warns(CompletenessWarning):  # not a ResponseFormatError from the loop guard
        frames = load_incidents(
            make_client(page_size=7), assets=True, progress=False, reconcile_passes=1
        )
    report = frames.metadata
    assert report["complete"] is False
    (read,) = [r for r in report["asset_reads"] if r["asset_id"] == site]
    assert read["complete"] is False
    assert read["rows"] > 0  # what the site's reads found is kept


def test_drift_that_never_settles_says_incomplete(
    api: SandboxServer, make_client: MakeClient
) -> None:
    site = site_ids(api)[0]
    api.insert_between_pages(3, after_offset=0, asset_id=site, times=50)
    with pytest.warns(CompletenessWarning):
        frames = load_incidents(make_client(), assets=True, progress=False, reconcile_passes=1)
    assert frames.metadata["complete"] is False
    assert frames.metadata["reconciled"] is False


@pytest.mark.parametrize("page_size", [None, 20], ids=["one page per site", "pages of 20"])
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_hostile_mixes_end_exact_or_warned(seed: int, page_size: int | None) -> None:
    # Guarantee: whatever the drift and faults, either the frames equal a clean read of
    # the final data (incidents and membership), or complete is False with a warning.
    # At the default page size every read here is one page; at 20, several, as at scale.
    rng = random.Random(seed)
    with SandboxServer(incidents=180, seed=seed, api_key=CANARY_KEY) as api:
        sites = site_ids(api)
        for _ in range(rng.randint(1, 3)):
            n, site = rng.randint(1, 9), rng.choice(sites)
            after = rng.choice([0, 0, page_size or 0])
            if rng.random() < 0.5:
                api.insert_between_pages(n, after_offset=after, asset_id=site)
            else:
                api.delete_between_pages(n, after_offset=after, asset_id=site)
        api.fail(503, times=rng.randint(0, 3) or 1, asset_id=rng.choice(sites))
        if rng.random() < 0.5:
            api.truncate_body(asset_id=rng.choice(sites))
        options = {} if page_size is None else {"page_size": page_size}
        fast = Retries(backoff_factor=0.001, backoff_max=0.01)
        client = IntraceClient(api.api_key, base_url=api.url, max_retries=fast, **options)
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            frames = load_incidents(client, assets=True, progress=False)
        if frames.metadata["complete"]:
            assert_exact(api, frames)
        else:
            assert any(issubclass(w.category, CompletenessWarning) for w in seen)
        assert_no_key(repr(frames.metadata), *(w.message for w in seen))
        site_offsets = {r.query["offset"][0] for r in api.requests if "asset_id" in r.query}
        if page_size is None:
            assert site_offsets == {"0"}  # every site in one page
        else:
            assert site_offsets - {"0"}  # some site read past its first page


def test_a_page_size_the_user_chose_is_honoured_by_the_site_reads(api: SandboxServer) -> None:
    client = IntraceClient(api.api_key, base_url=api.url, page_size=7)
    frames = load_incidents(client, assets=True, progress=False)
    assert frames.metadata["complete"] is True
    site_reads = [r for r in incident_requests(api) if "asset_id" in r.query]
    assert {r.query["limit"][0] for r in site_reads} == {"7"}
    assert {r.query["offset"][0] for r in site_reads} - {"0"}  # sites of more than 7
    main_reads = [r for r in incident_requests(api) if "asset_id" not in r.query]
    assert {r.query["limit"][0] for r in main_reads} == {"7", "1"}  # "1": the probe
    assert_exact(api, frames)


def test_at_the_default_page_size_site_reads_ask_for_the_largest_pages(
    api: SandboxServer,
) -> None:
    client = IntraceClient(api.api_key, base_url=api.url)
    frames = load_incidents(client, assets=True, progress=False)
    assert frames.metadata["complete"] is True
    limits = {r.query["limit"][0] for r in incident_requests(api) if "asset_id" in r.query}
    assert limits == {"5000"}
    assert {r.query["limit"][0] for r in incident_requests(api) if "asset_id" not in r.query} == {
        "1000",
        "1",
    }


def test_a_load_with_sites_round_trips_through_parquet(
    api: SandboxServer, make_client: MakeClient, tmp_path: Path
) -> None:
    frames = load_incidents(make_client(), assets=True, progress=False)
    frames.to_parquet(tmp_path)
    back = read_parquet(tmp_path)
    for name in ("incidents", "assets", "incident_assets"):
        pd.testing.assert_frame_equal(getattr(back, name), getattr(frames, name))
    assert back.metadata["asset_reads"] == frames.metadata["asset_reads"]
    assert (tmp_path / "assets.parquet").exists()


def test_fetch_counts_sites_and_no_assets_skips_them(
    api: SandboxServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("INTRACE_API_KEY", api.api_key)
    with_sites, without = tmp_path / "with", tmp_path / "without"
    assert main(["fetch", str(with_sites), "--base-url", api.url, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"{len(api.assets)} sites" in out
    assert read_parquet(with_sites).metadata["assets_loaded"] is True
    argv = ["fetch", str(without), "--base-url", api.url, "--no-assets", "--no-progress"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert " sites in " not in captured.out
    assert not (without / "assets.parquet").exists()
    assert read_parquet(without).incident_assets.empty
    assert_no_key(out, captured.out, captured.err, caplog.text)


def test_the_site_list_runs_beside_the_main_read_and_site_reads_follow_its_first_page(
    api: SandboxServer, make_client: MakeClient
) -> None:
    """The main read does not wait for GET /v1/assets; the sites' reads wait for the main
    read's first page (which says what the result set was before they began), so the
    only one-incident probe is the one after the sites' reads."""
    api.latency = 0.05
    frames = load_incidents(make_client(), assets=True, progress=False)
    assert frames.metadata["complete"] is True
    log = list(api.requests)
    first_main = next(
        i for i, r in enumerate(log)
        if r.path == "/v1/incidents" and "asset_id" not in r.query and r.query["limit"] != ["1"]
    )  # fmt: skip
    assets = next(i for i, r in enumerate(log) if r.path == "/v1/assets")
    site_reads = [i for i, r in enumerate(log) if "asset_id" in r.query]
    probes = [r for r in incident_requests(api) if r.query.get("limit") == ["1"]]
    assert first_main < min(site_reads)  # the sites wait for the main read's first page
    assert assets < min(site_reads)
    assert abs(first_main - assets) <= 1  # sent together, in whichever order they arrive
    # The same by the times the sandbox received them (the log is in answering order):
    # the list and the first page within one latency of each other, not one after the
    # other; the sites' first read only once the first page was answered.
    assert abs(log[first_main].time - log[assets].time) < api.latency
    assert min(log[i].time for i in site_reads) >= log[first_main].time + 0.9 * api.latency
    assert len(probes) == 1  # the closing probe; the main read's first page was the other
