"""intrace_analytics: Intrace incidents as tidy pandas frames, Parquet and analysis.

>>> from intrace_analytics import IntraceClient
>>> client = IntraceClient()  # key from INTRACE_API_KEY  # doctest: +SKIP
>>> pages = list(client.iter_incident_pages(status="open"))  # doctest: +SKIP
"""

import importlib
import typing

from intrace_analytics._version import __version__

if typing.TYPE_CHECKING:  # what type checkers and editors see; at run time, _LAZY below
    from intrace_analytics.analysis._sites import asset_exposure, incidents_by_asset
    from intrace_analytics.analysis._status import (
        data_quality,
        incident_severity,
        open_backlog,
        severity_breakdown,
        status_breakdown,
        status_over_time,
    )
    from intrace_analytics.analysis._survival import km_curve, resolution_summary, resolution_times
    from intrace_analytics.api._client import IntraceClient
    from intrace_analytics.api._pages import Page, read_jsonl, write_jsonl
    from intrace_analytics.api._pagination import PageStream
    from intrace_analytics.api._retry import LoadStats
    from intrace_analytics.api._settings import Retries, Timeout
    from intrace_analytics.exceptions import (
        ApiError,
        AuthenticationError,
        CompletenessWarning,
        DataQualityWarning,
        ExportError,
        IntraceError,
        IntraceWarning,
        NetworkError,
        RateLimitError,
        ResponseFormatError,
    )
    from intrace_analytics.frames._container import IncidentFrames, read_parquet
    from intrace_analytics.load._incidents import frames_from_pages, load_incidents
    from intrace_analytics.load._sites import load_assets
    from intrace_analytics.report._html import build_report
    from intrace_analytics.viz._maps import plot_site_map, plot_site_maps, plot_threat_map
    from intrace_analytics.viz._plots import (
        plot_open_backlog,
        plot_resolution_times,
        plot_severity,
        plot_severity_by_type,
        plot_status_breakdown,
    )

__all__ = [
    "ApiError",
    "AuthenticationError",
    "CompletenessWarning",
    "DataQualityWarning",
    "ExportError",
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

# Every export but the version is loaded on first use: pandas, pyarrow, requests and
# matplotlib take a second or more to import, and `intrace-analytics --help`, `--version`
# or a script that only needs the client should not pay for all of them.
# Name → the module that defines it (the TYPE_CHECKING imports above, once more).
_MODULES = {
    "intrace_analytics.analysis._status": (
        "data_quality",
        "incident_severity",
        "open_backlog",
        "severity_breakdown",
        "status_breakdown",
        "status_over_time",
    ),
    "intrace_analytics.api._client": ("IntraceClient",),
    "intrace_analytics.api._settings": ("Retries", "Timeout"),
    "intrace_analytics.exceptions": (
        "ApiError",
        "AuthenticationError",
        "CompletenessWarning",
        "DataQualityWarning",
        "ExportError",
        "IntraceError",
        "IntraceWarning",
        "NetworkError",
        "RateLimitError",
        "ResponseFormatError",
    ),
    "intrace_analytics.frames._container": ("IncidentFrames", "read_parquet"),
    "intrace_analytics.load._incidents": ("frames_from_pages", "load_incidents"),
    "intrace_analytics.load._sites": ("load_assets",),
    "intrace_analytics.viz._maps": ("plot_site_map", "plot_site_maps", "plot_threat_map"),
    "intrace_analytics.api._pages": ("Page", "read_jsonl", "write_jsonl"),
    "intrace_analytics.api._pagination": ("PageStream",),
    "intrace_analytics.viz._plots": (
        "plot_open_backlog",
        "plot_resolution_times",
        "plot_severity",
        "plot_severity_by_type",
        "plot_status_breakdown",
    ),
    "intrace_analytics.report._html": ("build_report",),
    "intrace_analytics.api._retry": ("LoadStats",),
    "intrace_analytics.analysis._sites": ("asset_exposure", "incidents_by_asset"),
    "intrace_analytics.analysis._survival": ("km_curve", "resolution_summary", "resolution_times"),
}
_LAZY = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> object:
    # Not cached in the module's namespace: after the first call the import is a dict
    # lookup, and the namespace keeps holding exactly the eager names.
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'intrace_analytics' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
