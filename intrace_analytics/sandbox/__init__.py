"""The sandbox: a local Intrace API over seeded synthetic data, misbehaving on demand.

Used by the tests, the benchmarks and ``intrace-analytics demo`` / ``sandbox``. Modules,
in the order they import each other: ``_gcpause`` (pausing the garbage collector),
``_bodies`` (page, sites and error bodies, serialized), ``_assets`` (the monitored sites),
``_data`` (the synthetic incidents), ``_timeline`` (time passing: what a span of a live
operation does to the data), ``_tenant`` (the data served, its clock and its lock),
``_faults`` (the fault switches: one small class per kind, in one registry), ``_httpd``
(the stdlib server and handler) and ``_server`` (the API itself).
"""

from intrace_analytics.sandbox._assets import SITES, asset_records
from intrace_analytics.sandbox._bodies import page_body, to_camel
from intrace_analytics.sandbox._data import (
    ANCHOR,
    ASSETS,
    SEVERITIES,
    THREAT_TYPES,
    Asset,
    Dataset,
    generate_dataset,
)
from intrace_analytics.sandbox._server import SandboxServer
from intrace_analytics.sandbox._timeline import Advance

__all__ = [
    "ANCHOR",
    "ASSETS",
    "SEVERITIES",
    "SITES",
    "THREAT_TYPES",
    "Advance",
    "Asset",
    "Dataset",
    "SandboxServer",
    "asset_records",
    "generate_dataset",
    "page_body",
    "to_camel",
]
