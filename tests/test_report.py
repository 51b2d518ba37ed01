"""The HTML report: sections, embedded figures, escaping, no external requests, no key."""

from __future__ import annotations

import base64
import copy
import io
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image
import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.text import Text

from intrace_analytics import IncidentFrames, frames_from_pages
from intrace_analytics._util import clock
from intrace_analytics._util.format import count, duration, seconds, timestamp
from intrace_analytics._version import __version__
from intrace_analytics.analysis import _sites as sites
from intrace_analytics.analysis import _status as analysis
from intrace_analytics.analysis import _survival as survival
from intrace_analytics.frames._schema import empty_frame
from intrace_analytics.report._html import SECTIONS, TOP_OPEN, build_report
from intrace_analytics.sandbox import SITES
from intrace_analytics.viz import _maps as maps
from tests.helpers import incident, link, page, threat

AS_OF = "2026-10-01T00:00:00Z"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SCRIPT_TITLE = "<script>alert(1)</script>"
SECRET = "sk-report-canary-DO-NOT-LEAK"
WITHOUT_SITES = [(id_, heading) for id_, heading in SECTIONS if id_ != "sites"]


class _Document(HTMLParser):
    """The parts of a parsed report the tests look at."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.headings: dict[str, str] = {}  # section id -> its first h2
        self.section_text: dict[str, list[str]] = {}
        self.text: list[str] = []
        self._section: str | None = None
        self._in_h2 = False
        self._dt: str | None = None
        self._in_dt = self._in_dd = False
        self.headline: dict[str, str] = {}
        # section id -> its tables, each a list of rows of cell texts (header row first)
        self.tables: dict[str, list[list[list[str]]]] = {}
        self.captions: dict[str, list[str]] = {}  # section id -> figure captions
        self._cell: list[str] | None = None
        self._caption: list[str] | None = None
        self.visible: list[str] = []  # text a reader sees (not <title>, not <style>)
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "section":
            self._section = dict(attrs).get("id")
            self.section_text[self._section or ""] = []
        self._in_h2 = tag == "h2"
        self._in_dt = tag == "dt"
        self._in_dd = tag == "dd"
        section = self._section or ""
        if tag in ("title", "style"):
            self._hidden += 1
        elif tag == "table":
            self.tables.setdefault(section, []).append([])
        elif tag == "tr":
            self.tables[section][-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "figcaption":
            self._caption = []

    def handle_endtag(self, tag: str) -> None:
        section = self._section or ""
        if tag in ("title", "style"):
            self._hidden -= 1
        elif tag in ("td", "th") and self._cell is not None:
            self.tables[section][-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "figcaption" and self._caption is not None:
            self.captions.setdefault(section, []).append(" ".join("".join(self._caption).split()))
            self._caption = None
        if tag == "section":
            self._section = None
        self._in_h2 = self._in_dt = self._in_dd = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if not self._hidden:
            self.visible.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._caption is not None:
            self._caption.append(data)
        if self._section is not None:
            self.section_text[self._section].append(data)
            if self._in_h2 and self._section not in self.headings:
                self.headings[self._section] = data.strip()
        if self._in_dt:
            self._dt = data.strip()
        if self._in_dd and self._dt is not None:
            self.headline[self._dt] = data.strip()

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]

    def table(self, section: str, index: int = 0) -> list[dict[str, str]]:
        """A section's table as records: header cell -> cell."""
        header, *rows = self.tables[section][index]
        if len(rows) == 1 and len(rows[0]) == 1 < len(header):  # the "no rows" line
            return [{"": rows[0][0]}]
        return [dict(zip(header, row, strict=True)) for row in rows]

    def prose(self, section: str) -> str:
        """A section's text, whitespace collapsed."""
        return " ".join(" ".join(self.section_text[section]).split())


def _parse(path: Path) -> _Document:
    document = _Document()
    document.feed(path.read_text(encoding="utf-8"))
    document.close()
    return document


