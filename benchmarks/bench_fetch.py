"""Concurrent page fetching: 100 pages at 100 ms latency, 4 workers against 1.

Run with ``make bench`` or ``.venv/bin/python benchmarks/bench_fetch.py``. Prints both
times, the ratio, and checks every id arrives exactly once in both runs. Target: >= 3.5x.
The sandbox runs in its own process, as a remote API would: serving pages from the
benchmark's own process would make server and client compete for one GIL.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from multiprocessing.connection import Connection

from intrace_analytics import IntraceClient
from intrace_analytics.sandbox import SandboxServer


def fetch(url: str, key: str, workers: int, page_size: int) -> tuple[float, list[str], int]:
    client = IntraceClient(key, base_url=url, page_size=page_size, max_workers=workers)
    started = time.perf_counter()
    stream = client.iter_incident_pages()
    ids = [incident["id"] for page in stream for incident in page.incidents]
    return time.perf_counter() - started, ids, stream.stats.pages


def serve(pipe: Connection, incidents: int, latency: float) -> None:
    with SandboxServer(incidents=incidents, seed=7, latency=latency) as api:
        ids = [incident["id"] for incident in api.dataset.incidents]
        pipe.send((api.url, api.api_key, ids))
        pipe.recv()  # serve until the benchmark says it is done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; medians reported")
    args = parser.parse_args()

    ours, theirs = multiprocessing.Pipe()
    server = multiprocessing.Process(
        target=serve, args=(theirs, args.pages * args.page_size, args.latency), daemon=True
    )
    server.start()
    try:
        url, key, expected = ours.recv()
        times: dict[int, list[float]] = {1: [], 4: []}
        for _ in range(args.repeat):
            for workers in (4, 1):
                seconds, ids, pages = fetch(url, key, workers, args.page_size)
                assert pages == args.pages, f"expected {args.pages} pages, got {pages}"
                assert ids == expected, f"max_workers={workers}: ids lost, repeated or reordered"
                times[workers].append(seconds)
    finally:
        ours.send("stop")
        server.join(timeout=10)
    one = sorted(times[1])[len(times[1]) // 2]
    four = sorted(times[4])[len(times[4]) // 2]
    ratio = one / four
    print(f"{args.pages} pages x {args.page_size} incidents, {args.latency * 1000:.0f} ms latency")
    print(f"max_workers=1: {one:.2f} s (median of {args.repeat})")
    print(f"max_workers=4: {four:.2f} s (median of {args.repeat})")
    print(f"speed-up: {ratio:.2f}x (target >= 3.5x); every id exactly once in every run")
    return 0 if ratio >= 3.5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
