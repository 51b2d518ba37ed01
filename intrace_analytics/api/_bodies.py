"""A response body before it is a page: text to UTF-8 bytes, the check every body passes
before a parser sees it, and JSON decoding that names the page in its errors.

No parser sees bytes that are not UTF-8, that do not open a JSON object, or that nest
deeper than :data:`MAX_DEPTH` (:func:`check_body`, the one gate): Arrow's reader crashes
on some, and whatever recurses over a parse (the stdlib decoder, a walk of the types
Arrow built) would exhaust Python's stack on others. :mod:`intrace_analytics.api._pages`
and :mod:`intrace_analytics.frames._json` both read bodies through it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pyarrow as pa

from intrace_analytics.exceptions import ResponseFormatError

__all__ = [
    "MAX_DEPTH",
    "check_body",
    "check_depth",
    "decode_json",
    "describe",
    "encode_text",
    "nesting_depth",
    "total_hint",
]

# How deeply a body may nest arrays and objects. A page nests 7 levels (page, incidents,
# incident, links, link, threat, attributes); anything far deeper is hostile, and the
# stdlib decoder would otherwise hit Python's recursion limit (a RecursionError, not a
# ResponseFormatError).
MAX_DEPTH = 100

# What a body may start with: an optional UTF-8 byte order mark and JSON whitespace.
_LEADING = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n]*")
# Every byte but the ones that open, close or quote: what the depth scan deletes.
_NOT_STRUCTURAL = bytes(b for b in range(256) if b not in b'[]{}"\\')
_OPENS = np.zeros(256, bool)
_OPENS[[ord("["), ord("{")]] = True


# A top-level "total" that is the object's last member or its first: the only places a
# member is certainly the page's own whatever the bytes between (see total_hint).
_TOTAL_LAST = re.compile(rb'"total"[ \t\r\n]*:[ \t\r\n]*([0-9]{1,18})[ \t\r\n]*\}[ \t\r\n]*\Z')
_TOTAL_FIRST = re.compile(
    rb'(?:\xef\xbb\xbf)?[ \t\r\n]*\{[ \t\r\n]*"total"[ \t\r\n]*:[ \t\r\n]*([0-9]{1,18})[ \t\r\n]*,'
)


def total_hint(raw: bytes) -> int | None:
    """The page's ``total``, read from the body's last (or first) 64 bytes without
    parsing it, when it is the object's last (or first) member, as the API writes it;
    else None.

    A hint, to start reading the next pages while the first is parsed: the parse still
    decides. A body whose last bytes are ``"total": N}`` has it as a member of the
    outermost object whatever comes before (inside a string the quotes would be
    escaped, and a nested object would end with two braces); one that is not JSON at
    all fails its parse, so a wrong hint costs at most a few requests.

    >>> total_hint(b'{"incidents": [{"total": 3}], "total": 120}')
    120
    >>> total_hint(b'{"incidents": [], "total": 120, "limit": 5}') is None
    True
    """
    tail = _TOTAL_LAST.search(raw, max(0, len(raw) - 64))
    found = tail or _TOTAL_FIRST.match(raw[:64])
    return int(found.group(1)) if found else None


def encode_text(
    body: bytes | bytearray | memoryview | str, *, label: str, offset: int, url: str | None = None
) -> bytes:
    """A body as UTF-8 bytes; a str that cannot be (a lone surrogate) is a format error."""
    if not isinstance(body, str):
        return bytes(body)
    try:
        return body.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ResponseFormatError(
            f"{label}: the body is not valid Unicode ({exc.reason} at character {exc.start})",
            offset=offset,
            field="(body)",
            url=url,
        ) from None


def check_body(raw: bytes, *, label: str, offset: int, url: str | None = None) -> None:
    """Refuse, before any parser sees it, a body that cannot be a page: one that is not
    UTF-8, whose first character (after an optional BOM and whitespace) does not open a
    JSON object, or that nests deeper than :data:`MAX_DEPTH` (:func:`check_depth`).
    Arrow's JSON reader must never see such bytes: it crashes the process on a body that
    starts with ``null`` or nests 100,000 deep, keeps invalid UTF-8 in its strings, and
    hands a body nested 1,000 deep to Python code as types that deep.

    Every body passes here, live or offline (bytes, str, a dict once encoded), whichever
    parser reads it next: the one gate. Cheap: Arrow's UTF-8 validation (SIMD, about
    1 ms for a page of 5000 incidents), one look at the first bytes, and the depth scan
    (about 15 ms for that page of 8 MB, a tenth of its parse).
    """

    def bad(problem: str) -> ResponseFormatError:
        return ResponseFormatError(f"{label}: {problem}", offset=offset, field="(body)", url=url)

    if not raw.isascii() and not _is_utf8(raw):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise bad(
                f"the body is not UTF-8 ({exc.reason} at byte {exc.start}: "
                f"{raw[exc.start : exc.start + 4]!r})"
            ) from None
    check_depth(raw, label=label, offset=offset, url=url)
    start = _LEADING.match(raw).end()  # type: ignore[union-attr]  # matches the empty string
    if raw[start : start + 1] != b"{":
        # The error path: decode (safely: UTF-8 and depth are checked) to say what it is.
        value = decode_json(raw[start:], label=label, offset=offset, url=url)
        got = "null" if value is None else describe(value)
        raise bad(f"field '(body)' should be a JSON object, got {got}")


def _is_utf8(raw: bytes) -> bool:
    """Whether ``raw`` is valid UTF-8, by Arrow's validation (zero-copy)."""
    offsets = pa.py_buffer(np.array([0, len(raw)], np.int64))
    text = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(raw)])
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def nesting_depth(raw: bytes) -> int:
    """How deeply ``raw`` (JSON) nests arrays and objects, brackets inside strings not
    counted. Vectorized: the structural bytes are kept (``bytes.translate``), then NumPy
    finds which lie outside strings and sums the steps."""
    small = raw.translate(None, _NOT_STRUCTURAL)
    data = np.frombuffer(small, np.uint8)
    quotes = np.flatnonzero(data == ord('"'))
    if len(quotes) and small.find(b"\\") >= 0:
        # A quote preceded by an odd run of backslashes is escaped, inside its string.
        after = quotes[quotes > 0]
        candidates = after[data[after - 1] == ord("\\")]
        if len(candidates):
            slashes = np.flatnonzero(data == ord("\\"))
            starts = slashes[np.r_[True, np.diff(slashes) > 1]]
            run = starts[np.searchsorted(starts, candidates - 1, side="right") - 1]
            escaped = candidates[(candidates - run) % 2 == 1]
            quotes = np.setdiff1d(quotes, escaped, assume_unique=True)
    brackets = np.flatnonzero((data != ord('"')) & (data != ord("\\")))
    brackets = brackets[np.searchsorted(quotes, brackets) % 2 == 0]  # outside strings
    if not len(brackets):
        return 0
    steps = np.where(_OPENS[data[brackets]], 1, -1)
    return int(np.cumsum(steps).max())


