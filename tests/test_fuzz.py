"""Fuzz test of :func:`frames_from_pages` (issue 11): hostile pages in every accepted form.

The property: for any list of pages, ``frames_from_pages`` returns frames (possibly with
:class:`IntraceWarning`\\ s) or raises :class:`ResponseFormatError` naming one of the pages
(its ``offset`` and the label in the message) — never another exception, never a crash of
the process, never a hang.

The pages are REAL sandbox pages (``generate_dataset`` + ``page_body``, snake, camel and
mixed casing) mutated by hypothesis: byte flips, truncations, insertions of hostile
fragments (``null``, BOMs, invalid UTF-8, encoded and escaped surrogates, deep nesting,
quotes and brackets), wrong types in fields, and raw bodies that are not objects. Each is
handed over as bytes, str, a decoded dict or a :class:`Page`.

Untrusted input runs in a child process (one long-lived worker fed examples over a pipe,
restarted when it dies), so a segfault in a native parser fails the example instead of
killing the test runner, and each example has a time limit. ``INTRACE_FUZZ_EXAMPLES``
sets how many examples to run (default 200; run 5000 before changing the parser).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import pickle
import select
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intrace_analytics.api._pages import Page
from intrace_analytics.sandbox._bodies import page_body
from intrace_analytics.sandbox._data import generate_dataset

EXAMPLES = int(os.environ.get("INTRACE_FUZZ_EXAMPLES", "200"))
EXAMPLE_TIMEOUT_S = 30.0
ROOT = Path(__file__).resolve().parent.parent

# The child: reads length-prefixed pickled page lists, answers with a pickled outcome.
WORKER = r"""
import pickle, struct, sys, traceback, warnings
from intrace_analytics import frames_from_pages
from intrace_analytics.exceptions import IntraceWarning, ResponseFormatError

from dataclasses import replace
from intrace_analytics.api._pages import Page

def expand(value):
    # {"__deep__": n} stands for a list nested n levels (too deep to pickle or print).
    if isinstance(value, Page):
        return replace(value, rows=expand(value.rows))
    if isinstance(value, dict):
        if set(value) == {"__deep__"} and type(value["__deep__"]) is int:
            deep = []
            for _ in range(value["__deep__"]):
                deep = [deep]
            return deep
        return {key: expand(item) for key, item in value.items()}
    if isinstance(value, list):
        return [expand(item) for item in value]
    return value

inp, out = sys.stdin.buffer, sys.stdout.buffer
while True:
    head = inp.read(4)
    if len(head) < 4:
        break
    pages = [expand(page) for page in pickle.loads(inp.read(struct.unpack(">I", head)[0]))]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", category=IntraceWarning)
        try:
            frames = frames_from_pages(pages)
            outcome = ("frames", len(frames.incidents))
        except ResponseFormatError as exc:
            outcome = ("format", exc.offset, str(exc))
        except BaseException as exc:
            outcome = ("other", type(exc).__name__, traceback.format_exc())
    answer = pickle.dumps(outcome)
    out.write(struct.pack(">I", len(answer)) + answer)
    out.flush()
