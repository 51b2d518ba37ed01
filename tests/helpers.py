"""Helpers shared by the tests: the canary key and the check that it never leaks, an
independent reconstruction of the frames from payload dicts, hand-built payloads and
columns, and a server that never answers.

Expected frames are rebuilt here in plain Python from the payload dicts (``reference``),
never taken from the implementation: columns and dtypes come from SPEC.md's table,
timestamps from ``datetime.fromisoformat``, threats in order of first appearance.
"""

from __future__ import annotations

import math
import random
import re
import selectors
import socket
import threading
import traceback
import warnings
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest

from intrace_analytics import IncidentFrames, frames_from_pages
from intrace_analytics.frames import _schema as schema
from intrace_analytics.sandbox import SandboxServer
from intrace_analytics.sandbox._data import page_body

# A key that must never appear in any output, log, error or file.
CANARY_KEY = "canary-7f3a9c1e-DO-NOT-LEAK"

# The monitoring radius the sites of the ``sites_frames`` fixture are given.
SITE_RADIUS_KM = 30.0

# The hidden files an export directory may hold besides its tables, as write_parquet
# documents them: the writers' lock, and the journal of a publication in progress.
EXPORT_LOCK = ".intrace-export.lock"
EXPORT_JOURNAL = ".intrace-export.journal"


def served_ids(api: SandboxServer) -> list[str]:
    """The ids the sandbox serves, in its order (its own truth)."""
    return [incident["id"] for incident in api.dataset.incidents]


def incident_requests(api: SandboxServer) -> list[Any]:
    """The sandbox's records of requests to ``/v1/incidents``."""
    return [r for r in api.requests if r.path == "/v1/incidents"]


def assert_no_key(*texts: object, key: str = CANARY_KEY) -> None:
    """Fail if the key appears in any text, or in any exception's whole chain."""
    for item in texts:
        if isinstance(item, BaseException):
            rendered = "".join(traceback.format_exception(item))
            chain: list[BaseException] = []
            seen: BaseException | None = item
            while seen is not None and seen not in chain:
                chain.append(seen)
                seen = seen.__cause__ or seen.__context__
            rendered += "".join(repr(e) + str(e) + repr(vars(e)) for e in chain)
        else:
            rendered = str(item)
        assert key not in rendered


def one_error_line(err: str, command: str) -> str:
    """The one line a failed command printed to stderr (after any progress bar, which
    ends in ``\\r``), checked for what such a line never holds."""
    line = err.rsplit("\r", 1)[-1]
    assert line.count("\n") == 1, err
    assert line.startswith(f"intrace-analytics {command}: error: "), err
    assert "Traceback" not in err
    assert "[Errno" not in line
    assert ".tmp" not in line
    assert_no_key(line)
    return line.strip()


def ids_of(pages: Any) -> list[str]:
    return [incident["id"] for page in pages for incident in page.incidents]


NAMES = ("incidents", "links", "threats")
STATUSES = ["open", "closed", "resolved"]
SCOPES = ["investigation", "aggregate"]
SEVERITIES = ["low", "medium", "high", "critical"]
_RANKS = {"low": 1, "medium": 2, "high": 3, "critical": 4}
STRING = pd.StringDtype()
UTC_US = "datetime64[us, UTC]"

# SPEC.md, "The tidy frames": columns in order, and each column's dtype.
SPEC_COLUMNS: dict[str, dict[str, object]] = {
    "incidents": {
        "incident_id": STRING,
        "title": STRING,
        "status": pd.CategoricalDtype(STATUSES, ordered=False),
        "scope": pd.CategoricalDtype(SCOPES, ordered=False),
        "description": STRING,
        "created_at": UTC_US,
        "updated_at": UTC_US,
        "started_at": UTC_US,
        "resolved_at": UTC_US,
        "threat_count": "int64",
    },
    "links": {
        "link_id": STRING,
        "incident_id": STRING,
        "threat_id": STRING,
        "added_at": UTC_US,
    },
    "threats": {
        "threat_id": STRING,
        "title": STRING,
        "severity": pd.CategoricalDtype(SEVERITIES, ordered=True),
        "severity_rank": pd.Int8Dtype(),
        "threat_type": "category",
        "location": STRING,
        "observed_at": UTC_US,
        "lat": "float64",
        "lng": "float64",
    },
}


# -- an independent reconstruction of the frames ------------------------------------------


def utc(text: str | None) -> datetime | None:
    """ISO-8601 → an aware UTC datetime; naive is taken as UTC."""
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def strings(*values: str | None) -> pd.Series:
    """A column of pandas' string dtype (``None`` is ``NA``)."""
    return pd.Series(values, dtype=STRING)


def times(*values: str | None) -> pd.Series:
    """A ``datetime64[us, UTC]`` column from ISO-8601 texts (``None`` is ``NaT``)."""
    return pd.Series([utc(v) or pd.NaT for v in values], dtype=UTC_US)


