"""The README's readings of a history store in other engines give what ``History`` gives.

The DuckDB queries and the Polars code are taken from the README's "History" section as
written (so the README and these tests cannot drift) and run over a store of real loads
from the sandbox, a week of ``advance`` between them. Each answer is compared with the
package's own: ``History.changes`` (which incidents are new, gone, resolved, reopened or
otherwise changed since the previous load), ``History.as_of`` (every column of every
incident) and ``History.trend`` (the status counts per load).

Every reading is also run over stores holding partitions that no load names: those of
later loads whose ``loads`` rows were removed (what a writer killed before its commit
leaves), and one written by hand. Each reader must ignore them; a plain glob would not.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from intrace_analytics import History, IntraceClient, load_incidents
from intrace_analytics.sandbox import SandboxServer
from tests.helpers import CANARY_KEY

README = Path(__file__).parent.parent / "README.md"

#: Loads in the store: the first, then one after each week that passes in the sandbox.
LOADS = 4

INCIDENT_COLUMNS = [
    "incident_id", "title", "status", "scope", "description", "created_at", "updated_at",
    "started_at", "resolved_at", "threat_count",
]  # fmt: skip

#: What the README's queries call each kind of change, from ``History.changes``' words.
WORDS = {
    "new": "new",
    "gone": "gone",
    "left_scope": "left_scope",
    "resolved": "resolved",
    "reopened": "reopened",
    "status": "changed",
    "changed": "changed",
}

#: The order in which one incident's several change rows name it (``resolved`` comes
#: with a ``changed`` row for ``resolved_at``; the README's queries say ``resolved``).
PRECEDENCE = ["new", "gone", "left_scope", "resolved", "reopened", "changed"]


# -- the README's text -----------------------------------------------------------------------


@dataclass(frozen=True)
class Readme:
    example: str  # the Python example of History
    setup: str  # DuckDB: the two views
    changes: str  # DuckDB: what changed since the previous load
    as_of: str  # DuckDB: the incidents as of a moment
    backlog: str  # DuckDB: the backlog per load
    spark: str
    polars: str


def history_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## History\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def readme_blocks() -> Readme:
    """The fenced blocks of the README's History section, by language, in order."""
    blocks: dict[str, list[str]] = {}
    for match in re.finditer(r"^```(\w+)\n(.*?)^```$", history_section(), re.S | re.M):
        blocks.setdefault(match.group(1), []).append(match.group(2))
    assert sorted(blocks) == ["py", "sql"], sorted(blocks)
    example, spark, polars = blocks["py"]
    setup, changes, as_of, backlog = blocks["sql"]
    assert "History(" in example
    assert "spark.read.parquet" in spark
    assert "import polars" in polars
    assert "CREATE OR REPLACE VIEW incident_log" in setup
    return Readme(example, setup, changes, as_of, backlog, spark, polars)


README_BLOCKS = readme_blocks()


def at_moment(sql: str, moment: pd.Timestamp) -> str:
    """The as-of query for another moment: its one ``TIMESTAMP '...'`` literal, replaced."""
    literal = re.compile(r"TIMESTAMP '[^']*'")
    assert len(literal.findall(sql)) == 1
    text = moment.tz_convert("UTC").strftime("%Y-%m-%d %H:%M:%S.%f")
    return literal.sub(f"TIMESTAMP '{text}'", sql)


# -- the stores ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Store:
    """A copy of the history at ``root / "history"`` whose last committed load is
    ``loads``; ``stray`` says whether it holds partitions that no load names."""

    root: Path
    loads: int
    stray: bool

    @property
    def history(self) -> History:
        return History(self.root / "history")


@pytest.fixture(scope="module")
def full_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A history of ``LOADS`` real loads of the sandbox over HTTP, a week apart in the
    sandbox's time; the directory that holds it."""
    root = tmp_path_factory.mktemp("engines")
    history = History(root / "history")
    with SandboxServer(incidents=300, seed=19, api_key=CANARY_KEY) as api:
        client = IntraceClient(api.api_key, base_url=api.url, page_size=500)
        for number in range(LOADS):
            if number:
                api.advance(days=7)
            history.append(load_incidents(client, progress=False))
    assert len(history.loads) == LOADS
    return root