def check_depth(raw: bytes, *, label: str, offset: int, url: str | None = None) -> None:
    """Refuse a body nested deeper than :data:`MAX_DEPTH`, before anything recurses
    over it (:func:`check_body` and :func:`decode_json` call it)."""
    depth = nesting_depth(raw)
    if depth > MAX_DEPTH:
        raise ResponseFormatError(
            f"{label}: the body nests {depth} levels deep, more than the {MAX_DEPTH} allowed",
            offset=offset,
            field="(body)",
            url=url,
        )


def decode_json(raw: bytes, *, label: str, offset: int, url: str | None = None) -> Any:
    """Decode a body as JSON, or raise ResponseFormatError showing how it starts.

    A body nested deeper than :data:`MAX_DEPTH` levels is refused before decoding (the
    stdlib decoder recurses once per level).
    """
    try:
        # JSON on the wire is UTF-8 (RFC 8259); json.loads would guess UTF-16/32 from bytes.
        text = raw.decode("utf-8")
        check_depth(raw, label=label, offset=offset, url=url)
        return json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
        snippet = raw[:60].decode("utf-8", "replace")
        raise ResponseFormatError(
            f"{label}: the body is not JSON ({reason}); it starts {snippet!r}",
            offset=offset,
            url=url,
        ) from None
    except RecursionError:  # deeper than the stack allows although within MAX_DEPTH
        raise ResponseFormatError(
            f"{label}: the body nests too deeply to decode", offset=offset, field="(body)", url=url
        ) from None


def describe(value: object) -> str:
    """A short rendering of a JSON value for an error message: its type and its start."""
    if value is None:
        return "nothing"
    text = json.dumps(value) if not isinstance(value, bytes) else repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"
