"""load_incidents over real HTTP: a clean load, drift reconciled, the report, raw pages."""

from __future__ import annotations

import io
import json
import math
import re
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from intrace_analytics import (
    ApiError,
    CompletenessWarning,
    IntraceClient,
    ResponseFormatError,
    Retries,
    __version__,
    frames_from_pages,
    load_incidents,
    read_jsonl,
)
from intrace_analytics.frames import _merge as merge
from intrace_analytics.frames import _schema as schema
from intrace_analytics.load import _incidents as load_module
from intrace_analytics.sandbox import SandboxServer
from tests.helpers import (  # shared reconstruction helpers
    CANARY_KEY,
    assert_frames_match,
    assert_same_frames,
    reference,
    served_ids,
    utc,
)

# -- a whole load over HTTP ---------------------------------------------------------------

REPORT_KEYS = {
    "base_url", "filters", "fetched_at", "package_version", "schema_version", "pages",
    "requests", "retries", "rate_limit_wait_s", "total_reported", "rows",
    "duplicates_dropped", "drift_detected", "reconciled", "complete",
}  # fmt: skip


def _current(api: SandboxServer) -> list[dict[str, Any]]:
    return list(api.dataset.incidents)


@pytest.mark.parametrize("casing", ["snake", "camel", "mixed"])
def test_a_clean_load_equals_the_reconstruction_and_reports_complete(
    api: SandboxServer, make_client: Callable[..., IntraceClient], casing: str
) -> None:
    api.casing = casing
    before = datetime.now(UTC)
    frames = load_incidents(make_client(), progress=False)
    after = datetime.now(UTC)
    expected = _current(api)
    assert_frames_match(frames, reference(expected))
    report = frames.metadata
    assert set(report) >= REPORT_KEYS
    pages = math.ceil(len(expected) / 50)
    assert report["complete"] is True
    assert report["drift_detected"] is False
    assert report["reconciled"] is False
    assert report["rows"] == report["total_reported"] == len(expected) == 230
    assert report["duplicates_dropped"] == 0
    assert report["pages"] == pages
    assert report["requests"] == len(api.requests) == pages
    assert report["retries"] == 0
    assert report["rate_limit_wait_s"] == 0
    assert report["base_url"].rstrip("/") == api.url
    assert report["filters"] == {"status": None, "scope": None, "asset_id": None}
    fetched = datetime.fromisoformat(report["fetched_at"])
    assert fetched.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= fetched <= after
    assert report["package_version"] == __version__
    assert report["schema_version"] == schema.SCHEMA_VERSION
    assert CANARY_KEY not in repr(report)
    assert CANARY_KEY not in repr(frames)
    json.dumps(report)  # plain data, ready for Parquet metadata


def test_a_filtered_load_holds_exactly_the_matching_incidents(
    api: SandboxServer, make_client: Callable[..., IntraceClient]
) -> None:
    frames = load_incidents(
        make_client(page_size=20), status="resolved", scope="investigation", progress=False
    )
    expected = [
        i for i in _current(api) if i["status"] == "resolved" and i["scope"] == "investigation"
    ]
    assert 20 < len(expected) < 230
    assert_frames_match(frames, reference(expected))
    assert frames.metadata["filters"] == {
        "status": "resolved",
        "scope": "investigation",
        "asset_id": None,
    }
    assert frames.metadata["complete"] is True
    assert frames.metadata["rows"] == frames.metadata["total_reported"] == len(expected)


def test_retries_and_rate_limit_waits_are_counted(
    api: SandboxServer, make_client: Callable[..., IntraceClient]
) -> None:
    api.fail(503, offset=100)
    api.rate_limit(1, offset=150)
    frames = load_incidents(make_client(), progress=False)
    report = frames.metadata
    assert report["complete"] is True
    assert report["rows"] == 230
    assert report["pages"] == 5
    assert report["requests"] == len(api.requests) == 7
    assert report["retries"] == 2
    assert 0.8 <= report["rate_limit_wait_s"] < 5
    assert_frames_match(frames, reference(_current(api)))