def copy_upto(full: Path, target: Path, loads: int) -> Store:
    """A copy of the store with the ``loads`` rows after ``loads`` removed: their
    partitions stay behind, named by no load."""
    shutil.copytree(full / "history", target / "history")
    for path in sorted((target / "history" / "loads").glob("load-*.parquet"))[loads:]:
        path.unlink()
    return Store(target, loads, stray=loads < LOADS)


def write_stray_partition(store: Store) -> None:
    """What a writer killed before its commit leaves, written by hand: a partition of the
    next load that changes every incident (statuses, titles, one incident gone, one new)."""
    history = store.root / "history"
    last = sorted((history / "incidents").glob("load_id=*/part-0.parquet"))[-1]
    rows = pq.read_table(last).to_pandas().head(5)
    load_id = f"{LOADS + 1:06d}-0badc0de"
    rows["title"] = "never committed"
    rows["status"] = "open"
    rows["load_id"] = load_id
    rows["change"] = ["gone", "changed", "changed", "changed", "new"]
    rows.loc[4, "incident_id"] = "00000000-0000-4000-8000-00000000dead"
    target = history / "incidents" / f"load_id={load_id}" / "part-0.parquet"
    target.parent.mkdir()
    pq.write_table(pa.Table.from_pandas(rows, schema=pq.read_schema(last)), target)


@pytest.fixture(
    scope="module",
    params=[*range(1, LOADS), LOADS, "stray"],
    ids=[*(f"at-load-{n}" for n in range(1, LOADS)), "all-loads", "hand-written-stray"],
)
def store(
    request: pytest.FixtureRequest, full_store: Path, tmp_path_factory: pytest.TempPathFactory
) -> Store:
    target = tmp_path_factory.mktemp("store")
    if request.param == "stray":
        store = copy_upto(full_store, target, LOADS)
        write_stray_partition(store)
        return Store(store.root, LOADS, stray=True)
    return copy_upto(full_store, target, request.param)