def reference(incidents: Iterable[dict[str, Any]]) -> dict[str, pd.DataFrame]:
    """The three frames of SPEC.md built by hand from snake_case payloads (ids unique)."""
    inc: dict[str, list[Any]] = {name: [] for name in SPEC_COLUMNS["incidents"]}
    lnk: dict[str, list[Any]] = {name: [] for name in SPEC_COLUMNS["links"]}
    threats: dict[str, dict[str, Any]] = {}  # insertion order = first appearance
    for incident in incidents:
        links = incident.get("threat_links") or []
        inc["incident_id"].append(incident["id"])
        for name in ("title", "status", "scope", "description"):
            inc[name].append(incident.get(name))
        for name in ("created_at", "updated_at", "started_at", "resolved_at"):
            inc[name].append(incident.get(name))
        inc["threat_count"].append(len(links))
        for link in links:
            lnk["link_id"].append(link["id"])
            lnk["incident_id"].append(incident["id"])
            lnk["threat_id"].append(link["threat_id"])
            lnk["added_at"].append(link.get("added_at"))
            threat = link.get("threat")
            if threat is not None:
                threats.setdefault(threat["id"], threat)
    statuses = [s.strip().casefold() for s in inc["status"]]
    assert set(statuses) <= set(STATUSES)
    assert set(inc["scope"]) <= set(SCOPES)
    incidents_frame = pd.DataFrame(
        {
            "incident_id": strings(*inc["incident_id"]),
            "title": strings(*inc["title"]),
            "status": pd.Series(pd.Categorical(statuses, categories=STATUSES)),
            "scope": pd.Series(pd.Categorical(inc["scope"], categories=SCOPES)),
            "description": strings(*inc["description"]),
            **{
                n: times(*inc[n]) for n in ("created_at", "updated_at", "started_at", "resolved_at")
            },
            "threat_count": pd.Series(inc["threat_count"], dtype="int64"),
        }
    )
    links_frame = pd.DataFrame(
        {
            "link_id": strings(*lnk["link_id"]),
            "incident_id": strings(*lnk["incident_id"]),
            "threat_id": strings(*lnk["threat_id"]),
            "added_at": times(*lnk["added_at"]),
        }
    )
    rows = list(threats.values())
    coordinates = [t.get("coordinates") or {} for t in rows]
    types = [t.get("threat_type") for t in rows]
    threats_frame = pd.DataFrame(
        {
            "threat_id": strings(*[t["id"] for t in rows]),
            "title": strings(*[t.get("title") for t in rows]),
            "severity": pd.Series(
                pd.Categorical(
                    [t.get("severity") for t in rows], categories=SEVERITIES, ordered=True
                )
            ),
            # SPEC: 1 low .. 4 critical, 0 another label, NA when missing; by hand.
            "severity_rank": pd.Series(
                [
                    _RANKS.get(t["severity"], 0) if t.get("severity") is not None else None
                    for t in rows
                ],
                dtype=pd.Int8Dtype(),
            ),
            "threat_type": pd.Series(
                pd.Categorical(types, categories=sorted({t for t in types if t is not None}))
            ),
            "location": strings(*[t.get("location") for t in rows]),
            "observed_at": times(*[t.get("observed_at") for t in rows]),
            "lat": pd.Series([c.get("lat", math.nan) for c in coordinates], dtype="float64"),
            "lng": pd.Series([c.get("lng", math.nan) for c in coordinates], dtype="float64"),
        }
    )
    return {"incidents": incidents_frame, "links": links_frame, "threats": threats_frame}


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    # threat_type's category order is not specified; compare its values, not that order.
    frame = frame.copy()
    if "threat_type" in frame:
        column = frame["threat_type"]
        assert isinstance(column.dtype, pd.CategoricalDtype)
        assert not column.dtype.ordered
        frame["threat_type"] = column.cat.reorder_categories(sorted(column.cat.categories))
    return frame


def assert_frames_match(
    frames: IncidentFrames, expected: dict[str, pd.DataFrame], *, any_order: bool = False
) -> None:
    for name in NAMES:
        actual, wanted = getattr(frames, name), expected[name]
        assert isinstance(actual.index, pd.RangeIndex)
        if any_order:
            key = schema.KEYS[name]
            actual = actual.sort_values(key, ignore_index=True)
            wanted = wanted.sort_values(key, ignore_index=True)
        pd.testing.assert_frame_equal(_comparable(actual), _comparable(wanted), check_exact=True)


def assert_same_frames(left: IncidentFrames, right: IncidentFrames) -> None:
    for name in NAMES:
        pd.testing.assert_frame_equal(getattr(left, name), getattr(right, name), check_exact=True)


def bodies(
    incidents: list[dict[str, Any]], size: int, *, casing: str = "snake", total: int | None = None
) -> list[bytes]:
    total = len(incidents) if total is None else total
    return [
        page_body(incidents[i : i + size], total, casing=casing, rng=random.Random(i))
        for i in range(0, max(len(incidents), 1), size)
    ]


