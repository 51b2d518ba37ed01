"""The tables are defined once; pandas and Arrow types follow from the same definition."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from intrace_analytics.frames import _schema as schema


def test_columns_are_those_of_the_spec() -> None:
    assert [c.name for c in schema.INCIDENTS] == [
        "incident_id", "title", "status", "scope", "description",
        "created_at", "updated_at", "started_at", "resolved_at", "threat_count",
    ]  # fmt: skip
    assert [c.name for c in schema.LINKS] == ["link_id", "incident_id", "threat_id", "added_at"]
    assert [c.name for c in schema.THREATS] == [
        "threat_id", "title", "severity", "severity_rank", "threat_type", "location",
        "observed_at", "lat", "lng",
    ]  # fmt: skip
    assert [c.name for c in schema.ASSETS] == [
        "asset_id", "name", "type", "role", "site_status", "country", "address", "lat", "lng",
        "monitoring_radius_km", "created_at", "updated_at", "asset_uuid",
    ]  # fmt: skip
    assert [c.name for c in schema.INCIDENT_ASSETS] == ["incident_id", "asset_id"]
    assert schema.KEYS == {
        "incidents": "incident_id",
        "links": "link_id",
        "threats": "threat_id",
        "assets": "asset_id",
        "incident_assets": ("incident_id", "asset_id"),
    }


def test_sites_tables_are_filled_only_when_a_load_read_sites() -> None:
    for name in ("incidents", "links", "threats"):
        assert schema.TABLES[name].loaded({})
    for name in ("assets", "incident_assets"):
        assert not schema.TABLES[name].loaded({})
        assert not schema.TABLES[name].loaded({"assets_loaded": False})
        assert schema.TABLES[name].loaded({"assets_loaded": True})


def test_a_key_must_be_among_the_columns() -> None:
    with pytest.raises(ValueError, match="'nope'"):
        schema.Table("t", "nope", [schema.Column("a", schema.Kind.STRING)])


def test_every_api_spelling_of_a_two_way_field_maps_to_snake_case() -> None:
    assert schema.SNAKE_CASE["threatLinks"] == "threat_links"
    assert schema.SNAKE_CASE["createdAt"] == "created_at"
    assert schema.SNAKE_CASE["monitoringRadiusKm"] == "monitoring_radius_km"
    assert all(snake != camel for camel, snake in schema.SNAKE_CASE.items())


@pytest.mark.parametrize("table", list(schema.TABLES))
def test_empty_frames_and_arrow_schemas_agree(table: str) -> None:
    frame = schema.empty_frame(table)
    arrow = schema.arrow_schema(table)
    assert list(frame.columns) == arrow.names
    assert isinstance(frame.index, pd.RangeIndex)
    for column in schema.TABLES[table]:
        dtype = frame[column.name].dtype
        field = arrow.field(column.name)
        if column.kind is schema.Kind.STRING:
            assert dtype == pd.StringDtype()
            assert field.type == pa.string()
        elif column.kind is schema.Kind.TIMESTAMP:
            assert str(dtype) == "datetime64[us, UTC]"
            assert field.type == pa.timestamp("us", tz="UTC")
        elif column.kind in (schema.Kind.CATEGORY, schema.Kind.SEVERITY):
            assert isinstance(dtype, pd.CategoricalDtype)
            assert dtype.ordered == (column.kind is schema.Kind.SEVERITY)
            assert pa.types.is_dictionary(field.type)
        elif column.kind is schema.Kind.SEVERITY_RANK:
            assert dtype == pd.Int8Dtype()
            assert field.type == pa.int8()
            assert field.nullable


def test_known_categories_first_and_unknown_after() -> None:
    status = schema.INCIDENTS[2]
    got = schema.categories_for(status, ["closed", "archived", None, "open", "draft"])
    assert got == ["open", "closed", "resolved", "archived", "draft"]


def test_unknown_severities_rank_below_low() -> None:
    severity = schema.THREATS[2]
    categories = schema.categories_for(severity, ["severe", "high", "unknown"])
    assert categories == ["severe", "unknown", "low", "medium", "high", "critical"]
    values = pd.Series(
        ["severe", "low", "critical"], dtype=schema.pandas_dtype(severity, categories)
    )
    assert values.max() == "critical"
    assert values.min() == "severe"
    assert (values < "low").tolist() == [True, False, False]


def test_schema_version_is_3() -> None:
    # 2: threats.severity_rank and the flat Parquet metadata; 3: assets.site_status
    # (storage reads 1 and 2 too).
    assert schema.SCHEMA_VERSION == 3


def test_severity_rank_follows_the_documented_levels() -> None:
    severity = schema.THREATS.column("severity")
    categories = schema.categories_for(severity, ["severe", "high", "low", "critical", "medium"])
    values = pd.Series(
        ["medium", "severe", None, "critical", "low", "high", None],
        dtype=schema.pandas_dtype(severity, categories),
    )
    ranks = schema.severity_rank(values)
    assert ranks.dtype == pd.Int8Dtype()
    assert ranks.name == "severity_rank"
    assert ranks.tolist() == [2, 0, pd.NA, 4, 1, 3, pd.NA]
    # Sorting by the rank sorts by the severity: the same order, NA last.
    by_rank = values.iloc[ranks.sort_values(kind="stable").index].tolist()
    assert by_rank == values.sort_values(kind="stable").tolist()
    # Plain labels rank the same way, compared case-folded and stripped.
    plain = schema.severity_rank(pd.Series(["High ", "LOW", "extreme", None], index=[5, 6, 7, 8]))
    assert plain.tolist() == [3, 1, 0, pd.NA]
    assert plain.index.tolist() == [5, 6, 7, 8]
    assert schema.severity_rank(pd.Series([], dtype="object")).dtype == pd.Int8Dtype()