@pytest.fixture
def duck(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB session in the store's directory, made by the README's setup; in a time
    zone other than UTC to begin with, so the setup's own setting is what counts."""
    monkeypatch.chdir(store.root)
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'America/New_York'")
    connection.execute(README_BLOCKS.setup)
    yield connection
    connection.close()


@pytest.fixture
def polars_run(store: Store, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The README's Polars block run in the store's directory, at the moment it names."""
    monkeypatch.chdir(store.root)
    namespace: dict[str, Any] = {}
    exec(README_BLOCKS.polars, namespace)  # noqa: S102 - the README's own code
    return namespace


# -- what the package says -------------------------------------------------------------------


def expected_changes(history: History) -> dict[str, str]:
    """Per incident that the latest load changed, the README's word for it (from
    ``History.changes``). Incidents whose only change is their linked threats' severity
    are left out: their own row did not change, and the queries read incidents only."""
    changes = history.changes()
    words: dict[str, list[str]] = {}
    for incident, change in zip(changes["incident_id"], changes["change"], strict=True):
        if change in WORDS:
            words.setdefault(str(incident), []).append(WORDS[change])
    return {key: min(found, key=PRECEDENCE.index) for key, found in words.items()}


def moments(history: History) -> list[pd.Timestamp]:
    """Before the first load, at each load, and between each load and the next."""
    fetched = list(history.loads["fetched_at"])
    between = [a + (b - a) / 2 for a, b in pairwise(fetched)]
    return sorted([fetched[0] - pd.Timedelta(days=1), *fetched, *between])


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Text as Python strings (``None`` when missing), whatever the engine's dtype."""
    out = frame.reset_index(drop=True).copy()
    for name in out.columns:
        column = out[name]
        if not (
            pd.api.types.is_datetime64_any_dtype(column) or pd.api.types.is_numeric_dtype(column)
        ):
            out[name] = pd.Series(
                [None if pd.isna(v) else str(v) for v in column], dtype=object, name=name
            )
    return out


def assert_same_incidents(found: pd.DataFrame, history: History, moment: pd.Timestamp) -> None:
    expected = history.as_of(moment).incidents
    assert list(found.columns) == INCIDENT_COLUMNS
    pd.testing.assert_frame_equal(comparable(found), comparable(expected), check_dtype=False)


def assert_changes(found: pd.DataFrame, history: History) -> None:
    """The rows name exactly the package's changes, each with its title and statuses."""
    expected = expected_changes(history)
    assert dict(zip(found["incident_id"], found["change"], strict=True)) == expected
    latest, previous = _last_two(history)
    for row in found.itertuples(index=False):
        now = _row(latest, row.incident_id)
        before = _row(previous, row.incident_id)
        assert row.title == (now if now is not None else before)["title"]
        assert _text(row.status_after) == _text((now if now is not None else before)["status"])
        assert _text(row.status_before) == (None if before is None else _text(before["status"]))


def _last_two(history: History) -> tuple[pd.DataFrame, pd.DataFrame]:
    fetched = list(history.loads["fetched_at"])
    previous = fetched[-2] if len(fetched) > 1 else fetched[0] - pd.Timedelta(days=1)
    return history.as_of(fetched[-1]).incidents, history.as_of(previous).incidents


def _row(frame: pd.DataFrame, incident_id: str) -> pd.Series | None:
    chosen = frame[frame["incident_id"] == incident_id]
    return None if chosen.empty else chosen.iloc[0]


def _text(value: object) -> str | None:
    return None if value is None or pd.isna(value) else str(value)


# -- the store's contents, so that every comparison below has something to compare ----------


def test_the_loads_saw_every_kind_of_change(full_store: Path) -> None:
    history = History(full_store / "history")
    fetched = list(history.loads["fetched_at"])
    seen: set[str] = set()
    for since, until in pairwise(fetched):
        seen |= set(history.changes(since, until)["change"])
    assert {"new", "gone", "resolved", "reopened", "changed"} <= seen
    trend = history.trend()
    assert trend["open"].nunique() > 1
    assert len(trend) == LOADS


def test_the_stores_hold_partitions_a_plain_glob_would_read(store: Store) -> None:
    """The uncommitted partitions are there: a reader that does not go through ``loads``
    sees more loads than the store has."""
    files = (store.root / "history" / "incidents").as_posix() + "/*/*.parquet"
    ((partitions,),) = duckdb.execute(
        "SELECT count(DISTINCT load_id) FROM read_parquet(?, hive_partitioning = true)", [files]
    ).fetchall()
    assert (partitions > store.loads) is store.stray
    assert len(store.history.loads) == store.loads


# -- DuckDB ----------------------------------------------------------------------------------


def test_duckdb_changes_since_the_previous_load(
    store: Store, duck: duckdb.DuckDBPyConnection
) -> None:
    found = duck.sql(README_BLOCKS.changes).df()
    assert list(found.columns) == [
        "incident_id", "title", "change", "status_before", "status_after",
    ]  # fmt: skip
    assert_changes(found, store.history)
    if store.loads == 1:
        assert set(found["change"]) == {"new"}
    else:
        assert {"resolved", "changed"} <= set(found["change"])


def test_duckdb_incidents_as_of_a_moment(store: Store, duck: duckdb.DuckDBPyConnection) -> None:
    history = store.history
    for moment in moments(history):
        found = duck.sql(at_moment(README_BLOCKS.as_of, moment)).df()
        assert_same_incidents(found, history, moment)


def test_duckdb_backlog_per_load(store: Store, duck: duckdb.DuckDBPyConnection) -> None:
    found = duck.sql(README_BLOCKS.backlog).df()
    columns = ["load_id", "fetched_at", "incidents", "open", "closed", "resolved"]
    expected = store.history.trend()[columns]
    assert list(found.columns) == columns
    pd.testing.assert_frame_equal(comparable(found), comparable(expected), check_dtype=False)


# -- Polars ----------------------------------------------------------------------------------


def test_polars_changes_since_the_previous_load(store: Store, polars_run: dict[str, Any]) -> None:
    found = polars_run["changes"].to_pandas()
    assert_changes(found, store.history)


def test_polars_incidents_as_of_a_moment(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(store.root)
    assignment = re.compile(r"^moment = .*$", re.M)
    assert len(assignment.findall(README_BLOCKS.polars)) == 1
    history = store.history
    for moment in moments(history):
        namespace: dict[str, Any] = {"when": moment.to_pydatetime()}
        exec(assignment.sub("moment = when", README_BLOCKS.polars), namespace)  # noqa: S102
        assert_same_incidents(namespace["as_of"].to_pandas(), history, moment)


# -- Spark -----------------------------------------------------------------------------------


def test_the_queries_use_only_sql_that_spark_shares_with_duckdb() -> None:
    """The README runs the DuckDB queries unchanged in ``spark.sql``: none of them may use
    DuckDB's own syntax or functions, and only the two views the Spark block makes."""
    duckdb_only = [
        r"\bQUALIFY\b", r"\bEXCLUDE\b", r"\bGROUP BY ALL\b", r"::", r"\bTIMESTAMPTZ\b",
        r"\bread_parquet\b", r"\bgetvariable\b",
    ]  # fmt: skip
    for query in (README_BLOCKS.changes, README_BLOCKS.as_of, README_BLOCKS.backlog):
        assert [p for p in duckdb_only if re.search(p, query, re.I)] == []
        code = re.sub(r"--.*$", "", query, flags=re.M)  # comments are prose
        sources = set(re.findall(r"\b(?:FROM|JOIN)\s+(\w+)", code, re.I))
        assert sources <= {"incident_log", "loads", "latest", "previous", "versions"}, sources
    spark = README_BLOCKS.spark
    assert 'spark.conf.set("spark.sql.session.timeZone", "UTC")' in spark
    assert "SET TimeZone = 'UTC'" in README_BLOCKS.setup
    assert re.search(r'read\.parquet\("history/loads"\)\.createOrReplaceTempView\("loads"\)', spark)
    assert re.search(r'read\.parquet\("history/incidents"\)', spark)
    # The same view: the same columns, joined through loads the same way.
    for block in (README_BLOCKS.setup, spark):
        assert "SELECT log.*, loads.load_seq, loads.fetched_at" in block
        assert "JOIN loads USING (load_id)" in block


# -- the Python example ----------------------------------------------------------------------


def test_the_readme_example_runs_week_after_week(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with SandboxServer(incidents=200, seed=23, api_key=CANARY_KEY) as api:
        monkeypatch.setenv("INTRACE_API_KEY", api.api_key)
        monkeypatch.setenv("INTRACE_BASE_URL", api.url)
        first: dict[str, Any] = {}
        exec(README_BLOCKS.example, first)  # noqa: S102 - the README's own code
        week = api.advance(days=7)
        again: dict[str, Any] = {}
        exec(README_BLOCKS.example, again)  # noqa: S102
    history = History(tmp_path / "history")
    assert len(history.loads) == 2
    assert set(first["changes"]["change"]) == {"new"}
    assert len(first["changes"]) == 200
    changes = again["changes"]
    pd.testing.assert_frame_equal(changes, history.changes())
    new = set(changes.loc[changes["change"] == "new", "incident_id"])
    assert new
    assert new <= set(week.new)
    resolved = set(changes.loc[changes["change"] == "resolved", "incident_id"])
    assert resolved
    assert resolved <= set(week.resolved)
    assert again["trend"]["load_id"].tolist() == history.loads["load_id"].tolist()
    assert again["versions"]["valid_to"].notna().any()
    assert again["then"].metadata["load_id"] is None  # a moment before the first load
