"""The tables are defined once; pandas and Arrow types follow from the same definition."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from intrace_analytics import schema


def test_columns_are_those_of_the_spec() -> None:
    assert [c.name for c in schema.INCIDENTS] == [
        "incident_id", "title", "status", "scope", "description",
        "created_at", "updated_at", "started_at", "resolved_at", "threat_count",
    ]  # fmt: skip
    assert [c.name for c in schema.LINKS] == ["link_id", "incident_id", "threat_id", "added_at"]
    assert [c.name for c in schema.THREATS] == [
        "threat_id", "title", "severity", "threat_type", "location", "observed_at", "lat", "lng",
    ]  # fmt: skip
    assert schema.KEYS == {"incidents": "incident_id", "links": "link_id", "threats": "threat_id"}


@pytest.mark.parametrize("table", ["incidents", "links", "threats"])
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
