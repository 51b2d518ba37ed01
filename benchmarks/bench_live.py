"""A live load against the offline normalization of the same bytes, and the network floor.

Run with ``make bench`` or::

    .venv/bin/python benchmarks/bench_live.py [--incidents N] [--repeat R]
        [--methods live offline download] [--max-workers W] [--no-strict]

The data. The page bodies of ``bench_normalize.py`` (imported from it, so both read the
same cache): N incidents generated as the sandbox generates them (seed 7, snake_case),
5000 to a body, one file per page under ``$TMPDIR/intrace-bench-cache/``, generated in a
child when missing. Page k holds offset k * 5000; every body's ``total`` is N.

The server. Debian's nginx (``apt-get install nginx``; exit status 2 without it), so the
server costs next to nothing: a Python server would compete with the client for the
same cores and make the load look slower than it is. The benchmark writes a temporary
prefix with an ``nginx.conf`` and a ``pages/`` directory of links named by offset
(``0.json``, ``5000.json``, ...), serves ``GET /v1/incidents?offset=K`` from
``pages/K.json`` on 127.0.0.1 (404 for any other offset; ``limit`` and the
``X-API-Key`` header are ignored), and always stops it: the prefix and nginx's process
group go when the benchmark ends, fails or is interrupted.

The measurement, as in ``bench_normalize.py``: each run of each method is a fresh
interpreter (``--run-one``), so no method inherits another's heap, caches, imports or
connections. A round runs every method once, in an order rotated from round to round;
R rounds (``--repeat``) give medians, reported with the min-max range, because the
machine is noisy; the ratio live / offline is the ratio of their medians, with its
spread: the lowest and highest live / offline of one round. Inside the child:

- *wall s*: ``time.perf_counter()`` around the work only, not the interpreter start or
  the imports.
- *cpu s*: the child's user + system time over the same span, all its threads; steadier
  than wall time when other work shares the cores. nginx's time is not in it.
- *peak RSS*: the child's ``VmHWM`` (see ``bench_normalize.py`` for why not
  ``ru_maxrss``), imports included; *import RSS* is the same figure for an idle child
  that only imported the method's modules. nginx's memory is not in it.

The methods, and why each is here:

- ``live``: ``load_incidents(IntraceClient(key, base_url=nginx, page_size=5000),
  progress=False)``, the real load with the client's default ``max_workers``: requests,
  retries machinery, completeness checks and normalization as pages arrive. The thing
  being measured. Creating the client is inside the clock.
- ``offline``: ``frames_from_pages`` over a generator of the same bytes read from the
  files, so pages stream one at a time: the normalization alone, the same as
  ``ours`` in ``bench_normalize.py``. The yardstick: a live load cannot be faster than
  normalizing what it receives, and whatever it costs beyond this is the price of
  fetching.
- ``download``: the network floor. One ``requests.Session`` GETs every offset in order
  and keeps ``len(response.content)``, nothing else: what moving the bytes through
  requests costs on one connection, with no parsing.

The parent checks that ``live`` and ``offline`` give the same rows (incidents, links,
threats), that the live load reports ``complete``, and that ``download`` received every
byte of the bodies; a failed check fails the benchmark even with ``--no-strict``. When
``offline`` is not among ``--methods``, live's rows have nothing to be compared with: it
says so, and that is not a failure.

The target (issue 12, for a 2-core machine): ``live / offline <= 1.2x``, the live load at
most 20 % slower than normalizing the same bytes offline. It is judged (a miss, or n/a,
exits 1 unless ``--no-strict``) where ``bench_normalize.py`` judges issue 12's few-core
target, on at most 4 usable cores; on more cores the issue sets no live target, and the
figure is printed as information only. ``live / download`` is printed for information:
how much of the live time is past the floor of moving the bytes.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Only the standard library at module level, as in bench_normalize: each child imports
# what its method needs. The data, the RSS probe, the rounds and the medians and ratios
# come from bench_normalize itself.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_normalize import (
    FEW_CORES,
    GIB,
    PAGE_SIZE,
    SizeRun,
    Verdict,
    interleaved_rounds,
    page_files,
    peak_rss_bytes,
    ratio,
    ru_maxrss_bytes,
    spread,
    times,
    usable_cores,
    warm_dataset,
)
from bench_normalize import (
    in_child as run_child,
)

METHODS = ("live", "offline", "download")
SERVED = ("live", "download")  # the methods that need nginx
API_KEY = "bench-key"  # sent as X-API-Key; nginx ignores it
TARGET = 1.2  # live / offline, issue 12, for a 2-core machine (judged up to FEW_CORES)
NGINX_PATHS = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])

Work = Callable[[list[Path]], dict[str, Any]]


# --- the server --------------------------------------------------------------------------

NGINX_CONF = """\
# Written by benchmarks/bench_live.py: every path nginx writes is inside this prefix.
{user}daemon off;
master_process on;
worker_processes auto;
pid "{prefix}/nginx.pid";
error_log "{prefix}/error.log" warn;

