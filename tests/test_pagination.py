"""The offset paginator: the client's pages over real HTTP (order, stop rule, the concurrency
window, drift, long any-of lists split over several URLs), loop guards against a broken
server, and the paginator driven by a fetch function that is not the client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
import requests

from intrace_analytics import IntraceClient, Page, PageStream, ResponseFormatError
from intrace_analytics.normalize import parse_page
from intrace_analytics.pagination import MAX_QUERY_LENGTH, OffsetPaginator, split_for_url
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
        list(client.iter_incident_pages(parse=parse))
    assert info.value.offset == 10


@PARSES
def test_more_pages_than_total_allows_stops_the_load(broken_server, parse) -> None:
    url, handler = broken_server
    handler.mode = "grow"
    client = IntraceClient("k", base_url=url, page_size=10, max_workers=2)
    with pytest.raises(ResponseFormatError, match="pages"):
        list(client.iter_incident_pages(parse=parse))
    assert handler.served < 100
