"""storage: exact round trips, file metadata, no key on disk, atomic writes, DuckDB."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from intrace_analytics import DataQualityWarning, ExportError, __version__, frames_from_pages
from intrace_analytics.export._parquet import write_parquet
from intrace_analytics.frames import _schema as schema
from intrace_analytics.frames._container import IncidentFrames, read_parquet
from tests import helpers
from tests.helpers import (
    CANARY_KEY,
    EXPORT_LOCK,
    NAMES,
    incident,
    link,
    page,
    strings,
    threat,
    times,
)


def _categorical(name: str, table: str, *values: str | None) -> pd.Series:
    column = next(c for c in schema.TABLES[table] if c.name == name)
    categories = schema.categories_for(column, values)
    return pd.Series(values, dtype=schema.pandas_dtype(column, categories))


def make_frames(metadata: dict[str, Any] | None = None) -> IncidentFrames:
    """A few hand-built rows per table: NA strings, NaT, NaN, unknown labels, microseconds."""
    incidents = pd.DataFrame(
        {
            "incident_id": strings("inc-1", "inc-2", "inc-3", "inc-4"),
            "title": strings("Port strike", None, "Flooding", "Ünïcode ✓"),
            "status": _categorical("status", "incidents", "closed", "archived", None, "open"),
            "scope": _categorical("scope", "incidents", "aggregate", None, "aggregate", None),
            "description": strings(None, "", "Roads closed.", "x" * 500),
            "created_at": times(
                "2024-03-01T10:00:00.123456Z", "2024-03-02T00:00:00Z", None, "2024-03-04T23:59:59Z"
            ),
            "updated_at": times(
                "2024-03-05T10:00:00.000001Z", None, "2024-03-06T00:00:00Z", "2024-03-07T00:00:00Z"
            ),
            "started_at": times(None, None, "2024-02-28T08:30:00.5Z", None),
            "resolved_at": times("2024-03-05T10:00:00Z", None, None, None),
            "threat_count": pd.Series([2, 0, 1, 1], dtype="int64"),
        }
    )
    links = pd.DataFrame(
        {
            "link_id": strings("l-1", "l-2", "l-3", "l-4"),
            "incident_id": strings("inc-1", "inc-1", "inc-3", "inc-4"),
            "threat_id": strings("t-1", "t-2", "t-1", "t-9"),
            "added_at": times("2024-03-01T10:00:01.999999Z", None, "2024-03-03T00:00:00Z", None),
        }
    )
    threats = pd.DataFrame(
        {
            "threat_id": strings("t-1", "t-2", "t-3"),
            "title": strings("Strike", None, "Storm"),
            "severity": _categorical("severity", "threats", "high", "severe", None),
            "severity_rank": pd.Series([3, 0, None], dtype="Int8"),
            "threat_type": _categorical("threat_type", "threats", "Labor", None, "Weather"),
            "location": strings("Rotterdam, NL", None, None),
            "observed_at": times("2024-03-01T09:59:59.000123Z", None, "2024-03-02T00:00:00Z"),
            "lat": pd.Series([51.9244, np.nan, -33.8688], dtype="float64"),
            "lng": pd.Series([4.4777, np.nan, 151.2093], dtype="float64"),
        }
    )
    report = {
        "complete": True,
        "rows": 4,
        "filters": {"status": "open"},
        "pages": 1,
        "package_version": __version__,
        "schema_version": schema.SCHEMA_VERSION,
    }
    return IncidentFrames(
        incidents, links, threats, metadata=report if metadata is None else metadata
    )


def with_sites(frames: IncidentFrames) -> IncidentFrames:
    """``frames`` plus two hand-built sites (one with no coordinates) and their incidents."""
    frames.assets = pd.DataFrame(
        {
            "asset_id": strings("lagos-hq", "tokyo-wh"),
            "name": strings("Lagos HQ", None),
            "type": _categorical("type", "assets", "facility", "warehouse"),
            "role": strings("head_office", None),
            "site_status": _categorical("site_status", "assets", "active", "archived"),
            "country": strings("NG", "JP"),
            "address": strings("Victoria Island, Lagos", None),
            "lat": pd.Series([6.4541, np.nan], dtype="float64"),
            "lng": pd.Series([3.3947, np.nan], dtype="float64"),
            "monitoring_radius_km": pd.Series([12.0, 5.5], dtype="float64"),
            "created_at": times("2026-04-18T09:00:00Z", None),
            "updated_at": times("2026-04-18T09:00:00.5Z", "2026-05-01T00:00:00Z"),
            "asset_uuid": strings("9b6d94f3-c8f1-4693-bf17-9d2bf54a3d7e", None),
        }
    )
    frames.incident_assets = pd.DataFrame(
        {
            "incident_id": strings("inc-1", "inc-3", "inc-3"),
            "asset_id": strings("lagos-hq", "lagos-hq", "tokyo-wh"),
        }
    )
    frames.metadata = {**frames.metadata, "assets_loaded": True}
    return frames


def assert_frames_equal(actual: IncidentFrames, expected: IncidentFrames) -> None:
    for name in schema.TABLES:
        left, right = getattr(actual, name), getattr(expected, name)
        pd.testing.assert_frame_equal(left, right, check_dtype=True, check_categorical=True)
        for column in left.columns:
            if isinstance(right[column].dtype, pd.CategoricalDtype):
                # Exact categories: order, orderedness and unused ones.
                assert list(left[column].cat.categories) == list(right[column].cat.categories)
                assert left[column].cat.ordered == right[column].cat.ordered
        assert isinstance(left.index, pd.RangeIndex)
        assert left.index.equals(pd.RangeIndex(len(right)))


def files(directory: Path) -> list[str]:
    """The names in ``directory``, sorted, without the writers' (empty) lock file."""
    return sorted(path.name for path in directory.iterdir() if path.name != EXPORT_LOCK)