events {{
    worker_connections 256;
}}

http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path "{prefix}/temp/client_body";
    proxy_temp_path "{prefix}/temp/proxy";
    fastcgi_temp_path "{prefix}/temp/fastcgi";
    uwsgi_temp_path "{prefix}/temp/uwsgi";
    scgi_temp_path "{prefix}/temp/scgi";

    server {{
        listen 127.0.0.1:{port};
        root "{prefix}/pages";

        # GET /v1/incidents?offset=K&limit=... -> pages/K.json; limit and X-API-Key ignored.
        location = /v1/incidents {{
            default_type application/json;
            if ($arg_offset !~ "^[0-9]+$") {{
                return 404;
            }}
            try_files /$arg_offset.json =404;
        }}

        location / {{
            return 404;
        }}
    }}
}}
"""


class NginxMissing(Exception):
    """nginx is not installed."""


@dataclass(frozen=True)
class Nginx:
    """A running nginx: its base URL, its master process (leader of its group), its prefix.

    The benchmark needs only the URL; tests/test_bench_live.py reads the process and the
    prefix to check that both are gone once ``serve_pages`` returns."""

    url: str
    process: subprocess.Popen[bytes]
    prefix: Path


def nginx_binary() -> str:
    found = shutil.which("nginx", path=NGINX_PATHS)
    if found is None:
        raise NginxMissing(
            "nginx is not installed: this benchmark serves the pages with it "
            "(Debian/Ubuntu: apt-get install nginx)"
        )
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def serve_pages(files: Sequence[Path], page_size: int = PAGE_SIZE) -> Iterator[Nginx]:
    """nginx on 127.0.0.1 serving ``files[k]`` as ``GET /v1/incidents?offset=k*page_size``.

    Stopped, its whole process group, and its prefix removed on the way out, whatever
    the way out is. ``files`` must not be empty: nginx is ready once it serves the first.
    """
    binary = nginx_binary()
    prefix = Path(tempfile.mkdtemp(prefix="intrace-bench-nginx-"))
    try:
        (prefix / "temp").mkdir()
        pages = prefix / "pages"
        pages.mkdir()
        for k, path in enumerate(files):
            (pages / f"{k * page_size}.json").symlink_to(path.resolve())
        # Another process may take the free port before nginx binds it: try a few.
        for attempt in range(3):
            port = free_port()
            with started(binary, prefix, port, files[0]) as server:
                if server is None and attempt < 2:
                    continue
                if server is None:
                    raise RuntimeError(f"nginx could not listen: {log_tail(prefix)}")
                yield server
                return
    finally:
        shutil.rmtree(prefix, ignore_errors=True)


@contextlib.contextmanager
def started(binary: str, prefix: Path, port: int, first: Path) -> Iterator[Nginx | None]:
    """nginx with a config for ``port``, once it answers; None when the port was taken."""
    # Running as root, nginx's workers switch to an unprivileged user that cannot read
    # the cache (mkdtemp makes it private): keep them root. Started by anyone else they
    # run as that user, and a ``user`` line would only draw a warning, so none.
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = prefix / "nginx.conf"
    conf.write_text(NGINX_CONF.format(user=user, prefix=prefix, port=port))
    command = [binary, "-p", f"{prefix}/", "-c", str(conf), "-e", str(prefix / "error.log")]
    with (prefix / "stderr.log").open("ab") as stderr:
        # Its own session: Ctrl-C in the terminal reaches only us, and killpg reaches
        # the master and its workers.
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr, start_new_session=True
        )
    try:
        if not wait_until_answering(process, port, first):
            if "Address already in use" in log_tail(prefix):
                yield None
                return
            raise RuntimeError(f"nginx did not start: {log_tail(prefix)}")
        yield Nginx(f"http://127.0.0.1:{port}", process, prefix)
    finally:
        stop(process)


def wait_until_answering(
    process: subprocess.Popen[bytes], port: int, first: Path, seconds: float = 10.0
) -> bool:
    """Whether nginx answers ``HEAD`` for offset 0 (with its size) before it exits."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        try:
            connection.request("HEAD", "/v1/incidents?offset=0")
            response = connection.getresponse()
        except (OSError, http.client.HTTPException):
            time.sleep(0.02)
            continue
        finally:
            connection.close()
        length, expected = response.getheader("Content-Length"), first.stat().st_size
        if response.status != 200 or length != str(expected):
            raise RuntimeError(
                f"nginx answered offset 0 with {response.status}, {length} bytes; "
                f"expected 200, {expected} bytes"
            )
        return True
    return False


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop nginx's master and workers: TERM (fast shutdown), then KILL the group."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
    # Whatever is left of the group (workers of a master that died), and the master.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def log_tail(prefix: Path) -> str:
    lines: list[str] = []
    for name in ("stderr.log", "error.log"):
        with contextlib.suppress(OSError):
            lines += (prefix / name).read_text(errors="replace").splitlines()
    return " | ".join(lines[-3:]) or "nothing in its logs"


