"""intrace_analytics: Intrace incidents as tidy pandas frames, Parquet and analysis.

>>> from intrace_analytics import IntraceClient
>>> client = IntraceClient()  # key from INTRACE_API_KEY  # doctest: +SKIP
>>> pages = list(client.iter_incident_pages(status="open"))  # doctest: +SKIP
"""

import importlib

from intrace_analytics._version import __version__
from intrace_analytics.analysis import (
    data_quality,
    incident_severity,
    open_backlog,
    severity_breakdown,
    status_breakdown,
    status_over_time,
)
from intrace_analytics.client import IntraceClient
from intrace_analytics.config import Retries, Timeout
from intrace_analytics.exceptions import (
    ApiError,
    AuthenticationError,
    CompletenessWarning,
    DataQualityWarning,
    IntraceError,
    IntraceWarning,
    NetworkError,
    RateLimitError,
    ResponseFormatError,
)
from intrace_analytics.frames import IncidentFrames, read_parquet
from intrace_analytics.load import frames_from_pages, load_incidents
from intrace_analytics.load_sites import load_assets
from intrace_analytics.pages import Page, read_jsonl, write_jsonl
from intrace_analytics.pagination import PageStream
from intrace_analytics.retry import LoadStats
from intrace_analytics.sites import asset_exposure, incidents_by_asset
from intrace_analytics.survival import km_curve, resolution_summary, resolution_times

__all__ = [
    "ApiError",
    "AuthenticationError",
    "CompletenessWarning",
    "DataQualityWarning",
    "IncidentFrames",
    "IntraceClient",
    "IntraceError",
    "IntraceWarning",
    "LoadStats",
    "NetworkError",
    "Page",
    "PageStream",
    "RateLimitError",
    "ResponseFormatError",
    "Retries",
    "Timeout",
    "__version__",
    "asset_exposure",
    "build_report",
    "data_quality",
    "frames_from_pages",
    "incident_severity",
    "incidents_by_asset",
    "km_curve",
    "load_assets",
    "load_incidents",
    "open_backlog",
    "plot_open_backlog",
    "plot_resolution_times",
    "plot_severity",
    "plot_severity_by_type",
    "plot_site_map",
    "plot_site_maps",
    "plot_status_breakdown",
    "plot_threat_map",
    "read_jsonl",
    "read_parquet",
    "resolution_summary",
    "resolution_times",
    "severity_breakdown",
    "status_breakdown",
    "status_over_time",
    "write_jsonl",
]

# Plot helpers and the report import matplotlib; load them on first use so that the
# command line and plain data loads start without it. Name → the module that defines it.
_MAPS = ("plot_site_map", "plot_site_maps", "plot_threat_map")
_LAZY = {
    **{
        n: "intrace_analytics.plotting" for n in __all__ if n.startswith("plot_") and n not in _MAPS
    },
    **dict.fromkeys(_MAPS, "intrace_analytics.maps"),  # overrides the line above
    "build_report": "intrace_analytics.report",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'intrace_analytics' has no attribute {name!r}")
