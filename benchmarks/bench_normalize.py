"""Normalization speed and memory: page bodies into the three tidy frames, against baselines.

Run with ``make bench`` or::

    .venv/bin/python benchmarks/bench_normalize.py [--incidents N] [--repeat R]
        [--methods ours json_normalize json_decode msgspec arrow_parse]
        [--casing snake|camel|mixed] [--verify] [--no-strict]

The data. N incidents generated as the sandbox generates them (``generate_dataset(N,
seed=7)``) and serialized as the API sends them, in page bodies of 5000 (``page_body``),
one file per page. The files are cached under ``$TMPDIR/intrace-bench-cache/`` by (N,
seed, casing), so every method reads exactly the same bytes and a second run does not
regenerate (1,000,000 incidents take about 40 s to generate).

The measurement. Each run of each method is a fresh interpreter (``--run-one``), so no
method inherits another's heap, caches or imports. Methods are interleaved, R runs each,
and medians are reported, because the machine is noisy. Inside the child:

- *wall s*: ``time.perf_counter()`` around the work only (reading the files and
  processing them), not the interpreter start or the imports.
- *peak RSS*: the child's high-water resident set, imports included, reported as is;
  *import RSS* is the same figure for an idle child that only imported the method's
  modules, so the reader can see how much of the peak is import overhead.
  It is read from ``VmHWM`` in /proc/self/status, not ``getrusage().ru_maxrss``: on
  Linux a child started by fork or vfork + exec keeps its parent's high-water mark in
  ``ru_maxrss`` through the exec, so a 20 MB child of a 2 GB parent reports 2 GB.
  (``ru_maxrss`` is still in each child's JSON line, and the fallback off Linux.)

The methods, and why each is here:

- ``ours``: ``frames_from_pages`` over a generator of the bodies, so pages stream one
  at a time, into the three typed frames of SPEC.md. The thing being measured; reported
  as unavailable while ``intrace_analytics.normalize`` does not have it yet.
- ``json_normalize``: what a hand-rolled notebook does, ``json.loads`` every body,
  collect the incidents, ``pandas.json_normalize`` them (``record_path`` for the links),
  then the same deduplication and dtypes as SPEC.md. The yardstick for the speed-up.
  snake_case only: a notebook written against the schema knows one spelling.
- ``json_decode``: stdlib ``json.loads`` of every body and nothing else, the part of the
  notebook's time that is not pandas.
- ``msgspec``: a typed msgspec decode of every body into Structs mirroring the payload,
  nothing else. The fastest bare decode in Python: a floor for ours.
- ``arrow_parse``: ``pyarrow.json.read_json`` of all bodies as one newline-delimited
  buffer with an explicit schema and default threading, nothing else. The other floor:
  multi-threaded C++, but it needs every body in memory at once.

The targets (issue 3, section 5, set at N = 1,000,000, where the bodies are 1.72 GB):
ours at least 10x faster than ``json_normalize``; at most 1.3x the faster of ``msgspec``
and ``arrow_parse``; ours' peak RSS below the total size of the page bodies. At small N
the import overhead dominates the RSS figures, so judge that one at 1,000,000.
``--verify`` first checks, at 20,000 incidents, that ours and ``json_normalize`` give the
same frames (rows, ids, dtypes and values), printing the differences it finds.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import GenericAlias
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

# Only the standard library at module level: each child imports what its method needs,
# so the idle baselines show each method's own import overhead.

SEED = 7
PAGE_SIZE = 5000
CACHE = Path(tempfile.gettempdir()) / "intrace-bench-cache"
METHODS = ("ours", "json_normalize", "json_decode", "msgspec", "arrow_parse")
BARE_DECODES = ("msgspec", "arrow_parse")
SNAKE_ONLY = ("json_normalize",)
GIB = 1024**3

Rows = list[int | None]  # incidents, links, threats; None where a method does not count
Work = Callable[[list[Path]], Rows]

#: The payload's shape as SPEC.md and the API's reference page describe it, in snake_case:
#: object -> (field, type, required). A type is "str", "float", "int", another object, or
#: a one-element list naming the object an array holds. Timestamps stay strings. The
#: msgspec Structs and the Arrow schema of the bare decodes are both built from this.
PAYLOAD: dict[str, tuple[tuple[str, str | list[str], bool], ...]] = {
    "coordinates": (("lat", "float", True), ("lng", "float", True)),
    "threat": (
        ("id", "str", True),
        ("title", "str", True),
        ("severity", "str", True),
        ("threat_type", "str", True),
        ("location", "str", True),
        ("observed_at", "str", True),
        ("coordinates", "coordinates", False),  # null or absent when unknown
    ),
    "link": (
        ("id", "str", True),
        ("threat_id", "str", True),
        ("added_at", "str", True),
        ("threat", "threat", False),  # not always embedded
    ),
    "incident": (
        ("id", "str", True),
        ("title", "str", True),
        ("status", "str", True),
        ("scope", "str", True),
        ("description", "str", False),
        ("threat_links", ["link"], True),
        ("created_at", "str", True),
        ("updated_at", "str", True),
        ("started_at", "str", False),
        ("resolved_at", "str", False),
    ),
    "page": (("incidents", ["incident"], True), ("total", "int", True)),
}


class Unavailable(Exception):
    """The method cannot run in this checkout (``frames_from_pages`` not written yet)."""


# --- the data ---------------------------------------------------------------------------


def dataset(incidents: int, casing: str) -> tuple[Path, dict[str, Any]]:
    """The cached page files of ``incidents`` incidents, generated in a child if missing."""
    directory = CACHE / f"n{incidents}-seed{SEED}-{casing}"
    if not (directory / "manifest.json").exists():
        print(f"generating {incidents:,} incidents ({casing}) into {directory} ...", flush=True)
        started = time.perf_counter()
        # In a child, so this process stays small while the methods run.
        command = [sys.executable, __file__, "--generate", str(incidents), casing]
        subprocess.run(command, check=True)
        print(f"  generated in {time.perf_counter() - started:.1f} s", flush=True)
    manifest = json.loads((directory / "manifest.json").read_text())
    return directory, manifest


def generate(incidents: int, casing: str) -> None:
    """Write the page files, then publish the directory with one rename (concurrent-safe)."""
    from intrace_analytics.sandbox import generate_dataset, page_body

    CACHE.mkdir(parents=True, exist_ok=True)
    final = CACHE / f"n{incidents}-seed{SEED}-{casing}"
    partial = Path(tempfile.mkdtemp(prefix=f"{final.name}.partial-", dir=CACHE))
    data = generate_dataset(incidents, seed=SEED)
    rng = random.Random(SEED)  # which incidents are camelCase, for casing="mixed"
    sizes = []
    for page, start in enumerate(range(0, incidents, PAGE_SIZE)):
        chunk = data.incidents[start : start + PAGE_SIZE]
        body = page_body(chunk, incidents, casing=casing, rng=rng)
        (partial / f"page-{page:05d}.json").write_bytes(body)
        sizes.append(len(body))
    manifest = {"incidents": incidents, "seed": SEED, "casing": casing}
    manifest |= {"pages": len(sizes), "bytes": sum(sizes), "max_page_bytes": max(sizes)}
    (partial / "manifest.json").write_text(json.dumps(manifest))
    try:
        partial.rename(final)
    except OSError:  # another run published the same data first
        shutil.rmtree(partial)


def page_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("page-*.json"))


# --- the methods (each runs in its own child; imports happen in the factory) -------------


def method_ours(manifest: dict[str, Any]) -> Work:
    try:
        from intrace_analytics.load import frames_from_pages
    except ImportError as error:
        raise Unavailable(f"intrace_analytics.normalize.frames_from_pages: {error}") from error

    def work(files: list[Path]) -> Rows:
        frames = frames_from_pages(path.read_bytes() for path in files)
        return [len(frames.incidents), len(frames.links), len(frames.threats)]

    return work


def method_json_normalize(manifest: dict[str, Any]) -> Work:
    import pandas  # noqa: F401  (imported before the clock starts)

    import intrace_analytics.schema  # noqa: F401

    def work(files: list[Path]) -> Rows:
        records: list[dict[str, Any]] = []
        for path in files:
            records.extend(json.loads(path.read_bytes())["incidents"])
        incidents, links, threats = json_normalize_frames(records)
        return [len(incidents), len(links), len(threats)]

    return work


def method_json_decode(manifest: dict[str, Any]) -> Work:
    def work(files: list[Path]) -> Rows:
        count = 0
        for path in files:
            count += len(json.loads(path.read_bytes())["incidents"])
        return [count, None, None]

    return work


def method_msgspec(manifest: dict[str, Any]) -> Work:
    import msgspec

    decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(msgspec_page_type(manifest["casing"]))

    def work(files: list[Path]) -> Rows:
        count = 0
        for path in files:
            count += len(decoder.decode(path.read_bytes()).incidents)
        return [count, None, None]

    return work


def method_arrow_parse(manifest: dict[str, Any]) -> Work:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pj

    parse_options = pj.ParseOptions(
        explicit_schema=arrow_page_schema(manifest["casing"]), unexpected_field_behavior="ignore"
    )
    # A block must hold a whole line, and each line is a whole page body.
    block_size = max(1 << 20, manifest["max_page_bytes"] + 1)
    read_options = pj.ReadOptions(block_size=block_size)  # use_threads=True by default

    def work(files: list[Path]) -> Rows:
        sizes = [path.stat().st_size for path in files]
        buffer = bytearray(sum(sizes) + len(files))  # every body, one per line
        view, position = memoryview(buffer), 0
        for path, size in zip(files, sizes, strict=True):
            with path.open("rb") as file:
                file.readinto(view[position : position + size])
            buffer[position + size] = ord("\n")
            position += size + 1
        table = pj.read_json(
            pa.BufferReader(pa.py_buffer(buffer)),
            read_options=read_options,
            parse_options=parse_options,
        )
        return [pc.sum(pc.list_value_length(table["incidents"])).as_py() or 0, None, None]

    return work


FACTORIES: dict[str, Callable[[dict[str, Any]], Work]] = {
    "ours": method_ours,
    "json_normalize": method_json_normalize,
    "json_decode": method_json_decode,
    "msgspec": method_msgspec,
    "arrow_parse": method_arrow_parse,
}


def spellings(field: str, casing: str) -> list[str]:
    """The key(s) a field may have in bodies of this casing."""
    head, *rest = field.split("_")
    camel = head + "".join(part.capitalize() for part in rest)
    return {"snake": [field], "camel": [camel], "mixed": list(dict.fromkeys([field, camel]))}[
        casing
    ]


def msgspec_page_type(casing: str) -> type:
    """Structs mirroring :data:`PAYLOAD`; with two spellings, both are optional fields."""
    import msgspec

    built: dict[str, Any] = {"str": str, "float": float, "int": int}
    for name, fields in PAYLOAD.items():  # each object after the ones it holds
        specs: list[tuple[str, Any] | tuple[str, Any, Any]] = []
        for field, kind, required in fields:
            names = spellings(field, casing)
            python = GenericAlias(list, built[kind[0]]) if isinstance(kind, list) else built[kind]
            for key in names:
                if required and len(names) == 1:
                    specs.append((key, python))
                else:
                    specs.append((key, python | None, None))
        built[name] = msgspec.defstruct(name.title(), specs, kw_only=True)
    page: type = built["page"]
    return page


def arrow_page_schema(casing: str) -> pa.Schema:
    """:data:`PAYLOAD` as an Arrow schema: objects as structs, arrays as list<struct>."""
    import pyarrow as pa

    scalars = {"str": pa.string(), "float": pa.float64(), "int": pa.int64()}

    def fields(name: str) -> list[pa.Field]:
        return [
            pa.field(key, arrow_type(kind))
            for field, kind, _ in PAYLOAD[name]
            for key in spellings(field, casing)
        ]

    def arrow_type(kind: str | list[str]) -> pa.DataType:
        if isinstance(kind, list):
            return pa.list_(pa.struct(fields(kind[0])))
        return scalars.get(kind) or pa.struct(fields(kind))

    return pa.schema(fields("page"))


# --- the json_normalize pipeline ---------------------------------------------------------


def json_normalize_frames(
    records: list[dict[str, Any]],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """SPEC.md's incidents, links and threats from snake_case payloads, the notebook way."""
    import pandas as pd

    from intrace_analytics import schema

    def timestamps(values: pd.Series) -> pd.Series:
        parsed = pd.to_datetime(values, utc=True, format="ISO8601", errors="coerce")
        return parsed.dt.as_unit(schema.TIMESTAMP_UNIT)

    # Incidents. A repeated id keeps the copy updated last (ties: the later copy).
    # The plain call: max_level=0 would take json_normalize's deepcopy path, 6x slower.
    incidents = pd.json_normalize(records)
    incidents["updated_at"] = timestamps(incidents["updated_at"])
    winners = (
        incidents.sort_values("updated_at", kind="stable", na_position="first")
        .drop_duplicates("id", keep="last")
        .index.sort_values()
    )
    if len(winners) < len(incidents):
        records = [records[i] for i in winners]
        incidents = incidents.loc[winners].reset_index(drop=True)
    incidents = incidents.rename(columns={"id": "incident_id"})
    incidents["threat_count"] = incidents["threat_links"].map(len)

    # Links, with the embedded threats flattened into "threat.*" columns.
    links = pd.json_normalize(
        records, record_path="threat_links", meta=["id"], meta_prefix="incident_"
    )
    links = links.rename(columns={"id": "link_id"})

    # Threats: one per id, in order of first appearance, the copy from the incident
    # updated last winning.
    embedded = links.reindex(columns=["incident_id", *THREAT_COLUMNS])
    embedded = embedded[embedded["threat.id"].notna()]
    first_seen = pd.Index(embedded["threat.id"].drop_duplicates(), name="threat.id")
    updated = incidents.set_index("incident_id")["updated_at"]
    threats = (
        embedded.assign(_updated=embedded["incident_id"].map(updated))
        .sort_values("_updated", kind="stable", na_position="first")
        .drop_duplicates("threat.id", keep="last")
        .set_index("threat.id")
        .reindex(first_seen)
        .reset_index()
        .rename(columns=THREAT_COLUMNS)
    )

    def typed(frame: pd.DataFrame, table: str) -> pd.DataFrame:
        frame = frame.reset_index(drop=True)
        columns: dict[str, pd.Series] = {}
        for column in schema.TABLES[table]:
            values = frame.get(column.name, pd.Series(None, index=frame.index, dtype=object))
            if column.kind is schema.Kind.TIMESTAMP:
                values = timestamps(values)
            elif column.kind is schema.Kind.SEVERITY_RANK:  # 1 low .. 4 critical, 0 other
                severity = columns["severity"].astype(object)
                ranks = severity.map({s: k for k, s in enumerate(schema.SEVERITIES, 1)})
                values = ranks.where(severity.isna(), ranks.fillna(0)).astype("Int8")
            elif column.kind in (schema.Kind.CATEGORY, schema.Kind.SEVERITY):
                if column.known:  # status, scope: case-folded, stripped; severity: case-folded
                    if column.kind is schema.Kind.CATEGORY:
                        values = values.str.strip()
                    values = values.str.casefold()
                categories = schema.categories_for(column, values.unique())
                values = values.astype(schema.pandas_dtype(column, categories))
            else:
                values = values.astype(schema.pandas_dtype(column))
            columns[column.name] = values
        return pd.DataFrame(columns)

    return typed(incidents, "incidents"), typed(links, "links"), typed(threats, "threats")


