"""What sites cost: ``load_incidents(assets=True)`` against ``assets=False``.

20,000 incidents, the sandbox's sites, 100 ms latency per request, default client
(page_size 1000, max_workers 4). Runs are interleaved (without, with, without, ...) and
medians of ``--repeat`` reported. Target: the site reads add at most 1.0x the main load's
wall time. Prints both times, the ratio, the spread and the requests per site read;
exits 1 when the target is missed or a load is not exact. The sandbox runs in its own
process, as a remote API would.

Run with ``make bench`` or ``.venv/bin/python benchmarks/bench_sites.py``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
from multiprocessing.connection import Connection

from intrace_analytics import IntraceClient, load_incidents
from intrace_analytics.sandbox import SandboxServer


def serve(pipe: Connection, incidents: int, latency: float) -> None:
    with SandboxServer(incidents=incidents, seed=7, latency=latency) as api:
        truth = {site["asset_id"]: len(api.incidents_of(site["asset_id"])) for site in api.assets}
        pipe.send((api.url, api.api_key, truth))
        pipe.recv()  # serve until the benchmark says it is done


def run(url: str, key: str, assets: bool) -> tuple[float, dict]:
    client = IntraceClient(key, base_url=url)
    started = time.perf_counter()
    frames = load_incidents(client, assets=assets, progress=False)
    seconds = time.perf_counter() - started
    report = frames.metadata
    assert report["complete"], "the load is not complete"
    return seconds, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--incidents", type=int, default=20_000)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; medians reported")
    args = parser.parse_args()

    ours, theirs = multiprocessing.Pipe()
    server = multiprocessing.Process(
        target=serve, args=(theirs, args.incidents, args.latency), daemon=True
    )
    server.start()
    times: dict[bool, list[float]] = {False: [], True: []}
    requests: dict[bool, int] = {}
    try:
        if not ours.poll(120):
            raise SystemExit("the sandbox process did not start")
        url, key, truth = ours.recv()
        run(url, key, False)  # warm-up: imports, first connections
        for _ in range(args.repeat):
            for assets in (False, True):
                seconds, report = run(url, key, assets)
                times[assets].append(seconds)
                requests[assets] = report["requests"]
                if assets:
                    rows = {r["asset_id"]: r["rows"] for r in report["asset_reads"]}
                    assert rows == truth, "site membership differs from the sandbox's truth"
    finally:
        ours.send("stop")
        server.join(timeout=10)
    without = statistics.median(times[False])
    with_sites = statistics.median(times[True])
    added = (with_sites - without) / without
    site_requests = requests[True] - requests[False]
    sites = len(truth)
    spread = {k: f"{min(v):.2f}-{max(v):.2f} s" for k, v in times.items()}
    print(
        f"{args.incidents} incidents, {sites} sites, {args.latency * 1000:.0f} ms latency, "
        f"median of {args.repeat}, interleaved"
    )
    print(f"assets=False: {without:.2f} s ({spread[False]}), {requests[False]} requests")
    print(f"assets=True:  {with_sites:.2f} s ({spread[True]}), {requests[True]} requests")
    print(
        f"site reads add {added:.2f}x the main load's wall time (target <= 1.0x); "
        f"{site_requests} more requests: {site_requests / sites:.2f} per site read "
        "(the sites list and the closing check included)"
    )
    return 0 if added <= 1.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
