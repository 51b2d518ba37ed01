"""The three tidy tables, defined once: columns, keys and types for pandas and for Arrow.

Nothing in the package relies on dtype inference: normalization casts through
:func:`pandas_dtype`, Parquet is written with :func:`arrow_schema`, and reading back
restores the categories recorded at write time.

>>> [column.name for column in TABLES["links"]]
['link_id', 'incident_id', 'threat_id', 'added_at']
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import pandas as pd
import pyarrow as pa

__all__ = [
    "INCIDENTS",
    "KEYS",
    "LINKS",
    "SCHEMA_VERSION",
    "SCOPES",
    "SEVERITIES",
    "STATUSES",
    "TABLES",
    "THREATS",
    "TIMESTAMP_UNIT",
    "Column",
    "Kind",
    "arrow_schema",
    "arrow_type",
    "categories_for",
    "empty_frame",
    "pandas_dtype",
]

#: Bumped whenever a column, type or meaning changes; written into every Parquet file.
SCHEMA_VERSION = 1

STATUSES = ("open", "closed", "resolved")
SCOPES = ("investigation", "aggregate")
SEVERITIES = ("low", "medium", "high", "critical")

#: Microseconds: what Parquet readers everywhere (DuckDB, Polars, Spark) take as a
#: timestamp with time zone. Finer fractions than a microsecond are truncated.
TIMESTAMP_UNIT = "us"


class Kind(StrEnum):
    """How a column is typed."""

    STRING = "string"  #: pandas' string dtype, missing is NA
    TIMESTAMP = "timestamp"  #: datetime64[us, UTC], missing is NaT
    CATEGORY = "category"  #: unordered categorical, known values first
    SEVERITY = "severity"  #: ordered categorical, unknown values below the known ones
    FLOAT = "float"  #: float64, missing is NaN
    INT = "int"  #: int64, never missing


@dataclass(frozen=True)
class Column:
    """One column of a table.

    Attributes
    ----------
    name
        The column's name in frames and in Parquet.
    kind
        Its type (see :class:`Kind`).
    known
        For categoricals: the documented values, in their documented order.
    """

    name: str
    kind: Kind
    known: tuple[str, ...] = ()


INCIDENTS: tuple[Column, ...] = (
    Column("incident_id", Kind.STRING),
    Column("title", Kind.STRING),
    Column("status", Kind.CATEGORY, STATUSES),
    Column("scope", Kind.CATEGORY, SCOPES),
    Column("description", Kind.STRING),
    Column("created_at", Kind.TIMESTAMP),
    Column("updated_at", Kind.TIMESTAMP),
    Column("started_at", Kind.TIMESTAMP),
    Column("resolved_at", Kind.TIMESTAMP),
    Column("threat_count", Kind.INT),
)

LINKS: tuple[Column, ...] = (
    Column("link_id", Kind.STRING),
    Column("incident_id", Kind.STRING),
    Column("threat_id", Kind.STRING),
    Column("added_at", Kind.TIMESTAMP),
)

THREATS: tuple[Column, ...] = (
    Column("threat_id", Kind.STRING),
    Column("title", Kind.STRING),
    Column("severity", Kind.SEVERITY, SEVERITIES),
    Column("threat_type", Kind.CATEGORY),
    Column("location", Kind.STRING),
    Column("observed_at", Kind.TIMESTAMP),
    Column("lat", Kind.FLOAT),
    Column("lng", Kind.FLOAT),
)

TABLES: dict[str, tuple[Column, ...]] = {
    "incidents": INCIDENTS,
    "links": LINKS,
    "threats": THREATS,
}

#: Each table's unique key.
KEYS = {"incidents": "incident_id", "links": "link_id", "threats": "threat_id"}


def categories_for(column: Column, observed: Iterable[object] = ()) -> list[str]:
    """The categories of a categorical column: documented values and the others seen.

    Known values keep their documented order. Values outside the set are kept, sorted:
    after the known ones for plain categoricals, and *below* ``low`` for severity, so an
    unexpected label never outranks a documented level.
    """
    known = list(column.known)
    extra = sorted({str(v) for v in observed if v is not None and not pd.isna(v)} - set(known))
    return extra + known if column.kind is Kind.SEVERITY else known + extra


def pandas_dtype(column: Column, categories: Iterable[str] | None = None) -> object:
    """The pandas dtype of a column (categoricals need their categories)."""
    if column.kind is Kind.STRING:
        return pd.StringDtype()
    if column.kind is Kind.TIMESTAMP:
        return pd.DatetimeTZDtype(unit=TIMESTAMP_UNIT, tz="UTC")
    if column.kind is Kind.FLOAT:
        return "float64"
    if column.kind is Kind.INT:
        return "int64"
    cats = list(column.known) if categories is None else list(categories)
    return pd.CategoricalDtype(cats, ordered=column.kind is Kind.SEVERITY)


def arrow_type(column: Column) -> pa.DataType:
    """The Arrow type of a column, as written to Parquet."""
    if column.kind is Kind.STRING:
        return pa.string()
    if column.kind is Kind.TIMESTAMP:
        return pa.timestamp(TIMESTAMP_UNIT, tz="UTC")
    if column.kind is Kind.FLOAT:
        return pa.float64()
    if column.kind is Kind.INT:
        return pa.int64()
    return pa.dictionary(pa.int32(), pa.string(), ordered=column.kind is Kind.SEVERITY)


def arrow_schema(table: str) -> pa.Schema:
    """The explicit Arrow schema of ``"incidents"``, ``"links"`` or ``"threats"``."""
    return pa.schema(
        [pa.field(c.name, arrow_type(c), nullable=c.kind is not Kind.INT) for c in TABLES[table]]
    )


def empty_frame(table: str) -> pd.DataFrame:
    """A typed frame of the table with no rows."""
    return pd.DataFrame({c.name: pd.Series([], dtype=pandas_dtype(c)) for c in TABLES[table]})
