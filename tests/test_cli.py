"""The command line: argument parsing in-process (``main([...])``), a real process only
where one is needed (the ``python -m`` entry, a real run's exit code, a signal)."""

from __future__ import annotations

import copy
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from intrace_analytics import (
    History,
    IncidentFrames,
    __version__,
    frames_from_pages,
    read_jsonl,
    read_parquet,
)
from intrace_analytics.cli import error_line, main
from intrace_analytics.sandbox import SandboxServer
from tests.helpers import CANARY_KEY, assert_no_key, one_error_line


def run_cli(
    *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "intrace_analytics", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_demo_fetches_then_syncs_across_a_week_and_reports_the_changes(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = run_cli("demo", str(out), "--incidents", "600", "--seed", "3")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("Fetched 600 incidents, ") for line in lines)
    assert f"complete; Parquet in {out}" in result.stdout
    assert "Changes since the previous load" in result.stdout  # the history's summary
    assert "Incidents by status" in result.stdout
    store = tmp_path / "demo-history"
    assert lines[-1] == f"Report:   {tmp_path / 'demo-history.html'}"
    assert f"History:  {store} (2 loads" in result.stdout
    assert "Traceback" not in result.stderr
    frames = read_parquet(out)
    assert len(frames.incidents) == 600
    assert frames.incidents["incident_id"].is_unique
    assert frames.metadata["complete"] is True
    # The export directory holds only the export; the store and the report sit beside it.
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "assets.parquet", "incident_assets.parquet", "incidents.parquet", "links.parquet",
        "threats.parquet",
    ]  # fmt: skip
    history = History(store)
    assert len(history.loads) == 2
    # The second sync's line counts what History.changes says of the week.
    changes = history.changes()
    resolved = changes.loc[changes["change"] == "resolved", "incident_id"].nunique()
    new = changes.loc[changes["change"] == "new", "incident_id"].nunique()
    assert new
    assert resolved
    assert any(
        line.startswith(f"incidents: {new} new, {resolved} resolved") for line in lines
    ), result.stdout
    html = (tmp_path / "demo-history.html").read_text()
    assert '<section id="changes">' in html
    assert '<section id="trend">' in html


def test_summary_and_report_read_an_export(
    api: SandboxServer, env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "export"
    assert run_cli("fetch", str(out), env=env).returncode == 0
    summary = run_cli("summary", str(out), env=env)
    assert summary.returncode == 0, summary.stderr
    open_count = sum(1 for i in api.dataset.incidents if i["status"] == "open")
    assert "Incidents by status" in summary.stdout
    assert "Time to resolution" in summary.stdout
    assert "Threats by severity" in summary.stdout
    assert any(
        line.split()[0] == "open" and line.split()[-3] == str(open_count)
        for line in summary.stdout.splitlines()
        if line.strip()
    )
    report = run_cli("report", str(out), "-o", str(tmp_path / "r.html"), env=env)
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "r.html").read_text().count("<section") >= 9
    missing = run_cli("summary", str(tmp_path / "nowhere"), env=env)
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1
    assert_no_key(summary.stdout, report.stdout, (tmp_path / "r.html").read_text())


@pytest.fixture
def env(api: SandboxServer) -> dict[str, str]:
    return {**os.environ, "INTRACE_API_KEY": CANARY_KEY, "INTRACE_BASE_URL": api.url}