def snapshot(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def our_metadata(path: Path) -> dict[str, Any]:
    metadata = pq.read_schema(path).metadata
    return json.loads(metadata[b"intrace_analytics"])


# --- round trips -------------------------------------------------------------------------


def test_ordinary_frames_round_trip_exactly(tmp_path: Path) -> None:
    frames = make_frames()
    out = write_parquet(frames, tmp_path / "export")
    assert out == tmp_path / "export"
    back = read_parquet(out)
    assert_frames_equal(back, frames)
    assert back.metadata == frames.metadata
    # The details the brief cares about, spelled out.
    assert list(back.incidents["status"].cat.categories) == [
        "open",
        "closed",
        "resolved",
        "archived",
    ]
    assert list(back.threats["severity"].cat.categories) == [
        "severe",
        "low",
        "medium",
        "high",
        "critical",
    ]
    assert back.threats["severity"].cat.ordered
    assert (back.threats["severity"] < "low").tolist() == [False, True, False]
    assert back.threats["severity_rank"].dtype == pd.Int8Dtype()
    assert back.threats["severity_rank"].tolist() == [3, 0, pd.NA]
    assert back.incidents["created_at"].iloc[0] == pd.Timestamp("2024-03-01T10:00:00.123456Z")
    assert back.incidents["title"].dtype == pd.StringDtype()
    assert back.incidents["title"].iloc[1] is pd.NA


def test_empty_frames_round_trip(tmp_path: Path) -> None:
    frames = IncidentFrames(*(schema.empty_frame(name) for name in NAMES), metadata={"rows": 0})
    back = read_parquet(write_parquet(frames, tmp_path))
    assert_frames_equal(back, frames)
    assert list(back.incidents["status"].cat.categories) == list(schema.STATUSES)


def test_frames_with_all_null_optional_columns_round_trip(tmp_path: Path) -> None:
    frames = make_frames()
    for name in NAMES:
        frame = getattr(frames, name)
        for column in schema.TABLES[name]:
            if column.name == schema.KEYS[name] or column.kind is schema.Kind.INT:
                continue
            frame[column.name] = pd.Series(
                [None] * len(frame), dtype=frame[column.name].dtype, index=frame.index
            )
    assert frames.threats["severity"].isna().all()
    back = read_parquet(write_parquet(frames, tmp_path))
    assert_frames_equal(back, frames)


def test_unused_categories_and_their_order_survive(tmp_path: Path) -> None:
    frames = make_frames()
    dtype = pd.CategoricalDtype(["zeta", "open", "closed", "resolved", "archived", "alpha"])
    frames.incidents["status"] = frames.incidents["status"].astype(dtype)
    back = read_parquet(write_parquet(frames, tmp_path))
    assert back.incidents["status"].dtype == dtype
    assert_frames_equal(back, frames)


def test_columns_in_another_order_are_written_in_schema_order(tmp_path: Path) -> None:
    frames = make_frames()
    expected = make_frames()
    frames.links = frames.links[list(reversed(frames.links.columns))]
    back = read_parquet(write_parquet(frames, tmp_path))
    assert_frames_equal(back, expected)


def test_methods_on_incident_frames_delegate(tmp_path: Path) -> None:
    frames = make_frames()
    assert frames.to_parquet(tmp_path) == tmp_path
    assert_frames_equal(IncidentFrames.read_parquet(tmp_path), frames)


def test_read_does_not_depend_on_pandas_metadata(tmp_path: Path) -> None:
    frames = make_frames()
    write_parquet(frames, tmp_path)
    for name in NAMES:
        path = tmp_path / f"{name}.parquet"
        table = pq.read_table(path)
        assert b"pandas" in table.schema.metadata
        ours = {b"intrace_analytics": table.schema.metadata[b"intrace_analytics"]}
        pq.write_table(table.replace_schema_metadata(ours), path)
    assert_frames_equal(read_parquet(tmp_path), frames)


def test_sandbox_frames_round_trip(tmp_path: Path, sandbox_frames: IncidentFrames) -> None:
    frames = sandbox_frames
    assert len(frames.incidents) == 300
    back = read_parquet(write_parquet(frames, tmp_path))
    assert_frames_equal(back, frames)
    assert back.metadata == json.loads(json.dumps(frames.metadata, default=str))


# --- file contents -----------------------------------------------------------------------


def test_files_carry_schema_package_version_and_load_report(tmp_path: Path) -> None:
    frames = make_frames()
    write_parquet(frames, tmp_path)
    assert files(tmp_path) == [f"{n}.parquet" for n in NAMES]
    export_ids = set()
    for name in NAMES:
        path = tmp_path / f"{name}.parquet"
        record = our_metadata(path)
        assert record["schema_version"] == schema.SCHEMA_VERSION == 3
        assert record["package_version"] == __version__
        assert record["table"] == name
        # SPEC: the load report itself, its keys at the top level (meta["complete"]).
        assert record["complete"] is True
        assert "load_report" not in record
        own = {"export_id", "table", "categories"}
        assert set(record) == set(frames.metadata) | own
        assert {k: v for k, v in record.items() if k not in own} == frames.metadata
        export_ids.add(record["export_id"])
        assert pq.read_schema(path).remove_metadata() == schema.arrow_schema(name)
        compression = pq.ParquetFile(path).metadata.row_group(0).column(0).compression
        assert compression == "ZSTD"
    assert len(export_ids) == 1
    assert our_metadata(tmp_path / "incidents.parquet")["categories"] == {
        "status": ["open", "closed", "resolved", "archived"],
        "scope": ["investigation", "aggregate"],
    }
    assert our_metadata(tmp_path / "threats.parquet")["categories"] == {
        "severity": ["severe", "low", "medium", "high", "critical"],
        "threat_type": ["Labor", "Weather"],
    }


def test_metadata_values_are_made_json(tmp_path: Path) -> None:
    report = {
        "fetched_at": datetime(2024, 3, 1, 12, 0, 0, 5, tzinfo=UTC),
        "as_of": pd.Timestamp("2024-03-01T12:00:00Z"),
        "rows": np.int64(4),
        "rate_limit_wait_s": np.float64(1.5),
        "complete": np.bool_(True),
        "raw_dir": Path("/data/raw"),
        "nested": {"when": [pd.Timestamp("2024-01-01", tz="UTC")]},
    }
    back = read_parquet(write_parquet(make_frames(report), tmp_path))
    # A hand-made report without them reads back with the writer's versions.
    assert back.metadata == {
        "schema_version": schema.SCHEMA_VERSION,
        "package_version": __version__,
        "fetched_at": "2024-03-01T12:00:00.000005+00:00",
        "as_of": "2024-03-01T12:00:00+00:00",
        "rows": 4,
        "rate_limit_wait_s": 1.5,
        "complete": True,
        "raw_dir": "/data/raw",
        "nested": {"when": ["2024-01-01T00:00:00+00:00"]},
    }


def test_an_unserialisable_load_report_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="object"):
        write_parquet(make_frames({"bad": object()}), tmp_path)
    assert files(tmp_path) == []


