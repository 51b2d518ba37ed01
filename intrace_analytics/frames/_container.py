"""The container every later stage takes: one frame per table of :mod:`schema`, plus the
load report.

>>> frames = IncidentFrames.empty()
>>> list(frames.tables())
['incidents', 'links', 'threats']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from intrace_analytics.frames import _schema as schema

__all__ = ["IncidentFrames", "read_parquet"]


@dataclass
class IncidentFrames:
    """The incidents, their threat links, the distinct threats and the monitored sites,
    with the load report.

    One attribute per table of :data:`intrace_analytics.frames._schema.TABLES` (a test holds
    the two in step); a table not loaded is an empty frame of its dtypes.

    Attributes
    ----------
    incidents, links, threats
        Tidy frames; columns and dtypes as in :mod:`intrace_analytics.frames._schema`.
    assets, incident_assets
        The monitored sites and which incidents touch each; empty (typed) unless the
        load read sites (``metadata["assets_loaded"]``).
    metadata
        The load report (filters, base URL, fetched_at, pages, requests, ..., complete).
    """

    incidents: pd.DataFrame = field(default_factory=partial(schema.empty_frame, "incidents"))
    links: pd.DataFrame = field(default_factory=partial(schema.empty_frame, "links"))
    threats: pd.DataFrame = field(default_factory=partial(schema.empty_frame, "threats"))
    metadata: dict[str, Any] = field(default_factory=dict)
    # Keyword-only, so IncidentFrames(incidents, links, threats, metadata) keeps working.
    assets: pd.DataFrame = field(
        default_factory=partial(schema.empty_frame, "assets"), kw_only=True
    )
    incident_assets: pd.DataFrame = field(
        default_factory=partial(schema.empty_frame, "incident_assets"), kw_only=True
    )

    @classmethod
    def empty(cls, metadata: Mapping[str, Any] | None = None) -> IncidentFrames:
        """Frames with no rows, every table typed."""
        return cls(metadata=dict(metadata or {}))

    @classmethod
    def from_tables(
        cls, tables: Mapping[str, pd.DataFrame], metadata: Mapping[str, Any] | None = None
    ) -> IncidentFrames:
        """Frames from ``{table name: frame}``; tables not given are empty."""
        unknown = sorted(set(tables) - set(schema.TABLES))
        if unknown:
            raise ValueError(f"tables must be among {list(schema.TABLES)}; got {unknown}")
        return cls(**tables, metadata=dict(metadata or {}))

    def tables(self) -> dict[str, pd.DataFrame]:
        """``{table name: frame}`` in the schema's order."""
        return {name: getattr(self, name) for name in schema.TABLES}

    def to_parquet(self, directory: str | Path) -> Path:
        """Write one Parquet file per table to ``directory``, atomically.

        See :func:`intrace_analytics.export._parquet.write_parquet`.
        """
        # Deferred: the export layer sits above the frames it writes (pandas' to_parquet
        # hands over to pandas.io the same way).
        from intrace_analytics.export._parquet import write_parquet

        return write_parquet(self, directory)

    @classmethod
    def read_parquet(cls, directory: str | Path) -> IncidentFrames:
        """Read frames written by :meth:`to_parquet`, dtypes and metadata included.

        See :func:`intrace_analytics.export._parquet.read_tables`.
        """
        from intrace_analytics.export._parquet import read_tables

        tables, metadata = read_tables(directory)
        return cls.from_tables(tables, metadata)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{name}={len(frame)}" for name, frame in self.tables().items())
        return f"IncidentFrames({sizes}, complete={self.metadata.get('complete')})"


def read_parquet(directory: str | Path) -> IncidentFrames:
    """Read an export written by :meth:`IncidentFrames.to_parquet` back into frames.

    Columns come back in the schema's order with exactly the schema's dtypes, rows in
    the order written, the load report as ``metadata``.

    Parameters
    ----------
    directory
        The export directory (``incidents.parquet``, ``links.parquet``, ...).

    Returns
    -------
    IncidentFrames

    Raises
    ------
    FileNotFoundError, ValueError
        A file is missing, unreadable, not ours, of another schema version or export;
        see :func:`intrace_analytics.export._parquet.read_tables`, the message names the file.

    Examples
    --------
    >>> frames = read_parquet("exports/open")  # doctest: +SKIP
    >>> frames.metadata["complete"]  # doctest: +SKIP
    True
    """
    return IncidentFrames.read_parquet(directory)
