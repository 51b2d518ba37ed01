"""The client against the sandbox over real HTTP: arguments and settings, filters, every fault,
the key kept secret (how pages are ordered, split and stopped: test_pagination.py)."""

from __future__ import annotations

import dataclasses
import inspect
import json
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC
from typing import Any

import pytest

from intrace_analytics import (
    ApiError,
    AuthenticationError,
    IntraceClient,
    NetworkError,
    RateLimitError,
    ResponseFormatError,
    Retries,
    Timeout,
    load_incidents,
)
from intrace_analytics.sandbox import SandboxServer
from tests.helpers import (
    CANARY_KEY,
    SilentServer,
    assert_no_key,
    ids_of,
    incident_requests,
    served_ids,
)

MakeClient = Callable[..., IntraceClient]


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
        ({"base_url": "ftp://example.com"}, ["base_url", "ftp://example.com"]),
        ({"base_url": "https://api.intrace.ai?x=1"}, ["base_url", "query"]),
    ],
)
def test_bad_constructor_arguments_name_parameter_and_value(kwargs: dict, names: list[str]) -> None:
    with pytest.raises(ValueError, match="must") as info:
        IntraceClient("k", **kwargs)
    for name in names:
        assert name in str(info.value)


# -- settings: one parameter each, a plain value or its settings object -------------------

FAST = Retries(backoff_factor=0.001, backoff_max=0.01, backoff_jitter=0.001)


def fast(**fields: Any) -> Retries:
    """Millisecond backoff, so retry tests take no real time, and ``fields``."""
    return dataclasses.replace(FAST, **fields)


def test_the_signature_shows_the_real_defaults() -> None:
    parameters = inspect.signature(IntraceClient).parameters
    assert parameters["max_retries"].default == 5
    assert parameters["timeout"].default == (5, 30)
    assert parameters["page_size"].default == 1000
    assert parameters["max_workers"].default == 4
    assert list(parameters) == [
        "api_key", "base_url", "timeout", "max_retries", "page_size", "max_workers",
    ]  # fmt: skip


def test_defaults_as_settings_objects() -> None:
    client = IntraceClient("k")
    assert client.timeout == Timeout(connect=5, read=30, deadline=90)
    assert client.retries == Retries()
    assert Retries() == Retries(
        max_retries=5,
        backoff_factor=0.5,
        backoff_max=30,
        backoff_jitter=0.5,
        max_retry_after=60,
        budget=20,
        timeout_retries=1,
    )


@pytest.mark.parametrize(
    ("timeout", "expected"),
    [
        (3, Timeout(connect=3, read=3)),
        (2.5, Timeout(connect=2.5, read=2.5)),
        ((1, 4), Timeout(connect=1, read=4)),
        ([1, 4], Timeout(connect=1, read=4)),
        (Timeout(connect=1, read=2, deadline=3), Timeout(connect=1, read=2, deadline=3)),
    ],
)
def test_timeout_takes_a_number_a_pair_or_a_timeout(timeout: Any, expected: Timeout) -> None:
    assert IntraceClient("k", timeout=timeout).timeout == expected


def test_max_retries_takes_a_number_or_a_retries() -> None:
    assert IntraceClient("k", max_retries=2).retries == Retries(max_retries=2)
    patient = Retries(max_retries=8, backoff_max=60, budget=50)
    assert IntraceClient("k", max_retries=patient).retries is patient


def _by_value(api: SandboxServer, max_retries: int) -> IntraceClient:
    return IntraceClient(api.api_key, base_url=api.url, page_size=50, max_retries=max_retries)


def _by_object(api: SandboxServer, max_retries: int) -> IntraceClient:
    retries = Retries(max_retries=max_retries)
    return IntraceClient(api.api_key, base_url=api.url, page_size=50, max_retries=retries)


@pytest.mark.parametrize("build", [_by_value, _by_object], ids=["int", "Retries"])
def test_max_retries_both_ways(api: SandboxServer, build: Callable[..., IntraceClient]) -> None:
    # The default backoff costs nothing here: urllib3 waits 0 s before a first retry.
    api.fail(503, times=100, offset=0)
    with pytest.raises(ApiError, match="after 1 retry"):
        list(build(api, 1).iter_incident_pages())
    assert len(incident_requests(api)) == 2


