"""The reusable parts of the OpenAPI document (api/openapi.py): JSON Schemas generated from
`scim/schema.py`, examples, parameters and responses shared by every path.
"""

from __future__ import annotations

from typing import Any

from scimlite.scim.bulk import MAX_OPERATIONS
from scimlite.scim.schema import (
    BULK_REQUEST_SCHEMA,
    COMMON_ATTRIBUTES,
    ENTERPRISE_USER,
    ERROR_SCHEMA,
    GROUP_RESOURCE,
    LIST_RESPONSE_SCHEMA,
    PATCH_OP_SCHEMA,
    SEARCH_REQUEST_SCHEMA,
    USER_RESOURCE,
    Attribute,
    ResourceType,
    Schema,
)
from scimlite.settings import Settings

Json = dict[str, Any]
SCIM_JSON = "application/scim+json"

_TYPES: dict[str, Json] = {
    "string": {"type": "string"},
    "boolean": {"type": "boolean"},
    "decimal": {"type": "number"},
    "integer": {"type": "integer"},
    "dateTime": {"type": "string", "format": "date-time"},
    "binary": {"type": "string", "contentEncoding": "base64"},
    "reference": {"type": "string"},
}


def _attribute(attr: Attribute) -> Json:
    """One SCIM attribute (RFC 7643 §7) as a JSON Schema."""
    if attr.type == "complex":
        value: Json = {
            "type": "object",
            "properties": {sub.name: _attribute(sub) for sub in attr.sub_attributes},
        }
    else:
        value = dict(_TYPES[attr.type])
    description = attr.description
    if attr.canonical_values:
        description += " Canonical values: " + ", ".join(attr.canonical_values) + "."
    if attr.mutability == "readOnly":
        value["readOnly"] = True
    elif attr.mutability == "writeOnly":
        value["writeOnly"] = True
    if attr.multi_valued:
        value = {"type": "array", "items": value}
    if description:
        value["description"] = description
    return value


def _resource_schema(resource: ResourceType, example: Json) -> Json:
    """A User or Group: common attributes (RFC 7643 §3.1), core schema, extensions."""
    properties: Json = {
        "schemas": {
            "type": "array",
            "items": {"type": "string"},
            "description": f"Must include {resource.schema.id}.",
            "examples": [[resource.schema.id]],
        }
    }
    for attr in (*COMMON_ATTRIBUTES, *resource.schema.attributes):
        properties[attr.name] = _attribute(attr)
    for ext in resource.extensions:
        properties[ext.id] = {"$ref": f"#/components/schemas/{ext.name}"}
    required = [a.name for a in resource.schema.attributes if a.required]
    return {
        "type": "object",
        "description": resource.description,
        "required": ["schemas", *required],
        "properties": properties,
        "examples": [example],
    }


def _extension_schema(ext: Schema) -> Json:
    return {
        "type": "object",
        "description": ext.description,
        "properties": {a.name: _attribute(a) for a in ext.attributes},
    }


USER_EXAMPLE: Json = {
    "schemas": [USER_RESOURCE.schema.id],
    "userName": "ada@example.com",
    "name": {"givenName": "Ada", "familyName": "Lovelace"},
    "active": True,
    "emails": [{"value": "ada@example.com", "type": "work", "primary": True}],
}
GROUP_EXAMPLE: Json = {
    "schemas": [GROUP_RESOURCE.schema.id],
    "displayName": "Engineering Team",
    "members": [{"value": "2819c223-7f76-453a-919d-413861904646"}],
}
PATCH_EXAMPLES: Json = {
    "deactivate": {
        "summary": "Deactivate a user (Okta, Entra ID)",
        "value": {
            "schemas": [PATCH_OP_SCHEMA],
            "Operations": [{"op": "replace", "path": "active", "value": False}],
        },
    },
    "add-members": {
        "summary": "Add members to a team",
        "value": {
            "schemas": [PATCH_OP_SCHEMA],
            "Operations": [
                {
                    "op": "add",
                    "path": "members",
                    "value": [{"value": "2819c223-7f76-453a-919d-413861904646"}],
                }
            ],
        },
    },
    "remove-member": {
        "summary": "Remove one member from a team",
        "value": {
            "schemas": [PATCH_OP_SCHEMA],
            "Operations": [
                {
                    "op": "remove",
                    "path": 'members[value eq "2819c223-7f76-453a-919d-413861904646"]',
                }
            ],
        },
    },
}


