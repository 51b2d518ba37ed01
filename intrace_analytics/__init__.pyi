"""What ``intrace_analytics`` exports: the one list of its public names and where each is
defined. Type checkers and editors read this file; at run time ``__init__.py`` reads the same
imports and performs each on first use (see there).
"""

from intrace_analytics._version import __version__
from intrace_analytics.analysis._sites import (
    asset_exposure,
    incidents_by_asset,
)
from intrace_analytics.analysis._status import (
    data_quality,
    incident_severity,
    open_backlog,
    severity_breakdown,
    status_breakdown,
    status_over_time,
)
from intrace_analytics.analysis._survival import (
    km_curve,
    resolution_summary,
    resolution_times,
)
from intrace_analytics.api._client import IntraceClient
from intrace_analytics.api._pages import (
    Page,
    read_jsonl,
    write_jsonl,
)
from intrace_analytics.api._pagination import PageStream
from intrace_analytics.api._retry import LoadStats
from intrace_analytics.api._settings import (
    Retries,
    Timeout,
)
from intrace_analytics.exceptions import (
    ApiError,
    AuthenticationError,
    CompletenessWarning,
    DataQualityWarning,
    ExportError,
    IncompleteLoadError,
    IntraceError,
    IntraceWarning,
    NetworkError,
    RateLimitError,
    ResponseFormatError,
)
from intrace_analytics.frames._container import (
    IncidentFrames,
    read_parquet,
)
from intrace_analytics.history._history import History
from intrace_analytics.load._incidents import (
    frames_from_pages,
    load_incidents,
)
from intrace_analytics.load._sites import load_assets
from intrace_analytics.report._html import build_report
from intrace_analytics.viz._maps import (
    plot_site_map,
    plot_site_maps,
    plot_threat_map,
)
from intrace_analytics.viz._plots import (
    plot_open_backlog,
    plot_resolution_times,
    plot_severity,
    plot_severity_by_type,
    plot_status_breakdown,
)
from intrace_analytics.viz._trend import plot_trend

__all__ = [
    "ApiError",
    "AuthenticationError",
    "CompletenessWarning",
    "DataQualityWarning",
    "ExportError",
    "History",
    "IncidentFrames",
    "IncompleteLoadError",
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
    "plot_trend",
    "read_jsonl",
    "read_parquet",
    "resolution_summary",
    "resolution_times",
    "severity_breakdown",
    "status_breakdown",
    "status_over_time",
    "write_jsonl",
]
