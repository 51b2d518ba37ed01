"""The ``intrace-analytics`` command: argument parsing, progress and exit codes only.

Failures print one line to stderr, never a traceback and never the API key, and exit 1
(2 for usage errors, 130 when interrupted).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Sequence
from typing import NoReturn

from tqdm import tqdm

from intrace_analytics._version import __version__
from intrace_analytics.client import IntraceClient
from intrace_analytics.exceptions import IntraceError

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="intrace-analytics",
        description="Load Intrace incidents into tidy frames and Parquet, and analyse them.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    demo = commands.add_parser(
        "demo", help="start the sandbox API, fetch every page from it over HTTP, print counts"
    )
    demo.add_argument("--incidents", type=_positive_int, default=2000, help="default: 2000")
    demo.add_argument("--seed", type=int, default=7, help="default: 7")

    sandbox = commands.add_parser("sandbox", help="serve the sandbox API until interrupted")
    sandbox.add_argument("--port", type=_positive_int, default=8765, help="default: 8765")
    sandbox.add_argument("--incidents", type=_positive_int, default=5000, help="default: 5000")
    sandbox.add_argument("--seed", type=int, default=7, help="default: 7")
    sandbox.add_argument(
        "--casing", choices=("snake", "camel", "mixed"), default="snake", help="default: snake"
    )
    sandbox.add_argument(
        "--latency", type=float, default=0.0, help="seconds of delay per request (default: 0)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "sandbox":
            return _sandbox(args)
        return _demo(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (IntraceError, ValueError, OSError) as exc:
        print(f"intrace-analytics {args.command}: error: {exc}", file=sys.stderr)
        return 1


def _sandbox(args: argparse.Namespace) -> int:
    from intrace_analytics.sandbox import SandboxServer

    server = SandboxServer(
        incidents=args.incidents,
        seed=args.seed,
        port=args.port,
        casing=args.casing,
        latency=args.latency,
    )
    with server:
        print(f"Sandbox API serving {args.incidents} incidents at {server.url}")
        print(f"  export INTRACE_BASE_URL={server.url}")
        print(f"  export INTRACE_API_KEY={server.api_key}")
        print("Press Ctrl+C to stop.", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopped", file=sys.stderr)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from intrace_analytics.sandbox import SandboxServer

    started = time.monotonic()
    with SandboxServer(incidents=args.incidents, seed=args.seed) as server:
        print(f"Sandbox API started at {server.url} with {args.incidents} incidents")
        client = IntraceClient(server.api_key, base_url=server.url, page_size=250)
        ids: set[str] = set()
        rows = links = embedded = 0
        with tqdm(unit=" rows", file=sys.stderr, desc="fetching") as bar:

            def on_wait(seconds: float, reason: str) -> None:
                bar.set_postfix_str(f"waiting {seconds:.0f} s ({reason})")

            stream = client.iter_incident_pages(on_wait=on_wait)
            for page in stream:
                bar.total = page.total
                bar.set_postfix_str("")
                bar.update(len(page.incidents))
                for incident in page.incidents:
                    rows += 1
                    ids.add(str(incident.get("id")))
                    page_links = incident.get("threat_links") or incident.get("threatLinks") or []
                    links += len(page_links)
                    embedded += sum(1 for link in page_links if link.get("threat"))
    stats = stream.stats
    print(
        f"Fetched {rows} incidents ({len(ids)} distinct) with {links} threat links "
        f"({embedded} with an embedded threat) in {stats.pages} pages, "
        f"{stats.requests} requests, {stats.retries} retries, "
        f"{time.monotonic() - started:.1f} s"
    )
    return 0