def components(settings: Settings) -> Json:
    """The document's shared schemas, parameters and responses: one literal, long because it
    is data (split further, it would only scatter one description over several functions)."""
    scim_types = [
        "invalidFilter",
        "tooMany",
        "uniqueness",
        "mutability",
        "invalidSyntax",
        "invalidPath",
        "noTarget",
        "invalidValue",
        "invalidVers",
        "invalidCursor",
    ]
    return {
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "A token from `scimlite token create NAME` (RFC 7644 §2).",
            }
        },
        "schemas": {
            "User": _resource_schema(USER_RESOURCE, USER_EXAMPLE),
            "Group": _resource_schema(GROUP_RESOURCE, GROUP_EXAMPLE),
            ENTERPRISE_USER.name: _extension_schema(ENTERPRISE_USER),
            "Error": {
                "type": "object",
                "description": "RFC 7644 §3.12: the body of every error response.",
                "required": ["schemas", "status", "detail"],
                "properties": {
                    "schemas": {"type": "array", "items": {"const": ERROR_SCHEMA}},
                    "status": {"type": "string", "pattern": "^[1-5][0-9][0-9]$"},
                    "scimType": {"type": "string", "enum": scim_types},
                    "detail": {"type": "string"},
                },
                "examples": [
                    {
                        "schemas": [ERROR_SCHEMA],
                        "status": "409",
                        "scimType": "uniqueness",
                        "detail": "userName 'ada@example.com' is already taken",
                    }
                ],
            },
            "ListResponse": {
                "type": "object",
                "description": "RFC 7644 §3.4.2: one page of results.",
                "required": ["schemas", "totalResults"],
                "properties": {
                    "schemas": {"type": "array", "items": {"const": LIST_RESPONSE_SCHEMA}},
                    "totalResults": {"type": "integer", "minimum": 0},
                    "startIndex": {"type": "integer", "minimum": 1},
                    "itemsPerPage": {"type": "integer", "minimum": 0},
                    "nextCursor": {"type": "string", "description": "RFC 9865 §2.2."},
                    "Resources": {"type": "array", "items": {"type": "object"}},
                },
            },
            "PatchOp": {
                "type": "object",
                "description": (
                    "RFC 7644 §3.5.2: operations applied in order; all apply or none do. "
                    "Entra ID's capitalised ops ('Replace') are accepted."
                ),
                "required": ["schemas", "Operations"],
                "properties": {
                    "schemas": {"type": "array", "items": {"const": PATCH_OP_SCHEMA}},
                    "Operations": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["op"],
                            "properties": {
                                "op": {
                                    "type": "string",
                                    "description": "add, remove or replace.",
                                    "examples": ["add", "remove", "replace"],
                                },
                                "path": {
                                    "type": "string",
                                    "description": "An attribute path, e.g. emails[type eq "
                                    '"work"].value.',
                                },
                                "value": {"description": "The value to add or replace."},
                            },
                        },
                    },
                },
            },
            "SearchRequest": {
                "type": "object",
                "description": "RFC 7644 §3.4.3: the query parameters of a GET, as a body.",
                "required": ["schemas"],
                "properties": {
                    "schemas": {"type": "array", "items": {"const": SEARCH_REQUEST_SCHEMA}},
                    "filter": {"type": "string"},
                    "startIndex": {"type": "integer"},
                    "count": {"type": "integer"},
                    "sortBy": {"type": "string"},
                    "sortOrder": {"type": "string", "enum": ["ascending", "descending"]},
                    "attributes": {"type": "array", "items": {"type": "string"}},
                    "excludedAttributes": {"type": "array", "items": {"type": "string"}},
                },
                "examples": [
                    {
                        "schemas": [SEARCH_REQUEST_SCHEMA],
                        "filter": 'emails.value eq "ada@example.com"',
                        "attributes": ["userName", "active"],
                    }
                ],
            },
            "BulkRequest": {
                "type": "object",
                "description": (
                    f"RFC 7644 §3.7: up to {MAX_OPERATIONS} operations; each succeeds or fails "
                    "on its own. `bulkId:` references resolve to ids created earlier in the "
                    "same request."
                ),
                "required": ["schemas", "Operations"],
                "properties": {
                    "schemas": {"type": "array", "items": {"const": BULK_REQUEST_SCHEMA}},
                    "failOnErrors": {"type": "integer", "minimum": 1},
                    "Operations": {
                        "type": "array",
                        "maxItems": MAX_OPERATIONS,
                        "items": {
                            "type": "object",
                            "required": ["method", "path"],
                            "properties": {
                                "method": {
                                    "type": "string",
                                    "enum": ["POST", "PUT", "PATCH", "DELETE"],
                                },
                                "path": {"type": "string", "examples": ["/Users"]},
                                "bulkId": {"type": "string"},
                                "version": {"type": "string"},
                                "data": {"type": "object"},
                            },
                        },
                    },
                },
            },
            "Discovery": {
                "type": "object",
                "description": "A discovery document (RFC 7643 §5–7).",
            },
        },
        "parameters": {
            "id": {
                "name": "id",
                "in": "path",
                "required": True,
                "description": "The server-issued id (a UUID).",
                "schema": {"type": "string"},
            },
            "filter": {
                "name": "filter",
                "in": "query",
                "description": (
                    'RFC 7644 §3.4.2.2 filter, e.g. `userName eq "ada@example.com"` or '
                    '`emails[type eq "work" and value co "@example.com"]`. '
                    "An attribute the server cannot filter on is 400 invalidFilter."
                ),
                "schema": {"type": "string"},
                "examples": {"by-userName": {"value": 'userName eq "ada@example.com"'}},
            },
            "startIndex": {
                "name": "startIndex",
                "in": "query",
                "description": "1-based index of the first result (RFC 7644 §3.4.2.4).",
                "schema": {"type": "integer"},
            },
            "count": {
                "name": "count",
                "in": "query",
                "description": (
                    f"Page size; default {settings.default_count}, at most {settings.max_count}. "
                    "`count=0` returns only totalResults."
                ),
                "schema": {"type": "integer"},
            },
            "cursor": {
                "name": "cursor",
                "in": "query",
                "description": "RFC 9865 cursor paging: empty to start, then nextCursor.",
                "schema": {"type": "string"},
            },
            "sortBy": {
                "name": "sortBy",
                "in": "query",
                "description": "An attribute path to sort by (RFC 7644 §3.4.2.3).",
                "schema": {"type": "string"},
            },
            "sortOrder": {
                "name": "sortOrder",
                "in": "query",
                "schema": {"type": "string", "enum": ["ascending", "descending"]},
            },
            "attributes": {
                "name": "attributes",
                "in": "query",
                "description": "Comma-separated attributes to return (RFC 7644 §3.4.2.5).",
                "schema": {"type": "string"},
            },
            "excludedAttributes": {
                "name": "excludedAttributes",
                "in": "query",
                "description": "Comma-separated attributes to leave out.",
                "schema": {"type": "string"},
            },
            "If-Match": {
                "name": "If-Match",
                "in": "header",
                "description": 'Only write if the version is still this ETag, e.g. W/"3".',
                "schema": {"type": "string"},
            },
            "If-None-Match": {
                "name": "If-None-Match",
                "in": "header",
                "description": "Answer 304 if the version is still this ETag.",
                "schema": {"type": "string"},
            },
        },
        "headers": {
            "ETag": {
                "description": 'The resource version, e.g. W/"3".',
                "schema": {"type": "string"},
            },
            "Location": {"description": "The resource's URI.", "schema": {"type": "string"}},
            "Retry-After": {
                "description": "Seconds until a failed attempt is answered 401 again.",
                "schema": {"type": "string"},
            },
        },
        "responses": {
            **{str(status): error(text) for status, text in _ERRORS.items()},
            "429": {
                **error("Too many failed authentication attempts from this address."),
                "headers": {"Retry-After": {"$ref": "#/components/headers/Retry-After"}},
            },
        },
    }


_ERRORS: dict[int, str] = {
    400: "The request is invalid; `scimType` and `detail` say how.",
    401: "No bearer token, or one that is unknown or revoked.",
    403: "Not allowed here (e.g. a filter on a discovery endpoint).",
    404: "No such resource or endpoint.",
    409: "Another resource already has this unique value (`scimType: uniqueness`).",
    412: "`If-Match` named a version that is no longer current.",
    413: "The request body is larger than the server accepts.",
    501: "Part of SCIM, not offered by this server.",
}


def error(description: str) -> Json:
    return {
        "description": description,
        "content": {SCIM_JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