def test_max_retry_after(api: SandboxServer, make_client: MakeClient) -> None:
    api.rate_limit(retry_after=2, offset=0)
    started = time.monotonic()
    with pytest.raises(RateLimitError, match="longer than the 1 s") as info:
        list(make_client(max_retries=fast(max_retry_after=1)).iter_incident_pages())
    assert time.monotonic() - started < 1.5
    assert info.value.retry_after == 2
    assert len(incident_requests(api)) == 1


def test_retried_pages_are_the_same_pages(api: SandboxServer, make_client: MakeClient) -> None:
    api.fail(500, times=2, offset=100)
    stream = make_client(max_retries=fast(max_retries=2)).iter_incident_pages()
    assert ids_of(stream) == served_ids(api)
    assert (stream.stats.pages, stream.stats.retries) == (5, 2)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"max_retries": {"max_retries": 3}}, ["max_retries", "{'max_retries': 3}", "Retries"]),
        ({"max_retries": 2.5}, ["max_retries", "2.5"]),
        ({"max_retries": True}, ["max_retries", "True"]),
        ({"max_retries": 101}, ["max_retries", "101"]),
        ({"timeout": "30"}, ["timeout", "'30'", "Timeout"]),
        ({"timeout": (1, 2, 3)}, ["timeout", "(1, 2, 3)"]),
    ],
)
def test_a_setting_of_the_wrong_kind_is_refused(kwargs: dict, words: list[str]) -> None:
    with pytest.raises(ValueError, match="must") as info:
        IntraceClient("k", **kwargs)
    for word in words:
        assert word in str(info.value)
    assert str(info.value).startswith(words[0] + " must")


@pytest.mark.parametrize("old", ["deadline", "retries", "backoff_factor", "retry_budget"])
def test_there_is_one_parameter_per_setting(old: str) -> None:
    with pytest.raises(TypeError, match=old):
        IntraceClient("k", **{old: 1})


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: Retries(max_retries=-1), ["max_retries", "-1"]),
        (lambda: Retries(budget=1.5), ["budget", "1.5"]),
        (lambda: Retries(backoff_max=float("nan")), ["backoff_max", "nan"]),
        (lambda: Timeout(read=0), ["timeout (read)", "0"]),
        (lambda: Timeout(connect=-1), ["timeout (connect)", "-1"]),
        (lambda: Timeout(deadline="soon"), ["deadline", "'soon'"]),
    ],
)
def test_bad_settings_objects_name_the_field_and_value(
    make: Callable[[], object], words: list[str]
) -> None:
    with pytest.raises(ValueError, match="must") as info:
        make()
    for word in words:
        assert word in str(info.value)


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


# -- filters and pages ---------------------------------------------------------------


def test_a_page_keeps_its_provenance(api: SandboxServer, make_client: MakeClient) -> None:
    page = next(make_client(page_size=100).iter_incident_pages(scope="aggregate"))
    assert page.offset == 0
    assert page.limit == 100
    assert page.params == {"limit": 100, "offset": 0, "scope": "aggregate"}
    assert page.fetched_at.tzinfo is UTC
    assert json.loads(page.body)["incidents"] == page.incidents
    assert page.total == sum(1 for i in api.dataset.incidents if i["scope"] == "aggregate")
    assert "offset=0" in repr(page)


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


def test_a_same_origin_redirect_is_followed(api: SandboxServer, make_client: MakeClient) -> None:
    api.redirect(api.url + "/v1/incidents", offset=50)
    assert ids_of(make_client().iter_incident_pages()) == served_ids(api)


# -- faults the client fails on, quickly and clearly ---------------------------------------


def test_persistent_server_errors_fail_with_api_error(
    api: SandboxServer, make_client: MakeClient
) -> None:
    api.fail(503, times=100, offset=0)
    with pytest.raises(ApiError) as info:
        list(make_client(max_retries=fast(max_retries=3)).iter_incident_pages())
    assert info.value.status_code == 503
    assert "after 3 retries" in str(info.value)
    assert len(incident_requests(api)) == 4
    assert_no_key(info.value)


def test_the_retry_budget_makes_an_outage_fail_fast(
    api: SandboxServer, make_client: MakeClient
) -> None:
    api.fail(503, times=1000)
    with pytest.raises(ApiError):
        list(make_client(max_retries=fast(max_retries=5, budget=2)).iter_incident_pages())
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
        list(make_client(max_retries=fast(max_retries=1)).iter_incident_pages())
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