@pytest.mark.parametrize("change", ["insert", "delete"])
def test_rows_changed_between_pages_are_detected_and_reconciled(
    api: SandboxServer, make_client: Callable[..., IntraceClient], change: str
) -> None:
    before = {i["id"] for i in _current(api)}
    if change == "insert":
        api.insert_between_pages(7)
    else:
        api.delete_between_pages(3)
    frames = load_incidents(make_client(), progress=False)  # no CompletenessWarning
    now = _current(api)
    assert len(now) == (237 if change == "insert" else 227)
    assert (
        ({i["id"] for i in now} > before)
        if change == "insert"
        else ({i["id"] for i in now} < before)
    )
    assert frames.incidents["incident_id"].is_unique
    assert frames.links["link_id"].is_unique
    assert frames.threats["threat_id"].is_unique
    assert_frames_match(frames, reference(now), any_order=True)
    report = frames.metadata
    assert report["drift_detected"] is True
    assert report["reconciled"] is True
    assert report["complete"] is True
    assert report["rows"] == report["total_reported"] == len(now)
    assert report["requests"] == len(api.requests) == report["pages"] > 5


def test_drift_that_never_settles_warns_and_reports_incomplete(
    api: SandboxServer, make_client: Callable[..., IntraceClient]
) -> None:
    api.delete_between_pages(3, times=10)
    with pytest.warns(CompletenessWarning, match="exactly once"):
        frames = load_incidents(make_client(), progress=False, reconcile_passes=1)
    report = frames.metadata
    assert report["complete"] is False
    assert report["drift_detected"] is True
    assert report["reconciled"] is False
    assert report["total_reported"] == 224  # 230 less two deletions of 3, one per read
    assert report["rows"] == len(frames.incidents)
    assert sum(q.query.get("offset") == ["0"] for q in api.requests) == 2  # two reads, no more
    assert CANARY_KEY not in repr(report)


def test_the_load_report_carries_the_data_quality_findings_into_the_export(
    api: SandboxServer, make_client: Callable[..., IntraceClient], tmp_path: Path
) -> None:
    from intrace_analytics import build_report, data_quality, read_parquet

    frames = load_incidents(make_client(), progress=False)
    found = data_quality(frames)
    expected = {c: int(n) for c, n in zip(found["check"], found["count"], strict=True) if n}
    assert expected  # the sandbox's data has findings to carry
    missing_start = sum(1 for i in _current(api) if not i.get("started_at"))
    assert missing_start
    expected["started_at missing: timed from created_at"] = missing_start
    assert frames.metadata["data_quality"] == expected
    frames.to_parquet(tmp_path / "export")
    assert read_parquet(tmp_path / "export").metadata["data_quality"] == expected
    # The report lists each check once (from the frames), and the fallback from the load.
    page = build_report(frames, tmp_path / "export.html").read_text(encoding="utf-8")
    assert page.count("while loading: started_at missing: timed from created_at") == 1
    assert "while loading: threats_without_coordinates" not in page


# -- raw pages -------------------------------------------------------------------------------


@pytest.mark.parametrize("change", [None, "insert", "delete"])
def test_raw_pages_are_kept_as_json_lines_and_replay_to_the_same_frames(
    api: SandboxServer,
    make_client: Callable[..., IntraceClient],
    tmp_path: Path,
    change: str | None,
) -> None:
    # After the first page, which the client fetches alone: the drift is certain to show.
    if change == "insert":
        api.insert_between_pages(4)
    elif change == "delete":
        api.delete_between_pages(2)
    before = datetime.now(UTC)
    frames = load_incidents(make_client(), progress=False, raw_dir=tmp_path)
    path = Path(frames.metadata["raw_file"])
    assert path.parent == tmp_path
    assert path.is_file()
    content = path.read_bytes()
    assert CANARY_KEY.encode() not in content
    records = [json.loads(line) for line in content.splitlines()]
    assert len(records) == frames.metadata["pages"] == len(api.requests)
    offsets = []
    for record in records:
        head, body = record["page"], record["body"]
        assert head["params"]["limit"] == 50 == head["limit"]
        assert int(head["params"]["offset"]) == head["offset"]
        fetched = datetime.fromisoformat(head["fetched_at"])
        assert fetched.utcoffset() == timedelta(0)
        assert fetched >= before - timedelta(seconds=1)
        assert body["total"] == head["total"]
        offsets.append(head["offset"])
    assert sorted(set(offsets)) == list(range(0, max(offsets) + 1, 50))
    replayed = frames_from_pages(read_jsonl(path))
    assert_same_frames(replayed, frames)
    for key in (
        "rows",
        "total_reported",
        "drift_detected",
        "reconciled",
        "complete",
        "duplicates_dropped",
    ):
        assert replayed.metadata[key] == frames.metadata[key], key
    assert frames.metadata["drift_detected"] is (change is not None)
    assert frames.metadata["complete"] is True
    assert_frames_match(frames, reference(_current(api)), any_order=True)