"""


class Worker:
    """One child process running ``code`` (``WORKER``); restarted after it dies."""

    def __init__(self, code: str = WORKER) -> None:
        self.code = code
        self.process: subprocess.Popen[bytes] | None = None

    def run(self, pages: list[Any]) -> tuple[Any, ...]:
        """The child's outcome, or ``("crash", returncode)`` or ``("hang", seconds)``."""
        if self.process is None:
            self.process = subprocess.Popen(
                [sys.executable, "-c", self.code],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
        process = self.process
        assert process.stdin is not None
        data = pickle.dumps(pages)
        try:
            process.stdin.write(struct.pack(">I", len(data)) + data)
            process.stdin.flush()
            head = self._read(4)
            answer = self._read(struct.unpack(">I", head)[0])
            return tuple(pickle.loads(answer))  # noqa: S301  # our own child's answer
        except (BrokenPipeError, EOFError):
            self._stop()
            return ("crash", process.returncode)
        except TimeoutError:
            self._stop()
            return ("hang", EXAMPLE_TIMEOUT_S)

    def _read(self, n: int) -> bytes:
        assert self.process is not None
        stdout = self.process.stdout
        assert stdout is not None
        chunks, left = [], n
        while left:
            ready, _, _ = select.select([stdout], [], [], EXAMPLE_TIMEOUT_S)
            if not ready:
                raise TimeoutError
            chunk = os.read(stdout.fileno(), left)
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.kill()
            process.wait()
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    with contextlib.suppress(BrokenPipeError):
                        pipe.close()

    def close(self) -> None:
        self._stop()


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    child = Worker()
    yield child
    child.close()


# -- real pages, then hostile mutations of them ---------------------------------------------

_DATA = generate_dataset(24, seed=11).incidents
REAL_PAGES = [
    page_body(_DATA[start : start + 4], len(_DATA), casing=casing)
    for casing in ("snake", "camel", "mixed")
    for start in (0, 8, 16)
]


def _deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


FRAGMENTS = [
    b"null",
    b"\xef\xbb\xbf",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",  # an encoded surrogate
    b'"\\ud800"',  # an escaped lone surrogate
    b"\\",
    b'"',
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\x00",
    b"\n",
    b"1e999",
    b"-",
    b'{"id": null}',
    _deep(50),
    _deep(2000),
    b"{" * 200,
]

HOSTILE_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    1.5,
    10**30,
    "",
    "x",
    "not a time",
    "2026-13-45T99:99:99Z",
    "\ud800",
    "\x00",
    [],
    {},
    [None],
    [1, "a"],
    {"id": None},
]


def _nest(levels: int) -> Any:
    """A list nested ``levels`` deep, expanded in the child (a real one could be neither
    pickled nor printed by hypothesis)."""
    return {"__deep__": levels}


def _deep_marker(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"__deep__"}


