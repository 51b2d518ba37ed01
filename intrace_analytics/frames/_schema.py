"""Every table, declared once: columns, keys, types for pandas and Arrow, and the API's
spellings of each field (the one field map).

Nothing in the package relies on dtype inference: normalization casts through
:func:`pandas_dtype`, Parquet is written with :func:`arrow_schema`, and reading back
restores the categories recorded at write time.

>>> [column.name for column in TABLES["links"]]
['link_id', 'incident_id', 'threat_id', 'added_at']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import overload

import numpy as np
import pandas as pd
import pyarrow as pa

from intrace_analytics.api._endpoints import SCOPES, STATUSES

__all__ = [
    "ASSETS",
    "INCIDENTS",
    "INCIDENT_ASSETS",
    "KEYS",
    "KINDS",
    "METADATA_KEY",
    "SCHEMA_VERSION",
    "SCOPES",
    "SEVERITIES",
    "STATUSES",
    "TABLES",
    "THREATS",
    "TIMESTAMP_UNIT",
    "Column",
    "Kind",
    "KindTypes",
    "Table",
    "arrow_schema",
    "categories_for",
    "empty_frame",
    "pandas_dtype",
    "ranked_column",
    "severity_rank",
]

#: The Parquet schema-metadata key under which each file of an export carries its JSON
#: record (the load report and the file's own keys).
METADATA_KEY = b"intrace_analytics"

#: Bumped whenever a column, type or meaning changes; written into every Parquet file.
#: 2: ``threats.severity_rank`` added; the Parquet metadata holds the load report's keys at
#: its top level (version 1 nested them under ``load_report``).
#: 3: ``assets.status`` is ``assets.site_status``, so that no column name means two
#: things across tables (``incidents.status`` is the incident's).
SCHEMA_VERSION = 3

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
    #: Int8, the place of the table's ``severity`` for readers without ordered categories
    #: (SQL engines, Polars, Arrow): computed from it while typing, never parsed
    SEVERITY_RANK = "severity_rank"
    FLOAT = "float"  #: float64, missing is NaN
    INT = "int"  #: int64, never missing


@dataclass(frozen=True)
class KindTypes:
    """What a kind of column is at each stage: read from a page, parsed, in pandas, in
    Parquet. Every stage looks its column's kind up in :data:`KINDS`, here alone.

    Attributes
    ----------
    payload
        How Arrow's JSON reader reads the API's field.
    parsed
        A page's column after parsing, before typing (timestamps parsed).
    arrow
        The column in Parquet and in the Arrow schema of an export.
    pandas
        The pandas dtype, given the categories (ignored unless ``categorical``).
    categorical
        Typed as a categorical whose categories are the documented values and those seen.
    derived
        Computed while typing from another column of the table, never read from the API.
    nullable
        Whether the column may hold missing values.
    """

    payload: pa.DataType
    parsed: pa.DataType
    arrow: pa.DataType
    pandas: Callable[[list[str]], object]
    categorical: bool = False
    derived: bool = False
    nullable: bool = True


_STRING = pa.string()
_TIMESTAMP = pa.timestamp(TIMESTAMP_UNIT, tz="UTC")

#: Each kind's types at every stage: the one table the parse, the merge, the typing and
#: the Parquet export dispatch on.
KINDS: dict[Kind, KindTypes] = {
    Kind.STRING: KindTypes(_STRING, _STRING, _STRING, lambda _: pd.StringDtype()),
    Kind.TIMESTAMP: KindTypes(
        _STRING,
        _TIMESTAMP,
        _TIMESTAMP,
        lambda _: pd.DatetimeTZDtype(unit=TIMESTAMP_UNIT, tz="UTC"),
    ),
    Kind.CATEGORY: KindTypes(
        _STRING,
        _STRING,
        pa.dictionary(pa.int32(), _STRING),
        lambda categories: pd.CategoricalDtype(categories, ordered=False),
        categorical=True,
    ),
    Kind.SEVERITY: KindTypes(
        _STRING,
        _STRING,
        pa.dictionary(pa.int32(), _STRING, ordered=True),
        lambda categories: pd.CategoricalDtype(categories, ordered=True),
        categorical=True,
    ),
    Kind.SEVERITY_RANK: KindTypes(
        pa.int8(), pa.int8(), pa.int8(), lambda _: pd.Int8Dtype(), derived=True
    ),
    Kind.FLOAT: KindTypes(pa.float64(), pa.float64(), pa.float64(), lambda _: np.dtype("float64")),
    Kind.INT: KindTypes(
        pa.int64(), pa.int64(), pa.int64(), lambda _: np.dtype("int64"), nullable=False
    ),
}


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
    api
        The API's spellings of the field this column is read from, snake_case first
        (``("created_at", "createdAt")``); a dotted spelling reaches into a nested object
        (``"coordinates.lat"``). Empty for a column the package derives (``threat_count``,
        a link's ``incident_id``).
    """

    name: str
    kind: Kind
    known: tuple[str, ...] = ()
    api: tuple[str, ...] = ()


