"""The OpenAPI 3.1 description of the SCIM API, served at `GET /openapi.json` without a token.

Why generate it: resource schemas come from `scim/schema.py`, the same attribute definitions
that drive parsing, filtering, PATCH and /Schemas, so this document cannot promise an
attribute the server does not keep. Limits come from `Settings`. It is written for two
readers: a person wiring up an IdP or a script (summaries, descriptions, examples), and a
fuzzer (schemathesis reads it in tests/test_schemathesis.py). Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from scimlite import __version__
from scimlite.api import SCIM_PREFIX
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

_DESCRIPTION = """\
A SCIM 2.0 service provider (RFC 7643, RFC 7644) for **users and teams** (SCIM Groups).

**Authentication.** Every endpoint except discovery (`/ServiceProviderConfig`,
`/ResourceTypes`, `/Schemas`) needs `Authorization: Bearer <token>`; create one with
`scimlite token create NAME`. Repeated failures from one address are answered with 429 and
`Retry-After`; a valid token is always served.

**Media type.** Responses are `application/scim+json`; requests may be `application/scim+json`
or `application/json`.

**Errors.** Every 4xx and 5xx is an RFC 7644 §3.12 Error: `status` as a string, `scimType`
where one applies, and a `detail` that says what to fix.

**Versions.** `meta.version` is a weak ETag (`W/"3"`), sent as `ETag`. Send it back in
`If-Match` on PUT, PATCH and DELETE to get 412 instead of overwriting a newer write; send
it in `If-None-Match` on GET to get 304 when nothing changed.

