"""Shared fixtures: a sandbox API on 127.0.0.1 with a canary key, and fast clients."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from intrace_analytics import IncidentFrames, IntraceClient, frames_from_pages
from intrace_analytics.sandbox import SandboxServer
from intrace_analytics.sandbox.data import generate_dataset, page_body
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


#: The monitoring radius the tests give every sandbox site (the sandbox's data has none).


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
            {"asset_id": a.asset_id, "name": a.name, "type": a.type, "status": a.status,
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
