"""Arrow columns → the schema's pandas dtypes, and the data-quality warnings a typing
and a merge have counted (naive or unparseable timestamps, values outside a documented
set, conflicting spellings, repeated copies), one per field with counts.
"""

from __future__ import annotations

import warnings
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from intrace_analytics._util import arrays
from intrace_analytics.exceptions import DataQualityWarning
from intrace_analytics.frames import _schema as schema

# Used by the merge alone; no other layer types frames.
__all__: list[str] = []


def typed_frame(table: str, columns: dict[str, pa.Array], issues: Counter[str]) -> pd.DataFrame:
    """Arrow arrays → the table's pandas dtypes, exactly as :mod:`schema` says.

    Each array is taken out of ``columns`` as it is converted, so a column that pandas
    copies (timestamps, numbers, categories) is freed before the next one is made.
    """
    data: dict[str, Any] = {}
    for column in schema.TABLES[table]:
        kind = schema.KINDS[column.kind]
        if kind.derived:
            # From the severity's codes (typed just before: it comes first in the table).
            ranked = data[schema.ranked_column(schema.TABLES[table])]
            data[column.name] = schema.severity_rank(ranked).array
        elif kind.categorical:
            data[column.name] = _categorical(column, columns.pop(column.name), issues)
        else:
            data[column.name] = _converted(columns.pop(column.name), schema.pandas_dtype(column))
    # copy=False: the columns are ours alone, so pandas need not copy them into blocks.
    return pd.DataFrame(data, copy=False)


def _converted(values: pa.ChunkedArray, dtype: Any) -> Any:
    """A column of strings, timestamps or numbers as an array of the pandas ``dtype``."""
    if isinstance(dtype, pd.StringDtype):
        if dtype.storage != "python":
            # Arrow-backed strings are large_string: cast here, from our pool, rather
            # than by pandas, from Arrow's default pool.
            values = pc.cast(values, pa.large_string(), memory_pool=arrays.POOL)
        return pd.array(values, dtype=dtype)
    if isinstance(dtype, pd.DatetimeTZDtype):
        return values.to_pandas(memory_pool=arrays.POOL).astype(dtype).array
    return np.asarray(values.to_numpy(), dtype=dtype)


def _categorical(
    column: schema.Column, values: pa.ChunkedArray, issues: Counter[str]
) -> pd.Categorical:
    if not pa.types.is_dictionary(values.type):
        values = pc.dictionary_encode(values, memory_pool=arrays.POOL)

    # Pages encode on their own; map each page's (small) dictionary onto the categories.
    def fold(text: str) -> str:
        # Documented sets are compared case-folded and stripped ("Open " is "open").
        return text.strip().casefold() if column.known else text

    dictionaries = [[fold(t) for t in chunk.dictionary.to_pylist()] for chunk in values.chunks]
    categories = schema.categories_for(column, {t for d in dictionaries for t in d})
    position = {category: i for i, category in enumerate(categories)}
    codes = [
        # Missing is -1, and lookup[-1] is -1: missing stays missing.
        np.array([position[t] for t in d] + [-1], dtype=np.int32)[
            chunk.indices.fill_null(-1).to_numpy(zero_copy_only=False)
        ]
        for d, chunk in zip(dictionaries, values.chunks, strict=True)
    ]
    result = pd.Categorical.from_codes(
        np.concatenate(codes) if codes else np.zeros(0, np.int32),
        dtype=schema.pandas_dtype(column, categories),
    )
    if column.known:
        outside = [c for c in categories if c not in column.known]
        if outside:
            counts = pd.Series(result).value_counts()
            shown = ", ".join(f"{label!r} ({counts[label]})" for label in outside[:5])
            issues[f"{column.name}:outside {shown}"] += int(counts[outside].sum())
    return result


def warn_quality(issues: Counter[str], conflicts: Counter[str]) -> None:
    """One DataQualityWarning per field, with counts."""
    for key, count in sorted(issues.items()):
        if not count:
            continue
        name, _, problem = key.partition(":")
        if problem == "naive":
            text = f"{count} {name} timestamps have no UTC offset; taken as UTC"
        elif problem == "unparseable":
            text = f"{count} {name} timestamps could not be parsed; set to missing (NaT)"
        else:
            column = schema.find_column(name)
            text = (
                f"{count} {name} values outside the documented "
                f"{', '.join(column.known)} kept: {problem.removeprefix('outside ')}"
            )
        warnings.warn(text, DataQualityWarning, stacklevel=4)
    for name, count in sorted(conflicts.items()):
        if not count:
            continue
        if name == "repeated assets":
            text = f"{count} assets are listed more than once; the newest copy of each was kept"
        elif name == "threat copies":
            text = (
                f"{count} threats are embedded with differing copies; the copy from the most "
                "recently updated incident won"
            )
        else:
            text = (
                f"{count} rows carry both spellings of {name!r} with different values; "
                "the snake_case spelling won"
            )
        warnings.warn(text, DataQualityWarning, stacklevel=4)
