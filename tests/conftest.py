"""Shared fixtures: a sandbox API on 127.0.0.1 with a canary key, and fast clients."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from intrace_analytics import IncidentFrames, IntraceClient, frames_from_pages
from intrace_analytics.sandbox import SandboxServer
from intrace_analytics.sandbox.data import generate_dataset, page_body
from tests.helpers import CANARY_KEY


@pytest.fixture
def api() -> Iterator[SandboxServer]:
    with SandboxServer(incidents=230, seed=11, api_key=CANARY_KEY) as server:
        yield server


@pytest.fixture
def make_client(api: SandboxServer) -> Callable[..., IntraceClient]:
    """A client for the sandbox with millisecond backoff, so retry tests take no real time."""

    def make(**overrides: Any) -> IntraceClient:
        options: dict[str, Any] = {
            "base_url": api.url,
            "page_size": 50,
            "max_workers": 4,
            "timeout": (2, 5),
            "backoff_factor": 0.001,
            "backoff_max": 0.01,
            "backoff_jitter": 0.001,
        }
        options.update(overrides)
        return IntraceClient(api.api_key, **options)

    return make


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture every log record at DEBUG, urllib3's included."""
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "urllib3.connectionpool", "intrace_analytics"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


@pytest.fixture(scope="session")
def sandbox_frames() -> IncidentFrames:
    """Frames of 300 sandbox incidents (seed 3), built once per test run. Never mutate
    them: copy first (``copy.deepcopy``) in a test that needs to change something."""
    data = generate_dataset(300, seed=3)
    return frames_from_pages([page_body(data.incidents, len(data.incidents))])
