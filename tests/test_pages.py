"""Page: decoding, shape checks that name the offset and the field, provenance."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from intrace_analytics import (
    IntraceClient,
    Page,
    ResponseFormatError,
    frames_from_pages,
    read_jsonl,
    write_jsonl,
)
from intrace_analytics.api._pages import AssetPage, read_ids
from intrace_analytics.frames._parse import parse_page
from intrace_analytics.sandbox import SandboxServer
from tests.helpers import assert_same_frames

MakeClient = Callable[..., IntraceClient]


def test_a_valid_body_keeps_bytes_and_provenance() -> None:
    body = b'{"incidents": [{"id": "a"}, {"id": "b"}], "total": 7}'
    when = datetime(2026, 11, 1, tzinfo=UTC)
    page = Page.from_body(
        body, offset=5, limit=2, params={"limit": 2, "offset": 5}, fetched_at=when
    )
    assert page.incidents == [{"id": "a"}, {"id": "b"}]
    assert (page.total, page.offset, page.limit) == (7, 5, 2)
    assert page.params == {"limit": 2, "offset": 5}
    assert page.fetched_at == when
    assert page.body == body
    assert repr(page) == (
        "Page(offset=5, limit=2, incidents=2, total=7, fetched_at=2026-11-01T00:00:00+00:00)"
    )


def test_a_str_body_is_accepted_and_fetched_at_defaults_to_now_utc() -> None:
    page = Page.from_body('{"incidents": [], "total": 0}', offset=0, limit=10)
    assert page.body == b'{"incidents": [], "total": 0}'
    assert page.fetched_at.tzinfo is UTC
    assert abs((datetime.now(UTC) - page.fetched_at).total_seconds()) < 5


def test_not_json_names_the_offset_and_shows_the_start() -> None:
    with pytest.raises(ResponseFormatError, match="offset 300") as info:
        Page.from_body(b"<html>Bad gateway</html>", offset=300, limit=100)
    assert info.value.offset == 300
    assert "<html>Bad gateway" in str(info.value)
    assert info.value.__cause__ is None


def test_invalid_utf8_is_a_format_error() -> None:
    with pytest.raises(ResponseFormatError, match="not UTF-8"):
        Page.from_body(b"\xff\xfe{}", offset=0, limit=1)


@pytest.mark.parametrize(
    ("body", "field", "got"),
    [
        (b"[1, 2]", "(body)", "list [1, 2]"),
        (b'{"data": [], "total": 0}', "incidents", "nothing"),
        (b'{"incidents": {}, "total": 0}', "incidents", "dict {}"),
        (b'{"incidents": [1], "total": 1}', "incidents[0]", "int 1"),
        (b'{"incidents": []}', "total", "nothing"),
        (b'{"incidents": [], "total": "many"}', "total", 'str "many"'),
        (b'{"incidents": [], "total": true}', "total", "bool true"),
        (b'{"incidents": [], "total": -1}', "total", "int -1"),
        (b'{"incidents": [], "total": 1.5}', "total", "float 1.5"),
    ],
)
def test_wrong_shapes_name_offset_and_field(body: bytes, field: str, got: str) -> None:
    with pytest.raises(ResponseFormatError) as info:
        Page.from_body(body, offset=40, limit=20)
    assert info.value.offset == 40
    assert info.value.field == field
    assert f"page at offset 40: field {field!r}" in str(info.value)
    assert got in str(info.value)


# -- JSON Lines capture and replay ---------------------------------------------------------


def test_write_jsonl_appends_pages_that_read_jsonl_replays_byte_for_byte(
    api: SandboxServer, make_client: MakeClient, tmp_path: Path
) -> None:
    pages = list(make_client(page_size=20).iter_incident_pages())
    assert len(pages) > 2
    path = tmp_path / "raw" / "pages.jsonl"
    assert write_jsonl(pages[:2], path) == path  # creates the directory
    write_jsonl(pages[2:], path)  # appends
    replayed = list(read_jsonl(path))
    assert len(path.read_bytes().splitlines()) == len(pages)
    assert [p.body for p in replayed] == [p.body for p in pages]
    assert [(p.offset, p.limit, p.total, p.params) for p in replayed] == [
        (p.offset, p.limit, p.total, p.params) for p in pages
    ]
    assert [p.fetched_at for p in replayed] == [p.fetched_at for p in pages]
    assert_same_frames(frames_from_pages(replayed), frames_from_pages(pages))


# -- lazy incidents ------------------------------------------------------------------------


def _lazy(body: bytes, offset: int = 0) -> Page:
    """A page as a load makes it: parsed by Arrow, its incidents not decoded."""
    return Page.from_body(body, offset=offset, limit=50, parse=parse_page)


def test_lazy_incidents_equal_the_eager_ones_and_are_decoded_once(
    api: SandboxServer, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.casing = "mixed"
    eager = list(make_client().iter_incident_pages())
    decodes: list[int] = []
    loads = json.loads

    def counting(text: Any, *args: Any, **kwargs: Any) -> Any:
        decodes.append(len(text))
        return loads(text, *args, **kwargs)

    monkeypatch.setattr(json, "loads", counting)
    lazy = [_lazy(page.body, page.offset) for page in eager]
    assert decodes == []
    # The guards' data comes from the parse, still without a decode.
    assert [p.count() for p in lazy] == [len(p.incidents) for p in eager]
    assert [p.ids() for p in lazy] == [[i["id"] for i in p.incidents] for p in eager]
    assert [p.total for p in lazy] == [p.total for p in eager]
    assert [repr(p).split(", fetched_at")[0] for p in lazy] == [
        repr(p).split(", fetched_at")[0] for p in eager
    ]
    assert decodes == []
    assert [p.incidents for p in lazy] == [p.incidents for p in eager]
    assert len(decodes) == len(eager)
    first = lazy[0].incidents
    assert lazy[0].incidents is first  # kept, not decoded again
    assert len(decodes) == len(eager)


def test_a_lazy_page_behaves_as_a_dataclass() -> None:
    body = b'{"incidents": [{"id": "a", "title": "x"}, {"id": "b"}], "total": 7}'
    when = datetime(2026, 11, 1, tzinfo=UTC)
    lazy = Page.from_body(body, offset=5, limit=2, fetched_at=when, parse=parse_page)
    eager = Page.from_body(body, offset=5, limit=2, fetched_at=when)
    assert (
        repr(lazy)
        == repr(eager)
        == ("Page(offset=5, limit=2, incidents=2, total=7, fetched_at=2026-11-01T00:00:00+00:00)")
    )
    assert (lazy.rows, eager.rows) == (None, [{"id": "a", "title": "x"}, {"id": "b"}])
    assert lazy.parsed is not None
    assert eager.parsed is None
    assert lazy.incidents == eager.incidents
    names = [f.name for f in dataclasses.fields(Page)]
    assert names[:4] == ["rows", "total", "offset", "limit"]
    moved = dataclasses.replace(lazy, pass_index=1)
    assert moved.parsed is lazy.parsed
    assert moved.rows is None  # still not decoded
    assert moved.incidents == eager.incidents
    assert (moved.pass_index, moved.body, moved.total) == (1, body, 7)
    assert moved != dataclasses.replace(eager, rows=None)  # pass_index differs
    assert dataclasses.replace(moved, pass_index=0) == dataclasses.replace(eager, rows=None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        lazy.total = 8  # type: ignore[misc]
    built = Page([{"id": "z"}], total=1, offset=0, limit=1)
    assert (built.incidents, built.ids(), built.count(), built.body) == (
        [{"id": "z"}],
        ["z"],
        1,
        b"",
    )


def test_pages_built_from_rows_normalize_as_pages_with_bodies() -> None:
    rows = [{"id": "i1", "title": "Unrest", "status": "open", "scope": "aggregate",
             "createdAt": "2026-04-18T09:00:00Z", "updatedAt": "2026-04-18T11:20:00Z"}]  # fmt: skip
    body = json.dumps({"incidents": rows, "total": 1}).encode()
    built = frames_from_pages([Page(rows, total=1, offset=0, limit=10)])
    received = frames_from_pages([Page.from_body(body, offset=0, limit=10)])
    assert_same_frames(built, received)
    assert list(built.incidents["incident_id"]) == ["i1"]


def test_an_assets_page_is_its_own_type() -> None:
    body = b'{"assets": [{"asset_id": "lagos-hq"}, {"assetId": "abuja"}]}'
    page = AssetPage.from_body(body, offset=0, limit=0)
    assert (page.ids(), page.count(), page.total) == (["lagos-hq", "abuja"], 2, 2)
    assert page.assets[1] == {"assetId": "abuja"}
    assert not hasattr(page, "incidents")
    with pytest.raises(ResponseFormatError, match="'assets'") as info:
        AssetPage.from_body(b'{"incidents": [], "total": 0}', offset=0, limit=0)
    assert info.value.field == "assets"


def test_read_ids_reads_the_ids_alone_and_names_a_missing_one() -> None:
    parsed = read_ids(b'{"incidents": [{"id": "a", "x": [1]}, {"id": "b"}], "total": 9}', 0, "p")
    assert (parsed.ids(), parsed.count(), parsed.total) == (["a", "b"], 2, 9)
    with pytest.raises(ResponseFormatError, match=r"incidents\[1\] has no 'id'") as info:
        read_ids(b'{"incidents": [{"id": "a"}, {"title": "b"}], "total": 2}', 40, "page at 40")
    assert (info.value.offset, info.value.field) == (40, "incidents[].id")
    with pytest.raises(ResponseFormatError, match="total"):
        read_ids(b'{"incidents": [], "total": "many"}', 0, "p")


def test_a_lazy_body_that_is_not_a_page_names_the_offset_when_read(tmp_path: Path) -> None:
    # A replayed body is only checked to be a JSON object when read; its shape is
    # checked when its incidents are asked for, or when the normalizer parses it.
    path = tmp_path / "pages.jsonl"
    path.write_text(
        '{"page": {"offset": 60, "limit": 20, "total": 1, "params": {}, '
        '"fetched_at": "2026-11-01T00:00:00+00:00"}, "body": {"incidents": [1], "total": 1}}\n'
    )
    (page,) = read_jsonl(path)  # not decoded yet: replaying parses bodies once, later
    assert page.total == 1
    assert "incidents=?" in repr(page)
    with pytest.raises(ResponseFormatError, match="offset 60") as info:
        page.incidents  # noqa: B018 - the read is the point
    assert (info.value.offset, info.value.field) == (60, "incidents[0]")
    with pytest.raises(ResponseFormatError, match="offset 60"):
        frames_from_pages(read_jsonl(path))


def test_a_body_the_parse_refuses_raises_at_once_naming_the_offset() -> None:
    with pytest.raises(ResponseFormatError, match="offset 300") as info:
        _lazy(b'{"incidents": {"id": "a"}, "total": 1}', offset=300)
    assert info.value.offset == 300
    with pytest.raises(ResponseFormatError, match="offset 20"):
        _lazy(b"<html>Bad gateway</html>", offset=20)
