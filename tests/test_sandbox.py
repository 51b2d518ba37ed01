"""The sandbox at the wire level: raw HTTP with ``requests``, not the package's client."""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
import requests

import intrace_analytics.sandbox as sandbox_module
from intrace_analytics.sandbox import (
    ANCHOR,
    ASSETS,
    SEVERITIES,
    THREAT_TYPES,
    Dataset,
    SandboxServer,
    generate_dataset,
    page_body,
    to_camel,
)

KEY = "sbx_canary_7f3a9e_do_not_echo"
N = 120
SNAKE_KEYS = {"threat_links", "threat_id", "added_at", "threat_type", "observed_at"}
SNAKE_KEYS |= {"created_at", "updated_at", "started_at", "resolved_at"}
CAMEL_KEYS = {"threatLinks", "threatId", "addedAt", "threatType", "observedAt"}
CAMEL_KEYS |= {"createdAt", "updatedAt", "startedAt", "resolvedAt"}


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(incidents=N, seed=11, api_key=KEY) as server:
        yield server


@pytest.fixture(scope="module")
def big() -> Dataset:
    return generate_dataset(2000, seed=3)


def get(
    server: SandboxServer,
    params: dict[str, Any] | list[tuple[str, Any]] | None = None,
    *,
    key: str | None = KEY,
    path: str = "/v1/incidents",
    **kwargs: Any,
) -> requests.Response:
    headers = {"X-API-Key": key} if key is not None else {}
    return requests.get(server.url + path, params=params, headers=headers, timeout=5, **kwargs)


def ids(response: requests.Response) -> list[str]:
    return [incident["id"] for incident in response.json()["incidents"]]


def all_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in all_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in all_keys(v)}
    return set()


def instant(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    assert parsed.tzinfo is not None, text
    return parsed


# -- the public surface -----------------------------------------------------------------


def test_exports_are_sorted_and_complete() -> None:
    expected = {
        "ANCHOR",
        "SITES",
        "asset_records",
        "SandboxServer",
        "Advance",
        "Asset",
        "ASSETS",
        "THREAT_TYPES",
        "SEVERITIES",
        "Dataset",
        "generate_dataset",
        "page_body",
        "to_camel",
    }
    assert set(sandbox_module.__all__) == expected
    # ruff's RUF022 order: SCREAMING_CASE, then CamelCase, then the rest, each sorted.
    assert sandbox_module.__all__ == [
        "ANCHOR",
        "ASSETS",
        "SEVERITIES",
        "SITES",
        "THREAT_TYPES",
        "Advance",
        "Asset",
        "Dataset",
        "SandboxServer",
        "asset_records",
        "generate_dataset",
        "page_body",
        "to_camel",
    ]


# -- the contract -----------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "sbx_wrong"])
def test_unauthorized(sandbox: SandboxServer, key: str | None) -> None:
    response = get(sandbox, key=key)
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"code", "message", "retryable"}
    assert error["code"] == "unauthorized"
    assert error["retryable"] is False
    assert KEY not in response.text
    assert sandbox.requests[-1].api_key == key
    assert sandbox.requests[-1].status == 401


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("limit", "0"),
        ("limit", "5001"),
        ("limit", "abc"),
        ("limit", ""),
        ("limit", "1.5"),
        ("offset", "-1"),
        ("offset", "x"),
        ("status", "pending"),
        ("status", "OPEN"),
        ("scope", "global"),
    ],
)
def test_invalid_parameters(sandbox: SandboxServer, name: str, value: str) -> None:
    response = get(sandbox, {name: value})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_parameter"
    assert error["retryable"] is False
    assert error["message"].startswith(f"{name} must be ")
    assert error["message"].endswith(f"got {value!r}")


def test_limit_message_is_exact(sandbox: SandboxServer) -> None:
    message = get(sandbox, {"limit": "0"}).json()["error"]["message"]
    assert message == "limit must be an integer between 1 and 5000, got '0'"


def test_limit_bounds_are_inclusive_and_unknown_parameters_ignored(sandbox: SandboxServer) -> None:
    assert len(ids(get(sandbox, {"limit": 1}))) == 1
    assert len(ids(get(sandbox, {"limit": 5000, "sort": "title", "page": "2"}))) == N


