"""The one secret scrubber: what may hold a key never reaches a file, a page or a message.

Two shapes of secret leak are covered: a mapping key named like an API key (in a load
report headed for Parquet metadata or an HTML report), and the key's value inside text
(a log line or a request line).

>>> scrub({"filters": {"status": "open"}, "X-API-Key": "k", "nested": [{"apiKey": "k"}]})
{'filters': {'status': 'open'}, 'nested': [{}]}
>>> redact("GET /v1/incidents?key=sbx_123", "sbx_123")
'GET /v1/incidents?key=***'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["MASK", "is_secret_name", "redact", "scrub"]

MASK = "***"

# Compared after removing everything but letters and digits and case-folding, so
# "API-Key", "x_api_key", "apiKey" and "key" are all caught.
_SECRET_NAMES = frozenset({"key", "apikey", "xapikey", "secret", "token", "password"})


def is_secret_name(name: str) -> bool:
    """Whether a mapping key names a secret."""
    return "".join(ch for ch in name.casefold() if ch.isalnum()) in _SECRET_NAMES


def scrub(value: Any) -> Any:
    """A copy of ``value`` without any mapping entry named like a secret, at any depth."""
    if isinstance(value, Mapping):
        return {
            key: scrub(item)
            for key, item in value.items()
            if not (isinstance(key, str) and is_secret_name(key))
        }
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    return value


def redact(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` replaced by ``***``."""
    return text.replace(secret, MASK) if secret else text
