"""The ``intrace-analytics`` command: argument parsing, progress and exit codes only.

Failures print one line to stderr, never a traceback and never the API key, and exit 1
(2 for usage errors, an unknown ``--asset-id`` included; 130 when interrupted).

Only the standard library is imported here at first: pandas, pyarrow and requests cost
more than a second to import, which ``--help``, ``--version`` and a usage error should
not pay. Each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeAlias

from intrace_analytics._util.checks import ArgumentError
from intrace_analytics._util.redact import redact, redact_url, redact_urls
from intrace_analytics._version import __version__
from intrace_analytics.exceptions import AuthenticationError, IntraceError

if TYPE_CHECKING:
    import pandas as pd

    from intrace_analytics.api._client import IntraceClient
    from intrace_analytics.frames._container import IncidentFrames
    from intrace_analytics.report._history import HistoryView

from intrace_analytics.api._endpoints import SCOPES, STATUSES

__all__ = ["main"]


class CommandError(Exception):
    """A failure already worded for the command line (one line, no Python names)."""


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


def _as_of(text: str) -> pd.Timestamp:
    from intrace_analytics._util.clock import as_of

    try:
        return as_of(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a timestamp such as 2026-10-01 or 2026-10-01T12:00Z, got {text!r}"
        ) from None


def _base_url(text: str) -> str:
    from intrace_analytics.api._settings import check_base_url

    try:
        return check_base_url(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an http(s) URL such as https://api.intrace.ai, without a query or "
            f"credentials, got {redact_url(text.strip())!r}"
        ) from None


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
    for add in (
        _add_fetch,
        _add_sync,
        _add_changes,
        _add_summary,
        _add_report,
        _add_demo,
        _add_sandbox,
    ):
        add(commands)
    return parser


# What add_subparsers returns; argparse names its class privately.
_Commands: TypeAlias = "argparse._SubParsersAction[_Parser]"


def _add_fetch(commands: _Commands) -> None:
    fetch = commands.add_parser(
        "fetch", help="fetch every matching incident, normalize, write Parquet to OUT_DIR"
    )
    fetch.add_argument("out_dir", metavar="OUT_DIR", type=Path)
    _load_options(fetch)
    fetch.add_argument(
        "--keep-raw", action="store_true", help="also keep every page as JSON Lines in OUT_DIR/raw"
    )
    fetch.add_argument(
        "--allow-incomplete",
        action="store_true",
        help="write the export even when the load cannot prove it is complete",
    )
    _progress_option(fetch)


def _add_sync(commands: _Commands) -> None:
    sync = commands.add_parser(
        "sync",
        help="fetch as fetch does and append the load to the history store HISTORY "
        "(created on first use, bound to these filters)",
    )
    sync.add_argument("history", metavar="HISTORY", type=Path)
    _load_options(sync)
    sync.add_argument(
        "--allow-incomplete",
        action="store_true",
        help="append the load even when it cannot prove it is complete (then nothing is "
        "marked gone)",
    )
    _progress_option(sync)
    sync.set_defaults(keep_raw=False)


def _add_changes(commands: _Commands) -> None:
    changes = commands.add_parser(
        "changes", help="print what changed between two loads of the history store HISTORY"
    )
    changes.add_argument("history", metavar="HISTORY", type=Path)
    changes.add_argument(
        "--since",
        type=_as_of,
        metavar="T",
        help="from the last load at or before T (default: the load before --until's)",
    )
    changes.add_argument(
        "--until",
        type=_as_of,
        metavar="T",
        help="to the last load at or before T (default: the latest)",
    )
    changes.add_argument(
        "--table",
        choices=("incidents", "links", "threats", "assets", "incident_assets"),
        default="incidents",
        help="default: incidents",
    )


def _load_options(fetch: argparse.ArgumentParser) -> None:
    """The options that choose and shape a load, shared by fetch and sync."""
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
    fetch.add_argument(
        "--base-url", type=_base_url, help="default: $INTRACE_BASE_URL or the Intrace API"
    )
    fetch.add_argument(
        "--max-retries", type=_positive_int, default=5, help="retries per request (5)"
    )


def _add_summary(commands: _Commands) -> None:
    summary = commands.add_parser(
        "summary",
        help="print the status, resolution and severity tables of an export, or of a history "
        "store's latest load with what changed since the previous one",
    )
    summary.add_argument("data_dir", metavar="DATA", type=Path)
    _as_of_option(summary)


def _add_report(commands: _Commands) -> None:
    report = commands.add_parser(
        "report",
        help="write the HTML report of an export, or of a history store (with its Changes "
        "section and the backlog at each load)",
    )
    report.add_argument("data_dir", metavar="DATA", type=Path)
    report.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        help="default: DATA.html, beside the export or store (an export directory holds only "
        "the export)",
    )
    _as_of_option(report)


def _add_demo(commands: _Commands) -> None:
    demo = commands.add_parser(
        "demo",
        help="start the sandbox API, fetch from it over HTTP, write Parquet to OUT_DIR and "
        "the report beside it (OUT_DIR.html)",
    )
    demo.add_argument(
        "out_dir", metavar="OUT_DIR", type=Path, nargs="?", default=Path("intrace-demo")
    )
    demo.add_argument("--incidents", type=_positive_int, default=5000, help="default: 5000")
    demo.add_argument("--seed", type=int, default=7, help="default: 7")
    _progress_option(demo)
    # The demo fetches as ``fetch`` does with its defaults: everything, sites included.
    demo.set_defaults(
        status=None, scope=None, asset_id=None, assets=True, keep_raw=False, allow_incomplete=False
    )


def _add_sandbox(commands: _Commands) -> None:
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


def _as_of_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--as-of",
        type=_as_of,
        default=None,
        metavar="T",
        help="count open incidents as unresolved up to T (ISO date or time, UTC unless "
        "it says otherwise; default: when the export was fetched)",
    )


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
        traceback, never the key), 2 for a usage error found after parsing (an
        ``--asset-id`` the site list does not hold), 130 when interrupted. A usage error
        argparse finds raises ``SystemExit(2)``, after one error line on stderr.

    Examples
    --------
    >>> main(["report", "export", "-o", "report.html"])  # doctest: +SKIP
    Report written to report.html
    0
    """
    args = build_parser().parse_args(argv)
    command = {
        "fetch": _fetch,
        "sync": _sync,
        "changes": _changes,
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
    except ArgumentError as exc:
        # A value the options gave that only the API could refuse (an unknown site id):
        # a usage error, found before anything was fetched or written.
        print(f"intrace-analytics {args.command}: error: {error_line(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:
        # Ours, the file system's, or Arrow's (a damaged file): one line. Anything else
        # is a bug, and its traceback is the useful report.
        if not isinstance(exc, CommandError | IntraceError | ValueError | OSError) and not (
            type(exc).__module__.startswith("pyarrow")
        ):
            raise
        print(f"intrace-analytics {args.command}: error: {error_line(exc)}", file=sys.stderr)
        return 1


# A temporary file of the atomic writer (export._atomic.temporary_beside), should one
# reach a message from below: ".NAME.<hex>.tmp".
_TEMPORARY = re.compile(r"(?<![^\s'\"/])\.([^\s'\"/]+)\.[0-9a-f]{12}\.tmp\b")
_ERRNO = re.compile(r"\[Errno -?\d+\]\s*")


def error_line(exc: BaseException) -> str:
    """The one line a failure prints: no ``[Errno N]``, no temporary file names, no
    newlines, never the API key nor a URL's credentials or query values.

    Examples
    --------
    >>> error_line(PermissionError(13, "Permission denied", "out/.links.parquet.0a1b2c3d4e5f.tmp"))
    'out/links.parquet: permission denied'
    """
    if isinstance(exc, OSError) and exc.strerror:
        reason = exc.strerror[:1].lower() + exc.strerror[1:]
        text = f"{exc.filename}: {reason}" if exc.filename is not None else reason
        if exc.filename2 is not None:
            text = f"{exc.filename} -> {exc.filename2}: {reason}"
    else:
        text = str(exc) or type(exc).__name__
    text = redact_urls(_TEMPORARY.sub(r"\1", _ERRNO.sub("", text)))
    key = os.environ.get("INTRACE_API_KEY", "").strip()
    if len(key) >= 4:  # a stray "k" must not turn every k in a message into ***
        text = redact(text, key)
    return " ".join(text.split())


def _writable_directory(path: Path, what: str) -> None:
    """Fail (before any work) unless ``path`` is, or can be created as, a directory
    this process may write into. Nothing is created."""
    if path.exists() and not path.is_dir():
        raise CommandError(f"{what} {path} is a file, not a directory")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise CommandError(f"cannot create {what} {path}: {existing} is a file, not a directory")
    try:
        # Created and removed in one step (an unnamed file where the OS supports it):
        # the one proof of writability that holds for root, ACLs and read-only mounts.
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
        target = "" if existing == path else f" (to create {what} {path})"
        raise CommandError(f"cannot write to {existing}{target}: {reason}") from None


def _data(args: argparse.Namespace) -> IncidentFrames | HistoryView:
    """What ``summary`` and ``report`` show: the export in ``DATA``, or for a history
    store there the last load at or before ``--as-of`` (default: the latest), read once;
    a path that is neither is named as what it is."""
    from intrace_analytics.frames._container import read_parquet
    from intrace_analytics.report._history import is_history

    data_dir = args.data_dir
    if not data_dir.exists():
        raise CommandError(f"no export at {data_dir}: no such directory")
    if not data_dir.is_dir():
        raise CommandError(
            f"{data_dir} is a file; DATA_DIR is the export's directory, the one that holds "
            "incidents.parquet"
        )
    if is_history(data_dir):
        return _history_view(data_dir, args.as_of)
    if not (data_dir / "incidents.parquet").is_file():
        raise CommandError(
            f"no export in {data_dir}: it holds no incidents.parquet "
            f"(write one with: intrace-analytics fetch {data_dir}), nor a history store's "
            f"loads/ (write one with: intrace-analytics sync {data_dir})"
        )
    return read_parquet(data_dir)


def _history_view(path: Path, as_of: pd.Timestamp | None) -> HistoryView:
    from intrace_analytics.history._history import History
    from intrace_analytics.report._history import history_view

    try:
        return history_view(History(path), as_of)
    except ValueError as exc:
        raise CommandError(f"{path}: {exc}") from None


def _summary(args: argparse.Namespace) -> int:
    data = _data(args)
    from intrace_analytics.report._history import HistoryView
    from intrace_analytics.report._text import history_summary_text, summary_text

    if isinstance(data, HistoryView):
        print(history_summary_text(data, as_of=args.as_of))
    else:
        print(summary_text(data, as_of=args.as_of))
    return 0


def _beside(data_dir: Path) -> Path:
    """Where the report of the export in ``data_dir`` goes by default: ``DATA_DIR.html``,
    beside it, never inside: an export directory holds only the export, so that dataset
    readers (``pyarrow.parquet.read_table(DIR)``, DuckDB's ``DIR/*``) read it as it is.

    >>> _beside(Path("exports/all"))
    PosixPath('exports/all.html')
    """
    if data_dir.name in ("", ".", ".."):  # "." has no name of its own to put .html after
        data_dir = data_dir.resolve()
    return data_dir.with_name(data_dir.name + ".html")


def _report(args: argparse.Namespace) -> int:
    output = args.output or _beside(args.data_dir)
    data = _data(args)
    if output.is_dir():
        raise CommandError(f"-o {output} is a directory; give the report's file name")
    _writable_directory(output.parent, "the report's directory")
    from intrace_analytics.report._history import HistoryView
    from intrace_analytics.report._html import build_history_report, build_report

    if isinstance(data, HistoryView):
        path = build_history_report(data, output, as_of=args.as_of)
    else:
        path = build_report(data, output, as_of=args.as_of)
    print(f"Report written to {path}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    _writable_directory(args.out_dir, "OUT_DIR")
    return _fetch_into(_client(args), args)[0]


def _client(args: argparse.Namespace) -> IntraceClient:
    """The client from the options and the environment; its complaints in the
    command line's words (environment variables and options, not keyword arguments)."""
    from intrace_analytics.api._client import IntraceClient

    try:
        return IntraceClient(
            base_url=args.base_url, page_size=args.page_size, max_retries=args.max_retries
        )
    except AuthenticationError:
        raise CommandError("no API key: set the INTRACE_API_KEY environment variable") from None
    except ValueError as exc:
        text = str(exc)
        for name, option in (("api_key", "INTRACE_API_KEY"), ("base_url", "INTRACE_BASE_URL")):
            if text.startswith(name + " "):
                text = option + text[len(name) :]
        raise CommandError(text) from None


def _fetch_into(client: IntraceClient, args: argparse.Namespace) -> tuple[int, IncidentFrames]:
    """Load, report warnings as lines, write Parquet unless the load is incomplete."""
    frames, summary = _checked_load(client, args, f"written to {args.out_dir}", "write")
    if summary is None:
        return 1, frames
    frames.to_parquet(args.out_dir)
    print(f"Fetched {summary}; {_state(frames.metadata)}; Parquet in {args.out_dir}")
    return 0, frames


def _checked_load(
    client: IntraceClient, args: argparse.Namespace, nothing: str, verb: str
) -> tuple[IncidentFrames, str | None]:
    """The load and its one-phrase summary; ``None`` for the summary (after one error
    line saying that nothing was ``nothing``) when it is incomplete and that is not
    allowed."""
    started = time.monotonic()
    frames = _load(client, args)
    summary = _fetched(frames, time.monotonic() - started)
    if not frames.metadata["complete"] and not args.allow_incomplete:
        print(
            f"intrace-analytics {args.command}: error: incomplete load ({summary}); nothing "
            f"{nothing}. Run again, or pass --allow-incomplete to {verb} it anyway.",
            file=sys.stderr,
        )
        return frames, None
    return frames, summary


def _sync(args: argparse.Namespace) -> int:
    _history_directory(args.history)
    return _sync_into(_client(args), args, args.history)


def _history_directory(path: Path) -> None:
    """Fail before any request unless ``path`` is, or can become, a history store."""
    from intrace_analytics.report._history import is_history

    _writable_directory(path, "HISTORY")
    if path.is_dir() and not is_history(path) and (path / "incidents.parquet").exists():
        raise CommandError(
            f"{path} holds an export, not a history store; give sync another directory"
        )


def _sync_into(client: IntraceClient, args: argparse.Namespace, path: Path) -> int:
    """Load as ``fetch`` does, append to the store at ``path``, print what changed."""
    from intrace_analytics.history._history import History

    frames, summary = _checked_load(client, args, f"appended to {path}", "append")
    if summary is None:
        return 1
    history = History(path)
    row = history.append(frames, allow_incomplete=args.allow_incomplete)
    print(
        f"Fetched {summary}; {_state(frames.metadata)}; load {row['load_seq']} of the "
        f"history in {path}"
    )
    for line in _change_counts(history, frames):
        print(line)
    return 0


def _change_counts(history: Any, frames: IncidentFrames) -> list[str]:
    """One line per table: what changed since the previous load, counted by kind."""
    from intrace_analytics.report import _history as layout

    lines = []
    for table in layout.loaded_tables(frames):
        changes = history.changes(table=table)
        counts = (
            layout.incident_counts(changes)
            if table == "incidents"
            else layout.table_counts(changes, table)
        )
        lines.append(layout.count_line(table, counts))
    return lines


def _changes(args: argparse.Namespace) -> int:
    from intrace_analytics.history._history import History
    from intrace_analytics.report._history import is_history
    from intrace_analytics.report._text import changes_text

    if not is_history(args.history):
        raise CommandError(
            f"no history store at {args.history}: it holds no loads/ directory (write one "
            f"with: intrace-analytics sync {args.history})"
        )
    text = changes_text(History(args.history), args.since, args.until, table=args.table)
    print(text, end="")
    return 0


def _load(client: IntraceClient, args: argparse.Namespace) -> IncidentFrames:
    """The load the options ask for; the package's warnings printed as ``warning:`` lines."""
    from intrace_analytics.exceptions import IntraceWarning
    from intrace_analytics.load._incidents import load_incidents

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", IntraceWarning)
        frames = load_incidents(
            client,
            status=args.status,
            scope=args.scope,
            asset_id=args.asset_id,
            assets=args.assets,
            progress=args.progress,
            raw_dir=args.out_dir / "raw" if args.keep_raw else None,
        )
    for warning in caught:
        if issubclass(warning.category, IntraceWarning):
            print(f"warning: {warning.message}", file=sys.stderr)
        else:  # not ours: let Python show it as it would have
            warnings.showwarning(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    return frames


def _fetched(frames: IncidentFrames, seconds: float) -> str:
    """What a load brought, in one phrase: rows per table, pages, time."""
    from intrace_analytics._util import format as fmt

    report = frames.metadata
    sites = f", {fmt.count(len(frames.assets))} sites" if report.get("assets_loaded") else ""
    return (
        f"{fmt.count(report['rows'])} incidents, {fmt.count(len(frames.links))} links, "
        f"{fmt.count(len(frames.threats))} threats{sites} in {fmt.count(report['pages'])} "
        f"pages, {fmt.seconds(seconds)}"
    )


def _state(report: dict[str, Any]) -> str:
    """Whether the load is complete, and what it did to get there."""
    from intrace_analytics._util import format as fmt

    state = "complete" if report["complete"] else "INCOMPLETE"
    if report.get("stale_kept"):
        state += (
            f" ({fmt.count(report['stale_kept'])} incidents kept that the last read no longer "
            "returned: deleted during the load, or skipped)"
        )
    if report.get("drift_detected"):
        state += " (re-read after drift)"
    return state


def _sandbox(args: argparse.Namespace) -> int:
    from intrace_analytics.sandbox import SandboxServer

    server = SandboxServer(
        incidents=args.incidents,
        seed=args.seed,
        port=args.port,
        casing=args.casing,
        latency=args.latency,
    )
    try:
        server.start()
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
        raise CommandError(f"cannot serve on 127.0.0.1:{args.port}: {reason}") from None
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
    store = args.out_dir.with_name(args.out_dir.name + "-history")
    _writable_directory(args.out_dir, "OUT_DIR")
    _history_directory(store)
    from datetime import UTC, datetime, timedelta

    from intrace_analytics.api._client import IntraceClient
    from intrace_analytics.sandbox import SandboxServer

    # The tenant's timelines end a week before now, so that after the week the demo lets
    # pass its data reach the present and the loads' fetch times come after all of it.
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(days=7, minutes=5)
    with SandboxServer(incidents=args.incidents, seed=args.seed, end=end) as server:
        print(f"Sandbox API on {server.url} with {args.incidents} incidents")
        client = IntraceClient(server.api_key, base_url=server.url, page_size=1000)
        code, frames = _fetch_into(client, args)
        if code:
            return code
        _fresh_history(store)
        code = _sync_into(client, args, store)
        week = server.advance(days=7)
        print(f"A week passes in the sandbox: {len(week.new):,} incidents start, "
              f"{len(week.resolved):,} resolve, {len(week.reopened):,} reopen")  # fmt: skip
        code = code or _sync_into(client, args, store)
    return code or _demo_report(args, store, frames)


def _fresh_history(store: Path) -> None:
    """The demo's history starts with its own sandbox: a store a previous demo left
    there (one that holds ``loads/``, nothing else) is removed first."""
    import shutil

    from intrace_analytics.report._history import is_history

    if is_history(store):
        shutil.rmtree(store)


def _demo_report(args: argparse.Namespace, store: Path, frames: IncidentFrames) -> int:
    from intrace_analytics.history._history import History
    from intrace_analytics.report._history import history_view
    from intrace_analytics.report._html import build_history_report
    from intrace_analytics.report._text import history_summary_text

    view = history_view(History(store))
    report = build_history_report(view, _beside(store), title="Intrace sandbox demo")
    print()
    print(history_summary_text(view))
    print()
    sites = (
        ", assets.parquet, incident_assets.parquet" if frames.metadata.get("assets_loaded") else ""
    )
    print(f"Parquet:  {args.out_dir}/incidents.parquet, links.parquet, threats.parquet{sites}")
    print(f"History:  {store} (2 loads, a week apart in the sandbox)")
    print(f"Report:   {report}")
    return 0
