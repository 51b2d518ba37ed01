"""The error tree as users meet it: each real failure (the sandbox over HTTP, real files)
raises its one ``IntraceError`` subclass with its context, never holds the key, and the
command line prints it as one plain line."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from intrace_analytics import (
    ApiError,
    AuthenticationError,
    ExportError,
    IncidentFrames,
    IntraceClient,
    IntraceError,
    NetworkError,
    RateLimitError,
    ResponseFormatError,
)
from intrace_analytics.cli import main
from intrace_analytics.sandbox import SandboxServer
from tests.helpers import (
    CANARY_KEY,
    EXPORT_JOURNAL,
    SilentServer,
    assert_no_key,
    one_error_line,
)

#: A key the sandbox rejects, which holds the canary: neither may show anywhere.
WRONG_KEY = f"wrong-{CANARY_KEY}"

#: A journal that names no temporary of ours: every writer of its directory refuses it.
BAD_JOURNAL = '{"format": 1, "export_id": "x", "renames": [["../x", "incidents.parquet"]]}'


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A loopback port that is bound, not listening: every connection is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def _fail(api: SandboxServer, kind: str) -> None:
    """Arm the sandbox for one failure of each HTTP kind (enough times for any retry)."""
    if kind == "api":
        api.fail(400, times=20)
    elif kind == "rate":
        api.rate_limit(3600, times=20)
    elif kind == "format":
        api.bad_body("wrong_shape", times=20)


# Each kind of failure: the error, and what it carries for a program to act on.
CASES: dict[str, tuple[type[IntraceError], Callable[[IntraceError], object]]] = {
    "auth": (AuthenticationError, lambda e: (e.status_code, "INTRACE_API_KEY" in str(e))),
    "api": (ApiError, lambda e: (e.status_code, e.error_code)),
    "rate": (RateLimitError, lambda e: (e.status_code, e.retry_after)),
    "format": (ResponseFormatError, lambda e: (e.offset, e.field)),
    "network": (NetworkError, lambda e: "could not connect" in str(e)),
}
EXPECTED = {
    "auth": (401, True),
    "api": (400, "bad_request"),
    "rate": (429, 3600),
    "format": (0, "incidents"),
    "network": True,
}


@pytest.mark.parametrize("kind", list(CASES))
def test_a_failed_request_raises_its_error_with_context_and_without_the_key(
    api: SandboxServer, refused_url: str, kind: str
) -> None:
    _fail(api, kind)
    key = WRONG_KEY if kind == "auth" else api.api_key
    url = refused_url if kind == "network" else api.url
    client = IntraceClient(key, base_url=url, max_retries=0)
    error, context = CASES[kind]
    with pytest.raises(IntraceError) as info:
        list(client.iter_incident_pages())
    assert type(info.value) is error
    assert context(info.value) == EXPECTED[kind]
    assert_no_key(info.value)  # str, repr, attributes and the whole chain
    assert_no_key(info.value, key=WRONG_KEY)


def test_a_server_that_never_answers_is_a_network_error() -> None:
    started = time.monotonic()
    with SilentServer() as server:
        client = IntraceClient(CANARY_KEY, base_url=server.url, timeout=(1, 0.2), max_retries=0)
        with pytest.raises(NetworkError) as info:
            list(client.iter_incident_pages())
    # The bound covers leaving the server too, which must not wait on its accept loop.
    assert time.monotonic() - started < 2
    assert server.held
    assert_no_key(info.value)


def test_a_storage_failure_is_an_export_error_naming_the_file(
    sandbox_frames: IncidentFrames, tmp_path: Path
) -> None:
    (tmp_path / EXPORT_JOURNAL).write_text(BAD_JOURNAL)
    with pytest.raises(IntraceError) as info:
        sandbox_frames.to_parquet(tmp_path)
    assert type(info.value) is ExportError
    assert info.value.path == tmp_path / EXPORT_JOURNAL
    assert str(tmp_path / EXPORT_JOURNAL) in str(info.value)
    assert list(tmp_path.glob("*.parquet")) == []


# -- the command line: one plain line per kind of failure ----------------------------


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("auth", "rejected the key"),
        ("api", "HTTP 400"),
        ("rate", "Rate limited"),
        ("format", "page at offset 0"),
        ("network", "could not connect"),
        ("export", "not a valid intrace_analytics export journal"),
    ],
)
def test_the_command_line_prints_each_failure_as_one_plain_line(
    api: SandboxServer,
    refused_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    kind: str,
    words: str,
) -> None:
    _fail(api, kind)
    monkeypatch.setenv("INTRACE_API_KEY", WRONG_KEY if kind == "auth" else api.api_key)
    monkeypatch.setenv("INTRACE_BASE_URL", refused_url if kind == "network" else api.url)
    out = tmp_path / "export"
    if kind == "export":
        out.mkdir()
        (out / EXPORT_JOURNAL).write_text(BAD_JOURNAL)
    code = main(["fetch", str(out), "--no-assets", "--max-retries", "0", "--no-progress"])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    line = one_error_line(captured.err, "fetch")
    assert words in line
    assert "Error" not in line  # words, not exception class names
    assert_no_key(line, key=WRONG_KEY)
    if kind == "export":  # the load ran, the write was refused, the journal named
        assert str(out / EXPORT_JOURNAL) in line
        assert json.loads((out / EXPORT_JOURNAL).read_text())["export_id"] == "x"