#: The flattened embedded-threat columns of the links frame, and their names in threats.
THREAT_COLUMNS = {
    "threat.id": "threat_id",
    "threat.title": "title",
    "threat.severity": "severity",
    "threat.threat_type": "threat_type",
    "threat.location": "location",
    "threat.observed_at": "observed_at",
    "threat.coordinates.lat": "lat",
    "threat.coordinates.lng": "lng",
}


# --- children ----------------------------------------------------------------------------


def peak_rss_bytes() -> int:
    """This process's high-water resident set in bytes (see the module docstring)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return ru_maxrss_bytes()


def ru_maxrss_bytes() -> int:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, else KiB


def run_one(method: str, directory: Path, *, idle: bool) -> dict[str, Any]:
    """One run of one method in this (fresh) process: the JSON line the parent reads."""
    manifest = json.loads((directory / "manifest.json").read_text())
    files = page_files(directory)
    try:
        work = FACTORIES[method](manifest)
    except Unavailable as reason:
        return {"method": method, "unavailable": str(reason)}
    if idle:
        return {"method": method, "peak_rss_bytes": peak_rss_bytes()}
    started = time.perf_counter()
    rows = work(files)
    seconds = time.perf_counter() - started
    return {
        "method": method,
        "seconds": seconds,
        "peak_rss_bytes": peak_rss_bytes(),
        "ru_maxrss_bytes": ru_maxrss_bytes(),
        "rows": rows,
    }


def in_child(*arguments: str) -> dict[str, Any]:
    """Run this script with ``arguments`` in a fresh interpreter; its last stdout line."""
    done = subprocess.run(
        [sys.executable, __file__, *arguments], capture_output=True, text=True, check=False
    )
    if done.returncode != 0 or not done.stdout.strip():
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        return {"error": lines[-1]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- --verify ----------------------------------------------------------------------------


def verify(directory: Path) -> list[str]:
    """Differences between ours and the json_normalize frames (empty: they agree)."""
    import pandas as pd

    from intrace_analytics import schema

    files = page_files(directory)
    try:
        from intrace_analytics.load import frames_from_pages
    except ImportError as error:
        return [f"ours unavailable ({error}); nothing to compare"]
    ours = frames_from_pages(path.read_bytes() for path in files)
    records = [
        incident for path in files for incident in json.loads(path.read_bytes())["incidents"]
    ]
    theirs = dict(
        zip(("incidents", "links", "threats"), json_normalize_frames(records), strict=True)
    )

    problems: list[str] = []
    for table in theirs:  # the tables of a load without sites
        key = schema.KEYS[table]
        a: pd.DataFrame = getattr(ours, table)
        b = theirs[table]
        if len(a) != len(b):
            problems.append(f"{table}: {len(a):,} rows (ours) vs {len(b):,} (json_normalize)")
        if list(a.columns) != list(b.columns):
            problems.append(f"{table}: columns {list(a.columns)} vs {list(b.columns)}")
        if not isinstance(a.index, pd.RangeIndex):
            problems.append(f"{table}: ours has a {type(a.index).__name__}, not a RangeIndex")
        common = [c for c in a.columns if c in b.columns]
        for column in common:
            left, right = a[column].dtype, b[column].dtype
            if dtype_text(left) != dtype_text(right):
                problems.append(
                    f"{table}.{column}: dtype {dtype_text(left)} vs {dtype_text(right)}"
                )
        if key not in common:
            continue
        ids_a, ids_b = set(a[key].dropna()), set(b[key].dropna())
        if ids_a != ids_b:
            only_a, only_b = sorted(ids_a - ids_b), sorted(ids_b - ids_a)
            problems.append(
                f"{table}: {len(only_a):,} ids only in ours (e.g. {only_a[:2]}), "
                f"{len(only_b):,} only in json_normalize (e.g. {only_b[:2]})"
            )
        elif a[key].tolist() != b[key].tolist():
            problems.append(f"{table}: same ids in a different order")
        if a[key].is_unique and b[key].is_unique:
            shared = a[key][a[key].isin(ids_b)]
            left_rows, right_rows = a.set_index(key).loc[shared], b.set_index(key).loc[shared]
            for column in (c for c in common if c != key):
                # As plain objects, so differing dtypes still compare by value.
                x = pd.Series(left_rows[column].to_numpy(dtype=object))
                y = pd.Series(right_rows[column].to_numpy(dtype=object))
                differ = ~((x.isna() & y.isna()) | (x == y))
                if differ.any():
                    i = int(differ.to_numpy().argmax())
                    problems.append(
                        f"{table}.{column}: {int(differ.sum()):,} values differ, "
                        f"e.g. {key} {shared.iloc[i]}: {x[i]!r} vs {y[i]!r}"
                    )
        else:
            problems.append(f"{table}: {key} not unique (ours or json_normalize)")
    return problems


def dtype_text(dtype: object) -> str:
    """A dtype as text, categoricals with their categories in order."""
    categories = getattr(dtype, "categories", None)
    if categories is None:
        return str(dtype)
    ordered = " ordered" if getattr(dtype, "ordered", False) else ""
    return f"category{ordered}{list(categories)}"


# --- the report --------------------------------------------------------------------------


def median(results: Sequence[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in results if key in r]
    return statistics.median(values) if values else None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator and denominator else None


def times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def report(
    manifest: dict[str, Any],
    methods: Sequence[str],
    runs: dict[str, list[dict[str, Any]]],
    idle: dict[str, dict[str, Any]],
) -> list[str]:
    """Print the table and the targets; returns the targets not met (FAIL or n/a)."""
    body_bytes = manifest["bytes"]
    wall = {m: median(runs[m], "seconds") for m in methods}
    peak = {m: median(runs[m], "peak_rss_bytes") for m in methods}
    ours_wall, ours_peak = wall.get("ours"), peak.get("ours")

    header = (
        f"{'method':<15} {'wall s':>8} {'range s':>13} {'peak RSS GiB':>12} "
        f"{'import GiB':>10} {'wall/ours':>9} {'RSS/ours':>8}  rows (incidents / links / threats)"
    )
    print(header)
    print("-" * len(header))
    for method in methods:
        done = [r for r in runs[method] if "seconds" in r]
        if not done:
            first = runs[method][0]
            status = "unavailable" if "unavailable" in first else "failed"
            print(f"{method:<15} {status}: {first.get(status) or first.get('error')}")
            continue
        seconds = [r["seconds"] for r in done]
        spread = f"{min(seconds):.2f}-{max(seconds):.2f}" if len(done) > 1 else ""
        method_wall, method_peak = wall[method] or 0.0, peak[method] or 0
        base = idle.get(method, {}).get("peak_rss_bytes")
        rows = " / ".join("-" if n is None else f"{n:,}" for n in done[0]["rows"])
        print(
            f"{method:<15} {method_wall:>8.2f} {spread:>13} {method_peak / GIB:>12.3f} "
            f"{'-' if base is None else f'{base / GIB:.3f}':>10} "
            f"{times(ratio(method_wall, ours_wall)):>9} "
            f"{times(ratio(method_peak, ours_peak)):>8}  {rows}"
        )

    bare = {m: floor for m in BARE_DECODES if (floor := wall.get(m))}
    fastest = min(bare, key=bare.__getitem__) if bare else None
    speed_up = ratio(wall.get("json_normalize"), ours_wall)
    overhead = ratio(ours_wall, bare[fastest]) if fastest else None
    print()
    note = "" if manifest["incidents"] == 1_000_000 else f"; this run {manifest['incidents']:,}"
    print(f"targets (issue 3, section 5; set at N = 1,000,000{note}):")
    targets = [
        ("json_normalize / ours >= 10x (aim 15x)", speed_up, speed_up and speed_up >= 10),
        (
            f"ours / fastest bare decode ({fastest or 'none'}) <= 1.3x",
            overhead,
            overhead and overhead <= 1.3,
        ),
        (
            f"ours peak RSS / page bodies ({body_bytes / GIB:.3f} GiB) < 1x",
            ratio(ours_peak, body_bytes),
            ours_peak is not None and ours_peak < body_bytes,
        ),
    ]
    missed = []
    for name, value, met in targets:
        verdict = "n/a" if value is None else "PASS" if met else "FAIL"
        print(f"  {name:<52} {times(value):>8}  {verdict}")
        if verdict != "PASS":
            missed.append(name)
    return missed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--incidents", type=int, default=200_000, metavar="N")
    parser.add_argument("--repeat", type=int, default=3, metavar="R", help="runs of each method")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--casing", choices=("snake", "camel", "mixed"), default="snake")
    parser.add_argument(
        "--verify", action="store_true", help="first compare ours with json_normalize"
    )
    parser.add_argument("--verify-incidents", type=int, default=20_000, metavar="N")
    parser.add_argument(
        "--strict",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="exit 1 unless every target is met (and verified); --no-strict only reports",
    )
    # Internal: what the children run.
    parser.add_argument("--run-one", nargs=2, metavar=("METHOD", "DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--idle", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--generate", nargs=2, metavar=("N", "CASING"), help=argparse.SUPPRESS)
    parser.add_argument("--verify-one", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.generate:
        generate(int(args.generate[0]), args.generate[1])
        return 0
    if args.run_one:
        print(json.dumps(run_one(args.run_one[0], Path(args.run_one[1]), idle=args.idle)))
        return 0
    if args.verify_one:
        print(json.dumps({"problems": verify(Path(args.verify_one))}))
        return 0
    if args.incidents < 1 or args.repeat < 1:
        parser.error("--incidents and --repeat must be at least 1")

    failed: list[str] = []
    if args.verify:
        directory, manifest = dataset(args.verify_incidents, "snake")
        print(f"verify: ours vs json_normalize at {args.verify_incidents:,} incidents")
        found = in_child("--verify-one", str(directory))
        problems = [f"verify failed: {found['error']}"] if "error" in found else found["problems"]
        for problem in problems or ["frames agree: rows, ids, order, dtypes and values"]:
            print(f"  {problem}")
        if problems:
            failed.append("verify")
        print()

    directory, manifest = dataset(args.incidents, args.casing)
    for path in page_files(directory):  # warm the page cache, so no method pays for the disk
        path.read_bytes()
    keys = {"snake": "snake_case", "camel": "camelCase", "mixed": "mixed-case"}[args.casing]
    print(
        f"{manifest['incidents']:,} incidents ({keys} keys, seed {SEED}) in "
        f"{manifest['pages']} page bodies of {PAGE_SIZE}: {manifest['bytes']:,} bytes "
        f"({manifest['bytes'] / 1e9:.3f} GB, {manifest['bytes'] / GIB:.3f} GiB)"
    )
    methods = [m for m in METHODS if m in args.methods]
    if args.casing != "snake" and (skipped := [m for m in methods if m in SNAKE_ONLY]):
        print(f"skipped, as they read snake_case only: {', '.join(skipped)}")
        methods = [m for m in methods if m not in SNAKE_ONLY]
    if not methods:
        parser.error("no method left to run")
    print(f"each run a fresh process; {args.repeat} run(s) per method, interleaved; medians\n")

    idle = {m: in_child("--run-one", m, str(directory), "--idle") for m in methods}
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    for round_ in range(args.repeat):
        shift = round_ % len(methods)  # rotate the order, so no method always goes first
        for method in methods[shift:] + methods[:shift]:
            if runs[method] and "seconds" not in runs[method][-1]:
                continue  # unavailable or failed: once is enough
            result = {"method": method} | in_child("--run-one", method, str(directory))
            runs[method].append(result)
            outcome = (
                result.get("unavailable") or result.get("error") or f"{result['seconds']:.2f} s"
            )
            print(f"  run {round_ + 1}, {method}: {outcome}", flush=True)
    print()
    failed += report(manifest, methods, runs, idle)
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
