"""The nginx that ``benchmarks/bench_live.py`` configures: it serves each page body by its
offset and nothing else, a real load through it is complete, and it is gone afterwards.
Skipped where nginx is not installed (the benchmark itself is not run by the tests)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import requests

from intrace_analytics import IntraceClient, load_incidents
from intrace_analytics.sandbox._data import generate_dataset, page_body

BENCH_LIVE = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_live.py"


@pytest.fixture(scope="module")
def bench_live() -> Iterator[ModuleType]:
    """The benchmark as a module (it puts benchmarks/ on sys.path; undone afterwards)."""
    path, modules = list(sys.path), dict(sys.modules)
    spec = importlib.util.spec_from_file_location("bench_live", BENCH_LIVE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_live"] = module  # dataclasses look their module up while defining
    try:
        spec.loader.exec_module(module)
        if shutil.which("nginx", path=module.NGINX_PATHS) is None:
            pytest.skip("nginx is not installed (apt-get install nginx)")
        yield module
    finally:
        sys.path[:] = path
        for name in ("bench_live", "bench_normalize"):
            if name not in modules:
                sys.modules.pop(name, None)


def test_nginx_serves_pages_by_offset_then_stops(bench_live: ModuleType, tmp_path: Path) -> None:
    data = generate_dataset(5, seed=1)
    files = []
    for k, start in enumerate(range(0, 5, 2)):  # offsets 0, 2, 4; the last page short
        path = tmp_path / f"page-{k:05d}.json"
        path.write_bytes(page_body(data.incidents[start : start + 2], 5))
        files.append(path)

    with bench_live.serve_pages(files, page_size=2) as server:
        with requests.Session() as session:
            response = session.get(f"{server.url}/v1/incidents?limit=2&offset=2", timeout=5)
            assert response.status_code == 200
            assert response.headers["Content-Type"] == "application/json"
            assert response.content == files[1].read_bytes()
            for query in ("offset=1", "offset=6", "offset=../nginx.conf", "offset=0x", "limit=2"):
                response = session.get(f"{server.url}/v1/incidents?{query}", timeout=5)
                assert response.status_code == 404, query
            assert session.get(f"{server.url}/v1/assets", timeout=5).status_code == 404

        client = IntraceClient("bench-key", base_url=server.url, page_size=2, max_workers=2)
        frames = load_incidents(client, progress=False)
        assert frames.metadata["complete"] is True
        assert sorted(frames.incidents["incident_id"]) == sorted(i["id"] for i in data.incidents)
        process, prefix = server.process, server.prefix

    assert process.returncode is not None
    with pytest.raises(ProcessLookupError):  # no worker outlived the master
        os.killpg(process.pid, 0)
    assert not prefix.exists()