# -- the progress bar ----------------------------------------------------------------

_SEGMENT = re.compile(r"\[(\d\d):(\d\d)[<,]")


def _drawn(output: str, note: str) -> list[tuple[int, str]]:
    """Each redraw of the bar (tqdm separates them with \\r) that shows ``note``, with
    the elapsed seconds its clock showed."""
    frames = []
    for segment in output.split("\r"):
        clock = _SEGMENT.search(segment)
        if note in segment and clock:
            frames.append((int(clock[1]) * 60 + int(clock[2]), segment))
    return frames


def test_the_bar_shows_a_rate_limit_wait_for_the_whole_wait_and_its_clock_runs(
    api: SandboxServer, make_client: Callable[..., IntraceClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    api.rate_limit(3, offset=100)
    started = time.monotonic()
    frames = load_incidents(make_client(), progress=True)
    assert frames.metadata["complete"] is True
    assert time.monotonic() - started >= 3
    waits = _drawn(stream.getvalue(), "(rate limited)")
    # Redrawn while it waits (every 0.5 s), counting down, not overwritten at once.
    shown = [re.search(r"waiting (\d) s \(rate limited\)", text) for _, text in waits]
    assert [m is not None for m in shown] == [True] * len(waits)
    assert len(waits) >= 4, stream.getvalue()
    assert {m[1] for m in shown if m} >= {"3", "2", "1"}
    # The clock kept running through the wait.
    assert waits[-1][0] - waits[0][0] >= 2
    assert "pages" in waits[0][1]


def test_the_bar_says_it_waits_to_retry_after_an_error(
    api: SandboxServer, make_client: Callable[..., IntraceClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    api.fail(503, offset=0, times=2)  # urllib3 retries the first at once, backs off 1.5 s
    backoff = Retries(backoff_factor=1.5, backoff_max=1.5, backoff_jitter=0)
    client = make_client(page_size=5000, max_retries=backoff)
    load_incidents(client, progress=True)
    output = stream.getvalue()
    # The wait counts down (2 s, then 1 s): at least two redraws say what it waits for,
    # however the redraws fall on a busy machine.
    waits = [text for _, text in _drawn(output, "(retry after an error)")]
    assert len(waits) >= 2, output
    assert "waiting 2 s (retry after an error)" in waits[0], output


def test_the_bar_says_it_waits_for_a_slow_server(
    api: SandboxServer, make_client: Callable[..., IntraceClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    api.latency = 2.8
    load_incidents(make_client(page_size=5000), progress=True)
    slow = _drawn(stream.getvalue(), "waiting for the server")
    assert slow, stream.getvalue()
    assert re.search(r"0 pages, waiting for the server \(2 s\)", slow[-1][1])
    assert "::" not in stream.getvalue()
    assert ": :" not in stream.getvalue()


def test_a_failed_load_clears_its_bar(
    api: SandboxServer, make_client: Callable[..., IntraceClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    api.fail(500, offset=0, times=100)
    with pytest.raises(ApiError):
        load_incidents(make_client(max_retries=1), progress=True)
    # tqdm blanks the line and returns to its start: what is printed next stands alone.
    assert stream.getvalue().endswith("\r")
    assert stream.getvalue().rsplit("\r", 2)[-2].strip() == ""


def test_a_threat_only_a_deleted_incident_embedded_goes_with_it(
    api: SandboxServer, make_client: Callable[..., IntraceClient]
) -> None:
    # Pass 0 holds D (the newest, embedding T) and K (linking T without embedding it);
    # D is deleted after the first page, so the load re-reads. No live incident embeds T:
    # the frames must equal a clean read of the final data, which has no T.
    from intrace_analytics.sandbox._data import page_body
    from tests.helpers import link, threat

    data = api.dataset.incidents
    data[0]["threat_links"] = [link("l-d", "t-stale", threat("t-stale"))]
    data[120]["threat_links"] = [*data[120]["threat_links"], link("l-k", "t-stale")]
    api.delete_between_pages(1, after_offset=0)
    frames = load_incidents(make_client(), progress=False)
    report = frames.metadata
    assert (report["complete"], report["reconciled"]) == (True, True)
    assert "t-stale" not in set(frames.threats["threat_id"])
    assert "l-k" in set(frames.links["link_id"])  # K's link stays, its threat undescribed
    clean = frames_from_pages([page_body(api.dataset.incidents, len(api.dataset.incidents))])
    assert_same_frames(frames, clean)


def test_a_threat_a_kept_incident_embeds_stays_when_the_winning_copy_goes(
    api: SandboxServer, make_client: Callable[..., IntraceClient]
) -> None:
    # D (the newest) and K, on the same page, both embed T; D's copy wins that page. D
    # is deleted after the first page: K still embeds T, so a clean read of the final
    # data describes T, and so must the reconciled load.
    from intrace_analytics.sandbox._data import page_body
    from tests.helpers import link, threat

    data = api.dataset.incidents
    shared = threat("t-shared", severity="high")
    data[0]["threat_links"] = [link("l-d", "t-shared", dict(shared))]
    data[1]["threat_links"] = [*data[1]["threat_links"], link("l-k", "t-shared", dict(shared))]
    data[1]["updated_at"] = data[1]["created_at"]  # K's copy loses to D's on that page
    assert utc(data[0]["updated_at"]) > utc(data[1]["updated_at"])
    api.delete_between_pages(1, after_offset=0)
    frames = load_incidents(make_client(), progress=False)
    report = frames.metadata
    assert (report["complete"], report["reconciled"]) == (True, True)
    assert "t-shared" in set(frames.threats["threat_id"])
    clean = frames_from_pages([page_body(api.dataset.incidents, len(api.dataset.incidents))])
    assert_same_frames(frames, clean)


def test_exactly_one_page_inserted_between_pages_is_re_read(
    api: SandboxServer, make_client: Callable[..., IntraceClient]
) -> None:
    api.insert_between_pages(50, after_offset=0)
    frames = load_incidents(make_client(page_size=50), progress=False)
    report = frames.metadata
    assert (report["complete"], report["drift_detected"], report["reconciled"]) == (
        True,
        True,
        True,
    )
    assert_frames_match(frames, reference(_current(api)))


def test_a_server_inserting_before_every_request_gives_an_incomplete_load_not_an_error(
    api: SandboxServer, make_client: Callable[..., IntraceClient]
) -> None:
    api.arm("insert_between_pages", times=10_000, offset=None, n=50)  # after every request
    with pytest.warns(CompletenessWarning, match="exactly once"):
        frames = load_incidents(make_client(page_size=50), progress=False, reconcile_passes=1)
    report = frames.metadata
    assert report["complete"] is False
    assert report["drift_detected"] is True
    assert report["reconciled"] is False
    ended = [reason for reason in report["drift"] if "ended early" in reason]
    assert [reason.split(":")[0] for reason in ended] == [
        "read 1 ended early",
        "read 2 ended early",
    ]
    assert "stopping instead of looping" in ended[0]
    # What was read is returned (the inserts pushed older rows past where the reads
    # stopped: the reason the load cannot be complete).
    held = set(frames.incidents["incident_id"])
    assert len(held) > 50  # more than one page: every page read, not the last one alone
    assert held <= set(served_ids(api))
    # The first read ends after 20 pages (5 planned, twice, plus ten), the second later.
    assert report["pages"] > 2 * 20
    assert report["rows"] == len(frames.incidents)


def test_an_incomplete_load_counts_the_rows_its_last_read_no_longer_returned(
    api: SandboxServer, make_client: Callable[..., IntraceClient]
) -> None:
    before = {i["id"] for i in _current(api)}
    api.delete_between_pages(3, times=50)
    with pytest.warns(CompletenessWarning) as caught:
        frames = load_incidents(make_client(), progress=False)
    report = frames.metadata
    assert report["complete"] is False
    held = set(frames.incidents["incident_id"])
    gone = held - {i["id"] for i in _current(api)}
    # Three reads, each deleting the 3 newest after its first page: the first two reads'
    # deletions are rows the last read never returned.
    assert held <= before
    assert report["stale_kept"] >= 6
    assert report["stale_kept"] >= len(gone) - 3
    message = " ".join(str(w.message) for w in caught)
    assert f"{report['stale_kept']} incidents an earlier read returned" in message
    assert "kept" in message


# -- one parse per body -------------------------------------------------------------------


def test_a_live_load_parses_each_body_once_with_arrow_and_never_decodes_it(
    api: SandboxServer, make_client: Callable[..., IntraceClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow.json as pajson

    api.casing = "mixed"
    arrow_reads: list[bytes] = []
    stdlib_pages: list[str] = []
    read_json, loads = pajson.read_json, json.loads

    def counting_read_json(source: Any, *args: Any, **kwargs: Any) -> Any:
        body = source.read()  # the whole body: a BufferReader over it
        arrow_reads.append(body)
        return read_json(pa.BufferReader(body), *args, **kwargs)

    def counting_loads(text: Any, *args: Any, **kwargs: Any) -> Any:
        if '"incidents"' in (text if isinstance(text, str) else text.decode("utf-8", "replace")):
            stdlib_pages.append(text)
        return loads(text, *args, **kwargs)

    # A page is read first in the casing of the page before it (the narrow schema), and
    # again with every spelling when it holds the other casing's: a first load sets
    # the reader to these pages' casing (mixed), then the second is counted.
    load_incidents(make_client(page_size=40), progress=False)
    monkeypatch.setattr(pajson, "read_json", counting_read_json)
    monkeypatch.setattr(json, "loads", counting_loads)
    frames = load_incidents(make_client(page_size=40), progress=False)
    monkeypatch.undo()

    pages = list(make_client(page_size=40).iter_incident_pages())  # the same bodies, again
    bodies = [page.body for page in pages]
    assert len(bodies) == frames.metadata["pages"] == 6
    assert stdlib_pages == []
    assert sorted(arrow_reads) == sorted(bodies)  # each body parsed once, by Arrow
    assert_same_frames(frames, frames_from_pages(bodies))
    assert frames.metadata["complete"] is True


def test_a_live_load_stops_a_server_that_ignores_offset(broken_server: Any) -> None:
    url, handler = broken_server
    handler.mode = "repeat"
    client = IntraceClient("k", base_url=url, page_size=10, max_workers=1)
    with pytest.raises(ResponseFormatError, match="repeats the page at offset 0") as info:
        load_incidents(client, progress=False)
    assert info.value.offset == 10
    assert handler.served < 10


@pytest.mark.parametrize("levels", [1000, 100_000])
def test_a_live_body_nested_deep_in_an_unknown_field_is_a_format_error_at_once(
    levels: int,
) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    incident = {"id": "i1", "title": "t", "status": "open", "scope": "aggregate",
                "created_at": "2026-04-18T09:00:00Z", "updated_at": "2026-04-18T09:00:00Z",
                "threat_links": [], "vendor_extension": None}  # fmt: skip
    text = json.dumps({"incidents": [incident], "total": 1})
    body = text.replace("null", "[" * levels + "]" * levels).encode()

    class Deep(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Deep)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        started = time.monotonic()
        with pytest.raises(ResponseFormatError, match="nests") as info:
            load_incidents(IntraceClient("k", base_url=url), progress=False)
        assert time.monotonic() - started < 1.0
        assert info.value.offset == 0
        with pytest.raises(ResponseFormatError, match="nests"):  # the pages, as users read them
            list(IntraceClient("k", base_url=url).iter_incident_pages())
    finally:
        server.shutdown()
        server.server_close()


def test_a_raw_dir_that_cannot_be_written_closes_the_normalizer_and_gives_the_memory_pool_back(
    api: SandboxServer,
    make_client: Callable[..., IntraceClient],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    default_pool: str,
) -> None:
    made: list[merge.Normalizer] = []

    class Recorded(merge.Normalizer):
        def __init__(self, workers: int | None = None) -> None:
            super().__init__(workers)
            made.append(self)

    monkeypatch.setattr(load_module, "Normalizer", Recorded)
    (tmp_path / "a-file").write_text("not a directory")
    with pytest.raises(OSError, match="a-file"):
        load_incidents(make_client(), progress=False, raw_dir=tmp_path / "a-file" / "raw")
    assert len(made) == 1
    assert made[0]._pool._shutdown  # its threads stopped (none may have started)
    assert pa.default_memory_pool().backend_name == default_pool
    assert not [t for t in threading.enumerate() if t.name.startswith("intrace-normalize")]
