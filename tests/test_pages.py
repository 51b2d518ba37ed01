"""Page: decoding, shape checks that name the offset and the field, provenance."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from intrace_analytics import (
    IntraceClient,
    Page,
    ResponseFormatError,
    frames_from_pages,
    read_jsonl,
    write_jsonl,
)
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
