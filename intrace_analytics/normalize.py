"""Pages → the three tidy frames of SPEC.md, cast through :mod:`intrace_analytics.schema`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["IncidentFrames"]


@dataclass
class IncidentFrames:
    """The incidents, their threat links and the distinct threats, with the load report.

    Attributes
    ----------
    incidents, links, threats
        Tidy frames; columns and dtypes as in :mod:`intrace_analytics.schema`.
    metadata
        The load report (filters, base URL, fetched_at, pages, requests, ..., complete).
    """

    incidents: pd.DataFrame
    links: pd.DataFrame
    threats: pd.DataFrame
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_parquet(self, directory: str | Path) -> Path:
        """Write ``incidents.parquet``, ``links.parquet`` and ``threats.parquet`` atomically."""
        from intrace_analytics.storage import write_parquet

        return write_parquet(self, directory)

    @classmethod
    def read_parquet(cls, directory: str | Path) -> IncidentFrames:
        """Read frames written by :meth:`to_parquet`, dtypes and metadata included."""
        from intrace_analytics.storage import read_parquet

        return read_parquet(directory)
