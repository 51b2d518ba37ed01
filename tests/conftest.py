"""Shared fixtures: a sandbox API on 127.0.0.1 with a canary key, and fast clients."""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from intrace_analytics import IncidentFrames, IntraceClient, Retries, frames_from_pages
from intrace_analytics.sandbox import SandboxServer
from intrace_analytics.sandbox._data import generate_dataset, page_body
from tests.helpers import CANARY_KEY, SITE_RADIUS_KM


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
            "max_retries": Retries(backoff_factor=0.001, backoff_max=0.01, backoff_jitter=0.001),
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


@pytest.fixture(scope="session")
def sites_dataset() -> Any:
    """The sandbox data set behind ``sandbox_frames``: its truth of which incident
    touches which site (``assets_of``)."""
    return generate_dataset(300, seed=3)


@pytest.fixture(scope="session")
def sites_frames(sandbox_frames: IncidentFrames, sites_dataset: Any) -> IncidentFrames:
    """``sandbox_frames`` with the sandbox's sites and their incidents filled in
    directly from the data set, without the loader. Never mutate: copy first."""
    import copy

    import pandas as pd

    from intrace_analytics.sandbox import SITES
    from tests.helpers import typed

    frames = copy.deepcopy(sandbox_frames)
    frames.assets = typed(
        "assets",
        [
            {"asset_id": a.asset_id, "name": a.name, "type": a.type, "site_status": a.status,
             "lat": a.lat, "lng": a.lng, "monitoring_radius_km": SITE_RADIUS_KM}
            for a in SITES
        ],
    )  # fmt: skip
    pairs = [
        (incident["id"], a.asset_id)
        for a in SITES
        for incident in sites_dataset.incidents
        if a.asset_id in sites_dataset.assets_of[incident["id"]]
    ]
    frames.incident_assets = pd.DataFrame(
        {
            "incident_id": pd.Series([p[0] for p in pairs], dtype=pd.StringDtype()),
            "asset_id": pd.Series([p[1] for p in pairs], dtype=pd.StringDtype()),
        }
    )
    frames.metadata = {**frames.metadata, "assets_loaded": True}
    return frames


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    """Every figure a test opened is closed after it (only where pyplot was imported)."""
    yield
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")


@pytest.fixture
def ax() -> Any:
    """A fresh matplotlib Axes."""
    import matplotlib.pyplot as plt

    _, axes = plt.subplots()
    return axes


# -- a server that would make a naive paginator loop ----------------------------------------


class _BrokenPaginator(BaseHTTPRequestHandler):
    """Ignores offset (mode 'repeat') or keeps raising total (mode 'grow')."""

    mode = "repeat"
    served = 0

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        offset, limit = int(query["offset"][0]), int(query["limit"][0])
        type(self).served += 1
        if self.mode == "repeat":
            start, total = 0, 10 * limit
        else:
            start, total = offset, offset + 2 * limit
        rows = [{"id": f"i{n}"} for n in range(start, start + limit)]
        body = json.dumps({"incidents": rows, "total": total}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def broken_server() -> Iterator[tuple[str, type[_BrokenPaginator]]]:
    handler = type("Handler", (_BrokenPaginator,), {"served": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def default_pool(monkeypatch: pytest.MonkeyPatch) -> str:
    """Arrow's default memory pool as a user has it (no ``ARROW_DEFAULT_MEMORY_POOL``),
    by name; not the system allocator, so that a test can see a load switch to it."""
    import pyarrow as pa

    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    name: str = pa.default_memory_pool().backend_name
    assert name != "system", "a memory-pool hold leaked, or this pyarrow has no other pool"
    return name
