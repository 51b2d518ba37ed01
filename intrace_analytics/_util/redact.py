"""The one secret scrubber: what may hold a key never reaches a file, a page or a message.

Three shapes of secret leak are covered: a mapping key named like an API key (in a load
report headed for Parquet metadata or an HTML report), the key's value inside text (a log
line or a request line), and a URL typed with a secret in it (``https://user:KEY@host/``,
``...?api_key=KEY``) that a message would repeat.

>>> scrub({"filters": {"status": "open"}, "X-API-Key": "k", "nested": [{"apiKey": "k"}]})
{'filters': {'status': 'open'}, 'nested': [{}]}
>>> redact("GET /v1/incidents?key=sbx_123", "sbx_123")
'GET /v1/incidents?key=***'
>>> redact_urls("got 'https://me:sbx_123@api.example/?api_key=sbx_123&offset=100'")
"got 'https://***@api.example/?api_key=***&offset=100'"
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["MASK", "is_secret_name", "redact", "redact_url", "redact_urls", "scrub"]

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


# A URL inside text: a scheme, "//", then anything up to whitespace, a quote or a bracket.
_URL = re.compile(r"""\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'"<>]+""")
# The query parameters the client itself sends (the API's paging and filters): they hold
# no secret, and an error about a page is clearer with its offset shown.
_PLAIN_PARAMS = frozenset({"limit", "offset", "status", "scope", "asset_id", "type"})


def redact_urls(text: str) -> str:
    """``text`` with every URL's userinfo, fragment and query values masked (``***``),
    but the values of the client's own paging and filter parameters."""
    return _URL.sub(lambda match: redact_url(match.group(0)), text)


def redact_url(url: str) -> str:
    """One URL as :func:`redact_urls` masks it, a URL typed without a scheme included
    (``user:KEY@host``)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    if "@" in rest:
        # Userinfo ends at the last "@": a password typed with "/", "?" or "#" in it is
        # masked whole (a query value holding "@" is masked with it).
        rest = MASK + "@" + rest.rpartition("@")[2]
    rest, hash_, _fragment = rest.partition("#")
    rest, question, query = rest.partition("?")
    masked = []
    for part in query.split("&") if query else []:
        name, equals, _ = part.partition("=")
        masked.append(
            part if name in _PLAIN_PARAMS else f"{name}{equals}{MASK}" if equals else MASK
        )
    return f"{scheme}{sep}{rest}{question}{'&'.join(masked)}" f"{hash_}{MASK if hash_ else ''}"