# --- the methods (each runs in its own child; imports happen in the factory) -------------


def method_live(manifest: dict[str, Any], url: str, max_workers: int | None) -> Work:
    from intrace_analytics.api._client import IntraceClient
    from intrace_analytics.load._incidents import load_incidents

    options: dict[str, Any] = {} if max_workers is None else {"max_workers": max_workers}

    def work(files: list[Path]) -> dict[str, Any]:
        client = IntraceClient(API_KEY, base_url=url, page_size=PAGE_SIZE, **options)
        frames = load_incidents(client, progress=False)
        report = frames.metadata
        return {
            "rows": [len(frames.incidents), len(frames.links), len(frames.threats)],
            "complete": report.get("complete"),
            "requests": report.get("requests"),
            "retries": report.get("retries"),
            "max_workers": client.max_workers,
        }

    return work


def method_offline(manifest: dict[str, Any], url: str, max_workers: int | None) -> Work:
    from intrace_analytics.load._incidents import frames_from_pages

    def work(files: list[Path]) -> dict[str, Any]:
        frames = frames_from_pages(path.read_bytes() for path in files)
        return {"rows": [len(frames.incidents), len(frames.links), len(frames.threats)]}

    return work


def method_download(manifest: dict[str, Any], url: str, max_workers: int | None) -> Work:
    import requests

    def work(files: list[Path]) -> dict[str, Any]:
        received = 0
        with requests.Session() as session:
            session.headers["X-API-Key"] = API_KEY
            for offset in range(0, manifest["incidents"], PAGE_SIZE):
                response = session.get(
                    f"{url}/v1/incidents",
                    params={"limit": PAGE_SIZE, "offset": offset},
                    timeout=30,
                )
                response.raise_for_status()
                received += len(response.content)
        return {"rows": [None, None, None], "bytes": received}

    return work


