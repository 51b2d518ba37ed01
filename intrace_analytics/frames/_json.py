"""A page body as Arrow reads it: the payload's Arrow schema, built from
:mod:`intrace_analytics.frames._schema`'s field map (every spelling of every field), and the
parse of a body against it, with the first field that is not the documented shape named
when Arrow refuses a page. :mod:`intrace_analytics.frames._parse` picks the columns from what
this module reads.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from intrace_analytics._util import arrays
from intrace_analytics.api._bodies import check_body, decode_json, describe
from intrace_analytics.exceptions import ResponseFormatError
from intrace_analytics.frames import _schema as schema

# Read by _parse, the one module of this layer that reads bodies; no other layer.
__all__: list[str] = []

# -- the payload as Arrow reads it, built from the schema's field map ----------------


def _payload_struct(
    table: schema.Table, *nested: tuple[str, pa.DataType], drop: frozenset[str] = frozenset()
) -> pa.StructType:
    """The Arrow struct of one payload object: every spelling of every column's field is
    a field of its own (the normalizer picks per row); dotted spellings nest. Spellings
    in ``drop`` are left out."""
    fields: dict[str, pa.DataType] = {}
    inner: dict[str, dict[str, pa.DataType]] = {}
    for column in table:
        kind = schema.KINDS[column.kind].payload
        for spelling in column.api:
            parent, _, leaf = spelling.rpartition(".")
            if leaf in drop:
                continue
            if parent:
                inner.setdefault(parent, {})[leaf] = kind
            else:
                fields[spelling] = kind
    fields.update({parent: pa.struct(list(leaves.items())) for parent, leaves in inner.items()})
    fields.update((name, kind) for name, kind in nested if name not in drop)
    return pa.struct(list(fields.items()))


def _page_schema(drop: frozenset[str] = frozenset()) -> pa.Schema:
    threat = _payload_struct(schema.THREATS, drop=drop)
    link = _payload_struct(
        schema.LINKS, *((name, threat) for name in schema.EMBEDDED_THREAT), drop=drop
    )
    incident = _payload_struct(
        schema.INCIDENTS, *((name, pa.list_(link)) for name in schema.THREAT_LINKS), drop=drop
    )
    return pa.schema([("incidents", pa.list_(incident)), ("total", pa.int64())])


# The spellings only one casing uses ("createdAt" / "created_at"; "id" is both's).
_CAMEL = frozenset(schema.SNAKE_CASE)
_SNAKE = frozenset(schema.SNAKE_CASE.values())
_PAGE = _page_schema()  # every spelling: what a page mixing casings is read with
_PARSE = pajson.ParseOptions(
    explicit_schema=_PAGE, unexpected_field_behavior="ignore", newlines_in_values=True
)
# A page in one casing is read against that casing's spellings alone: Arrow appends a
# null for every absent field of every row, and the absent casing's half of the schema
# made each parse 1.6x slower. Fields outside the schema are then inferred, not ignored,
# so that a spelling of the other casing shows in the result and the page is read again
# with every spelling (never a field lost to a wrong guess: see _guess_casing).
_ONE_CASING = {
    casing: (
        pajson.ParseOptions(
            explicit_schema=_page_schema(other),
            unexpected_field_behavior="infer",
            newlines_in_values=True,
        ),
        other,
    )
    for casing, other in (("snake", _CAMEL), ("camel", _SNAKE))
}
# GET /v1/assets: {"assets": [...]}, a total only when the list is paged.
_ASSET_PAGE = pa.schema(
    [("assets", pa.list_(_payload_struct(schema.ASSETS))), ("total", pa.int64())]
)
_ASSET_PARSE = pajson.ParseOptions(
    explicit_schema=_ASSET_PAGE, unexpected_field_behavior="ignore", newlines_in_values=True
)


def read_page(body: bytes, label: str, offset: int) -> pa.Table:
    """A page body parsed by Arrow against the narrowest schema that loses nothing: the
    casing its first incidents use (see ``_ONE_CASING``), every spelling if the page
    holds the other casing's, or if the narrow read fails for any reason."""
    casing = _guess_casing(body)
    if casing in _ONE_CASING:
        check_body(body, label=label, offset=offset)
        options, other = _ONE_CASING[casing]
        try:
            table = _parse(body, options)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            table = None  # a field outside the schema Arrow cannot infer, say
        if table is not None and table.num_rows == 1 and not _spelled(table.schema, other):
            return table
    return _read(body, label, offset, _PARSE)


# Where the casing of a page is guessed from: the start of the body, which holds its first
# incidents (about 40 of the sandbox's). Searching it costs microseconds; a whole 8 MB body,
# milliseconds a page.
_GUESS_BYTES = 1 << 16
# A field every incident carries, in each casing's spelling, as a JSON key.
_CREATED = {
    casing: f'"{spelling}"'.encode()
    for casing, spelling in zip(
        ("snake", "camel"), schema.INCIDENTS.column("created_at").api, strict=True
    )
}


