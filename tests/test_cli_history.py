"""The command line over a history store: ``sync``, ``changes``, and ``summary`` /
``report`` of a store, in-process (``main([...])``) against the sandbox over real HTTP,
compared with ``History`` and with what the sandbox's ``advance`` says it did."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from intrace_analytics import History, plot_trend
from intrace_analytics.cli import main
from intrace_analytics.sandbox import Advance, SandboxServer
from tests.helpers import CANARY_KEY, assert_no_key, one_error_line

NAMED = ("new", "resolved", "reopened", "escalated", "gone")


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxServer]:
    with SandboxServer(incidents=400, seed=5, api_key=CANARY_KEY) as server:
        monkeypatch.setenv("INTRACE_API_KEY", CANARY_KEY)
        monkeypatch.setenv("INTRACE_BASE_URL", server.url)
        yield server


def sync(store: Path, capsys: pytest.CaptureFixture[str], *options: str) -> list[str]:
    code = main(["sync", str(store), "--page-size", "200", *options])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert_no_key(out, err)
    return out.splitlines()


def counted(line: str) -> dict[str, int]:
    """``incidents: 1,234 new, 5 resolved`` as ``{"new": 1234, "resolved": 5}``."""
    _, _, rest = line.partition(": ")
    pairs = (re.fullmatch(r"([\d,]+) (.+)", part) for part in rest.split(", "))
    return {m.group(2): int(m.group(1).replace(",", "")) for m in pairs if m}


def ids(changes: pd.DataFrame, kind: str) -> set[str]:
    return set(changes.loc[changes["change"] == kind, "incident_id"])


def test_sync_creates_the_store_then_appends_and_counts_what_the_week_did(
    sandbox: SandboxServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    store = tmp_path / "history"
    first = sync(store, capsys)
    assert first[0].startswith("Fetched 400 incidents, ")
    assert first[0].endswith(f"complete; load 1 of the history in {store}")
    assert first[1] == "incidents: 400 new"
    history = History(store)
    assert history.loads["load_seq"].tolist() == [1]
    links = len(history.as_of(history.loads["fetched_at"].iloc[0]).links)
    assert first[2] == f"links: {links:,} new"

    week = sandbox.advance(days=7)
    lines = sync(store, capsys)
    assert lines[0].endswith(f"load 2 of the history in {store}")
    assert History(store).loads["load_seq"].tolist() == [1, 2]
    changes = history.changes()
    counts = counted(lines[1])
    # The counts are History.changes' and the sandbox's truth, kind by kind.
    truth = {"new": week.new, "resolved": week.resolved, "reopened": week.reopened,
             "gone": week.deleted}  # fmt: skip
    for kind, expected in truth.items():
        assert ids(changes, kind) == set(expected), kind
        assert counts.get(kind, 0) == len(expected), (kind, lines[1])
    assert counts.get("escalated", 0) == len(ids(changes, "escalated"))
    assert counts.get("other status moves", 0) == len(week.status_changed)
    threats = counted(lines[3])
    assert lines[3].startswith("threats: ")
    assert threats.get("escalated", 0) == len(week.escalated)
    assert threats.get("de-escalated", 0) == len(week.deescalated)


def test_an_incomplete_load_is_not_appended_unless_allowed(
    sandbox: SandboxServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    store = tmp_path / "history"
    sync(store, capsys, "--no-assets")
    sandbox.advance(days=1)
    # Rows deleted between pages on every read: the load cannot prove it holds them all.
    sandbox.delete_between_pages(3, times=50)
    assert main(["sync", str(store), "--page-size", "50", "--no-assets"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("warning: The pages do not prove")  # as fetch warns
    line = one_error_line(err[-1] + "\n", "sync")
    assert f"nothing appended to {store}" in line
    assert "--allow-incomplete" in line
    assert len(History(store).loads) == 1
    lines = sync(store, capsys, "--page-size", "50", "--no-assets", "--allow-incomplete")
    assert "INCOMPLETE" in lines[0]
    assert History(store).loads["complete"].tolist() == [True, False]
    assert "gone" not in counted(lines[1])  # an incomplete load proves nothing gone


def test_sync_refuses_an_unknown_site_and_an_export_directory_before_fetching(
    sandbox: SandboxServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    store = tmp_path / "history"
    assert main(["sync", str(store), "--asset-id", "no-such-site"]) == 2
    assert "no-such-site" in one_error_line(capsys.readouterr().err, "sync")
    assert not (store / "loads").exists()
    export = tmp_path / "export"
    assert main(["fetch", str(export), "--no-assets"]) == 0
    capsys.readouterr()
    requests = len(sandbox.requests)
    assert main(["sync", str(export)]) == 1
    assert "holds an export, not a history store" in one_error_line(capsys.readouterr().err, "sync")
    assert len(sandbox.requests) == requests


@pytest.fixture
def store_after_a_week(
    sandbox: SandboxServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> tuple[Path, Advance]:
    store = tmp_path / "history"
    sync(store, capsys)
    week = sandbox.advance(days=7)
    sync(store, capsys)
    return store, week


def test_changes_fit_80_columns_and_name_incidents_by_title(
    store_after_a_week: tuple[Path, Advance], capsys: pytest.CaptureFixture[str]
) -> None:
    store, week = store_after_a_week
    history = History(store)
    latest = history.as_of(history.loads["fetched_at"].iloc[-1]).incidents
    titles = latest.set_index("incident_id")["title"]
    assert main(["changes", str(store)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert lines[0].startswith("Changes of incidents from load 1 (fetched ")
    counts = next(line for line in lines if line.startswith("incidents: "))
    assert counted(counts).get("resolved", 0) == len(week.resolved)
    resolved = lines.index(f"resolved ({len(week.resolved)}):")
    block = lines[resolved + 1 : resolved + 1 + len(week.resolved)]
    assert all(" \u2192 " in line for line in block)
    for incident in week.resolved:
        assert incident not in out  # named, never by id
        assert any(line.strip().startswith(str(titles[incident])[:30]) for line in block)

    assert main(["changes", str(store), "--table", "threats"]) == 0
    threats = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in threats) <= 80
    assert threats[0].startswith("Changes of threats from load 1")
    # --until the first load: from no load, everything in it is new.
    first = history.loads["fetched_at"].iloc[0]
    assert main(["changes", str(store), "--until", first.isoformat()]) == 0
    assert "incidents: 400 new" in capsys.readouterr().out.splitlines()


def test_changes_of_a_directory_that_is_no_store_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["changes", str(tmp_path)]) == 1
    line = one_error_line(capsys.readouterr().err, "changes")
    assert line.endswith(f"(write one with: intrace-analytics sync {tmp_path})")


class _Sections(HTMLParser):
    """Each section's text and the alt text of its images."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.current: str | None = None
        self.text: dict[str, str] = {}
        self.images: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "section":
            self.current = values.get("id")
            self.text[self.current or ""] = ""
        elif tag == "img" and self.current:
            self.images.setdefault(self.current, []).append(values.get("src") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self.current = None

    def handle_data(self, data: str) -> None:
        if self.current:
            self.text[self.current] += data


def test_report_of_a_store_has_changes_naming_titles_and_the_trend_figure(
    store_after_a_week: tuple[Path, Advance], capsys: pytest.CaptureFixture[str]
) -> None:
    store, week = store_after_a_week
    assert main(["report", str(store)]) == 0
    report = store.with_name("history.html")
    assert capsys.readouterr().out.strip() == f"Report written to {report}"
    parsed = _Sections()
    parsed.feed(report.read_text())
    assert list(parsed.text)[:3] == ["headline", "changes", "trend"]
    assert "backlog" not in parsed.text  # the store has a backlog of its own
    changes = parsed.text["changes"]
    history = History(store)
    latest = history.as_of(history.loads["fetched_at"].iloc[-1]).incidents
    titles = set(latest.loc[latest["incident_id"].isin(list(week.resolved)), "title"])
    assert any(title in changes for title in titles)
    assert f"Resolved ({len(week.resolved)})" in changes
    assert not any(incident in changes for incident in week.resolved)
    (trend,) = parsed.images["trend"]
    assert trend.startswith("data:image/png;base64,")
    assert len(trend) > 5_000
    assert_no_key(report.read_text())


def test_summary_of_a_store_says_what_changed_and_fits_80_columns(
    store_after_a_week: tuple[Path, Advance], capsys: pytest.CaptureFixture[str]
) -> None:
    store, week = store_after_a_week
    assert main(["summary", str(store)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "Changes since the previous load"
    assert max(len(line) for line in lines) <= 80
    assert f"Resolved ({len(week.resolved)}):" in lines
    assert "Incidents by status" in lines
    # --as-of the first load: its tables, the history's first load, all new.
    first = History(store).loads["fetched_at"].iloc[0]
    assert main(["summary", str(store), "--as-of", first.isoformat()]) == 0
    early = capsys.readouterr().out
    assert "The history's first load, load 1" in " ".join(early.split())
    assert "incidents: 400 new" in early
    before = (first - pd.Timedelta(days=1)).isoformat()
    assert main(["summary", str(store), "--as-of", before]) == 1
    assert "no load of the history at or before" in one_error_line(
        capsys.readouterr().err, "summary"
    )


def test_plot_trend_draws_one_line_per_status_over_the_loads(
    store_after_a_week: tuple[Path, Advance], ax: object
) -> None:
    store, _ = store_after_a_week
    trend = History(store).trend()
    drawn = plot_trend(trend, ax=ax)  # type: ignore[arg-type]
    assert drawn is ax
    lines = {line.get_label(): line for line in drawn.get_lines()}
    assert list(lines) == ["open", "closed", "resolved"]
    assert list(lines["open"].get_ydata()) == trend["open"].tolist()
    labels = [t.get_text() for t in drawn.get_xticklabels()]
    assert [label.split("\n")[0] for label in labels] == ["1", "2"]
    annotated = [t.get_text() for t in drawn.texts]
    assert annotated == [f"{n:,}" for n in trend["open"]]
    with pytest.raises(ValueError, match="open"):
        plot_trend(trend.drop(columns=["open"]))