FACTORIES: dict[str, Callable[[dict[str, Any], str, int | None], Work]] = {
    "live": method_live,
    "offline": method_offline,
    "download": method_download,
}


# --- children ----------------------------------------------------------------------------


def run_one(
    method: str, directory: Path, url: str, max_workers: int | None, *, idle: bool
) -> dict[str, Any]:
    """One run of one method in this (fresh) process: the JSON line the parent reads."""
    manifest = json.loads((directory / "manifest.json").read_text())
    files = page_files(directory)
    work = FACTORIES[method](manifest, url, max_workers)
    if idle:
        return {"method": method, "peak_rss_bytes": peak_rss_bytes()}
    started_at, cpu_before = time.perf_counter(), os.times()
    result = work(files)
    seconds, cpu_after = time.perf_counter() - started_at, os.times()
    return {
        "method": method,
        "seconds": seconds,
        "cpu_seconds": sum(cpu_after[:2]) - sum(cpu_before[:2]),  # user + system, all threads
        "peak_rss_bytes": peak_rss_bytes(),
        "ru_maxrss_bytes": ru_maxrss_bytes(),
    } | result


def in_child(*arguments: str) -> dict[str, Any]:
    """This script with ``arguments`` in a fresh interpreter (bench_normalize's runner)."""
    return run_child(*arguments, script=__file__)


# --- the report --------------------------------------------------------------------------


def checks(run: SizeRun) -> list[str]:
    """What makes the figures meaningless: different rows, an incomplete load, lost bytes."""
    problems = []
    for method, results in run.runs.items():
        problems += [f"{method} failed: {r['error']}" for r in results if "error" in r]
    offline_rows = {tuple(r["rows"]) for r in run.done("offline")}
    for result in run.done("live"):
        if result.get("complete") is not True:
            problems.append(f"live: metadata['complete'] is {result.get('complete')!r}")
        if offline_rows and tuple(result["rows"]) not in offline_rows:
            problems.append(f"live rows {result['rows']} differ from offline's {offline_rows}")
    for result in run.done("download"):
        if result["bytes"] != run.manifest["bytes"]:
            problems.append(f"download got {result['bytes']:,} bytes of {run.manifest['bytes']:,}")
    return sorted(set(problems))