def test_an_api_key_in_the_metadata_never_reaches_the_files(tmp_path: Path) -> None:
    report = {
        "api_key": CANARY_KEY,
        "rows": 4,
        "client": {"X-API-Key": CANARY_KEY, "base_url": "http://127.0.0.1:1"},
        "attempts": [{"ApiKey": CANARY_KEY, "status": 200}, {"API_KEY": CANARY_KEY}],
    }
    frames = make_frames(report)
    frames.incidents.attrs["api_key"] = CANARY_KEY  # pyarrow would copy attrs into the file
    back = read_parquet(write_parquet(frames, tmp_path))
    assert back.metadata == {
        "rows": 4,
        "client": {"base_url": "http://127.0.0.1:1"},
        "attempts": [{"status": 200}, {}],
        "schema_version": schema.SCHEMA_VERSION,
        "package_version": __version__,
    }
    assert frames.metadata["api_key"] == CANARY_KEY  # the caller's report is left alone
    for name in NAMES:
        path = tmp_path / f"{name}.parquet"
        assert CANARY_KEY.encode() not in path.read_bytes()
        # Arrow also stores the schema, metadata included, base64-encoded in the footer.
        key_value = pq.ParquetFile(path).metadata.metadata
        assert CANARY_KEY.encode() not in base64.b64decode(key_value[b"ARROW:schema"])
        assert CANARY_KEY not in str(pq.read_schema(path).metadata)


