"""Stored resources → SCIM wire documents (RFC 7643 §3.1 meta, §4.1.2 groups, §4.2 members)."""

from __future__ import annotations

from typing import Any

from scimlite.scim.project import ALL, Projection, apply
from scimlite.scim.records import Resource
from scimlite.scim.schema import (
    GROUP_RESOURCE,
    LIST_RESPONSE_SCHEMA,
    USER_RESOURCE,
    ResourceType,
)


def etag(version: int) -> str:
    """RFC 7644 §3.14: a weak entity tag from the resource's version counter."""
    return f'W/"{version}"'


def location(base_url: str, resource: ResourceType, resource_id: str) -> str:
    return f"{base_url}{resource.endpoint}/{resource_id}"


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
        if resource is USER_RESOURCE:
            out["groups"] = [
                {
                    "value": r.id,
                    "$ref": f"{base_url}{GROUP_RESOURCE.endpoint}/{r.id}",
                    "display": r.display,
                    "type": "direct",
                }
                for r in record.refs
            ]
        else:
            members: list[dict[str, str | None]] = [
                {
                    "value": r.id,
                    "$ref": f"{base_url}{USER_RESOURCE.endpoint}/{r.id}",
                    "type": "User",
                }
                for r in record.refs
            ]
            if projection.requests("members", "display"):  # returned "request" (schema.py)
                for member, ref in zip(members, record.refs, strict=True):
                    member["display"] = ref.display
            out["members"] = members
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