def _guess_casing(body: bytes) -> str:
    """The casing the first incidents of a body spell their fields in: "snake", "camel",
    or "both" (neither or both seen). A guess made per page, so no state is shared
    between pages, threads or loads: a page read in one casing is read again with every
    spelling when it holds the other's (:func:`read_page`), so a wrong guess costs time,
    never a field."""
    found = [c for c, key in _CREATED.items() if body.find(key, 0, _GUESS_BYTES) >= 0]
    return found[0] if len(found) == 1 else "both"


def read_assets(body: bytes, label: str, offset: int) -> pa.Table:
    """A body of ``GET /v1/assets`` parsed by Arrow against the assets' payload schema."""
    return _read(body, label, offset, _ASSET_PARSE)


def _spelled(page: pa.Schema, spellings: frozenset[str]) -> bool:
    """Whether any field name in the parsed page's types is one of ``spellings``."""

    def walk(kind: pa.DataType) -> bool:
        if pa.types.is_list(kind) or pa.types.is_large_list(kind):
            return walk(kind.value_type)
        if pa.types.is_struct(kind):
            return any(f.name in spellings or walk(f.type) for f in kind)
        return False

    return any(f.name in spellings or walk(f.type) for f in page)


def _parse(body: bytes, options: pajson.ParseOptions) -> pa.Table:
    return pajson.read_json(
        pa.BufferReader(body),  # zero-copy, unlike a Python file object
        read_options=pajson.ReadOptions(use_threads=False, block_size=len(body) + 1024),
        parse_options=options,
        # Most of what a parse allocates is dropped as soon as the page's columns are
        # picked (the other casing's fields, the links' embedded threats): see arrays.POOL.
        memory_pool=arrays.POOL,
    )


def _read(body: bytes, label: str, offset: int, options: pajson.ParseOptions) -> pa.Table:
    """The body parsed against the explicit schema of ``options``: one row."""
    check_body(body, label=label, offset=offset)  # before Arrow sees untrusted bytes
    try:
        table = _parse(body, options)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        # Arrow does not always say which field; a slow, exact walk of this one page does.
        raise _diagnose(body, label, offset, str(exc), options.explicit_schema) from None
    if table.num_rows != 1:
        raise ResponseFormatError(
            f"{label}: expected one JSON object, found {table.num_rows}",
            offset=offset,
            field="(body)",
        )
    return table


def _diagnose(
    body: bytes, label: str, offset: int, arrow_message: str, page: pa.Schema = _PAGE
) -> ResponseFormatError:
    """Name the first field of a page that is not the documented shape (error path only)."""
    try:
        decoded = decode_json(body, label=label, offset=offset)
    except ResponseFormatError as exc:
        return exc
    found = _mismatch(decoded, pa.struct(list(page)), "")
    if found is None:  # Arrow refused something the walk accepts: report Arrow's words
        return ResponseFormatError(
            f"{label}: not the documented shape ({arrow_message})", offset=offset, field="(body)"
        )
    field, expected, value = found
    return ResponseFormatError(
        f"{label}: field {field!r} should be {expected}, got {describe(value)}",
        offset=offset,
        field=field,
    )


def _mismatch(value: Any, kind: pa.DataType, path: str) -> tuple[str, str, Any] | None:
    """The first (path, expected, value) where a decoded payload departs from ``kind``."""
    where = path or "(body)"
    if value is None:
        return (where, "present", value) if not path else None
    if pa.types.is_string(kind):
        return None if isinstance(value, str) else (where, "a string", value)
    if pa.types.is_integer(kind):
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else (where, "a non-negative integer", value)
    if pa.types.is_floating(kind):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else (where, "a number", value)
    if pa.types.is_list(kind):
        if not isinstance(value, list):
            return (where, "a list", value)
        for item in value:
            if item is None:
                return (f"{path}[]", "an object", item)
            found = _mismatch(item, kind.value_type, f"{path}[]")
            if found is not None:
                return found
        return None
    if not isinstance(value, dict):
        return (where, "an object", value)
    for child in kind:
        found = _mismatch(value.get(child.name), child.type, f"{path}.{child.name}".lstrip("."))
        if found is not None:
            return found
    return None


def has_field(kind: pa.DataType, spelling: str) -> bool:
    """Whether a struct type read from a page has the (possibly dotted) ``spelling``."""
    for name in spelling.split("."):
        index = kind.get_field_index(name) if pa.types.is_struct(kind) else -1
        if index < 0:
            return False
        kind = kind.field(index).type
    return True


def nested_field(struct: pa.Array, spelling: str) -> pa.Array:
    """The field of a struct array at the (possibly dotted) ``spelling``."""
    for name in spelling.split("."):
        struct = pc.struct_field(struct, name, memory_pool=arrays.POOL)
    return struct
