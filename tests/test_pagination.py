"""The offset paginator: the client's pages over real HTTP (order, stop rule, the concurrency
window, drift, long any-of lists split over several URLs), loop guards against a broken
server, the paginator driven by a fetch function that is not the client, and the window
started on the first body's total before that body is parsed."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from intrace_analytics import IntraceClient, Page, PageStream, ResponseFormatError
from intrace_analytics.api._bodies import total_hint
from intrace_analytics.api._pagination import MAX_QUERY_LENGTH, OffsetPaginator, split_for_url
from intrace_analytics.frames._parse import parse_page
from intrace_analytics.sandbox import SandboxServer
from tests.helpers import ids_of, incident_requests, served_ids

MakeClient = Callable[..., IntraceClient]


# -- the client's pages --------------------------------------------------------------------


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
    return urlencode(record.query, doseq=True)


def test_stopping_early_cancels_the_rest(api: SandboxServer, make_client: MakeClient) -> None:
    stream = make_client(page_size=10, max_workers=2).iter_incident_pages()
    first = next(stream)
    stream.close()
    assert first.offset == 0
    assert len(incident_requests(api)) < 23


def test_a_page_stream_counts_its_load_and_closes_as_a_context_manager(
    api: SandboxServer, make_client: MakeClient
) -> None:
    with make_client(page_size=10, max_workers=2).iter_incident_pages() as stream:
        assert isinstance(stream, PageStream)
        assert iter(stream) is stream
        pages = [next(stream), next(stream)]
    assert [page.offset for page in pages] == [0, 10]
    # Pages fetched ahead in the concurrency window count too.
    assert 2 <= stream.stats.pages <= stream.stats.requests
    assert len(incident_requests(api)) < 23  # leaving the block stopped the rest
    with pytest.raises(StopIteration):
        next(stream)


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


def test_an_asset_id_too_long_for_any_url_names_the_parameter(make_client: MakeClient) -> None:
    stream = make_client().iter_incident_pages(asset_id=["lagos-hq", "x" * 3000])
    with pytest.raises(ValueError, match="asset_id must") as info:
        next(stream)
    assert str(MAX_QUERY_LENGTH) in str(info.value)
    assert "'xxxx" in str(info.value)


# -- the paginator alone -------------------------------------------------------------------


@pytest.mark.parametrize("max_workers", [1, 3])
def test_the_paginator_reads_any_list_endpoint_through_a_fetch_function(
    api: SandboxServer, max_workers: int
) -> None:
    # Any callable that fetches the page at an offset will do: here plain requests, not
    # the package's client.
    fetched: list[int] = []

    def fetch(offset: int) -> Page:
        fetched.append(offset)
        response = requests.get(
            api.url + "/v1/incidents",
            params={"limit": 40, "offset": offset},
            headers={"X-API-Key": api.api_key},
            timeout=5,
        )
        response.raise_for_status()
        return Page.from_body(response.content, offset=offset, limit=40)

    pages = list(OffsetPaginator(limit=40, max_workers=max_workers).pages(fetch))
    assert ids_of(pages) == served_ids(api)
    assert [p.offset for p in pages] == [0, 40, 80, 120, 160, 200]
    assert sorted(fetched) == [0, 40, 80, 120, 160, 200]


def test_the_paginator_splits_any_of_values_and_yields_each_item_once(
    api: SandboxServer,
) -> None:
    endpoint = api.url + "/v1/incidents"
    real = sorted({a for assets in api.dataset.assets_of.values() for a in assets})
    values = real + [f"unknown-site-{n:03d}-{'y' * 40}" for n in range(80)] + real
    sent: list[dict[str, Any]] = []

    def fetch(filters: Any, offset: int) -> Page:
        params = {"limit": 60, "offset": offset, **filters}
        sent.append(params)
        response = requests.get(
            endpoint, params=params, headers={"X-API-Key": api.api_key}, timeout=5
        )
        return Page.from_body(response.content, offset=offset, limit=60, params=params)

    paginator = OffsetPaginator(limit=60, max_workers=2)
    pages = list(paginator.pages_any_of(fetch, {}, "asset_id", values, endpoint=endpoint))
    got = ids_of(pages)
    assert len(got) == len(set(got))
    assert set(got) == set(served_ids(api))
    assert len({tuple(p["asset_id"]) for p in sent}) > 1
    assert max(len(endpoint) + 1 + len(urlencode(p, doseq=True)) for p in sent) <= 2000


def test_split_for_url_keeps_every_url_within_the_limit() -> None:
    endpoint = "https://api.intrace.ai/v1/incidents"
    values = [f"site-{n:03d}" for n in range(50)]
    chunks = split_for_url(endpoint, {"limit": 1000, "status": "open"}, "asset_id", values, 200)
    assert [v for chunk in chunks for v in chunk] == values
    for chunk in chunks:
        query = urlencode(
            {"limit": 1000, "offset": 10**9, "status": "open", "asset_id": chunk}, doseq=True
        )
        assert len(endpoint) + 1 + len(query) <= 200
    assert len(chunks) > 1
    assert split_for_url(endpoint, {}, "asset_id", ["a", "b"]) == [["a", "b"]]


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"limit": 0}, ["limit", "0"]),
        ({"limit": 10, "max_workers": 0}, ["max_workers", "0"]),
        ({"limit": "10"}, ["limit", "'10'"]),
    ],
)
def test_bad_paginator_arguments_name_parameter_and_value(kwargs: dict, words: list[str]) -> None:
    with pytest.raises(ValueError, match="must") as info:
        OffsetPaginator(**kwargs)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("workers", [1, 4])
def test_exactly_one_page_inserted_between_pages_is_drift_not_a_broken_server(
    api: SandboxServer, make_client: MakeClient, workers: int
) -> None:
    # The page at offset 50 then repeats the page at offset 0 with a total one page
    # larger: rows shifted, the server does honour offset.
    before = served_ids(api)
    api.insert_between_pages(50, after_offset=0)
    pages = list(make_client(page_size=50, max_workers=workers).iter_incident_pages())
    got = ids_of(pages)
    assert [i["id"] for i in pages[1].incidents] == [i["id"] for i in pages[0].incidents]
    assert set(before) <= set(got)
    assert pages[-1].total == len(before) + 50


# The guards hold for pages decoded as they arrive and for a load's pages, parsed by Arrow
# and never decoded (their ids read from the parse).
PARSES = pytest.mark.parametrize("parse", [None, parse_page], ids=["decoded", "parsed"])


@PARSES
def test_a_page_that_repeats_the_previous_one_stops_the_load(broken_server, parse) -> None:
    url, handler = broken_server
    handler.mode = "repeat"
    client = IntraceClient("k", base_url=url, page_size=10, max_workers=1)
    with pytest.raises(ResponseFormatError, match="repeats the page at offset 0") as info:
        list(client.read_incident_pages(load=client.new_load(), parse=parse))
    assert info.value.offset == 10


@PARSES
def test_more_pages_than_total_allows_stops_the_load(broken_server, parse) -> None:
    url, handler = broken_server
    handler.mode = "grow"
    client = IntraceClient("k", base_url=url, page_size=10, max_workers=2)
    with pytest.raises(ResponseFormatError, match="pages"):
        list(client.read_incident_pages(load=client.new_load(), parse=parse))
    assert handler.served < 100


@PARSES
def test_a_read_that_stops_runaways_ends_there_and_keeps_its_pages(broken_server, parse) -> None:
    url, handler = broken_server
    handler.mode = "grow"
    client = IntraceClient("k", base_url=url, page_size=10, max_workers=2)
    stream = client.read_incident_pages(load=client.new_load(), parse=parse, stop_runaway=True)
    pages = list(stream)  # no error: the read ends at the guard
    assert [page.offset for page in pages] == list(range(0, 10 * len(pages), 10))
    assert len(pages) == 2 * 2 + 10  # the guard's allowance: twice the planned pages, plus ten
    (why,) = stream.stopped
    assert "allows 2 (at most 14 with growth)" in why
    assert handler.served < 100


# -- the window starts on the first body's word, before its parse ------------------------


def test_the_next_pages_are_requested_while_the_first_is_parsed(
    api: SandboxServer, make_client: MakeClient
) -> None:
    requested_meanwhile: list[str] = []

    def slow_first_parse(body: bytes, offset: int, label: str) -> Any:
        if offset == 0:  # hold the first parse until the next page has been asked for
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not requested_meanwhile:
                sent = [r.query["offset"][0] for r in incident_requests(api)]
                requested_meanwhile.extend(o for o in sent if o != "0")
                time.sleep(0.01)
        return parse_page(body, offset, label)

    client = make_client(page_size=50, max_workers=2)
    stream = client.read_incident_pages(
        load=client.new_load(), parse=slow_first_parse, read_all=True
    )
    pages = list(stream)
    # The window's first two pages (max_workers=2), answered in either order.
    assert set(requested_meanwhile) & {"50", "100"}
    assert ids_of(pages) == served_ids(api)
    assert stream.stats.requests == len(incident_requests(api)) == 5  # none more


def test_an_early_total_starts_the_window_before_the_first_page_returns() -> None:
    rows = [{"id": n} for n in range(10)]
    second_fetched = threading.Event()

    def fetch(offset: int) -> Page:
        if offset == 2:
            second_fetched.set()
        return Page(rows[offset : offset + 2], total=10, offset=offset, limit=2)

    def first(told: Callable[[int], None]) -> Page:
        told(10)
        assert second_fetched.wait(5)  # fetched by the window while this one is not done
        return fetch(0)

    pages = list(OffsetPaginator(limit=2, max_workers=2).pages(fetch, first=first))
    assert [p.offset for p in pages] == [0, 2, 4, 6, 8]


def test_an_early_total_the_first_page_does_not_bear_out_yields_no_page_past_it() -> None:
    rows = [{"id": n} for n in range(4)]
    fetched: list[int] = []

    def fetch(offset: int) -> Page:
        fetched.append(offset)
        return Page(rows[offset : offset + 2], total=4, offset=offset, limit=2)

    def first(told: Callable[[int], None]) -> Page:
        told(1000)  # a word the page itself does not bear out
        return fetch(0)

    pages = list(OffsetPaginator(limit=2, max_workers=2).pages(fetch, first=first))
    assert [p.offset for p in pages] == [0, 2]
    assert ids_of(pages) == [0, 1, 2, 3]
    assert max(fetched) <= 8  # never more than the window (2 * max_workers) ahead


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.text(alphabet=st.sampled_from('"total:{}, 0123\\'), max_size=20),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["total", "id", "x"]), inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(
    incidents=st.lists(st.dictionaries(st.sampled_from(["id", "total"]), JSON_VALUES), max_size=3),
    extra=st.dictionaries(st.sampled_from(["limit", "offset", "meta"]), JSON_VALUES, max_size=2),
    total=st.integers(0, 10**12),
    where=st.sampled_from(["last", "first", "middle", "absent"]),
    indent=st.sampled_from([None, 0, 2]),
)
def test_a_total_read_before_the_parse_is_the_pages_total_or_nothing(
    incidents: list[dict[str, Any]],
    extra: dict[str, Any],
    total: int,
    where: str,
    indent: int | None,
) -> None:
    members: list[tuple[str, Any]] = [("incidents", incidents), *extra.items()]
    if where == "last":
        members.append(("total", total))
    elif where == "first":
        members.insert(0, ("total", total))
    elif where == "middle":
        members.insert(1, ("total", total))
    body = json.dumps(dict(members), indent=indent).encode()
    hint = total_hint(body)
    assert hint in (None, json.loads(body).get("total"))  # never a wrong word
    if where in ("last", "first"):
        assert hint == total  # as the API writes its pages: read