class Table(Sequence[Column]):
    """One tidy table: its name, its unique key and its columns, in order.

    A table is a sequence of its columns, so ``[c.name for c in TABLES["links"]]`` lists
    them. Declaring a table here is what every later stage reads: the normalizer's typing,
    Parquet schemas and file names, reading back, empty frames.

    Parameters
    ----------
    name
        The table's name: the frame's attribute and the Parquet file's stem.
    key
        The column, or columns, unique per row.
    columns
        The columns, in order.
    loaded_flag
        For a table that a load fills only on request (sites): the load report's key that
        says whether it was loaded. Its Parquet file exists only when it was.
    """

    def __init__(
        self,
        name: str,
        key: str | tuple[str, ...],
        columns: Iterable[Column],
        *,
        loaded_flag: str | None = None,
    ) -> None:
        self.name = name
        self.key = key
        self.columns = tuple(columns)
        self.loaded_flag = loaded_flag
        names = {c.name for c in self.columns}
        if not set(self.key_columns) <= names:
            raise ValueError(f"table {name!r}: key {key!r} is not among its columns")

    @property
    def key_columns(self) -> tuple[str, ...]:
        """The key as a tuple of column names."""
        return (self.key,) if isinstance(self.key, str) else self.key

    def loaded(self, metadata: Mapping[str, object]) -> bool:
        """Whether a load with this report filled the table (always, unless optional)."""
        return self.loaded_flag is None or bool(metadata.get(self.loaded_flag))

    @overload
    def __getitem__(self, index: int) -> Column: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Column]: ...
    def __getitem__(self, index: int | slice) -> Column | Sequence[Column]:
        return self.columns[index]

    def __len__(self) -> int:
        return len(self.columns)

    def __repr__(self) -> str:
        return f"Table({self.name!r}, key={self.key!r}, columns={[c.name for c in self]})"

    def column(self, name: str) -> Column:
        """The column called ``name``."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"table {self.name!r} has no column {name!r}")


def _snake_camel(snake: str) -> tuple[str, str]:
    """A field the API spells both ways: ``("created_at", "createdAt")``."""
    head, *rest = snake.split("_")
    return snake, head + "".join(part.capitalize() for part in rest)


# -- the payload's containers (the API's spellings of the fields that nest) -------------

#: An incident's list of links.
THREAT_LINKS = _snake_camel("threat_links")
#: A link's embedded threat (may be absent).
EMBEDDED_THREAT = ("threat",)

INCIDENTS = Table(
    "incidents",
    "incident_id",
    (
        Column("incident_id", Kind.STRING, api=("id",)),
        Column("title", Kind.STRING, api=("title",)),
        Column("status", Kind.CATEGORY, STATUSES, api=("status",)),
        Column("scope", Kind.CATEGORY, SCOPES, api=("scope",)),
        Column("description", Kind.STRING, api=("description",)),
        Column("created_at", Kind.TIMESTAMP, api=_snake_camel("created_at")),
        Column("updated_at", Kind.TIMESTAMP, api=_snake_camel("updated_at")),
        Column("started_at", Kind.TIMESTAMP, api=_snake_camel("started_at")),
        Column("resolved_at", Kind.TIMESTAMP, api=_snake_camel("resolved_at")),
        Column("threat_count", Kind.INT),  # the number of links
    ),
)

LINKS = Table(
    "links",
    "link_id",
    (
        Column("link_id", Kind.STRING, api=("id",)),
        Column("incident_id", Kind.STRING),  # the incident that lists the link
        # Else the embedded threat's own id.
        Column("threat_id", Kind.STRING, api=_snake_camel("threat_id")),
        Column("added_at", Kind.TIMESTAMP, api=_snake_camel("added_at")),
    ),
)

THREATS = Table(
    "threats",
    "threat_id",
    (
        Column("threat_id", Kind.STRING, api=("id",)),
        Column("title", Kind.STRING, api=("title",)),
        Column("severity", Kind.SEVERITY, SEVERITIES, api=("severity",)),
        Column("severity_rank", Kind.SEVERITY_RANK),  # derived from severity
        Column("threat_type", Kind.CATEGORY, api=_snake_camel("threat_type")),
        Column("location", Kind.STRING, api=("location",)),
        Column("observed_at", Kind.TIMESTAMP, api=_snake_camel("observed_at")),
        Column("lat", Kind.FLOAT, api=("coordinates.lat",)),
        Column("lng", Kind.FLOAT, api=("coordinates.lng",)),
    ),
)

ASSETS = Table(
    "assets",
    "asset_id",
    (
        Column("asset_id", Kind.STRING, api=_snake_camel("asset_id")),
        Column("name", Kind.STRING, api=("name",)),
        Column("type", Kind.CATEGORY, api=("type",)),
        Column("role", Kind.STRING, api=("role",)),
        # The API's asset "status" (active, archived): the site's, not an incident's.
        Column("site_status", Kind.CATEGORY, api=("status",)),
        Column("country", Kind.STRING, api=("attributes.country",)),
        Column("address", Kind.STRING, api=("attributes.address",)),
        Column("lat", Kind.FLOAT, api=("attributes.lat",)),
        Column("lng", Kind.FLOAT, api=("attributes.lng",)),
        Column(
            "monitoring_radius_km",
            Kind.FLOAT,
            api=tuple(f"attributes.{s}" for s in _snake_camel("monitoring_radius_km")),
        ),
        Column("created_at", Kind.TIMESTAMP, api=_snake_camel("created_at")),
        Column("updated_at", Kind.TIMESTAMP, api=_snake_camel("updated_at")),
        Column("asset_uuid", Kind.STRING, api=("id",)),
    ),
    loaded_flag="assets_loaded",
)

#: Which loaded incidents touch which site: learnt from the ``asset_id`` filter of
#: ``GET /v1/incidents``, one site at a time (incident payloads do not name sites).
INCIDENT_ASSETS = Table(
    "incident_assets",
    ("incident_id", "asset_id"),
    (Column("incident_id", Kind.STRING), Column("asset_id", Kind.STRING)),
    loaded_flag="assets_loaded",
)

#: Every table, by name, in the order they are written and listed.
TABLES: dict[str, Table] = {
    table.name: table for table in (INCIDENTS, LINKS, THREATS, ASSETS, INCIDENT_ASSETS)
}

#: Each table's unique key.
KEYS = {name: table.key for name, table in TABLES.items()}

#: camelCase spelling → snake_case spelling, for every field the API spells both ways.
SNAKE_CASE: dict[str, str] = {
    camel.rpartition(".")[2]: snake.rpartition(".")[2]
    for spellings in (
        THREAT_LINKS,
        *(c.api for t in TABLES.values() for c in t if len(c.api) == 2),
    )
    for snake, camel in [spellings]
}


def find_column(name: str) -> Column:
    """The first column called ``name`` in any table (for messages about a field)."""
    for table in TABLES.values():
        for column in table:
            if column.name == name:
                return column
    raise KeyError(name)


def categories_for(column: Column, observed: Iterable[object] = ()) -> list[str]:
    """The categories of a categorical column: documented values and the others seen.

    Known values keep their documented order. Values outside the set are kept, sorted:
    after the known ones for plain categoricals, and *below* ``low`` for severity, so an
    unexpected label never outranks a documented level.
    """
    known = list(column.known)
    extra = sorted({str(v) for v in observed if v is not None and not pd.isna(v)} - set(known))
    return extra + known if column.kind is Kind.SEVERITY else known + extra


def severity_rank(severity: pd.Series | pd.Categorical) -> pd.Series:
    """Each severity's place, as ``threats.severity_rank``: 1 ``low``, 2 ``medium``,
    3 ``high``, 4 ``critical``, 0 a label outside that set, ``NA`` when missing.

    Vectorised over the categorical's codes (one lookup per category, not per row);
    labels are compared case-folded and stripped, as normalization compares them.

    >>> severity_rank(pd.Series(["high", "severe", None, "low"])).tolist()
    [3, 0, <NA>, 1]
    """
    values = severity if isinstance(severity, pd.Categorical) else pd.Series(severity).array
    if not isinstance(values, pd.Categorical):
        values = pd.Categorical(values)
    places = {label: place for place, label in enumerate(SEVERITIES, start=1)}
    lookup = np.array(
        [places.get(str(c).strip().casefold(), 0) for c in values.categories] + [0],
        dtype=np.int8,
    )
    codes = np.asarray(values.codes)
    ranks = pd.arrays.IntegerArray(lookup[codes], mask=codes < 0)
    index = severity.index if isinstance(severity, pd.Series) else None
    return pd.Series(ranks, index=index, name="severity_rank", dtype=pd.Int8Dtype())


def ranked_column(table: Table) -> str:
    """The name of the severity column that a table's ``SEVERITY_RANK`` column ranks."""
    return next(c.name for c in table if c.kind is Kind.SEVERITY)


def pandas_dtype(column: Column, categories: Iterable[str] | None = None) -> object:
    """The pandas dtype of a column (categoricals need their categories: by default the
    documented ones)."""
    return KINDS[column.kind].pandas(list(column.known if categories is None else categories))


def arrow_schema(table: str) -> pa.Schema:
    """The explicit Arrow schema of a table (``"incidents"``, ...), as written to Parquet."""
    return pa.schema(
        [
            pa.field(c.name, KINDS[c.kind].arrow, nullable=KINDS[c.kind].nullable)
            for c in TABLES[table]
        ]
    )


def empty_frame(table: str) -> pd.DataFrame:
    """A typed frame of the table with no rows."""
    return pd.DataFrame({c.name: pd.Series([], dtype=pandas_dtype(c)) for c in TABLES[table]})
