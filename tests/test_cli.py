"""The command line: argument parsing in-process (``main([...])``), a real process only
where one is needed (the ``python -m`` entry, a real run's exit code, a signal)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from intrace_analytics import __version__, frames_from_pages, read_jsonl, read_parquet
from intrace_analytics.cli import main
from intrace_analytics.sandbox import SandboxServer
from tests.helpers import CANARY_KEY, assert_no_key


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


def test_demo_fetches_from_the_sandbox_into_parquet(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = run_cli("demo", str(out), "--incidents", "600", "--seed", "3")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("Fetched 600 incidents, ") for line in lines)
    assert f"complete; Parquet in {out}" in result.stdout
    assert "Incidents by status" in result.stdout  # the summary
    assert lines[-1] == f"Report:   {out / 'report.html'}"
    assert "Traceback" not in result.stderr
    frames = read_parquet(out)
    assert len(frames.incidents) == 600
    assert frames.incidents["incident_id"].is_unique
    assert frames.metadata["complete"] is True
    assert "<!DOCTYPE html>" in (out / "report.html").read_text()[:200]


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
