"""Shared fixtures: a sandbox API on 127.0.0.1 with a canary key, and fast clients."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from intrace_analytics import IntraceClient
from intrace_analytics.sandbox import SandboxServer

# A key that must never appear in any output, log, error or file.
CANARY_KEY = "canary-7f3a9c1e-DO-NOT-LEAK"


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


def assert_no_key(*texts: object, key: str = CANARY_KEY) -> None:
    """Fail if the key appears in any text, or in any exception's whole chain."""
    for item in texts:
        if isinstance(item, BaseException):
            rendered = "".join(traceback.format_exception(item))
            chain: list[BaseException] = []
            seen: BaseException | None = item
            while seen is not None and seen not in chain:
                chain.append(seen)
                seen = seen.__cause__ or seen.__context__
            rendered += "".join(repr(e) + str(e) + repr(vars(e)) for e in chain)
        else:
            rendered = str(item)
        assert key not in rendered


def ids_of(pages: Any) -> list[str]:
    return [incident["id"] for page in pages for incident in page.incidents]
