"""The client against the sandbox over real HTTP: pagination, every fault, the key kept secret."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from intrace_analytics import (
    ApiError,
    AuthenticationError,
    IntraceClient,
    NetworkError,
    RateLimitError,
    ResponseFormatError,
)
from intrace_analytics.sandbox import SandboxServer
from tests.helpers import CANARY_KEY, assert_no_key, ids_of

MakeClient = Callable[..., IntraceClient]


def served_ids(api: SandboxServer) -> list[str]:
    return [incident["id"] for incident in api.dataset.incidents]


def incident_requests(api: SandboxServer) -> list:
    return [r for r in api.requests if r.path == "/v1/incidents"]


# -- construction and arguments ------------------------------------------------------


def test_missing_key_names_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INTRACE_API_KEY", raising=False)
    with pytest.raises(AuthenticationError, match="INTRACE_API_KEY"):
        IntraceClient()
    with pytest.raises(AuthenticationError, match="INTRACE_API_KEY"):
        IntraceClient("   ")


def test_key_and_base_url_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, api: SandboxServer
) -> None:
    monkeypatch.setenv("INTRACE_API_KEY", CANARY_KEY)
    monkeypatch.setenv("INTRACE_BASE_URL", api.url + "/")
    client = IntraceClient(page_size=100)
    assert client.base_url == api.url
    assert ids_of(client.iter_incident_pages()) == served_ids(api)


def test_default_base_url_is_intraces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INTRACE_BASE_URL", raising=False)
    assert IntraceClient("k").base_url == "https://api.intrace.ai"


def test_the_key_never_shows_in_repr_str_or_vars() -> None:
    client = IntraceClient(CANARY_KEY)
    assert "***" in repr(client)
    assert_no_key(repr(client), str(client), vars(client), repr(vars(client)))


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"page_size": 0}, ["page_size", "0", "1 to 5000"]),
        ({"page_size": 5001}, ["page_size", "5001"]),
        ({"page_size": "100"}, ["page_size", "'100'"]),
        ({"page_size": True}, ["page_size", "True"]),
        ({"max_workers": 0}, ["max_workers", "0"]),
        ({"max_retries": -1}, ["max_retries", "-1"]),
        ({"timeout": -1}, ["timeout", "-1"]),
        ({"timeout": (5,)}, ["timeout", "(5,)"]),
        ({"timeout": (5, 0)}, ["timeout (read)", "0"]),
        ({"deadline": 0}, ["deadline", "0"]),
        ({"base_url": "ftp://example.com"}, ["base_url", "ftp://example.com"]),
        ({"base_url": "https://api.intrace.ai?x=1"}, ["base_url", "query"]),
    ],
)
def test_bad_constructor_arguments_name_parameter_and_value(kwargs: dict, names: list[str]) -> None:
    with pytest.raises(ValueError, match="must") as info:
        IntraceClient("k", **kwargs)
    for name in names:
        assert name in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"status": "pending"}, ["status", "'pending'", "'open', 'closed', 'resolved'"]),
        ({"scope": "global"}, ["scope", "'global'", "'investigation', 'aggregate'"]),
        ({"asset_id": []}, ["asset_id", "empty"]),
        ({"asset_id": ["lagos-hq", ""]}, ["asset_id", "''"]),
        ({"asset_id": [3]}, ["asset_id", "3"]),
    ],
)
def test_bad_filters_raise_before_any_request(
    api: SandboxServer, make_client: MakeClient, kwargs: dict, names: list[str]
) -> None:
    client = make_client()
    with pytest.raises(ValueError, match="must") as info:
        client.iter_incident_pages(**kwargs)  # raised at the call, not at iteration
    for name in names:
        assert name in str(info.value)
    assert api.requests == []


def test_filters_are_case_folded(api: SandboxServer, make_client: MakeClient) -> None:
    pages = list(make_client().iter_incident_pages(status=" Open "))
    assert pages[0].params["status"] == "open"
    assert {i["status"] for p in pages for i in p.incidents} == {"open"}


# -- pagination ----------------------------------------------------------------------


def test_every_incident_exactly_once_in_the_servers_order(
    api: SandboxServer, make_client: MakeClient
) -> None:
    stream = make_client(page_size=50, max_workers=4).iter_incident_pages()
    pages = list(stream)
    assert ids_of(pages) == served_ids(api)
    assert [p.offset for p in pages] == [0, 50, 100, 150, 200]
    assert stream.stats.pages == 5
    assert stream.stats.requests == 5
    assert stream.stats.retries == 0
    assert len(incident_requests(api)) == 5


def test_a_page_keeps_its_provenance(api: SandboxServer, make_client: MakeClient) -> None:
    page = next(make_client(page_size=100).iter_incident_pages(scope="aggregate"))
    assert page.offset == 0
    assert page.limit == 100
    assert page.params == {"limit": 100, "offset": 0, "scope": "aggregate"}
    assert page.fetched_at.tzinfo is UTC
    assert json.loads(page.body)["incidents"] == page.incidents
    assert page.total == sum(1 for i in api.dataset.incidents if i["scope"] == "aggregate")
    assert "offset=0" in repr(page)


def test_total_a_multiple_of_the_page_size_sends_no_extra_request(
    make_client: MakeClient, api: SandboxServer
) -> None:
    pages = list(make_client(page_size=115).iter_incident_pages())
    assert [len(p.incidents) for p in pages] == [115, 115]
    assert len(incident_requests(api)) == 2


def test_an_empty_result_is_one_empty_page(api: SandboxServer, make_client: MakeClient) -> None:
    pages = list(make_client().iter_incident_pages(asset_id="no-such-asset"))
    assert len(pages) == 1
    assert pages[0].incidents == []
    assert pages[0].total == 0
    assert len(incident_requests(api)) == 1


def test_single_worker_gives_the_same_pages(api: SandboxServer, make_client: MakeClient) -> None:
    assert ids_of(make_client(max_workers=1, page_size=7).iter_incident_pages()) == served_ids(api)


@pytest.mark.parametrize(
    "filters",
    [
        {"status": "resolved"},
        {"scope": "investigation"},
        {"status": "open", "scope": "aggregate"},
    ],
)
def test_status_and_scope_filters(
    api: SandboxServer, make_client: MakeClient, filters: dict
) -> None:
    expected = [
        i["id"]
        for i in api.dataset.incidents
        if all(i[name] == value for name, value in filters.items())
    ]
    assert expected
    assert ids_of(make_client(page_size=20).iter_incident_pages(**filters)) == expected


def test_asset_filter_any_of(api: SandboxServer, make_client: MakeClient) -> None:
    wanted = {"lagos-hq", "nairobi-office"}
    expected = [
        i["id"] for i in api.dataset.incidents if wanted & set(api.dataset.assets_of[i["id"]])
    ]
    assert expected
    got = ids_of(make_client(page_size=20).iter_incident_pages(asset_id=sorted(wanted)))
    assert got == expected
    assert incident_requests(api)[0].query["asset_id"] == sorted(wanted)


def test_a_long_asset_list_is_split_and_merged_without_duplicates(
    api: SandboxServer, make_client: MakeClient
) -> None:
    real = sorted({a for assets in api.dataset.assets_of.values() for a in assets})
    # Hundreds of long ids (as a user pasting a whole portfolio would) with the real ones
    # spread through them, so several parts return the same incidents.
    fake = [f"portfolio-asset-{n:04d}-{'x' * 30}" for n in range(300)]
    asset_ids = fake[:100] + real + fake[100:200] + real + fake[200:]
    pages = list(make_client(page_size=40).iter_incident_pages(asset_id=asset_ids))
    got = ids_of(pages)
    assert len(got) == len(set(got))
    assert set(got) == set(served_ids(api))
    lengths = [
        len(api.url) + len("/v1/incidents?") + len(_query_string(r)) for r in incident_requests(api)
    ]
    assert max(lengths) <= 2000
    assert len({tuple(r.query["asset_id"]) for r in incident_requests(api)}) > 1


def _query_string(record) -> str:
    from urllib.parse import urlencode

    return urlencode(record.query, doseq=True)


def test_stopping_early_cancels_the_rest(api: SandboxServer, make_client: MakeClient) -> None:
    stream = make_client(page_size=10, max_workers=2).iter_incident_pages()
    first = next(stream)
    stream.close()
    assert first.offset == 0
    assert len(incident_requests(api)) < 23


# -- what is sent ------------------------------------------------------------------------


def test_key_in_a_header_only_with_user_agent_and_timeouts(
    api: SandboxServer, make_client: MakeClient
) -> None:
    list(make_client(page_size=100).iter_incident_pages())
    for record in incident_requests(api):
        assert record.api_key == CANARY_KEY
        assert CANARY_KEY not in json.dumps(record.query)
        assert record.path == "/v1/incidents"


def test_user_agent_names_the_package_version(make_client: MakeClient) -> None:
    from intrace_analytics import __version__

    session = make_client()._new_session()
    try:
        assert session.headers["User-Agent"] == f"intrace-analytics/{__version__}"
        assert session.default_timeout == (2.0, 5.0)
    finally:
        session.close()


# -- faults the client recovers from -------------------------------------------------------


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504])
def test_a_burst_of_server_errors_is_retried(
    api: SandboxServer, make_client: MakeClient, status: int
) -> None:
    api.fail(status, times=3, offset=100)
    stream = make_client().iter_incident_pages()
    assert ids_of(stream) == served_ids(api)
    assert stream.stats.retries == 3
    assert stream.stats.requests == 5 + 3


@pytest.mark.parametrize("http_date", [False, True])
def test_429_retry_after_is_honoured_in_both_forms(
    api: SandboxServer, make_client: MakeClient, http_date: bool
) -> None:
    api.rate_limit(retry_after=1, http_date=http_date, offset=0)
    waits: list[tuple[float, str]] = []
    started = time.monotonic()
    stream = make_client().iter_incident_pages(on_wait=lambda s, why: waits.append((s, why)))
    assert ids_of(stream) == served_ids(api)
    elapsed = time.monotonic() - started
    assert stream.stats.retries == 1
    if http_date:
        # An HTTP-date has one-second resolution: the wait is anything up to a second.
        assert elapsed < 2.5
        assert 0 <= stream.stats.rate_limit_wait_s <= 1.5
    else:
        assert elapsed >= 1.0
        assert stream.stats.rate_limit_wait_s == pytest.approx(1.0, abs=0.3)
        assert waits == [(1, "rate limited")]


def test_a_connection_dropped_mid_body_is_retried(
    api: SandboxServer, make_client: MakeClient, debug_logs: pytest.LogCaptureFixture
) -> None:
    api.drop_connection(times=2, offset=50)
    stream = make_client().iter_incident_pages()
    assert ids_of(stream) == served_ids(api)
    assert stream.stats.retries == 2
    assert_no_key(debug_logs.text)


def test_a_body_cut_short_of_its_content_length_is_retried(
    api: SandboxServer, make_client: MakeClient
) -> None:
    api.truncate_body(times=2, offset=0)
    api.truncate_body(times=1, offset=150)
    stream = make_client().iter_incident_pages()
    assert ids_of(stream) == served_ids(api)
    assert stream.stats.retries == 3


def test_rows_inserted_between_pages_shift_the_rest(
    api: SandboxServer, make_client: MakeClient
) -> None:
    before = served_ids(api)
    api.insert_between_pages(7, after_offset=0)
    stream = make_client(max_workers=1).iter_incident_pages()
    pages = list(stream)
    got = ids_of(pages)
    # Nothing that existed is lost: the client follows the grown total to the new end.
    assert set(before) <= set(got)
    assert pages[-1].total == len(before) + 7
    # The shift repeats the last rows of the first page; the load report (normalize) must
    # dedupe and flag it. The client shows the drift in page totals.
    assert len(got) - len(set(got)) == 7
    assert {p.total for p in pages} == {len(before), len(before) + 7}


def test_rows_deleted_between_pages_end_the_read_early(
    api: SandboxServer, make_client: MakeClient
) -> None:
    before = served_ids(api)
    api.delete_between_pages(5, after_offset=0)
    pages = list(make_client(max_workers=1).iter_incident_pages())
    got = ids_of(pages)
    assert len(got) == len(set(got))
    assert pages[-1].total == len(before) - 5
    # The five deleted rows had already been read on the first page; deleting them shifted
    # five surviving rows below offset 50, where the reader had already been: skipped.
    # The shrinking totals say so; the load report (normalize) must reconcile.
    after = served_ids(api)
    assert len(set(after) - set(got)) == 5
    assert {p.total for p in pages} == {len(before), len(before) - 5}


def test_a_same_origin_redirect_is_followed(api: SandboxServer, make_client: MakeClient) -> None:
    api.redirect(api.url + "/v1/incidents", offset=50)
    assert ids_of(make_client().iter_incident_pages()) == served_ids(api)


# -- faults the client fails on, quickly and clearly ---------------------------------------


def test_persistent_server_errors_fail_with_api_error(
    api: SandboxServer, make_client: MakeClient
) -> None:
    api.fail(503, times=100, offset=0)
    with pytest.raises(ApiError) as info:
        list(make_client(max_retries=3).iter_incident_pages())
    assert info.value.status_code == 503
    assert "after 3 retries" in str(info.value)
    assert len(incident_requests(api)) == 4
    assert_no_key(info.value)


def test_the_retry_budget_makes_an_outage_fail_fast(
    api: SandboxServer, make_client: MakeClient
) -> None:
    api.fail(503, times=1000)
    with pytest.raises(ApiError):
        list(make_client(max_retries=5, retry_budget=2).iter_incident_pages())
    # One request plus two budgeted retries, not six attempts.
    assert len(incident_requests(api)) == 3


def test_a_long_retry_after_raises_at_once(api: SandboxServer, make_client: MakeClient) -> None:
    api.rate_limit(retry_after=3600, offset=0)
    started = time.monotonic()
    with pytest.raises(RateLimitError) as info:
        list(make_client().iter_incident_pages())
    assert time.monotonic() - started < 2
    assert info.value.retry_after == pytest.approx(3600)
    assert "3600" in str(info.value)
    assert len(incident_requests(api)) == 1
    assert_no_key(info.value)


def test_rate_limited_after_every_retry(api: SandboxServer, make_client: MakeClient) -> None:
    api.rate_limit(retry_after=1, times=100, offset=0)
    with pytest.raises(RateLimitError) as info:
        list(make_client(max_retries=1).iter_incident_pages())
    assert info.value.retry_after == 1
    assert len(incident_requests(api)) == 2


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, ApiError), (403, AuthenticationError), (404, ApiError), (422, ApiError)],
)
def test_client_errors_are_not_retried(
    api: SandboxServer, make_client: MakeClient, status: int, error: type[Exception]
) -> None:
    api.fail(status, times=5, offset=0)
    with pytest.raises(error) as info:
        list(make_client().iter_incident_pages())
    assert info.value.status_code == status  # type: ignore[attr-defined]
    assert len(incident_requests(api)) == 1


def test_a_wrong_key_is_an_authentication_error(api: SandboxServer) -> None:
    client = IntraceClient("wrong-key", base_url=api.url)
    with pytest.raises(AuthenticationError) as info:
        list(client.iter_incident_pages())
    assert info.value.status_code == 401
    assert info.value.error_code == "unauthorized"
    assert "INTRACE_API_KEY" in str(info.value)
    assert len(api.requests) == 1


def test_a_real_404_names_status_and_url(api: SandboxServer) -> None:
    client = IntraceClient(CANARY_KEY, base_url=api.url + "/wrong-prefix")
    with pytest.raises(ApiError) as info:
        list(client.iter_incident_pages())
    assert info.value.status_code == 404
    assert "/wrong-prefix/v1/incidents" in str(info.value)
    assert len(api.requests) == 1


def test_a_body_cut_short_every_time_is_a_network_error(
    api: SandboxServer, make_client: MakeClient
) -> None:
    api.truncate_body(times=100, offset=0)
    started = time.monotonic()
    with pytest.raises(NetworkError, match="cut short") as info:
        list(make_client(max_retries=2).iter_incident_pages())
    assert time.monotonic() - started < 5
    assert len(incident_requests(api)) == 3
    assert_no_key(info.value)


def test_a_trickling_body_hits_the_deadline(api: SandboxServer, make_client: MakeClient) -> None:
    api.trickle_body(interval=0.1, chunk=8, offset=0)
    started = time.monotonic()
    with pytest.raises(NetworkError, match="deadline") as info:
        list(make_client(deadline=1.0, timeout=(1, 2)).iter_incident_pages())
    assert 1.0 <= time.monotonic() - started < 3
    assert_no_key(info.value)


def test_a_slow_server_times_out(api: SandboxServer, make_client: MakeClient) -> None:
    api.latency = 0.5
    started = time.monotonic()
    with pytest.raises(NetworkError, match="timed out") as info:
        list(make_client(timeout=(1, 0.1), max_retries=2).iter_incident_pages())
    assert time.monotonic() - started < 3
    assert_no_key(info.value)


def test_an_unreachable_host_is_a_network_error(debug_logs: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connection refused
        client = IntraceClient(
            CANARY_KEY, base_url=f"http://127.0.0.1:{port}", max_retries=2, backoff_factor=0.001
        )
        started = time.monotonic()
        with pytest.raises(NetworkError) as info:
            list(client.iter_incident_pages())
    assert time.monotonic() - started < 3
    assert f"127.0.0.1:{port}" in str(info.value)
    assert_no_key(info.value, debug_logs.text)


@pytest.mark.parametrize(
    ("kind", "field"), [("not_json", None), ("wrong_shape", "incidents"), ("bad_total", "total")]
)
def test_a_body_of_the_wrong_shape_names_offset_and_field(
    api: SandboxServer, make_client: MakeClient, kind: str, field: str | None
) -> None:
    api.bad_body(kind, offset=100)
    with pytest.raises(ResponseFormatError) as info:
        list(make_client().iter_incident_pages())
    assert info.value.offset == 100
    assert "offset 100" in str(info.value)
    assert info.value.field == field
    if field:
        assert repr(field) in str(info.value)


def test_a_redirect_to_another_origin_is_refused_and_the_key_stays_home(
    api: SandboxServer, make_client: MakeClient, debug_logs: pytest.LogCaptureFixture
) -> None:
    with SandboxServer(incidents=5, api_key="elsewhere") as other:
        api.redirect(other.url + "/v1/incidents", offset=0)
        with pytest.raises(ApiError, match="another origin") as info:
            list(make_client().iter_incident_pages())
        assert other.requests == []
    assert other.url.rsplit(":", 1)[1] in str(info.value)
    assert_no_key(info.value, debug_logs.text)


# -- a server that would make a naive paginator loop ----------------------------------------


class _BrokenPaginator(BaseHTTPRequestHandler):
    """Ignores offset (mode 'repeat') or keeps raising total (mode 'grow')."""

    mode = "repeat"
    served = 0

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        offset, limit = int(query["offset"][0]), int(query["limit"][0])
        type(self).served += 1
        if self.mode == "repeat":
            start, total = 0, 10 * limit
        else:
            start, total = offset, offset + 2 * limit
        rows = [{"id": f"i{n}"} for n in range(start, start + limit)]
        body = json.dumps({"incidents": rows, "total": total}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def broken_server() -> Iterator[tuple[str, type[_BrokenPaginator]]]:
    handler = type("Handler", (_BrokenPaginator,), {"served": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_a_page_that_repeats_the_previous_one_stops_the_load(broken_server) -> None:
    url, handler = broken_server
    handler.mode = "repeat"
    client = IntraceClient("k", base_url=url, page_size=10, max_workers=1)
    with pytest.raises(ResponseFormatError, match="repeats the page at offset 0") as info:
        list(client.iter_incident_pages())
    assert info.value.offset == 10


def test_more_pages_than_total_allows_stops_the_load(broken_server) -> None:
    url, handler = broken_server
    handler.mode = "grow"
    client = IntraceClient("k", base_url=url, page_size=10, max_workers=2)
    with pytest.raises(ResponseFormatError, match="pages"):
        list(client.iter_incident_pages())
    assert handler.served < 100


def test_latency_under_the_read_timeout_is_just_slow(
    api: SandboxServer, make_client: MakeClient
) -> None:
    api.latency = 0.2
    stream = make_client(timeout=(1, 2), page_size=100).iter_incident_pages()
    assert ids_of(stream) == served_ids(api)
    assert stream.stats.retries == 0


def test_a_host_that_comes_up_during_the_retries_is_reached() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = SandboxServer(incidents=20, api_key=CANARY_KEY, port=port)
    # Connection refused at first; the server starts while the client backs off.
    timer = threading.Timer(0.3, server.start)
    timer.start()
    try:
        client = IntraceClient(
            CANARY_KEY,
            base_url=f"http://127.0.0.1:{port}",
            max_retries=8,
            backoff_factor=0.05,
            backoff_jitter=0.0,
            backoff_max=0.4,
        )
        stream = client.iter_incident_pages()
        assert len(ids_of(stream)) == 20
        assert stream.stats.retries >= 1
    finally:
        timer.join()
        server.stop()