**Memberships.** `Group.members` and `User.groups` are computed from one membership table
and always agree. `groups` on POST/PUT /Users sets the user's teams (an extension of RFC 7643,
where it is read-only); a PUT without it leaves them alone.
"""


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


def _components(settings: Settings) -> Json:
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
            **{str(status): _error(text) for status, text in _ERRORS.items()},
            "429": {
                **_error("Too many failed authentication attempts from this address."),
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


def _error(description: str) -> Json:
    return {
        "description": description,
        "content": {SCIM_JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _ref(kind: str, name: str) -> Json:
    return {"$ref": f"#/components/{kind}/{name}"}


def _errors(*statuses: int) -> Json:
    return {str(s): _ref("responses", str(s)) for s in (*statuses, 401, 429)}


def _body(schema: str, description: str, examples: Json | None = None) -> Json:
    media: Json = {"schema": _ref("schemas", schema)}
    if examples:
        media["examples"] = examples
    return {
        "required": True,
        "description": description,
        "content": {SCIM_JSON: media, "application/json": media},
    }


def _ok(schema: str, description: str, status: str = "200", *, etag: bool = False) -> Json:
    response: Json = {
        "description": description,
        "content": {SCIM_JSON: {"schema": _ref("schemas", schema)}},
    }
    if etag:
        response["headers"] = {"ETag": _ref("headers", "ETag")}
        if status == "201":
            response["headers"]["Location"] = _ref("headers", "Location")
    return {status: response}


def _query_params() -> list[Json]:
    names = ("filter", "startIndex", "count", "cursor", "sortBy", "sortOrder")
    return [_ref("parameters", n) for n in (*names, "attributes", "excludedAttributes")]


def _resource_paths(resource: ResourceType, noun: str) -> Json:
    name = resource.name
    tag = "Users" if resource is USER_RESOURCE else "Groups (teams)"
    patch_examples = {
        k: v for k, v in PATCH_EXAMPLES.items() if (k == "deactivate") == (name == "User")
    }
    projection = [_ref("parameters", "attributes"), _ref("parameters", "excludedAttributes")]
    base = resource.endpoint
    return {
        base: {
            "get": {
                "tags": [tag],
                "operationId": f"list{name}s",
                "summary": f"List or filter {noun}s",
                "description": "RFC 7644 §3.4.2: a page of results in a stable order.",
                "parameters": _query_params(),
                "responses": {**_ok("ListResponse", "One page."), **_errors(400, 403)},
            },
            "post": {
                "tags": [tag],
                "operationId": f"create{name}",
                "summary": f"Create a {noun}",
                "description": "RFC 7644 §3.3: 201 with `Location` and `ETag`.",
                "requestBody": _body(name, f"The new {noun}."),
                "responses": {
                    **_ok(name, "Created.", "201", etag=True),
                    **_errors(400, 409, 413),
                },
            },
        },
        f"{base}/.search": {
            "post": {
                "tags": [tag],
                "operationId": f"search{name}s",
                "summary": f"Search {noun}s with a body",
                "description": "RFC 7644 §3.4.3: keeps filters out of URLs and logs.",
                "requestBody": _body("SearchRequest", "The query."),
                "responses": {**_ok("ListResponse", "One page."), **_errors(400, 413)},
            }
        },
        f"{base}/{{id}}": {
            "parameters": [_ref("parameters", "id")],
            "get": {
                "tags": [tag],
                "operationId": f"get{name}",
                "summary": f"Get one {noun}",
                "parameters": [*projection, _ref("parameters", "If-None-Match")],
                "responses": {
                    **_ok(name, f"The {noun}.", etag=True),
                    "304": {"description": "Not modified since the ETag in If-None-Match."},
                    **_errors(400, 404),
                },
            },
            "put": {
                "tags": [tag],
                "operationId": f"replace{name}",
                "summary": f"Replace a {noun}",
                "description": (
                    "RFC 7644 §3.5.1: readOnly attributes are ignored. "
                    + (
                        "Without `members` the team is emptied."
                        if name == "Group"
                        else "Without `groups` the user's teams are left alone."
                    )
                ),
                "parameters": [_ref("parameters", "If-Match")],
                "requestBody": _body(name, f"The whole {noun}."),
                "responses": {
                    **_ok(name, f"The {noun} as stored.", etag=True),
                    **_errors(400, 404, 409, 412, 413),
                },
            },
            "patch": {
                "tags": [tag],
                "operationId": f"patch{name}",
                "summary": f"Modify a {noun}",
                "description": "RFC 7644 §3.5.2: all operations apply, or none do.",
                "parameters": [_ref("parameters", "If-Match")],
                "requestBody": _body("PatchOp", "The operations.", patch_examples),
                "responses": {
                    **_ok(name, f"The {noun} as stored.", etag=True),
                    **_errors(400, 404, 409, 412, 413),
                },
            },
            "delete": {
                "tags": [tag],
                "operationId": f"delete{name}",
                "summary": f"Delete a {noun}",
                "description": "RFC 7644 §3.6: memberships go with it.",
                "parameters": [_ref("parameters", "If-Match")],
                "responses": {"204": {"description": "Deleted."}, **_errors(404, 412)},
            },
        },
    }


def _discovery(path: str, summary: str, operation_id: str) -> Json:
    operation: Json = {
        "tags": ["Discovery"],
        "operationId": operation_id,
        "summary": summary,
        "description": "RFC 7644 §4: readable without a token.",
        "security": [],
        "responses": {**_ok("Discovery", "The document."), "404": _ref("responses", "404")},
    }
    if "{" in path:
        name = path.split("{")[1].rstrip("}")
        operation["parameters"] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        ]
    return {path: {"get": operation}}


def document(settings: Settings) -> Json:
    """The whole OpenAPI 3.1 document; server URLs are relative, so it holds behind a proxy."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "scimlite SCIM 2.0 API",
            "version": __version__,
            "description": _DESCRIPTION,
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "servers": [{"url": SCIM_PREFIX, "description": "this server"}],
        "security": [{"bearer": []}],
        "tags": [
            {"name": "Users"},
            {"name": "Groups (teams)", "description": "SCIM Groups are teams."},
            {"name": "Search and Bulk"},
            {"name": "Discovery", "description": "No token needed."},
        ],
        "paths": {
            **_resource_paths(USER_RESOURCE, "user"),
            **_resource_paths(GROUP_RESOURCE, "team"),
            "/.search": {
                "post": {
                    "tags": ["Search and Bulk"],
                    "operationId": "searchAll",
                    "summary": "Search users and teams at once",
                    "description": "RFC 7644 §3.4.3: users first, then teams, as one list.",
                    "requestBody": _body("SearchRequest", "The query."),
                    "responses": {**_ok("ListResponse", "One page."), **_errors(400, 413)},
                }
            },
            "/Bulk": {
                "post": {
                    "tags": ["Search and Bulk"],
                    "operationId": "bulk",
                    "summary": "Many writes in one request",
                    "description": "RFC 7644 §3.7: each operation's outcome is reported.",
                    "requestBody": _body("BulkRequest", "The operations."),
                    "responses": {
                        **_ok("Discovery", "A BulkResponse."),
                        **_errors(400, 413),
                    },
                }
            },
            **_discovery(
                "/ServiceProviderConfig", "What this server supports", "serviceProviderConfig"
            ),
            **_discovery("/ResourceTypes", "Resource types", "resourceTypes"),
            **_discovery("/ResourceTypes/{id}", "One resource type", "resourceType"),
            **_discovery("/Schemas", "Attribute schemas", "schemas"),
            **_discovery("/Schemas/{urn}", "One attribute schema", "schema"),
        },
        "components": _components(settings),
    }
