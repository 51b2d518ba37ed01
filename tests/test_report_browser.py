"""The report as a reader meets it: opened in a real, headless Chromium."""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path

import pytest

from intrace_analytics import IncidentFrames, build_report

SECTIONS = {
    "headline", "status", "backlog", "resolution", "severity", "sites", "threat-map", "top-open",
    "data-quality", "provenance",
}  # fmt: skip
# Chromium as root in a closed network: no sandbox, and no background connections.
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have Chromium: .ci/run installs Debian's chromium")
        pytest.skip("no Chromium on this machine (.ci/run installs Debian's chromium)")
    return found


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_the_report_renders_in_chromium_without_errors(
    sites_frames: IncidentFrames, tmp_path: Path
) -> None:
    chromium = _chromium()
    playwright = pytest.importorskip("playwright.sync_api")
    # With sites, so the Sites section and its maps render too.
    frames = copy.deepcopy(sites_frames)  # the session's frames stay as they are
    # Every title; the open incidents' reach the top-open table.
    frames.incidents["title"] = "<script>alert(1)</script> costs $5k"
    report = build_report(frames, tmp_path / "report.html", title="<b>Browser</b> $$ check")

    errors: list[str] = []
    requests: list[str] = []
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("dialog", lambda d: errors.append(f"dialog: {d.message}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report.as_uri(), wait_until="load")
            images = page.evaluate(
                "Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)"
            )
            sections = page.evaluate(
                "Array.from(document.querySelectorAll('section'))"
                ".filter(s => s.querySelector('h2, h1')).map(s => s.id)"
            )
            scripts = page.evaluate("document.scripts.length")
            text = page.inner_text("body")
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()

    assert errors == []
    assert len(images) >= 7
    assert all(images)  # every figure decoded
    assert set(sections) >= SECTIONS
    assert scripts == 0  # the injected title stayed text
    assert "<script>alert(1)</script> costs $5k" in text
    assert "<b>Browser</b> $$ check" in text
    assert all(url.startswith(("file:", "data:")) for url in requests)
    assert (tmp_path / "report.png").stat().st_size > 10_000