@st.composite
def mutated_bytes(draw: st.DrawFn) -> bytes:
    body = bytearray(draw(st.sampled_from(REAL_PAGES)))
    for _ in range(draw(st.integers(1, 4))):
        if not body:
            body = bytearray(draw(st.sampled_from(FRAGMENTS)))
            continue
        at = draw(st.integers(0, len(body) - 1))
        action = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "fragment"]))
        if action == "flip":
            body[at] = draw(st.integers(0, 255))
        elif action == "truncate":
            del body[at:]
        elif action == "insert":
            body[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del body[at : at + draw(st.integers(1, 40))]
        else:
            body[at:at] = draw(st.sampled_from(FRAGMENTS))
    return bytes(body)


@st.composite
def mutated_dicts(draw: st.DrawFn) -> Any:
    """A real page, decoded, with wrong types (or deep nesting) in some of its fields."""
    page = json.loads(draw(st.sampled_from(REAL_PAGES)))
    for _ in range(draw(st.integers(1, 3))):
        # Walk to a random container, then replace or add one of its members.
        node: Any = page
        for _ in range(draw(st.integers(0, 6))):
            children = list(node.values()) if isinstance(node, dict) else node
            children = [
                c for c in children if isinstance(c, dict | list) and c and not _deep_marker(c)
            ]
            if not children:
                break
            node = draw(st.sampled_from(children))
        value = draw(
            st.one_of(
                st.sampled_from(HOSTILE_VALUES).map(copy.deepcopy),  # never a shared list
                st.integers(0, 3000).map(_nest),
                st.text(max_size=5),
            )
        )
        if isinstance(node, dict):
            key = draw(st.sampled_from([*node.keys(), "unknown", "threatLinks", "total"]))
            node[key] = value
        elif node:
            node[draw(st.integers(0, len(node) - 1))] = value
    return page


RAW_BODIES = st.one_of(
    st.sampled_from(FRAGMENTS),
    st.binary(max_size=64),
    st.builds(lambda a, b: a + b, st.sampled_from(FRAGMENTS), st.sampled_from(REAL_PAGES)),
    st.sampled_from([b"null", b"\xef\xbb\xbfnull", b" \r\n null", b"[]", b"true", b'"x"']),
)


def _as_form(body_or_dict: Any, form: str, position: int) -> Any:
    """One page in the form asked for."""
    if isinstance(body_or_dict, bytes):
        if form == "str":
            return body_or_dict.decode("utf-8", "surrogateescape")  # lone surrogates
        if form == "dict":
            try:
                return json.loads(body_or_dict)  # any JSON value: [], None, 5 ...
            except (ValueError, RecursionError):
                return body_or_dict
        if form == "page":
            return Page(rows=[], total=0, offset=1000 + position, limit=4, body=body_or_dict)
        return body_or_dict
    if form == "page":
        try:
            incidents, total = body_or_dict.get("incidents"), body_or_dict.get("total")
        except AttributeError:
            return body_or_dict
        return Page(
            rows=incidents if isinstance(incidents, list) else [],
            total=total if isinstance(total, int) else 0,
            offset=1000 + position,
            limit=4,
        )
    if form in ("bytes", "str"):
        try:
            text = json.dumps(body_or_dict)
        except (ValueError, RecursionError):
            return body_or_dict
        return text if form == "str" else text.encode()
    return body_or_dict


@st.composite
def page_lists(draw: st.DrawFn) -> list[Any]:
    pages = []
    for position in range(draw(st.integers(1, 3))):
        source = draw(
            st.one_of(
                st.sampled_from(REAL_PAGES),  # some pages stay valid
                mutated_bytes(),
                mutated_dicts(),
                RAW_BODIES,
            )
        )
        form = draw(st.sampled_from(["bytes", "str", "dict", "page"]))
        pages.append(_as_form(source, form, position))
    return pages


def _labels(pages: list[Any]) -> dict[int, str]:
    """The offset and label each page is named by in errors."""
    return {
        (page.offset if isinstance(page, Page) else i): (
            f"page at offset {page.offset}: " if isinstance(page, Page) else f"page {i}: "
        )
        for i, page in enumerate(pages)
    }


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(pages=page_lists())
def test_frames_or_a_format_error_naming_the_page(worker: Worker, pages: list[Any]) -> None:
    outcome = worker.run(pages)
    kind = outcome[0]
    if kind == "format":
        _, offset, message = outcome
        labels = _labels(pages)
        assert offset in labels, f"the error names no page: {message}"
        assert message.startswith(labels[offset]), message
    else:
        assert kind == "frames", outcome


def _deep_in_an_unknown_field(levels: int) -> dict[str, Any]:
    """A real page whose first incident carries an unknown field nested ``levels`` deep
    (as the child's marker)."""
    page: dict[str, Any] = json.loads(REAL_PAGES[0])
    page["incidents"][0]["vendorExtension"] = _nest(levels)
    return page


def _deep_body(levels: int) -> bytes:
    text = json.dumps(_deep_in_an_unknown_field(0))
    return text.replace('{"__deep__": 0}', "[" * levels + "]" * levels).encode()


@pytest.mark.parametrize(
    ("form", "levels"),
    [("bytes", 1000), ("str", 1000), ("page", 1000), ("bytes", 100_000), ("dict", 500),
     ("dict", 1000)],
)  # fmt: skip
def test_deep_nesting_in_an_unknown_field_is_a_format_error_at_once(
    worker: Worker, form: str, levels: int
) -> None:
    # One gate before any parser or walk recurses: a body nested 1,000 deep once escaped as
    # RecursionError from a walk of the types Arrow built for it; 100,000 deep crashes
    # Arrow's reader.
    page: Any = _deep_in_an_unknown_field(levels) if form == "dict" else _deep_body(levels)
    if form == "str":
        page = page.decode()
    elif form == "page":
        page = Page(rows=[], total=0, offset=2000, limit=4, body=page)
    started = time.monotonic()
    outcome = worker.run([page])
    assert time.monotonic() - started < 5.0  # the child's pickling included; the gate: ms
    assert outcome[0] == "format", outcome
    assert outcome[1] == (2000 if form == "page" else 0)
    assert "nests" in outcome[2]


def test_the_worker_reports_a_crash_and_restarts() -> None:
    # The harness itself: a child that dies (as Arrow's reader once did on b"null") is an
    # outcome that fails the property, not a dead test runner; the next example restarts.
    crashing = Worker(
        "import os, signal, sys; sys.stdin.buffer.read(4); os.kill(os.getpid(), signal.SIGSEGV)"
    )
    assert crashing.run([b"null"]) == ("crash", -11)
    crashing.code = WORKER
    assert crashing.run([b"null"])[0] == "format"
    crashing.close()