def test_unknown_path_and_method(sandbox: SandboxServer) -> None:
    for path in ("/v1/incident", "/", "/v1/incidents/x"):
        response = get(sandbox, path=path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    for method in ("POST", "DELETE", "PATCH", "PROPFIND"):
        response = requests.request(
            method, sandbox.url + "/v1/incidents", headers={"X-API-Key": KEY}, timeout=5
        )
        assert response.status_code == 405
        assert response.headers["Allow"] == "GET"
        assert response.json()["error"] == {
            "code": "method_not_allowed",
            "message": f"method {method} is not allowed; use GET",
            "retryable": False,
        }
    assert [r.status for r in sandbox.requests] == [404] * 3 + [405] * 4


def test_default_page_headers_and_total(sandbox: SandboxServer) -> None:
    response = get(sandbox)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert int(response.headers["Content-Length"]) == len(response.content)
    body = response.json()
    assert set(body) == {"incidents", "total"}
    assert body["total"] == N
    assert ids(response) == [i["id"] for i in sandbox.dataset.incidents[:100]]
    assert response.content == page_body(sandbox.dataset.incidents[:100], N)


def test_pagination_covers_every_id_once_over_keep_alive(sandbox: SandboxServer) -> None:
    seen: list[str] = []
    with requests.Session() as session:
        session.headers["X-API-Key"] = KEY
        for offset in range(0, N + 7, 7):
            response = session.get(
                sandbox.url + "/v1/incidents", params={"limit": 7, "offset": offset}, timeout=5
            )
            assert response.json()["total"] == N
            seen += ids(response)
    assert seen == [i["id"] for i in sandbox.dataset.incidents]
    assert len(set(seen)) == N
    assert ids(get(sandbox, {"offset": 10_000})) == []


def test_order_is_newest_first_and_stable(sandbox: SandboxServer) -> None:
    first = get(sandbox, {"limit": 5000})
    assert first.content == get(sandbox, {"limit": 5000}).content
    incidents = first.json()["incidents"]
    keys = [(-instant(i["created_at"]).timestamp(), i["id"]) for i in incidents]
    assert keys == sorted(keys)


def test_filters(sandbox: SandboxServer) -> None:
    data = sandbox.dataset.incidents
    for status in ("open", "closed", "resolved"):
        body = get(sandbox, {"status": status, "limit": 5000}).json()
        expected = [i["id"] for i in data if i["status"] == status]
        assert [i["id"] for i in body["incidents"]] == expected
        assert body["total"] == len(expected) > 0
    for scope in ("investigation", "aggregate"):
        body = get(sandbox, {"scope": scope, "limit": 5000}).json()
        expected = [i["id"] for i in data if i["scope"] == scope]
        assert [i["id"] for i in body["incidents"]] == expected
    assets_of = sandbox.dataset.assets_of
    lagos = [i["id"] for i in data if "lagos-hq" in assets_of[i["id"]]]
    assert ids(get(sandbox, {"asset_id": "lagos-hq", "limit": 5000})) == lagos
    both = [i["id"] for i in data if {"lagos-hq", "london-office"} & set(assets_of[i["id"]])]
    params = [("asset_id", "lagos-hq"), ("asset_id", "london-office"), ("limit", 5000)]
    assert ids(get(sandbox, params)) == both
    assert len(lagos) < len(both) < N
    combined = get(sandbox, [*params, ("status", "resolved"), ("scope", "investigation")])
    assert ids(combined) == [
        i
        for i in both
        if next(d for d in data if d["id"] == i)["status"] == "resolved"
        and next(d for d in data if d["id"] == i)["scope"] == "investigation"
    ]
    assert get(sandbox, {"asset_id": "atlantis"}).json() == {"incidents": [], "total": 0}
    paged = get(sandbox, [("asset_id", "lagos-hq"), ("limit", 3), ("offset", 3)]).json()
    assert [i["id"] for i in paged["incidents"]] == lagos[3:6]
    assert paged["total"] == len(lagos)


def test_camel_casing(sandbox: SandboxServer) -> None:
    sandbox.casing = "camel"
    body = get(sandbox, {"limit": 5000}).json()
    keys = all_keys(body["incidents"])
    assert {"threatLinks", "threatId", "addedAt", "createdAt", "updatedAt"} <= keys
    assert {"threatType", "observedAt", "startedAt", "resolvedAt"} <= keys
    assert not keys & SNAKE_KEYS
    assert [i["id"] for i in body["incidents"]] == [i["id"] for i in sandbox.dataset.incidents]


def test_mixed_casing_is_per_incident_and_repeatable(sandbox: SandboxServer) -> None:
    sandbox.casing = "mixed"
    first = get(sandbox, {"limit": 5000})
    assert first.content == get(sandbox, {"limit": 5000}).content
    kinds = Counter()
    for incident in first.json()["incidents"]:
        keys = all_keys(incident)
        camel, snake = bool(keys & CAMEL_KEYS), bool(keys & SNAKE_KEYS)
        assert camel != snake
        kinds["camel" if camel else "snake"] += 1
    assert kinds["camel"] > 20
    assert kinds["snake"] > 20
    with pytest.raises(
        ValueError, match=r"^casing must be one of 'snake', 'camel', 'mixed'; got 'kebab'$"
    ):
        sandbox.casing = "kebab"


def test_same_seed_same_bytes_other_seed_differs() -> None:
    params = {"limit": 50, "offset": 10}
    bodies = []
    for seed in (11, 11, 12):
        # The fixed anchor: by default the history ends shortly before the server starts.
        with SandboxServer(incidents=N, seed=seed, api_key=KEY, end=ANCHOR) as server:
            bodies.append(get(server, params).content)
    assert bodies[0] == bodies[1]
    assert bodies[0] != bodies[2]


# -- the data ---------------------------------------------------------------------------


def test_generate_dataset_is_deterministic() -> None:
    one, two = generate_dataset(300, seed=5), generate_dataset(300, seed=5)
    assert one == two
    assert page_body(one.incidents, 300) == page_body(two.incidents, 300)
    assert one.incidents != generate_dataset(300, seed=6).incidents
    for incident in one.incidents[:50]:
        parsed = uuid.UUID(incident["id"])
        assert parsed.version == 4
        assert str(parsed) == incident["id"]


def test_the_generated_data_is_pinned() -> None:
    # Figures in tests, notebooks and the README come from this data: a change to the
    # generator that alters it (a draw added, moved or dropped) must be deliberate, and
    # update this digest.
    data = generate_dataset(2000, seed=7)
    served = page_body(data.incidents, 2000) + json.dumps(data.assets_of).encode()
    digest = "d0a3692e1506bfacacd6a424bfffdac34a70ce6ae18a858331c4d9f94017ed15"
    assert hashlib.sha256(served).hexdigest() == digest


def test_later_batches_are_newer_and_distinct() -> None:
    base = generate_dataset(200, seed=5)
    batch = generate_dataset(10, seed=5, start_index=200)
    later = generate_dataset(10, seed=5, start_index=210)
    assert not {i["id"] for i in base.incidents} & {i["id"] for i in batch.incidents}
    assert instant(batch.incidents[-1]["created_at"]) > instant(base.incidents[0]["created_at"])
    assert instant(later.incidents[-1]["created_at"]) > instant(batch.incidents[0]["created_at"])
    assert set(batch.assets_of) == {i["id"] for i in batch.incidents}


def test_realism(big: Dataset) -> None:
    incidents = big.incidents
    n = len(incidents)
    statuses = Counter(i["status"] for i in incidents)
    assert 0.10 < statuses["open"] / n < 0.28
    assert 0.50 < statuses["resolved"] / n < 0.72
    assert 0.12 < statuses["closed"] / n < 0.30
    assert 0.6 < sum(i["scope"] == "investigation" for i in incidents) / n < 0.8
    assert 0.75 < sum("started_at" in i for i in incidents) / n < 0.93
    assert 0.6 < sum("description" in i for i in incidents) / n < 0.8

    counts = [len(i["threat_links"]) for i in incidents]
    assert min(counts) == 0
    assert max(counts) <= 8
    assert 2.6 < sum(counts) / n < 3.5
    links = [link for i in incidents for link in i["threat_links"]]
    assert 0.02 < sum("threat" not in link for link in links) / len(links) < 0.09

    copies: dict[str, list[dict[str, Any]]] = {}
    for link in links:
        if "threat" in link:
            assert link["threat"]["id"] == link["threat_id"]
            copies.setdefault(link["threat_id"], []).append(link["threat"])
    assert 1.1 < len({link["threat_id"] for link in links}) / n < 1.6
    shared = [c for c in copies.values() if len(c) > 1]
    assert len(shared) > 200
    assert all(json.dumps(c[0]) == json.dumps(other) for c in shared for other in c)

    threats = [c[0] for c in copies.values()]
    severities = Counter(t["severity"] for t in threats)
    assert set(severities) == set(SEVERITIES)
    assert severities["low"] > severities["medium"] > severities["high"] > severities["critical"]
    assert 0.35 < severities["low"] / len(threats) < 0.55
    assert 0.02 < severities["critical"] / len(threats) < 0.10
    types = Counter(t["threat_type"] for t in threats)
    assert set(types) <= set(THREAT_TYPES)
    assert types["crime_violence"] > types["geological"]
    assert types["transport"] > types["geological"]
    absent = sum("coordinates" not in t for t in threats)
    null = sum("coordinates" in t and t["coordinates"] is None for t in threats)
    assert 0.01 < absent / len(threats) < 0.08
    assert 0.01 < null / len(threats) < 0.08
    for threat in threats:
        instant(threat["observed_at"])
        if threat.get("coordinates"):
            lat, lng = threat["coordinates"]["lat"], threat["coordinates"]["lng"]
            assert any(abs(lat - a.lat) <= 0.3 and abs(lng - a.lng) <= 0.3 for a in ASSETS)

    for incident in incidents:
        created, updated = instant(incident["created_at"]), instant(incident["updated_at"])
        assert updated >= created
        assert "None" not in json.dumps(incident)
        assert None not in incident.values()
        if "started_at" in incident:
            assert instant(incident["started_at"]) <= created
        if incident["status"] == "open":
            assert "resolved_at" not in incident
        if "resolved_at" in incident:
            assert created <= instant(incident["resolved_at"]) <= updated
        if incident["status"] == "resolved":
            assert "resolved_at" in incident
        # One to three generated sites, then perhaps the archived depot (SITES).
        sites = big.assets_of[incident["id"]]
        own = [s for s in sites if s in {a.asset_id for a in ASSETS}]
        assert 1 <= len(own) <= 3
        assert sites[len(own) :] in ((), ("lagos-apapa-depot",))
    closed = [i for i in incidents if i["status"] == "closed"]
    assert 0.8 < sum("resolved_at" in i for i in closed) / len(closed) < 0.98
    assert max(instant(i["created_at"]) for i in incidents) < datetime.fromisoformat(
        "2026-10-01T00:00:00+00:00"
    )

    stamps = [i["created_at"] for i in incidents]
    assert 0.05 < sum(s[-6] in "+-" for s in stamps) / n < 0.15
    assert 0.08 < sum("." in s for s in stamps) / n < 0.25


def test_to_camel_and_page_body() -> None:
    incident = {
        "id": "i1",
        "threat_links": [{"id": "l1", "threat_id": "t1", "added_at": "2026-04-18T09:00:00Z"}],
        "created_at": "2026-04-18T09:00:00Z",
        "resolved_at": "2026-04-18T10:00:00Z",
    }
    assert to_camel(incident) == {
        "id": "i1",
        "threatLinks": [{"id": "l1", "threatId": "t1", "addedAt": "2026-04-18T09:00:00Z"}],
        "createdAt": "2026-04-18T09:00:00Z",
        "resolvedAt": "2026-04-18T10:00:00Z",
    }
    assert "threat_links" in incident  # not modified in place
    assert json.loads(page_body([incident], 9)) == {"incidents": [incident], "total": 9}
    assert json.loads(page_body([incident], 9, casing="camel"))["incidents"] == [to_camel(incident)]
    with pytest.raises(
        ValueError, match=r"^casing must be one of 'snake', 'camel', 'mixed'; got 'upper'$"
    ):
        page_body([], 0, casing="upper")


# -- fault switches ---------------------------------------------------------------------


def test_fail_then_normal(sandbox: SandboxServer) -> None:
    sandbox.fail(503, times=2)
    for _ in range(2):
        response = get(sandbox)
        assert response.status_code == 503
        assert response.json()["error"] == {
            "code": "service_unavailable",
            "message": "the service is temporarily unavailable; retry later",
            "retryable": True,
        }
    assert get(sandbox).status_code == 200
    assert [r.fault for r in sandbox.requests] == ["fail", "fail", None]
    sandbox.fail(500)
    assert get(sandbox).json()["error"]["code"] == "internal_error"
    sandbox.fail(403)
    assert get(sandbox).json()["error"]["retryable"] is False


def test_faults_skip_unauthorized_and_invalid_requests(sandbox: SandboxServer) -> None:
    sandbox.fail(500)
    assert get(sandbox, key="nope").status_code == 401
    assert get(sandbox, {"limit": 0}).status_code == 422
    assert get(sandbox, path="/v2").status_code == 404
    assert get(sandbox).status_code == 500
    assert get(sandbox).status_code == 200


def test_rate_limit_seconds(sandbox: SandboxServer) -> None:
    sandbox.rate_limit(2.5)
    response = get(sandbox)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert response.json()["error"]["code"] == "rate_limited"
    assert response.json()["error"]["retryable"] is True
    assert get(sandbox).status_code == 200


def test_rate_limit_http_date(sandbox: SandboxServer) -> None:
    sandbox.rate_limit(30, http_date=True)
    response = get(sandbox)
    assert response.status_code == 429
    header = response.headers["Retry-After"]
    assert header.endswith(" GMT")
    wait = email.utils.parsedate_to_datetime(header).timestamp() - time.time()
    assert 27 < wait <= 31


@pytest.mark.parametrize("switch", ["drop_connection", "truncate_body"])
def test_cut_bodies(sandbox: SandboxServer, switch: str) -> None:
    getattr(sandbox, switch)()
    with get(sandbox, {"limit": 50}, stream=True) as response:
        assert response.status_code == 200
        full = len(page_body(sandbox.dataset.incidents[:50], N))
        assert int(response.headers["Content-Length"]) == full
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            _ = response.content
    assert sandbox.requests[-1].fault == switch
    assert len(ids(get(sandbox, {"limit": 50}))) == 50


def test_trickle_is_slow_but_complete(sandbox: SandboxServer) -> None:
    expected = get(sandbox, {"limit": 2}).content
    sandbox.trickle_body(interval=0.05, chunk=len(expected) // 4 + 1)
    started = time.monotonic()
    response = get(sandbox, {"limit": 2})
    elapsed = time.monotonic() - started
    assert response.content == expected
    assert elapsed >= 0.15  # four chunks, three waits


def test_stop_is_prompt_during_a_trickle(sandbox: SandboxServer) -> None:
    sandbox.trickle_body(interval=0.2, chunk=8)
    outcome: list[str] = []

    def read() -> None:
        try:
            get(sandbox).content  # noqa: B018
            outcome.append("complete")
        except requests.exceptions.RequestException as exc:
            outcome.append(type(exc).__name__)

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.3)
    started = time.monotonic()
    sandbox.stop()
    assert time.monotonic() - started < 1
    reader.join(timeout=5)
    assert outcome == ["ChunkedEncodingError"]


@pytest.mark.parametrize(
    ("kind", "check"),
    [
        ("wrong_shape", lambda body: set(body) == {"data", "count"} and body["count"] == N),
        ("bad_total", lambda body: body["total"] == "many" and len(body["incidents"]) == 100),
    ],
)
def test_bad_json_bodies(sandbox: SandboxServer, kind: str, check: Any) -> None:
    sandbox.bad_body(kind)
    response = get(sandbox)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert check(response.json())


def test_not_json_body(sandbox: SandboxServer) -> None:
    sandbox.bad_body()
    response = get(sandbox)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html"
    assert response.text.startswith("<!DOCTYPE html>")
    with pytest.raises(requests.exceptions.JSONDecodeError):
        response.json()
    with pytest.raises(
        ValueError,
        match=r"^kind must be one of 'not_json', 'wrong_shape', 'bad_total'; got 'empty'$",
    ):
        sandbox.bad_body("empty")


def test_redirect(sandbox: SandboxServer) -> None:
    sandbox.redirect("https://evil.example/steal")
    response = get(sandbox, {"limit": 5, "offset": 10}, allow_redirects=False)
    assert response.status_code == 302
    assert response.headers["Location"] == "https://evil.example/steal?limit=5&offset=10"
    sandbox.redirect("https://evil.example/steal?", status=307)
    response = get(sandbox, {"limit": 5}, allow_redirects=False)
    assert response.status_code == 307
    assert response.headers["Location"] == "https://evil.example/steal?"
    sandbox.redirect("/v1/incidents", status=301)
    response = get(sandbox, {"limit": 5}, allow_redirects=False)
    assert response.headers["Location"] == f"{sandbox.url}/v1/incidents?limit=5"
    assert get(sandbox, allow_redirects=False).status_code == 200


def test_insert_between_pages(sandbox: SandboxServer) -> None:
    before = [i["id"] for i in sandbox.dataset.incidents]
    sandbox.insert_between_pages(3, after_offset=0)
    first = get(sandbox, {"limit": 10}).json()
    assert first["total"] == N  # computed before the insert
    assert [i["id"] for i in first["incidents"]] == before[:10]
    second = get(sandbox, {"limit": 10, "offset": 10}).json()
    assert second["total"] == N + 3
    assert [i["id"] for i in second["incidents"]] == before[7:17]  # shifted by 3
    new = [i["id"] for i in sandbox.dataset.incidents[:3]]
    assert not set(new) & set(before)
    assert all(i in sandbox.dataset.assets_of for i in new)
    assert ids(get(sandbox, {"limit": 3})) == new
    assert sandbox.requests[0].fault == "insert_between_pages"


def test_delete_between_pages(sandbox: SandboxServer) -> None:
    before = [i["id"] for i in sandbox.dataset.incidents]
    sandbox.delete_between_pages(4, after_offset=10)
    assert get(sandbox, {"limit": 10}).json()["total"] == N  # offset 0: no match
    middle = get(sandbox, {"limit": 10, "offset": 10}).json()
    assert [i["id"] for i in middle["incidents"]] == before[10:20]
    last = get(sandbox, {"limit": 10, "offset": 20}).json()
    assert last["total"] == N - 4
    assert [i["id"] for i in last["incidents"]] == before[24:34]  # shifted by 4
    assert before[0] not in sandbox.dataset.assets_of


def test_offset_matching_times_and_registration_order(sandbox: SandboxServer) -> None:
    sandbox.fail(502, offset=20, times=2)
    sandbox.fail(504)
    assert get(sandbox, {"offset": 0}).status_code == 504
    assert get(sandbox, {"offset": 0}).status_code == 200
    assert get(sandbox, {"offset": 20}).status_code == 502
    sandbox.fail(500)
    assert get(sandbox, {"offset": 20}).status_code == 502  # registered first
    assert get(sandbox, {"offset": 20}).status_code == 500
    assert get(sandbox, {"offset": 20}).status_code == 200
    sandbox.fail(503, times=5)
    sandbox.clear_faults()
    assert get(sandbox).status_code == 200
    with pytest.raises(ValueError, match=r"^times must be an integer >= 1; got 0$"):
        sandbox.fail(times=0)


@pytest.mark.parametrize(
    ("arm", "message"),
    [
        (lambda s: s.fail(200), "status must be an integer from 400 to 599; got 200"),
        (lambda s: s.fail(offset=-1), "offset must be an integer >= 0; got -1"),
        (
            lambda s: s.redirect("/", status=200),
            "status must be an integer from 300 to 399; got 200",
        ),
        (
            lambda s: s.rate_limit(-1),
            "retry_after must be a non-negative number of seconds; got -1",
        ),
        (
            lambda s: s.trickle_body(interval=-0.5),
            "interval must be a non-negative number of seconds; got -0.5",
        ),
        (lambda s: s.trickle_body(chunk=0), "chunk must be an integer >= 1; got 0"),
        (lambda s: s.insert_between_pages(0), "n must be an integer >= 1; got 0"),
        (
            lambda s: s.delete_between_pages(1, after_offset=-5),
            "after_offset must be an integer >= 0; got -5",
        ),
    ],
)
def test_fault_switch_arguments_are_checked(sandbox: SandboxServer, arm: Any, message: str) -> None:
    # Rejected when armed, not when a request meets them; nothing is armed.
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        arm(sandbox)
    assert get(sandbox).status_code == 200
    assert sandbox.requests[-1].fault is None


def test_arm_by_name_and_an_unknown_name_is_an_error(sandbox: SandboxServer) -> None:
    sandbox.arm("fail", status=502, times=2)
    sandbox.arm("bad_body", kind="wrong_shape")
    assert [get(sandbox).status_code for _ in range(2)] == [502, 502]
    assert set(get(sandbox).json()) == {"data", "count"}
    with pytest.raises(
        ValueError, match=r"^name must be one of 'fail', 'rate_limit', .*; got 'trickle'$"
    ):
        sandbox.arm("trickle")
    with pytest.raises(TypeError, match="status"):
        sandbox.arm("drop_connection", status=500)  # an option the switch does not have
    with pytest.raises(
        ValueError, match=r"^path must be one of '/v1/incidents'; got '/v1/assets'$"
    ):
        sandbox.arm("insert_between_pages", n=1, path="/v1/assets")  # sites do not drift
    assert get(sandbox).status_code == 200
    assert [r.fault for r in sandbox.requests] == ["fail", "fail", "bad_body", None]


def test_a_new_fault_switch_is_one_class(sandbox: SandboxServer) -> None:
    from intrace_analytics.sandbox._faults import SWITCHES, Answer, Request, Response

    @dataclass(frozen=True)
    class Teapot(Answer, name="teapot"):
        note: str = "short and stout"

        def respond(self, request: Request) -> Response:
            body = json.dumps({"note": self.note, "rows": len(request.rows)}).encode()
            return Response(418, body)

    try:
        with pytest.raises(TypeError, match="'teapot' exists already"):
            type("Again", (Answer,), {}, name="teapot")
        sandbox.arm("teapot", note="tip me over", offset=10)
        assert get(sandbox).status_code == 200  # offset 0: not its request
        response = get(sandbox, {"offset": 10, "limit": 5})
        assert response.status_code == 418
        assert response.json() == {"note": "tip me over", "rows": 5}
        assert sandbox.requests[-1].fault == "teapot"
    finally:
        del SWITCHES["teapot"]
    with pytest.raises(ValueError, match="^name must be one of"):
        sandbox.arm("teapot")


def test_incidents_inserted_into_an_empty_tenant_are_newer_than_its_history() -> None:
    with SandboxServer(incidents=0, seed=5, api_key=KEY, end=ANCHOR) as server:
        server.insert_between_pages(3)
        assert get(server).json()["total"] == 0
        server.insert_between_pages(2)
        body = get(server).json()
        assert body["total"] == 3
        server.insert_between_pages(1, asset_id="london-office")
        get(server, {"asset_id": "london-office"})
    created = [instant(i["created_at"]) for i in server.dataset.incidents]
    assert len(created) == 6
    assert all(moment > ANCHOR for moment in created)
    assert created == sorted(created, reverse=True)  # newest first: each batch in front
    assert [i["id"] for i in body["incidents"]] == [i["id"] for i in server.dataset.incidents[3:]]
    assert "london-office" in server.dataset.assets_of[server.dataset.incidents[0]["id"]]


def test_overlapping_gc_pauses_restore_the_collector_as_it_was() -> None:
    import gc

    from intrace_analytics.sandbox._gcpause import gc_paused

    assert gc.isenabled()
    first, second = gc_paused(), gc_paused()
    first.__enter__()
    second.__enter__()
    assert not gc.isenabled()
    first.__exit__(None, None, None)  # ends before the second: the collector stays off
    assert not gc.isenabled()
    second.__exit__(None, None, None)
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # off before: left off
    finally:
        gc.enable()


def test_generator_and_server_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match=r"^n must be an integer >= 0; got -1$"):
        generate_dataset(-1)
    with pytest.raises(ValueError, match=r"^start_index must be an integer >= 0; got -2$"):
        generate_dataset(1, start_index=-2)
    with pytest.raises(ValueError, match=r"^api_key must be a non-empty string or None"):
        SandboxServer(incidents=1, api_key="")
    with pytest.raises(ValueError, match=r"^casing must be one of 'snake', 'camel', 'mixed'"):
        SandboxServer(incidents=1, casing="CAMEL")


