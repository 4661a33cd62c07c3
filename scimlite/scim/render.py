"""Stored resources → SCIM wire documents (RFC 7643 §3.1 meta, §4.1.2 groups, §4.2 members)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

import orjson

from scimlite.scim.project import ALL, Projection, apply
from scimlite.scim.records import Resource
from scimlite.scim.schema import LIST_RESPONSE_SCHEMA, RESOURCE_TYPES, ResourceType


def etag(version: int) -> str:
    """RFC 7644 §3.14: a weak entity tag from the resource's version counter."""
    return f'W/"{version}"'


def location(base_url: str, resource: ResourceType, resource_id: str) -> str:
    return f"{base_url}{resource.endpoint}/{resource_id}"


def _ref_shape(resource: ResourceType) -> tuple[str, str, str, str]:
    """What every rendered reference of `resource` shares, from the schema's attribute:
    the endpoint `$ref` points at, the one canonical `type`, when `display` is returned
    ("default" or "request"), and the attribute's name. Kept by the type's id: hashing a
    ResourceType walks its whole schema."""
    shape = _REF_SHAPES.get(resource.id)
    if shape is None:
        shape = _REF_SHAPES[resource.id] = _make_ref_shape(resource)
    return shape


_REF_SHAPES: dict[str, tuple[str, str, str, str]] = {}


def _make_ref_shape(resource: ResourceType) -> tuple[str, str, str, str]:
    attr = resource.schema.attribute(resource.membership_attr)
    assert attr is not None
    ref_type, display, kind = attr.sub("$ref"), attr.sub("display"), attr.sub("type")
    assert ref_type is not None and display is not None and kind is not None
    other = next(r for r in RESOURCE_TYPES if r.id == ref_type.reference_types[0])
    return other.endpoint, kind.canonical_values[0], display.returned, attr.name


def _refs(
    resource: ResourceType, record: Resource, base_url: str, projection: Projection
) -> list[dict[str, str | None]]:
    """User.groups (RFC 7643 §4.1.2) or Group.members (§4.2), from the schema's attribute:
    `$ref` points at its reference type's endpoint, `type` is its one canonical value, and
    `display` comes when it is returned by default or asked for (members.display)."""
    endpoint, of, returned, name = _ref_shape(resource)
    refs = record.refs
    assert refs is not None
    at = f"{base_url}{endpoint}/"
    if returned != "request":
        return [{"value": r.id, "$ref": at + r.id, "display": r.display, "type": of} for r in refs]
    if projection.requests(name, "display"):
        return [{"value": r.id, "$ref": at + r.id, "type": of, "display": r.display} for r in refs]
    return [{"value": r.id, "$ref": at + r.id, "type": of} for r in refs]


def to_wire(
    resource: ResourceType,
    record: Resource,
    base_url: str,
    projection: Projection = ALL,
) -> dict[str, Any]:
    """The wire form of a User or Group, with projection applied."""
    doc = record.doc
    # RFC 7643 §3: `schemas` lists the core schema and each extension the resource uses.
    schemas = [resource.schema.id, *(ext.id for ext in resource.extensions if ext.id in doc)]
    out: dict[str, Any] = {"schemas": schemas, "id": record.id, **doc}
    if record.refs is not None:
        out[resource.membership_attr] = _refs(resource, record, base_url, projection)
    out["meta"] = {
        "resourceType": resource.id,
        "created": record.created,
        "lastModified": record.last_modified,
        "location": location(base_url, resource, record.id),
        "version": etag(record.version),
    }
    return apply(projection, resource, out)


# Members rendered at a time from a large roster (wire_chunks): a rendered member is several
# times its stored form, so a team of 50,000 is never held rendered whole.
REFS_STEP = 1000


def large(record: Resource) -> bool:
    """A resource whose roster wire_chunks renders in steps rather than at once."""
    return record.refs is not None and len(record.refs) > REFS_STEP


def wire_chunks(
    resource: ResourceType,
    record: Resource,
    base_url: str,
    projection: Projection = ALL,
) -> Iterator[bytes]:
    """The JSON of to_wire(), in pieces, rendered as they are taken.

    A large roster comes REFS_STEP members at a time, after the rest of the document (JSON
    object members are unordered, RFC 8259 §4); each step is projected on its own, which
    is exact because a projection selects each member by itself (project.apply).
    """
    if record.refs is None or not large(record):
        yield orjson.dumps(to_wire(resource, record, base_url, projection))
        return
    attr, refs = resource.membership_attr, record.refs
    rest = orjson.dumps(to_wire(resource, replace(record, refs=None), base_url, projection))
    yield rest[:-1]  # without its closing brace; `schemas` and `id` are always in it
    opened = False
    for i in range(0, len(refs), REFS_STEP):
        step = replace(record, refs=refs[i : i + REFS_STEP])
        shown = apply(projection, resource, {attr: _refs(resource, step, base_url, projection)})
        if not shown.get(attr):
            continue
        yield (b"," if opened else b',"' + attr.encode() + b'":[') + orjson.dumps(shown[attr])[1:-1]
        opened = True
    yield b"]}" if opened else b"}"


def _envelope(
    items: int, total: int, start_index: int | None, next_cursor: str | None
) -> dict[str, Any]:
    """RFC 7644 §3.4.2: a ListResponse page; RFC 9865 §2.2: cursor pages carry nextCursor."""
    body: dict[str, Any] = {"schemas": [LIST_RESPONSE_SCHEMA], "totalResults": total}
    if start_index is not None:
        body["startIndex"] = start_index
    body["itemsPerPage"] = items
    if next_cursor is not None:
        body["nextCursor"] = next_cursor
    return body


def list_response(
    resources: list[dict[str, Any]],
    total: int,
    start_index: int | None,
    next_cursor: str | None = None,
) -> dict[str, Any]:
    """A ListResponse page held whole: small lists (discovery)."""
    body = _envelope(len(resources), total, start_index, next_cursor)
    body["Resources"] = resources
    return body


def list_chunks(
    resources: Iterable[Iterable[bytes]],
    items: int,
    total: int,
    start_index: int | None,
    next_cursor: str | None = None,
) -> Iterator[bytes]:
    """The JSON of list_response() in pieces: each resource is rendered only when the one
    before it has been taken, so a page holds one rendered resource at a time. `items`
    (itemsPerPage) is the number of `resources`, known before they are rendered."""
    head = orjson.dumps(_envelope(items, total, start_index, next_cursor))
    yield head[:-1] + b',"Resources":['
    for i, pieces in enumerate(resources):
        if i:
            yield b","
        yield from pieces
    yield b"]}"