# --- atomicity ---------------------------------------------------------------------------


def _failing_write_table(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    original = pq.write_table
    calls = []

    def write_table(table: pa.Table, where: Any, **kwargs: Any) -> None:
        calls.append(where)
        if len(calls) == 2:
            raise error
        original(table, where, **kwargs)

    monkeypatch.setattr(pq, "write_table", write_table)


def test_a_full_disk_leaves_the_previous_export_and_names_the_tables_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_parquet(make_frames(), tmp_path)
    before = snapshot(tmp_path)
    _failing_write_table(monkeypatch, OSError(28, "No space left on device"))
    with pytest.raises(ExportError) as info:
        write_parquet(make_frames({"rows": 1, "complete": False}), tmp_path)
    # The file a user knows, never the writer's temporary; words, no "[Errno 28]".
    assert str(info.value) == f"cannot write {tmp_path / 'links.parquet'}: no space left on device"
    assert info.value.path == tmp_path / "links.parquet"
    assert isinstance(info.value.__cause__, OSError)
    assert snapshot(tmp_path) == before  # same names, same bytes, no temporaries
    monkeypatch.undo()
    assert_frames_equal(read_parquet(tmp_path), make_frames())


def test_an_interrupted_write_leaves_the_previous_export_byte_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_parquet(make_frames(), tmp_path)
    before = snapshot(tmp_path)
    _failing_write_table(monkeypatch, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        write_parquet(make_frames({"rows": 1}), tmp_path)
    assert snapshot(tmp_path) == before
    monkeypatch.undo()
    assert_frames_equal(read_parquet(tmp_path), make_frames())


def test_a_failed_first_write_leaves_no_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _failing_write_table(monkeypatch, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        write_parquet(make_frames(), tmp_path / "new")
    assert files(tmp_path / "new") == []


def test_a_failed_commit_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_parquet(make_frames(), tmp_path)
    before = snapshot(tmp_path)

    def replace(source: Any, target: Any) -> None:
        raise PermissionError(13, "Permission denied", str(source))

    # The first rename is the journal's, the commit point: refused, nothing is published.
    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(ExportError, match="permission denied") as info:
        write_parquet(make_frames({"rows": 0}), tmp_path)
    assert ".tmp" not in str(info.value)
    assert "Errno" not in str(info.value)
    assert snapshot(tmp_path) == before


def test_a_rename_that_fails_after_the_commit_is_completed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_parquet(make_frames(), tmp_path)
    newer = make_frames({"rows": 2})
    newer.incidents = newer.incidents.iloc[2:].reset_index(drop=True)
    original, refused = os.replace, []

    def replace(source: Any, target: Any) -> None:
        if str(target).endswith("links.parquet") and not refused:
            refused.append(target)
            raise OSError(5, "Input/output error", str(source))
        original(source, target)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(ExportError) as info:
        write_parquet(newer, tmp_path)
    assert str(info.value) == f"cannot publish {tmp_path / 'links.parquet'}: input/output error"
    # Committed: the writer completed the publication before it reported the failure.
    assert files(tmp_path) == [f"{n}.parquet" for n in NAMES]
    assert_frames_equal(read_parquet(tmp_path), newer)


def test_a_directory_that_cannot_be_created_is_named(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file")
    with pytest.raises(ExportError) as info:
        write_parquet(make_frames(), tmp_path / "taken" / "export")
    assert str(info.value).startswith(f"cannot create the export directory {tmp_path}/taken")
    assert "Errno" not in str(info.value)
    assert (tmp_path / "taken").read_text() == "a file"


def test_a_second_write_replaces_the_export(tmp_path: Path) -> None:
    write_parquet(make_frames(), tmp_path)
    newer = make_frames({"rows": 2})
    newer.incidents = newer.incidents.iloc[2:].reset_index(drop=True)
    write_parquet(newer, tmp_path)
    assert files(tmp_path) == [f"{n}.parquet" for n in NAMES]
    assert_frames_equal(read_parquet(tmp_path), newer)


def test_files_from_two_exports_are_refused(tmp_path: Path) -> None:
    write_parquet(make_frames(), tmp_path / "a")
    write_parquet(make_frames(), tmp_path / "b")
    (tmp_path / "a" / "links.parquet").write_bytes((tmp_path / "b" / "links.parquet").read_bytes())
    with pytest.raises(ExportError, match=r"different exports.*links\.parquet"):
        read_parquet(tmp_path / "a")


# --- DuckDB ------------------------------------------------------------------------------


def test_duckdb_reads_the_files_and_agrees(tmp_path: Path) -> None:
    frames = make_frames()
    write_parquet(frames, tmp_path)
    connection = duckdb.connect()

    def query(sql: str, table: str) -> list[tuple[Any, ...]]:
        # The path is a bound parameter, not pasted into the SQL.
        return connection.execute(sql, [(tmp_path / f"{table}.parquet").as_posix()]).fetchall()

    try:
        for name in NAMES:
            [(count,)] = query("SELECT count(*) FROM read_parquet(?)", name)
            assert count == len(getattr(frames, name))
        rows = query("SELECT status, count(*) FROM read_parquet(?) GROUP BY status", "incidents")
        counts = frames.incidents["status"].value_counts(dropna=False)
        expected = {
            (None if pd.isna(label) else str(label)): int(n) for label, n in counts.items() if n
        }
        assert dict(rows) == expected
        assert expected == {"closed": 1, "archived": 1, None: 1, "open": 1}
        described = query("DESCRIBE SELECT * FROM read_parquet(?)", "incidents")
        types = {column: type_ for column, type_, *_ in described}
        assert types["created_at"] == "TIMESTAMP WITH TIME ZONE"
        assert types["threat_count"] == "BIGINT"
        assert types["status"] == "VARCHAR"
        [(first,)] = query("SELECT created_at FROM read_parquet(?) LIMIT 1", "incidents")
        assert first == datetime(2024, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)
    finally:
        connection.close()


# SPEC: outside pandas, severity_rank sorts severity (1 low .. 4 critical, 0 another label).
_LEVELS = ["critical", "low", "Severe", None, "high", "medium", "LOW"]


def _levels_export(directory: Path) -> IncidentFrames:
    """An export whose threats hold every level, an unknown label and a missing one,
    normalized from payloads as a load would."""
    threats = [
        link(f"l{k}", f"t{k}", threat(f"t{k}", severity=level)) for k, level in enumerate(_LEVELS)
    ]
    with pytest.warns(DataQualityWarning, match="severity"):
        frames = frames_from_pages([page([incident("i1", "2026-01-02T00:00:00Z", *threats)])])
    write_parquet(frames, directory)
    return frames


def test_duckdb_sorts_severity_by_severity_rank(tmp_path: Path) -> None:
    _levels_export(tmp_path)
    path = (tmp_path / "threats.parquet").as_posix()
    connection = duckdb.connect()
    try:
        rows = connection.execute(
            "SELECT severity, severity_rank FROM read_parquet(?) "
            "ORDER BY severity_rank NULLS LAST, threat_id",
            [path],
        ).fetchall()
        assert rows == [
            ("severe", 0), ("low", 1), ("low", 1), ("medium", 2), ("high", 3), ("critical", 4),
            (None, None),
        ]  # fmt: skip
        # Text sorts alphabetically, which is why the rank exists.
        by_text = connection.execute(
            "SELECT DISTINCT severity FROM read_parquet(?) WHERE severity_rank > 0 "
            "ORDER BY severity",
            [path],
        ).fetchall()
        assert [s for (s,) in by_text] == ["critical", "high", "low", "medium"]
        [(above_low,)] = connection.execute(
            "SELECT count(*) FROM read_parquet(?) WHERE severity_rank > 1", [path]
        ).fetchall()
        assert above_low == 3
        described = connection.execute("DESCRIBE SELECT * FROM read_parquet(?)", [path]).fetchall()
        types = {column: type_ for column, type_, *_ in described}
        assert types["severity_rank"] == "TINYINT"
        assert [c for c, *_ in described] == list(helpers.SPEC_COLUMNS["threats"])
    finally:
        connection.close()


def test_pandas_arrow_backend_sorts_by_severity_rank(tmp_path: Path) -> None:
    _levels_export(tmp_path)
    threats = pd.read_parquet(tmp_path / "threats.parquet", dtype_backend="pyarrow")
    assert str(threats["severity_rank"].dtype) == "int8[pyarrow]"
    ordered = threats.sort_values(["severity_rank", "threat_id"], na_position="last")
    assert [None if pd.isna(v) else v for v in ordered["severity"]] == [
        "severe", "low", "low", "medium", "high", "critical", None
    ]  # fmt: skip
    high_or_worse = threats.loc[threats["severity_rank"] >= 3, "severity"]
    assert sorted(high_or_worse) == ["critical", "high"]


# --- bad inputs --------------------------------------------------------------------------


def test_a_frame_missing_a_column_is_refused_by_name(tmp_path: Path) -> None:
    frames = make_frames()
    frames.threats = frames.threats.drop(columns=["lat"])
    with pytest.raises(ValueError, match=r"'threats'.*missing \['lat'\]"):
        write_parquet(frames, tmp_path)
    assert files(tmp_path) == []


def test_a_frame_with_an_extra_column_is_refused_by_name(tmp_path: Path) -> None:
    frames = make_frames()
    frames.links["note"] = "x"
    with pytest.raises(ValueError, match=r"'links'.*unexpected \['note'\]"):
        write_parquet(frames, tmp_path)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    write_parquet(make_frames(), tmp_path)
    (tmp_path / "threats.parquet").unlink()
    with pytest.raises(ExportError, match=r"threats\.parquet: export file not found") as info:
        read_parquet(tmp_path)
    assert info.value.path == tmp_path / "threats.parquet"


def test_a_file_without_our_metadata_is_refused(tmp_path: Path) -> None:
    write_parquet(make_frames(), tmp_path)
    path = tmp_path / "links.parquet"
    pq.write_table(pq.read_table(path).replace_schema_metadata(None), path)
    with pytest.raises(ExportError, match=r"links\.parquet has no 'intrace_analytics' metadata"):
        read_parquet(tmp_path)


def test_a_newer_schema_version_is_refused(tmp_path: Path) -> None:
    write_parquet(make_frames(), tmp_path)
    path = tmp_path / "incidents.parquet"
    table = pq.read_table(path)
    record = json.loads(table.schema.metadata[b"intrace_analytics"])
    record["schema_version"] = schema.SCHEMA_VERSION + 1
    pq.write_table(
        table.replace_schema_metadata({b"intrace_analytics": json.dumps(record).encode()}), path
    )
    with pytest.raises(
        ExportError, match=rf"incidents\.parquet has schema_version {schema.SCHEMA_VERSION + 1}"
    ):
        read_parquet(tmp_path)


def test_a_load_report_using_a_file_key_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"must not use the keys.*\['table'\]"):
        write_parquet(make_frames({"rows": 4, "table": "mine"}), tmp_path)
    assert files(tmp_path) == []


def _as_version_1(directory: Path) -> None:
    """Rewrite an export as intrace_analytics wrote schema version 1: the load report
    nested under ``load_report``, no ``threats.severity_rank``."""
    for name in NAMES:
        path = directory / f"{name}.parquet"
        table = pq.read_table(path)
        record = json.loads(table.schema.metadata[b"intrace_analytics"])
        own = ("export_id", "table", "categories")
        report = {k: v for k, v in record.items() if k not in own}
        old = {
            "schema_version": 1,
            "package_version": "0.1.0",
            "table": record["table"],
            "export_id": record["export_id"],
            "load_report": {**report, "schema_version": 1, "package_version": "0.1.0"},
            "categories": record["categories"],
        }
        if "severity_rank" in table.column_names:
            table = table.drop_columns(["severity_rank"])
        metadata = {b"intrace_analytics": json.dumps(old).encode()}
        pq.write_table(table.replace_schema_metadata(metadata), path, compression="zstd")


def test_a_version_1_export_is_read_and_upgraded(tmp_path: Path) -> None:
    frames = make_frames()
    write_parquet(frames, tmp_path)
    _as_version_1(tmp_path)
    assert "severity_rank" not in pq.read_schema(tmp_path / "threats.parquet").names
    back = read_parquet(tmp_path)
    # The frames of today's schema: severity_rank derived, in its place.
    assert_frames_equal(back, frames)
    assert back.threats.columns.tolist() == list(helpers.SPEC_COLUMNS["threats"])
    # The load report un-nested, as written then.
    assert back.metadata == {**frames.metadata, "schema_version": 1, "package_version": "0.1.0"}
    assert back.metadata["complete"] is True
    # Written again, it is an export of today's version.
    write_parquet(back, tmp_path / "again")
    assert our_metadata(tmp_path / "again" / "threats.parquet")["schema_version"] == 3
    assert_frames_equal(read_parquet(tmp_path / "again"), frames)


def test_a_label_outside_the_recorded_categories_is_refused(tmp_path: Path) -> None:
    write_parquet(make_frames(), tmp_path)
    path = tmp_path / "incidents.parquet"
    table = pq.read_table(path)
    record = json.loads(table.schema.metadata[b"intrace_analytics"])
    record["categories"]["status"] = list(schema.STATUSES)  # "archived" dropped
    pq.write_table(
        table.replace_schema_metadata({b"intrace_analytics": json.dumps(record).encode()}), path
    )
    with pytest.raises(ExportError, match=r"'status' holds \['archived'\]"):
        read_parquet(tmp_path)


def test_swapped_files_are_refused(tmp_path: Path) -> None:
    write_parquet(make_frames(), tmp_path)
    links = (tmp_path / "links.parquet").read_bytes()
    (tmp_path / "links.parquet").write_bytes((tmp_path / "threats.parquet").read_bytes())
    (tmp_path / "threats.parquet").write_bytes(links)
    with pytest.raises(ExportError, match=r"links\.parquet holds table 'threats'"):
        read_parquet(tmp_path)


def test_a_file_that_is_not_parquet_is_refused(tmp_path: Path) -> None:
    write_parquet(make_frames(), tmp_path)
    (tmp_path / "incidents.parquet").write_text("not parquet")
    with pytest.raises(ExportError, match=r"incidents\.parquet is not a readable Parquet file"):
        read_parquet(tmp_path)


# --- tables filled only when a load read sites ------------------------------------------


def test_sites_are_written_and_read_back_when_loaded(tmp_path: Path) -> None:
    frames = with_sites(make_frames())
    write_parquet(frames, tmp_path)
    names = files(tmp_path)
    assert names == sorted(f"{n}.parquet" for n in schema.TABLES)
    assert_frames_equal(read_parquet(tmp_path), frames)


def test_an_export_without_sites_has_three_files_and_typed_empty_site_frames(
    tmp_path: Path,
) -> None:
    write_parquet(with_sites(make_frames()), tmp_path)
    # A later export that did not read sites replaces the earlier one whole: no stale
    # sites from before stay beside it.
    frames = make_frames()
    write_parquet(frames, tmp_path)
    assert files(tmp_path) == sorted(f"{n}.parquet" for n in NAMES)
    back = read_parquet(tmp_path)
    assert_frames_equal(back, frames)
    assert back.assets.empty
    assert list(back.assets.columns) == [c.name for c in schema.ASSETS]


def test_a_missing_sites_file_of_a_load_that_read_sites_is_named(tmp_path: Path) -> None:
    write_parquet(with_sites(make_frames()), tmp_path)
    (tmp_path / "incident_assets.parquet").unlink()
    with pytest.raises(ExportError, match="incident_assets.parquet"):
        read_parquet(tmp_path)