def test_latency(sandbox: SandboxServer) -> None:
    sandbox.latency = 0.2
    started = time.monotonic()
    assert get(sandbox, {"limit": 1}).status_code == 200
    assert time.monotonic() - started >= 0.2


def test_key_never_echoed(sandbox: SandboxServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="intrace_analytics.sandbox")
    sandbox.fail(503)
    sandbox.rate_limit(1)
    sandbox.bad_body("not_json")
    sandbox.redirect("https://elsewhere.example/")
    responses = [
        get(sandbox, {"status": KEY}),
        get(sandbox, {"limit": KEY}),
        get(sandbox, key=KEY + "x"),
        get(sandbox, key=None),
        get(sandbox, path="/" + KEY),
        get(sandbox, {"note": KEY}),  # consumes each fault in turn
        get(sandbox),
        get(sandbox),
        get(sandbox, allow_redirects=False),
        get(sandbox),
    ]
    assert [r.status_code for r in responses] == [422, 422, 401, 401, 404, 503, 429, 200, 302, 200]
    for response in responses:
        assert KEY not in response.text
        assert KEY not in str(response.headers)
    assert caplog.records
    assert KEY not in caplog.text
    assert KEY not in repr(sandbox)
    # Records keep the header as received, but their repr (what a failed assert shows)
    # leaves it out; the query string is reported as sent, hence the last, clean one.
    assert sandbox.requests[-1].api_key == KEY
    assert KEY not in repr(sandbox.requests[-1])


