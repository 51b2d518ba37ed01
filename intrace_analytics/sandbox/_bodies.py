"""What the sandbox API's bodies look like: pages in either key casing, and errors.

A page is ``{"incidents": [...], "total": N}`` in compact UTF-8 JSON, with snake_case
keys (as the schema), camelCase keys (as the reference page's example) or each
incident independently one or the other; the sites list is ``{"assets": [...]}``,
cased the same way; an error is ``{"error": {"code", "message", "retryable"}}``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any

from intrace_analytics._util.checks import check_choice
from intrace_analytics.sandbox._gcpause import gc_paused

__all__ = ["CASINGS", "assets_body", "error_body", "page_body", "to_camel"]

_CAMEL_CACHE: dict[str, str] = {}


def _camel_key(key: str) -> str:
    camel = _CAMEL_CACHE.get(key)
    if camel is None:
        head, *rest = key.split("_")
        camel = _CAMEL_CACHE[key] = head + "".join(part.capitalize() for part in rest)
    return camel


def _camel_list(values: list[Any]) -> list[Any]:
    out = []
    for value in values:
        kind = type(value)
        if kind is dict:
            value = _camel_dict(value)
        elif kind is list:
            value = _camel_list(value)
        out.append(value)
    return out


def _camel_dict(mapping: dict[str, Any]) -> dict[str, Any]:
    # Type checks inline rather than one recursive call per value: scalars are most
    # values, and this runs for every incident of every camelCase page.
    cache = _CAMEL_CACHE
    out = {}
    for key, value in mapping.items():
        kind = type(value)
        if kind is dict:
            value = _camel_dict(value)
        elif kind is list:
            value = _camel_list(value)
        out[cache.get(key) or _camel_key(key)] = value
    return out


def to_camel(incident: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of a payload with every key renamed from snake_case to camelCase.

    Parameters
    ----------
    incident : dict
        A snake_case payload (nested dicts and lists are renamed too).

    Returns
    -------
    dict
        A new dict; the input is not modified.

    Examples
    --------
    >>> to_camel({"threat_links": [{"threat_id": "t1", "added_at": "2026-04-18T09:00:00Z"}]})
    {'threatLinks': [{'threatId': 't1', 'addedAt': '2026-04-18T09:00:00Z'}]}
    """
    return _camel_dict(incident)


CASINGS: tuple[str, ...] = ("snake", "camel", "mixed")


def page_body(
    incidents: Sequence[dict[str, Any]],
    total: int,
    *,
    casing: str = "snake",
    rng: random.Random | None = None,
    cache: dict[tuple[int, bool], bytes] | None = None,
) -> bytes:
    """Serialize one page as the API sends it: ``{"incidents": [...], "total": N}``.

    Parameters
    ----------
    incidents : sequence of dict
        The page's snake_case payloads.
    total : int
        The number of incidents matching the request's filters.
    casing : {"snake", "camel", "mixed"}, default "snake"
        Key casing: as the schema, as the reference page's example, or each incident
        independently one or the other.
    rng : random.Random, optional
        The source of the per-incident choice for ``"mixed"``; ``None`` means a
        ``random.Random(0)``, so the result is still deterministic.
    cache : dict, optional
        Each incident's serialized form, kept across calls by whoever owns the rows (the
        server, which empties it when its data changes): keyed by the row object's
        ``id()`` and whether it is camelCase. The bytes are the same either way; a cache
        spares re-serializing rows that many pages and site reads send.

    Returns
    -------
    bytes
        Compact UTF-8 JSON.

    Examples
    --------
    >>> page_body([], 0)
    b'{"incidents":[],"total":0}'
    """
    if cache is not None:
        return _cached_body(incidents, total, casing, rng, cache)
    rows = _cased(incidents, casing, rng)
    payload = {"incidents": rows, "total": total}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def assets_body(
    assets: Sequence[dict[str, Any]],
    *,
    casing: str = "snake",
    rng: random.Random | None = None,
) -> bytes:
    """Serialize the sites list as the API sends it: ``{"assets": [...]}``, no total.

    Parameters
    ----------
    assets : sequence of dict
        snake_case site payloads (see :func:`~._assets.asset_records`).
    casing : {"snake", "camel", "mixed"}, default "snake"
        As for :func:`page_body`; nested keys are renamed too
        (``attributes.monitoring_radius_km`` becomes ``attributes.monitoringRadiusKm``).
    rng : random.Random, optional
        The source of the per-site choice for ``"mixed"``.

    Returns
    -------
    bytes
        Compact UTF-8 JSON.

    Examples
    --------
    >>> assets_body([{"asset_id": "lagos-hq", "attributes": {"monitoring_radius_km": 12}}],
    ...             casing="camel")
    b'{"assets":[{"assetId":"lagos-hq","attributes":{"monitoringRadiusKm":12}}]}'
    """
    payload = {"assets": _cased(assets, casing, rng)}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _camel_rows(count: int, casing: str, rng: random.Random | None) -> list[bool]:
    """Per row, whether it is sent in camelCase: the one place the casing is decided,
    so a cached body and a fresh one draw the same choices in the same order."""
    check_choice("casing", casing, CASINGS)
    if casing != "mixed":
        return [casing == "camel"] * count
    rand = (rng or random.Random(0)).random
    return [rand() < 0.5 for _ in range(count)]


def _cased(
    rows: Sequence[dict[str, Any]], casing: str, rng: random.Random | None
) -> list[dict[str, Any]]:
    if casing == "snake":
        # list() because json cannot serialize an arbitrary Sequence, only lists and tuples.
        return rows if isinstance(rows, list) else list(rows)
    camel = _camel_rows(len(rows), casing, rng)
    with gc_paused():  # tens of thousands of new dicts per page; see gc_paused
        return [to_camel(row) if c else row for row, c in zip(rows, camel, strict=True)]


def _cached_body(
    rows: Sequence[dict[str, Any]],
    total: int,
    casing: str,
    rng: random.Random | None,
    cache: dict[tuple[int, bool], bytes],
) -> bytes:
    """:func:`page_body` from per-row fragments: the same bytes, each row serialized once."""
    parts = []
    for row, camel in zip(rows, _camel_rows(len(rows), casing, rng), strict=True):
        key = (id(row), camel)
        fragment = cache.get(key)
        if fragment is None:
            text = json.dumps(
                to_camel(row) if camel else row, ensure_ascii=False, separators=(",", ":")
            )
            fragment = cache[key] = text.encode("utf-8")
        parts.append(fragment)
    return b'{"incidents":[' + b",".join(parts) + b'],"total":' + str(total).encode() + b"}"


def error_body(code: str, message: str, *, retryable: bool) -> bytes:
    """Serialize the API's error envelope: ``{"error": {"code", "message", "retryable"}}``.

    Parameters
    ----------
    code : str
        A machine-readable code, such as ``"invalid_parameter"``.
    message : str
        A sentence for people.
    retryable : bool
        Whether the same request may succeed later.

    Returns
    -------
    bytes
        UTF-8 JSON.

    Examples
    --------
    >>> error_body("not_found", "no such endpoint", retryable=False)
    b'{"error": {"code": "not_found", "message": "no such endpoint", "retryable": false}}'
    """
    error = {"code": code, "message": message, "retryable": retryable}
    return json.dumps({"error": error}).encode("utf-8")