@pytest.fixture(scope="module")
def frames(sandbox_frames: IncidentFrames) -> IncidentFrames:
    frames = copy.deepcopy(sandbox_frames)  # the session's frames stay as they are
    incidents = frames.incidents
    # Every open incident, so the title lands in the "top open" table, shown as text.
    incidents.loc[(incidents["status"] == "open").to_numpy(dtype=bool), "title"] = SCRIPT_TITLE
    frames.metadata["api_key"] = SECRET
    frames.metadata["filters"] = {"status": "open", "apiKey": SECRET}
    # Fetched just before AS_OF, in another zone: the report shows it in UTC.
    frames.metadata["fetched_at"] = "2026-10-01T01:34:56+02:00"
    frames.metadata["rate_limit_wait_s"] = 2.5
    return frames


@pytest.fixture(scope="module")
def report(frames: IncidentFrames, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "out" / "report.html"
    assert build_report(frames, path, title="Week <40>", as_of=AS_OF) == path
    plt.close("all")
    return path


@pytest.fixture(scope="module")
def document(report: Path) -> _Document:
    return _parse(report)


def test_every_section_is_present_with_its_heading(document: _Document) -> None:
    # Loaded without sites: every section but "sites".
    ids = [attrs.get("id") for attrs in document.all("section")]
    assert ids == [section_id for section_id, _ in WITHOUT_SITES]
    assert document.headings == dict(WITHOUT_SITES)
    assert "#sites" not in [attrs.get("href") for attrs in document.all("a")]


def test_title_is_escaped_text(document: _Document) -> None:
    assert document.all("title") == [{}]
    assert "Week <40>" in document.text


def test_images_are_embedded_pngs(document: _Document) -> None:
    images = document.all("img")
    assert len(images) == 6
    for attrs in images:
        src = attrs["src"] or ""
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        png = base64.b64decode(src.removeprefix(prefix), validate=True)
        assert png.startswith(PNG_SIGNATURE)
        pixels = matplotlib.image.imread(io.BytesIO(png))
        assert pixels.ndim == 3
        assert pixels.size > 0
        assert attrs["alt"]


def test_no_external_requests(document: _Document, report: Path) -> None:
    for _, attrs in document.tags:
        for name in ("src", "href"):
            value = attrs.get(name) or ""
            assert not value.startswith(("http://", "https://", "//")), (name, value)
    assert not [attrs for name, attrs in document.tags if name == "link"]
    html = report.read_text(encoding="utf-8")
    assert "@import" not in html
    assert "url(" not in html


def test_headline_numbers_match_independent_counts(
    frames: IncidentFrames, document: _Document
) -> None:
    status = frames.incidents["status"].astype(object).tolist()
    headline = document.headline
    assert headline["Incidents"] == f"{len(status):,}"
    assert headline["Open (status)"] == f"{status.count('open'):,}"
    assert headline["Resolved (status)"] == f"{status.count('resolved'):,}"
    assert headline["Closed (status)"] == f"{status.count('closed'):,}"
    overall = survival.resolution_summary(frames.incidents, as_of=AS_OF).iloc[0]
    median = overall["km_median"]
    assert pd.notna(median)
    # The one duration format, the same as the text summary's.
    assert headline["Median time to resolve"] == duration(median)
    assert re.fullmatch(r"\d+ d \d+ h|\d+ h \d+ min", duration(median))
    naive = f"would be {duration(overall['naive_median'])}."
    assert naive in " ".join(" ".join(document.section_text["headline"]).split())


def test_tables_use_the_one_formatter(frames: IncidentFrames, document: _Document) -> None:
    by_scope = survival.resolution_summary(frames.incidents, by="scope", as_of=AS_OF)
    resolution = document.section_text["resolution"]
    for column in ("km_median", "km_median_low", "km_median_high", "km_p90", "naive_median"):
        for value in by_scope[column]:
            assert duration(value) in resolution
    assert not [cell for cell in resolution if re.fullmatch(r"[\d.]+ (h|days)", cell)]
    status = document.section_text["status"]
    shares = analysis.status_breakdown(frames.incidents)["share"]
    assert all(f"{100 * share:.1f} %" in status for share in shares)
    provenance = document.section_text["provenance"]
    assert timestamp("2026-09-30T23:34:56Z") == "2026-09-30 23:34 UTC"
    assert "2026-09-30 23:34 UTC" in provenance  # fetched_at, in UTC
    assert seconds(2.5) == "2.5 s"
    assert "2.5 s" in provenance  # rate_limit_wait_s: seconds, not a share


def test_data_text_is_escaped(document: _Document, report: Path) -> None:
    assert not document.all("script")
    assert SCRIPT_TITLE in document.section_text["top-open"]
    html = report.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html.lower()


def test_top_open_lists_the_top_open_incidents(frames: IncidentFrames, report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    top = html[html.index('<section id="top-open">') :]
    top = top[: top.index("</section>")]
    n_open = int((frames.incidents["status"] == "open").sum())
    assert n_open > TOP_OPEN
    # One header row, then one row per listed incident.
    assert top.count("<tr>") == 1 + TOP_OPEN
    assert top.count("&lt;script&gt;alert(1)&lt;/script&gt;") == TOP_OPEN


def test_top_open_starts_where_resolution_times_start(tmp_path: Path) -> None:
    # One started before it was reported; one says nothing of its start (created_at then).
    frames = frames_from_pages(
        [page([incident("early", started_at="2026-09-20T00:00:00Z",
                        created_at="2026-09-21T00:00:00Z"),
               incident("unsaid", created_at="2026-09-22T06:00:00Z")])]
    )  # fmt: skip
    document = _parse(build_report(frames, tmp_path / "starts.html", as_of=AS_OF))
    started = {row["incident"]: row["started"] for row in document.table("top-open")}
    begin = survival.resolution_times(frames.incidents, as_of=AS_OF).set_index("incident_id")
    assert started == {iid: timestamp(t) for iid, t in begin["start"].items()}
    assert started == {"early": "2026-09-20 00:00 UTC", "unsaid": "2026-09-22 06:00 UTC"}


def test_api_key_never_appears(report: Path, document: _Document) -> None:
    html = report.read_text(encoding="utf-8")
    assert SECRET not in html
    assert "api_key" not in html
    assert "apiKey" not in html
    provenance = document.section_text["provenance"]
    assert "status: open" in provenance
    assert "complete: every matching incident exactly once" in provenance


def test_no_temporary_file_left(report: Path) -> None:
    assert sorted(p.name for p in report.parent.iterdir()) == ["report.html"]


def test_empty_frames_still_build(tmp_path: Path) -> None:
    empty = IncidentFrames(*(empty_frame(table) for table in ("incidents", "links", "threats")))
    path = build_report(empty, tmp_path / "empty.html", as_of=AS_OF)
    document = _parse(path)
    assert [attrs.get("id") for attrs in document.all("section")] == [s for s, _ in WITHOUT_SITES]
    assert document.headline["Incidents"] == "0"
    assert document.headline["Median time to resolve"] == "no incidents"
    assert document.table("top-open") == [{"": "no open incidents"}]
    assert document.table("data-quality") == [{"": "no findings"}]
    assert document.table("status") == [{"": "no incidents"}]
    # Nothing to estimate, and the page says so: never "not reached - not reached".
    cells = [cell for tables in document.tables.values() for t in tables for r in t for cell in r]
    assert not [cell for cell in cells if "not reached" in cell]
    (resolution,) = document.table("resolution")
    assert resolution["scope"] == "all"
    assert resolution["incidents"] == "0"
    assert resolution["median"] == resolution["90th percentile"] == "no incidents"
    assert "unknown (no load report)" in document.section_text["provenance"]
    assert len(document.all("img")) == 6


def test_incomplete_load_is_flagged(frames: IncidentFrames, tmp_path: Path) -> None:
    partial = replace(frames, metadata={**frames.metadata, "complete": False})
    document = _parse(build_report(partial, tmp_path / "partial.html", as_of=AS_OF))
    assert "NOT proven complete (see the load report)" in document.section_text["provenance"]


def test_figures_leave_no_pyplot_state(frames: IncidentFrames, tmp_path: Path) -> None:
    plt.close("all")
    build_report(frames, tmp_path / "again.html", as_of=AS_OF)
    assert plt.get_fignums() == []


def test_overwrites_atomically(frames: IncidentFrames, tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    path.write_text("old", encoding="utf-8")
    build_report(frames, path, as_of=AS_OF)
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


# -- sites -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sites_document(
    sites_frames: IncidentFrames, tmp_path_factory: pytest.TempPathFactory
) -> _Document:
    path = tmp_path_factory.mktemp("sites") / "report.html"
    build_report(sites_frames, path, as_of=AS_OF)
    return _parse(path)


def test_sites_section_before_the_world_map(sites_document: _Document) -> None:
    ids = [attrs.get("id") for attrs in sites_document.all("section")]
    assert ids == [section_id for section_id, _ in SECTIONS]
    assert ids.index("sites") == ids.index("threat-map") - 1
    assert sites_document.headings["sites"] == "Sites"
    assert "#sites" in [attrs.get("href") for attrs in sites_document.all("a")]
    # The site maps and the world map, besides the other figures.
    assert len(sites_document.all("img")) == 7
    alts = [attrs.get("alt") or "" for attrs in sites_document.all("img")]
    assert "Threat locations by severity, with the monitored sites" in alts


def test_sites_table_is_the_exposure_formatted(
    sites_frames: IncidentFrames, sites_document: _Document
) -> None:
    exposure = sites.asset_exposure(sites_frames, as_of=AS_OF)
    text = [t.strip() for t in sites_document.section_text["sites"] if t.strip()]
    for row in exposure.itertuples(index=False):
        at = text.index(row.name)
        assert text[at + 1 : at + 7] == [
            str(row.site_status),
            count(row.incidents),
            count(row.open),
            str(row.max_open_severity) if row.open else "none",
            count(row.open_critical),
            duration(row.km_median) if row.incidents else "no incidents",
        ]
    # Active sites first, each group most exposed first, as asset_exposure orders them.
    positions = [text.index(name) for name in exposure["name"]]
    assert positions == sorted(positions)
    # Archived sites are marked apart: their rows carry the class the page greys.
    table = sites_document.table("sites")
    archived = [row["site"] for row in table if row["site status"] == "archived"]
    assert archived == ["Apapa depot"]
    assert [row["site"] for row in table][-len(archived) :] == archived
    marked = [attrs for name, attrs in sites_document.tags if name == "tr" and attrs]
    assert marked == [{"class": "archived"}]
    assert "archived ones (no longer monitored" in sites_document.prose("sites")


def test_world_map_marks_only_the_loaded_sites(
    sites_frames: IncidentFrames, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn: list[object] = []
    original = maps.plot_threat_map

    def spy(threats: pd.DataFrame, **kwargs: object) -> object:
        drawn.append(kwargs.get("assets"))
        return original(threats, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(maps, "plot_threat_map", spy)
    build_report(sites_frames, tmp_path / "with.html", as_of=AS_OF)
    unloaded = replace(sites_frames, metadata={**sites_frames.metadata, "assets_loaded": False})
    build_report(unloaded, tmp_path / "without.html", as_of=AS_OF)
    assert drawn[0] is sites_frames.assets
    assert drawn[1] is None
    assert "sites" not in _parse(tmp_path / "without.html").section_text


def test_a_report_of_other_data_names_no_sandbox_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokyo = threat("t1", severity="high", location="Shinjuku, Tokyo",
                   coordinates={"lat": 35.69, "lng": 139.70})  # fmt: skip
    berlin = threat("t2", severity="critical", location="Mitte, Berlin",
                    coordinates={"lat": 52.52, "lng": 13.40})  # fmt: skip
    frames = frames_from_pages(
        [page([incident("i1", "2026-01-02T00:00:00Z", link("l1", "t1", tokyo)),
               incident("i2", "2026-01-02T00:00:00Z", link("l2", "t2", berlin))])]
    )  # fmt: skip
    texts: list[str] = []
    original = maps.plot_threat_map

    def spy(threats: pd.DataFrame, **kwargs: object) -> object:
        ax = original(threats, **kwargs)  # type: ignore[arg-type]
        ax.figure.canvas.draw()
        texts.extend(t.get_text() for t in ax.findobj(Text))
        return ax

    monkeypatch.setattr(maps, "plot_threat_map", spy)
    path = build_report(frames, tmp_path / "other.html", as_of=AS_OF)
    html = path.read_text(encoding="utf-8")
    assert texts  # the map was drawn and read back
    for asset in SITES:
        assert asset.name not in html
        assert not any(asset.name in text for text in texts)
    assert not any(maps.SITE_LABEL in text for text in texts)


# -- one meaning per number --------------------------------------------------------------

WITHOUT_TIME = "resolved_without_time"
#: A label that uses "open" or "resolved" for something other than a status says so.
QUALIFIED = ("(status)", "(status at fetch)", "as-of", "resolved only", "no end time")


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def _started_by(frames: IncidentFrames, as_of: str) -> pd.DataFrame:
    """The incidents that existed at ``as_of``: started (started_at, else created_at)."""
    incidents = frames.incidents
    begin = incidents["started_at"].fillna(incidents["created_at"])
    return incidents[(begin <= pd.Timestamp(as_of)).to_numpy(dtype=bool)]


def _check_figures_agree(
    frames: IncidentFrames, document: _Document, as_of: str = AS_OF, status: str = "(status)"
) -> None:
    """Headline, status table, resolution table and backlog: one count each, or labelled;
    every figure of the incidents that existed at ``as_of``."""
    headline = document.headline
    incidents = _started_by(frames, as_of)
    by_status = {row["status"]: row for row in document.table("status")}
    # Headline status counts are the status table's "all scopes" column.
    for name in ("open", "closed", "resolved"):
        assert headline[f"{name.capitalize()} {status}"] == by_status[name]["all scopes"]
        is_status = (incidents["status"] == name).fillna(False)
        assert _number(headline[f"{name.capitalize()} {status}"]) == int(is_status.sum())
    assert headline["Incidents"] == by_status["total"]["all scopes"] == count(len(incidents))
    # The resolution table: its "all" row is the headline's incidents and median.
    resolution = {row["scope"]: row for row in document.table("resolution")}
    overall = resolution["all"]
    assert overall["incidents"] == headline["Incidents"]
    assert overall["median"] == headline["Median time to resolve"]
    summary = survival.resolution_summary(frames.incidents, as_of=as_of).iloc[0]
    assert _number(overall["resolved by as-of"]) == summary["resolved"]
    assert _number(overall["unresolved at as-of"]) == summary["unresolved"]
    parts = ["resolved by as-of", "unresolved at as-of"]
    if WITHOUT_TIME in summary.index:
        parts.append("closed or resolved, no end time")
        assert _number(overall[parts[-1]]) == summary[WITHOUT_TIME]
    assert sum(_number(overall[p]) for p in parts) == len(incidents)
    # Where a word counts something other than the status, its label says so.
    labels = [*headline, *document.tables["resolution"][0][0], *document.tables["status"][0][0]]
    for label in labels:
        if re.search(r"\b(open|resolved)\b", label, re.IGNORECASE):
            assert any(q in label for q in QUALIFIED), label
    note = document.prose("headline")
    assert f"{overall['resolved by as-of']} resolved by as-of" in note
    assert f"{overall['unresolved at as-of']} unresolved at as-of" in note
    assert "whatever the status" in note
    # The backlog's last point: stated with what it counts, and tied to the table.
    (caption,) = document.captions["backlog"]
    last = int(analysis.open_backlog(frames.incidents, as_of=as_of)["open"].iloc[-1])
    assert "not yet resolved" in caption
    assert f": {count(last)} at the end" in caption
    if last == summary["unresolved"]:
        assert "unresolved at as-of" in caption
    else:
        assert WITHOUT_TIME in summary.index
        assert last == summary["unresolved"] + summary[WITHOUT_TIME]
        assert f"{count(summary[WITHOUT_TIME])} closed or resolved without" in caption


def test_headline_status_resolution_and_backlog_agree_or_are_labelled_apart(
    frames: IncidentFrames, document: _Document
) -> None:
    _check_figures_agree(frames, document)


def test_an_earlier_as_of_counts_what_existed_then_and_says_what_is_the_fetch(
    frames: IncidentFrames, tmp_path: Path
) -> None:
    begin = frames.incidents["started_at"].fillna(frames.incidents["created_at"])
    middle = timestamp(begin.quantile(0.5)).replace(" UTC", "Z").replace(" ", "T")
    assert len(_started_by(frames, middle)) < len(frames.incidents)
    document = _parse(build_report(frames, tmp_path / "middle.html", as_of=middle))
    _check_figures_agree(frames, document, as_of=middle, status="(status at fetch)")
    # The headline note and the backlog's last point: one number on one page.
    (caption,) = document.captions["backlog"]
    unresolved = document.table("resolution")[0]["unresolved at as-of"]
    assert f"{unresolved} unresolved at as-of" in document.prose("headline")
    assert f": {unresolved} at the end, the resolution table" in caption
    # Every section made of statuses or severities says they are the fetch's.
    said = "as the API reported them at the fetch"
    for section in ("status", "severity", "top-open", "threat-map"):
        assert said in document.prose(section), section
    assert said in " ".join(" ".join(document.visible).split()[:200])
    assert f"{count(len(_started_by(frames, middle)))} of the export's" in document.prose("status")
    # Nothing open for a negative time: incidents not started yet are not listed.
    for row in document.table("top-open"):
        assert not row["open for (to as-of)"].startswith("-"), row
    # At the fetch itself, no such note.
    at_fetch = _parse(build_report(frames, tmp_path / "fetch.html"))
    assert said not in " ".join(at_fetch.visible)


def test_incidents_without_an_end_time_get_their_own_column(
    frames: IncidentFrames, tmp_path: Path
) -> None:
    document = _parse(build_report(frames, tmp_path / "spec.html", as_of=AS_OF))
    header = document.tables["resolution"][0][0]
    assert header[:5] == ["scope", "incidents", "resolved by as-of", "unresolved at as-of",
                          "closed or resolved, no end time"]  # fmt: skip
    without = document.table("resolution")[0]["closed or resolved, no end time"]
    assert _number(without) > 0
    assert f"{without} closed or resolved without a resolved_at" in document.prose("headline")
    _check_figures_agree(frames, document)


def test_headers_and_labels_are_words(document: _Document) -> None:
    for section, tables in document.tables.items():
        for table in tables:
            assert not [h for h in table[0] if "_" in h], (section, table[0])
    for section in ("data-quality", "provenance"):
        labels = [row[0] for row in document.tables[section][0][1:]]
        assert labels
        assert not [label for label in labels if "_" in label], (section, labels)
    assert not [label for label in document.headline if "_" in label]
    # The resolution table names its columns as the brief's reader would.
    assert document.tables["resolution"][0][0][-5:] == [
        "median", "median, 95 % CI low", "median, 95 % CI high", "90th percentile",
        "median of resolved only",
    ]  # fmt: skip


def test_data_quality_is_listed_once(frames: IncidentFrames, document: _Document) -> None:
    findings = analysis.data_quality(frames)
    findings = findings[findings["count"] > 0]
    rows = document.table("data-quality")
    assert [row["count"] for row in rows] == [count(n) for n in findings["count"]]
    assert rows[0]["finding"].startswith("closed or resolved without a resolution time")
    # Each finding in the words its check declares.
    words = {check.name: check.words for check in analysis.CHECKS}
    assert [row["finding"] for row in rows] == [words[name] for name in findings["check"]]
    visible = " ".join(document.visible)
    assert "data_quality" not in visible
    assert "data quality" not in " ".join(document.prose("provenance").split()).lower()


def test_version_once_filters_all_and_load_findings(tmp_path: Path) -> None:
    frames = frames_from_pages(
        [page([incident("i1", "2026-01-02T00:00:00Z", status="resolved",
                        resolved_at="2026-01-01T20:00:00Z")])]
    )  # fmt: skip
    frames.metadata.update(
        {
            "fetched_at": "2026-01-03T00:00:00Z",
            "complete": True,
            "filters": {"status": None, "scope": None, "asset_id": None},
            "package_version": __version__,
            "data_quality": {"created_at:unparseable": 2},
        }
    )
    document = _parse(build_report(frames, tmp_path / "one.html"))
    visible = " ".join(document.visible)
    assert visible.count(__version__) == 1
    provenance = {row["field"]: row["value"] for row in document.table("provenance")}
    assert provenance["package version"] == __version__
    assert provenance["filters"] == "status: all; scope: all; sites: all"
    assert "(missing)" not in document.prose("provenance")
    assert document.table("data-quality") == [
        {"finding": "while loading: created_at:unparseable", "count": "2",
         "examples (ids)": "\u2014"}
    ]  # fmt: skip
    # An export written by another version: both said, in one row.
    frames.metadata["package_version"] = "0.0.1"
    document = _parse(build_report(frames, tmp_path / "two.html"))
    provenance = {row["field"]: row["value"] for row in document.table("provenance")}
    assert provenance["package version"] == (
        f"{__version__} (this report); the export was written by 0.0.1"
    )
    assert " ".join(document.visible).count(__version__) == 1


FETCHED = pd.Timestamp("2026-10-01T12:34:56Z")


def test_default_as_of_is_the_fetch_and_is_stated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The report is built a week after the fetch.
    monkeypatch.setattr(clock, "utc_now", lambda: (FETCHED + pd.Timedelta(days=7)).to_pydatetime())
    frames = frames_from_pages(
        [page([incident("i1", "2026-09-30T00:00:00Z", status="open",
                        created_at="2026-09-30T12:34:56Z")])]
    )  # fmt: skip
    frames.metadata["fetched_at"] = FETCHED.isoformat()
    document = _parse(build_report(frames, tmp_path / "default.html"))
    said = " ".join(" ".join(document.visible).split())
    assert (
        "Open incidents counted as unresolved up to 2026-10-01 12:34 UTC (the time of the fetch)."
        in said
    )
    # The open incident has been open one day at the fetch, not eight.
    (row,) = document.table("top-open")
    assert row["open for (to as-of)"] == "1 d 0 h"
    given = _parse(build_report(frames, tmp_path / "given.html", as_of=FETCHED))
    assert given.table("top-open") == document.table("top-open")
    assert "(as requested)" in " ".join(given.visible)
    del frames.metadata["fetched_at"]
    now = _parse(build_report(frames, tmp_path / "now.html"))
    assert now.table("top-open")[0]["open for (to as-of)"] == "8 d 0 h"
    assert "up to 2026-10-08 12:34 UTC (now: the export records no fetch time)." in " ".join(
        " ".join(now.visible).split()
    )