def _raw_exchange(server: SandboxServer, request_line: bytes) -> bytes:
    """Send one raw request and return everything the server answers until it closes."""
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(server.url)
    assert url.hostname is not None
    with socket.create_connection((url.hostname, url.port or 80), timeout=5) as connection:
        connection.sendall(
            request_line + b"\r\nHost: x\r\nX-API-Key: " + KEY.encode() + b"\r\n\r\n"
        )
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    return received


@pytest.mark.parametrize(
    "target",
    [
        b"http://[::1/v1/incidents",  # unbalanced IPv6 bracket
        b"http://::1]/v1/incidents",
        b"http://[::1]]/v1/incidents",
        b"http://localhost:99999/v1/incidents",  # port out of range
        b"http://localhost:port/v1/incidents",  # port not a number
        b"ftp://localhost/v1/incidents",  # not http
        b"http:///v1/incidents",  # no host
        "/v1/incidents/\u00e9".encode(),  # not ASCII (UTF-8 bytes)
        b"/v1/incidents?\xff\xfe",  # not ASCII, not UTF-8
        b"v1/incidents",  # not a path
        b"*",
        b"",  # empty target
        b"/" + b"a" * 70_000,  # overlong
    ],
    ids=repr,
)
def test_a_malformed_request_target_gets_a_4xx_envelope(
    sandbox: SandboxServer, target: bytes
) -> None:
    answer = _raw_exchange(sandbox, b"GET " + target + b" HTTP/1.1")
    assert answer, "no answer at all"
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert 400 <= status < 500, head
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message", "retryable"}
    assert error["retryable"] is False
    # The server survives: the next ordinary request is answered.
    assert get(sandbox, "/v1/incidents").status_code == 200


@pytest.mark.parametrize("casing", ["snake", "camel", "mixed"])
def test_a_cached_page_body_is_the_same_bytes_as_a_fresh_one(casing: str) -> None:
    # The server serializes each row once per casing and joins the fragments: the bodies
    # must not change by a byte, on the first call (filling the cache) or later ones.
    import random

    rows = generate_dataset(120, seed=4).incidents
    fresh = page_body(rows, 500, casing=casing, rng=random.Random(9))
    cache: dict[tuple[int, bool], bytes] = {}
    for _ in range(2):
        assert page_body(rows, 500, casing=casing, rng=random.Random(9), cache=cache) == fresh
    assert len(cache) >= len(rows)