def test_a_base_url_ending_in_v1_gets_a_hint_to_drop_it(api: SandboxServer) -> None:
    client = IntraceClient(CANARY_KEY, base_url=api.url + "/v1/")
    with pytest.raises(ApiError) as info:
        list(client.iter_incident_pages())
    assert info.value.status_code == 404
    message = str(info.value)
    assert "/v1/v1/incidents" in message
    assert f"drop /v1 from it (base_url={api.url!r})" in message
    with pytest.raises(ApiError) as other:  # any other 404 gets no such hint
        list(IntraceClient(CANARY_KEY, base_url=api.url + "/x").iter_incident_pages())
    assert "drop /v1" not in str(other.value)


SECRET = "sk_live_0123456789"


@pytest.mark.parametrize(
    "base_url",
    [
        f"https://user:{SECRET}@api.intrace.ai/",
        f"https://{SECRET}@api.intrace.ai",
        f"https://api.intrace.ai/?api_key={SECRET}",
        f"https://api.intrace.ai/#token={SECRET}",
        f"ftp://user:{SECRET}@api.intrace.ai/",
        f"user:{SECRET}@api.intrace.ai",
    ],
)
def test_a_base_url_typed_with_a_key_is_refused_without_echoing_it(base_url: str) -> None:
    with pytest.raises(ValueError, match="base_url") as info:
        IntraceClient("k", base_url=base_url)
    assert_no_key(info.value, key=SECRET)
    assert "api.intrace.ai" in str(info.value)  # the rest is shown, to find the typo


def test_every_error_repeating_a_url_masks_its_query_and_credentials(
    api: SandboxServer, make_client: MakeClient
) -> None:
    # A same-origin redirect to a URL carrying a token, which then fails: the ApiError
    # repeats the URL requested, with the token masked and the client's own paging kept.
    api.redirect(f"/v1/elsewhere?token={SECRET}&offset=0&limit=50?")
    with pytest.raises(ApiError) as info:
        list(make_client().iter_incident_pages())
    assert info.value.status_code == 404
    assert_no_key(info.value, key=SECRET)
    assert "/v1/elsewhere?token=***&offset=0&limit=50" in str(info.value)
    assert info.value.url is not None
    assert SECRET not in info.value.url


def test_a_body_cut_short_every_time_is_a_network_error(
    api: SandboxServer, make_client: MakeClient
) -> None:
    api.truncate_body(times=100, offset=0)
    started = time.monotonic()
    with pytest.raises(NetworkError, match="cut short") as info:
        list(make_client(max_retries=fast(max_retries=2)).iter_incident_pages())
    assert time.monotonic() - started < 5
    assert len(incident_requests(api)) == 3
    assert_no_key(info.value)


def test_a_trickling_body_hits_the_deadline(api: SandboxServer, make_client: MakeClient) -> None:
    api.trickle_body(interval=0.1, chunk=8, offset=0)
    started = time.monotonic()
    with pytest.raises(NetworkError, match="deadline") as info:
        list(make_client(timeout=Timeout(1, 2, deadline=1.0)).iter_incident_pages())
    assert 1.0 <= time.monotonic() - started < 3
    assert_no_key(info.value)


def test_a_slow_server_times_out(api: SandboxServer, make_client: MakeClient) -> None:
    api.latency = 0.5
    started = time.monotonic()
    with pytest.raises(NetworkError, match="timed out") as info:
        list(make_client(timeout=(1, 0.1), max_retries=fast(max_retries=2)).iter_incident_pages())
    assert time.monotonic() - started < 3
    assert_no_key(info.value)