def report(run: SizeRun, cores: int) -> list[str]:
    """Print the table and the target; returns the target if it gates and was not met
    (FAIL or n/a)."""
    base_wall, base_peak = run.median("offline"), run.median("offline", "peak_rss_bytes")

    header = (
        f"{'method':<10} {'wall s':>8} {'range s':>13} {'cpu s':>7} {'peak RSS GiB':>12} "
        f"{'import GiB':>10} {'wall/offline':>12} {'RSS/offline':>11}  "
        "rows (incidents / links / threats)"
    )
    print(header)
    print("-" * len(header))
    for method in run.methods:
        done = run.done(method)
        if not done:
            print(f"{method:<10} failed: {run.runs[method][0].get('error')}")
            continue
        wall, peak = run.median(method), run.median(method, "peak_rss_bytes")
        base = run.idle.get(method, {}).get("peak_rss_bytes")
        rows = " / ".join("-" if n is None else f"{n:,}" for n in done[0]["rows"])
        if "bytes" in done[0]:
            rows += f"  ({done[0]['bytes']:,} bytes)"
        if "requests" in done[0]:
            rows += f"  ({done[0]['requests']} requests, max_workers {done[0]['max_workers']})"
        print(
            f"{method:<10} {wall or 0.0:>8.2f} {spread([r['seconds'] for r in done]):>13} "
            f"{run.median(method, 'cpu_seconds') or 0.0:>7.2f} {(peak or 0) / GIB:>12.3f} "
            f"{'-' if base is None else f'{base / GIB:.3f}':>10} "
            f"{times(ratio(wall, base_wall)):>12} {times(ratio(peak, base_peak)):>11}  {rows}"
        )

    # The ratio of the medians, and its spread over the rounds (live and offline of the
    # same round). Gated where bench_normalize gates issue 12's few-core target.
    overhead = run.versus("live", "offline")
    met = None if overhead.value is None else overhead.value <= TARGET
    target = Verdict(f"live / offline <= {TARGET}x", overhead, met, gates=cores <= FEW_CORES)
    print()
    if target.gates:
        print(f"target (issue 12, for a 2-core machine; this one has {cores} usable):")
        word = target.word
    else:
        print(
            f"target (issue 12, for a 2-core machine; this one has {cores} usable cores, "
            f"more than {FEW_CORES}, where the issue sets no live target: information only):"
        )
        word = f"({target.word}, information)"
    print(f"  {target.name:<28} {overhead.text():>8}  {word}")
    print("for information:")
    floor = ratio(run.median("live"), run.median("download"))
    print(f"  {'live / download':<28} {times(floor):>8}")
    cpu_overhead = ratio(run.median("live", "cpu_seconds"), run.median("offline", "cpu_seconds"))
    print(f"  {'live / offline, cpu s':<28} {times(cpu_overhead):>8}")
    return [target.name] if target.gates and not target.met else []


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--incidents", type=int, default=200_000, metavar="N")
    parser.add_argument(
        "--repeat", type=int, default=5, metavar="R", help="runs of each method (default 5)"
    )
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument(
        "--max-workers",
        type=int,
        metavar="W",
        help="the live client's max_workers (default: the client's default)",
    )
    parser.add_argument(
        "--strict",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="exit 1 unless the target is met; --no-strict only reports it",
    )
    # Internal: what the children run.
    parser.add_argument("--run-one", nargs=2, metavar=("METHOD", "DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--idle", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.run_one:
        method, directory = args.run_one
        result = run_one(method, Path(directory), args.url, args.max_workers, idle=args.idle)
        print(json.dumps(result))
        return 0
    if args.incidents < 1 or args.repeat < 1:
        parser.error("--incidents and --repeat must be at least 1")
    if args.max_workers is not None and args.max_workers < 1:
        parser.error("--max-workers must be at least 1")
    methods = [m for m in METHODS if m in args.methods]
    if any(m in SERVED for m in methods):
        try:
            nginx_binary()
        except NginxMissing as missing:
            print(f"bench_live: {missing}", file=sys.stderr)
            return 2

    # A SIGTERM ends us through the finally blocks too, so nginx never outlives us.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    # The page cache warm, so neither nginx nor offline pays for the disk.
    directory, manifest, files = warm_dataset(args.incidents, "snake")
    print(
        f"{manifest['incidents']:,} incidents (snake_case keys, seed 7) in "
        f"{manifest['pages']} page bodies of {PAGE_SIZE}: {manifest['bytes']:,} bytes "
        f"({manifest['bytes'] / 1e9:.3f} GB), served by nginx on 127.0.0.1"
    )
    print(f"each run a fresh process; {args.repeat} run(s) per method, interleaved; medians\n")

    with contextlib.ExitStack() as stack:
        url = ""
        if any(m in SERVED for m in methods):
            url = stack.enter_context(serve_pages(files)).url
        common = ["--url", url]
        if args.max_workers is not None:
            common += ["--max-workers", str(args.max_workers)]
        idle = {m: in_child("--run-one", m, str(directory), *common, "--idle") for m in methods}
        runs = interleaved_rounds(
            methods,
            args.repeat,
            lambda method: in_child("--run-one", method, str(directory), *common),
            lambda round_: f"  run {round_ + 1}",
        )
    run = SizeRun(manifest, methods, runs, idle)
    print()
    missed = report(run, usable_cores())
    if "live" in methods and "offline" not in methods:
        print("\nrows not checked: offline was not run, so live's rows had nothing to match")
    if problems := checks(run):
        print("\nchecks FAILED (the figures above do not measure the same work):")
        for problem in problems:
            print(f"  {problem}")
        return 1
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
