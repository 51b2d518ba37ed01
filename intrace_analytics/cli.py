"""The ``intrace-analytics`` command: argument parsing, progress and exit codes only.

Failures print one line to stderr, never a traceback and never the API key, and exit 1
(2 for usage errors, 130 when interrupted).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from intrace_analytics import formatting as fmt
from intrace_analytics._version import __version__
from intrace_analytics.client import IntraceClient
from intrace_analytics.exceptions import IntraceError, IntraceWarning
from intrace_analytics.frames import IncidentFrames, read_parquet
from intrace_analytics.load import load_incidents
from intrace_analytics.schema import SCOPES, STATUSES

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


def _page_size(text: str) -> int:
    value = _positive_int(text)
    if not 1 <= value <= 5000:
        raise argparse.ArgumentTypeError(f"expected 1..5000, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``intrace-analytics`` argument parser, with one subcommand per command.

    Returns
    -------
    argparse.ArgumentParser
        A parser whose usage errors print the usage and one error line to stderr and
        exit 2.

    Examples
    --------
    >>> build_parser().parse_args(["summary", "out"]).command
    'summary'
    """
    parser = _Parser(
        prog="intrace-analytics",
        description="Load Intrace incidents into tidy frames and Parquet, and analyse them.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    fetch = commands.add_parser(
        "fetch", help="fetch every matching incident, normalize, write Parquet to OUT_DIR"
    )
    fetch.add_argument("out_dir", metavar="OUT_DIR", type=Path)
    fetch.add_argument("--status", choices=STATUSES)
    fetch.add_argument("--scope", choices=SCOPES)
    fetch.add_argument(
        "--asset-id", action="append", dest="asset_id", metavar="ID", help="repeatable (any-of)"
    )
    fetch.add_argument(
        "--no-assets",
        action="store_false",
        dest="assets",
        help="skip the monitored sites (GET /v1/assets) and which incidents touch each",
    )
    fetch.add_argument("--page-size", type=_page_size, default=1000, help="1..5000 (1000)")
    fetch.add_argument("--base-url", help="default: $INTRACE_BASE_URL or the Intrace API")
    fetch.add_argument(
        "--max-retries", type=_positive_int, default=5, help="retries per request (5)"
    )
    fetch.add_argument(
        "--keep-raw", action="store_true", help="also keep every page as JSON Lines in OUT_DIR/raw"
    )
    fetch.add_argument(
        "--allow-incomplete",
        action="store_true",
        help="write the export even when the load cannot prove it is complete",
    )
    _progress_option(fetch)

    summary = commands.add_parser(
        "summary", help="print the status, resolution and severity tables of an export"
    )
    summary.add_argument("data_dir", metavar="DATA_DIR", type=Path)

    report = commands.add_parser("report", help="write the HTML report of an export")
    report.add_argument("data_dir", metavar="DATA_DIR", type=Path)
    report.add_argument(
        "-o", "--output", type=Path, default=None, help="default: DATA_DIR/report.html"
    )

    demo = commands.add_parser(
        "demo",
        help="start the sandbox API, fetch from it over HTTP, write Parquet to OUT_DIR",
    )
    demo.add_argument(
        "out_dir", metavar="OUT_DIR", type=Path, nargs="?", default=Path("intrace-demo")
    )
    demo.add_argument("--incidents", type=_positive_int, default=5000, help="default: 5000")
    demo.add_argument("--seed", type=int, default=7, help="default: 7")
    _progress_option(demo)

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


def _progress_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar on stderr (default: only in a terminal)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name; ``None`` reads ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit code: 0 on success, 1 after a failure (one line on stderr, no
        traceback, never the key), 130 when interrupted. A usage error raises
        ``SystemExit(2)`` from argparse, after one error line on stderr.

    Examples
    --------
    >>> main(["report", "export", "-o", "report.html"])  # doctest: +SKIP
    Report written to report.html
    0
    """
    args = build_parser().parse_args(argv)
    command = {
        "fetch": _fetch,
        "summary": _summary,
        "report": _report,
        "demo": _demo,
        "sandbox": _sandbox,
    }[args.command]
    try:
        return command(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (IntraceError, ValueError, OSError) as exc:
        print(f"intrace-analytics {args.command}: error: {exc}", file=sys.stderr)
        return 1


def _summary(args: argparse.Namespace) -> int:
    from intrace_analytics.summary import summary_text

    print(summary_text(read_parquet(args.data_dir)))
    return 0


def _report(args: argparse.Namespace) -> int:
    from intrace_analytics.report import build_report

    frames = read_parquet(args.data_dir)
    path = build_report(frames, args.output or args.data_dir / "report.html")
    print(f"Report written to {path}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    client = IntraceClient(
        base_url=args.base_url, page_size=args.page_size, max_retries=args.max_retries
    )
    return _fetch_into(client, args, filters=(args.status, args.scope, args.asset_id))[0]


def _fetch_into(
    client: IntraceClient,
    args: argparse.Namespace,
    filters: tuple[str | None, str | None, list[str] | None] = (None, None, None),
) -> tuple[int, IncidentFrames]:
    """Load, report warnings as lines, write Parquet unless the load is incomplete."""
    status, scope, asset_id = filters
    started = time.monotonic()
    keep_raw = getattr(args, "keep_raw", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", IntraceWarning)
        frames = load_incidents(
            client,
            status=status,
            scope=scope,
            asset_id=asset_id,
            assets=getattr(args, "assets", True),
            progress=args.progress,
            raw_dir=args.out_dir / "raw" if keep_raw else None,
        )
    for warning in caught:
        if issubclass(warning.category, IntraceWarning):
            print(f"warning: {warning.message}", file=sys.stderr)
        else:  # not ours: let Python show it as it would have
            warnings.showwarning(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    report = frames.metadata
    seconds = time.monotonic() - started
    sites = f", {fmt.count(len(frames.assets))} sites" if report.get("assets_loaded") else ""
    summary = (
        f"{fmt.count(report['rows'])} incidents, {fmt.count(len(frames.links))} links, "
        f"{fmt.count(len(frames.threats))} threats{sites} in {fmt.count(report['pages'])} "
        f"pages, {fmt.seconds(seconds)}"
    )
    if not report["complete"] and not getattr(args, "allow_incomplete", False):
        print(
            f"intrace-analytics {args.command}: error: incomplete load ({summary}); nothing "
            f"written to {args.out_dir}. Run again, or pass --allow-incomplete to write it "
            "anyway.",
            file=sys.stderr,
        )
        return 1, frames
    frames.to_parquet(args.out_dir)
    state = "complete" if report["complete"] else "INCOMPLETE"
    if report.get("drift_detected"):
        state += " (re-read after drift)"
    print(f"Fetched {summary}; {state}; Parquet in {args.out_dir}")
    return 0, frames


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

    with SandboxServer(incidents=args.incidents, seed=args.seed) as server:
        print(f"Sandbox API on {server.url} with {args.incidents} incidents")
        client = IntraceClient(server.api_key, base_url=server.url, page_size=1000)
        code, frames = _fetch_into(client, args)
    if code:
        return code
    from intrace_analytics.report import build_report
    from intrace_analytics.summary import summary_text

    report = build_report(frames, args.out_dir / "report.html", title="Intrace sandbox demo")
    print()
    print(summary_text(frames))
    print()
    sites = (
        ", assets.parquet, incident_assets.parquet" if frames.metadata.get("assets_loaded") else ""
    )
    print(f"Parquet:  {args.out_dir}/incidents.parquet, links.parquet, threats.parquet{sites}")
    print(f"Report:   {report}")
    return 0
