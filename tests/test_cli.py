"""The command line as a user runs it: a real process, real output, exit codes."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest

from intrace_analytics import __version__
from intrace_analytics.cli import main


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "intrace_analytics", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_demo_fetches_every_incident_from_the_sandbox() -> None:
    result = run_cli("demo", "--incidents", "600", "--seed", "3")
    assert result.returncode == 0, result.stderr
    assert "Fetched 600 incidents (600 distinct)" in result.stdout
    assert "in 3 pages" in result.stdout
    assert "Traceback" not in result.stderr


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"intrace-analytics {__version__}"


def test_usage_errors_exit_2_with_one_message() -> None:
    result = run_cli("demo", "--incidents", "many")
    assert result.returncode == 2
    assert "--incidents: expected a whole number, got 'many'" in result.stderr
    assert "Traceback" not in result.stderr
    assert run_cli().returncode == 2
    assert run_cli("frobnicate").returncode == 2


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