def test_an_unreachable_host_is_a_network_error(debug_logs: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connection refused
        client = IntraceClient(
            CANARY_KEY, base_url=f"http://127.0.0.1:{port}", max_retries=fast(max_retries=2)
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
            max_retries=Retries(
                max_retries=8, backoff_factor=0.05, backoff_jitter=0.0, backoff_max=0.4
            ),
        )
        stream = client.iter_incident_pages()
        assert len(ids_of(stream)) == 20
        assert stream.stats.retries >= 1
    finally:
        timer.join()
        server.stop()


def test_a_server_that_never_answers_fails_after_two_read_timeouts() -> None:
    # The README's bound: 2 x the read timeout (60 s with the defaults), whatever
    # max_retries says; before, (max_retries + 1) read timeouts plus every backoff.
    read = 0.4
    with SilentServer() as server:
        client = IntraceClient(CANARY_KEY, base_url=server.url, timeout=(1, read))
        assert client.retries.max_retries == 5
        started = time.monotonic()
        with pytest.raises(NetworkError, match="sent no answer in time") as info:
            list(client.iter_incident_pages())
        elapsed = time.monotonic() - started
    assert len(server.held) == 2  # one attempt and one retry
    assert 2 * read <= elapsed < 2 * read + 0.5  # the one backoff after a first error is 0
    assert "Error" not in str(info.value)  # words, not exception class names
    assert_no_key(info.value)


def test_a_whole_load_against_a_silent_server_fails_within_the_bound() -> None:
    read = 0.3
    with SilentServer() as server:
        client = IntraceClient(CANARY_KEY, base_url=server.url, timeout=(1, read))
        started = time.monotonic()
        with pytest.raises(NetworkError):
            load_incidents(client, assets=True, progress=False)
        elapsed = time.monotonic() - started
    assert elapsed < 2 * read + 0.5
    # The site list and the main read's first page are sent together: each an attempt
    # and at most one retry (the second to fail may not get to its retry).
    assert 2 <= len(server.held) <= 4


def test_timeout_retries_are_configurable() -> None:
    read = 0.2
    with SilentServer() as server:
        client = IntraceClient(
            CANARY_KEY,
            base_url=server.url,
            timeout=(1, read),
            max_retries=Retries(timeout_retries=3, backoff_factor=0.01, backoff_jitter=0),
        )
        with pytest.raises(NetworkError, match="timed out"):
            list(client.iter_incident_pages())
    assert len(server.held) == 4
    with pytest.raises(ValueError, match="timeout_retries"):
        Retries(timeout_retries=-1)


def test_a_refused_connection_still_gets_every_retry() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, not listening: refused
        port = sock.getsockname()[1]
        client = IntraceClient(
            CANARY_KEY, base_url=f"http://127.0.0.1:{port}", max_retries=fast(max_retries=4)
        )
        stream = client.iter_incident_pages()
        with pytest.raises(NetworkError, match="could not connect"):
            list(stream)
    assert stream.stats.retries == 4


@pytest.mark.parametrize("status", [503, 502])
def test_the_retry_after_cap_applies_to_every_status(
    api: SandboxServer, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    # The sandbox's fail() sends no Retry-After: add one to its error answers, as a
    # proxy in front of a busy service would.
    from intrace_analytics.sandbox import _server as sandbox_server

    real = sandbox_server.fault_response

    def with_retry_after(*args: Any, **kwargs: Any) -> Any:
        response = real(*args, **kwargs)
        if response.status >= 500:
            response.headers.append(("Retry-After", "20"))
        return response

    monkeypatch.setattr(sandbox_server, "fault_response", with_retry_after)
    api.fail(status, offset=0)
    started = time.monotonic()
    with pytest.raises(RateLimitError) as info:
        list(make_client(max_retries=fast(max_retry_after=2)).iter_incident_pages())
    assert time.monotonic() - started < 2
    assert info.value.retry_after == 20
    assert info.value.status_code == status
    assert "20 s" in str(info.value)
    assert len(incident_requests(api)) == 1
    assert_no_key(info.value)


def test_a_spent_retry_budget_is_named_in_the_error(
    api: SandboxServer, make_client: MakeClient
) -> None:
    # The first page spends the whole budget of 2; the next page's 503 gets no retry.
    api.fail(503, times=2, offset=0)
    api.fail(503, times=100, offset=50)
    with pytest.raises(ApiError) as info:
        list(make_client(max_workers=1, max_retries=fast(budget=2)).iter_incident_pages())
    message = str(info.value)
    assert "after 0 retries" in message
    assert "retry budget of 2 retries was spent" in message
    assert_no_key(info.value)


def test_a_spent_retry_budget_is_named_for_bodies_cut_short(
    api: SandboxServer, make_client: MakeClient
) -> None:
    api.truncate_body(times=100, offset=0)
    with pytest.raises(NetworkError) as info:
        list(make_client(max_retries=fast(max_retries=5, budget=1)).iter_incident_pages())
    message = str(info.value)
    assert "after 1 retry" in message
    assert "retry budget of 1 retries was spent" in message
