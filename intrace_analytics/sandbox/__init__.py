"""The sandbox: a local Intrace API over seeded synthetic data, misbehaving on demand.

Used by the tests, the benchmarks and ``intrace-analytics demo`` / ``sandbox``. Modules,
in the order they import each other: ``gcpause`` (pausing the garbage collector),
``payload`` (page, sites and error bodies), ``assets`` (the monitored sites), ``data``
(the synthetic incidents), ``faults`` (the fault switches), ``httpd`` (the stdlib
server and handler) and ``server`` (the API itself).
"""

from intrace_analytics.sandbox.assets import SITES, asset_records
from intrace_analytics.sandbox.data import (
    ANCHOR,
    ASSETS,
    SEVERITIES,
    THREAT_TYPES,
    Asset,
    Dataset,
    generate_dataset,
)
from intrace_analytics.sandbox.payload import page_body, to_camel
from intrace_analytics.sandbox.server import SandboxServer

__all__ = [
    "ANCHOR",
    "ASSETS",
    "SEVERITIES",
    "SITES",
    "THREAT_TYPES",
    "Asset",
    "Dataset",
    "SandboxServer",
    "asset_records",
    "generate_dataset",
    "page_body",
    "to_camel",
]