@pytest.fixture
def in_process_env(api: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    """The sandbox's URL and key in this process's environment, for ``main([...])``."""
    monkeypatch.setenv("INTRACE_API_KEY", CANARY_KEY)
    monkeypatch.setenv("INTRACE_BASE_URL", api.url)
    return api


def test_fetch_writes_parquet_and_one_summary_line(
    in_process_env: SandboxServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    api = in_process_env
    out = tmp_path / "export"
    code = main(["fetch", str(out), "--status", "open", "--page-size", "20"])
    result = capsys.readouterr()
    assert code == 0, result.err
    expected = [i["id"] for i in api.dataset.incidents if i["status"] == "open"]
    lines = result.out.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"Fetched {len(expected)} incidents, ")
    assert "complete" in lines[0]
    frames = read_parquet(out)
    assert frames.incidents["incident_id"].tolist() == expected
    assert frames.metadata["filters"]["status"] == "open"
    assert_no_key(result.out, result.err, *(p.read_bytes() for p in out.iterdir()))


def test_fetch_keeps_raw_pages(
    in_process_env: SandboxServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "export"
    code = main(["fetch", str(out), "--keep-raw", "--page-size", "100"])
    assert code == 0, capsys.readouterr().err
    (raw,) = (out / "raw").glob("pages-*.jsonl")
    replayed = frames_from_pages(read_jsonl(raw))
    pd.testing.assert_frame_equal(replayed.incidents, read_parquet(out).incidents)
    assert_no_key(raw.read_text())


def test_fetch_shows_the_rate_limit_wait_in_the_progress_bar(
    in_process_env: SandboxServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    in_process_env.rate_limit(retry_after=2, offset=100)
    code = main(["fetch", str(tmp_path / "x"), "--page-size", "100", "--progress"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "waiting 2 s (rate limited)" in err
    assert "pages" in err


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ({"INTRACE_API_KEY": ""}, "INTRACE_API_KEY"),
        ({"INTRACE_API_KEY": "not-" + CANARY_KEY}, "rejected the key"),
        ({"INTRACE_BASE_URL": "http://127.0.0.1:9"}, "could not connect"),
    ],
)
def test_fetch_failures_are_one_line_exit_1(
    env: dict[str, str], tmp_path: Path, setup: dict[str, str], message: str
) -> None:
    result = run_cli("fetch", str(tmp_path / "x"), "--max-retries", "1", env={**env, **setup})
    assert result.returncode == 1
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x").exists()
    assert_no_key(result.stdout, result.stderr)


def test_an_incomplete_load_writes_nothing_unless_allowed(
    api: SandboxServer, env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "export"
    assert run_cli("fetch", str(out), env=env).returncode == 0
    before = {p.name: p.read_bytes() for p in out.glob("*.parquet")}
    api.delete_between_pages(3, times=50)
    result = run_cli("fetch", str(out), "--page-size", "50", env=env)
    assert result.returncode == 1
    assert "incomplete load" in result.stderr
    assert {p.name: p.read_bytes() for p in out.glob("*.parquet")} == before
    result = run_cli("fetch", str(out), "--page-size", "50", "--allow-incomplete", env=env)
    assert result.returncode == 0, result.stderr
    assert "INCOMPLETE" in result.stdout
    assert read_parquet(out).metadata["complete"] is False


def test_an_unknown_asset_id_is_a_usage_error_that_keeps_the_export(
    in_process_env: SandboxServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "good"
    assert main(["fetch", str(out), "--page-size", "100"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    sent = len(in_process_env.requests)
    code = main(["fetch", str(out), "--asset-id", "lagos-hq", "--asset-id", "lagos-hqq"])
    line = one_error_line(capsys.readouterr().err, "fetch")
    assert code == 2
    assert "asset_id must be one of the" in line
    assert "got 'lagos-hqq' (closest: 'lagos-hq'" in line
    assert [r.path for r in in_process_env.requests[sent:]] == ["/v1/assets"]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_the_report_goes_beside_the_export_which_holds_only_the_export(
    sandbox_frames: IncidentFrames,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pyarrow.parquet as pq

    export = tmp_path / "exports" / "all"
    sandbox_frames.to_parquet(export)
    before = sorted(p.name for p in export.iterdir())
    assert main(["report", f"{export}/"]) == 0  # a trailing slash, as a shell completes it
    assert (
        capsys.readouterr().out.strip() == f"Report written to {tmp_path / 'exports' / 'all.html'}"
    )
    assert sorted(p.name for p in export.iterdir()) == before
    table = pq.read_table(export)  # a dataset reader reads the directory as it is
    assert table.num_rows == len(sandbox_frames.incidents) + len(sandbox_frames.links) + len(
        sandbox_frames.threats
    )
    monkeypatch.chdir(export)  # "." has no name: the report is named after the directory
    assert main(["report", "."]) == 0
    assert (tmp_path / "exports" / "all.html").is_file()
    assert sorted(p.name for p in export.iterdir()) == before


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"intrace-analytics {__version__}"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--incidents", "many"], "--incidents: expected a whole number, got 'many'"),
        ([], "the following arguments are required: command"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["fetch", "out", "--status", "pending"], "--status: invalid choice: 'pending'"),
        (["fetch", "out", "--page-size", "0"], "--page-size: expected 1..5000, got '0'"),
    ],
)
def test_usage_errors_exit_2_with_one_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    result = capsys.readouterr()
    assert result.out == ""
    errors = [line for line in result.err.splitlines() if line.startswith("intrace-analytics")]
    assert len(errors) == 1  # the usage line, then one error line
    assert message in errors[0]
    assert "Traceback" not in result.err


def test_sandbox_serves_until_interrupted() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "intrace_analytics", "sandbox", "--port", "0", "--incidents", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(4)]
        url = lines[1].split("=", 1)[1].strip()
        key = lines[2].split("=", 1)[1].strip()
        assert url.startswith("http://127.0.0.1:")
        request = urllib.request.Request(f"{url}/v1/incidents?limit=5", headers={"X-API-Key": key})
        with urllib.request.urlopen(request, timeout=10) as response:
            payload = json.load(response)
        assert payload["total"] == 30
        assert len(payload["incidents"]) == 5
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "Traceback" not in err


def test_errors_are_one_line_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    # In-process, so the failure path itself is exercised: a port that is already taken.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        code = main(["sandbox", "--port", port, "--incidents", "1"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("intrace-analytics sandbox: error:")
    assert err.count("\n") == 1


# -- OUT_DIR is checked before anything is fetched -------------------------------------


@pytest.mark.parametrize("layout", ["out_is_a_file", "parent_is_a_file"])
def test_fetch_refuses_an_out_dir_it_cannot_write_before_any_request(
    in_process_env: SandboxServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    layout: str,
) -> None:
    file = tmp_path / "export"
    file.write_text("not a directory")
    out = file if layout == "out_is_a_file" else file / "sub" / "dir"
    code = main(["fetch", str(out)])
    line = one_error_line(capsys.readouterr().err, "fetch")
    assert code == 1
    assert in_process_env.requests == []  # nothing was fetched
    if layout == "out_is_a_file":
        assert line.endswith(f"OUT_DIR {file} is a file, not a directory")
    else:
        assert line.endswith(f"cannot create OUT_DIR {out}: {file} is a file, not a directory")
    assert file.read_text() == "not a directory"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only directory")
def test_fetch_refuses_a_read_only_directory_before_any_request(
    in_process_env: SandboxServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code = main(["fetch", str(locked / "export")])
    finally:
        locked.chmod(0o700)
    line = one_error_line(capsys.readouterr().err, "fetch")
    assert code == 1
    assert in_process_env.requests == []
    assert f"cannot write to {locked} (to create OUT_DIR {locked / 'export'})" in line


def test_an_unwritable_out_dir_is_one_plain_line(
    in_process_env: SandboxServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The same path as a read-only directory, for a root user too: the probe is refused.
    def refused(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(tmp_path / ".probe.0a1b2c3d4e5f.tmp"))

    monkeypatch.setattr(tempfile, "TemporaryFile", refused)
    code = main(["fetch", str(tmp_path)])
    line = one_error_line(capsys.readouterr().err, "fetch")
    assert code == 1
    assert in_process_env.requests == []
    assert line.endswith(f"cannot write to {tmp_path}: permission denied")


# -- failures are one plain line --------------------------------------------------------


def test_a_missing_key_is_said_in_the_command_lines_words(
    in_process_env: SandboxServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INTRACE_API_KEY", "")
    code = main(["fetch", str(tmp_path / "x")])
    line = one_error_line(capsys.readouterr().err, "fetch")
    assert code == 1
    assert line.endswith("no API key: set the INTRACE_API_KEY environment variable")
    assert "api_key" not in line
    assert in_process_env.requests == []


def test_a_bad_base_url_names_the_environment_variable_or_the_option(
    in_process_env: SandboxServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INTRACE_BASE_URL", "ftp://example.com")
    assert main(["fetch", str(tmp_path / "x")]) == 1
    line = one_error_line(capsys.readouterr().err, "fetch")
    assert "INTRACE_BASE_URL must be an http(s) URL" in line
    assert "base_url" not in line
    with pytest.raises(SystemExit) as exited:
        main(["fetch", str(tmp_path / "x"), "--base-url", "ftp://example.com"])
    assert exited.value.code == 2
    assert "argument --base-url: expected an http(s) URL" in capsys.readouterr().err


@pytest.mark.parametrize(
    "url",
    [f"https://user:{CANARY_KEY}@api.intrace.ai/", f"https://api.intrace.ai/?api_key={CANARY_KEY}"],
)
def test_a_base_url_typed_with_the_key_is_never_echoed(
    in_process_env: SandboxServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    url: str,
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["fetch", str(tmp_path / "x"), "--base-url", url])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "argument --base-url: expected an http(s) URL" in err
    assert "api.intrace.ai" in err
    assert_no_key(err)
    monkeypatch.setenv("INTRACE_BASE_URL", url)
    assert main(["fetch", str(tmp_path / "x")]) == 1
    line = one_error_line(capsys.readouterr().err, "fetch")  # checks the key is not in it
    assert "INTRACE_BASE_URL must be an http(s) URL without a query" in line
    assert in_process_env.requests == []


def test_a_failed_fetch_clears_the_bar_then_prints_one_line(
    in_process_env: SandboxServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    in_process_env.fail(500, offset=0, times=100)
    code = main(["fetch", str(tmp_path / "x"), "--progress", "--max-retries", "0"])
    err = capsys.readouterr().err
    assert code == 1
    assert "fetching" in err  # the bar was drawn, then blanked: the line stands alone
    assert err.rsplit("\r", 2)[-2].strip() == ""
    line = one_error_line(err, "fetch")
    assert "HTTP 500" in line
    assert not (tmp_path / "x").exists()


def test_a_fetch_failing_after_retries_prints_one_line_and_retries_show_in_the_bar(
    in_process_env: SandboxServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Bodies cut short are retried by the client itself, which logs each retry.
    in_process_env.truncate_body(offset=0, times=100)
    code = main(["fetch", str(tmp_path / "x"), "--progress", "--max-retries", "3"])
    err = capsys.readouterr().err
    assert code == 1
    assert "Retrying" not in err  # no log line through the bar
    assert "retries" in err  # counted in the bar's status instead
    line = one_error_line(err, "fetch")  # after the cleared bar, the one line
    assert "cut short" in line
    assert not (tmp_path / "x").exists()


def test_retries_are_counted_in_the_bar_and_log_records_go_above_it(
    in_process_env: SandboxServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    in_process_env.truncate_body(offset=0, times=2)
    console = logging.StreamHandler(sys.stderr)  # an application's console logging
    logging.getLogger().addHandler(console)
    try:
        with caplog.at_level(logging.WARNING, logger="intrace_analytics"):
            code = main(["fetch", str(tmp_path / "x"), "--progress", "--page-size", "100"])
    finally:
        logging.getLogger().removeHandler(console)
    err = capsys.readouterr().err
    assert code == 0, err
    assert "3 pages, 2 retries" in err  # the bar's final status
    # The records reach the console through the bar's writer: each on a line of its own,
    # never glued to a half-drawn bar.
    records = [line for line in err.split("\n") if "Retrying offset 0" in line]
    assert len(records) == 2
    assert all(line.rsplit("\r", 1)[-1].startswith("Retrying offset 0") for line in records)
    assert all(not line.startswith("fetching") for line in records)


@pytest.mark.parametrize("command", [["summary"], ["report"], ["report", "-o", "r.html"]])
def test_a_file_where_an_export_directory_is_expected_is_named_as_such(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: list[str]
) -> None:
    file = tmp_path / "incidents.parquet"
    file.write_bytes(b"PAR1")
    code = main([command[0], str(file), *command[1:]])
    line = one_error_line(capsys.readouterr().err, command[0])
    assert code == 1
    assert line.endswith(
        f"{file} is a file; DATA_DIR is the export's directory, the one that holds "
        "incidents.parquet"
    )
    assert "incidents.parquet/incidents.parquet" not in line


def test_a_directory_without_an_export_says_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["summary", str(tmp_path)]) == 1
    line = one_error_line(capsys.readouterr().err, "summary")
    assert line.endswith(
        f"no export in {tmp_path}: it holds no incidents.parquet "
        f"(write one with: intrace-analytics fetch {tmp_path}), nor a history store's "
        f"loads/ (write one with: intrace-analytics sync {tmp_path})"
    )
    assert main(["summary", str(tmp_path / "nowhere")]) == 1
    line = one_error_line(capsys.readouterr().err, "summary")
    assert line.endswith(f"no export at {tmp_path / 'nowhere'}: no such directory")


def test_a_damaged_export_is_one_line(
    sandbox_frames: IncidentFrames, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sandbox_frames.to_parquet(tmp_path)
    (tmp_path / "links.parquet").write_bytes(b"not parquet\nat all")
    assert main(["summary", str(tmp_path)]) == 1
    line = one_error_line(capsys.readouterr().err, "summary")
    assert "links.parquet" in line


def test_error_lines_hide_errno_temporary_names_newlines_and_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    temporary = "/data/out/.threats.parquet.0123456789ab.tmp"
    assert error_line(PermissionError(13, "Permission denied", temporary)) == (
        "/data/out/threats.parquet: permission denied"
    )
    assert error_line(OSError(28, "No space left on device")) == "no space left on device"
    assert error_line(ValueError(f"[Errno 2] gone: {temporary}")) == (
        "gone: /data/out/threats.parquet"
    )
    monkeypatch.setenv("INTRACE_API_KEY", CANARY_KEY)
    assert error_line(ValueError(f"bad\n  key {CANARY_KEY}")) == "bad key ***"


# -- --as-of ----------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["summary", "report"])
def test_as_of_defaults_to_the_fetch_and_the_option_overrides_it(
    sandbox_frames: IncidentFrames,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    command: str,
) -> None:
    frames = copy.deepcopy(sandbox_frames)
    frames.metadata = {**frames.metadata, "fetched_at": "2026-10-03T08:30:00+00:00"}
    frames.to_parquet(tmp_path / "export")

    def said() -> str:
        if command == "summary":
            text = capsys.readouterr().out
        else:
            capsys.readouterr()
            text = (tmp_path / "export.html").read_text(encoding="utf-8")
        return " ".join(text.split())

    assert main([command, str(tmp_path / "export")]) == 0
    assert "unresolved up to 2026-10-03 08:30 UTC (the time of the fetch)" in said()
    assert main([command, str(tmp_path / "export"), "--as-of", "2026-10-01T12:00+02:00"]) == 0
    assert "unresolved up to 2026-10-01 10:00 UTC (as requested)" in said()


@pytest.mark.parametrize("command", ["summary", "report"])
def test_a_bad_as_of_is_a_usage_error_naming_the_option(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "export", "--as-of", "last tuesday"])
    assert exited.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert errors == [
        f"intrace-analytics {command}: error: argument --as-of: expected a timestamp such "
        "as 2026-10-01 or 2026-10-01T12:00Z, got 'last tuesday'"
    ]


def test_help_and_version_do_not_import_pandas() -> None:
    code = (
        "import sys\nfrom intrace_analytics.cli import main\n"
        "for argv in (['--help'], ['--version'], ['fetch', '--help']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "print(sorted({'pandas', 'pyarrow', 'requests'} & set(sys.modules)), file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stderr.strip() == "[]"
    assert "--as-of" not in done.stdout  # fetch has none
    assert "--no-assets" in done.stdout
