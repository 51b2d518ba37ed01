"""The README's Python snippets do what their text says.

Each ```python block runs as written, as one notebook cell would, against a sandbox API
named by ``INTRACE_API_KEY``/``INTRACE_BASE_URL`` (as a user's environment names the real
one), in a scratch directory, on matplotlib's Agg backend. Blocks under one heading share
a namespace, as consecutive cells do. Per block the tests check what a notebook would show
(the values passed to ``display``, the last line's value unless the cell ends in ``;``),
how many figures it drew, and what each of their axes holds.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import re
import tokenize
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import intrace_analytics as ia
from intrace_analytics.sandbox import SandboxServer
from tests.helpers import CANARY_KEY

README = Path(__file__).parent.parent / "README.md"

#: Headings whose Python snippets run here, in the README's order: later ones read the
#: export the notebook snippet writes.
RUN = (
    "In a notebook",
    "Loading incidents",
    "Reading the export elsewhere",
    "The client",
    "Sites",
    "Analysis and plots",
    "The sandbox API",
)

INCIDENTS = 600


@dataclass
class Block:
    heading: str
    source: str


@dataclass
class Ran:
    """What one block did when run as a notebook cell."""

    source: str
    namespace: dict[str, Any]
    values: list[Any] = field(default_factory=list)  # every top-level expression's value
    shown: list[Any] = field(default_factory=list)  # what a notebook shows as the output
    figures: list[Any] = field(default_factory=list)
    printed: str = ""
    error: BaseException | None = None
    skipped: bool = False

    def axes(self, figure: int) -> list[Any]:
        return [ax for ax in self.figures[figure].axes if ax.get_visible()]


def python_blocks(text: str) -> list[Block]:
    """Every ```python block with the heading (## or ###) it sits under."""
    blocks, heading, pos = [], "", 0
    for match in re.finditer(r"^```python\n(.*?)^```$", text, re.DOTALL | re.MULTILINE):
        headings = re.findall(r"^#{2,3} (.+)$", text[pos : match.start()], re.MULTILINE)
        heading = headings[-1] if headings else heading
        blocks.append(Block(heading, match.group(1)))
        pos = match.end()
    return blocks


def ends_quiet(source: str) -> bool:
    """True when the cell's last token is ``;``: IPython then shows no value."""
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.ENDMARKER}
    skip |= {tokenize.INDENT, tokenize.DEDENT}
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return [t.string for t in tokens if t.type not in skip][-1] == ";"


def run_cell(source: str, namespace: dict[str, Any]) -> Ran:
    import matplotlib.pyplot as plt

    ran = Ran(source, namespace)
    namespace["display"] = ran.shown.append  # IPython's builtin in a notebook
    tree = ast.parse(source)
    out = io.StringIO()
    plt.close("all")
    try:
        with contextlib.redirect_stdout(out):
            for node in tree.body:
                if isinstance(node, ast.Expr):
                    code = compile(ast.Expression(node.value), "<README>", "eval")
                    ran.values.append(eval(code, namespace))  # noqa: S307
                else:
                    exec(compile(ast.Module([node], []), "<README>", "exec"), namespace)  # noqa: S102
    except Exception as error:  # noqa: BLE001 - raised by the test that reads this block
        ran.error = error
    ran.printed = out.getvalue()
    last = ran.values[-1] if ran.values and isinstance(tree.body[-1], ast.Expr) else None
    if ran.error is None and last is not None and not ends_quiet(source):
        ran.shown.append(last)
    ran.figures = [plt.figure(number) for number in plt.get_fignums()]
    ran.namespace = dict(namespace)  # as this cell left it: a later cell may rebind a name
    return ran


@pytest.fixture(scope="module")
def readme(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Every block under the headings in ``RUN``, run once, in order, by heading; and the
    warning categories they raised, under ``"warnings"``."""
    import matplotlib

    matplotlib.use("Agg")
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    polars = importlib.util.find_spec("polars") is not None
    results: dict[str, Any] = {}
    with (
        SandboxServer(incidents=INCIDENTS, seed=5, api_key=CANARY_KEY) as api,
        pytest.MonkeyPatch.context() as patch,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        patch.setenv("INTRACE_API_KEY", api.api_key)
        patch.setenv("INTRACE_BASE_URL", api.url)
        patch.chdir(tmp_path_factory.mktemp("readme"))
        for heading in RUN:
            namespace: dict[str, Any] = {"__name__": "__main__"}
            results[heading] = [
                Ran(block.source, namespace, skipped=True)
                if "import polars" in block.source and not polars
                else run_cell(block.source, namespace)
                for block in blocks
                if block.heading == heading
            ]
        results["warnings"] = [w.category for w in caught]
        yield results


def ran_ok(runs: list[Ran], count: int) -> list[Ran]:
    """``runs``, checked to be ``count`` blocks that ran without an exception."""
    assert len(runs) == count, [r.source for r in runs]
    for ran in runs:
        if ran.error is not None:
            raise AssertionError(f"README snippet failed:\n{ran.source}") from ran.error
    return runs


def curves(ax: Any) -> list[Any]:
    """The drawn lines of an Axes (marker-only lines, such as censoring ticks, left out)."""
    return [line for line in ax.get_lines() if line.get_linestyle() not in ("None", "")]


def assert_resolution_plot(ax: Any, groups: int) -> None:
    """One Kaplan-Meier curve (solid) and one naive curve (dashed) per group, each a
    survival curve from 1 down."""
    lines = curves(ax)
    solid = [line for line in lines if line.get_linestyle() == "-"]
    dashed = [line for line in lines if line.get_linestyle() == "--"]
    assert (len(solid), len(dashed), len(lines)) == (groups, groups, 2 * groups)
    for line in lines:
        y = np.asarray(line.get_ydata(), dtype=float)
        assert y[0] == 1.0
        assert (np.diff(y) <= 1e-12).all()
        assert ((y >= 0) & (y <= 1)).all()


def points(ax: Any) -> np.ndarray:
    """Every marker position of the Axes' scatters."""
    offsets = [np.asarray(c.get_offsets()) for c in ax.collections]
    offsets = [o for o in offsets if o.ndim == 2 and len(o)]
    return np.concatenate(offsets) if offsets else np.empty((0, 2))


def assert_threat_map(ax: Any, threats: pd.DataFrame) -> None:
    """Threat markers only: no curve, at most one marker per located threat, all within
    (a degree of) the threats' coordinates."""
    located = threats.dropna(subset=["lat", "lng"])
    drawn = points(ax)
    assert curves(ax) == []
    assert 0 < len(drawn) <= len(located)
    assert located["lng"].min() - 1 <= drawn[:, 0].min() <= drawn[:, 0].max()
    assert drawn[:, 0].max() <= located["lng"].max() + 1
    assert located["lat"].min() - 1 <= drawn[:, 1].min() <= drawn[:, 1].max()
    assert drawn[:, 1].max() <= located["lat"].max() + 1


# -- the snippets ---------------------------------------------------------------------------


def test_every_python_snippet_is_run_here() -> None:
    headings = {block.heading for block in python_blocks(README.read_text(encoding="utf-8"))}
    assert headings == set(RUN)


def test_the_snippets_warn_only_about_data_quality(readme: dict[str, Any]) -> None:
    assert set(readme["warnings"]) <= {ia.DataQualityWarning}


def test_notebook_cells_show_tables_then_one_figure_per_chart(readme: dict[str, Any]) -> None:
    tables, charts, export = ran_ok(readme["In a notebook"], 3)
    frames = tables.namespace["frames"]
    # Cell 1: three tables, no figure.
    head, breakdown, summary = tables.shown
    assert head.equals(frames.incidents.head())
    assert list(breakdown.columns) == ["scope", "status", "count", "share"]
    assert breakdown["count"].sum() == len(frames.incidents) == INCIDENTS
    assert {"km_median", "km_median_low", "km_median_high", "naive_median"} <= set(summary.columns)
    assert summary["count"].tolist() == [len(frames.incidents)]
    assert tables.figures == []
    # Cell 2: two figures of one Axes each, the Kaplan-Meier curves on the first and the
    # threats on the second; no value shown below them.
    assert charts.shown == []
    assert len(charts.figures) == 2
    (km,), (world,) = charts.axes(0), charts.axes(1)
    assert_resolution_plot(km, groups=1)
    assert_threat_map(world, frames.threats)
    # Cell 3: the export the later snippets read.
    assert export.figures == []
    assert ia.read_parquet("exports/all").incidents.equals(frames.incidents)


def test_loading_snippet_reads_open_incidents_and_round_trips(readme: dict[str, Any]) -> None:
    (ran,) = ran_ok(readme["Loading incidents"], 1)
    head, (links, threats), complete, _written = ran.values
    frames = ran.namespace["frames"]  # the export read back
    assert complete is True
    assert head.equals(frames.incidents.head())
    assert links.equals(frames.links)
    assert threats.equals(frames.threats)
    assert set(frames.incidents["status"].astype(str)) == {"open"}
    assert ran.figures == []


def test_duckdb_snippet_sorts_and_filters_by_severity_rank(readme: dict[str, Any]) -> None:
    duck = ran_ok(readme["Reading the export elsewhere"][:1], 1)[0]
    threats = ia.read_parquet("exports/all").threats
    by_severity = duck.namespace["by_severity"].df()
    # Highest level first, missing last; counts as pandas counts them.
    levels = list(reversed(threats["severity"].cat.categories))
    expected = threats["severity"].value_counts()
    assert list(by_severity["severity"].dropna()) == [s for s in levels if expected.get(s, 0)]
    assert by_severity["severity_rank"].dropna().is_monotonic_decreasing
    for severity, count in zip(by_severity["severity"], by_severity["threats"], strict=True):
        if isinstance(severity, str):
            assert count == expected[severity]
    # High and critical only, by rank; a text comparison would keep "low" and drop "critical".
    serious = duck.namespace["serious"].df()
    kept = threats[threats["severity"].isin(["high", "critical"])]
    counts = kept["threat_type"].astype(str).value_counts()
    assert dict(zip(serious["threat_type"], serious["threats"], strict=True)) == counts.to_dict()
    assert len(serious) > 0
    assert {"critical", "high"} <= set(re.findall(r"\w+", duck.printed))


def test_polars_snippet_sorts_and_filters_by_severity_rank(readme: dict[str, Any]) -> None:
    (block,) = readme["Reading the export elsewhere"][1:2]
    assert "import polars" in block.source
    # Polars compares an ordered label as text without a word: only ranks are safe.
    assert re.search(r'sort\("severity_rank"', block.source)
    assert re.search(r'filter\(pl\.col\("severity_rank"\) >= 3\)', block.source)
    assert not re.search(r'pl\.col\("severity"\)', block.source)
    if not block.skipped:  # polars is not a dependency; run it where it is installed
        ran_ok([block], 1)
        kept = block.namespace["serious"]["severity"].to_list()
        assert kept
        assert set(kept) <= {"high", "critical"}


def test_pandas_arrow_snippet_sorts_by_rank_and_reads_the_metadata(
    readme: dict[str, Any],
) -> None:
    (ran,) = ran_ok(readme["Reading the export elsewhere"][2:], 1)
    # The sort pandas can do on Arrow-backed columns: by rank, not by the label.
    assert 'sort_values("severity")' not in ran.source
    by_rank = ran.namespace["by_rank"]
    ranks = by_rank["severity_rank"]
    assert str(ranks.dtype) == "int8[pyarrow]"
    known = ranks.dropna()
    assert known.is_monotonic_decreasing
    assert ranks.isna().sum() == 0 or ranks.iloc[len(known) :].isna().all()  # NA last
    (complete, fetched_at, schema_version) = ran.shown[-1]
    assert complete is True
    assert pd.Timestamp(fetched_at).tz is not None
    assert schema_version >= 2


def test_pandas_default_backend_sorts_severity_by_level(readme: dict[str, Any]) -> None:
    """What the README says beside the Arrow-backed example: with pandas' default backend
    (or this package's reader) `severity` is the ordered categorical and sorts by level."""
    ran_ok(readme["In a notebook"], 3)
    for threats in (
        pd.read_parquet("exports/all/threats.parquet"),
        ia.read_parquet("exports/all").threats,
    ):
        assert threats["severity"].cat.ordered
        ordered = threats.sort_values("severity")["severity_rank"].dropna()
        assert ordered.is_monotonic_increasing


def test_client_snippets_read_pages_and_build_clients(readme: dict[str, Any]) -> None:
    pages, settings = ran_ok(readme["The client"], 2)
    rows = [tuple(int(n) for n in line.split()) for line in pages.printed.splitlines()]
    offsets, sizes, totals = zip(*rows, strict=True)
    assert offsets[0] == 0
    assert sum(sizes) == totals[-1] > 0
    clients = [v for v in settings.namespace.values() if isinstance(v, ia.IntraceClient)]
    assert len(clients) >= 2


def test_sites_cell_shows_sites_and_exposure_and_one_figure(readme: dict[str, Any]) -> None:
    (ran,) = ran_ok(readme["Sites"], 1)
    frames = ran.namespace["frames"]
    assets, pairs, exposure = ran.shown
    assert assets.equals(frames.assets)
    assert pairs.equals(frames.incident_assets)
    assert len(assets) == 8
    assert sorted(exposure["asset_id"]) == sorted(assets["asset_id"])
    assert set(ran.namespace["by_site"]["asset_id"].dropna()) <= set(assets["asset_id"])
    # One figure: a panel per site (spare grid cells hidden), named after it, with the
    # site's marker at least.
    assert len(ran.figures) == 1
    panels = ran.axes(0)
    assert len(panels) == len(assets)
    for name in assets["name"]:
        assert sum(name in ax.get_title() for ax in panels) == 1
    assert all(len(points(ax)) for ax in panels)


def test_analysis_cell_shows_the_summary_and_one_plot_by_scope(readme: dict[str, Any]) -> None:
    (ran,) = ran_ok(readme["Analysis and plots"], 1)
    frames = ran.namespace["frames"]
    (summary,) = ran.shown
    assert list(summary["scope"].astype(str)) == ["investigation", "aggregate"]
    assert summary["count"].sum() == len(frames.incidents)
    assert len(ran.figures) == 1
    (ax,) = ran.axes(0)
    assert_resolution_plot(ax, groups=2)


def test_sandbox_snippet_reads_every_incident_once_through_faults(
    readme: dict[str, Any],
) -> None:
    (ran,) = ran_ok(readme["The sandbox API"], 1)
    ids = [incident["id"] for page in ran.namespace["pages"] for incident in page.incidents]
    assert len(ids) == len(set(ids)) == 500