# -- typed frames for the analysis tests ---------------------------------------------------


def typed(table: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A frame of the table from row dicts, cast through the schema (missing keys NA)."""
    columns = schema.TABLES[table]
    data: dict[str, Any] = {}
    for column in columns:
        values = [row.get(column.name) for row in rows]
        if column.kind in (schema.Kind.CATEGORY, schema.Kind.SEVERITY):
            dtype = schema.pandas_dtype(column, schema.categories_for(column, values))
        else:
            dtype = schema.pandas_dtype(column)
        if column.kind is schema.Kind.INT:
            values = [v or 0 for v in values]
        if column.kind is schema.Kind.SEVERITY_RANK:  # derived, as normalization does
            data[column.name] = schema.severity_rank(data["severity"])
            continue
        data[column.name] = pd.Series(values, dtype=dtype)
    return pd.DataFrame(data)


def stamp(text: str | None) -> pd.Timestamp | None:
    return None if text is None else pd.Timestamp(text, tz="UTC")


# -- hand-built payloads -----------------------------------------------------------------


def threat(tid: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": tid,
        "title": f"Threat {tid}",
        "severity": "low",
        "threat_type": "weather",
        "location": "Ikeja, Lagos, Nigeria",
        "observed_at": "2026-01-01T06:00:00Z",
        "coordinates": {"lat": 6.5, "lng": 3.25},
        **fields,
    }


def link(lid: str, tid: str, embedded: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": lid, "threat_id": tid, "added_at": "2026-01-01T08:00:00Z"}
    if embedded is not None:
        out["threat"] = embedded
    return out


def incident(
    iid: str, updated: str = "2026-01-02T00:00:00Z", *links: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    return {
        "id": iid,
        "title": f"Incident {iid}",
        "status": "open",
        "scope": "aggregate",
        "created_at": "2026-01-01T08:00:00Z",
        "updated_at": updated,
        "threat_links": list(links),
        **fields,
    }


def page(incidents: list[dict[str, Any]], total: int | None = None) -> dict[str, Any]:
    return {"incidents": incidents, "total": len(incidents) if total is None else total}


def says_count(message: str, count: int) -> bool:
    """Whether a warning's text states this count (as a number of its own)."""
    return re.search(rf"(?<![\d.:-]){count}(?![\d.:-])", message) is not None


def quietly(pages: Iterable[Any]) -> tuple[IncidentFrames, list[warnings.WarningMessage]]:
    """Normalize and return every warning issued (for tests that count them exactly)."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        frames = frames_from_pages(pages)
    return frames, list(seen)


def site_ids(
    api: SandboxServer, *, status: str | None = None, type: str | None = None
) -> list[str]:
    """The ``asset_id`` of each site ``GET /v1/assets`` serves (its own truth), in order,
    with the endpoint's exact-match ``status`` and ``type`` filters."""
    return [
        asset["asset_id"]
        for asset in api.assets
        if (status is None or asset["status"] == status) and (type is None or asset["type"] == type)
    ]


def assert_value_error_names(call: Callable[[], object], words: Iterable[str]) -> None:
    """``call()`` raises ValueError in the one message shape of ``intrace_analytics._util.checks``
    (``{name} must be {expected}; got {value!r}``), naming each of ``words``."""
    with pytest.raises(ValueError) as info:  # noqa: PT011 -- words checked below
        call()
    message = str(info.value)
    for word in words:
        assert word in message
    assert " must be " in message
    assert "; got " in message


# -- a server that accepts and never answers ----------------------------------------------


class SilentServer:
    """127.0.0.1: accepts every connection, reads nothing, never answers.

    ``held`` lists the connections accepted. Leaving the ``with`` block stops it at once:
    the accept loop waits on a selector that a byte on a wake-up socket also ends (closing
    a listening socket does not wake a thread blocked in ``accept()``).
    """

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.held: list[socket.socket] = []
        self._wake, self._woken = socket.socketpair()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.sock, selectors.EVENT_READ)
            selector.register(self._woken, selectors.EVENT_READ)
            while True:
                ready = {key.fileobj for key, _ in selector.select()}
                if self._woken in ready:
                    return
                connection, _ = self.sock.accept()
                self.held.append(connection)

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._wake.send(b"x")
        self._thread.join()
        for item in (self.sock, self._wake, self._woken, *self.held):
            item.close()


def kill_at_random_moments(children: list[Any], rng: random.Random, most: float) -> None:
    """Wait until each child (a ``subprocess.Popen`` in text mode) prints ``go`` (its
    imports done), then SIGKILL them one after another, each a random 0 to ``most``
    seconds after the one before; every child is reaped, even when a check fails."""
    import signal
    import time

    try:
        for child in children:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "go", child.stderr
        for child in children:
            time.sleep(rng.uniform(0.0, most))
            child.send_signal(signal.SIGKILL)
    finally:
        for child in children:
            child.kill()
            child.communicate()
