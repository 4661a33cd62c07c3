"""Stored resources → SCIM wire documents (RFC 7643 §3.1 meta, §4.1.2 groups, §4.2 members)."""

from __future__ import annotations

from typing import Any

from scimlite.scim.project import ALL, Projection, apply
from scimlite.scim.records import Resource
from scimlite.scim.schema import LIST_RESPONSE_SCHEMA, RESOURCE_TYPES, ResourceType


def etag(version: int) -> str:
    """RFC 7644 §3.14: a weak entity tag from the resource's version counter."""
    return f'W/"{version}"'


def location(base_url: str, resource: ResourceType, resource_id: str) -> str:
    return f"{base_url}{resource.endpoint}/{resource_id}"


def _refs(
    resource: ResourceType, record: Resource, base_url: str, projection: Projection
) -> list[dict[str, str | None]]:
    """User.groups (RFC 7643 §4.1.2) or Group.members (§4.2), from the schema's attribute:
    `$ref` points at its reference type's endpoint, `type` is its one canonical value, and
    `display` comes when it is returned by default or asked for (members.display)."""
    attr = resource.schema.attribute(resource.membership_attr)
    refs = record.refs
    assert attr is not None and refs is not None
    ref_type, display, kind = attr.sub("$ref"), attr.sub("display"), attr.sub("type")
    assert ref_type is not None and display is not None and kind is not None
    other = next(r for r in RESOURCE_TYPES if r.id == ref_type.reference_types[0])
    at, of = f"{base_url}{other.endpoint}/", kind.canonical_values[0]
    if display.returned != "request":
        return [{"value": r.id, "$ref": at + r.id, "display": r.display, "type": of} for r in refs]
    if projection.requests(attr.name, "display"):
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


def list_response(
    resources: list[dict[str, Any]],
    total: int,
    start_index: int | None,
    next_cursor: str | None = None,
) -> dict[str, Any]:
    """RFC 7644 §3.4.2: a ListResponse page; RFC 9865 §2.2: cursor pages carry nextCursor."""
    body: dict[str, Any] = {"schemas": [LIST_RESPONSE_SCHEMA], "totalResults": total}
    if start_index is not None:
        body["startIndex"] = start_index
    body["itemsPerPage"] = len(resources)
    if next_cursor is not None:
        body["nextCursor"] = next_cursor
    body["Resources"] = resources
    return body
