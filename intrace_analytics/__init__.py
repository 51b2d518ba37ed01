"""intrace_analytics: Intrace incidents as tidy pandas frames, Parquet and analysis.

>>> from intrace_analytics import IntraceClient
>>> client = IntraceClient()  # key from INTRACE_API_KEY  # doctest: +SKIP
>>> pages = list(client.iter_incident_pages(status="open"))  # doctest: +SKIP
"""

from intrace_analytics._version import __version__
from intrace_analytics.client import IntraceClient, LoadStats, PageStream
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
from intrace_analytics.load import load_incidents
from intrace_analytics.normalize import IncidentFrames, frames_from_pages
from intrace_analytics.pages import Page, read_jsonl, write_jsonl
from intrace_analytics.storage import read_parquet

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
    "__version__",
    "frames_from_pages",
    "load_incidents",
    "read_jsonl",
    "read_parquet",
    "write_jsonl",
]
