"""Discovery documents (RFC 7644 §4; RFC 7643 §5–7), generated from what actually runs.

Attributes come from `schema.py` (the same definitions that drive parsing, filtering, PATCH
and projection), limits from `Settings` and the Bulk module, so the documents cannot
advertise what the server does not do. Everything here is pure: no I/O, no aiohttp.
"""

from __future__ import annotations

from typing import Any

from scimlite.scim.bulk import MAX_OPERATIONS
from scimlite.scim.schema import (
    EXTERNAL_ID,
    RESOURCE_TYPES,
    SCHEMAS,
    Attribute,
    ResourceType,
    Schema,
)
from scimlite.settings import Settings

SPC_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"


def service_provider_config(settings: Settings, base_url: str) -> dict[str, Any]:
    """RFC 7643 §5: the features this server implements, with its real limits."""
    return {
        "schemas": [SPC_SCHEMA],
        "patch": {"supported": True},
        "bulk": {
            "supported": True,
            "maxOperations": MAX_OPERATIONS,
            "maxPayloadSize": settings.max_body_bytes,
        },
        "filter": {"supported": True, "maxResults": settings.max_count},
        "changePassword": {"supported": False},  # passwords are never stored
        "sort": {"supported": True},
        "etag": {"supported": True},
        # RFC 9865 §4: both paging methods; cursors do not expire, so no cursorTimeout.
        "pagination": {
            "cursor": True,
            "index": True,
            "defaultPaginationMethod": "index",
            "defaultPageSize": settings.default_count,
            "maxPageSize": settings.max_count,
        },
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": (
                    "A bearer token in the Authorization header, created with "
                    "`scimlite token create NAME`."
                ),
                "specUri": "https://www.rfc-editor.org/info/rfc6750",
                "primary": True,
            }
        ],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": f"{base_url}/ServiceProviderConfig",
        },
    }


def resource_type(resource: ResourceType, base_url: str) -> dict[str, Any]:
    """RFC 7643 §6: one resource type, its endpoint and schema extensions."""
    doc: dict[str, Any] = {
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": resource.id,
        "name": resource.name,
        "endpoint": resource.endpoint,
        "description": resource.description,
        "schema": resource.schema.id,
    }
    if resource.extensions:
        # scimlite never requires the extension: a User is valid without it.
        doc["schemaExtensions"] = [{"schema": e.id, "required": False} for e in resource.extensions]
    doc["meta"] = {
        "resourceType": "ResourceType",
        "location": f"{base_url}/ResourceTypes/{resource.id}",
    }
    return doc


def attribute(attr: Attribute) -> dict[str, Any]:
    """RFC 7643 §7: one attribute definition, in the form of the §8.7.1 examples."""
    doc: dict[str, Any] = {
        "name": attr.name,
        "type": attr.type,
        "multiValued": attr.multi_valued,
        "description": attr.description,
        "required": attr.required,
        "caseExact": attr.case_exact,
        "mutability": attr.mutability,
        "returned": attr.returned,
        "uniqueness": attr.uniqueness,
    }
    if attr.canonical_values:
        doc["canonicalValues"] = list(attr.canonical_values)
    if attr.type == "reference":
        doc["referenceTypes"] = list(attr.reference_types)
    if attr.sub_attributes:
        doc["subAttributes"] = [attribute(sub) for sub in attr.sub_attributes]
    return doc


# The core schemas of resource types: the ones whose resources carry the common attributes.
_CORE_SCHEMAS = frozenset(r.schema.id for r in RESOURCE_TYPES)


def schema(definition: Schema, base_url: str) -> dict[str, Any]:
    """RFC 7643 §7: a schema document.

    Of the common attributes (§3.1), `externalId` is listed in the User and Group schemas:
    §3.1 allows it, and Entra ID's gallery validator flattens /Schemas and requires every
    attribute it maps, externalId included. `id` and `meta` are not, as in §8.7.1.
    """
    common = (EXTERNAL_ID,) if definition.id in _CORE_SCHEMAS else ()
    return {
        "schemas": [SCHEMA_SCHEMA],
        "id": definition.id,
        "name": definition.name,
        "description": definition.description,
        "attributes": [attribute(a) for a in (*common, *definition.attributes)],
        "meta": {
            "resourceType": "Schema",
            "location": f"{base_url}/Schemas/{definition.id}",
        },
    }


def resource_types(base_url: str) -> list[dict[str, Any]]:
    return [resource_type(r, base_url) for r in RESOURCE_TYPES]


def schemas(base_url: str) -> list[dict[str, Any]]:
    return [schema(s, base_url) for s in SCHEMAS]


def find_resource_type(resource_id: str) -> ResourceType | None:
    return next((r for r in RESOURCE_TYPES if r.id == resource_id), None)


def find_schema(urn: str) -> Schema | None:
    """Schema URNs compare case-insensitively (RFC 7643 §2.1 on attribute names and URNs)."""
    lowered = urn.lower()
    return next((s for s in SCHEMAS if s.id.lower() == lowered), None)
