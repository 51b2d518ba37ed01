"""The sandbox's sites at the wire level: ``GET /v1/assets`` and the ``asset_id`` filter."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from intrace_analytics.sandbox import ANCHOR, ASSETS, SITES, SandboxServer, generate_dataset
from tests.helpers import site_ids

KEY = "sbx_canary_51735_do_not_echo"
N = 150
ARCHIVED, EMPTY = "lagos-apapa-depot", "cape-town-residence"

FIELDS = {
    "id", "asset_id", "type", "name", "role", "status", "created_at", "updated_at",
    "attributes", "threat_config", "physical_threat_config",
}  # fmt: skip
CAMEL_FIELDS = {
    "id", "assetId", "type", "name", "role", "status", "createdAt", "updatedAt",
    "attributes", "threatConfig", "physicalThreatConfig",
}  # fmt: skip
ATTRIBUTES = {"lat", "lng", "address", "country", "monitoring_radius_km"}
CAMEL_ATTRIBUTES = {"lat", "lng", "address", "country", "monitoringRadiusKm"}


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(incidents=N, seed=11, api_key=KEY) as server:
        yield server


def get(
    server: SandboxServer,
    params: dict[str, Any] | list[tuple[str, Any]] | None = None,
    *,
    key: str | None = KEY,
    path: str = "/v1/assets",
    **kwargs: Any,
) -> requests.Response:
    headers = {"X-API-Key": key} if key is not None else {}
    return requests.get(server.url + path, params=params, headers=headers, timeout=5, **kwargs)


def error(response: requests.Response) -> dict[str, Any]:
    assert response.headers["Content-Type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "retryable"}
    return body["error"]


def read_site(server: SandboxServer, asset_id: str, limit: int = 40) -> list[str]:
    """Every id of ``/v1/incidents?asset_id=...``, page by page."""
    out: list[str] = []
    while True:
        params = {"asset_id": asset_id, "limit": limit, "offset": len(out)}
        page = get(server, params, path="/v1/incidents").json()
        out += [i["id"] for i in page["incidents"]]
        if len(out) >= page["total"] or not page["incidents"]:
            return out


# -- the list -------------------------------------------------------------------------


def test_every_site_and_field_in_snake_case(sandbox: SandboxServer) -> None:
    response = get(sandbox)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"assets"}  # one unpaginated response: no total
    assets = body["assets"]
    assert assets == sandbox.assets
    assert [a["asset_id"] for a in assets] == [s.asset_id for s in SITES]
    assert {a.asset_id for a in ASSETS} < set(site_ids(sandbox))
    for asset in assets:
        assert set(asset) == FIELDS
        assert set(asset["attributes"]) == ATTRIBUTES
        assert str(uuid.UUID(asset["id"])) == asset["id"]
        assert asset["status"] in ("active", "archived")
        assert asset["type"] in ("facility", "warehouse", "residence")
        assert re.fullmatch(r"[A-Z]{2}", asset["attributes"]["country"])
        assert 5 <= asset["attributes"]["monitoring_radius_km"] <= 35
        assert -90 <= asset["attributes"]["lat"] <= 90
        assert -180 <= asset["attributes"]["lng"] <= 180
        created = datetime.fromisoformat(asset["created_at"])
        updated = datetime.fromisoformat(asset["updated_at"])
        assert created <= updated <= sandbox.end
        assert isinstance(asset["threat_config"]["enabled"], bool)
        assert isinstance(asset["physical_threat_config"]["enabled"], bool)
    assert len({a["id"] for a in assets}) == len(assets)


def test_uuids_are_stable_per_seed() -> None:
    def uuids(seed: int) -> list[str]:
        with SandboxServer(incidents=1, seed=seed) as server:
            return [a["id"] for a in server.assets]

    assert uuids(4) == uuids(4)
    assert not set(uuids(4)) & set(uuids(5))


def test_camel_and_mixed_casing(sandbox: SandboxServer) -> None:
    sandbox.casing = "camel"
    camel = get(sandbox).json()["assets"]
    for asset in camel:
        assert set(asset) == CAMEL_FIELDS
        assert set(asset["attributes"]) == CAMEL_ATTRIBUTES
        assert "lookbackDays" in asset["threatConfig"]
    assert [a["assetId"] for a in camel] == site_ids(sandbox)
    assert (
        camel[0]["attributes"]["monitoringRadiusKm"]
        == (sandbox.assets[0]["attributes"]["monitoring_radius_km"])
    )

    sandbox.casing = "mixed"
    mixed = get(sandbox).json()["assets"]
    assert get(sandbox).json()["assets"] == mixed  # the same request, the same body
    kinds = {"assetId" in a for a in mixed}
    assert kinds == {True, False}
    for asset in mixed:
        expected = CAMEL_FIELDS if "assetId" in asset else FIELDS
        assert set(asset) == expected


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "archived"}, [ARCHIVED]),
        ({"type": "residence"}, [EMPTY]),
        ({"type": "warehouse", "status": "active"}, ["johannesburg-warehouse"]),
        (
            {"status": "active", "type": "facility"},
            [a.asset_id for a in ASSETS if a.type == "facility"],
        ),
        ({"status": "deleted"}, []),  # unknown values select nothing: no error
        ({"type": "Facility"}, []),  # exact match
        ({"limit": "abc", "note": "x"}, [s.asset_id for s in SITES]),  # ignored
    ],
)
def test_filters(sandbox: SandboxServer, params: dict[str, str], expected: list[str]) -> None:
    response = get(sandbox, params)
    assert response.status_code == 200
    assert [a["asset_id"] for a in response.json()["assets"]] == expected
    filters = {k: v for k, v in params.items() if k in ("status", "type")}
    assert site_ids(sandbox, **filters) == expected


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ([("status", "active"), ("status", "archived")], "status must be given at most once"),
        ([("type", "")], "type must be a non-empty string, got ''"),
        ([("status", "  ")], "status must be a non-empty string"),
    ],
)
def test_malformed_filters_get_the_error_envelope(
    sandbox: SandboxServer, params: list[tuple[str, str]], message: str
) -> None:
    response = get(sandbox, params)
    assert response.status_code == 422
    body = error(response)
    assert body["code"] == "invalid_parameter"
    assert body["message"].startswith(message)
    assert body["retryable"] is False


@pytest.mark.parametrize("key", [None, "sbx_wrong"])
def test_unauthorized(sandbox: SandboxServer, key: str | None) -> None:
    sandbox.forbid_assets()  # 401 comes first: the key is checked before its scope
    response = get(sandbox, {"status": "x"}, key=key)
    assert response.status_code == 401
    assert error(response)["code"] == "unauthorized"


def test_methods_and_unknown_paths(sandbox: SandboxServer) -> None:
    response = requests.post(sandbox.url + "/v1/assets", headers={"X-API-Key": KEY}, timeout=5)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"
    missing = get(sandbox, path="/v1/asset")
    assert missing.status_code == 404
    assert "GET /v1/assets" in error(missing)["message"]


def test_forbid_assets_touches_only_assets(sandbox: SandboxServer) -> None:
    sandbox.forbid_assets()
    sandbox.clear_faults()  # a setting, not a switch: it stays
    for _ in range(2):
        response = get(sandbox)
        assert response.status_code == 403
        body = error(response)
        assert body["code"] == "forbidden"
        assert body["retryable"] is False
    assert sandbox.requests[-1].fault == "forbid_assets"
    incidents = get(sandbox, {"asset_id": "lagos-hq"}, path="/v1/incidents")
    assert incidents.status_code == 200
    assert incidents.json()["total"] == len(sandbox.incidents_of("lagos-hq"))
    assert get(sandbox, path="/v1/incidents").status_code == 200
    sandbox.forbid_assets(False)
    assert get(sandbox).status_code == 200


# -- faults ---------------------------------------------------------------------------


def test_faults_aimed_at_assets_leave_incident_pages_alone(sandbox: SandboxServer) -> None:
    sandbox.fail(503, path="/v1/assets")
    sandbox.rate_limit(2, path="/v1/assets")
    assert get(sandbox, path="/v1/incidents").status_code == 200  # not consumed here
    first = get(sandbox)
    assert first.status_code == 503
    assert error(first)["retryable"] is True
    second = get(sandbox)
    assert second.status_code == 429
    assert second.headers["Retry-After"] == "2"
    assert get(sandbox).status_code == 200
    assert [r.fault for r in sandbox.requests] == [None, "fail", "rate_limit", None]


def test_faults_default_to_incidents_and_path_none_means_either(sandbox: SandboxServer) -> None:
    sandbox.fail(500)  # the default path: /v1/incidents
    assert get(sandbox).status_code == 200
    assert get(sandbox, path="/v1/incidents").status_code == 500
    sandbox.fail(502, path=None, times=2)
    assert get(sandbox).status_code == 502
    assert get(sandbox, path="/v1/incidents").status_code == 502


@pytest.mark.parametrize("switch", ["drop_connection", "truncate_body"])
def test_cut_assets_body(sandbox: SandboxServer, switch: str) -> None:
    getattr(sandbox, switch)(path="/v1/assets")
    with pytest.raises(requests.exceptions.RequestException):
        get(sandbox)
    assert get(sandbox).json()["assets"] == sandbox.assets


@pytest.mark.parametrize(
    ("kind", "check"),
    [
        ("wrong_shape", lambda body: set(body) == {"data", "count"}),
        ("bad_total", lambda body: body["total"] == "many" and len(body["assets"]) == 8),
    ],
)
def test_bad_assets_bodies(sandbox: SandboxServer, kind: str, check: Any) -> None:
    sandbox.bad_body(kind, path="/v1/assets")
    assert check(get(sandbox).json())


def test_assets_latency_and_trickle(sandbox: SandboxServer) -> None:
    sandbox.trickle_body(interval=0.01, chunk=512, path="/v1/assets")
    assert get(sandbox).json()["assets"] == sandbox.assets
    sandbox.latency = 0.2
    started = time.monotonic()
    assert get(sandbox).status_code == 200
    assert time.monotonic() - started >= 0.2


def test_fault_aimed_at_one_sites_read(sandbox: SandboxServer) -> None:
    sandbox.fail(503, asset_id="london-office")
    assert get(sandbox, {"asset_id": "lagos-hq"}, path="/v1/incidents").status_code == 200
    assert get(sandbox, path="/v1/incidents").status_code == 200
    both = [("asset_id", "london-office"), ("asset_id", "jakarta-office")]
    assert get(sandbox, both, path="/v1/incidents").status_code == 503
    with pytest.raises(ValueError, match=r"^asset_id must be None or a site id"):
        sandbox.fail(asset_id="lagos-hq", path="/v1/assets")
    with pytest.raises(ValueError, match=r"^path must be one of '/v1/incidents', '/v1/assets'"):
        sandbox.fail(path="/v1/threats")


# -- membership -----------------------------------------------------------------------


@pytest.mark.parametrize("casing", ["snake", "camel"])
def test_each_sites_read_is_its_truth(sandbox: SandboxServer, casing: str) -> None:
    sandbox.casing = casing
    key = "assetId" if casing == "camel" else "asset_id"
    served = [a[key] for a in get(sandbox).json()["assets"]]
    assert served == site_ids(sandbox)
    for asset_id in served:
        truth = [
            i["id"]
            for i in sandbox.dataset.incidents
            if asset_id in sandbox.dataset.assets_of[i["id"]]
        ]
        assert read_site(sandbox, asset_id) == truth == sandbox.incidents_of(asset_id)
    assert sandbox.incidents_of(EMPTY) == []
    assert sandbox.incidents_of(ARCHIVED)  # archived now, but it had incidents
    known = set(served)
    assert all(set(sites) <= known for sites in sandbox.dataset.assets_of.values())


def test_archived_site_has_only_incidents_from_before_it_was_archived(
    sandbox: SandboxServer,
) -> None:
    (record,) = [a for a in sandbox.assets if a["asset_id"] == ARCHIVED]
    archived = datetime.fromisoformat(record["updated_at"])
    created = {i["id"]: datetime.fromisoformat(i["created_at"]) for i in sandbox.dataset.incidents}
    ids = sandbox.incidents_of(ARCHIVED)
    assert all(created[i] < archived for i in ids)
    site = next(s for s in SITES if s.asset_id == ARCHIVED)
    for incident in sandbox.dataset.incidents:
        if incident["id"] in ids:
            locations = {
                link["threat"]["location"] for link in incident["threat_links"] if "threat" in link
            }
            assert locations & set(site.places) or len(locations) < len(incident["threat_links"])


def test_status_filter_with_a_site(sandbox: SandboxServer) -> None:
    truth = [i["id"] for i in sandbox.dataset.incidents if i["status"] == "open"]
    truth = [i for i in truth if "lagos-hq" in sandbox.dataset.assets_of[i]]
    params = {"asset_id": "lagos-hq", "status": "open", "limit": 500}
    page = get(sandbox, params, path="/v1/incidents").json()
    assert [i["id"] for i in page["incidents"]] == truth
    assert page["total"] == len(truth)


def test_drift_during_a_sites_read(sandbox: SandboxServer) -> None:
    before = sandbox.incidents_of("nairobi-office")
    sandbox.insert_between_pages(2, asset_id="nairobi-office")
    # The main read (no asset_id) does not trigger it.
    main = get(sandbox, {"limit": 10}, path="/v1/incidents").json()
    assert main["total"] == N
    first = get(sandbox, {"asset_id": "nairobi-office", "limit": 10}, path="/v1/incidents")
    assert [i["id"] for i in first.json()["incidents"]] == before[:10]
    assert sandbox.requests[-1].fault == "insert_between_pages"
    after = sandbox.incidents_of("nairobi-office")
    new = after[:2]
    assert after[2:] == before
    assert not set(new) & {i["id"] for i in main["incidents"]}
    assert all("nairobi-office" in sandbox.dataset.assets_of[i] for i in new)
    assert read_site(sandbox, "nairobi-office") == after
    # New incidents are created after the history's end and still in the past.
    for incident in sandbox.dataset.incidents[:2]:
        assert sandbox.end < datetime.fromisoformat(incident["created_at"]) < datetime.now(UTC)

    sandbox.delete_between_pages(3, asset_id="london-office", after_offset=0)
    london = sandbox.incidents_of("london-office")
    get(sandbox, {"asset_id": "london-office"}, path="/v1/incidents")
    assert sandbox.incidents_of("london-office") == london[3:]
    assert len(sandbox.dataset.incidents) == N + 2 - 3
    assert not set(london[:3]) & set(sandbox.dataset.assets_of)


def test_inserted_incidents_always_get_sites(sandbox: SandboxServer) -> None:
    sandbox.insert_between_pages(5)
    get(sandbox, path="/v1/incidents")
    known = set(site_ids(sandbox))
    for incident in sandbox.dataset.incidents[:5]:
        sites = sandbox.dataset.assets_of[incident["id"]]
        assert sites
        assert set(sites) <= known


# -- the timeline ---------------------------------------------------------------------


def test_timeline_ends_shortly_before_the_server_starts() -> None:
    started = datetime.now(UTC)
    with SandboxServer(incidents=400, seed=2) as server:
        assert started - timedelta(hours=3) <= server.end <= started
        latest = max(datetime.fromisoformat(i["created_at"]) for i in server.dataset.incidents)
        updated = max(datetime.fromisoformat(i["updated_at"]) for i in server.dataset.incidents)
        assert started - timedelta(days=2) < latest <= server.end
        assert updated <= server.end + timedelta(seconds=1)
        for asset in server.assets:
            assert datetime.fromisoformat(asset["updated_at"]) < started
    # Only the times move with the end: the same random draws, ids and texts.
    fixed = generate_dataset(400, seed=2)
    assert [i["id"] for i in fixed.incidents] == [i["id"] for i in server.dataset.incidents]
    assert fixed.assets_of.keys() == server.dataset.assets_of.keys()


def test_a_fixed_end_is_reproducible() -> None:
    bodies = []
    for _ in range(2):
        with SandboxServer(incidents=40, seed=3, end=ANCHOR, api_key=KEY) as server:
            assert server.end == ANCHOR
            bodies.append((get(server).content, get(server, path="/v1/incidents").content))
    assert bodies[0] == bodies[1]
    assert server.dataset == generate_dataset(40, seed=3)
    with pytest.raises(ValueError, match=r"^end must be a timezone-aware datetime or None"):
        SandboxServer(incidents=1, end=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match=r"^end must be a timezone-aware datetime or None"):
        generate_dataset(1, end="2026-01-01")  # type: ignore[arg-type]


def test_cli_sandbox_prints_url_and_key() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "intrace_analytics", "sandbox", "--port", "0", "--incidents", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        url = lines[1].strip().removeprefix("export INTRACE_BASE_URL=")
        key = lines[2].strip().removeprefix("export INTRACE_API_KEY=")
        response = requests.get(url + "/v1/assets", headers={"X-API-Key": key}, timeout=5)
        assert [a["asset_id"] for a in response.json()["assets"]] == [s.asset_id for s in SITES]
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_a_sites_own_threats_lie_within_its_monitoring_radius(sandbox: SandboxServer) -> None:
    # Threats are evaluated against sites within their radius: the threats the sandbox
    # places around a site (its incidents' threats reported at the site's own places)
    # must lie inside the circle a site map draws.
    radius = {a["asset_id"]: a["attributes"]["monitoring_radius_km"] for a in sandbox.assets}
    where = {a["asset_id"]: a["attributes"] for a in sandbox.assets}
    checked = 0
    for incident in sandbox.dataset.incidents:
        sites = sandbox.dataset.assets_of[incident["id"]]
        if len(sites) != 1:
            continue  # a shared incident's threats may lie around another of its sites
        (site,) = sites
        for link in incident["threat_links"]:
            threat = link.get("threat") or {}
            spot = threat.get("coordinates")
            if not spot:
                continue
            here = where[site]
            north = (spot["lat"] - here["lat"]) * 111.2
            east = (spot["lng"] - here["lng"]) * 111.2 * math.cos(math.radians(here["lat"]))
            assert math.hypot(north, east) <= radius[site], (site, threat["location"])
            checked += 1
    assert checked > 100
