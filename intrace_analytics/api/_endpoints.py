"""The API's endpoints and their filter vocabularies, declared once.

The client builds its requests from these, the schema orders its categories by them, and
the command line and the sandbox import them, so a new filter value or a new endpoint is
one line here. Importing this module imports nothing heavy (the CLI builds its parser
from it before pandas is loaded).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ASSETS_PATH",
    "DEFAULT_LIMIT",
    "INCIDENTS_PATH",
    "MAX_LIMIT",
    "SCOPES",
    "STATUSES",
]

#: ``GET /v1/incidents``: offset-paginated incidents.
INCIDENTS_PATH: Final = "/v1/incidents"
#: ``GET /v1/assets``: the tenant's monitored sites, one unpaginated response.
ASSETS_PATH: Final = "/v1/assets"

#: The ``status`` filter of ``/v1/incidents``, in documented order.
STATUSES: Final = ("open", "closed", "resolved")
#: The ``scope`` filter of ``/v1/incidents``, in documented order.
SCOPES: Final = ("investigation", "aggregate")

#: ``limit`` is 1..MAX_LIMIT; the API's default when none is sent.
MAX_LIMIT: Final = 5000
DEFAULT_LIMIT: Final = 100
